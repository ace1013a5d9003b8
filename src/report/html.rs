//! The HTML report: ONE self-contained file (inline CSS, a few lines of
//! inline JS, nothing fetched from the network; a Content-Security-Policy
//! forbids it too). A header with target, profile, seed and summary; an
//! outcome matrix per API (rows = sections, columns = outcomes); then every
//! case as a collapsible `<details>` (failures open) with its findings,
//! exchanges and answer excerpts. All text is HTML-escaped: excerpts come
//! from the server under test and are treated as hostile.

use super::{
    groups, pretty_excerpt, printable, referenced_steps, safe_request_text, seconds, summary_line,
    verdict, CaseResult, Exchange, Finding, Group, RenderOptions, Report, Status, STATUSES,
};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Writes the HTML report.
pub fn render<W: Write + ?Sized>(
    report: &Report,
    out: &mut W,
    _opts: &RenderOptions,
) -> io::Result<()> {
    out.write_all(to_string(report).as_bytes())
}

/// Escapes text for HTML element content and quoted attribute values;
/// control characters become visible `\u{..}` escapes first.
pub fn escape(s: &str) -> String {
    let s = printable(s);
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--xfail:#9a6700;--xfail-bg:#fff8c5;--xpass:#8250df;--xpass-bg:#fbefff;--skip:#57606a;--skip-bg:#eaeef2;--line:#d0d7de;--muted:#57606a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;background:#f6f8fa}
header,main,footer{max-width:1100px;margin:0 auto;padding:16px 24px}
header{background:#fff;border-bottom:1px solid var(--line);max-width:none}
header>*{max-width:1052px;margin-left:auto;margin-right:auto}
h1{font-size:22px;margin:4px auto 10px}
h2{font-size:18px;margin:22px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:16px;margin:18px 0 8px}
h4{font-size:14px;margin:16px 0 6px;color:var(--muted)}
code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
.verdict{display:inline-block;font-size:13px;padding:2px 10px;border-radius:12px;vertical-align:middle;margin-left:8px;color:#fff}
.verdict.ok{background:var(--pass)}.verdict.failed{background:var(--fail)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 auto 10px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;word-break:break-all}
.totals{display:flex;flex-wrap:wrap;gap:8px;list-style:none;padding:0;margin:10px auto}
.totals li{padding:4px 12px;border-radius:6px;font-weight:600}
.summary-line{font-weight:600;margin:6px auto}
.verdict-text{margin:4px auto}
.c-pass{background:var(--pass-bg);color:var(--pass)}.c-fail{background:var(--fail-bg);color:var(--fail)}
.c-xfail{background:var(--xfail-bg);color:var(--xfail)}.c-xpass{background:var(--xpass-bg);color:var(--xpass)}
.c-skip{background:var(--skip-bg);color:var(--skip)}
table.matrix{border-collapse:collapse;background:#fff;margin-bottom:8px;table-layout:fixed;width:720px;max-width:100%}
table.matrix th:first-child{width:220px}
table.matrix th,table.matrix td{border:1px solid var(--line);padding:4px 10px;text-align:center}
table.matrix th[scope=row]{text-align:left;font-weight:normal;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
table.matrix td{font-weight:600}
table.matrix td.zero{color:#afb8c1;font-weight:normal;background:#fff}
table.matrix td.total{background:#f6f8fa;color:#1f2328}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
.toolbar{display:flex;gap:8px;align-items:center;margin:8px 0}
.toolbar button{font:inherit;padding:3px 10px;border:1px solid var(--line);border-radius:6px;background:#fff;cursor:pointer}
details.case{background:#fff;border:1px solid var(--line);border-left:4px solid var(--skip);border-radius:6px;margin:6px 0}
details.case.st-pass{border-left-color:var(--pass)}details.case.st-fail{border-left-color:var(--fail)}
details.case.st-xfail{border-left-color:var(--xfail)}details.case.st-xpass{border-left-color:var(--xpass)}
details.case>summary{cursor:pointer;padding:6px 10px;list-style-position:inside}
details.case>summary code{font-weight:600}
.badge{display:inline-block;min-width:52px;text-align:center;font-size:11px;font-weight:700;padding:1px 6px;border-radius:4px;margin-right:6px}
.sev{font-size:11px;padding:0 6px;border:1px solid var(--line);border-radius:10px;color:var(--muted);margin-left:6px}
.dur{float:right;color:var(--muted);font-size:12px}
.case-body{padding:4px 14px 12px;border-top:1px solid var(--line)}
.reason{margin:8px 0;font-style:italic}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-all}
.finding{border:1px solid var(--fail-bg);background:#fffafa;border-radius:6px;padding:6px 10px;margin:8px 0}
.finding.muted{border-color:var(--line);background:#fafbfc}
.finding .f-head{font-weight:600}
.finding .rule{font-family:ui-monospace,Menlo,Consolas,monospace;background:var(--fail-bg);color:var(--fail);padding:0 6px;border-radius:4px;margin-right:6px}
.finding.muted .rule{background:var(--skip-bg);color:var(--skip)}
.exchange{border:1px solid var(--line);border-radius:6px;margin:8px 0;overflow:hidden}
.exchange.ref{border-color:#f5a3a8}
.x-head{background:#f6f8fa;padding:4px 10px;word-break:break-all}
.x-head b{margin-right:6px}
.x-label{color:var(--muted);font-size:12px;display:block}
pre{margin:0;padding:8px 10px;white-space:pre-wrap;word-break:break-all;max-height:320px;overflow:auto;background:#fff}
.x-sub{font-size:11px;color:var(--muted);padding:3px 10px 0;border-top:1px solid var(--line);background:#fff}
pre.req{background:#fff}
.rerun code{background:#f6f8fa;padding:1px 6px;border-radius:4px}
body.only-problems details.case.st-pass,body.only-problems details.case.st-skip,body.only-problems details.case.st-xfail{display:none}
footer{color:var(--muted);font-size:12px}
"#;

const JS: &str = r#"
(function(){
  document.querySelectorAll('button[data-act]').forEach(function(b){
    b.addEventListener('click',function(){
      var open=b.getAttribute('data-act')==='expand';
      document.querySelectorAll('details.case').forEach(function(d){d.open=open;});
    });
  });
  var f=document.getElementById('only-problems');
  if(f){f.addEventListener('change',function(){document.body.classList.toggle('only-problems',f.checked);});}
})();
"#;

/// Content-Security-Policy of the report: nothing but inline style and script.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// The HTML report as a string.
pub fn to_string(report: &Report) -> String {
    let mut s = String::with_capacity(16 * 1024 + report.cases.len() * 2048);
    let groups = groups(report);
    let failing = report.summary.is_failure();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"{}\">\n<title>vkconform report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&report.tool),
        escape(&safe_request_text(&report.target)),
    );

    // Header.
    let _ = writeln!(
        s,
        "<header>\n<h1>vkconform report <span class=\"verdict {}\">{}</span></h1>",
        if failing { "failed" } else { "ok" },
        if failing { "FAILED" } else { "OK" }
    );
    let apis: Vec<&str> = report.apis.iter().map(|a| a.as_str()).collect();
    let _ = writeln!(s, "<dl class=\"meta\">");
    for (k, v) in [
        (
            "target",
            format!(
                "<code>{}</code>",
                escape(&safe_request_text(&report.target))
            ),
        ),
        ("profile", escape(report.profile.as_str())),
        ("apis", escape(&apis.join(", "))),
        (
            "seed",
            format!(
                "<code>{}</code> (re-run with <code>--seed {}</code>)",
                report.seed, report.seed
            ),
        ),
        ("started", escape(&report.started_at)),
        ("duration", escape(&seconds(report.duration_ms))),
        ("tool", escape(&report.tool)),
        ("format", escape(super::FORMAT_VERSION)),
    ] {
        let _ = writeln!(s, "<dt>{k}</dt><dd>{v}</dd>");
    }
    let _ = writeln!(s, "</dl>");
    let totals = super::Counts::of(report.cases.iter());
    let _ = write!(s, "<ul class=\"totals\">");
    for st in STATUSES {
        let _ = write!(
            s,
            "<li class=\"c-{0}\">{1} {0}</li>",
            st.as_str(),
            totals.get(st)
        );
    }
    let _ = writeln!(s, "</ul>");
    let _ = writeln!(
        s,
        "<p class=\"summary-line\">{}</p>",
        escape(&summary_line(&report.summary, report.duration_ms))
    );
    let _ = writeln!(
        s,
        "<p class=\"verdict-text\">{}</p>\n</header>\n<main>",
        escape(&verdict(&report.summary))
    );

    // Matrix.
    let _ = writeln!(s, "<section id=\"matrix\">\n<h2>Outcomes by section</h2>");
    if groups.is_empty() {
        let _ = writeln!(s, "<p>No cases ran.</p>");
    }
    let mut i = 0;
    while i < groups.len() {
        let api = groups[i].api;
        let _ = writeln!(
            s,
            "<h3>{}</h3>\n<table class=\"matrix\">\n<thead><tr><th scope=\"col\">section</th>",
            escape(api.as_str())
        );
        for st in STATUSES {
            let _ = write!(s, "<th scope=\"col\">{}</th>", st.as_str());
        }
        let _ = writeln!(s, "<th scope=\"col\">total</th></tr></thead>\n<tbody>");
        while i < groups.len() && groups[i].api == api {
            matrix_row(&mut s, &groups[i], i);
            i += 1;
        }
        let _ = writeln!(s, "</tbody>\n</table>");
    }
    let _ = writeln!(s, "</section>");

    // Cases.
    let _ = writeln!(
        s,
        "<section id=\"cases\">\n<h2>Cases</h2>\n<div class=\"toolbar\"><button type=\"button\" data-act=\"expand\">Expand all</button>\
         <button type=\"button\" data-act=\"collapse\">Collapse all</button>\
         <label><input type=\"checkbox\" id=\"only-problems\"> only failures and unexpected passes</label></div>"
    );
    let mut last_api = None;
    let mut n = 0usize;
    for (gi, g) in groups.iter().enumerate() {
        if last_api != Some(g.api) {
            let _ = writeln!(s, "<h3>{}</h3>", escape(g.api.as_str()));
            last_api = Some(g.api);
        }
        let _ = writeln!(
            s,
            "<h4 id=\"sec-{gi}\">{} / {}</h4>",
            escape(g.api.as_str()),
            escape(g.section)
        );
        for case in &g.cases {
            n += 1;
            case_html(&mut s, case, n);
        }
    }
    let _ = writeln!(s, "</section>\n</main>");
    let _ = writeln!(
        s,
        "<footer>Generated by {}. Secrets are redacted before this file is written.</footer>",
        escape(&report.tool)
    );
    let _ = writeln!(s, "<script>{JS}</script>\n</body>\n</html>");
    s
}

fn matrix_row(s: &mut String, g: &Group<'_>, index: usize) {
    let c = g.counts();
    let _ = write!(
        s,
        "<tr><th scope=\"row\"><a href=\"#sec-{index}\">{}</a></th>",
        escape(g.section)
    );
    for st in STATUSES {
        let v = c.get(st);
        if v == 0 {
            let _ = write!(s, "<td class=\"zero\">0</td>");
        } else {
            let _ = write!(s, "<td class=\"c-{}\">{v}</td>", st.as_str());
        }
    }
    let _ = writeln!(s, "<td class=\"total\">{}</td></tr>", c.total());
}

fn badge(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Xfail => "XFAIL",
        Status::Xpass => "XPASS",
        Status::Skip => "SKIP",
    }
}

fn case_html(s: &mut String, case: &CaseResult, n: usize) {
    let st = case.status.as_str();
    let open = if matches!(case.status, Status::Fail | Status::Xpass) {
        " open"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "<details class=\"case st-{st}\" id=\"case-{n}\"{open}><summary><span class=\"badge c-{st}\">{}</span><code>{}</code> {}\
         <span class=\"sev\">{}</span><span class=\"dur\">{} ms</span></summary>\n<div class=\"case-body\">",
        badge(case.status),
        escape(&case.id),
        escape(&case.title),
        case.severity.as_str(),
        case.duration_ms
    );
    let reason = case.reason.as_deref().map(escape);
    match case.status {
        Status::Skip => {
            let _ = writeln!(
                s,
                "<p class=\"reason\">Skipped: {}</p>",
                reason.as_deref().unwrap_or("no reason given")
            );
        }
        Status::Xfail => {
            let _ = writeln!(
                s,
                "<p class=\"reason\">Expected failure: {}</p>",
                reason.as_deref().unwrap_or("no reason given")
            );
        }
        Status::Xpass => {
            let _ = writeln!(
                s,
                "<p class=\"reason\">Unexpected pass: listed as an expected failure ({}), but it passed. Remove it from the expected-failures list.</p>",
                reason.as_deref().unwrap_or("no reason given")
            );
        }
        Status::Fail if case.findings.is_empty() => {
            let _ = writeln!(
                s,
                "<p class=\"reason\">Failed without a recorded finding.</p>"
            );
        }
        _ => {}
    }
    let _ = writeln!(s, "<dl class=\"kv\">");
    if !case.cites.is_empty() {
        let _ = writeln!(s, "<dt>cites</dt><dd>{}</dd>", escape(&case.cites));
    }
    if !case.tags.is_empty() {
        let _ = writeln!(s, "<dt>tags</dt><dd>{}</dd>", escape(&case.tags.join(", ")));
    }
    let _ = writeln!(
        s,
        "<dt>rerun</dt><dd class=\"rerun\"><code>{}</code></dd>\n</dl>",
        escape(&case.rerun)
    );
    let muted = case.status != Status::Fail;
    for f in &case.findings {
        finding_html(s, f, muted, case.steps.len());
    }
    let referenced = if case.status == Status::Fail {
        referenced_steps(case)
    } else {
        Vec::new()
    };
    for (i, x) in case.steps.iter().enumerate() {
        exchange_html(s, x, i, case.steps.len(), referenced.contains(&i));
    }
    let _ = writeln!(s, "</div>\n</details>");
}

fn finding_html(s: &mut String, f: &Finding, muted: bool, steps: usize) {
    let _ = writeln!(
        s,
        "<div class=\"finding{}\"><div class=\"f-head\"><span class=\"rule\">{}</span>{}<span class=\"sev\">{}</span></div>\n<dl class=\"kv\">",
        if muted { " muted" } else { "" },
        escape(&f.rule),
        escape(&f.message),
        f.severity.as_str()
    );
    let ptr = f.pointer.as_deref().map(|p| {
        if p.is_empty() {
            "(root)".to_string()
        } else {
            p.to_string()
        }
    });
    for (k, v) in [
        ("expected", f.expected.as_deref()),
        ("actual", f.actual.as_deref()),
        ("at", ptr.as_deref()),
        ("schema path", f.schema_path.as_deref()),
    ] {
        if let Some(v) = v {
            let _ = writeln!(s, "<dt>{k}</dt><dd><code>{}</code></dd>", escape(v));
        }
    }
    if let Some(i) = f.step.filter(|&i| i < steps) {
        let _ = writeln!(s, "<dt>step</dt><dd>{} of {steps}</dd>", i + 1);
    }
    if let Some(h) = &f.hint {
        let _ = writeln!(s, "<dt>hint</dt><dd>{}</dd>", escape(h));
    }
    let _ = writeln!(s, "</dl></div>");
}

fn exchange_html(s: &mut String, x: &Exchange, i: usize, total: usize, referenced: bool) {
    let status = match x.status {
        Some(c) => format!("HTTP {c}"),
        None if x.method == "AWAIT" => "callbacks received".into(),
        None => "no answer".into(),
    };
    let ct = x
        .content_type
        .as_deref()
        .map(|c| format!(", {}", escape(c)))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "<div class=\"exchange{}\"><div class=\"x-head\"><span class=\"x-label\">step {} of {total}: {status}{ct}, {} ms</span><b>{}</b><code>{}</code></div>",
        if referenced { " ref" } else { "" },
        i + 1,
        x.duration_ms,
        escape(&x.method),
        escape(&safe_request_text(&x.url)),
    );
    if let Some(b) = &x.body {
        let _ = writeln!(
            s,
            "<div class=\"x-sub\">request body</div><pre class=\"req\">{}</pre>",
            escape(b)
        );
    }
    if let Some(e) = &x.excerpt {
        let _ = writeln!(
            s,
            "<div class=\"x-sub\">answer excerpt</div><pre class=\"excerpt\">{}</pre>",
            escape(&pretty_excerpt(e))
        );
    }
    let _ = writeln!(s, "</div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_control_characters() {
        assert_eq!(
            escape("<script>alert('x')</script>&\"\u{0}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\\u{0}"
        );
    }
}
