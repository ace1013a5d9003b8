//! `execute` and stored procedures (`execute.NAME`): a small, bounded
//! VKScript interpreter that runs each `API.section.method(...)` through the
//! mock's own dispatcher.
//!
//! # What runs
//!
//! Everything VK client libraries send (vk-io's parallel
//! `return [API.a.b({...}), ...];`, vk_api's `while` pool, vkbottle's
//! `@vkscript`) and the VKScript subset VK documents:
//!
//! * literals: numbers (`1`, `-2.5`, `1e3`, `0x1F`), strings in `"…"` or `'…'`
//!   with JavaScript escapes, `true`, `false`, `null`, arrays `[…]`, objects
//!   with bare, quoted or numeric keys;
//! * `var a = 1, b;`, assignment `=`, `+= -= *= /= %=`, `++`/`--`;
//! * `return expr;`, `if (…) … else …`, `while (…) …`, `break`, `continue`,
//!   blocks; semicolons may be left out at line ends;
//! * `API.section.method({...})` or `API.section.method()`: the method name is
//!   case-insensitive, the object's values travel as a client would send them
//!   (strings as-is, numbers as text, booleans as 1/0, arrays comma-joined,
//!   objects as JSON);
//! * `Args.name`: the other parameters of the call, as strings;
//! * `.field`, `[i]`, `["key"]`, `.length`, and `x@.field` (the field of every
//!   element: `API.users.get({...})@.id`);
//! * methods `push pop shift unshift splice sort reverse slice indexOf join
//!   split substr toString`, functions `parseInt`, `parseDouble` (`parseFloat`),
//!   `delete x.field` / `delete x[i]`;
//! * operators `+ - * / % **` (`+` joins strings, and arrays as VKScript
//!   does), `== != === !==` (`==` is JavaScript's loose equality for numbers
//!   and strings; arrays and objects compare by content), `< <= > >=`,
//!   `& | ^ << >>`, `&& || !`, `?:`, parentheses; `//` and `/* */` comments.
//!
//! Not supported (error 12): `function`, `for`, `do`, `switch`, `try`, `new`.
//! A `return` followed by a line break still returns the next expression
//! (JavaScript would return nothing).
//!
//! Reading a missing field, an index past the end, or any field of `null`,
//! `false` or a number gives `null`, so code keeps working when an inner
//! call failed and left `false`.
//!
//! # Answers
//!
//! `{"response": value}`, plus `execute_errors: [{method, error_code,
//! error_msg}]` in call order when some inner call failed (each failed call
//! leaves `false` in its place). `execute` needs a token (error 5). A syntax
//! error is error 12 (`Syntax error at line L, column C: …`), a runtime error
//! 13 (`Runtime error: … (line L, column C)`): an unknown variable, a bad
//! index, a comparison of arrays, division by zero, more than 25 API calls,
//! more than 10 000 loop iterations, or too much work or data (see
//! [`Limits`]). Code over 64 KiB is error 12. An inner call answered with a
//! captcha (14) becomes the whole answer, with `captcha_sid` and
//! `captcha_img`; `captcha_sid`/`captcha_key` sent with the execute reach the
//! inner calls, so a client's captcha retry works.
//!
//! # Stored procedures
//!
//! `execute.NAME` runs `snapshots/openvk/procedures/NAME.vkscript` (embedded;
//! read from `MockConfig::snapshots`'s `openvk/procedures/` instead when that is
//! set) with every parameter of the call as `Args`. The name is matched
//! exactly, then case-insensitively; an unknown one is error 3. Shipped:
//!
//! * `execute.getProfileAndFriends` (`user_id`, `fields`, `count`, all
//!   optional) → `{"profile": user, "friends": friends.get answer}`;
//! * `execute.serverTime` → `utils.getServerTime`'s answer;
//! * `execute.getFriendIds` (`user_id` optional) → the friends' ids.

mod interp;
mod lexer;
mod parser;

pub use interp::{run, ExecuteError, Limits, Outcome, MAX_VALUE_DEPTH};
pub use parser::{line_col, parse, Program, SyntaxError, MAX_EXPR_DEPTH, MAX_NESTING};

