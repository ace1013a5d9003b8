//! The Devino gateway of the mock, driven over HTTP: authorization, body
//! validation, every documented error code, the sending limits, the status
//! callbacks (collected by a small receiver on 127.0.0.1) and the incoming
//! webhook.

use crate::common::{client, mock, spawn_mock};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vkconform::api::Api;
use vkconform::mock::devino::{
    DevinoConfig, DEFAULT_TEMPLATE_IDS, MAX_MESSAGES, NO_MONEY_SERVICE, SPAM_MARKER,
};
use vkconform::mock::{
    MockConfig, MockServer, DEFAULT_DEVINO_KEY, DEFAULT_DEVINO_LOGIN, DEFAULT_PASSWORD,
};
use vkconform::schema::Catalog;

/// How long any single expected event may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

fn catalog() -> Arc<Catalog> {
    Catalog::shared().expect("catalog")
}

fn key() -> String {
    format!("Key {DEFAULT_DEVINO_KEY}")
}

fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// A mock with fast callbacks.
fn fast() -> MockConfig {
    MockConfig {
        devino: DevinoConfig {
            status_delay: Duration::from_millis(5),
            retry_base: Duration::from_millis(10),
            ..DevinoConfig::default()
        },
        ..MockConfig::default()
    }
}

/// A valid message (known service and template) to `phone`.
fn message(phone: &str) -> Value {
    json!({"phone": phone, "routes": ["VK"], "service": "Group_name", "templateId": 4, "tmpl": "base_template", "tmpl_data": {"name": "Anna"}, "ttl": 60})
}

/// The i-th ordinary phone number (never ending in a trigger suffix).
fn phone(i: usize) -> String {
    format!("7998{i:06}5")
}

fn with_status_url(mut m: Value, url: &str) -> Value {
    m["status_url"] = json!(url);
    m
}

