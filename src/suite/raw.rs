//! The YAML shape of a suite file and its conversion into [`Suite`]. Structural
//! errors are raised while deserializing (so `serde_norway` attaches the
//! position); checks that need the catalog run afterwards and find their
//! position by looking the offending text up in the file.

use super::*;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Map;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    format: FormatId,
    api: ApiId,
    #[serde(default)]
    title: String,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    generate: OneOrMany<GenerateKind>,
    #[serde(default)]
    cases: Vec<RawCase>,
}

struct FormatId;

impl<'de> Deserialize<'de> for FormatId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == FORMAT {
            Ok(FormatId)
        } else {
            Err(de::Error::custom(format!(
                "unsupported suite format `{s}`; this vkconform reads `{FORMAT}`"
            )))
        }
    }
}

struct ApiId(Api);

impl<'de> Deserialize<'de> for ApiId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Api::parse(&s).map(ApiId).ok_or_else(|| {
            de::Error::custom(format!("unknown api `{s}`; use openvk, devino or ok"))
        })
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum GenerateKind {
    Coverage,
    Fuzz,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T: Clone> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    severity: Option<Severity>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    requires: Vec<RawRequirement>,
}

#[derive(Deserialize, Clone, Copy)]
enum RawRequirement {
    #[serde(rename = "token")]
    Token,
    #[serde(rename = "credentials")]
    Credentials,
    #[serde(rename = "2fa")]
    TwoFactor,
}

impl From<RawRequirement> for Requirement {
    fn from(r: RawRequirement) -> Self {
        match r {
            RawRequirement::Token => Requirement::Token,
            RawRequirement::Credentials => Requirement::Credentials,
            RawRequirement::TwoFactor => Requirement::TwoFactor,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    id: CaseId,
    #[serde(default)]
    title: String,
    severity: Option<Severity>,
    #[serde(default)]
    tags: Vec<String>,
    cites: Option<String>,
    section: Option<String>,
    #[serde(default)]
    requires: Vec<RawRequirement>,
    steps: Vec<ParsedStep>,
}

struct CaseId(String);

impl<'de> Deserialize<'de> for CaseId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = s.split('/').count() >= 2
            && s.split('/').all(|seg| !seg.is_empty())
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c == '\'' || c == '"');
        if ok {
            Ok(CaseId(s))
        } else {
            Err(de::Error::custom(format!("case id `{s}` must look like `<api>/<Method or topic>/<what>`: segments separated by `/`, no spaces or quotes")))
        }
    }
}

/// A step after structural validation (catalog checks come later).
#[derive(Debug)]
struct ParsedStep {
    action: Action,
    write: Option<bool>,
    expect: Expect,
    expect_given: bool,
    capture: Vec<(String, Vec<String>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    call: Option<String>,
    params: Option<Map<String, Value>>,
    token: Option<RawToken>,
    via: Option<RawVia>,
    write: Option<bool>,
    login: Option<RawLogin>,
    request: Option<RawRequest>,
    await_callbacks: Option<RawAwait>,
    expect: Option<RawExpect>,
    #[serde(default)]
    capture: Map<String, Value>,
}

/// `await_callbacks:` (see `docs/suites.md` §3).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAwait {
    #[serde(deserialize_with = "some_value")]
    message_id: Option<Value>,
    statuses: Option<Vec<String>>,
    any_of: Option<Vec<Vec<String>>>,
    #[serde(default, deserialize_with = "some_value")]
    callback_data: Option<Value>,
    #[serde(default = "default_await_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    settle_ms: u64,
}

fn default_await_timeout() -> u64 {
    10_000
}

/// The statuses `callback.status.json` allows (a typo would wait for a status that never comes).
const CALLBACK_STATUSES: &[&str] = &[
    "SENT",
    "DELIVERED",
    "UNDELIVERABLE",
    "EXPIRED",
    "RATELIMIT",
    "READ",
    "UNKNOWN",
];

