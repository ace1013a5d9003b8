//! Secrets (access tokens, passwords, 2FA codes, captcha answers, Devino
//! authorization) never reach a report, a log, a recording or an error echo.
//! Everything that leaves vkconform passes through here first.

use serde_json::Value;

/// What a redacted secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Request parameter names whose values are secrets (`code` is the 2FA code of `/token`).
pub const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "password",
    "code",
    "captcha_key",
    "success_token",
    "client_secret",
];

/// JSON field names whose values are secrets wherever they appear in a body.
pub const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "password",
    "captcha_key",
    "success_token",
    "client_secret",
    "authorization",
];

/// Header names whose values are secrets.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// True for a request parameter name that carries a secret (case-insensitive).
pub fn is_secret_key(k: &str) -> bool {
    SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(k))
}

/// True for a JSON field name that carries a secret (case-insensitive).
pub fn is_secret_field(k: &str) -> bool {
    SECRET_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(k))
}

/// True for a header name that carries a secret (case-insensitive).
pub fn is_secret_header(k: &str) -> bool {
    SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(k))
}

/// Removes known secret values from text and structures.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that also masks these literal values wherever they appear.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 3).collect();
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Adds a secret value learned later (e.g. a token from `/token`).
    pub fn add(&mut self, secret: impl Into<String>) {
        let s = secret.into();
        if s.len() >= 3 && !self.secrets.contains(&s) {
            self.secrets.push(s);
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Masks every known secret in a string, plus `access_token=…`-style query values.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
            // Also the URL-encoded form.
            let enc: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            if enc != *secret && out.contains(enc.as_str()) {
                out = out.replace(enc.as_str(), MASK);
            }
        }
        redact_query_values(&out)
    }

    /// Masks secrets inside a JSON value: values of secret keys, `{key, value}`
    /// pairs whose key is secret (`request_params`), and known secret strings.
    pub fn value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                let r = self.text(s);
                if r != *s {
                    *s = r;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.value(x)),
            Value::Object(o) => {
                let pair_key_secret = o
                    .get("key")
                    .and_then(Value::as_str)
                    .is_some_and(is_secret_key)
                    && o.contains_key("value");
                for (k, child) in o.iter_mut() {
                    if (is_secret_field(k)
                        && !child.is_object()
                        && !child.is_array()
                        && !child.is_null())
                        || (pair_key_secret && k == "value")
                    {
                        *child = Value::String(MASK.into());
                    } else {
                        self.value(child);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Masks the values of secret parameters in anything that looks like a query string.
pub fn redact_query_values(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    'outer: while !rest.is_empty() {
        for key in [
            "access_token=",
            "password=",
            "captcha_key=",
            "success_token=",
            "code=",
        ] {
            if let Some(stripped) = rest.strip_prefix(key) {
                let at_boundary =
                    out.is_empty() || out.ends_with(['?', '&', ' ', '"', '\'', '\n', '(']);
                if at_boundary {
                    out.push_str(key);
                    out.push_str(MASK);
                    let end = stripped
                        .find(['&', ' ', '"', '\'', '\n', ')', '#'])
                        .unwrap_or(stripped.len());
                    rest = &stripped[end..];
                    continue 'outer;
                }
            }
        }
        let ch = rest.chars().next().expect("non-empty");
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn masks_request_params_pairs_and_secret_fields() {
        let r = Redactor::default();
        let mut v = json!({"request_params": [{"key": "password", "value": "hunter2"}, {"key": "a", "value": "1"}], "access_token": "abc"});
        r.value(&mut v);
        assert_eq!(v["request_params"][0]["value"], MASK);
        assert_eq!(v["request_params"][1]["value"], "1");
        assert_eq!(v["access_token"], MASK);
    }

    #[test]
    fn masks_query_strings() {
        assert_eq!(
            redact_query_values("GET /x?a=1&access_token=zz&b=2"),
            "GET /x?a=1&access_token=[REDACTED]&b=2"
        );
        assert_eq!(redact_query_values("barcode=5"), "barcode=5");
    }

    proptest! {
        #[test]
        fn no_known_secret_survives(secret in "[A-Za-z0-9_\\-:.]{6,40}", prefix in ".{0,30}", suffix in ".{0,30}") {
            let r = Redactor::new([secret.clone()]);
            let text = format!("{prefix}{secret}{suffix}");
            prop_assert!(!r.text(&text).contains(&secret));
            let mut v = json!({"a": [text.clone(), {"b": text}]});
            r.value(&mut v);
            prop_assert!(!v.to_string().contains(&secret));
        }
    }
}
