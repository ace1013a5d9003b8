//! Shared helpers: the binary under test, an in-process mock, a spawned mock.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The `vkconform` binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vkconform"))
}

/// The repository root.
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `vkconform mock` child process on a free port; killed on drop.
pub struct SpawnedMock {
    /// The child.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for SpawnedMock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vkconform mock --port 0 ARGS…` and reads its first stdout line.
pub fn spawn_mock(args: &[&str]) -> SpawnedMock {
    let mut child = bin()
        .args(["mock", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn vkconform mock");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    SpawnedMock { child, url }
}

/// Starts an in-process mock with a config.
pub async fn mock(config: vkconform::mock::MockConfig) -> vkconform::mock::MockServer {
    vkconform::mock::MockServer::start(config)
        .await
        .expect("mock starts")
}

/// An HTTP client with a bounded timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

/// What one `vkconform check` process did.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Everything on stdout (the report).
    pub stdout: String,
    /// Everything on stderr (diagnostics).
    pub stderr: String,
}

impl Run {
    /// The JSON report on stdout.
    pub fn report(&self) -> vkconform::report::Report {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a JSON report ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs `vkconform check ARGS…` to completion (blocking) with a clean
/// credential environment (and the mock's default Devino key).
pub fn check<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let out = bin()
        .arg("check")
        .args(args)
        .env_remove("VKCONFORM_TOKEN")
        .env_remove("VKCONFORM_USERNAME")
        .env_remove("VKCONFORM_PASSWORD")
        .env_remove("VKCONFORM_CODE")
        .env_remove("VKCONFORM_OK_CHAT")
        .env_remove("VKCONFORM_DEVINO_PHONE")
        .env_remove("VKCONFORM_DEVINO_SERVICE")
        .env_remove("VKCONFORM_DEVINO_TMPL")
        .env("VKCONFORM_DEVINO_KEY", vkconform::mock::DEFAULT_DEVINO_KEY)
        .output()
        .expect("run vkconform check");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// Runs `check` off the async runtime that serves the fake servers.
pub async fn check_async(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || check(&args))
        .await
        .expect("join")
}

/// The findings of one case, as `rule` strings.
pub fn rules_of(report: &vkconform::report::Report, id: &str) -> Vec<String> {
    let case = report
        .cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id} in the report"));
    case.findings.iter().map(|f| f.rule.clone()).collect()
}

/// Asserts exit 1 with the case failed as `must` and carrying `rule`; returns the report.
pub fn assert_fault(run: &Run, id: &str, rule: &str) -> vkconform::report::Report {
    assert_eq!(
        run.code, 1,
        "exit code; stderr: {}\nstdout: {}",
        run.stderr, run.stdout
    );
    let report = run.report();
    let rules = rules_of(&report, id);
    assert!(
        rules.iter().any(|r| r == rule),
        "{id}: expected a `{rule}` finding, got {rules:?}"
    );
    let case = report.cases.iter().find(|c| c.id == id).unwrap();
    assert_eq!(case.status, vkconform::report::Status::Fail);
    assert!(report.summary.failed_must >= 1);
    report
}
