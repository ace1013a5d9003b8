//! Stage 5: the report. One model ([`Report`]) filled by the runner, rendered
//! by every format (human, JSON, JUnit, HTML), each writing to `impl Write`.
//! Renderers never see secrets: the runner redacts before it builds the model
//! (renderers still mask `access_token=…`-style query values again, as a
//! second line of defence).
//!
//! ```
//! use vkconform::report::{render, Format, RenderOptions, Report, Summary, FORMAT_VERSION};
//! use vkconform::api::{Api, Profile};
//!
//! let report = Report {
//!     format_version: FORMAT_VERSION.into(),
//!     tool: "vkconform 0.1.0".into(),
//!     target: "mock".into(),
//!     profile: Profile::Openvk,
//!     apis: vec![Api::Openvk],
//!     started_at: "2025-01-01T00:00:00Z".into(),
//!     duration_ms: 0,
//!     seed: 1,
//!     summary: Summary::default(),
//!     cases: vec![],
//! };
//! let mut out = Vec::new();
//! render(&report, Format::Human, &mut out, &RenderOptions::default()).unwrap();
//! assert!(String::from_utf8(out).unwrap().contains("0 passed"));
//! ```

pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod model;

pub use model::*;

use crate::api::Api;
use std::io::{self, Write};

/// Output formats of `vkconform check --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// For people at a terminal.
    #[default]
    Human,
    /// Versioned JSON (`schemas/report/report.v1.json`).
    Json,
    /// JUnit XML, one testcase per case.
    Junit,
    /// One self-contained HTML file.
    Html,
}

/// Options every renderer honours.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// ANSI colours (human format only).
    pub color: bool,
}

/// Renders a report in a format.
pub fn render(
    report: &Report,
    format: Format,
    out: &mut dyn Write,
    opts: &RenderOptions,
) -> io::Result<()> {
    match format {
        Format::Human => human::render(report, out, opts),
        Format::Json => json::render(report, out, opts),
        Format::Junit => junit::render(report, out, opts),
        Format::Html => html::render(report, out, opts),
    }
}

/// The cases of one section of one API, in suite order.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The API.
    pub api: Api,
    /// The section (`Users`, `VK`, `messages`, …).
    pub section: &'a str,
    /// Its cases, in the order the report lists them.
    pub cases: Vec<&'a CaseResult>,
}

impl Group<'_> {
    /// Counts of this group's cases by outcome.
    pub fn counts(&self) -> Counts {
        Counts::of(self.cases.iter().copied())
    }
}

/// Case counts by [`Status`], for matrices and per-section totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Failed as expected.
    pub xfail: usize,
    /// Passed although expected to fail.
    pub xpass: usize,
    /// Skipped.
    pub skip: usize,
}

impl Counts {
    /// Counts cases by status.
    pub fn of<'a>(cases: impl IntoIterator<Item = &'a CaseResult>) -> Counts {
        let mut c = Counts::default();
        for case in cases {
            *c.get_mut(case.status) += 1;
        }
        c
    }

    /// The count of one status.
    pub fn get(&self, status: Status) -> usize {
        match status {
            Status::Pass => self.pass,
            Status::Fail => self.fail,
            Status::Xfail => self.xfail,
            Status::Xpass => self.xpass,
            Status::Skip => self.skip,
        }
    }

    fn get_mut(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Pass => &mut self.pass,
            Status::Fail => &mut self.fail,
            Status::Xfail => &mut self.xfail,
            Status::Xpass => &mut self.xpass,
            Status::Skip => &mut self.skip,
        }
    }

    /// Every case counted.
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.xfail + self.xpass + self.skip
    }
}

/// Every status, in the order reports list them.
pub const STATUSES: [Status; 5] = [
    Status::Pass,
    Status::Fail,
    Status::Xfail,
    Status::Xpass,
    Status::Skip,
];

/// Groups the cases by API (in [`Api::ALL`] order) and then by section (in
/// the order sections first appear), keeping suite order inside a section.
pub fn groups(report: &Report) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for api in Api::ALL {
        let start = out.len();
        for case in report.cases.iter().filter(|c| c.api == api) {
            match out[start..].iter_mut().find(|g| g.section == case.section) {
                Some(g) => g.cases.push(case),
                None => out.push(Group {
                    api,
                    section: &case.section,
                    cases: vec![case],
                }),
            }
        }
    }
    out
}

/// `130 passed, 2 failed (1 must), 1 xfail, 0 xpass, 3 skipped in 1.2s`.
pub fn summary_line(summary: &Summary, duration_ms: u64) -> String {
    let must = if summary.failed > 0 {
        format!(" ({} must)", summary.failed_must)
    } else {
        String::new()
    };
    format!(
        "{} passed, {} failed{must}, {} xfail, {} xpass, {} skipped in {}",
        summary.passed,
        summary.failed,
        summary.xfailed,
        summary.xpassed,
        summary.skipped,
        seconds(duration_ms)
    )
}