fn convert_await(a: RawAwait) -> Result<AwaitCallbacks, String> {
    let message_id = match a.message_id {
        Some(v @ (Value::String(_) | Value::Number(_))) => v,
        _ => return Err("`await_callbacks.message_id` is the message ID: digits, or a captured variable such as \"${id}\"".into()),
    };
    let expected =
        match (a.statuses, a.any_of) {
            (Some(_), Some(_)) => return Err(
                "`await_callbacks` takes `statuses` (one sequence) or `any_of` (several), not both"
                    .into(),
            ),
            (Some(s), None) => vec![s],
            (None, Some(alts)) => alts,
            (None, None) => Vec::new(),
        };
    for seq in &expected {
        if seq.is_empty() {
            return Err("an expected status sequence needs at least one status".into());
        }
        for st in seq {
            if !CALLBACK_STATUSES.contains(&st.as_str()) {
                return Err(format!(
                    "`{st}` is not a Devino status; use {}",
                    CALLBACK_STATUSES.join(", ")
                ));
            }
        }
    }
    if a.timeout_ms == 0 || a.timeout_ms > 600_000 {
        return Err(format!(
            "`timeout_ms: {}` must be between 1 and 600000",
            a.timeout_ms
        ));
    }
    if a.settle_ms > 60_000 {
        return Err(format!(
            "`settle_ms: {}` must be at most 60000",
            a.settle_ms
        ));
    }
    Ok(AwaitCallbacks {
        message_id,
        expected,
        callback_data: a.callback_data,
        timeout_ms: a.timeout_ms,
        settle_ms: a.settle_ms,
    })
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawToken {
    Default,
    None,
    Invalid,
    Header,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawVia {
    Post,
    Get,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    #[serde(default)]
    account: Option<String>,
    #[serde(default, deserialize_with = "field")]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "field")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "field")]
    code: Option<Option<String>>,
    #[serde(default, deserialize_with = "field")]
    grant_type: Option<Option<String>>,
}

/// A login field: a string, or `false` to leave the field out.
fn field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(false) | Value::Null => Ok(Some(None)),
        Value::String(s) => Ok(Some(Some(s))),
        Value::Number(n) => Ok(Some(Some(n.to_string()))),
        other => Err(de::Error::custom(format!(
            "a login field is a string, or false to leave it out; got {other}"
        ))),
    }
}

fn some_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    #[serde(default = "get")]
    method: String,
    path: String,
    #[serde(default)]
    query: Map<String, Value>,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default, deserialize_with = "some_value")]
    json: Option<Value>,
    form: Option<Map<String, Value>>,
    text: Option<String>,
    json_repeat: Option<RawRepeat>,
}

/// `json_repeat: {count, item}`: a JSON array of `count` copies of `item`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepeat {
    count: usize,
    item: Value,
}

/// Most copies `json_repeat` makes.
const MAX_REPEAT: usize = 10_000;

fn get() -> String {
    "GET".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    response: Option<String>,
    error: Option<OneOrMany<i64>>,
    body: Option<String>,
    status: Option<OneOrMany<u16>>,
    #[serde(default)]
    headers: Map<String, Value>,
    schema: Option<String>,
    #[serde(default)]
    json: Vec<RawAssertion>,
    any_of: Option<Vec<Vec<RawAssertion>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSorted {
    #[serde(default)]
    key: String,
    order: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssertion {
    at: String,
    #[serde(default, deserialize_with = "some_value")]
    equals: Option<Value>,
    #[serde(default, deserialize_with = "some_value")]
    not_equals: Option<Value>,
    #[serde(rename = "in")]
    one_of: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "some_value")]
    contains: Option<Value>,
    #[serde(default, deserialize_with = "some_value")]
    not_contains: Option<Value>,
    matches: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    count: Option<RawCount>,
    min: Option<f64>,
    max: Option<f64>,
    exists: Option<bool>,
    sorted: Option<RawSorted>,
    each: Option<Vec<RawAssertion>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCount {
    Exact(u64),
    Range {
        #[serde(default)]
        min: Option<u64>,
        #[serde(default)]
        max: Option<u64>,
    },
}

fn check_pointer(p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(format!("`{p}` is not a JSON pointer: use \"\" for the whole value or start with `/` (e.g. `/items/0/id`)"))
    }
}

