//! OK.ru graph messages (seed `003_…`): `GET /graph/me/messages?chat_id=chat:ID`
//! and `GET /graph/me/messages/chat:ID`, answered from the recordings in
//! `snapshots/ok/graph.user.messages.json`.
//!
//! Order of checks (each failure is an OK error body, `schemas/ok/errors.json`:
//! `{"error_code", "error_msg", "error_data": null}` with HTTP 200 and an
//! `invocation-error: <code>` header, as OK answers):
//!
//! 1. a method other than GET/HEAD → 3 `METHOD` (HTTP 405);
//! 2. no `access_token` in the query string → 453 `SESSION_REQUIRED`; a token
//!    the mock does not know (`--token` values and the default token are
//!    known) → 103 `PARAM_SESSION_KEY`;
//! 3. the chat ID — the path segment, else the `chat_id` query parameter —
//!    missing or not `chat:ID` (a `user:…` or `mid:…` ID is refused too) →
//!    100 `PARAM`;
//! 4. `from`, `to` (Long, ≥ 0), `count` (Integer, ≥ 1) or `include_deleted`
//!    (Boolean) not of their type → 100; `from` not greater than `to` → 100
//!    (the doc: "from parameter must be greater than to");
//! 5. the chat is not in the recordings → the recorded error (300 `NOT_FOUND`).
//!
//! Otherwise the answer is `{"messages": [...]}`: the recorded messages with
//! `to ≤ timestamp ≤ from`, newest first, at most `count` (default 50;
//! `from` defaults to `i64::MAX`, `to` to 0). `include_deleted` is accepted
//! and changes nothing (the recordings hold no deleted messages). Recorded
//! values pass through untouched: `seq` values above 2⁵³ stay exact because
//! they are only ever held as JSON integers (`u64`/`i64`), never as `f64`.

use super::openvk::json_response;
use super::state::MockState;
use crate::api::Api;
use crate::vk::WireParams;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The catalog name of the method both paths serve.
pub const METHOD: &str = "graph.user.messages";
/// `count` when the request gives none (the doc's default).
pub const DEFAULT_COUNT: i64 = 50;
/// `from` when the request gives none (the doc's default, Long.MAX_VALUE).
pub const DEFAULT_FROM: i64 = i64::MAX;
/// `to` when the request gives none (the doc's default).
pub const DEFAULT_TO: i64 = 0;

/// OK error codes the mock answers (`schemas/ok/errors.json#/$defs/code`).
pub mod codes {
    /// Method (path) does not exist, or the HTTP method is not GET.
    pub const METHOD: i64 = 3;
    /// Missing or invalid parameter.
    pub const PARAM: i64 = 100;
    /// Unknown access token.
    pub const PARAM_SESSION_KEY: i64 = 103;
    /// Requested information not found (an unknown chat).
    pub const NOT_FOUND: i64 = 300;
    /// No access token.
    pub const SESSION_REQUIRED: i64 = 453;
}

/// `GET /graph/me/messages?chat_id=chat:ID`.
pub async fn messages(State(st): State<Arc<MockState>>, req: Request) -> Response {
    handle(&st, None, req.method(), req.uri().query())
}

/// `GET /graph/me/messages/chat:ID` (the path segment wins over a `chat_id` query parameter).
pub async fn messages_by_path(
    State(st): State<Arc<MockState>>,
    Path(chat): Path<String>,
    req: Request,
) -> Response {
    handle(&st, Some(chat), req.method(), req.uri().query())
}

/// Any other `/graph/…` path: OK error 3 `METHOD` (for a router that sends
/// `/graph/{*rest}` here).
pub async fn unknown(req: Request) -> Response {
    let msg = format!(
        "METHOD : Unknown method: no graph endpoint {}; messages are at /graph/me/messages",
        req.uri().path()
    );
    ok_error(StatusCode::OK, codes::METHOD, &msg)
}

