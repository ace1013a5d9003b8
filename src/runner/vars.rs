//! Variables of a case: built-ins (`run_id`, `token`, …), captures from
//! earlier steps, and `env.VKCONFORM_*`; `${name}` / `${name:-default}`
//! substitution into strings and JSON values.

use serde_json::Value;
use std::collections::HashMap;

/// The variables visible to one case.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    map: HashMap<String, Value>,
}

impl Vars {
    /// Sets a variable.
    pub fn set(&mut self, name: &str, value: Value) {
        self.map.insert(name.to_string(), value);
    }

    /// A variable's value (`env.X` reads the environment).
    pub fn get(&self, name: &str) -> Option<Value> {
        if let Some(env) = name.strip_prefix("env.") {
            if !env.starts_with("VKCONFORM_") {
                return None;
            }
            return std::env::var(env).ok().map(Value::String);
        }
        self.map.get(name).cloned()
    }

    fn lookup(&self, inner: &str) -> Result<Value, String> {
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (self.get(name), default) {
            (Some(v), _) if !v.is_null() => Ok(v),
            (_, Some(d)) => Ok(Value::String(d.to_string())),
            _ => Err(format!("variable `{name}` has no value in this run")),
        }
    }

    /// Substitutes every `${…}` in a string.
    pub fn string(&self, s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else {
                out.push_str(&rest[i..]);
                return Ok(out);
            };
            let v = self.lookup(&after[..j])?;
            out.push_str(&display(&v));
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Substitutes inside a JSON value; a string that is exactly one `${name}` takes the variable's JSON value (a number stays a number).
    pub fn value(&self, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => {
                if let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                    if !inner.contains("${") && !inner.contains('}') {
                        let value = self.lookup(inner)?;
                        // A default from the text is a string: make numbers numbers.
                        if let Value::String(d) = &value {
                            if inner.contains(":-") {
                                if let Ok(n) = d.parse::<i64>() {
                                    return Ok(Value::from(n));
                                }
                            }
                        }
                        return Ok(value);
                    }
                }
                Value::String(self.string(s)?)
            }
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.value(x)).collect::<Result<_, _>>()?)
            }
            Value::Object(o) => {
                let mut m = serde_json::Map::new();
                for (k, x) in o {
                    m.insert(self.string(k)?, self.value(x)?);
                }
                Value::Object(m)
            }
            other => other.clone(),
        })
    }
}

/// How a value is written into text.
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How a parameter value travels on the wire (`None`: not sent).
pub fn wire(v: &Value) -> Option<String> {
    crate::vk::params::to_wire(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_references_keep_their_type() {
        let mut v = Vars::default();
        v.set("post_id", json!(7));
        assert_eq!(v.value(&json!("${post_id}")).unwrap(), json!(7));
        assert_eq!(v.value(&json!("1_${post_id}")).unwrap(), json!("1_7"));
        assert_eq!(
            v.value(&json!("${env.VKCONFORM_NOT_SET_X:-6}")).unwrap(),
            json!(6)
        );
        assert!(v.string("${nope}").is_err());
    }

    #[test]
    fn wire_values_follow_vk_conventions() {
        assert_eq!(wire(&json!([1, 2])).unwrap(), "1,2");
        assert_eq!(wire(&json!(true)).unwrap(), "1");
        assert_eq!(wire(&Value::Null), None);
    }
}
