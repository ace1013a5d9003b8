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
