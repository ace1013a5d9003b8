//! The one result model every renderer reads.

use crate::api::{Api, Profile};
use serde::{Deserialize, Serialize};

/// Version of the JSON report format (`schemas/report/report.v1.json`).
pub const FORMAT_VERSION: &str = "vkconform-report/1";

/// Everything one `vkconform check` run found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Always [`FORMAT_VERSION`].
    pub format_version: String,
    /// `vkconform X.Y.Z`.
    pub tool: String,
    /// The checked server (credentials removed), or `mock`.
    pub target: String,
    /// Error dialect the run expected.
    pub profile: Profile,
    /// APIs covered.
    pub apis: Vec<Api>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Wall time of the whole run.
    pub duration_ms: u64,
    /// Seed of every random choice (fuzzing); re-run with `--seed`.
    pub seed: u64,
    /// Counts.
    pub summary: Summary,
    /// One entry per case, in suite order.
    pub cases: Vec<CaseResult>,
}

/// Counts by outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Cases run or skipped.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed (any severity).
    pub failed: usize,
    /// Failed `must` cases: these make the exit code 1.
    pub failed_must: usize,
    /// Failed as the expected-failures file said.
    pub xfailed: usize,
    /// Listed as expected failures but passed (reported; exit code 1).
    pub xpassed: usize,
    /// Not run (filtered by `--read-only`, missing credentials, …).
    pub skipped: usize,
}

impl Summary {
    /// Recomputes the counts from cases.
    pub fn of(cases: &[CaseResult]) -> Summary {
        let mut s = Summary {
            total: cases.len(),
            ..Summary::default()
        };
        for c in cases {
            match c.status {
                Status::Pass => s.passed += 1,
                Status::Fail => {
                    s.failed += 1;
                    if c.severity == Severity::Must {
                        s.failed_must += 1;
                    }
                }
                Status::Xfail => s.xfailed += 1,
                Status::Xpass => s.xpassed += 1,
                Status::Skip => s.skipped += 1,
            }
        }
        s
    }

    /// True when CI should fail: a `must` case failed or an expected failure passed.
    pub fn is_failure(&self) -> bool {
        self.failed_must > 0 || self.xpassed > 0
    }
}

/// How a case ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every expectation held.
    Pass,
    /// At least one finding.
    Fail,
    /// Failed, and listed in the expected-failures file.
    Xfail,
    /// Listed in the expected-failures file, but passed.
    Xpass,
    /// Not run.
    Skip,
}

impl Status {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Xfail => "xfail",
            Status::Xpass => "xpass",
            Status::Skip => "skip",
        }
    }
}

/// How much a case matters (RFC 2119 style).
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Required for conformance: a failure makes the exit code 1.
    #[default]
    Must,
    /// Recommended: reported, does not fail the run.
    Should,
    /// Informational.
    Info,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Must => "must",
            Severity::Should => "should",
            Severity::Info => "info",
        }
    }
}

/// The result of one case.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaseResult {
    /// Case id, e.g. `openvk/Wall.post/roundtrip`.
    pub id: String,
    /// Which API.
    pub api: Api,
    /// Section (OpenVK section, `VK` for Devino, `messages` for OK).
    pub section: String,
    /// What the case checks, in one line.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Tags (`read`, `write`, `auth`, `fuzz`, …).
    pub tags: Vec<String>,
    /// The seed text the case cites (`000_….txt §Wall`).
    pub cites: String,
    /// Outcome.
    pub status: Status,
    /// Why it was skipped or expected to fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
    /// What went wrong (empty when it passed).
    pub findings: Vec<Finding>,
    /// Every HTTP exchange of the case.
    pub steps: Vec<Exchange>,
    /// A command that re-runs just this case.
    pub rerun: String,
}

/// One conformance problem: data, not an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// Machine-readable rule, e.g. `schema`, `error-code`, `envelope`, `http-status`, `content-type`, `secret-echo`, `timeout`, `transport`, `expect`.
    pub rule: String,
    /// Severity (usually the case's).
    pub severity: Severity,
    /// One-line description.
    pub message: String,
    /// JSON pointer into the answer, when it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// JSON pointer into the schema, for schema findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_path: Option<String>,
    /// What the spec wants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What the server did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Index of the step it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
}

/// One HTTP request and what came back (secrets redacted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    /// HTTP method.
    pub method: String,
    /// URL without secrets.
    pub url: String,
    /// Form/JSON body sent, without secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// HTTP status, when an answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Content-Type of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The first bytes of the answer (at most 2 KiB), without secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
}
