//! The checks of a step's expectations that look at a whole array or choose
//! between alternatives ([`ExtraCheck`]: `sorted`, `each`, `any_of`); the
//! runner evaluates them on the same value as the JSON-pointer assertions,
//! and their failures are `expect` findings.
//!
//! ```
//! use vkconform::runner::extra::failures;
//! use vkconform::suite::{ExtraCheck, SortOrder};
//! let v = serde_json::json!({"messages": [{"timestamp": 1}, {"timestamp": 2}]});
//! let desc = ExtraCheck::Sorted { at: "/messages".into(), key: "/timestamp".into(), order: SortOrder::Desc };
//! assert_eq!(failures(&v, &[desc]).len(), 1);
//! ```

use crate::suite::{Assertion, ExtraCheck, SortOrder};
use crate::validate::{self, AssertionFailure};
use serde_json::Value;
use std::cmp::Ordering;

/// Most element failures one `each` reports (the rest are counted).
const MAX_EACH: usize = 10;

/// One failed extra check, with the pointer it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraFailure {
    /// Where (a JSON pointer into the checked value).
    pub at: String,
    /// What failed.
    pub failure: AssertionFailure,
}

/// Every way `value` fails the checks (empty when all hold).
pub fn failures(value: &Value, checks: &[ExtraCheck]) -> Vec<ExtraFailure> {
    let mut out = Vec::new();
    for c in checks {
        match c {
            ExtraCheck::Sorted { at, key, order } => {
                if let Some(f) = sorted_failure(value, at, key, *order) {
                    out.push(ExtraFailure {
                        at: at.clone(),
                        failure: f,
                    });
                }
            }
            ExtraCheck::Each { at, assertions } => out.extend(each_failures(value, at, assertions)),
            ExtraCheck::AnyOf(groups) => {
                let fails: Vec<Vec<AssertionFailure>> =
                    groups.iter().map(|g| group_failures(value, g)).collect();
                if fails.iter().all(|f| !f.is_empty()) {
                    let why = fails
                        .iter()
                        .enumerate()
                        .map(|(i, f)| format!("alternative {}: {}", i + 1, f[0].message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    out.push(ExtraFailure {
                        at: String::new(),
                        failure: AssertionFailure {
                            message: format!(
                                "none of the {} alternatives holds ({why})",
                                groups.len()
                            ),
                            expected: format!("one of {} alternatives (any_of)", groups.len()),
                            actual: validate::excerpt(value),
                        },
                    });
                }
            }
        }
    }
    out
}

fn group_failures(value: &Value, group: &[Assertion]) -> Vec<AssertionFailure> {
    group
        .iter()
        .flat_map(|a| validate::assertion_failures(value, a))
        .collect()
}

fn shown(at: &str) -> &str {
    if at.is_empty() {
        "(root)"
    } else {
        at
    }
}

fn array_at<'v>(value: &'v Value, at: &str) -> Result<&'v Vec<Value>, AssertionFailure> {
    match value.pointer(at) {
        Some(Value::Array(a)) => Ok(a),
        other => Err(AssertionFailure {
            message: format!("{}: expected an array", shown(at)),
            expected: "an array".into(),
            actual: other
                .map(validate::excerpt)
                .unwrap_or_else(|| "(absent)".into()),
        }),
    }
}

