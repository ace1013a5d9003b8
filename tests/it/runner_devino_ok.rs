//! Tests: the Devino and OK suites (`suites/devino`, `suites/ok`) and the
//! runner's callback receiver. The embedded mock and a `vkconform mock`
//! process must pass them; deliberately wrong servers (wiremock, or a small
//! axum server for the callbacks a real Devino sends) must each produce their
//! own finding and exit 1.

use crate::common::*;
use axum::extract::State;
use axum::routing::post;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vkconform::report::Status;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CHAT: &str = "chat:C3ecb9d02a600";

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `check --target URI --api API --format json --filter id:ID` against a live (fake) server, unpaced.
async fn check_live(uri: &str, api: &str, id: &str, extra: &[&str]) -> Run {
    let mut args = strings(&[
        "--target",
        uri,
        "--api",
        api,
        "--token",
        "wiremock-token-1234",
        "--format",
        "json",
        "--rate",
        "1000",
        "--write-interval",
        "0",
        "--filter",
    ]);
    args.push(format!("id:{id}"));
    args.extend(strings(extra));
    check_async(args).await
}

fn json_answer(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string().into_bytes(), "application/json")
}

// ---------------------------------------------------------------- the mocks conform

#[test]
fn check_against_the_mock_with_api_all_covers_the_three_apis_and_exits_0() {
    let run = check(&strings(&[
        "--target", "mock", "--api", "all", "--format", "json",
    ]));
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let report = run.report();
    let failed: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| (&c.id, &c.reason, &c.findings))
        .collect();
    assert!(
        failed.is_empty(),
        "not passing against the mock: {failed:#?}"
    );
    let apis: BTreeSet<&str> = report.cases.iter().map(|c| c.api.as_str()).collect();
    assert_eq!(
        apis,
        BTreeSet::from(["devino", "ok", "openvk"]),
        "cases of every API"
    );
    assert_eq!(report.apis.len(), 3);
    for api in ["devino", "ok"] {
        let n = report
            .cases
            .iter()
            .filter(|c| c.api.as_str() == api)
            .count();
        assert!(n >= 20, "{api}: {n} cases");
    }
    // The callback cases really waited for and saw their statuses.
    let case = |id: &str| report.cases.iter().find(|c| c.id == id).unwrap();
    let awaited = |id: &str| -> Vec<String> {
        case(id)
            .steps
            .iter()
            .filter(|s| s.method == "AWAIT")
            .filter_map(|s| s.excerpt.clone())
            .collect()
    };
    for (id, statuses) in [
        ("devino/callbacks/delivered-read", "SENT → DELIVERED → READ"),
        ("devino/callbacks/undeliverable", "SENT → UNDELIVERABLE"),
        ("devino/callbacks/expired", "SENT → EXPIRED"),
        ("devino/callbacks/unknown", "SENT → UNKNOWN"),
        ("devino/limits/per-second", "RATELIMIT"),
        ("devino/limits/per-day", "RATELIMIT"),
    ] {
        let seen = awaited(id);
        assert!(seen.iter().any(|s| s.contains(statuses)), "{id}: {seen:?}");
    }
    // The 1001-message request is kept short in the report.
    let big = &case("devino/limits/too-many-messages").steps[0];
    assert!(big.body.as_ref().unwrap().chars().count() <= 8193);
}

#[test]
fn the_human_report_groups_cases_by_api() {
    let run = check(&strings(&[
        "--target",
        "mock",
        "--api",
        "all",
        "--no-fuzz",
        "--color",
        "never",
        "--filter",
        "section:auth",
        "--filter",
        "section:messages",
        "--filter",
        "id:openvk/Users.get/*",
    ]));
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let heading = |name: &str| {
        run.stdout
            .lines()
            .position(|l| l == name)
            .unwrap_or_else(|| panic!("no `{name}` heading in:\n{}", run.stdout))
    };
    let (o, d, k) = (heading("openvk"), heading("devino"), heading("ok"));
    assert!(o < d && d < k, "API groups in order");
    let devino_block = &run.stdout.lines().collect::<Vec<_>>()[d..k].join("\n");
    assert!(devino_block.contains("devino/auth/missing-login"));
    assert!(!devino_block.contains("ok/auth/"));
}

