//! Parameters on the wire: query string and form body merged (the body wins),
//! lists comma-joined or as repeated keys, flags as `1/0`, `true/false` or
//! `True/False`, then coerced to typed JSON by the method's schema
//! (`docs/formats.md` §1.2) and validated.

use crate::schema::{MethodSpec, WireType};
use serde_json::{Map, Number, Value};

/// Parameters that travel with every call and are not the method's own.
pub const TRANSPORT_PARAMS: &[&str] = &[
    "access_token",
    "v",
    "lang",
    "callback",
    "captcha_sid",
    "captcha_key",
    "success_token",
    "https",
    "test_mode",
    "forGodSakePleaseDoNotReportAboutMyOnlineActivity",
];

/// Raw parameters as they arrived, in arrival order (query first, then form body).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WireParams {
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
}

impl WireParams {
    /// Parses a query string and an optional `application/x-www-form-urlencoded` body.
    pub fn parse(query: Option<&str>, form: Option<&[u8]>) -> WireParams {
        let q = query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .map(clean_key)
                    .collect()
            })
            .unwrap_or_default();
        let f = form
            .map(|b| {
                form_urlencoded::parse(b)
                    .into_owned()
                    .map(clean_key)
                    .collect()
            })
            .unwrap_or_default();
        WireParams { query: q, form: f }
    }

    /// Builds parameters from pairs (as if all came in the query string).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> WireParams {
        WireParams {
            query: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            form: Vec::new(),
        }
    }

    /// The value of a key; a form-body value wins over a query-string one.
    pub fn get(&self, key: &str) -> Option<&str> {
        fn last<'a>(v: &'a [(String, String)], key: &str) -> Option<&'a str> {
            v.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
        last(&self.form, key).or_else(|| last(&self.query, key))
    }

    /// Every value given for a key (repeated keys), from the form body if it has any, else the query.
    pub fn all(&self, key: &str) -> Vec<&str> {
        fn from<'a>(v: &'a [(String, String)], key: &str) -> Vec<&'a str> {
            v.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect()
        }
        let f = from(&self.form, key);
        if f.is_empty() {
            from(&self.query, key)
        } else {
            f
        }
    }

    /// Unique keys in arrival order.
    pub fn keys(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for (k, _) in self.query.iter().chain(self.form.iter()) {
            if !seen.contains(&k.as_str()) {
                seen.push(k.as_str());
            }
        }
        seen
    }

    /// Query-string pairs only, in order (what OpenVK echoes in `request_params`).
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }

    /// Every pair (query then form).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query
            .iter()
            .chain(self.form.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Adds a pair as if it came in the form body.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.form.push((key.into(), value.into()));
    }

    /// True when no parameter was given.
    pub fn is_empty(&self) -> bool {
        self.query.is_empty() && self.form.is_empty()
    }
}

/// `fields[]=a` (PHP array syntax) is treated as the key `fields`.
fn clean_key((k, v): (String, String)) -> (String, String) {
    let k = k.strip_suffix("[]").map(str::to_string).unwrap_or(k);
    (k, v)
}

/// Why the parameters were refused (always error 100 on the wire).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// The documented name of the offending parameter.
    pub name: String,
    /// The `error_msg` to send.
    pub message: String,
}

impl ParamError {
    fn missing(name: &str) -> Self {
        ParamError {
            name: name.to_string(),
            message: format!("Required parameter '{name}' missing."),
        }
    }
    fn invalid(name: &str, why: &str) -> Self {
        ParamError {
            name: name.to_string(),
            message: format!(
                "One of the parameters specified was missing or invalid: {name} {why}"
            ),
        }
    }
}

/// Coerces wire parameters to typed JSON by the method's schema, resolves
/// aliases, and validates them. Transport parameters are left out.
pub fn coerce(spec: &MethodSpec, wire: &WireParams) -> Result<Map<String, Value>, ParamError> {
    let mut out = Map::new();
    for key in wire.keys() {
        if TRANSPORT_PARAMS.contains(&key) {
            continue;
        }
        let name = spec.canonical_param(key);
        match spec.param(key) {
            Some(p) => {
                let values = wire.all(key);
                let v = coerce_value(&p.wire, &values)
                    .map_err(|why| ParamError::invalid(name, &why))?;
                out.insert(name.to_string(), v);
            }
            None => {
                out.insert(
                    key.to_string(),
                    Value::String(wire.get(key).unwrap_or_default().to_string()),
                );
            }
        }
    }
    for p in spec.required_params() {
        if !out.contains_key(&p.name) {
            return Err(ParamError::missing(&p.name));
        }
    }
    let typed = Value::Object(out);
    if let Err(violations) = spec.validate_params(&typed) {
        let v = &violations[0];
        let name = v
            .instance_path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            // A rule over the whole object (e.g. oneOf of alternatives).
            return Err(ParamError {
                name: String::new(),
                message: format!(
                    "One of the parameters specified was missing or invalid: {}",
                    v.message
                ),
            });
        }
        return Err(ParamError::invalid(&name, &v.message));
    }
    match typed {
        Value::Object(m) => Ok(m),
        _ => unreachable!("built as an object"),
    }
}

