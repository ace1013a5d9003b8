//! The human report: grouped by API and section, one line per case, details
//! under every failure (finding, expected vs actual, pointers, request,
//! answer excerpt, hint, re-run command), a summary line and the seed.
//! ANSI colour only when [`RenderOptions::color`] is set; the layout is plain
//! ASCII and deterministic.

use super::{
    excerpt_lines, groups, one_line, referenced_steps, safe_request_text, summary_line, verdict,
    CaseResult, RenderOptions, Report, Severity, Status,
};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Lines of an answer excerpt shown under a failure.
pub const EXCERPT_LINES: usize = 10;
/// Characters per excerpt line before it wraps.
const EXCERPT_WIDTH: usize = 100;
/// Indentation of everything under a case line.
const DETAIL: &str = "           ";

/// Writes the human report.
pub fn render<W: Write + ?Sized>(
    report: &Report,
    out: &mut W,
    opts: &RenderOptions,
) -> io::Result<()> {
    out.write_all(to_string(report, opts).as_bytes())
}

/// The human report as a string.
pub fn to_string(report: &Report, opts: &RenderOptions) -> String {
    let p = Paint(opts.color);
    let mut s = String::new();
    let apis: Vec<&str> = report.apis.iter().map(|a| a.as_str()).collect();
    let _ = writeln!(
        s,
        "{}",
        p.bold(&format!(
            "{} check of {}",
            one_line(&report.tool),
            safe_request_text(&report.target)
        ))
    );
    let _ = writeln!(
        s,
        "profile {}, apis {}, started {}",
        report.profile,
        if apis.is_empty() {
            "-".to_string()
        } else {
            apis.join(", ")
        },
        one_line(&report.started_at)
    );
    let mut last_api = None;
    for g in groups(report) {
        if last_api != Some(g.api) {
            let _ = writeln!(s, "\n{}", p.bold(g.api.as_str()));
            last_api = Some(g.api);
        }
        let _ = writeln!(s, "  {}", p.bold(&one_line(g.section)));
        for case in &g.cases {
            case_block(&mut s, case, p);
        }
    }
    let line = summary_line(&report.summary, report.duration_ms);
    let failing = report.summary.is_failure();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{}",
        if failing {
            p.red(&line)
        } else if report.summary.failed > 0 {
            p.yellow(&line)
        } else {
            p.green(&line)
        }
    );
    let _ = writeln!(
        s,
        "seed {} (re-run with --seed {})",
        report.seed, report.seed
    );
    let v = verdict(&report.summary);
    let _ = writeln!(s, "{}", if failing { p.red(&v) } else { p.green(&v) });
    s
}

/// The detail lines of one case without colour, as the JUnit report embeds them.
pub fn case_details(case: &CaseResult) -> String {
    let mut s = String::new();
    details(&mut s, case, Paint(false), "");
    s
}

fn case_block(s: &mut String, case: &CaseResult, p: Paint) {
    let mark = match case.status {
        Status::Pass => p.green("PASS "),
        Status::Fail => p.red("FAIL "),
        Status::Xfail => p.yellow("XFAIL"),
        Status::Xpass => p.magenta("XPASS"),
        Status::Skip => p.dim("SKIP "),
    };
    let severity = match case.status {
        Status::Fail | Status::Xpass => format!("  [{}]", case.severity.as_str()),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "    {mark}  {}  {}{severity}",
        one_line(&case.id),
        one_line(&case.title)
    );
    details(s, case, p, DETAIL);
}

fn details(s: &mut String, case: &CaseResult, p: Paint, indent: &str) {
    let reason = case.reason.as_deref().map(one_line);
    match case.status {
        Status::Pass => {}
        Status::Skip => {
            let _ = writeln!(
                s,
                "{indent}skipped: {}",
                reason.as_deref().unwrap_or("no reason given")
            );
        }
        Status::Xfail => {
            let _ = writeln!(
                s,
                "{indent}expected failure: {}",
                reason.as_deref().unwrap_or("no reason given")
            );
            for f in &case.findings {
                let _ = writeln!(
                    s,
                    "{indent}  - {}: {}",
                    one_line(&f.rule),
                    one_line(&f.message)
                );
            }
        }
        Status::Xpass => {
            let _ = writeln!(
                s,
                "{indent}{}",
                p.magenta(&format!(
                    "unexpected pass: listed as an expected failure ({}); remove it from the expected-failures list",
                    reason.as_deref().unwrap_or("no reason given")
                ))
            );
            let _ = writeln!(s, "{indent}rerun:    {}", one_line(&case.rerun));
        }
        Status::Fail => failure(s, case, p, indent),
    }
}

