//! Stage 2: conformance suites. Declarative YAML files under `suites/<api>/`
//! (format `vkconform-suite/1`, documented in `docs/suites.md`) are parsed
//! into [`Suite`]s of [`Case`]s; `generate: coverage` and `generate: fuzz`
//! expand into per-method cases built from the schema catalog. Every load
//! error names `file:line:column`.
//!
//! ```
//! use vkconform::suite;
//! let catalog = vkconform::schema::Catalog::shared().unwrap();
//! let yaml = r#"
//! format: vkconform-suite/1
//! api: openvk
//! cases:
//!   - id: openvk/Users.get/example
//!     title: Users.get answers a list of users
//!     steps:
//!       - call: Users.get
//!         params: {user_ids: 1}
//!         expect:
//!           json:
//!             - {at: /0/id, equals: 1}
//! "#;
//! let s = suite::parse("example.yaml", yaml, &catalog, &suite::GenerateOptions::default()).unwrap();
//! assert_eq!(s.cases[0].id, "openvk/Users.get/example");
//! ```

pub mod coverage;
mod raw;
pub mod select;

pub use select::{Filter, Partition, Xfail, XfailEntry};

use crate::api::Api;
use crate::report::Severity;
use crate::schema::Catalog;
use serde_json::Value;
use std::fmt;
use std::path::Path;

/// The format id every suite file starts with.
pub const FORMAT: &str = "vkconform-suite/1";

/// A suite file that failed to load: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct SuiteError {
    /// Path of the file (below `suites/` for built-in suites).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// One suite file.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Where it came from.
    pub file: String,
    /// Which API it checks.
    pub api: Api,
    /// One line about it.
    pub title: String,
    /// Its cases, in file order (generated cases included).
    pub cases: Vec<Case>,
}

/// One conformance case: steps run in order, each with expectations.
#[derive(Debug, Clone)]
pub struct Case {
    /// Unique id, `<api>/<Method or topic>/<what>` (e.g. `openvk/Wall.post/flow`).
    pub id: String,
    /// Which API.
    pub api: Api,
    /// Section (OpenVK section such as `Wall`).
    pub section: String,
    /// What the case proves, in one line.
    pub title: String,
    /// must / should / info.
    pub severity: Severity,
    /// Tags (`read`, `write`, `auth`, `fuzz`, …); `write` is added when any step writes.
    pub tags: Vec<String>,
    /// The seed text the case cites.
    pub cites: String,
    /// What the run must provide for the case to run (else it is skipped).
    pub requires: Vec<Requirement>,
    /// The steps (empty for fuzz cases).
    pub steps: Vec<Step>,
    /// For fuzz cases: the method to fuzz.
    pub fuzz: Option<String>,
    /// `file:line` of the case (or the generating file).
    pub source: String,
}

impl Case {
    /// True when the case carries a tag.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// True when any step changes server state.
    pub fn writes(&self) -> bool {
        self.has_tag("write")
    }
}

/// Something a case needs from the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// An access token (`--token`, `--username/--password`, or the mock).
    Token,
    /// A login and password (`--username/--password`, or the mock).
    Credentials,
    /// Credentials of an account with two-factor authentication (`--code`, or the mock).
    TwoFactor,
    /// The runner's callback receiver (`${callback_url}`, `await_callbacks`); added automatically.
    Callbacks,
}

impl Requirement {
    /// The name used in suite files.
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Token => "token",
            Requirement::Credentials => "credentials",
            Requirement::TwoFactor => "2fa",
            Requirement::Callbacks => "callbacks",
        }
    }
}

/// One step of a case.
#[derive(Debug, Clone)]
pub struct Step {
    /// What to send.
    pub action: Action,
    /// What the answer must look like.
    pub expect: Expect,
    /// Variables taken from the answer: `(name, pointers)`; the first pointer that resolves to a scalar wins.
    pub capture: Vec<(String, Vec<String>)>,
    /// 1-based line of the step in its file (0 for generated steps).
    pub line: usize,
}