use super::openvk::CallCtx;
use super::state::MockState;
use crate::api::Api;
use crate::vk::{codes, ApiError, WireParams};
use serde_json::{json, Map, Value};

/// Where stored procedures live below `snapshots/`.
pub const PROCEDURES_DIR: &str = "openvk/procedures";

/// Runs `/method/execute` or `/method/execute.NAME`; returns the whole body.
pub fn handle(
    st: &MockState,
    ctx: &CallCtx,
    name: &str,
    wire: &WireParams,
) -> Result<Value, ApiError> {
    if ctx.user.is_none() {
        return Err(ApiError::code(codes::AUTH));
    }
    let procedure = name.split_once('.').map(|(_, p)| p);
    let code = match procedure {
        None => match wire.get("code") {
            Some(c) if !c.trim().is_empty() => c.to_string(),
            _ => {
                return Err(ApiError::new(
                    codes::PARAM,
                    "Required parameter 'code' missing.",
                ))
            }
        },
        Some(p) => match procedure_source(st, p) {
            Some(src) => src,
            None => {
                // A documented `Execute.*` method, if the catalog ever has one, answers as usual.
                if st.catalog.method(Api::Openvk, name).is_some() {
                    return super::openvk::call(st, ctx, name, wire)
                        .map(|v| json!({"response": v}));
                }
                return Err(ApiError::new(codes::UNKNOWN_METHOD, format!("Unknown method passed: no stored procedure `{p}` (procedures live in snapshots/{PROCEDURES_DIR}/NAME.vkscript)")));
            }
        },
    };
    let args = args(wire, procedure.is_none());
    let mut host = |method: &str, mut params: WireParams| -> Result<Value, ApiError> {
        if method.to_ascii_lowercase().starts_with("execute") {
            return Err(ApiError::new(
                codes::UNKNOWN_METHOD,
                "Unknown method passed: execute cannot be called from execute",
            ));
        }
        for key in ["captcha_sid", "captcha_key"] {
            if params.get(key).is_none() {
                if let Some(v) = wire.get(key) {
                    params.push(key, v);
                }
            }
        }
        super::openvk::call(st, ctx, method, &params)
    };
    run(&code, args, &Limits::default(), &mut host).map(|o| o.body())
}

/// `Args`: every parameter of the call as a string, without secrets (and without `code` for `execute`).
fn args(wire: &WireParams, is_execute: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for key in wire.keys() {
        if (is_execute || key != "code") && crate::redact::is_secret_key(key) {
            continue;
        }
        if let Some(v) = wire.get(key) {
            out.insert(key.to_string(), Value::String(v.to_string()));
        }
    }
    out
}

/// The source of a stored procedure: exact file name first, then case-insensitive.
fn procedure_source(st: &MockState, name: &str) -> Option<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let all = match &st.config.snapshots {
        Some(dir) => {
            let dir = dir.join(PROCEDURES_DIR);
            if let Ok(src) = std::fs::read_to_string(dir.join(format!("{name}.vkscript"))) {
                return Some(src);
            }
            procedures_on_disk(&dir)
        }
        None => embedded_procedures(),
    };
    all.iter()
        .find(|(n, _)| n == name)
        .or_else(|| all.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
        .map(|(_, s)| s.clone())
}

/// The stored procedures compiled into the binary, as `(name, source)`, sorted.
pub fn embedded_procedures() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = crate::embedded::SNAPSHOTS
        .get_dir(PROCEDURES_DIR)
        .map(|d| {
            d.files()
                .filter_map(|f| {
                    let stem = f
                        .path()
                        .file_name()?
                        .to_str()?
                        .strip_suffix(".vkscript")?
                        .to_string();
                    Some((stem, f.contents_utf8()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The stored procedures in a directory on disk, as `(name, source)`, sorted (unreadable files are skipped).
pub fn procedures_on_disk(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".vkscript"))
            else {
                continue;
            };
            if let Ok(src) = std::fs::read_to_string(&path) {
                out.push((stem.to_string(), src));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests;