/// Orders two JSON scalars: integers exactly (also beyond 2^53), other numbers as floats, strings by code point.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                Some(i.cmp(&j))
            } else if let (Some(i), Some(j)) = (x.as_u64(), y.as_u64()) {
                Some(i.cmp(&j))
            } else if x.is_u64() && y.is_i64() {
                Some(Ordering::Greater)
            } else if x.is_i64() && y.is_u64() {
                Some(Ordering::Less)
            } else {
                x.as_f64()?.partial_cmp(&y.as_f64()?)
            }
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn sorted_failure(
    value: &Value,
    at: &str,
    key: &str,
    order: SortOrder,
) -> Option<AssertionFailure> {
    let items = match array_at(value, at) {
        Ok(a) => a,
        Err(f) => return Some(f),
    };
    let (word, bad) = match order {
        SortOrder::Asc => ("ascending", Ordering::Greater),
        SortOrder::Desc => ("descending", Ordering::Less),
    };
    let expected = format!("{word} order of {}", shown(key));
    let mut prev: Option<(usize, &Value)> = None;
    for (i, item) in items.iter().enumerate() {
        let Some(k) = item.pointer(key) else {
            return Some(AssertionFailure {
                message: format!("{}/{i}: nothing at {} to sort by", shown(at), shown(key)),
                expected,
                actual: validate::excerpt(item),
            });
        };
        if let Some((j, p)) = prev {
            match compare(p, k) {
                Some(o) if o == bad => {
                    return Some(AssertionFailure {
                        message: format!(
                            "{} is not in {word} order of {}: element {i} ({}) comes after element {j} ({})",
                            shown(at),
                            shown(key),
                            validate::excerpt(k),
                            validate::excerpt(p)
                        ),
                        expected,
                        actual: format!("{} then {}", validate::excerpt(p), validate::excerpt(k)),
                    })
                }
                Some(_) => {}
                None => {
                    return Some(AssertionFailure {
                        message: format!(
                            "{}: elements {j} and {i} cannot be compared by {} ({} and {})",
                            shown(at),
                            shown(key),
                            validate::excerpt(p),
                            validate::excerpt(k)
                        ),
                        expected,
                        actual: format!("{} and {}", validate::excerpt(p), validate::excerpt(k)),
                    })
                }
            }
        }
        prev = Some((i, k));
    }
    None
}

fn each_failures(value: &Value, at: &str, assertions: &[Assertion]) -> Vec<ExtraFailure> {
    let items = match array_at(value, at) {
        Ok(a) => a,
        Err(f) => {
            return vec![ExtraFailure {
                at: at.to_string(),
                failure: f,
            }]
        }
    };
    let mut out = Vec::new();
    let mut more = 0usize;
    for (i, item) in items.iter().enumerate() {
        for a in assertions {
            for f in validate::assertion_failures(item, a) {
                if out.len() >= MAX_EACH {
                    more += 1;
                    continue;
                }
                out.push(ExtraFailure {
                    at: format!("{at}/{i}{}", a.at),
                    failure: AssertionFailure {
                        message: format!("{at}/{i}: {}", f.message),
                        ..f
                    },
                });
            }
        }
    }
    if more > 0 {
        out.push(ExtraFailure {
            at: at.to_string(),
            failure: AssertionFailure {
                message: format!("{}: … and {more} more element failures", shown(at)),
                expected: "every element passes".into(),
                actual: format!("{more} more failures"),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Check;
    use serde_json::json;

    #[test]
    fn sorting_compares_big_integers_exactly() {
        // 98211030638465639 and 98211030638465640 are the same f64.
        let v = json!([{"seq": 98211030638465639u64}, {"seq": 98211030638465640u64}]);
        let desc = ExtraCheck::Sorted {
            at: String::new(),
            key: "/seq".into(),
            order: SortOrder::Desc,
        };
        assert_eq!(failures(&v, std::slice::from_ref(&desc)).len(), 1);
        let asc = ExtraCheck::Sorted {
            at: String::new(),
            key: "/seq".into(),
            order: SortOrder::Asc,
        };
        assert!(failures(&v, &[asc]).is_empty());
        assert!(failures(&json!([]), &[desc]).is_empty());
    }

    #[test]
    fn each_reports_the_failing_elements_and_any_of_needs_one_group() {
        let v = json!({"m": [{"id": "user:1"}, {"id": "2"}]});
        let each = ExtraCheck::Each {
            at: "/m".into(),
            assertions: vec![Assertion {
                at: "/id".into(),
                checks: vec![Check::Matches("^user:".into())],
            }],
        };
        let f = failures(&v, &[each]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].at, "/m/1/id");
        let any = |x: &str| {
            ExtraCheck::AnyOf(vec![
                vec![Assertion {
                    at: "/code".into(),
                    checks: vec![Check::Equals(json!(x))],
                }],
                vec![Assertion {
                    at: "/result/0/reasons/0/key".into(),
                    checks: vec![Check::Equals(json!(x))],
                }],
            ])
        };
        let v = json!({"result": [{"reasons": [{"key": "login.must.be.not.null"}]}]});
        assert!(failures(&v, &[any("login.must.be.not.null")]).is_empty());
        assert_eq!(failures(&v, &[any("other")]).len(), 1);
    }
}