impl<'de> Deserialize<'de> for ParsedStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawStep::deserialize(d)?;
        convert_step(raw).map_err(de::Error::custom)
    }
}

fn convert_step(raw: RawStep) -> Result<ParsedStep, String> {
    let kinds = [
        raw.call.is_some(),
        raw.login.is_some(),
        raw.request.is_some(),
        raw.await_callbacks.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if kinds != 1 {
        return Err(
            "a step has exactly one of `call:`, `login:`, `request:` or `await_callbacks:`".into(),
        );
    }
    if let Some(a) = raw.await_callbacks {
        if raw.params.is_some()
            || raw.token.is_some()
            || raw.via.is_some()
            || raw.write.is_some()
            || raw.expect.is_some()
            || !raw.capture.is_empty()
        {
            return Err("`await_callbacks:` takes its checks inside (message_id, statuses or any_of, callback_data, timeout_ms, settle_ms); `params`, `token`, `via`, `write`, `expect` and `capture` belong to other steps".into());
        }
        return Ok(ParsedStep {
            action: Action::AwaitCallbacks(convert_await(a)?),
            write: None,
            expect: Expect {
                outcome: Outcome::Any,
                ..Expect::default()
            },
            expect_given: false,
            capture: Vec::new(),
        });
    }
    let mut capture = Vec::new();
    for (name, v) in &raw.capture {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "capture name `{name}` must be letters, digits and `_`"
            ));
        }
        if BUILTIN_VARS.contains(&name.as_str()) {
            return Err(format!(
                "capture name `{name}` is a built-in variable; choose another name"
            ));
        }
        let ptrs: Vec<String> = match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => {
                return Err(format!(
                    "capture `{name}` must be a JSON pointer or a list of pointers"
                ))
            }
        };
        for p in &ptrs {
            check_pointer(p)?;
        }
        capture.push((name.clone(), ptrs));
    }
    let expect_given = raw.expect.is_some();
    let is_request = raw.request.is_some();
    let expect = convert_expect(raw.expect.unwrap_or_default(), is_request)?;
    let action = if let Some(method) = raw.call {
        if method.trim().is_empty() || method.contains('/') || method.contains('?') {
            return Err(format!(
                "`call: {method}` must be a method name such as `Users.get`"
            ));
        }
        if raw.login.is_some() {
            unreachable!()
        }
        Action::Call(Call {
            method,
            params: raw.params.unwrap_or_default().into_iter().collect(),
            token: match raw.token.unwrap_or(RawToken::Default) {
                RawToken::Default => TokenUse::Default,
                RawToken::None => TokenUse::None,
                RawToken::Invalid => TokenUse::Invalid,
                RawToken::Header => TokenUse::Header,
            },
            via: match raw.via.unwrap_or(RawVia::Post) {
                RawVia::Post => Via::Post,
                RawVia::Get => Via::Get,
            },
            write: false,
        })
    } else if let Some(l) = raw.login {
        if raw.params.is_some() || raw.token.is_some() || raw.via.is_some() {
            return Err("`params`, `token` and `via` belong to `call:` steps; a login takes `login: {username, password, code, grant_type}`".into());
        }
        let account = match l.account.as_deref() {
            None | Some("primary") => AccountRef::Primary,
            Some("2fa") => AccountRef::TwoFactor,
            Some(other) => {
                return Err(format!("login account `{other}` is not `primary` or `2fa`"))
            }
        };
        Action::Login(Login {
            account,
            username: l.username,
            password: l.password,
            code: l.code,
            grant_type: l.grant_type,
        })
    } else {
        let r = raw.request.expect("checked above");
        if raw.params.is_some() || raw.token.is_some() || raw.via.is_some() {
            return Err("`params`, `token` and `via` belong to `call:` steps; a request takes `query`, `headers`, `json`, `form` or `text`".into());
        }
        let method = r.method.to_ascii_uppercase();
        if !matches!(
            method.as_str(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS"
        ) {
            return Err(format!(
                "request method `{}` is not an HTTP method",
                r.method
            ));
        }
        if !r.path.starts_with('/') {
            return Err(format!(
                "request path `{}` must start with `/` (it is appended to the target)",
                r.path
            ));
        }
        let bodies = [
            r.json.is_some(),
            r.form.is_some(),
            r.text.is_some(),
            r.json_repeat.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if bodies > 1 {
            return Err(
                "a request has at most one of `json`, `form`, `text` and `json_repeat`".into(),
            );
        }
        let body = if let Some(rep) = r.json_repeat {
            if rep.count == 0 || rep.count > MAX_REPEAT {
                return Err(format!(
                    "`json_repeat.count: {}` must be between 1 and {MAX_REPEAT}",
                    rep.count
                ));
            }
            Body::Repeat {
                count: rep.count,
                item: rep.item,
            }
        } else if let Some(j) = r.json {
            Body::Json(j)
        } else if let Some(f) = r.form {
            Body::Form(f.into_iter().collect())
        } else if let Some(t) = r.text {
            Body::Text(t)
        } else {
            Body::None
        };
        let mut headers = Vec::new();
        for (k, v) in r.headers {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                other => return Err(format!("header `{k}` must be a string, not {other}")),
            };
            headers.push((k, v));
        }
        Action::Request(Request {
            method,
            path: r.path,
            query: r.query.into_iter().collect(),
            headers,
            body,
            write: raw.write.unwrap_or(false),
        })
    };
    Ok(ParsedStep {
        action,
        write: raw.write,
        expect,
        expect_given,
        capture,
    })
}