/// The verdict in one line: what CI should conclude from the summary.
pub fn verdict(summary: &Summary) -> String {
    if !summary.is_failure() {
        return "OK: every required check passed".to_string();
    }
    let mut why = Vec::new();
    if summary.failed_must > 0 {
        why.push(format!(
            "{} must case{} failed",
            summary.failed_must,
            plural(summary.failed_must)
        ));
    }
    if summary.xpassed > 0 {
        why.push(format!(
            "{} expected failure{} passed (remove {} from the expected-failures list)",
            summary.xpassed,
            plural(summary.xpassed),
            if summary.xpassed == 1 { "it" } else { "them" }
        ));
    }
    format!("FAILED: {}", why.join(", "))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `1234` ms as `1.2s` (truncated, so output is stable).
pub(crate) fn seconds(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// Makes server-supplied text safe to show: control characters other than
/// newline and tab (terminal escapes, NUL, …) become visible `\u{..}` escapes,
/// as do the code points XML forbids;
/// `access_token=…`-style query values are masked again on the way.
pub(crate) fn printable(s: &str) -> String {
    let s = crate::redact::redact_query_values(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Like [`printable`], on a single line (newlines and tabs escaped too).
pub(crate) fn one_line(s: &str) -> String {
    printable(s).replace('\n', "\\n").replace('\t', "\\t")
}

/// A request URL or body as reports show it: one line, secret query values masked again.
pub(crate) fn safe_request_text(s: &str) -> String {
    one_line(s)
}

/// Cuts `s` to at most `max` characters, marking the cut with `...`.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

/// An answer excerpt as display lines: JSON pretty-printed when it parses,
/// long lines wrapped at `width` characters, at most `max_lines` lines.
/// Returns the lines and how many more were left out.
pub(crate) fn excerpt_lines(excerpt: &str, max_lines: usize, width: usize) -> (Vec<String>, usize) {
    let text = pretty_excerpt(excerpt);
    let width = width.max(1);
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = line.replace('\t', "    ");
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            lines.push(String::new());
        }
        for chunk in chars.chunks(width) {
            lines.push(chunk.iter().collect());
        }
    }
    let more = lines.len().saturating_sub(max_lines);
    lines.truncate(max_lines);
    (lines, more)
}

/// An answer excerpt made readable: JSON objects and arrays pretty-printed
/// (a truncated excerpt stays as it came), control characters escaped.
pub(crate) fn pretty_excerpt(excerpt: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(excerpt) {
        Ok(v) if v.is_object() || v.is_array() => {
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| excerpt.to_string())
        }
        _ => excerpt.to_string(),
    };
    printable(&text)
}

/// The steps a failure's findings point at (deduplicated, in order); the last
/// step when no finding names one. Out-of-range indexes are ignored.
pub(crate) fn referenced_steps(case: &CaseResult) -> Vec<usize> {
    let mut idx: Vec<usize> = case
        .findings
        .iter()
        .filter_map(|f| f.step)
        .filter(|&i| i < case.steps.len())
        .collect();
    idx.sort_unstable();
    idx.dedup();
    if idx.is_empty() && !case.steps.is_empty() {
        idx.push(case.steps.len() - 1);
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_terminal_control_sequences() {
        assert_eq!(printable("a\u{1b}[31mb\u{0}\n"), "a\\u{1b}[31mb\\u{0}\n");
    }

    #[test]
    fn excerpt_lines_pretty_prints_json_and_limits_lines() {
        let (lines, more) = excerpt_lines(r#"{"a":[1,2,3,4,5,6,7,8,9,10]}"#, 10, 100);
        assert_eq!(lines.len(), 10);
        assert_eq!(lines[0], "{");
        assert_eq!(more, 4);
    }

    #[test]
    fn excerpt_lines_wraps_long_lines_without_panicking_on_multibyte_text() {
        let (lines, more) = excerpt_lines(&"я".repeat(250), 10, 100);
        assert_eq!(lines.len(), 3);
        assert_eq!(more, 0);
        assert_eq!(excerpt_lines("", 10, 0), (vec![], 0));
    }

    #[test]
    fn summary_line_reads_like_the_design() {
        let s = Summary {
            total: 139,
            passed: 130,
            failed: 2,
            failed_must: 1,
            xfailed: 1,
            xpassed: 0,
            skipped: 3,
        };
        assert_eq!(
            summary_line(&s, 1234),
            "130 passed, 2 failed (1 must), 1 xfail, 0 xpass, 3 skipped in 1.2s"
        );
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 5), "ab...");
        assert_eq!(clip("abc", 5), "abc");
    }
}