#[test]
fn a_vkconform_mock_process_passes_the_devino_and_ok_suites_as_a_live_target() {
    let m = spawn_mock(&["--devino-callback-delay-ms", "5"]);
    let run = check(&strings(&[
        "--target",
        &m.url,
        "--api",
        "all",
        "--token",
        "vkconform-test-token",
        "--format",
        "json",
        "--rate",
        "1000",
        "--write-interval",
        "0",
        "--filter",
        "api:devino",
        "--filter",
        "api:ok",
        // EXPIRED takes the full 60 s ttl on a `vkconform mock`.
        "--filter",
        "!tag:slow",
    ]));
    assert_eq!(run.code, 0, "stderr: {}\n{}", run.stderr, run.stdout);
    let report = run.report();
    assert!(report.cases.iter().all(|c| c.status == Status::Pass));
    assert!(!report
        .cases
        .iter()
        .any(|c| c.id == "devino/callbacks/expired"));
    assert!(report.cases.iter().any(|c| c.id == "ok/seq/exact"));
}

#[test]
fn live_runs_can_leave_out_the_mock_specific_cases() {
    let run = check(&strings(&[
        "--target",
        "mock",
        "--api",
        "all",
        "--list",
        "--filter",
        "api:devino",
        "--filter",
        "api:ok",
        "--filter",
        "!tag:mock-triggers",
        "--filter",
        "!tag:mock-world",
    ]));
    assert_eq!(run.code, 0);
    let ids: BTreeSet<&str> = run.stdout.lines().collect();
    for generic in [
        "devino/send/accepted",
        "devino/callbacks/valid",
        "devino/limits/too-many-messages",
        "devino/errors/service.not.found",
        "ok/messages/newest-first",
        "ok/ids/prefixes",
        "ok/auth/missing-token",
    ] {
        assert!(ids.contains(generic), "{generic} stays");
    }
    for specific in [
        "devino/callbacks/undeliverable",
        "devino/errors/billing.error",
        "devino/limits/per-second",
        "ok/attachments/types",
        "ok/seq/exact",
    ] {
        assert!(!ids.contains(specific), "{specific} is left out");
    }
}

// ---------------------------------------------------------------- every rule has a case

fn suite_text(api: &str) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(root().join("suites").join(api)).unwrap() {
        out.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    out
}

#[test]
fn every_documented_devino_error_code_status_and_limit_has_a_suite_case() {
    let catalog = vkconform::schema::Catalog::shared().unwrap();
    let suites = vkconform::suite::load_paths(
        &[root().join("suites/devino")],
        &catalog,
        &Default::default(),
    )
    .unwrap();
    let cases: Vec<_> = suites.iter().flat_map(|s| s.cases.iter()).collect();
    // Every status the callback schema documents is awaited by some case.
    let awaited: BTreeSet<String> = cases
        .iter()
        .flat_map(|c| c.steps.iter())
        .filter_map(|s| match &s.action {
            vkconform::suite::Action::AwaitCallbacks(a) => Some(a.expected.concat()),
            _ => None,
        })
        .flatten()
        .collect();
    let schema = catalog.document("devino/callback.status.json").unwrap();
    for st in schema["$defs"]["status"]["properties"]["status"]["enum"]
        .as_array()
        .unwrap()
    {
        assert!(awaited.contains(st.as_str().unwrap()), "status {st}");
    }
    // Every documented error code is expected by some case.
    let text = suite_text("devino");
    let errors = catalog.document("devino/errors.json").unwrap();
    for code in errors["$defs"]["code"]["enum"].as_array().unwrap() {
        let code = code.as_str().unwrap();
        assert!(
            text.contains(&format!("key: {code}}}")) || text.contains(&format!("equals: {code}}}")),
            "error code {code}"
        );
    }
    let ids: BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    for id in [
        "devino/limits/too-many-messages",
        "devino/limits/thousand",
        "devino/limits/per-second",
        "devino/limits/per-day",
        "devino/auth/missing-login",
        "devino/callbacks/valid",
    ] {
        assert!(ids.contains(id), "{id}");
    }
    // No case sends callbacks anywhere but the runner's receiver.
    assert!(!text.contains("your.website.com"));
    fn status_urls(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    if k == "status_url" {
                        out.push(x.clone());
                    }
                    status_urls(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| status_urls(x, out)),
            _ => {}
        }
    }
    let mut urls = Vec::new();
    for step in cases.iter().flat_map(|c| c.steps.iter()) {
        if let vkconform::suite::Action::Request(r) = &step.action {
            match &r.body {
                vkconform::suite::Body::Json(v) => status_urls(v, &mut urls),
                vkconform::suite::Body::Repeat { item, .. } => status_urls(item, &mut urls),
                _ => {}
            }
        }
    }
    assert!(urls.len() >= 8, "{urls:?}");
    assert!(urls.iter().all(|u| u == "${callback_url}"), "{urls:?}");
}