fn failure(s: &mut String, case: &CaseResult, p: Paint, indent: &str) {
    let n = case.findings.len();
    if n == 0 {
        let _ = writeln!(s, "{indent}failed without a recorded finding");
    }
    for (i, f) in case.findings.iter().enumerate() {
        let sev = if f.severity == Severity::Must {
            p.red("must")
        } else {
            p.yellow(f.severity.as_str())
        };
        let num = if n > 1 {
            format!("{}) ", i + 1)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{indent}{num}{} [{sev}]: {}",
            p.bold(&one_line(&f.rule)),
            one_line(&f.message)
        );
        let sub = format!("{indent}{}", " ".repeat(num.len() + 2));
        if let Some(e) = &f.expected {
            let _ = writeln!(s, "{sub}expected: {}", p.green(&one_line(e)));
        }
        if let Some(a) = &f.actual {
            let _ = writeln!(s, "{sub}actual:   {}", p.red(&one_line(a)));
        }
        match (&f.pointer, &f.schema_path) {
            (Some(ptr), Some(sp)) => {
                let _ = writeln!(
                    s,
                    "{sub}at:       {} (schema {})",
                    pointer(ptr),
                    one_line(sp)
                );
            }
            (Some(ptr), None) => {
                let _ = writeln!(s, "{sub}at:       {}", pointer(ptr));
            }
            (None, Some(sp)) => {
                let _ = writeln!(s, "{sub}schema:   {}", one_line(sp));
            }
            (None, None) => {}
        }
        if let Some(h) = &f.hint {
            let _ = writeln!(s, "{sub}hint:     {}", p.cyan(&one_line(h)));
        }
    }
    let steps = referenced_steps(case);
    for i in steps {
        let Some(x) = case.steps.get(i) else { continue };
        let label = if case.steps.len() > 1 {
            format!("request (step {} of {}):", i + 1, case.steps.len())
        } else {
            "request:".to_string()
        };
        let _ = writeln!(
            s,
            "{indent}{label:<9} {} {}",
            one_line(&x.method),
            safe_request_text(&x.url)
        );
        if let Some(b) = &x.body {
            let _ = writeln!(
                s,
                "{indent}  body: {}",
                super::clip(&safe_request_text(b), 200)
            );
        }
        let status = x
            .status
            .map(|c| format!("HTTP {c}"))
            .unwrap_or_else(|| "no answer".to_string());
        let ct = x
            .content_type
            .as_deref()
            .map(|c| format!(" {}", one_line(c)))
            .unwrap_or_default();
        if x.method == "AWAIT" {
            // A callback wait sends nothing: show what the receiver got.
            let _ = writeln!(s, "{indent}callbacks: waited {} ms", x.duration_ms);
        } else {
            let _ = writeln!(s, "{indent}answer:   {status}{ct} in {} ms", x.duration_ms);
        }
        if let Some(e) = &x.excerpt {
            let (lines, more) = excerpt_lines(e, EXCERPT_LINES, EXCERPT_WIDTH);
            for l in lines {
                let _ = writeln!(s, "{indent}  | {l}");
            }
            if more > 0 {
                let _ = writeln!(
                    s,
                    "{indent}  | ... ({more} more line{})",
                    if more == 1 { "" } else { "s" }
                );
            }
        }
    }
    let _ = writeln!(s, "{indent}rerun:    {}", p.bold(&one_line(&case.rerun)));
}

fn pointer(ptr: &str) -> String {
    if ptr.is_empty() {
        "(root)".to_string()
    } else {
        one_line(ptr)
    }
}

/// ANSI painting, a no-op when colour is off.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn red(self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn green(self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn magenta(self, s: &str) -> String {
        self.wrap("35", s)
    }
    fn cyan(self, s: &str) -> String {
        self.wrap("36", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Api, Profile};
    use crate::report::{Summary, FORMAT_VERSION};

    fn report(cases: Vec<CaseResult>) -> Report {
        Report {
            format_version: FORMAT_VERSION.into(),
            tool: "vkconform 0.1.0".into(),
            target: "http://x/?access_token=abc".into(),
            profile: Profile::Openvk,
            apis: vec![Api::Openvk],
            started_at: "2025-01-01T00:00:00Z".into(),
            duration_ms: 1500,
            seed: 7,
            summary: Summary::of(&cases),
            cases,
        }
    }

    fn case(status: Status) -> CaseResult {
        CaseResult {
            id: "openvk/Users.get/basic".into(),
            api: Api::Openvk,
            section: "Users".into(),
            title: "answers\u{1b}[2J".into(),
            severity: Severity::Must,
            tags: vec![],
            cites: String::new(),
            status,
            reason: None,
            duration_ms: 1,
            findings: vec![],
            steps: vec![],
            rerun: "vkconform check".into(),
        }
    }

    #[test]
    fn colour_appears_only_when_asked_for() {
        let r = report(vec![case(Status::Fail)]);
        assert!(!to_string(&r, &RenderOptions { color: false }).contains('\x1b'));
        assert!(to_string(&r, &RenderOptions { color: true }).contains("\x1b[31m"));
    }

    #[test]
    fn server_text_cannot_inject_terminal_escapes() {
        let r = report(vec![case(Status::Pass)]);
        let text = to_string(&r, &RenderOptions { color: false });
        assert!(text.contains("answers\\u{1b}[2J"));
        assert!(
            !text.contains("abc"),
            "target query secrets are masked: {text}"
        );
    }

    #[test]
    fn a_failure_without_findings_or_steps_still_renders() {
        let text = to_string(&report(vec![case(Status::Fail)]), &RenderOptions::default());
        assert!(text.contains("failed without a recorded finding"));
        assert!(text.contains("0 passed, 1 failed (1 must)"));
    }
}