fn convert_expect(raw: RawExpect, is_request: bool) -> Result<Expect, String> {
    let given = [
        raw.response.is_some(),
        raw.error.is_some(),
        raw.body.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given > 1 {
        return Err("`expect` takes at most one of `response`, `error` and `body`".into());
    }
    let outcome = if let Some(r) = raw.response {
        match r.as_str() {
            "schema" => Outcome::Response { schema: true },
            "any" => Outcome::Response { schema: false },
            other => return Err(format!("`response: {other}`: use `schema` (success, valid against the schema) or `any` (success of any shape)")),
        }
    } else if let Some(e) = raw.error {
        let codes = e.into_vec();
        if codes.is_empty() {
            return Err("`error:` needs at least one code".into());
        }
        Outcome::Error(codes)
    } else if let Some(b) = raw.body {
        match b.as_str() {
            "json" => Outcome::Json,
            "any" => Outcome::Any,
            other => {
                return Err(format!(
                    "`body: {other}`: use `json` (any JSON document) or `any` (anything)"
                ))
            }
        }
    } else if is_request {
        Outcome::Json
    } else {
        Outcome::Response { schema: true }
    };
    let mut headers = Vec::new();
    for (k, v) in raw.headers {
        let Value::String(pattern) = v else {
            return Err(format!(
                "expected header `{k}` must be a regular expression string"
            ));
        };
        let re = regex::Regex::new(&pattern)
            .map_err(|e| format!("header `{k}`: `{pattern}` is not a regular expression: {e}"))?;
        headers.push((k.to_ascii_lowercase(), re));
    }
    if let Some(s) = &raw.schema {
        if s.starts_with("http://")
            || s.starts_with("https://") && !s.starts_with(crate::schema::BASE_URI)
        {
            return Err(format!(
                "schema `{s}` must be a path below schemas/ (no network fetching)"
            ));
        }
    }
    let (json, mut extra) = convert_assertions(raw.json, true)?;
    if let Some(groups) = raw.any_of {
        if groups.len() < 2 {
            return Err("`any_of:` lists at least two groups of assertions, e.g. `any_of: [[{at: /code, equals: x}], [{at: /result/0/code, equals: y}]]`".into());
        }
        let mut alts = Vec::new();
        for g in groups {
            if g.is_empty() {
                return Err("an `any_of` group needs at least one assertion".into());
            }
            alts.push(convert_assertions(g, false)?.0);
        }
        extra.push(ExtraCheck::AnyOf(alts));
    }
    let status = raw.status.map(OneOrMany::into_vec);
    Ok(Expect {
        outcome,
        status,
        headers,
        schema: raw.schema,
        json,
        extra,
    })
}

/// Converts assertions; `sorted` and `each` become [`ExtraCheck`]s (only at
/// the top level: `nested` is false inside `each` and `any_of`).
fn convert_assertions(
    raw: Vec<RawAssertion>,
    top: bool,
) -> Result<(Vec<Assertion>, Vec<ExtraCheck>), String> {
    let mut json = Vec::new();
    let mut extra = Vec::new();
    for mut a in raw {
        check_pointer(&a.at)?;
        let sorted = a.sorted.take();
        let each = a.each.take();
        let has_extra = sorted.is_some() || each.is_some();
        if !top && (sorted.is_some() || each.is_some()) {
            return Err(format!(
                "the assertion at `{}`: `sorted` and `each` cannot be nested inside `each` or `any_of`",
                a.at
            ));
        }
        if let Some(srt) = sorted {
            check_pointer(&srt.key)?;
            let order = match srt.order.as_str() {
                "asc" => SortOrder::Asc,
                "desc" => SortOrder::Desc,
                other => return Err(format!("`sorted.order: {other}`: use `asc` or `desc`")),
            };
            extra.push(ExtraCheck::Sorted {
                at: a.at.clone(),
                key: srt.key,
                order,
            });
        }
        if let Some(items) = each {
            if items.is_empty() {
                return Err(format!("`each` at `{}` needs at least one assertion", a.at));
            }
            extra.push(ExtraCheck::Each {
                at: a.at.clone(),
                assertions: convert_assertions(items, false)?.0,
            });
        }
        if let Some(x) = convert_checks(a, has_extra)? {
            json.push(x);
        }
    }
    Ok((json, extra))
}

/// The plain checks of one assertion (`None` when it has only `sorted`/`each`).
fn convert_checks(a: RawAssertion, has_extra: bool) -> Result<Option<Assertion>, String> {
    let mut checks = Vec::new();
    if let Some(v) = a.equals {
        checks.push(Check::Equals(v));
    }
    if let Some(v) = a.not_equals {
        checks.push(Check::NotEquals(v));
    }
    if let Some(v) = a.one_of {
        checks.push(Check::In(v));
    }
    if let Some(v) = a.contains {
        checks.push(Check::Contains(v));
    }
    if let Some(v) = a.not_contains {
        checks.push(Check::NotContains(v));
    }
    if let Some(m) = a.matches {
        regex::Regex::new(&m)
            .map_err(|e| format!("`matches: {m}` is not a regular expression: {e}"))?;
        checks.push(Check::Matches(m));
    }
    if let Some(t) = a.type_ {
        if !matches!(
            t.as_str(),
            "null" | "boolean" | "integer" | "number" | "string" | "array" | "object"
        ) {
            return Err(format!(
                "`type: {t}`: use null, boolean, integer, number, string, array or object"
            ));
        }
        checks.push(Check::Type(t));
    }
    match a.count {
        Some(RawCount::Exact(n)) => {
            checks.push(Check::CountMin(n));
            checks.push(Check::CountMax(n));
        }
        Some(RawCount::Range { min, max }) => {
            if min.is_none() && max.is_none() {
                return Err("`count:` is a number or `{min: N, max: M}`".into());
            }
            if let Some(m) = min {
                checks.push(Check::CountMin(m));
            }
            if let Some(m) = max {
                checks.push(Check::CountMax(m));
            }
        }
        None => {}
    }
    if let Some(m) = a.min {
        checks.push(Check::Min(m));
    }
    if let Some(m) = a.max {
        checks.push(Check::Max(m));
    }
    if let Some(e) = a.exists {
        checks.push(Check::Exists(e));
    }
    if checks.is_empty() {
        if has_extra {
            return Ok(None);
        }
        return Err(format!("the assertion at `{}` checks nothing: add equals, not_equals, in, contains, not_contains, matches, type, count, min, max, exists, sorted or each", a.at));
    }
    Ok(Some(Assertion { at: a.at, checks }))
}

/// Parses and checks one file.
pub(super) fn parse(
    file: &str,
    text: &str,
    catalog: &Catalog,
    opts: &GenerateOptions,
) -> Result<Suite, SuiteError> {
    let raw: RawFile = serde_norway::from_str(text).map_err(|e| yaml_error(file, text, &e))?;
    let api = raw.api.0;
    let _ = raw.format;
    let mut cases = Vec::new();
    let mut search_from = 0usize;
    for rc in raw.cases {
        let id = rc.id.0;
        let line = find_line(text, search_from, |l| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            t.starts_with("id:") && t[3..].trim().trim_matches(|c| c == '"' || c == '\'') == id
        })
        .unwrap_or(search_from + 1);
        search_from = line;
        let at = |needle: &str| -> (usize, usize) {
            // Position of the first occurrence of `needle` at or after the case's line.
            let start = line_offset(text, line);
            match text[start..].find(needle) {
                Some(i) => line_col(text, start + i),
                None => (line, 1),
            }
        };
        let err = |(l, c): (usize, usize), message: String| SuiteError {
            file: file.to_string(),
            line: l,
            column: c,
            message,
        };
        if !id.starts_with(&format!("{}/", api.as_str())) {
            return Err(err(
                (line, 1),
                format!(
                    "case id `{id}` must start with `{}/` (the suite's api)",
                    api.as_str()
                ),
            ));
        }
        if rc.steps.is_empty() {
            return Err(err((line, 1), format!("case `{id}` has no steps")));
        }
        let mut steps = Vec::new();
        let mut known: Vec<String> = BUILTIN_VARS.iter().map(|s| s.to_string()).collect();
        let mut writes = false;
        let mut uses_token = false;
        let mut uses_callbacks = false;
        let mut first_method: Option<String> = None;
        let mut step_search = line;
        for ps in rc.steps {
            let step_line = find_line(text, step_search, |l| {
                let t = l.trim_start();
                t.starts_with("- call:")
                    || t.starts_with("- login:")
                    || t.starts_with("- request:")
                    || t.starts_with("- await_callbacks:")
                    || t.starts_with("- capture:")
                    || t.starts_with("- expect:")
            })
            .unwrap_or(step_search);
            step_search = step_line;
            let mut action = ps.action;
            // Variables used by this step must be defined by now.
            let mut refs = Vec::new();
            collect_action_refs(&action, &mut refs);
            collect_expect_refs(&ps.expect, &mut refs);
            for r in &refs {
                if !known.contains(r) && !r.starts_with("env.") {
                    let pos = at(&format!("${{{r}"));
                    return Err(err(pos, format!("variable `{r}` is not defined here: capture it in an earlier step (`capture: {{{r}: /pointer}}`) or use a built-in ({})", BUILTIN_VARS.join(", "))));
                }
                if r.starts_with("env.") && !r["env.".len()..].starts_with("VKCONFORM_") {
                    let pos = at(&format!("${{{r}"));
                    return Err(err(
                        pos,
                        format!(
                            "`${{{r}}}`: only environment variables named VKCONFORM_* can be read"
                        ),
                    ));
                }
            }
            if refs.iter().any(|r| r == "token") {
                uses_token = true;
            }
            if refs.iter().any(|r| r == "callback_url")
                || matches!(action, Action::AwaitCallbacks(_))
            {
                uses_callbacks = true;
            }
            match &mut action {
                Action::Call(call) => {
                    let spec = catalog
                        .method(api, &call.method)
                        .filter(|m| m.name != "token");
                    match spec {
                        Some(spec) => {
                            call.write =
                                ps.write.unwrap_or(spec.kind == crate::schema::Kind::Write);
                            if matches!(call.token, TokenUse::Default | TokenUse::Header)
                                && (spec.auth || spec.auth_real == Some(true))
                            {
                                uses_token = true;
                            }
                            if first_method.is_none() {
                                first_method = Some(spec.name.clone());
                            }
                        }
                        None => {
                            if !matches!(ps.expect.outcome, Outcome::Error(_)) {
                                let pos = at(&call.method);
                                return Err(err(
                                    pos,
                                    format!(
                                        "`{}` is not a method of the {} catalog (schemas/{}/methods); fix the name, or expect an error (`expect: {{error: 3}}`) to test an unknown method",
                                        call.method,
                                        api.as_str(),
                                        api.as_str()
                                    ),
                                ));
                            }
                            call.write = ps.write.unwrap_or(false);
                        }
                    }
                    if call.write {
                        writes = true;
                    }
                }
                Action::Login(_) => {
                    if first_method.is_none() {
                        first_method = Some("token".into());
                    }
                }
                Action::Request(r) => {
                    if r.write {
                        writes = true;
                    }
                }
                Action::AwaitCallbacks(_) => {}
            }
            if let Some(s) = &ps.expect.schema {
                if catalog.validator(&catalog.absolute(s)).is_err() {
                    let pos = at(s);
                    return Err(err(pos, format!("schema `{s}` is not in the catalog (a path below schemas/, e.g. `openvk/token.json#/$defs/response`)")));
                }
            }
            let _ = ps.expect_given;
            for (name, _) in &ps.capture {
                known.push(name.clone());
            }
            steps.push(Step {
                action,
                expect: ps.expect,
                capture: ps.capture,
                line: step_line,
            });
        }
        let mut tags: Vec<String> = raw.defaults.tags.clone();
        for t in rc.tags {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let auto = if writes { "write" } else { "read" };
        if !tags.iter().any(|t| t == auto) {
            tags.push(auto.to_string());
        }
        if writes {
            tags.retain(|t| t != "read");
        }
        let mut requires: Vec<Requirement> = raw
            .defaults
            .requires
            .iter()
            .chain(rc.requires.iter())
            .map(|r| (*r).into())
            .collect();
        if uses_token && !requires.contains(&Requirement::Token) {
            requires.push(Requirement::Token);
        }
        if uses_callbacks && !requires.contains(&Requirement::Callbacks) {
            requires.push(Requirement::Callbacks);
        }
        requires.dedup();
        if requires.contains(&Requirement::Token) && !tags.iter().any(|t| t == "auth") {
            tags.push("auth".into());
        }
        let cites = match rc.cites {
            Some(c) => c,
            None => match first_method.as_deref() {
                Some("token") => catalog
                    .method(api, "token")
                    .map(|m| m.citation())
                    .unwrap_or_default(),
                Some(m) => catalog
                    .method(api, m)
                    .map(|m| m.citation())
                    .unwrap_or_default(),
                None => String::new(),
            },
        };
        if cites.is_empty() {
            return Err(err(
                (line, 1),
                format!("case `{id}` cites nothing: add `cites: \"<seed file> §<section>\"`"),
            ));
        }
        let section = rc.section.unwrap_or_else(|| section_of(&id));
        cases.push(Case {
            title: if rc.title.is_empty() {
                id.clone()
            } else {
                rc.title
            },
            id,
            api,
            section,
            severity: rc.severity.or(raw.defaults.severity).unwrap_or_default(),
            tags,
            cites,
            requires,
            steps,
            fuzz: None,
            source: format!("{file}:{line}"),
        });
    }
    for g in raw.generate.into_vec() {
        match g {
            GenerateKind::Coverage => cases.extend(coverage::coverage_cases(catalog, api, file)),
            GenerateKind::Fuzz => {
                if opts.fuzz {
                    cases.extend(coverage::fuzz_cases(catalog, api, file))
                }
            }
        }
    }
    Ok(Suite {
        file: file.to_string(),
        api,
        title: raw.title,
        cases,
    })
}

/// The section a case id names: `openvk/Wall.post/flow` → `Wall`.
pub(crate) fn section_of(id: &str) -> String {
    let seg = id.split('/').nth(1).unwrap_or(id);
    seg.split('.').next().unwrap_or(seg).to_string()
}

fn collect_action_refs(a: &Action, out: &mut Vec<String>) {
    match a {
        Action::Call(c) => {
            out.extend(var_refs(&c.method));
            for (k, v) in &c.params {
                out.extend(var_refs(k));
                value_var_refs(v, out);
            }
        }
        Action::Login(l) => {
            for s in [&l.username, &l.password, &l.code, &l.grant_type]
                .into_iter()
                .flatten()
                .flatten()
            {
                out.extend(var_refs(s));
            }
        }
        Action::Request(r) => {
            out.extend(var_refs(&r.path));
            for (k, v) in &r.query {
                out.extend(var_refs(k));
                value_var_refs(v, out);
            }
            for (_, v) in &r.headers {
                out.extend(var_refs(v));
            }
            match &r.body {
                Body::Json(v) => value_var_refs(v, out),
                Body::Form(f) => f.iter().for_each(|(_, v)| value_var_refs(v, out)),
                Body::Text(t) => out.extend(var_refs(t)),
                Body::Repeat { item, .. } => {
                    let mut inner = Vec::new();
                    value_var_refs(item, &mut inner);
                    out.extend(inner.into_iter().filter(|r| r != INDEX_VAR));
                }
                Body::None => {}
            }
        }
        Action::AwaitCallbacks(a) => {
            value_var_refs(&a.message_id, out);
            if let Some(d) = &a.callback_data {
                value_var_refs(d, out);
            }
        }
    }
}

fn collect_expect_refs(e: &Expect, out: &mut Vec<String>) {
    collect_assertion_refs(&e.json, out);
    for x in &e.extra {
        match x {
            ExtraCheck::Sorted { .. } => {}
            ExtraCheck::Each { assertions, .. } => collect_assertion_refs(assertions, out),
            ExtraCheck::AnyOf(groups) => groups.iter().for_each(|g| collect_assertion_refs(g, out)),
        }
    }
}

fn collect_assertion_refs(assertions: &[Assertion], out: &mut Vec<String>) {
    for a in assertions {
        for c in &a.checks {
            match c {
                Check::Equals(v)
                | Check::NotEquals(v)
                | Check::Contains(v)
                | Check::NotContains(v) => value_var_refs(v, out),
                Check::In(vs) => vs.iter().for_each(|v| value_var_refs(v, out)),
                Check::Matches(s) => out.extend(var_refs(s)),
                _ => {}
            }
        }
    }
}

fn yaml_error(file: &str, text: &str, e: &serde_norway::Error) -> SuiteError {
    let (mut line, mut column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let mut message = e.to_string();
    // serde_norway appends " at line L column C"; the location is already in front.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    // One line: multi-line causes (regex errors) are joined.
    let message = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "^")
        .collect::<Vec<_>>()
        .join(" ");
    // Errors raised by our own checks point at the start of the enclosing mapping:
    // move to the offending value the message quotes in backticks, when it follows closely.
    if let Some(quoted) = message.split('`').nth(1).filter(|q| !q.is_empty()) {
        let start = e.location().map(|l| l.index()).unwrap_or(0).min(text.len());
        let window_end = text[start..]
            .match_indices('\n')
            .nth(20)
            .map(|(i, _)| start + i)
            .unwrap_or(text.len());
        if let Some(i) = text
            .get(start..window_end)
            .and_then(|w| find_token(w, quoted))
        {
            (line, column) = line_col(text, start + i);
        }
    }
    SuiteError {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// The first occurrence of `needle` not inside a longer word.
fn find_token(hay: &str, needle: &str) -> Option<usize> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    hay.match_indices(needle).map(|(i, _)| i).find(|&i| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// The first 1-based line at or after line `from + 1` that satisfies `pred`.
fn find_line(text: &str, from: usize, pred: impl Fn(&str) -> bool) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| pred(l))
        .map(|(i, _)| i + 1)
}

fn line_offset(text: &str, line: usize) -> usize {
    text.split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum()
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}