#[test]
fn every_ok_parameter_rule_has_a_suite_case() {
    let text = suite_text("ok");
    for needle in [
        // both path forms
        "path: \"/graph/me/messages/${env.VKCONFORM_OK_CHAT",
        "chat_id: \"${env.VKCONFORM_OK_CHAT",
        // auth missing / wrong
        "equals: 453",
        "in: [102, 103]",
        // window, from ≤ to, count, order
        "from: \"${t1}\"",
        "to: \"${t1}\"",
        "from: 1498581292941, to: 1498581292941",
        "count: 1}",
        "count: {min: 1, max: 50}",
        "sorted: {key: /timestamp, order: desc}",
        // prefixes
        "^user:[0-9]+$",
        "^mid:[A-Za-z0-9.]+$",
        "^(chat|user):",
        "path: /graph/me/messages/C3ecb9d02a600",
        // attachment types, service message, exact seq
        "equals: IMAGE",
        "equals: VIDEO",
        "equals: AUDIO",
        "type: SHARE",
        "\\\"ty\\\":\\\"EXIT\\\"",
        "equals: 98211030638465639",
        "include_deleted",
    ] {
        assert!(text.contains(needle), "no OK case for `{needle}`");
    }
}

// ---------------------------------------------------------------- suite format

fn load_error(yaml: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, yaml).unwrap();
    check(&strings(&[
        "--target",
        "mock",
        "--suite",
        p.to_str().unwrap(),
    ]))
}

#[test]
fn new_suite_keys_are_checked_at_load_time() {
    let head = "format: vkconform-suite/1\napi: devino\ncases:\n  - id: devino/x/y\n    cites: x\n    steps:\n";
    for (body, want) in [
        (
            "      - await_callbacks: {message_id: \"1\", statuses: [SENT, DELIVERD]}\n",
            "`DELIVERD` is not a Devino status",
        ),
        (
            "      - await_callbacks: {message_id: \"1\", statuses: [SENT], any_of: [[SENT]]}\n",
            "not both",
        ),
        (
            "      - await_callbacks: {message_id: \"1\"}\n        expect: {status: 200}\n",
            "`await_callbacks:` takes its checks inside",
        ),
        (
            "      - request: {method: POST, path: /vk/messages, json_repeat: {count: 0, item: {}}}\n",
            "must be between 1 and 10000",
        ),
        (
            "      - request: {path: /x}\n        expect: {json: [{at: /m, sorted: {key: /t, order: up}}]}\n",
            "use `asc` or `desc`",
        ),
        (
            "      - request: {path: /x}\n        expect: {json: [{at: /m, each: [{at: /a, each: [{at: /b, exists: true}]}]}]}\n",
            "cannot be nested",
        ),
        (
            "      - request: {path: \"/x/${index}\"}\n",
            "variable `index` is not defined here",
        ),
    ] {
        let run = load_error(&format!("{head}{body}"));
        assert_eq!(run.code, 3, "{body}: {}", run.stderr);
        assert!(run.stderr.contains(want), "{body}: {}", run.stderr);
        assert!(run.stderr.contains("bad.yaml:"), "names the file: {}", run.stderr);
    }
}

