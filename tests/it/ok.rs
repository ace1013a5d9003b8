//! OK's graph.user.messages on the mock, driven over HTTP: both path forms,
//! the token, every parameter rule, the recorded chat (attachments, service
//! messages, ID formats) and seq values above 2^53 byte for byte.

use crate::common::{client, mock, root};
use serde_json::{json, Value};
use std::sync::Arc;
use vkconform::api::Api;
use vkconform::mock::{MockConfig, MockServer, DEFAULT_TOKEN};
use vkconform::schema::Catalog;

const CHAT: &str = "chat:C3ecb9d02a600";
/// The seed's request window and its two answers.
const SEED_FROM: i64 = 1498581292941;
const SEED_TO: i64 = 1498577000197;
const SEED_TIMESTAMPS: [i64; 2] = [1498581292941, 1498581208140];

fn catalog() -> Arc<Catalog> {
    Catalog::shared().expect("catalog")
}

/// One answer: HTTP status, the `invocation-error` header, the raw body and its JSON.
struct Answer {
    status: u16,
    invocation_error: Option<String>,
    raw: String,
    json: Value,
}

async fn get(url: &str, query: &[(&str, &str)]) -> Answer {
    let resp = client()
        .get(url)
        .query(query)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let invocation_error = resp
        .headers()
        .get("invocation-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let raw = resp.text().await.expect("body");
    let json = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"));
    Answer {
        status,
        invocation_error,
        raw,
        json,
    }
}

/// `GET /graph/me/messages/{chat}` with the default token plus `query`.
async fn by_path(mock: &MockServer, chat: &str, query: &[(&str, &str)]) -> Answer {
    let mut q = vec![("access_token", DEFAULT_TOKEN)];
    q.extend_from_slice(query);
    get(&format!("{}/graph/me/messages/{chat}", mock.uri()), &q).await
}

/// `GET /graph/me/messages?chat_id=…` with the default token plus `query`.
async fn by_query(mock: &MockServer, query: &[(&str, &str)]) -> Answer {
    let mut q = vec![("access_token", DEFAULT_TOKEN)];
    q.extend_from_slice(query);
    get(&format!("{}/graph/me/messages", mock.uri()), &q).await
}

/// Asserts a schema-valid success and returns the messages.
fn messages(a: &Answer) -> Vec<Value> {
    assert_eq!(a.status, 200, "{}", a.raw);
    assert!(a.json.get("error_code").is_none(), "{}", a.raw);
    let cat = catalog();
    let spec = cat
        .method(Api::Ok, "graph.user.messages")
        .expect("graph.user.messages");
    spec.validate_response(&a.json)
        .unwrap_or_else(|v| panic!("response does not match the schema: {}\n{}", v[0], a.raw));
    a.json["messages"].as_array().expect("messages").clone()
}

fn timestamps(ms: &[Value]) -> Vec<i64> {
    ms.iter()
        .map(|m| m["timestamp"].as_i64().expect("timestamp"))
        .collect()
}

/// Asserts an OK error body (schema-valid, HTTP 200, header) with `code`.
fn assert_ok_error(a: &Answer, code: i64) {
    assert_eq!(a.status, 200, "OK answers errors with HTTP 200: {}", a.raw);
    assert_eq!(a.json["error_code"], code, "{}", a.raw);
    assert_eq!(
        a.invocation_error.as_deref(),
        Some(code.to_string().as_str()),
        "invocation-error header"
    );
    catalog()
        .validate("ok/errors.json", &a.json)
        .unwrap_or_else(|v| panic!("not an OK error body: {}: {}", v[0], a.raw));
    assert!(a.json.get("messages").is_none());
    assert!(
        !a.raw.contains(DEFAULT_TOKEN),
        "the token is never echoed: {}",
        a.raw
    );
}

// ---------------------------------------------------------------- the two forms

#[tokio::test]
async fn the_seeds_path_form_request_returns_the_seeds_two_messages() {
    let mock = mock(MockConfig::default()).await;
    let (from, to) = (SEED_FROM.to_string(), SEED_TO.to_string());
    let a = by_path(&mock, CHAT, &[("from", &from), ("to", &to), ("count", "2")]).await;
    let ms = messages(&a);
    assert_eq!(timestamps(&ms), SEED_TIMESTAMPS);
    assert_eq!(ms[0]["message"]["text"], "text");
    assert_eq!(
        ms[1]["message"]["attachments"][0],
        json!({"type": "SHARE", "payload": {"url": "https://ya.ru/"}})
    );
}

#[tokio::test]
async fn the_seeds_query_form_request_answers_exactly_like_the_path_form() {
    let mock = mock(MockConfig::default()).await;
    let (from, to) = (SEED_FROM.to_string(), SEED_TO.to_string());
    let window = [("from", from.as_str()), ("to", to.as_str()), ("count", "2")];
    let path = by_path(&mock, CHAT, &window).await;
    let mut q = vec![("chat_id", CHAT)];
    q.extend_from_slice(&window);
    let query = by_query(&mock, &q).await;
    assert_eq!(timestamps(&messages(&query)), SEED_TIMESTAMPS);
    assert_eq!(path.raw, query.raw, "byte-identical answers");
}

#[tokio::test]
async fn a_percent_encoded_path_segment_works_and_the_path_wins_over_chat_id() {
    let mock = mock(MockConfig::default()).await;
    let a = by_path(&mock, "chat%3AC3ecb9d02a600", &[]).await;
    assert_eq!(messages(&a).len(), 8);
    let b = by_path(&mock, CHAT, &[("chat_id", "chat:Unknown1")]).await;
    assert_eq!(messages(&b).len(), 8, "the path segment is used");
}

// ---------------------------------------------------------------- the token

#[tokio::test]
async fn a_request_without_access_token_is_error_453() {
    let mock = mock(MockConfig::default()).await;
    assert_ok_error(
        &get(&format!("{}/graph/me/messages/{CHAT}", mock.uri()), &[]).await,
        453,
    );
    assert_ok_error(
        &get(
            &format!("{}/graph/me/messages", mock.uri()),
            &[("chat_id", CHAT), ("access_token", "")],
        )
        .await,
        453,
    );
}

#[tokio::test]
async fn an_unknown_access_token_is_error_103_and_a_token_from_the_config_works() {
    let mock = mock(MockConfig {
        tokens: vec!["ok-extra-token".into()],
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}/graph/me/messages/{CHAT}", mock.uri());
    assert_ok_error(
        &get(&url, &[("access_token", "tkn18YdUJZe:CQABPOJKAKEKEKEKE")]).await,
        103,
    );
    assert_eq!(
        messages(&get(&url, &[("access_token", "ok-extra-token")]).await).len(),
        8
    );
}

#[tokio::test]
async fn the_token_is_checked_before_the_parameters() {
    let mock = mock(MockConfig::default()).await;
    let a = get(
        &format!("{}/graph/me/messages", mock.uri()),
        &[("from", "1"), ("to", "2")],
    )
    .await;
    assert_ok_error(&a, 453);
}

// ---------------------------------------------------------------- parameters

#[tokio::test]
async fn a_missing_or_malformed_chat_id_is_error_100() {
    let mock = mock(MockConfig::default()).await;
    assert_ok_error(&by_query(&mock, &[]).await, 100);
    for bad in [
        "C3ecb9d02a600",
        "chat:",
        "user:123456789012",
        "mid:C3ecb9d02a600.15cea67d78d2059",
        "chat:C3ecb-9d02",
        "group:1",
    ] {
        let a = by_query(&mock, &[("chat_id", bad)]).await;
        assert_ok_error(&a, 100);
        assert!(
            a.json["error_msg"].as_str().unwrap().contains("chat_id"),
            "{bad}: {}",
            a.raw
        );
    }
    for bad in [
        "user:123456789012",
        "mid:C3ecb9d02a600.15cea67d78d2059",
        "C3ecb9d02a600",
    ] {
        assert_ok_error(&by_path(&mock, bad, &[]).await, 100);
    }
}

#[tokio::test]
async fn a_chat_not_in_the_world_is_error_300() {
    let mock = mock(MockConfig::default()).await;
    let a = by_path(&mock, "chat:Cffffffffffff", &[]).await;
    assert_ok_error(&a, 300);
    assert_eq!(a.json["error_msg"], "NOT_FOUND : Chat not found");
    assert_ok_error(
        &by_query(&mock, &[("chat_id", "chat:Cffffffffffff")]).await,
        300,
    );
}

#[tokio::test]
async fn from_must_be_greater_than_to_else_error_100() {
    let mock = mock(MockConfig::default()).await;
    for (from, to) in [
        ("1498581292941", "1498581292941"),
        ("1498577000197", "1498581292941"),
        ("0", "0"),
    ] {
        let a = by_path(&mock, CHAT, &[("from", from), ("to", to)]).await;
        assert_ok_error(&a, 100);
        assert!(
            a.json["error_msg"].as_str().unwrap().contains("from"),
            "{}",
            a.raw
        );
    }
    let default_from = by_path(&mock, CHAT, &[("to", "9223372036854775807")]).await;
    assert_ok_error(&default_from, 100);
    assert_eq!(
        messages(&by_path(&mock, CHAT, &[("from", "1")]).await).len(),
        0,
        "from 1 > default to 0: an empty window"
    );
}

#[tokio::test]
async fn parameters_of_the_wrong_type_are_error_100() {
    let mock = mock(MockConfig::default()).await;
    let cases: [(&str, &str); 9] = [
        ("from", "yesterday"),
        ("from", "-5"),
        ("from", "9223372036854775808"),
        ("to", "1.5"),
        ("to", "-1"),
        ("count", "0"),
        ("count", "-3"),
        ("count", "many"),
        ("include_deleted", "perhaps"),
    ];
    for (name, value) in cases {
        let a = by_path(&mock, CHAT, &[(name, value)]).await;
        assert_ok_error(&a, 100);
        assert!(
            a.json["error_msg"].as_str().unwrap().contains(name),
            "{name}={value}: {}",
            a.raw
        );
    }
}

#[tokio::test]
async fn include_deleted_is_accepted_and_changes_nothing() {
    let mock = mock(MockConfig::default()).await;
    let plain = by_path(&mock, CHAT, &[]).await;
    for v in ["true", "false", "1", "0"] {
        assert_eq!(
            by_path(&mock, CHAT, &[("include_deleted", v)]).await.raw,
            plain.raw,
            "include_deleted={v}"
        );
    }
}

#[tokio::test]
async fn the_window_is_inclusive_at_both_ends_and_newest_first() {
    let mock = mock(MockConfig::default()).await;
    let all = timestamps(&messages(&by_path(&mock, CHAT, &[]).await));
    assert_eq!(
        all.len(),
        8,
        "the default window holds the whole recorded chat"
    );
    assert!(all.windows(2).all(|w| w[0] > w[1]), "descending: {all:?}");
    let (from, to) = (all[1], all[5]);
    let (f, t) = (from.to_string(), to.to_string());
    let got = timestamps(&messages(
        &by_path(&mock, CHAT, &[("from", &f), ("to", &t)]).await,
    ));
    assert_eq!(got, all[1..=5].to_vec(), "both bounds included");
    let (f, t) = ((from - 1).to_string(), (to + 1).to_string());
    let got = timestamps(&messages(
        &by_path(&mock, CHAT, &[("from", &f), ("to", &t)]).await,
    ));
    assert_eq!(
        got,
        all[2..=4].to_vec(),
        "one millisecond inside each bound drops both ends"
    );
}

#[tokio::test]
async fn count_takes_the_newest_messages_of_the_window() {
    let mock = mock(MockConfig::default()).await;
    let all = timestamps(&messages(&by_path(&mock, CHAT, &[]).await));
    for n in [1usize, 3, 8, 100] {
        let c = n.to_string();
        let got = timestamps(&messages(&by_path(&mock, CHAT, &[("count", &c)]).await));
        assert_eq!(got, all[..n.min(all.len())].to_vec(), "count={n}");
    }
}

/// A snapshots directory like the built-in one, with a 60-message chat
/// `chat:Big60` (newest first: timestamp 1600000060000 down to 1600000001000)
/// whose seq values include u64's and i64's largest.
fn big_world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&root().join("snapshots"), dir.path());
    let path = dir.path().join("ok/graph.user.messages.json");
    let mut file: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("ok recording")).expect("JSON");
    let big: Vec<Value> = (1..=60i64)
        .rev()
        .map(|i| {
            let ts = 1_600_000_000_000 + i * 1000;
            json!({
                "sender": {"name": "Big Sender", "user_id": "user:571234567890"},
                "recipient": {"chat_id": "chat:Big60"},
                "message": {"text": format!("message {i}"), "seq": (ts << 16) + i, "mid": format!("mid:Big60.{:x}", (ts << 16) + i)},
                "timestamp": ts
            })
        })
        .collect();
    let mut big = big;
    big[0]["message"]["seq"] = json!(u64::MAX);
    big[1]["message"]["seq"] = json!(i64::MAX);
    let recs = file["recordings"].as_array_mut().expect("recordings");
    recs.insert(0, json!({"id": "big", "match": {"chat_id": "chat:Big60"}, "response": {"messages": big}, "source": "test fixture"}));
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).expect("write fixture");
    dir
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn count_defaults_to_50_and_an_explicit_count_goes_past_it() {
    let dir = big_world();
    let mock = mock(MockConfig {
        snapshots: Some(dir.path().to_path_buf()),
        ..MockConfig::default()
    })
    .await;
    let default = messages(&by_path(&mock, "chat:Big60", &[]).await);
    assert_eq!(default.len(), 50, "the documented default count");
    assert_eq!(
        default[0]["timestamp"], 1_600_000_060_000i64,
        "the newest first"
    );
    assert_eq!(default[49]["timestamp"], 1_600_000_011_000i64);
    assert_eq!(
        messages(&by_path(&mock, "chat:Big60", &[("count", "55")]).await).len(),
        55
    );
    assert_eq!(
        messages(&by_query(&mock, &[("chat_id", "chat:Big60"), ("count", "60")]).await).len(),
        60
    );
    assert_eq!(
        messages(&by_path(&mock, CHAT, &[]).await).len(),
        8,
        "the default chat is still there"
    );
}