/// Coerces the wire value(s) of one parameter.
pub fn coerce_value(wire: &WireType, values: &[&str]) -> Result<Value, String> {
    match wire {
        WireType::List(inner) => {
            let mut items = Vec::new();
            for v in values {
                for part in v.split(',') {
                    let part = part.trim();
                    if part.is_empty() {
                        continue;
                    }
                    items.push(coerce_one(inner, part)?);
                }
            }
            Ok(Value::Array(items))
        }
        other => coerce_one(other, values.last().copied().unwrap_or_default()),
    }
}

fn coerce_one(wire: &WireType, s: &str) -> Result<Value, String> {
    match wire {
        WireType::Integer => {
            parse_int(s).ok_or_else(|| format!("must be an integer, got \"{}\"", clip(s)))
        }
        WireType::Flag => parse_flag(s)
            .map(|b| Value::from(b as i64))
            .ok_or_else(|| format!("must be 0 or 1, got \"{}\"", clip(s))),
        WireType::Boolean => parse_flag(s)
            .map(Value::Bool)
            .ok_or_else(|| format!("must be a boolean (1/0, true/false), got \"{}\"", clip(s))),
        WireType::String => Ok(Value::String(s.to_string())),
        WireType::IntegerOrString => {
            Ok(parse_int(s).unwrap_or_else(|| Value::String(s.to_string())))
        }
        WireType::Json => {
            serde_json::from_str(s).map_err(|_| "must be a JSON document".to_string())
        }
        WireType::List(inner) => coerce_value(&WireType::List(inner.clone()), &[s]),
    }
}

fn parse_int(s: &str) -> Option<Value> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::Number(Number::from(i)));
    }
    t.parse::<u64>()
        .ok()
        .map(|u| Value::Number(Number::from(u)))
}

/// How a typed parameter value travels on the wire, as VK clients send it:
/// strings as-is, numbers as text, booleans as `1`/`0`, arrays comma-joined,
/// objects as JSON text; `None` for `null` (not sent).
pub fn to_wire(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => Some(a.iter().filter_map(to_wire).collect::<Vec<_>>().join(",")),
        Value::Object(_) => Some(v.to_string()),
    }
}

/// `1/0`, `true/false`, `True/False` (and `yes/no`, `on/off`).
pub fn parse_flag(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "true" | "True" | "TRUE" | "yes" | "on" => Some(true),
        "0" | "false" | "False" | "FALSE" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_wins_over_query_string() {
        let w = WireParams::parse(Some("a=1&b=2"), Some(b"a=3"));
        assert_eq!(w.get("a"), Some("3"));
        assert_eq!(w.get("b"), Some("2"));
        assert_eq!(w.keys(), vec!["a", "b"]);
    }

    #[test]
    fn lists_accept_commas_and_repeated_keys() {
        let w = WireParams::parse(Some("ids=1,2&ids=3&f[]=x"), None);
        let v = coerce_value(&WireType::List(Box::new(WireType::Integer)), &w.all("ids")).unwrap();
        assert_eq!(v, serde_json::json!([1, 2, 3]));
        assert_eq!(w.get("f"), Some("x"));
    }

    #[test]
    fn flags_accept_every_client_spelling() {
        for (s, b) in [
            ("1", 1),
            ("true", 1),
            ("True", 1),
            ("0", 0),
            ("false", 0),
            ("False", 0),
        ] {
            assert_eq!(
                coerce_value(&WireType::Flag, &[s]).unwrap(),
                serde_json::json!(b)
            );
        }
        assert!(coerce_value(&WireType::Flag, &["maybe"]).is_err());
    }

    #[test]
    fn integers_refuse_text() {
        assert!(coerce_value(&WireType::Integer, &["abc"]).is_err());
        assert_eq!(
            coerce_value(&WireType::Integer, &["-5"]).unwrap(),
            serde_json::json!(-5)
        );
    }
}