/// What a step sends.
#[derive(Debug, Clone)]
pub enum Action {
    /// An API method call: `POST /method/<name>` with form parameters.
    Call(Call),
    /// A `/token` login.
    Login(Login),
    /// A raw HTTP request.
    Request(Request),
    /// Waits for the status callbacks of one Devino message at the runner's
    /// callback receiver (`${callback_url}`) and checks them.
    AwaitCallbacks(AwaitCallbacks),
}

/// An `await_callbacks` step: which message, which statuses, how long.
#[derive(Debug, Clone, PartialEq)]
pub struct AwaitCallbacks {
    /// The message ID (usually `${id}` captured from `result[].messageId`): digits or an integer.
    pub message_id: Value,
    /// The acceptable status sequences, in arrival order (`statuses:` is one,
    /// `any_of:` several); empty: whatever arrives, as long as it is valid.
    pub expected: Vec<Vec<String>>,
    /// Every callback of the message must carry this `callbackData`.
    pub callback_data: Option<Value>,
    /// Longest wait for the expected statuses (or, without any, for the first callback).
    pub timeout_ms: u64,
    /// Extra wait once the expectation is met, to catch statuses that should not follow.
    pub settle_ms: u64,
}

/// An API method call.
#[derive(Debug, Clone)]
pub struct Call {
    /// Method name as it will be written in the URL.
    pub method: String,
    /// Parameters (values may contain `${var}`); `null` values are not sent.
    pub params: Vec<(String, Value)>,
    /// How the access token travels.
    pub token: TokenUse,
    /// `GET` (parameters in the query string) or `POST` (form body, the default).
    pub via: Via,
    /// Whether the call changes state (from the catalog's `kind`, or the step's `write:`).
    pub write: bool,
}

/// How a call carries the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenUse {
    /// The run's token as the `access_token` parameter (when the run has one).
    #[default]
    Default,
    /// No token at all.
    None,
    /// A token the server cannot know.
    Invalid,
    /// The run's token in `Authorization: Bearer`.
    Header,
}

/// How parameters travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// Form body (`application/x-www-form-urlencoded`), as VK clients do.
    #[default]
    Post,
    /// Query string.
    Get,
}

/// A `/token` request.
#[derive(Debug, Clone)]
pub struct Login {
    /// Which account's credentials fill the fields left out.
    pub account: AccountRef,
    /// `username` (`None`: from the account; `Some(None)`: not sent).
    pub username: Option<Option<String>>,
    /// `password`, same rules.
    pub password: Option<Option<String>>,
    /// `code` (2FA), same rules; from the account only for the `2fa` account.
    pub code: Option<Option<String>>,
    /// `grant_type` (default `password`).
    pub grant_type: Option<Option<String>>,
}

/// The credentials a login step uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountRef {
    /// `--username/--password` (the mock's default account).
    #[default]
    Primary,
    /// The 2FA account (`--code` given, or the mock's 2FA account).
    TwoFactor,
}

/// A raw HTTP request (for Devino, OK and anything `call` cannot express).
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path below the target (starts with `/`).
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, Value)>,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// Paced and skipped like a write.
    pub write: bool,
}

/// The body of a raw request.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body.
    None,
    /// A JSON document (`Content-Type: application/json`).
    Json(Value),
    /// Form fields (`application/x-www-form-urlencoded`).
    Form(Vec<(String, Value)>),
    /// Raw text.
    Text(String),
    /// A JSON array of `count` copies of `item`; `${index}` in the item is the
    /// copy's 0-based index, zero-padded to 4 digits (`json_repeat:`).
    Repeat {
        /// How many copies.
        count: usize,
        /// The element (may use `${index}`).
        item: Value,
    },
}

/// What kind of answer a step wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Success: `{"response": …}` (a call) or a token (a login); `schema` = validate it.
    Response {
        /// Validate against the method's (or the given) schema.
        schema: bool,
    },
    /// An API error with one of these codes, in the run's dialect.
    Error(Vec<i64>),
    /// Any JSON body (raw requests).
    Json,
    /// Anything at all (status and headers may still be checked).
    Any,
}

