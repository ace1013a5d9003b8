//! The JUnit XML report (via `quick-junit`): one `<testsuite>` per API and
//! section (`openvk.Users`), one `<testcase>` per case (classname
//! `api.section`, name = case id). Failures carry the first finding as the
//! message and every finding as text; skips are `<skipped>`; expected
//! failures pass with a `<system-out>` note; an unexpected pass is a failure.

use super::{groups, human, one_line, printable, CaseResult, RenderOptions, Report, Status};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use std::io::{self, Write};
use std::time::Duration;

/// Writes the JUnit XML report.
pub fn render<W: Write + ?Sized>(
    report: &Report,
    out: &mut W,
    _opts: &RenderOptions,
) -> io::Result<()> {
    let xml = to_junit(report).to_string().map_err(io::Error::other)?;
    out.write_all(xml.as_bytes())?;
    if !xml.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The report as a `quick-junit` document.
pub fn to_junit(report: &Report) -> quick_junit::Report {
    let mut junit = quick_junit::Report::new("vkconform");
    junit.set_time(Duration::from_millis(report.duration_ms));
    for g in groups(report) {
        let classname = format!("{}.{}", g.api, one_line(g.section));
        let mut suite = TestSuite::new(classname.clone());
        suite.set_time(Duration::from_millis(
            g.cases
                .iter()
                .map(|c| c.duration_ms)
                .fold(0u64, u64::saturating_add),
        ));
        suite.add_properties([
            Property::new("target", one_line(&report.target)),
            Property::new("profile", report.profile.as_str()),
            Property::new("seed", report.seed.to_string()),
            Property::new("started_at", one_line(&report.started_at)),
        ]);
        for case in g.cases {
            suite.add_test_case(test_case(case, &classname));
        }
        junit.add_test_suite(suite);
    }
    junit
}

fn test_case(case: &CaseResult, classname: &str) -> TestCase {
    let reason = case.reason.as_deref().map(one_line);
    let status = match case.status {
        Status::Pass | Status::Xfail => TestCaseStatus::success(),
        Status::Skip => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.clone().unwrap_or_else(|| "skipped".into()));
            st
        }
        Status::Fail => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = match case.findings.first() {
                Some(f) if case.findings.len() > 1 => {
                    format!(
                        "[{}] {}: {} (and {} more)",
                        case.severity.as_str(),
                        f.rule,
                        f.message,
                        case.findings.len() - 1
                    )
                }
                Some(f) => format!("[{}] {}: {}", case.severity.as_str(), f.rule, f.message),
                None => format!("[{}] failed", case.severity.as_str()),
            };
            st.set_message(one_line(&message));
            st.set_type(
                case.findings
                    .first()
                    .map(|f| one_line(&f.rule))
                    .unwrap_or_else(|| "fail".into()),
            );
            st.set_description(human::case_details(case));
            st
        }
        Status::Xpass => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message("unexpected pass");
            st.set_type("xpass");
            st.set_description(human::case_details(case));
            st
        }
    };
    let mut tc = TestCase::new(printable(&case.id), status);
    tc.set_classname(classname);
    tc.set_time(Duration::from_millis(case.duration_ms));
    tc.add_properties([
        Property::new("title", one_line(&case.title)),
        Property::new("severity", case.severity.as_str()),
        Property::new("status", case.status.as_str()),
        Property::new("cites", one_line(&case.cites)),
    ]);
    if case.status == Status::Xfail {
        tc.set_system_out(human::case_details(case));
    }
    tc
}