/// An OK error body (HTTP `status`, usually 200) with the `invocation-error` header.
pub fn ok_error(status: StatusCode, code: i64, msg: &str) -> Response {
    let mut resp = json_response(
        status,
        &json!({"error_code": code, "error_msg": msg, "error_data": null}),
    );
    if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
        resp.headers_mut().insert("invocation-error", v);
    }
    resp
}

/// Why a request is refused: an OK error code and its `error_msg`.
#[derive(Debug, Clone, PartialEq)]
struct OkError {
    code: i64,
    msg: String,
}

impl OkError {
    fn param(msg: impl std::fmt::Display) -> OkError {
        OkError {
            code: codes::PARAM,
            msg: format!("PARAM : {msg}"),
        }
    }
}

/// The validated parameters of one request.
#[derive(Debug, Clone, PartialEq)]
struct Query {
    chat_id: String,
    from: i64,
    to: i64,
    count: i64,
}

fn handle(
    st: &MockState,
    path_chat: Option<String>,
    method: &Method,
    query: Option<&str>,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = ok_error(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD,
            &format!(
                "METHOD : {method} is not supported; graph.user.messages is GET /graph/me/messages"
            ),
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let wire = WireParams::parse(query, None);
    match parse(st, path_chat, &wire).and_then(|q| answer(st, &q)) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => ok_error(StatusCode::OK, e.code, &e.msg),
    }
}

/// Steps 2–4 of the module docs.
fn parse(st: &MockState, path_chat: Option<String>, wire: &WireParams) -> Result<Query, OkError> {
    match wire
        .get("access_token")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => return Err(OkError {
            code: codes::SESSION_REQUIRED,
            msg:
                "SESSION_REQUIRED : Session key is required: pass access_token in the query string"
                    .into(),
        }),
        Some(t) if st.user_for_token(t).is_none() => {
            return Err(OkError {
                code: codes::PARAM_SESSION_KEY,
                msg: "PARAM_SESSION_KEY : Invalid session key".into(),
            })
        }
        Some(_) => {}
    }
    let chat = path_chat
        .or_else(|| wire.get("chat_id").map(str::to_string))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let Some(chat_id) = chat else {
        return Err(OkError::param(
            "Missing required parameter chat_id: pass chat:ID as the path segment or as chat_id",
        ));
    };
    if !is_chat_id(&chat_id) {
        let hint = if chat_id.starts_with("user:") || chat_id.starts_with("mid:") {
            " (a user or message ID is not a chat ID)"
        } else {
            ""
        };
        return Err(OkError::param(format!(
            "Invalid parameter chat_id: expected chat:ID, e.g. chat:C3ecb9d02a600{hint}"
        )));
    }
    let from = long(wire, "from", DEFAULT_FROM)?;
    let to = long(wire, "to", DEFAULT_TO)?;
    let count = long(wire, "count", DEFAULT_COUNT)?;
    if count < 1 || count > i64::from(i32::MAX) {
        return Err(OkError::param(
            "Invalid parameter count: must be an Integer of at least 1",
        ));
    }
    let include_deleted = match wire.get("include_deleted") {
        None => None,
        Some(s) => Some(crate::vk::params::parse_flag(s).ok_or_else(|| {
            OkError::param("Invalid parameter include_deleted: must be a Boolean (true/false)")
        })?),
    };
    if from <= to {
        return Err(OkError::param(format!("Invalid parameters from and to: from ({from}) must be greater than to ({to}); messages are listed newest first")));
    }
    // The schema has the last word on the typed parameters.
    if let Some(spec) = st.catalog.method(Api::Ok, METHOD) {
        let mut typed = Map::new();
        typed.insert("chat_id".into(), json!(chat_id));
        typed.insert("access_token".into(), json!("(redacted)"));
        typed.insert("from".into(), json!(from));
        typed.insert("to".into(), json!(to));
        typed.insert("count".into(), json!(count));
        if let Some(b) = include_deleted {
            typed.insert("include_deleted".into(), json!(b));
        }
        if let Err(v) = spec.validate_params(&Value::Object(typed)) {
            let name = v[0].instance_path.trim_start_matches('/').to_string();
            return Err(OkError::param(format!(
                "Invalid parameter {name}: {}",
                v[0].message
            )));
        }
    }
    Ok(Query {
        chat_id,
        from,
        to,
        count,
    })
}

