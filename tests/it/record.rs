//! Recording: a live server's answers become pending recordings that load,
//! validate and never contain the token; accept/reject behave like insta.

use crate::common::{bin, mock};
use vkconform::mock::{MockConfig, DEFAULT_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_a_live_server_writes_pending_files_without_secrets() {
    let m = mock(MockConfig {
        tokens: vec!["rec-secret-token-123".into()],
        ..MockConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().to_path_buf();
    let url = m.uri();
    let snap = snapshots.clone();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .env_remove("CI")
            .args([
                "record",
                "--target",
                &url,
                "--token",
                "rec-secret-token-123",
                "--method",
                "Users.get",
                "--method",
                "wall.getById",
                "--method",
                "Account.getProfileInfo",
                "--rate",
                "100",
                "--snapshots",
            ])
            .arg(&snap)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("openvk/Users.get.json.new"), "{stdout}");
    let pending = vkconform::record::pending(&snapshots).unwrap();
    assert_eq!(pending.len(), 3, "{pending:?}");
    for p in &pending {
        let text = std::fs::read_to_string(snapshots.join(p)).unwrap();
        assert!(
            !text.contains("rec-secret-token-123") && !text.contains(DEFAULT_TOKEN),
            "{p} leaks the token"
        );
    }
    // Accept: files move into place and load in a mock.
    let out = bin()
        .args(["record", "--accept", "--snapshots"])
        .arg(&snapshots)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(vkconform::record::pending(&snapshots).unwrap().is_empty());
    let cat = vkconform::schema::Catalog::embedded().unwrap();
    let recs =
        vkconform::mock::Recordings::load_dir(&cat, &snapshots).expect("accepted recordings load");
    assert_eq!(recs.files().len(), 3);
    m.shutdown().await;
}

#[test]
fn an_invalid_pending_recording_is_refused_and_reject_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("openvk")).unwrap();
    std::fs::write(
        dir.path().join("openvk/Users.get.json.new"),
        r#"{"format":"vkconform-recording/1","api":"openvk","method":"Users.get","recordings":[{"id":"x","response":{"not":"an array"}}]}"#,
    )
    .unwrap();
    let out = bin()
        .args(["record", "--accept", "--snapshots"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Users.get.json.new"));
    let out = bin()
        .args(["record", "--reject", "--snapshots"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!dir.path().join("openvk/Users.get.json.new").exists());
}

#[test]
fn recording_refuses_to_run_in_ci_and_needs_a_target() {
    let out = bin()
        .env("CI", "true")
        .args(["record", "--target", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().env_remove("CI").args(["record"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
