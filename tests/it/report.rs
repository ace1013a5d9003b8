//! Tests: report. Every renderer (human, JSON, JUnit, HTML) on one realistic
//! sample report: several APIs and sections, every status, findings with
//! pointers, a secret already redacted, and a hostile answer excerpt.

use proptest::prelude::*;
use vkconform::api::{Api, Profile};
use vkconform::report::{
    self, CaseResult, Exchange, Finding, Format, RenderOptions, Report, Severity, Status, Summary,
    FORMAT_VERSION,
};

const HOST: &str = "http://203.0.113.7:8080";
const HOSTILE: &str =
    "<script>alert('pwned')</script><img src=\"https://evil.example/x.png\" onerror=\"alert(1)\">";

fn case(id: &str, api: Api, section: &str, title: &str, status: Status) -> CaseResult {
    CaseResult {
        id: id.into(),
        api,
        section: section.into(),
        title: title.into(),
        severity: Severity::Must,
        tags: vec!["read".into()],
        cites: match api {
            Api::Openvk => format!("000_20030d02835fe94e.txt §{section}"),
            Api::Devino => "001_devino.txt §VK".into(),
            Api::Ok => "003_ok.txt §messages".into(),
        },
        status,
        reason: None,
        duration_ms: 12,
        findings: vec![],
        steps: vec![],
        rerun: format!("vkconform check --target {HOST} --profile openvk --case {id} --seed 4242"),
    }
}

fn get(url: &str, status: u16, excerpt: &str) -> Exchange {
    Exchange {
        method: "GET".into(),
        url: url.into(),
        body: None,
        status: Some(status),
        content_type: Some("application/json; charset=utf-8".into()),
        excerpt: Some(excerpt.into()),
        duration_ms: 9,
    }
}

fn finding(rule: &str, message: &str) -> Finding {
    Finding {
        rule: rule.into(),
        severity: Severity::Must,
        message: message.into(),
        pointer: None,
        schema_path: None,
        expected: None,
        actual: None,
        hint: None,
        step: None,
    }
}