/// Expectations of a step.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Success, error or raw.
    pub outcome: Outcome,
    /// Allowed HTTP statuses (default: per profile and outcome).
    pub status: Option<Vec<u16>>,
    /// Headers that must match a regular expression (name lower-case).
    pub headers: Vec<(String, regex::Regex)>,
    /// A schema (path below `schemas/` with optional `#fragment`) for the value.
    pub schema: Option<String>,
    /// Assertions at JSON pointers.
    pub json: Vec<Assertion>,
    /// Checks over collections (`sorted`, `each`) and alternatives (`any_of`),
    /// evaluated by the runner after the assertions above.
    pub extra: Vec<ExtraCheck>,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            outcome: Outcome::Response { schema: true },
            status: None,
            headers: Vec::new(),
            schema: None,
            json: Vec::new(),
            extra: Vec::new(),
        }
    }
}

/// A check over a whole array, or a choice between groups of assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraCheck {
    /// The array at `at` is ordered by the value at `key` in each element
    /// (`{at: /messages, sorted: {key: /timestamp, order: desc}}`); equal neighbours are allowed.
    Sorted {
        /// Pointer to the array.
        at: String,
        /// Pointer inside each element (`""`: the element itself).
        key: String,
        /// Ascending or descending.
        order: SortOrder,
    },
    /// Every element of the array at `at` satisfies the assertions, whose
    /// pointers are relative to the element (`{at: /messages, each: [...]}`).
    Each {
        /// Pointer to the array.
        at: String,
        /// Assertions applied to each element.
        assertions: Vec<Assertion>,
    },
    /// At least one group of assertions holds entirely (`any_of: [[...], [...]]`).
    AnyOf(Vec<Vec<Assertion>>),
}

/// The order a `sorted` check wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Each element's key ≤ the next one's.
    Asc,
    /// Each element's key ≥ the next one's (newest first).
    Desc,
}

/// One check at a JSON pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// The pointer (`""` is the whole value).
    pub at: String,
    /// The checks (all must hold).
    pub checks: Vec<Check>,
}

/// One check of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Equal (numbers compare by value).
    Equals(Value),
    /// Not equal.
    NotEquals(Value),
    /// One of.
    In(Vec<Value>),
    /// An array with an element that matches (objects: every given field matches).
    Contains(Value),
    /// An array with no matching element.
    NotContains(Value),
    /// A string matching a regular expression.
    Matches(String),
    /// A JSON type (`null`, `boolean`, `integer`, `number`, `string`, `array`, `object`).
    Type(String),
    /// Length of an array, object or string: at least.
    CountMin(u64),
    /// Length: at most.
    CountMax(u64),
    /// Number: at least.
    Min(f64),
    /// Number: at most.
    Max(f64),
    /// Present (true) or absent (false).
    Exists(bool),
}

/// How generated cases are made.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Generate fuzz cases for `generate: fuzz`.
    pub fuzz: bool,
    /// Inputs per fuzz case.
    pub fuzz_cases: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            fuzz: true,
            fuzz_cases: 4,
        }
    }
}

/// Variables every run defines (see `docs/suites.md` §Variables).
pub const BUILTIN_VARS: &[&str] = &[
    "run_id",
    "seed",
    "target",
    "token",
    "username",
    "password",
    "code",
    "twofa_username",
    "twofa_password",
    "devino_key",
    "callback_url",
    "run_digits",
];

/// The variable a `json_repeat` item may use for its index.
pub const INDEX_VAR: &str = "index";

/// Parses one suite file. `file` names it in errors.
pub fn parse(
    file: &str,
    text: &str,
    catalog: &Catalog,
    opts: &GenerateOptions,
) -> Result<Suite, SuiteError> {
    raw::parse(file, text, catalog, opts)
}