/// POSTs a raw body to `/vk/messages` and returns the status and the JSON answer.
async fn post_raw(
    mock: &MockServer,
    auth: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let mut req = client()
        .post(format!("{}/vk/messages", mock.uri()))
        .header("content-type", "application/json")
        .body(body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("request");
    let status = StatusCode::from_u16(resp.status().as_u16()).expect("status");
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

/// POSTs messages with the default key; asserts HTTP 200 and a schema-valid answer; returns `result`.
async fn send(mock: &MockServer, messages: &Value) -> Vec<Value> {
    let (status, body) = post_raw(mock, Some(&key()), messages.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let spec = catalog();
    let spec = spec
        .method(Api::Devino, "vk.messages")
        .expect("vk.messages");
    spec.validate_response(&body)
        .unwrap_or_else(|v| panic!("response does not match the schema: {}\n{body}", v[0]));
    body["result"].as_array().expect("result").clone()
}

fn message_id(result: &Value) -> String {
    assert_eq!(result["code"], "OK", "{result}");
    result["messageId"]
        .as_u64()
        .unwrap_or_else(|| panic!("messageId is an integer: {result}"))
        .to_string()
}

fn reasons(result: &Value) -> Vec<String> {
    assert_eq!(result["code"], "REJECTED", "{result}");
    result["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["key"].as_str().expect("key").to_string())
        .collect()
}

fn assert_http_error(status: StatusCode, body: &Value, want_status: StatusCode, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    catalog()
        .validate("devino/errors.json#/$defs/http_error", body)
        .unwrap_or_else(|v| panic!("not an http_error: {}: {body}", v[0]));
}

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Hit {
    body: Value,
    answered: u16,
    at: Instant,
}

/// A tiny HTTP receiver on 127.0.0.1 that records every POST and can fail or be slow.
struct Receiver {
    url: String,
    hits: mpsc::UnboundedReceiver<Hit>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct ReceiverState {
    tx: mpsc::UnboundedSender<Hit>,
    fail_first: Arc<AtomicU32>,
    delay: Duration,
}

async fn record(
    State(s): State<ReceiverState>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    let failing = s
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let answered = if failing { 500 } else { 200 };
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = s.tx.send(Hit {
        body,
        answered,
        at: Instant::now(),
    });
    (StatusCode::from_u16(answered).unwrap(), "ok").into_response()
}

impl Receiver {
    /// Answers 500 to the first `fail_first` requests, and waits `delay` before each answer.
    async fn start(fail_first: u32, delay: Duration) -> Receiver {
        let (tx, hits) = mpsc::unbounded_channel();
        let state = ReceiverState {
            tx,
            fail_first: Arc::new(AtomicU32::new(fail_first)),
            delay,
        };
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(record))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!("http://{}/callbacks", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, hits, task }
    }

    async fn ok() -> Receiver {
        Receiver::start(0, Duration::ZERO).await
    }

    /// The next request, or a failed test after [`WAIT`].
    async fn next(&mut self) -> Hit {
        tokio::time::timeout(WAIT, self.hits.recv())
            .await
            .expect("a callback within the time limit")
            .expect("receiver alive")
    }

    /// The next `n` requests answered 2xx, every one checked against callback.status.json.
    async fn callbacks(&mut self, n: usize) -> Vec<Hit> {
        let mut out = Vec::new();
        while out.len() < n {
            let hit = self.next().await;
            if hit.answered == 200 {
                catalog()
                    .validate("devino/callback.status.json", &hit.body)
                    .unwrap_or_else(|v| {
                        panic!("callback does not match the schema: {}: {}", v[0], hit.body)
                    });
                out.push(hit);
            }
        }
        out
    }

    /// True when nothing arrives within `d`.
    async fn quiet_for(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.hits.recv()).await.is_err()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The statuses of each message, in arrival order.
fn by_message(hits: &[Hit]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for h in hits {
        let s = &h.body[0];
        out.entry(
            s["messageId"]
                .as_str()
                .expect("messageId string")
                .to_string(),
        )
        .or_default()
        .push(s["status"].as_str().expect("status").to_string());
    }
    out
}

/// Polls the mock's callback counters until `done` holds (bounded by [`WAIT`]).
async fn wait_for_stats(
    mock: &MockServer,
    done: impl Fn(&vkconform::mock::devino::DevinoStats) -> bool,
) -> vkconform::mock::devino::DevinoStats {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = mock.state().devino.stats();
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "stats never reached the expected state: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- requests

#[tokio::test]
async fn the_seeds_request_example_without_its_trailing_comma_is_accepted() {
    let mock = mock(MockConfig {
        devino: DevinoConfig {
            max_attempts: 1,
            ..DevinoConfig::default()
        },
        ..MockConfig::default()
    })
    .await;
    let raw = r#"[
{
"delivery_policy": "ANY",
"phone": "79999999999",
"routes": [
"VK", "OK"
],
"service": "Group_name",
"status_url": "http://your.website.com/",
"templateId": 4,
"tmpl": "base_template",
"tmpl_data": {
"name": "Anna",
"pizza": "Margarita"
},
"ttl": 60
}
]"#;
    let (status, body) = post_raw(&mock, Some(&key()), raw).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    catalog()
        .method(Api::Devino, "vk.messages")
        .unwrap()
        .validate_response(&body)
        .expect("response per schema");
    let id = message_id(&body["result"][0]);
    assert_eq!(id.len(), 19, "a 19-digit message ID like the doc's: {id}");
}

#[tokio::test]
async fn the_seeds_request_example_verbatim_is_bad_request_because_of_its_trailing_comma() {
    let mock = mock(MockConfig::default()).await;
    let raw = r#"[{"phone": "79999999999", "service": "Group_name", "tmpl": "base_template", "tmpl_data": {"name": "Anna", "pizza": "Margarita",}, "ttl": 60}]"#;
    let (status, body) = post_raw(&mock, Some(&key()), raw).await;
    assert_http_error(status, &body, StatusCode::BAD_REQUEST, "bad.request");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{body}"
    );
}

#[tokio::test]
async fn a_key_from_the_config_the_default_key_and_the_default_login_all_authorize() {
    let mock = mock(MockConfig {
        devino_keys: vec!["extra-key".into()],
        ..MockConfig::default()
    })
    .await;
    let body = json!([message("79990000001")]).to_string();
    for auth in [
        key(),
        "Key extra-key".into(),
        "key extra-key".into(),
        basic(&format!("{DEFAULT_DEVINO_LOGIN}:{DEFAULT_PASSWORD}")),
    ] {
        let (status, answer) = post_raw(&mock, Some(&auth), body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{auth}: {answer}");
        assert_eq!(answer["result"][0]["code"], "OK", "{auth}: {answer}");
    }
}

#[tokio::test]
async fn a_request_without_a_login_is_401_login_must_be_not_null() {
    let mock = mock(MockConfig::default()).await;
    let body = json!([message("79990000001")]).to_string();
    let (status, answer) = post_raw(&mock, None, body.clone()).await;
    assert_http_error(
        status,
        &answer,
        StatusCode::UNAUTHORIZED,
        "login.must.be.not.null",
    );
    for auth in [
        "",
        "Key",
        "Key   ",
        "Basic",
        &basic(":test-password"),
        &basic(""),
    ] {
        let (status, answer) = post_raw(&mock, Some(auth), body.clone()).await;
        assert_http_error(
            status,
            &answer,
            StatusCode::UNAUTHORIZED,
            "login.must.be.not.null",
        );
    }
}

#[tokio::test]
async fn wrong_credentials_are_401_unauthorized_and_never_echoed() {
    let mock = mock(MockConfig::default()).await;
    let body = json!([message("79990000001")]).to_string();
    for auth in [
        "Key not-the-key",
        &basic("devino:wrong-password"),
        &basic("someone:test-password"),
        "Basic %%%not-base64",
        "Bearer vkconform-devino-key",
        "vkconform-devino-key",
    ] {
        let (status, answer) = post_raw(&mock, Some(auth), body.clone()).await;
        assert_http_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(
            !answer.to_string().contains("not-the-key")
                && !answer.to_string().contains("wrong-password"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn bodies_that_do_not_match_the_schema_are_400_bad_request_naming_the_place() {
    let mock = mock(MockConfig::default()).await;
    let mut cases: Vec<(String, String, &str)> = vec![
        ("not JSON".into(), "{".into(), "not valid JSON"),
        (
            "an object, not an array".into(),
            message("79990000001").to_string(),
            "(root)",
        ),
        ("an empty array".into(), "[]".into(), "(root)"),
    ];
    let broken: [(&str, &str, Option<Value>, &str); 12] = [
        ("phone missing", "phone", None, "/0"),
        (
            "phone not E.164",
            "phone",
            Some(json!("8-999-000")),
            "/0/phone",
        ),
        (
            "phone starting with 0",
            "phone",
            Some(json!("0799900000")),
            "/0/phone",
        ),
        ("ttl under 60", "ttl", Some(json!(59)), "/0/ttl"),
        ("ttl not an integer", "ttl", Some(json!("60")), "/0/ttl"),
        (
            "unknown route",
            "routes",
            Some(json!(["SMS"])),
            "/0/routes/0",
        ),
        ("empty routes", "routes", Some(json!([])), "/0/routes"),
        ("tmpl missing", "tmpl", None, "/0"),
        (
            "tmpl_data not an object",
            "tmpl_data",
            Some(json!("Anna")),
            "/0/tmpl_data",
        ),
        (
            "templateId 0",
            "templateId",
            Some(json!(0)),
            "/0/templateId",
        ),
        (
            "status_url not http",
            "status_url",
            Some(json!("ftp://x/")),
            "/0/status_url",
        ),
        ("service missing", "service", None, "/0"),
    ];
    for (what, field, value, needle) in broken {
        let mut m = message("79990000001");
        match value {
            Some(v) => m[field] = v,
            None => {
                m.as_object_mut().unwrap().remove(field);
            }
        }
        // A valid message first: one bad message refuses the whole request.
        cases.push((
            what.into(),
            json!([message("79990000009"), m]).to_string(),
            needle,
        ));
    }
    for (what, body, needle) in &cases {
        let (status, answer) = post_raw(&mock, Some(&key()), body.clone()).await;
        assert_http_error(status, &answer, StatusCode::BAD_REQUEST, "bad.request");
        let description = answer["description"].as_str().unwrap();
        let needle = needle.replacen("/0", "/1", 1);
        assert!(
            description.contains(&needle),
            "{what}: description should name {needle}: {description}"
        );
    }
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_refused_with_a_clear_error() {
    let mock = mock(MockConfig {
        max_body: 1024,
        ..MockConfig::default()
    })
    .await;
    let many: Vec<Value> = (0..20).map(|i| message(&phone(i))).collect();
    let (status, answer) = post_raw(&mock, Some(&key()), json!(many).to_string()).await;
    assert_http_error(
        status,
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "bad.request",
    );
    assert!(
        answer["description"]
            .as_str()
            .unwrap()
            .contains("1024 bytes"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_thousand_messages_are_accepted_with_unique_ids_and_1001_are_all_too_many_messages() {
    let mock = mock(MockConfig::default()).await;
    let thousand: Vec<Value> = (0..MAX_MESSAGES).map(|i| message(&phone(i))).collect();
    let results = send(&mock, &json!(thousand)).await;
    assert_eq!(results.len(), 1000);
    let ids: std::collections::HashSet<String> = results.iter().map(message_id).collect();
    assert_eq!(ids.len(), 1000, "message IDs are unique");

    let mut over = thousand.clone();
    over.push(message("79998887766"));
    let results = send(&mock, &json!(over)).await;
    assert_eq!(results.len(), 1001, "one result per submitted message");
    for r in &results {
        assert_eq!(reasons(r), vec!["too.many.messages"]);
    }
}

#[tokio::test]
async fn every_documented_rejection_reason_has_its_trigger() {
    let mock = mock(MockConfig::default()).await;
    let ok = message("79990000001");
    let mut unknown_service = message("79990000002");
    unknown_service["service"] = json!("No_such_group");
    let mut no_money = message("79990000003");
    no_money["service"] = json!(NO_MONEY_SERVICE);
    let mut bad_template = message("79990000004");
    bad_template["templateId"] = json!(999);
    let mut spam = message("79990000005");
    spam["tmpl_data"]["offer"] = json!(format!("Cheap {} today", SPAM_MARKER.to_uppercase()));
    let mut spam_text = message("79990000006");
    spam_text["text"] = json!("this is spam");
    let mut everything = message("79990000007");
    everything["service"] = json!("No_such_group");
    everything["templateId"] = json!(12345);
    everything["tmpl"] = json!("spam_blast");
    let results = send(
        &mock,
        &json!([
            ok,
            unknown_service,
            no_money,
            bad_template,
            spam,
            spam_text,
            everything
        ]),
    )
    .await;
    assert_eq!(results.len(), 7);
    message_id(&results[0]);
    assert_eq!(reasons(&results[1]), vec!["service.not.found"]);
    assert_eq!(reasons(&results[2]), vec!["billing.error"]);
    assert_eq!(
        reasons(&results[3]),
        vec!["message.contains.invalid.templateId"]
    );
    assert_eq!(reasons(&results[4]), vec!["is.spam"]);
    assert_eq!(reasons(&results[5]), vec!["is.spam"]);
    assert_eq!(
        reasons(&results[6]),
        vec![
            "service.not.found",
            "message.contains.invalid.templateId",
            "is.spam"
        ]
    );
}

#[tokio::test]
async fn every_known_template_id_and_a_message_without_one_are_accepted() {
    let mock = mock(MockConfig::default()).await;
    let mut msgs: Vec<Value> = DEFAULT_TEMPLATE_IDS
        .iter()
        .map(|t| {
            let mut m = message("79990000001");
            m["templateId"] = json!(t);
            m
        })
        .collect();
    let mut without = message("79990000002");
    without.as_object_mut().unwrap().remove("templateId");
    without.as_object_mut().unwrap().remove("routes");
    without.as_object_mut().unwrap().remove("ttl");
    msgs.push(without);
    let mut plus = message("+79990000003");
    plus["service"] = json!("vkconform");
    msgs.push(plus);
    for r in send(&mock, &json!(msgs)).await {
        message_id(&r);
    }
}

#[tokio::test]
async fn login_must_be_not_null_comes_as_a_401_body_not_as_a_per_message_reason() {
    // errors.json: a request without a login never reaches per-message processing.
    let mock = mock(MockConfig::default()).await;
    let (status, body) = post_raw(
        &mock,
        Some(&basic(":")),
        json!([message("79990000001")]).to_string(),
    )
    .await;
    assert_http_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "login.must.be.not.null",
    );
    assert!(body.get("result").is_none());
}

// ---------------------------------------------------------------- callbacks

#[tokio::test]
async fn an_accepted_message_gets_sent_delivered_read_with_its_callback_data() {
    let mut rx = Receiver::ok().await;
    let mock = mock(fast()).await;
    let mut m = with_status_url(message("79991234567"), &rx.url);
    m["routes"] = json!(["OK", "VK"]);
    m["callbackData"] = json!({"order_id": "A-1024", "n": 7});
    let id = message_id(&send(&mock, &json!([m])).await[0]);
    let hits = rx.callbacks(3).await;
    let statuses: Vec<&str> = hits
        .iter()
        .map(|h| h.body[0]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["SENT", "DELIVERED", "READ"]);
    for h in &hits {
        let s = &h.body[0];
        assert_eq!(
            h.body.as_array().unwrap().len(),
            1,
            "one status per callback"
        );
        assert_eq!(
            s["messageId"],
            json!(id),
            "the callback carries the messageId as a string"
        );
        assert_eq!(s["channel"], "OK", "the first route");
        assert_eq!(s["errorCode"], 0);
        assert_eq!(s["callbackData"], json!({"order_id": "A-1024", "n": 7}));
    }
    let ts: Vec<i64> = hits
        .iter()
        .map(|h| h.body[0]["ts"].as_i64().unwrap())
        .collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "ts never goes back: {ts:?}"
    );
    assert!(
        rx.quiet_for(Duration::from_millis(100)).await,
        "nothing after READ"
    );
}

#[tokio::test]
async fn a_message_without_status_url_or_callback_data_sends_no_callbacks_and_omits_callback_data()
{
    let mut rx = Receiver::ok().await;
    let mock = mock(fast()).await;
    let results = send(
        &mock,
        &json!([
            message("79990000001"),
            with_status_url(message("79990000002"), &rx.url)
        ]),
    )
    .await;
    let id = message_id(&results[1]);
    let hits = rx.callbacks(3).await;
    assert!(hits
        .iter()
        .all(|h| h.body[0]["messageId"] == json!(id) && h.body[0].get("callbackData").is_none()));
    assert_eq!(hits[0].body[0]["channel"], "VK");
    assert!(rx.quiet_for(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn trigger_phones_get_undeliverable_expired_and_unknown() {
    let mut rx = Receiver::ok().await;
    let mut config = fast();
    config.devino.ttl_scale = 0.005; // ttl 60 s → 300 ms
    let mock = mock(config).await;
    let phones = ["79990000000", "79991111111", "79992222222"];
    let msgs: Vec<Value> = phones
        .iter()
        .map(|p| with_status_url(message(p), &rx.url))
        .collect();
    let started = Instant::now();
    let results = send(&mock, &json!(msgs)).await;
    let ids: Vec<String> = results.iter().map(message_id).collect();
    let hits = rx.callbacks(6).await;
    let got = by_message(&hits);
    assert_eq!(
        got[&ids[0]],
        ["SENT", "UNDELIVERABLE"],
        "phone ending in 0000"
    );
    assert_eq!(got[&ids[1]], ["SENT", "EXPIRED"], "phone ending in 1111");
    assert_eq!(got[&ids[2]], ["SENT", "UNKNOWN"], "phone ending in 2222");
    let expired = hits
        .iter()
        .find(|h| h.body[0]["status"] == "EXPIRED")
        .unwrap();
    assert!(
        expired.at.duration_since(started) >= Duration::from_millis(300),
        "EXPIRED waits for the scaled ttl"
    );
    assert!(rx.quiet_for(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn more_than_50_messages_per_second_from_one_group_get_ratelimit() {
    let mut rx = Receiver::ok().await;
    let mock = mock(fast()).await;
    let mut msgs: Vec<Value> = (0..51).map(|i| message(&phone(i))).collect();
    msgs[0] = with_status_url(msgs[0].clone(), &rx.url);
    msgs[50] = with_status_url(msgs[50].clone(), &rx.url);
    let mut other_group = with_status_url(message("79998765432"), &rx.url);
    other_group["service"] = json!("vkconform");
    msgs.push(other_group);
    let results = send(&mock, &json!(msgs)).await;
    let ids: Vec<String> = results.iter().map(message_id).collect(); // every one is OK
    let got = by_message(&rx.callbacks(7).await);
    assert_eq!(got[&ids[0]], ["SENT", "DELIVERED", "READ"]);
    assert_eq!(
        got[&ids[50]],
        ["RATELIMIT"],
        "the 51st message in one second"
    );
    assert_eq!(
        got[&ids[51]],
        ["SENT", "DELIVERED", "READ"],
        "another group has its own limit"
    );
}

#[tokio::test]
async fn more_than_5_messages_a_day_to_one_user_from_one_group_get_ratelimit() {
    let mut rx = Receiver::ok().await;
    let mock = mock(fast()).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        // Separate requests: the limit holds across requests.
        ids.push(message_id(
            &send(
                &mock,
                &json!([with_status_url(message("79995550001"), &rx.url)]),
            )
            .await[0],
        ));
    }
    let mut same_user_other_group = with_status_url(message("79995550001"), &rx.url);
    same_user_other_group["service"] = json!("vkconform");
    let other = send(
        &mock,
        &json!([
            same_user_other_group,
            with_status_url(message("79995550002"), &rx.url)
        ]),
    )
    .await;
    ids.extend(other.iter().map(message_id));
    let got = by_message(&rx.callbacks(5 * 3 + 1 + 2 * 3).await);
    for id in &ids[..5] {
        assert_eq!(got[id], ["SENT", "DELIVERED", "READ"]);
    }
    assert_eq!(got[&ids[5]], ["RATELIMIT"], "the 6th message of the day");
    assert_eq!(
        got[&ids[6]],
        ["SENT", "DELIVERED", "READ"],
        "the same user from another group"
    );
    assert_eq!(got[&ids[7]], ["SENT", "DELIVERED", "READ"], "another user");
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_with_growing_back_off() {
    let mut rx = Receiver::start(2, Duration::ZERO).await;
    let mut config = fast();
    config.devino.retry_base = Duration::from_millis(40);
    config.devino.status_delay = Duration::from_millis(5);
    let mock = mock(config).await;
    let id = message_id(
        &send(
            &mock,
            &json!([with_status_url(message("79990000001"), &rx.url)]),
        )
        .await[0],
    );
    let (a, b, c) = (rx.next().await, rx.next().await, rx.next().await);
    assert_eq!((a.answered, b.answered, c.answered), (500, 500, 200));
    for h in [&a, &b, &c] {
        assert_eq!(h.body[0]["status"], "SENT", "the same status is retried");
        assert_eq!(h.body[0]["messageId"], json!(id));
    }
    assert!(
        b.at.duration_since(a.at) >= Duration::from_millis(40),
        "first back-off is retry_base"
    );
    assert!(
        c.at.duration_since(b.at) >= Duration::from_millis(80),
        "then it doubles"
    );
    let rest = rx.callbacks(2).await;
    assert_eq!(
        rest.iter()
            .map(|h| h.body[0]["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["DELIVERED", "READ"]
    );
    let stats = wait_for_stats(&mock, |s| s.delivered == 3).await;
    assert_eq!(stats.attempts, 5);
    assert_eq!(stats.failed, 0);
}

#[tokio::test]
async fn an_unreachable_receiver_is_given_up_after_the_bounded_attempts() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/gone", l.local_addr().unwrap())
    };
    let mut config = fast();
    config.devino.max_attempts = 3;
    config.devino.retry_base = Duration::from_millis(5);
    let mock = mock(config).await;
    send(
        &mock,
        &json!([with_status_url(message("79990000000"), &closed)]),
    )
    .await;
    // SENT and UNDELIVERABLE, 3 attempts each, then given up.
    let stats = wait_for_stats(&mock, |s| s.failed == 2 && s.pending == 0).await;
    assert_eq!(stats.attempts, 6);
    assert_eq!(stats.delivered, 0);
}

#[tokio::test]
async fn a_slow_receiver_delays_callbacks_but_loses_none() {
    let mut rx = Receiver::start(0, Duration::from_millis(40)).await;
    let mut config = fast();
    config.devino.concurrency = 2;
    config.devino.queue_capacity = 20;
    let mock = mock(config).await;
    let msgs: Vec<Value> = (0..12)
        .map(|i| with_status_url(message(&phone(i)), &rx.url))
        .collect();
    let ids: Vec<String> = send(&mock, &json!(msgs))
        .await
        .iter()
        .map(message_id)
        .collect();
    let got = by_message(&rx.callbacks(36).await);
    for id in &ids {
        assert_eq!(
            got[id],
            ["SENT", "DELIVERED", "READ"],
            "statuses of one message stay in order"
        );
    }
    let stats = wait_for_stats(&mock, |s| s.pending == 0).await;
    assert_eq!(
        (stats.queued, stats.dropped, stats.delivered, stats.failed),
        (12, 0, 36, 0)
    );
}

#[tokio::test]
async fn past_the_queue_cap_callbacks_are_dropped_and_counted() {
    let mut rx = Receiver::start(0, Duration::from_millis(100)).await;
    let mut config = fast();
    config.devino.queue_capacity = 2;
    config.devino.concurrency = 1;
    let mock = mock(config).await;
    let msgs: Vec<Value> = (0..5)
        .map(|i| with_status_url(message(&phone(i)), &rx.url))
        .collect();
    let results = send(&mock, &json!(msgs)).await;
    assert!(
        results.iter().all(|r| r["code"] == "OK"),
        "the answer does not depend on the queue"
    );
    let stats = mock.state().devino.stats();
    assert_eq!((stats.queued, stats.dropped), (2, 3));
    let got = by_message(&rx.callbacks(6).await);
    assert_eq!(
        got.len(),
        2,
        "the two queued messages get all their callbacks"
    );
}

#[tokio::test]
async fn callbacks_stop_when_the_mock_stops() {
    let mut rx = Receiver::ok().await;
    let mut config = fast();
    config.devino.status_delay = Duration::from_millis(200);
    let mock = mock(config).await;
    send(
        &mock,
        &json!([with_status_url(message("79990000001"), &rx.url)]),
    )
    .await;
    mock.shutdown().await;
    assert!(
        rx.quiet_for(Duration::from_millis(700)).await,
        "no callback after the mock stopped"
    );
}

// ---------------------------------------------------------------- incoming

async fn inject(mock: &MockServer, body: Value) -> (StatusCode, Value) {
    let resp = client()
        .post(format!("{}/__vkconform/devino/incoming", mock.uri()))
        .json(&body)
        .send()
        .await
        .expect("inject");
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    (status, resp.json().await.expect("JSON answer"))
}

#[tokio::test]
async fn an_injected_incoming_message_is_pushed_with_the_sent_message_id_as_message_tag() {
    let mut rx = Receiver::ok().await;
    let mock = mock(fast()).await;
    let id = message_id(&send(&mock, &json!([message("79990000001")])).await[0]);
    let (status, answer) = inject(
        &mock,
        json!({"url": rx.url, "message_tag": id, "text": "Yes, please", "from_id": 37119444}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["delivered"], true);
    let hit = rx.next().await;
    catalog()
        .validate("devino/webhook.incoming.json", &hit.body)
        .unwrap_or_else(|v| panic!("webhook per schema: {}: {}", v[0], hit.body));
    assert_eq!(
        hit.body, answer["event"],
        "the answer shows what was pushed"
    );
    assert_eq!(hit.body["type"], "message_new");
    let msg = &hit.body["object"]["message"];
    assert_eq!(msg["message_tag"], json!(id));
    assert_eq!(msg["text"], "Yes, please");
    assert_eq!(msg["from_id"], 37119444);
    assert_eq!(msg["out"], 0);
}

#[tokio::test]
async fn incoming_defaults_to_the_configured_url_and_the_last_message_id() {
    let mut rx = Receiver::ok().await;
    let mut config = fast();
    config.devino.incoming_url = Some(rx.url.clone());
    let mock = mock(config).await;
    let results = send(
        &mock,
        &json!([message("79990000001"), message("79990000002")]),
    )
    .await;
    let last = message_id(&results[1]);
    let (status, answer) = inject(
        &mock,
        json!({"text": "hi", "message_tag": results[0]["messageId"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        rx.next().await.body["object"]["message"]["message_tag"],
        json!(message_id(&results[0])),
        "a numeric message_tag works too"
    );
    let (status, _) = inject(&mock, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let hit = rx.next().await;
    assert_eq!(hit.body["object"]["message"]["message_tag"], json!(last));
    assert_eq!(hit.body["group_id"], 213243638);
}

#[tokio::test]
async fn incoming_refuses_a_foreign_message_tag_and_a_missing_url() {
    let rx = Receiver::ok().await;
    let mock = mock(fast()).await;
    send(&mock, &json!([message("79990000001")])).await;
    let (status, answer) = inject(&mock, json!({"url": rx.url, "message_tag": "1234"})).await;
    assert_http_error(status, &answer, StatusCode::BAD_REQUEST, "bad.request");
    let (status, answer) = inject(&mock, json!({"text": "no url"})).await;
    assert_http_error(status, &answer, StatusCode::BAD_REQUEST, "bad.request");
    let (status, answer) = inject(&mock, json!({"url": "ftp://example/"})).await;
    assert_http_error(status, &answer, StatusCode::BAD_REQUEST, "bad.request");
}

#[tokio::test]
async fn incoming_to_a_failing_receiver_is_retried_then_reported() {
    let mut rx = Receiver::start(1, Duration::ZERO).await;
    let mut config = fast();
    config.devino.max_attempts = 2;
    let mock = mock(config).await;
    let (status, answer) = inject(&mock, json!({"url": rx.url, "text": "retry me"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["attempts"], 2);
    assert_eq!(
        (rx.next().await.answered, rx.next().await.answered),
        (500, 200)
    );
    let mut dead = Receiver::start(10, Duration::ZERO).await;
    let (status, answer) = inject(&mock, json!({"url": dead.url, "text": "nobody home"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert_eq!(answer["delivered"], false);
    assert_eq!(answer["attempts"], 2);
    dead.next().await;
}

// ---------------------------------------------------------------- CLI

#[tokio::test]
async fn the_cli_mock_takes_devino_keys_and_callback_timing() {
    let mut rx = Receiver::ok().await;
    let m = spawn_mock(&[
        "--devino-key",
        "cli-key",
        "--devino-callback-delay-ms",
        "1",
        "--devino-incoming-url",
        &rx.url,
    ]);
    let resp = client()
        .post(format!("{}/vk/messages", m.url))
        .header("authorization", "Key cli-key")
        .json(&json!([with_status_url(message("79990000001"), &rx.url)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"][0]["code"], "OK");
    let hits = rx.callbacks(3).await;
    assert_eq!(hits[2].body[0]["status"], "READ");
    let resp = client()
        .post(format!("{}/__vkconform/devino/incoming", m.url))
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(rx.next().await.body["object"]["message"]["text"], "hi");
}