#[tokio::test]
async fn seq_values_up_to_u64_max_pass_through_byte_for_byte() {
    let dir = big_world();
    let mock = mock(MockConfig {
        snapshots: Some(dir.path().to_path_buf()),
        ..MockConfig::default()
    })
    .await;
    let a = by_path(&mock, "chat:Big60", &[("count", "2")]).await;
    messages(&a);
    assert!(a.raw.contains(r#""seq":18446744073709551615"#), "{}", a.raw);
    assert!(a.raw.contains(r#""seq":9223372036854775807"#), "{}", a.raw);
}

// ---------------------------------------------------------------- the recorded chat

#[tokio::test]
async fn seq_values_above_2_pow_53_are_byte_exact_in_the_raw_body() {
    let mock = mock(MockConfig::default()).await;
    let a = by_path(&mock, CHAT, &[]).await;
    let ms = messages(&a);
    let recorded =
        std::fs::read_to_string(root().join("snapshots/ok/graph.user.messages.json")).unwrap();
    for m in &ms {
        let seq = m["message"]["seq"]
            .as_u64()
            .expect("seq is an integer, not a float");
        assert!(seq > 1 << 53, "every recorded seq is above 2^53: {seq}");
        let text = format!(r#""seq":{seq}"#);
        assert!(a.raw.contains(&text), "{text} in the body");
        assert!(
            recorded.contains(&format!(r#""seq": {seq}"#)),
            "{seq} is the recorded value"
        );
    }
    assert!(
        a.raw.contains(r#""seq":98211023614189660"#),
        "the seed's value, not a double's 98211023614189664"
    );
    assert!(
        a.raw.contains(r#""seq":98211030638465639"#),
        "an odd seq above 2^53 survives"
    );
}

#[tokio::test]
async fn all_four_attachment_types_come_through() {
    let mock = mock(MockConfig::default()).await;
    let ms = messages(&by_path(&mock, CHAT, &[]).await);
    let mut types: Vec<String> = ms
        .iter()
        .flat_map(|m| {
            m["message"]["attachments"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|a| {
            assert!(
                a["payload"]["url"].as_str().is_some_and(|u| !u.is_empty()),
                "payload.url: {a}"
            );
            a["type"].as_str().unwrap().to_string()
        })
        .collect();
    types.sort();
    assert_eq!(types, ["AUDIO", "IMAGE", "SHARE", "VIDEO"]);
    let image_only = ms
        .iter()
        .find(|m| m["message"]["attachments"][0]["type"] == "IMAGE")
        .unwrap();
    assert!(
        image_only["message"].get("text").is_none(),
        "an attachment-only message has no text"
    );
}

#[tokio::test]
async fn the_service_message_carries_its_event_as_json_text() {
    let mock = mock(MockConfig::default()).await;
    let ms = messages(&by_path(&mock, CHAT, &[]).await);
    let service: Vec<Value> = ms
        .iter()
        .filter_map(|m| {
            m["message"]["text"]
                .as_str()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
        })
        .filter(|v| v.is_object())
        .collect();
    assert_eq!(service.len(), 1, "one service message in the default chat");
    assert_eq!(service[0]["ty"], "EXIT");
    assert!(
        service[0]["ui"].as_u64().is_some(),
        "ui is a user ID: {}",
        service[0]
    );
    catalog()
        .validate("ok/objects/message.json#/$defs/service_text", &service[0])
        .expect("decoded service text per schema");
}

#[tokio::test]
async fn ids_carry_their_user_chat_and_mid_prefixes() {
    let mock = mock(MockConfig::default()).await;
    for m in messages(&by_path(&mock, CHAT, &[]).await) {
        let user = m["sender"]["user_id"].as_str().unwrap();
        assert!(
            user.strip_prefix("user:")
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit())),
            "{user}"
        );
        assert_eq!(m["recipient"]["chat_id"], CHAT);
        let mid = m["message"]["mid"].as_str().unwrap();
        assert!(mid.starts_with("mid:C3ecb9d02a600."), "{mid}");
    }
}

// ---------------------------------------------------------------- other methods

#[tokio::test]
async fn a_method_other_than_get_is_error_3() {
    let mock = mock(MockConfig::default()).await;
    let resp = client()
        .post(format!(
            "{}/graph/me/messages/{CHAT}?access_token={DEFAULT_TOKEN}",
            mock.uri()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers().get("invocation-error").unwrap(), "3");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], 3);
    catalog()
        .validate("ok/errors.json", &body)
        .expect("OK error body");
}

#[tokio::test]
async fn other_graph_paths_answer_ok_error_3() {
    // The mock's router sends unknown `/graph/...` paths to `ok::unknown`, next to the two real paths.
    use tower::ServiceExt;
    let state =
        Arc::new(vkconform::mock::MockState::new(MockConfig::default(), catalog()).expect("state"));
    let app = vkconform::mock::router(state);
    let call = |uri: String| {
        let app = app.clone();
        async move {
            let req = axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            let header = resp.headers().get("invocation-error").cloned();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            (header, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (header, body) = call("/graph/me/friends".into()).await;
    assert_eq!(body["error_code"], 3, "{body}");
    assert_eq!(header.unwrap(), "3");
    catalog()
        .validate("ok/errors.json", &body)
        .expect("OK error body");
    let (_, body) = call(format!(
        "/graph/me/messages/{CHAT}?access_token={DEFAULT_TOKEN}"
    ))
    .await;
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(8), "{body}");
}