/// Loads the suites built into the binary for these APIs, sorted by path.
pub fn load_embedded(
    apis: &[Api],
    catalog: &Catalog,
    opts: &GenerateOptions,
) -> Result<Vec<Suite>, SuiteError> {
    let mut out = Vec::new();
    for (path, bytes) in crate::embedded::files(&crate::embedded::SUITES) {
        if !is_suite_file(&path) {
            continue;
        }
        let api_dir = path.split('/').next().unwrap_or_default();
        if !apis.iter().any(|a| a.as_str() == api_dir) {
            continue;
        }
        let text = std::str::from_utf8(bytes).map_err(|e| SuiteError {
            file: format!("suites/{path}"),
            line: 1,
            column: 1,
            message: format!("not UTF-8: {e}"),
        })?;
        out.push(parse(&format!("suites/{path}"), text, catalog, opts)?);
    }
    Ok(out)
}

/// Loads suite files from disk: each path is a file or a directory (searched recursively for `*.yaml`/`*.yml`).
pub fn load_paths(
    paths: &[std::path::PathBuf],
    catalog: &Catalog,
    opts: &GenerateOptions,
) -> Result<Vec<Suite>, SuiteError> {
    let mut out = Vec::new();
    for p in paths {
        let io_err = |e: std::io::Error| SuiteError {
            file: p.display().to_string(),
            line: 1,
            column: 1,
            message: format!("cannot read: {e}"),
        };
        if p.is_dir() {
            for (rel, bytes) in crate::embedded::files_on_disk(p).map_err(io_err)? {
                if !is_suite_file(&rel) {
                    continue;
                }
                let file = p.join(&rel).display().to_string();
                out.push(parse_bytes(&file, &bytes, catalog, opts)?);
            }
        } else {
            let bytes = std::fs::read(p).map_err(io_err)?;
            out.push(parse_bytes(
                &p.display().to_string(),
                &bytes,
                catalog,
                opts,
            )?);
        }
    }
    Ok(out)
}

fn parse_bytes(
    file: &str,
    bytes: &[u8],
    catalog: &Catalog,
    opts: &GenerateOptions,
) -> Result<Suite, SuiteError> {
    let text = std::str::from_utf8(bytes).map_err(|e| SuiteError {
        file: file.to_string(),
        line: 1,
        column: 1,
        message: format!("not UTF-8: {e}"),
    })?;
    parse(file, text, catalog, opts)
}

fn is_suite_file(path: &str) -> bool {
    let p = Path::new(path);
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Checks that case ids are unique across suites; the error points at the second definition.
pub fn check_unique(suites: &[Suite]) -> Result<(), SuiteError> {
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for s in suites {
        for c in &s.cases {
            if let Some(first) = seen.insert(&c.id, &c.source) {
                let (file, line) = split_source(&c.source);
                return Err(SuiteError {
                    file,
                    line,
                    column: 1,
                    message: format!(
                        "case id `{}` is already defined at {first}; ids must be unique",
                        c.id
                    ),
                });
            }
        }
    }
    Ok(())
}

fn split_source(source: &str) -> (String, usize) {
    match source.rsplit_once(':') {
        Some((f, l)) => match l.parse() {
            Ok(n) => (f.to_string(), n),
            Err(_) => (source.to_string(), 1),
        },
        None => (source.to_string(), 1),
    }
}

/// Every `${name}` (and `${name:-default}`) reference in a string: the names.
pub fn var_refs(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) => {
                let inner = &after[..j];
                let name = inner.split_once(":-").map(|(n, _)| n).unwrap_or(inner);
                out.push(name.to_string());
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// Every variable referenced anywhere inside a JSON value.
pub fn value_var_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.extend(var_refs(s)),
        Value::Array(a) => a.iter().for_each(|x| value_var_refs(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.extend(var_refs(k));
            value_var_refs(x, out)
        }),
        _ => {}
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Response { .. } => f.write_str("a success response"),
            Outcome::Error(codes) if codes.len() == 1 => write!(f, "error {}", codes[0]),
            Outcome::Error(codes) => write!(
                f,
                "one of errors {}",
                codes
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Outcome::Json => f.write_str("a JSON body"),
            Outcome::Any => f.write_str("any answer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_refs_find_names_and_defaults() {
        assert_eq!(
            var_refs("a ${x} b ${env.PEER:-2} ${"),
            vec!["x".to_string(), "env.PEER".to_string()]
        );
    }
}
