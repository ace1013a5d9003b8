//! Fuzzing inputs: proptest-generated wrong-typed and garbage parameters for
//! a method, reproducible from the run's seed (`--seed`). A server must answer
//! each with a well-formed error (100 for a wrong-typed parameter) or a valid
//! response, never a 5xx or a non-JSON body.
//!
//! ```
//! let catalog = vkconform::schema::Catalog::shared().unwrap();
//! let spec = catalog.method(vkconform::api::Api::Openvk, "Wall.get").unwrap();
//! let a = vkconform::fuzz::inputs(spec, 42, 3);
//! assert_eq!(a, vkconform::fuzz::inputs(spec, 42, 3)); // same seed, same inputs
//! assert_eq!(a.len(), 3);
//! ```

use crate::schema::{MethodSpec, WireType};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

/// One generated call.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzInput {
    /// Wire parameters (name, value), in order.
    pub params: Vec<(String, String)>,
    /// The parameter given a value of the wrong type, if any: the answer must be error 100.
    pub wrong_typed: Option<String>,
}

impl FuzzInput {
    /// `a=1&b=x` for messages (values clipped).
    pub fn describe(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| {
                let mut short: String = v.chars().take(24).collect();
                if v.chars().count() > 24 {
                    short.push('…');
                }
                format!("{k}={}", short.escape_debug())
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Words every flag parser accepts, never generated as "wrong" flags.
const FLAG_WORDS: &[&str] = &["true", "false", "yes", "no", "on", "off"];

fn wrong_value(wire: &WireType) -> Option<BoxedStrategy<String>> {
    match wire {
        WireType::Integer => Some(
            prop_oneof![
                "[a-z][a-z0-9]{0,7}",
                "[0-9]{1,3}[a-z]{1,3}",
                Just("1.5".to_string()),
                Just("--1".to_string())
            ]
            .boxed(),
        ),
        WireType::Flag | WireType::Boolean => Some(
            "[a-z]{2,8}"
                .prop_filter("not a flag word", |s| {
                    !FLAG_WORDS.contains(&s.to_ascii_lowercase().as_str())
                })
                .boxed(),
        ),
        WireType::List(inner) if matches!(**inner, WireType::Integer) => {
            Some("[0-9]{1,3},[a-z]{1,5}".boxed())
        }
        WireType::Json => Some("\\{[a-z]{1,6}".boxed()),
        _ => None,
    }
}

fn wire_example(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Array(a) => a.iter().map(wire_example).collect::<Vec<_>>().join(","),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn seed_bytes(seed: u64, method: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&seed.to_le_bytes());
    let h = crate::suite::select::fnv1a(method.as_bytes());
    out[8..16].copy_from_slice(&h.to_le_bytes());
    out
}

/// `n` inputs for a method, the same for the same seed.
pub fn inputs(spec: &MethodSpec, seed: u64, n: usize) -> Vec<FuzzInput> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed, &spec.name)),
    );
    let base: Vec<(String, String)> = spec
        .required_params()
        .filter_map(|p| {
            p.examples
                .first()
                .map(|e| (p.name.clone(), wire_example(e)))
        })
        .collect();
    let mut out = Vec::new();
    // Transport parameters (`v`, `access_token`, …) are not the method's own.
    let own: Vec<&crate::schema::ParamSpec> = spec
        .params
        .iter()
        .filter(|p| !crate::vk::params::TRANSPORT_PARAMS.contains(&p.name.as_str()))
        .collect();
    if own.is_empty() {
        return out;
    }
    for _ in 0..n {
        let idx = (0..own.len())
            .new_tree(&mut runner)
            .map(|t| t.current())
            .unwrap_or(0)
            .min(own.len() - 1);
        let p = own[idx];
        let mut params: Vec<(String, String)> =
            base.iter().filter(|(k, _)| k != &p.name).cloned().collect();
        let mut wrong_typed = None;
        let value = match wrong_value(&p.wire) {
            Some(s) => {
                wrong_typed = Some(p.name.clone());
                s.new_tree(&mut runner)
                    .map(|t| t.current())
                    .unwrap_or_else(|_| "x".into())
            }
            None => "\\PC{0,40}"
                .new_tree(&mut runner)
                .map(|t| t.current())
                .unwrap_or_default(),
        };
        params.push((p.name.clone(), value));
        // Sometimes an unknown parameter, which a server must ignore.
        let extra = proptest::option::of(("fz_[a-z]{1,6}", "\\PC{0,20}"))
            .new_tree(&mut runner)
            .map(|t| t.current())
            .unwrap_or(None);
        if let Some((k, v)) = extra {
            params.push((k, v));
        }
        out.push(FuzzInput {
            params,
            wrong_typed,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Api;
    use crate::schema::Catalog;

    #[test]
    fn wrong_typed_integers_never_parse() {
        let catalog = Catalog::shared().unwrap();
        let spec = catalog.method(Api::Openvk, "Wall.get").unwrap();
        for seed in 0..20 {
            for input in inputs(spec, seed, 5) {
                if let Some(name) = &input.wrong_typed {
                    let (_, v) = input.params.iter().find(|(k, _)| k == name).unwrap();
                    let p = spec.param(name).unwrap();
                    assert!(
                        crate::vk::params::coerce_value(&p.wire, &[v]).is_err(),
                        "{name}={v} parses"
                    );
                }
            }
        }
    }

    #[test]
    fn other_seeds_give_other_inputs() {
        let catalog = Catalog::shared().unwrap();
        let spec = catalog.method(Api::Openvk, "Wall.get").unwrap();
        assert_ne!(inputs(spec, 1, 4), inputs(spec, 2, 4));
    }
}