/// The sample every test renders: 11 cases over three APIs and six sections.
pub fn sample() -> Report {
    let mut cases = Vec::new();

    let mut c = case(
        "openvk/Users.get/default-user",
        Api::Openvk,
        "Users",
        "Users.get returns the default user",
        Status::Pass,
    );
    c.steps.push(get(
        &format!("{HOST}/method/Users.get?user_ids=1&v=5.131&access_token=[REDACTED]"),
        200,
        r#"{"response":[{"id":1,"first_name":"Vladimir","last_name":"Barinov"}]}"#,
    ));
    cases.push(c);

    let mut c = case(
        "openvk/Users.get/fields-sex",
        Api::Openvk,
        "Users",
        "Users.get with fields=sex answers sex as a number",
        Status::Fail,
    );
    c.steps.push(get(
        &format!("{HOST}/method/Users.get?user_ids=1,2&fields=sex,verified&v=5.131&access_token=[REDACTED]"),
        200,
        r#"{"response":[{"id":1,"first_name":"Vladimir","last_name":"Barinov","sex":"2","verified":0},{"id":2,"first_name":"Test","last_name":"User","sex":1,"verified":0}]}"#,
    ));
    c.findings.push(Finding {
        pointer: Some("/response/0/sex".into()),
        schema_path: Some("/$defs/response/items/properties/sex/type".into()),
        expected: Some("integer (0, 1 or 2)".into()),
        actual: Some("\"2\" (string)".into()),
        hint: Some("serialize `sex` as a JSON number, as VK does".into()),
        step: Some(0),
        ..finding("schema", "\"2\" is not of type \"integer\"")
    });
    cases.push(c);

    let mut c = case(
        "openvk/Wall.post/roundtrip",
        Api::Openvk,
        "Wall",
        "Wall.post then Wall.getById returns the new post",
        Status::Fail,
    );
    c.severity = Severity::Should;
    c.tags = vec!["write".into()];
    c.steps.push(Exchange {
        method: "POST".into(),
        url: format!("{HOST}/method/Wall.post"),
        body: Some("owner_id=1&message=vkconform+roundtrip&v=5.131&access_token=[REDACTED]".into()),
        status: Some(200),
        content_type: Some("application/json".into()),
        excerpt: Some(r#"{"response":{"post_id":17}}"#.into()),
        duration_ms: 31,
    });
    c.steps.push(get(
        &format!("{HOST}/method/Wall.getById?posts=1_17&v=5.131&access_token=[REDACTED]"),
        400,
        r#"{"error_code":15,"error_msg":"Access denied","request_params":[{"key":"method","value":"Wall.getById"},{"key":"access_token","value":"[REDACTED]"}]}"#,
    ));
    c.findings.push(Finding {
        severity: Severity::Should,
        pointer: Some("/error_code".into()),
        expected: Some("a post (the author may read their own post)".into()),
        actual: Some("error 15 Access denied".into()),
        hint: Some("let the owner read a post they just created".into()),
        step: Some(1),
        ..finding(
            "expect",
            "Wall.getById refuses the post Wall.post just created",
        )
    });
    c.findings.push(Finding {
        severity: Severity::Should,
        expected: Some("200 (profile openvk answers errors with 400 only for API errors)".into()),
        actual: Some("400".into()),
        step: Some(1),
        ..finding("http-status", "unexpected HTTP status")
    });
    cases.push(c);

    let mut c = case(
        "openvk/Wall.get/extended",
        Api::Openvk,
        "Wall",
        "Wall.get with extended=1 returns profiles and groups",
        Status::Xfail,
    );
    c.reason = Some("OpenVK omits `groups` when extended=1 (openvk-behavior.md §7)".into());
    c.findings.push(Finding {
        pointer: Some("/response".into()),
        ..finding("schema", "\"groups\" is a required property")
    });
    cases.push(c);

    let mut c = case(
        "openvk/Wall.delete/own-post",
        Api::Openvk,
        "Wall",
        "Wall.delete removes the caller's post",
        Status::Skip,
    );
    c.tags = vec!["write".into()];
    c.reason = Some("--read-only: write cases are not run".into());
    c.duration_ms = 0;
    cases.push(c);

    let mut c = case(
        "openvk/Account.getCounters/shape",
        Api::Openvk,
        "Account",
        "Account.getCounters answers a counters object",
        Status::Xpass,
    );
    c.reason = Some("known gap: counters came back as an empty array".into());
    cases.push(c);

    let mut c = case(
        "openvk/Ovk.version/json",
        Api::Openvk,
        "Ovk",
        "Ovk.version answers JSON",
        Status::Fail,
    );
    c.steps.push(Exchange {
        content_type: Some("text/html; charset=utf-8".into()),
        ..get(
            &format!("{HOST}/method/Ovk.version?v=5.131"),
            500,
            &format!("{HOSTILE}\n<h1>Whoops</h1>\n<p>token=[REDACTED]</p>"),
        )
    });
    c.findings.push(Finding {
        expected: Some("application/json".into()),
        actual: Some("text/html; charset=utf-8".into()),
        hint: Some("answer every /method call with a JSON body, errors included".into()),
        step: Some(0),
        ..finding("content-type", "the answer is not JSON")
    });
    cases.push(c);

    let mut c = case(
        "devino/vk.messages/single",
        Api::Devino,
        "VK",
        "POST /vk/messages accepts one message",
        Status::Pass,
    );
    c.tags = vec!["write".into()];
    c.steps.push(Exchange {
        method: "POST".into(),
        url: format!("{HOST}/vk/messages"),
        body: Some(
            r#"[{"from":"vkconform","to":"79000000000","text":"hi","validity":3600}]"#.into(),
        ),
        status: Some(200),
        content_type: Some("application/json".into()),
        excerpt: Some(r#"{"result":[{"code":"OK","messageId":"4bbf3a1c"}]}"#.into()),
        duration_ms: 14,
    });
    cases.push(c);

    let mut c = case(
        "devino/vk.messages/over-limit",
        Api::Devino,
        "VK",
        "POST /vk/messages refuses more than 1000 messages",
        Status::Fail,
    );
    c.steps.push(Exchange {
        method: "POST".into(),
        url: format!("{HOST}/vk/messages"),
        body: Some(r#"[{"from":"vkconform","to":"79000000000","text":"m1"}, … 1001 messages]"#.into()),
        status: Some(200),
        content_type: Some("application/json".into()),
        excerpt: Some(r#"{"result":[{"code":"OK","messageId":"1"},{"code":"OK","messageId":"2"},{"code":"OK","messageId":"3"},{"code":"OK","messageId":"4"},{"code":"OK","messageId":"5"},{"code":"OK","messageId":"6"},{"code":"OK","messag"#.into()),
        duration_ms: 220,
    });
    c.findings.push(Finding {
        expected: Some("400 with code `TOO_MANY_MESSAGES`".into()),
        actual: Some("200".into()),
        hint: Some("reject batches over 1000 messages before sending any".into()),
        step: Some(0),
        ..finding("http-status", "a batch of 1001 messages was accepted")
    });
    cases.push(c);

    let mut c = case(
        "ok/graph.user.messages/by-path",
        Api::Ok,
        "messages",
        "GET /graph/me/messages/chat:ID lists the chat",
        Status::Pass,
    );
    c.steps.push(get(
        &format!("{HOST}/graph/me/messages/chat:C3ecb9d02a600?count=2&access_token=[REDACTED]"),
        200,
        r#"{"messages":[{"id":"mid.1","text":"hello"}],"has_more":false}"#,
    ));
    cases.push(c);

    let mut c = case(
        "ok/graph.user.messages/no-token",
        Api::Ok,
        "messages",
        "an OK call without a token is refused",
        Status::Skip,
    );
    c.reason = Some("no OK token given (--token)".into());
    c.duration_ms = 0;
    cases.push(c);

    Report {
        format_version: FORMAT_VERSION.into(),
        tool: "vkconform 0.1.0".into(),
        target: HOST.into(),
        profile: Profile::Openvk,
        apis: vec![Api::Openvk, Api::Devino, Api::Ok],
        started_at: "2025-03-14T09:26:53Z".into(),
        duration_ms: 1234,
        seed: 4242,
        summary: Summary::of(&cases),
        cases,
    }
}

fn rendered(report: &Report, format: Format, color: bool) -> String {
    let mut out = Vec::new();
    report::render(report, format, &mut out, &RenderOptions { color }).expect("render");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn human_report_groups_by_api_and_section_and_explains_failures() {
    let text = rendered(&sample(), Format::Human, false);
    assert!(!text.contains('\x1b'), "no colour unless asked");
    assert!(text.contains("3 passed, 4 failed (3 must), 1 xfail, 1 xpass, 2 skipped in 1.2s"));
    insta::assert_snapshot!("human", text);
}

#[test]
fn human_report_is_coloured_only_when_asked() {
    let plain = rendered(&sample(), Format::Human, false);
    let colour = rendered(&sample(), Format::Human, true);
    assert!(colour.contains("\x1b[31mFAIL"));
    let stripped = regex::Regex::new("\x1b\\[[0-9;]*m")
        .expect("regex")
        .replace_all(&colour, "");
    assert_eq!(stripped, plain, "colour changes nothing but the colour");
}

#[test]
fn human_report_limits_an_answer_excerpt_to_ten_lines() {
    let text = rendered(&sample(), Format::Human, false);
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("openvk/Users.get/fields-sex"))
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .collect();
    assert_eq!(block.len(), 11, "10 lines and a `more` line: {block:#?}");
    assert!(block[10].contains("more lines"));
}

#[test]
fn json_report_validates_against_its_schema() {
    let text = rendered(&sample(), Format::Json, false);
    let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(value["format_version"], "vkconform-report/1");
    let catalog = vkconform::schema::Catalog::embedded().expect("catalog");
    if let Err(v) = catalog.validate("report/report.v1.json", &value) {
        panic!("the JSON report does not match its schema: {v:#?}");
    }
}

#[test]
fn json_report_schema_refuses_what_the_model_cannot_produce() {
    let catalog = vkconform::schema::Catalog::embedded().expect("catalog");
    let good: serde_json::Value =
        serde_json::from_str(&rendered(&sample(), Format::Json, false)).expect("JSON");
    let mut bad_status = good.clone();
    bad_status["cases"][0]["status"] = "passed".into();
    let mut extra = good.clone();
    extra["cases"][0]["findings"] =
        serde_json::json!([{"rule": "x", "severity": "must", "message": "m", "colour": "red"}]);
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("seed");
    let mut version = good;
    version["format_version"] = "vkconform-report/2".into();
    for (what, v) in [
        ("status enum", bad_status),
        ("closed finding", extra),
        ("required seed", missing),
        ("version", version),
    ] {
        assert!(
            catalog.validate("report/report.v1.json", &v).is_err(),
            "{what} should be refused"
        );
    }
}

#[test]
fn json_report_round_trips_into_the_model() {
    let report = sample();
    let back: Report =
        serde_json::from_str(&rendered(&report, Format::Json, false)).expect("parse back");
    assert_eq!(back, report);
}

#[test]
fn junit_report_matches_snapshot() {
    insta::assert_snapshot!("junit", rendered(&sample(), Format::Junit, false));
}

#[test]
fn junit_is_well_formed_xml_with_one_testcase_per_case() {
    let report = sample();
    let xml = rendered(&report, Format::Junit, false);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("11"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), report.cases.len());
    for (case, node) in report
        .cases
        .iter()
        .filter(|c| c.api == Api::Openvk)
        .zip(&cases)
    {
        assert_eq!(node.attribute("name"), Some(case.id.as_str()));
    }
    let by_name = |id: &str| {
        *cases
            .iter()
            .find(|n| n.attribute("name") == Some(id))
            .expect(id)
    };
    let fail = by_name("openvk/Users.get/fields-sex");
    assert_eq!(fail.attribute("classname"), Some("openvk.Users"));
    let failure = fail
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("<failure>");
    assert!(failure
        .attribute("message")
        .unwrap_or_default()
        .contains("schema"));
    assert!(failure
        .text()
        .unwrap_or_default()
        .contains("/response/0/sex"));
    let xpass = by_name("openvk/Account.getCounters/shape");
    assert_eq!(
        xpass
            .children()
            .find(|n| n.has_tag_name("failure"))
            .and_then(|f| f.attribute("message")),
        Some("unexpected pass")
    );
    let xfail = by_name("openvk/Wall.get/extended");
    assert!(xfail.children().all(|n| !n.has_tag_name("failure")));
    assert!(xfail.children().any(|n| n.has_tag_name("system-out")));
    assert!(by_name("ok/graph.user.messages/no-token")
        .children()
        .any(|n| n.has_tag_name("skipped")));
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(
        suites,
        [
            "openvk.Users",
            "openvk.Wall",
            "openvk.Account",
            "openvk.Ovk",
            "devino.VK",
            "ok.messages"
        ]
    );
}

/// Every `src=` / `href=` attribute value of every tag in an HTML text
/// (text content cannot hold a tag: it has no raw `<`).
fn links(html: &str) -> Vec<String> {
    let tag = regex::Regex::new(r"<[a-zA-Z][^>]*>").expect("regex");
    let attr =
        regex::Regex::new(r#"(?i)\s(src|href)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)"#).expect("regex");
    tag.find_iter(html)
        .flat_map(|t| {
            attr.captures_iter(t.as_str())
                .map(|c| c[2].trim_matches(['"', '\'']).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn html_is_one_self_contained_document() {
    let html = rendered(&sample(), Format::Html, false);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<html").count(), 1);
    assert_eq!(html.matches("</html>").count(), 1);
    assert!(html.trim_end().ends_with("</html>"));
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<link"), "no stylesheets or fonts by link");
    assert!(
        !lower.contains("@import") && !lower.contains("url("),
        "no CSS fetches"
    );
    assert!(
        !regex::Regex::new(r"(?i)<script[^>]*\bsrc")
            .expect("regex")
            .is_match(&html),
        "no external scripts"
    );
    let links = links(&html);
    assert!(
        links.len() >= 6,
        "the matrix links to its sections: {links:?}"
    );
    for l in links {
        assert!(l.starts_with('#'), "only in-page links, found {l:?}");
    }
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn html_escapes_hostile_server_text() {
    let html = rendered(&sample(), Format::Html, false);
    assert!(
        !html.contains("<script>alert"),
        "a hostile excerpt stays text"
    );
    assert!(!html.contains("evil.example/x.png\" onerror"));
    assert!(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
    assert_eq!(
        html.to_ascii_lowercase().matches("<script").count(),
        1,
        "only the report's own script"
    );
}

#[test]
fn html_shows_the_matrix_and_opens_failures() {
    let html = rendered(&sample(), Format::Html, false);
    assert!(html.contains("<table class=\"matrix\">"));
    assert!(html.contains(
        "<a href=\"#sec-0\">Users</a></th><td class=\"c-pass\">1</td><td class=\"c-fail\">1</td>"
    ));
    let details = regex::Regex::new(r#"<details class="case st-(\w+)" id="case-\d+"( open)?>"#)
        .expect("regex");
    let mut n = 0;
    for c in details.captures_iter(&html) {
        n += 1;
        let open = c.get(2).is_some();
        assert_eq!(open, matches!(&c[1], "fail" | "xpass"), "{}", &c[0]);
    }
    assert_eq!(n, 11);
    assert!(html.contains("seed"));
    assert!(html.contains("4242"));
}

#[test]
fn no_renderer_lets_a_secret_through() {
    let mut report = sample();
    // A runner bug: a secret slipped into a message and an excerpt unredacted.
    report.cases[0].title = "token leak access_token=vk1.a.SECRET99".into();
    report.cases[0].steps[0].excerpt = Some("?access_token=vk1.a.SECRET99&x=1".into());
    for format in [Format::Human, Format::Json, Format::Junit, Format::Html] {
        let out = rendered(&report, format, false);
        assert!(!out.contains("SECRET99"), "{format:?} leaked a secret");
        assert!(out.contains("[REDACTED]"), "{format:?}");
    }
}

#[test]
fn an_empty_report_renders_in_every_format() {
    let mut report = sample();
    report.cases.clear();
    report.summary = Summary::default();
    for format in [Format::Human, Format::Json, Format::Junit, Format::Html] {
        assert!(!rendered(&report, format, true).is_empty());
    }
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[<>&\"'\\x00-\\x1f\\u{fffe}\\u{ffff}a-z ]{0,40}",
        Just(HOSTILE.to_string())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn renderers_never_panic_and_keep_their_formats_valid(
        id in arb_text(), title in arb_text(), section in arb_text(), message in arb_text(),
        excerpt in arb_text(), url in arb_text(), step in proptest::option::of(0usize..5), status in 0usize..5,
    ) {
        let mut report = sample();
        let c = &mut report.cases[1];
        c.id = id;
        c.title = title.clone();
        c.section = section;
        c.status = [Status::Pass, Status::Fail, Status::Xfail, Status::Xpass, Status::Skip][status];
        c.findings[0].message = message;
        c.findings[0].step = step;
        c.steps[0].excerpt = Some(excerpt);
        c.steps[0].url = url;
        report.summary = Summary::of(&report.cases);
        let xml = rendered(&report, Format::Junit, false);
        prop_assert!(roxmltree::Document::parse(&xml).is_ok(), "{}", xml);
        let html = rendered(&report, Format::Html, false);
        prop_assert_eq!(html.to_ascii_lowercase().matches("<script").count(), 1);
        prop_assert!(links(&html).iter().all(|l| l.starts_with('#')));
        let human = rendered(&report, Format::Human, false);
        prop_assert!(!human.contains('\x1b'));
        let json: serde_json::Value = serde_json::from_str(&rendered(&report, Format::Json, false)).expect("JSON");
        prop_assert_eq!(&json["cases"][1]["title"], &serde_json::Value::String(vkconform::redact::redact_query_values(&title)));
    }
}

/// Renders the sample HTML and screenshots it with headless Chromium.
///
/// Runs when `chromium` (or `$CHROMIUM`) is on the machine; skips with a
/// note when it is not, unless `CI_CHROMIUM=1` demands it. Set
/// `VKCONFORM_SCREENSHOT_DIR` to keep `report.html` and `report.png`.
#[test]
fn html_renders_in_headless_chromium() {
    let demanded = std::env::var("CI_CHROMIUM").is_ok_and(|v| v == "1");
    let browser = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = std::process::Command::new(&browser)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !demanded,
            "CI_CHROMIUM=1 but `{browser}` is not installed (apt-get install -y chromium)"
        );
        eprintln!("note: skipping html_renders_in_headless_chromium: `{browser}` not found (install chromium or set CI_CHROMIUM=1 to require it)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::env::var_os("VKCONFORM_SCREENSHOT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let html = dir.join("report.html");
    let png = dir.join("report.png");
    let _ = std::fs::remove_file(&png);
    std::fs::write(&html, rendered(&sample(), Format::Html, false)).expect("write html");
    let profile = tmp.path().join("profile");
    let mut child = std::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        match child.try_wait().expect("wait chromium") {
            Some(_) => break,
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 120 s");
            }
            None => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
    let bytes = std::fs::read(&png).expect("chromium wrote a screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!((be(16), be(20)), (1200, 1600), "the requested window size");
    assert!(
        bytes.len() > 40_000,
        "a page with content, not a blank one ({} bytes)",
        bytes.len()
    );
}