#[test]
fn a_callback_url_that_is_not_http_is_a_usage_error() {
    let run = check(&strings(&[
        "--target",
        "mock",
        "--api",
        "devino",
        "--callback-url",
        "ftp://hooks.example/x",
    ]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--callback-url"), "{}", run.stderr);
}

// ---------------------------------------------------------------- Devino faults

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ok_result_without_message_id_is_a_schema_finding() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/vk/messages"))
        .respond_with(json_answer(200, &json!({"result": [{"code": "OK"}]})))
        .mount(&server)
        .await;
    let id = "devino/send/accepted";
    let report = assert_fault(
        &check_live(&server.uri(), "devino", id, &[]).await,
        id,
        "schema",
    );
    let rules = rules_of(&report, id);
    assert!(rules.iter().any(|r| r == "expect"), "{rules:?}");
    assert!(report.cases[0]
        .findings
        .iter()
        .any(|f| f.message.contains("/result/0/messageId")));
}

/// Answers every message of a request with `OK` and a messageId (even 1001 of them).
struct AcceptEverything;

impl Respond for AcceptEverything {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|b| b.as_array().map(Vec::len))
            .unwrap_or(1);
        let result: Vec<Value> = (0..n)
            .map(|i| json!({"code": "OK", "messageId": 5_000_000_000_000_000_000u64 + i as u64}))
            .collect();
        json_answer(200, &json!({ "result": result }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_accepts_1001_messages_is_an_expect_finding() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/vk/messages"))
        .respond_with(AcceptEverything)
        .mount(&server)
        .await;
    let id = "devino/limits/too-many-messages";
    let report = assert_fault(
        &check_live(&server.uri(), "devino", id, &[]).await,
        id,
        "expect",
    );
    let case = &report.cases[0];
    assert!(
        case.findings
            .iter()
            .any(|f| f.message.contains("too.many.messages")
                || f.message.contains("REJECTED")
                || f.expected
                    .as_deref()
                    .is_some_and(|e| e.contains("REJECTED"))),
        "{:#?}",
        case.findings
    );
    // Every element failure is not listed one by one.
    assert!(case.findings.len() < 40, "{}", case.findings.len());
}

/// A fake Devino gateway: answers every message `OK` with messageId 111 + i,
/// records the `status_url`s it was given, and POSTs `callbacks(status_url)`
/// there, one body after the other, as soon as it has answered.
struct FakeDevino {
    url: String,
    status_urls: Arc<Mutex<Vec<String>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

type Callbacks = Arc<dyn Fn() -> Vec<Value> + Send + Sync>;

#[derive(Clone)]
struct FakeState {
    status_urls: Arc<Mutex<Vec<String>>>,
    callbacks: Callbacks,
}

async fn fake_send(State(st): State<FakeState>, body: axum::body::Bytes) -> axum::Json<Value> {
    let msgs: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
    let result: Vec<Value> = (0..msgs.len().max(1))
        .map(|i| json!({"code": "OK", "messageId": 111 + i as u64}))
        .collect();
    if let Some(url) = msgs
        .first()
        .and_then(|m| m.get("status_url"))
        .and_then(Value::as_str)
    {
        st.status_urls.lock().unwrap().push(url.to_string());
        let bodies = (st.callbacks)();
        let url = url.to_string();
        tokio::spawn(async move {
            let c = reqwest::Client::new();
            for b in bodies {
                let _ = c.post(&url).json(&b).send().await;
            }
        });
    }
    axum::Json(json!({ "result": result }))
}

async fn fake_devino(callbacks: Callbacks) -> FakeDevino {
    let status_urls = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/vk/messages", post(fake_send))
        .with_state(FakeState {
            status_urls: status_urls.clone(),
            callbacks,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    FakeDevino {
        url: format!("http://{addr}"),
        status_urls,
        _stop: tx,
    }
}

fn callback(id: &str, status: &str, data: Value) -> Value {
    json!([{"channel": "VK", "messageId": id, "ts": 1672137286244u64, "status": status, "errorCode": 0, "callbackData": data}])
}

/// The callbackData `devino/callbacks/valid` sends needs the run id; the fake echoes a placeholder, so the case also reports `callback` — fine for these tests, which look for their own rule.
fn data() -> Value {
    json!({"case": "valid"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_with_an_unknown_status_is_a_schema_finding() {
    let fake = fake_devino(Arc::new(|| vec![callback("111", "DELIVERING", data())])).await;
    let id = "devino/callbacks/valid";
    let report = assert_fault(
        &check_live(&fake.url, "devino", id, &[]).await,
        id,
        "schema",
    );
    let f = report.cases[0]
        .findings
        .iter()
        .find(|f| f.rule == "schema")
        .unwrap();
    assert!(f.pointer.as_deref() == Some("/0/status"), "{f:#?}");
    // The server was only ever told the runner's own receiver.
    let urls = fake.status_urls.lock().unwrap().clone();
    assert_eq!(urls.len(), 1);
    assert!(urls[0].starts_with("http://127.0.0.1:"), "{urls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_for_a_message_the_server_never_returned_is_a_finding() {
    let fake = fake_devino(Arc::new(|| {
        vec![
            callback("999", "SENT", data()),
            callback("111", "SENT", data()),
        ]
    }))
    .await;
    let id = "devino/callbacks/valid";
    let report = assert_fault(
        &check_live(&fake.url, "devino", id, &[]).await,
        id,
        "callback-unknown-message",
    );
    let f = report.cases[0]
        .findings
        .iter()
        .find(|f| f.rule == "callback-unknown-message")
        .unwrap();
    assert!(f.message.contains("999"), "{}", f.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_in_an_impossible_order_are_a_callback_order_finding() {
    let fake = fake_devino(Arc::new(|| {
        vec![
            callback("111", "SENT", data()),
            callback("111", "READ", data()),
        ]
    }))
    .await;
    let id = "devino/callbacks/valid";
    let report = assert_fault(
        &check_live(&fake.url, "devino", id, &[]).await,
        id,
        "callback-order",
    );
    assert!(report.cases[0]
        .findings
        .iter()
        .any(|f| f.message.contains("READ before DELIVERED")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_statuses_for_a_trigger_phone_are_a_callback_finding() {
    // The mock-triggers case wants SENT → UNDELIVERABLE; this server delivers.
    let fake = fake_devino(Arc::new(|| {
        ["SENT", "DELIVERED", "READ"]
            .iter()
            .map(|s| callback("111", s, json!({})))
            .collect()
    }))
    .await;
    let id = "devino/callbacks/undeliverable";
    let report = assert_fault(
        &check_live(&fake.url, "devino", id, &[]).await,
        id,
        "callback",
    );
    assert!(report.cases[0]
        .findings
        .iter()
        .any(|f| f.message.contains("expected SENT → UNDELIVERABLE")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_callback_url_is_sent_as_status_url_and_forwarded_to_the_receiver() {
    let fake = fake_devino(Arc::new(|| vec![callback("111", "SENT", json!({}))])).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Stands in for a tunnel: the "public" URL is the listen address under another path.
    let public = format!("http://127.0.0.1:{port}/public/hook");
    let listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("cb.yaml");
    std::fs::write(
        &suite,
        r#"format: vkconform-suite/1
api: devino
cases:
  - id: devino/custom/public-url
    cites: "001_8b5976603a7d189e.txt §Callbacks"
    steps:
      - request:
          method: POST
          path: /vk/messages
          headers: {Authorization: "Key ${devino_key}"}
          json: [{phone: "79990000001", service: s, tmpl: t, tmpl_data: {}, status_url: "${callback_url}"}]
        write: true
        capture: {id: /result/0/messageId}
      - await_callbacks: {message_id: "${id}", statuses: [SENT], timeout_ms: 5000}
"#,
    )
    .unwrap();
    let t0 = Instant::now();
    let run = check_async(strings(&[
        "--target",
        &fake.url,
        "--suite",
        suite.to_str().unwrap(),
        "--format",
        "json",
        "--rate",
        "1000",
        "--write-interval",
        "0",
        "--callback-url",
        &public,
        "--callback-listen",
        &listen,
    ]))
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.stdout);
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(fake.status_urls.lock().unwrap().clone(), vec![public]);
}

// ---------------------------------------------------------------- OK faults

fn ok_message(i: u64, ts: u64, user: &str, chat: &str, mid: &str) -> Value {
    json!({
        "sender": {"name": "John Smith", "user_id": user},
        "recipient": {"chat_id": chat},
        "message": {"text": format!("m{i}"), "seq": (ts << 16) + i, "mid": mid},
        "timestamp": ts
    })
}

/// Three well-formed messages, newest first.
fn ok_messages() -> Vec<Value> {
    (0..3u64)
        .map(|i| {
            ok_message(
                i,
                1_498_581_400_000 - i * 1000,
                "user:123456789012",
                CHAT,
                &format!("mid:C3ecb9d02a600.{i:x}"),
            )
        })
        .collect()
}

async fn ok_server(messages: Vec<Value>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/graph/me/messages/{CHAT}")))
        .respond_with(json_answer(200, &json!({ "messages": messages })))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_messages_in_ascending_order_are_an_expect_finding() {
    let mut messages = ok_messages();
    messages.reverse();
    let server = ok_server(messages).await;
    let id = "ok/messages/newest-first";
    let report = assert_fault(
        &check_live(&server.uri(), "ok", id, &[]).await,
        id,
        "expect",
    );
    assert!(report.cases[0]
        .findings
        .iter()
        .any(|f| f.message.contains("descending order of /timestamp")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ok_server_that_ignores_count_is_an_expect_finding() {
    let server = ok_server(ok_messages()).await;
    let id = "ok/messages/count-explicit";
    let report = assert_fault(
        &check_live(&server.uri(), "ok", id, &[]).await,
        id,
        "expect",
    );
    assert!(report.cases[0]
        .findings
        .iter()
        .any(|f| f.message.contains("at most 1 entries")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_ids_without_their_prefix_are_expect_and_schema_findings() {
    let messages: Vec<Value> = (0..3u64)
        .map(|i| {
            ok_message(
                i,
                1_498_581_400_000 - i,
                "123456789012",
                "C3ecb9d02a600",
                "C3ecb9d02a600.1f",
            )
        })
        .collect();
    let server = ok_server(messages).await;
    let id = "ok/ids/prefixes";
    let report = assert_fault(
        &check_live(&server.uri(), "ok", id, &[]).await,
        id,
        "expect",
    );
    let pointers: BTreeSet<String> = report.cases[0]
        .findings
        .iter()
        .filter_map(|f| f.pointer.clone())
        .collect();
    for p in [
        "/messages/0/sender/user_id",
        "/messages/0/recipient/chat_id",
        "/messages/0/message/mid",
    ] {
        assert!(pointers.contains(p), "{p} in {pointers:?}");
    }
    let id = "ok/messages/path-form";
    assert_fault(
        &check_live(&server.uri(), "ok", id, &[]).await,
        id,
        "schema",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ok_server_that_does_not_enforce_auth_is_an_expect_finding() {
    let server = ok_server(ok_messages()).await;
    for id in ["ok/auth/missing-token", "ok/auth/wrong-token"] {
        let report = assert_fault(
            &check_live(&server.uri(), "ok", id, &[]).await,
            id,
            "expect",
        );
        assert!(report.cases[0]
            .findings
            .iter()
            .any(|f| f.pointer.as_deref() == Some("/error_code")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seq_rounded_through_a_double_is_an_expect_finding() {
    // 98211030638465639 read as an f64 and written back is 98211030638465640.
    let mut first = ok_message(
        0,
        1_498_581_400_123,
        "user:571234567890",
        CHAT,
        "mid:C3ecb9d02a600.15cea697a3b1267",
    );
    first["message"]["seq"] = json!(98_211_030_638_465_640u64);
    let mut second = ok_message(
        1,
        1_498_581_292_941,
        "user:123456789012",
        CHAT,
        "mid:C3ecb9d02a600.15cea67d78d2059",
    );
    second["message"]["seq"] = json!(98_211_023_614_189_660u64);
    let server = ok_server(vec![first, second]).await;
    let id = "ok/seq/exact";
    let report = assert_fault(
        &check_live(&server.uri(), "ok", id, &[]).await,
        id,
        "expect",
    );
    let f: Vec<_> = report.cases[0]
        .findings
        .iter()
        .filter(|f| f.pointer.as_deref() == Some("/messages/0/message/seq"))
        .collect();
    assert!(!f.is_empty());
    assert!(
        f.iter()
            .any(|f| f.actual.as_deref() == Some("98211030638465640")),
        "the runner reports the exact value it got: {f:#?}"
    );
}
