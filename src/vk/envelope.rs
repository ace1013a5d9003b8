//! Answers on the wire: `{"response": …}` for success, and the error body of
//! each profile (`openvk`: top-level fields with HTTP 400; `vk`: wrapped in
//! `{"error": …}` with HTTP 200).

use super::params::WireParams;
use crate::api::Profile;
use crate::redact;
use serde_json::{json, Map, Value};

/// An API error as both dialects carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// `error_code`.
    pub code: i64,
    /// `error_msg`.
    pub msg: String,
    /// Extra fields (`captcha_sid`, `captcha_img`, …).
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// An error with the standard message for its code.
    pub fn code(code: i64) -> ApiError {
        ApiError {
            code,
            msg: super::codes::message(code).to_string(),
            extra: Map::new(),
        }
    }

    /// An error with a specific message.
    pub fn new(code: i64, msg: impl Into<String>) -> ApiError {
        ApiError {
            code,
            msg: msg.into(),
            extra: Map::new(),
        }
    }

    /// Adds an extra field.
    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.extra.insert(key.to_string(), value);
        self
    }
}

/// The `request_params` echo: as OpenVK does it for `openvk` (query-string
/// parameters in reverse order, then `method` and `oauth`), every parameter in
/// order for `vk`. Secret parameters are never echoed.
pub fn request_params(profile: Profile, wire: &WireParams, method_as_written: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let pairs: Vec<(&str, &str)> = match profile {
        Profile::Openvk => wire
            .query_pairs()
            .iter()
            .rev()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        Profile::Vk => wire.pairs().collect(),
    };
    for (k, v) in pairs {
        if redact::is_secret_key(k) {
            continue;
        }
        out.push(json!({"key": k, "value": v}));
    }
    out.push(json!({"key": "method", "value": method_as_written}));
    out.push(json!({"key": "oauth", "value": 1}));
    out
}

/// The HTTP status and body of an error in a profile.
pub fn error_body(profile: Profile, err: &ApiError, request_params: Vec<Value>) -> (u16, Value) {
    let mut inner = Map::new();
    inner.insert("error_code".into(), json!(err.code));
    inner.insert("error_msg".into(), json!(err.msg));
    inner.insert("request_params".into(), Value::Array(request_params));
    for (k, v) in &err.extra {
        inner.insert(k.clone(), v.clone());
    }
    match profile {
        Profile::Openvk => (400, Value::Object(inner)),
        Profile::Vk => (200, json!({"error": Value::Object(inner)})),
    }
}

/// What a server's answer turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `{"response": value}`.
    Response(Value),
    /// An error, with the dialect it came in.
    Error {
        /// The parsed error.
        error: ApiError,
        /// The dialect of the body (`openvk` top-level or `vk` wrapped).
        dialect: Profile,
        /// The echoed `request_params`, if any.
        request_params: Option<Value>,
    },
    /// Neither: the reason.
    Other(String),
}

/// Classifies a parsed JSON body.
pub fn classify(body: &Value) -> Answer {
    let Some(obj) = body.as_object() else {
        return Answer::Other(format!("the body is a JSON {}, not an object", kind(body)));
    };
    if let Some(r) = obj.get("response") {
        return Answer::Response(r.clone());
    }
    let parse = |o: &Map<String, Value>, dialect| -> Option<Answer> {
        let code = o
            .get("error_code")?
            .as_i64()
            .or_else(|| o.get("error_code")?.as_str()?.parse().ok())?;
        let msg = o
            .get("error_msg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut extra = Map::new();
        for (k, v) in o {
            if !matches!(k.as_str(), "error_code" | "error_msg" | "request_params") {
                extra.insert(k.clone(), v.clone());
            }
        }
        Some(Answer::Error {
            error: ApiError { code, msg, extra },
            dialect,
            request_params: o.get("request_params").cloned(),
        })
    };
    if let Some(Value::Object(e)) = obj.get("error") {
        if let Some(a) = parse(e, Profile::Vk) {
            return a;
        }
    }
    if let Some(a) = parse(obj, Profile::Openvk) {
        return a;
    }
    Answer::Other("the body has neither `response` nor an error (`error_code`)".into())
}

/// `null`, `boolean`, `number`, `string`, `array` or `object`.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openvk_profile_echoes_query_params_reversed_without_secrets() {
        let w = WireParams::parse(Some("a=1&access_token=s3cret&b=2"), Some(b"password=pw"));
        let rp = request_params(Profile::Openvk, &w, "Users.get");
        let text = serde_json::to_string(&rp).unwrap();
        assert_eq!(rp[0], json!({"key": "b", "value": "2"}));
        assert!(!text.contains("s3cret") && !text.contains("pw"));
        assert_eq!(rp.last().unwrap(), &json!({"key": "oauth", "value": 1}));
    }

    #[test]
    fn both_dialects_classify_back_to_the_same_error() {
        let e = ApiError::code(5);
        for p in [Profile::Openvk, Profile::Vk] {
            let (_, body) = error_body(p, &e, vec![]);
            match classify(&body) {
                Answer::Error { error, dialect, .. } => {
                    assert_eq!(error.code, 5);
                    assert_eq!(dialect, p);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