/// `chat:` followed by letters and digits (the schema's pattern).
fn is_chat_id(s: &str) -> bool {
    s.strip_prefix("chat:")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A Long parameter ≥ 0 (`from`, `to`) or the count; absent → the default.
fn long(wire: &WireParams, name: &str, default: i64) -> Result<i64, OkError> {
    match wire.get(name).map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(v),
            Ok(_) => Err(OkError::param(format!("Invalid parameter {name}: must not be negative"))),
            Err(_) => Err(OkError::param(format!("Invalid parameter {name}: must be a Long (a whole number up to 9223372036854775807)"))),
        },
    }
}

/// Step 5 and the window: the recorded chat, filtered, newest first.
fn answer(st: &MockState, q: &Query) -> Result<Value, OkError> {
    let mut params = Map::new();
    params.insert("chat_id".into(), json!(q.chat_id));
    let Some(rec) = st.recordings.find(Api::Ok, METHOD, &params, None) else {
        return Err(OkError {
            code: codes::NOT_FOUND,
            msg: "NOT_FOUND : Chat not found".into(),
        });
    };
    if let Some(e) = &rec.error {
        return Err(OkError {
            code: e.error_code,
            msg: e.error_msg.clone(),
        });
    }
    let all = rec
        .response
        .as_ref()
        .and_then(|r| r.get("messages"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(json!({ "messages": window(all, q.from, q.to, q.count) }))
}

/// Messages with `to ≤ timestamp ≤ from`, by timestamp descending (stable), at most `count`.
fn window(all: &[Value], from: i64, to: i64, count: i64) -> Vec<Value> {
    let ts = |m: &Value| -> Option<i128> {
        let t = m.get("timestamp")?;
        t.as_i64()
            .map(i128::from)
            .or_else(|| t.as_u64().map(i128::from))
    };
    let mut picked: Vec<(i128, &Value)> = all
        .iter()
        .filter_map(|m| ts(m).map(|t| (t, m)))
        .filter(|(t, _)| (i128::from(to)..=i128::from(from)).contains(t))
        .collect();
    picked.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    picked
        .into_iter()
        .take(usize::try_from(count).unwrap_or(usize::MAX))
        .map(|(_, m)| m.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<Value> {
        vec![
            json!({"timestamp": 10, "n": 1}),
            json!({"timestamp": 30, "n": 3}),
            json!({"timestamp": 20, "n": 2}),
            json!({"timestamp": 30, "n": 4}),
        ]
    }

    #[test]
    fn the_window_is_inclusive_and_newest_first() {
        let w = window(&msgs(), 30, 20, 50);
        let n: Vec<i64> = w.iter().map(|m| m["n"].as_i64().unwrap()).collect();
        assert_eq!(n, vec![3, 4, 2]);
    }

    #[test]
    fn count_caps_the_window() {
        assert_eq!(window(&msgs(), i64::MAX, 0, 2).len(), 2);
        assert_eq!(window(&msgs(), 15, 0, 50).len(), 1);
    }

    #[test]
    fn chat_ids_need_the_chat_prefix() {
        assert!(is_chat_id("chat:C3ecb9d02a600"));
        for bad in [
            "C3ecb9d02a600",
            "chat:",
            "user:123",
            "mid:C3.15c",
            "chat:a-b",
            "chat:C3ecb9d02a600/x",
        ] {
            assert!(!is_chat_id(bad), "{bad}");
        }
    }

    #[test]
    fn seq_above_2_pow_53_survives_a_round_trip() {
        let raw = r#"{"messages":[{"message":{"seq":98211023614189657},"timestamp":1}]}"#;
        let v: Value = serde_json::from_str(raw).unwrap();
        let out = window(v["messages"].as_array().unwrap(), i64::MAX, 0, 50);
        assert_eq!(
            serde_json::to_string(&json!({"messages": out})).unwrap(),
            raw
        );
    }
}
