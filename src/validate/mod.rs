//! Stage 4: turns one HTTP answer into [`Finding`]s. Checks the transport
//! (HTTP status and `Content-Type` per profile, empty, HTML, truncated or
//! non-JSON bodies), the envelope (`{"response": …}` or an error in the
//! profile's dialect), error codes, the method's response schema, the
//! suite's JSON-pointer expectations, and secrets echoed back.
//!
//! Nothing here sends requests or knows about the runner: it reads an
//! [`HttpAnswer`] and a [`Context`] and returns a [`Checked`].
//!
//! ```
//! use vkconform::validate::{self, Context, HttpAnswer, StepKind};
//! use vkconform::suite::{Expect, Outcome};
//! let catalog = vkconform::schema::Catalog::shared().unwrap();
//! let expect = Expect { outcome: Outcome::Error(vec![5]), ..Expect::default() };
//! let ctx = Context::new(&catalog, vkconform::api::Profile::Openvk, StepKind::Call(None), &expect);
//! let answer = HttpAnswer::json(200, br#"{"response": 1}"#);
//! let checked = validate::check_answer(&ctx, &answer);
//! assert!(checked.findings.iter().any(|f| f.rule == "error-code"));
//! ```

use crate::api::Profile;
use crate::report::{Finding, Severity};
use crate::schema::{Catalog, MethodSpec, Violation};
use crate::suite::{Assertion, Check, Expect, Outcome};
use crate::vk::{classify, envelope::kind, Answer};
use base64::Engine;
use serde_json::Value;

/// Rule ids used in findings (stable: reports and CI filters rely on them).
pub mod rules {
    /// The body has neither `{"response": …}` nor an error.
    pub const ENVELOPE: &str = "envelope";
    /// The result does not match the method's response schema.
    pub const SCHEMA: &str = "schema";
    /// An error body does not match the profile's error schema.
    pub const ERROR_SCHEMA: &str = "error-schema";
    /// Wrong error code, or success/error when the other was required.
    pub const ERROR_CODE: &str = "error-code";
    /// An error in the other profile's dialect.
    pub const ERROR_DIALECT: &str = "error-dialect";
    /// Unexpected HTTP status.
    pub const HTTP_STATUS: &str = "http-status";
    /// Unexpected `Content-Type`.
    pub const CONTENT_TYPE: &str = "content-type";
    /// A header the suite expects is missing or different.
    pub const HEADER: &str = "header";
    /// The body is not JSON (HTML, text, …).
    pub const NOT_JSON: &str = "not-json";
    /// The body is empty.
    pub const EMPTY_BODY: &str = "empty-body";
    /// The body ended early.
    pub const TRUNCATED: &str = "truncated";
    /// The body was larger than vkconform reads.
    pub const TOO_LARGE: &str = "too-large";
    /// No answer within `--timeout`.
    pub const TIMEOUT: &str = "timeout";
    /// Connection failed.
    pub const TRANSPORT: &str = "transport";
    /// The server answered with a redirect (not followed, so no secret leaves the target).
    pub const REDIRECT: &str = "redirect";
    /// A secret the runner sent came back in the answer.
    pub const SECRET_ECHO: &str = "secret-echo";
    /// A suite expectation (JSON pointer check) failed.
    pub const EXPECT: &str = "expect";
    /// A capture found nothing at its pointer.
    pub const CAPTURE: &str = "capture";
    /// The suite could not be executed as written (unknown variable, …).
    pub const SUITE: &str = "suite";
}

/// An HTTP answer as the runner received it.
#[derive(Debug, Clone, Default)]
pub struct HttpAnswer {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body bytes received (at most the runner's limit).
    pub body: Vec<u8>,
    /// Set when reading the body failed part-way (connection closed, …).
    pub body_error: Option<String>,
    /// Set when the body was cut at the runner's size limit.
    pub too_large: bool,
}

impl HttpAnswer {
    /// A JSON answer (for tests and examples).
    pub fn json(status: u16, body: &[u8]) -> HttpAnswer {
        HttpAnswer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_vec(),
            ..HttpAnswer::default()
        }
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What kind of step produced the answer.
#[derive(Debug, Clone, Copy)]
pub enum StepKind<'a> {
    /// `/method/<name>`; the method's spec when the catalog knows it.
    Call(Option<&'a MethodSpec>),
    /// `/token`.
    Login,
    /// A raw request.
    Request,
}

/// A secret the runner sent (values never appear in findings).
#[derive(Debug, Clone)]
pub struct Secret {
    /// What it is, for messages (`the access token`, `the password`, …).
    pub label: String,
    /// The value.
    pub value: String,
}

/// Everything the checks need besides the answer.
pub struct Context<'a> {
    /// The schema catalog.
    pub catalog: &'a Catalog,
    /// The error dialect the run expects.
    pub profile: Profile,
    /// Which kind of step.
    pub kind: StepKind<'a>,
    /// The step's expectations (variables already substituted).
    pub expect: &'a Expect,
    /// The case's severity (findings are never more severe).
    pub severity: Severity,
    /// Secrets to look for.
    pub secrets: &'a [Secret],
    /// Index of the step (for findings).
    pub step: Option<usize>,
}

impl<'a> Context<'a> {
    /// A context with `must` severity, no secrets and no step index.
    pub fn new(
        catalog: &'a Catalog,
        profile: Profile,
        kind: StepKind<'a>,
        expect: &'a Expect,
    ) -> Context<'a> {
        Context {
            catalog,
            profile,
            kind,
            expect,
            severity: Severity::Must,
            secrets: &[],
            step: None,
        }
    }

    fn finding(&self, rule: &str, rule_severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity: rule_severity.max(self.severity),
            message: message.into(),
            pointer: None,
            schema_path: None,
            expected: None,
            actual: None,
            hint: None,
            step: self.step,
        }
    }
}

/// What the checks found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// The parsed body, when it was JSON.
    pub body: Option<Value>,
    /// The value pointers and captures apply to: the result inside
    /// `{"response": …}`, the error object, or the whole body of a raw request/login.
    pub value: Option<Value>,
    /// The API error, when the answer was one.
    pub error_code: Option<i64>,
    /// Problems found.
    pub findings: Vec<Finding>,
    /// True when later steps of the case cannot meaningfully run.
    pub fatal: bool,
}

trait FindingExt {
    fn at(self, pointer: impl Into<String>) -> Self;
    fn expected(self, e: impl Into<String>) -> Self;
    fn actual(self, a: impl Into<String>) -> Self;
    fn hint(self, h: impl Into<String>) -> Self;
}

impl FindingExt for Finding {
    fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }
    fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }
    fn actual(mut self, a: impl Into<String>) -> Self {
        self.actual = Some(a.into());
        self
    }
    fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
}

/// A short, printable excerpt of a value (at most 200 characters).
pub fn excerpt(v: &Value) -> String {
    clip(&v.to_string(), 200)
}

fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// Finding for a request that got no answer in time.
pub fn timeout_finding(severity: Severity, step: Option<usize>, timeout_ms: u64) -> Finding {
    Finding {
        rule: rules::TIMEOUT.into(),
        severity,
        message: format!("no complete answer within {timeout_ms} ms"),
        pointer: None,
        schema_path: None,
        expected: Some(format!("an answer within {timeout_ms} ms (--timeout)")),
        actual: Some("timed out".into()),
        hint: Some("answer faster, or raise --timeout if the server is known to be slow".into()),
        step,
    }
}

/// Finding for a connection that failed.
pub fn transport_finding(severity: Severity, step: Option<usize>, what: &str) -> Finding {
    Finding {
        rule: rules::TRANSPORT.into(),
        severity,
        message: format!("the request failed: {what}"),
        pointer: None,
        schema_path: None,
        expected: None,
        actual: None,
        hint: Some("check that the target is up and speaks HTTP".into()),
        step,
    }
}

/// Finding for an answer that redirected elsewhere.
pub fn redirect_finding(
    severity: Severity,
    step: Option<usize>,
    status: u16,
    location: Option<&str>,
) -> Finding {
    Finding {
        rule: rules::REDIRECT.into(),
        severity,
        message: format!("the server answered HTTP {status} redirecting to {}; vkconform does not follow redirects, so credentials never reach another host", location.unwrap_or("(no Location)")),
        pointer: None,
        schema_path: None,
        expected: Some("an answer from the API itself".into()),
        actual: Some(format!("HTTP {status}")),
        hint: Some("point --target at the final API address; API endpoints must not redirect".into()),
        step,
    }
}

/// Checks one answer against a step's expectations.
pub fn check_answer(ctx: &Context<'_>, ans: &HttpAnswer) -> Checked {
    let mut out = Checked::default();
    let login = matches!(ctx.kind, StepKind::Login);
    // 1. Secrets echoed anywhere.
    out.findings.extend(secret_echoes(ctx, ans, login));
    let outcome = &ctx.expect.outcome;
    let wants_json = !matches!(outcome, Outcome::Any);
    // 2. Transport-level problems of the body.
    if let Some(e) = &ans.body_error {
        out.findings.push(
            ctx.finding(
                rules::TRUNCATED,
                Severity::Must,
                format!("the body ended early after {} bytes: {e}", ans.body.len()),
            )
            .hint("send the whole body (a correct Content-Length, no dropped connections)"),
        );
        out.fatal = true;
    }
    if ans.too_large {
        out.findings.push(ctx.finding(
            rules::TOO_LARGE,
            Severity::Must,
            format!(
                "the body is larger than {} bytes; vkconform stopped reading",
                ans.body.len()
            ),
        ));
        out.fatal = true;
    }
    // 3. HTTP status.
    let default_status: Option<Vec<u16>> = match (&ctx.kind, outcome) {
        (_, Outcome::Json | Outcome::Any) => None,
        (_, Outcome::Response { .. }) => Some(vec![200]),
        (_, Outcome::Error(_)) => Some(vec![match ctx.profile {
            Profile::Openvk => 400,
            Profile::Vk => 200,
        }]),
    };
    let explicit = ctx.expect.status.is_some();
    if let Some(allowed) = ctx.expect.status.clone().or(default_status) {
        if !allowed.contains(&ans.status) {
            let sev = if explicit || ans.status >= 500 {
                Severity::Must
            } else {
                Severity::Should
            };
            let allowed_s = allowed
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" or ");
            let why = if explicit {
                String::new()
            } else {
                format!(" (profile `{}`, {outcome})", ctx.profile)
            };
            out.findings.push(
                ctx.finding(
                    rules::HTTP_STATUS,
                    sev,
                    format!("HTTP status {} instead of {allowed_s}{why}", ans.status),
                )
                .expected(allowed_s)
                .actual(ans.status.to_string())
                .hint(status_hint(ctx.profile, outcome)),
            );
        }
    } else if ans.status >= 500 {
        out.findings.push(
            ctx.finding(
                rules::HTTP_STATUS,
                Severity::Must,
                format!("HTTP status {}: a server error", ans.status),
            )
            .actual(ans.status.to_string()),
        );
    }
    // 4. Headers the suite names.
    for (name, re) in &ctx.expect.headers {
        match ans.header(name) {
            Some(v) if re.is_match(v) => {}
            other => out.findings.push(
                ctx.finding(
                    rules::HEADER,
                    Severity::Must,
                    format!("header `{name}` does not match `{}`", re.as_str()),
                )
                .expected(re.as_str().to_string())
                .actual(
                    other
                        .map(|v| clip(v, 120))
                        .unwrap_or_else(|| "(absent)".into()),
                ),
            ),
        }
    }
    if !wants_json {
        out.body = serde_json::from_slice(&ans.body).ok();
        out.value = out.body.clone();
        check_value(ctx, &mut out);
        return out;
    }
    // 5. Content-Type of a JSON answer.
    let ct = ans.header("content-type").unwrap_or("");
    let ct_json = ct
        .to_ascii_lowercase()
        .split(';')
        .next()
        .map(str::trim)
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    // 6. Parse.
    let text = String::from_utf8_lossy(&ans.body);
    if ans.body.iter().all(u8::is_ascii_whitespace) {
        if ans.body_error.is_none() {
            out.findings.push(
                ctx.finding(
                    rules::EMPTY_BODY,
                    Severity::Must,
                    format!("HTTP {} with an empty body", ans.status),
                )
                .expected("a JSON body")
                .hint("always answer a JSON body: {\"response\": …} or an error object"),
            );
        }
        out.fatal = true;
        return out;
    }
    let body: Value = match serde_json::from_slice(&ans.body) {
        Ok(v) => v,
        Err(e) => {
            if ans.body_error.is_none() {
                let trimmed = text.trim_start();
                let html = ct.to_ascii_lowercase().contains("html") || trimmed.starts_with('<');
                if e.is_eof() && !html {
                    out.findings.push(
                        ctx.finding(
                            rules::TRUNCATED,
                            Severity::Must,
                            format!("the JSON body ends early ({e})"),
                        )
                        .actual(clip(&text, 120))
                        .hint("send the whole JSON document"),
                    );
                } else {
                    let what = if html { "an HTML page" } else { "not JSON" };
                    out.findings.push(
                        ctx.finding(rules::NOT_JSON, Severity::Must, format!("the body is {what} (Content-Type `{ct}`)"))
                            .expected("a JSON body")
                            .actual(clip(trimmed, 120))
                            .hint("API errors must be JSON in the profile's error format, also for internal errors"),
                    );
                }
            }
            out.fatal = true;
            return out;
        }
    };
    if !ct_json {
        out.findings.push(
            ctx.finding(
                rules::CONTENT_TYPE,
                Severity::Should,
                format!("Content-Type is `{ct}`, not application/json"),
            )
            .expected("application/json")
            .actual(ct.to_string())
            .hint("send Content-Type: application/json with every JSON answer"),
        );
    }
    out.body = Some(body.clone());
    // 7. Envelope and outcome.
    match outcome {
        Outcome::Json => {
            out.value = Some(body);
        }
        Outcome::Any => unreachable!("handled above"),
        Outcome::Response { schema } => {
            let classified = if login {
                login_classify(&body)
            } else {
                classify(&body)
            };
            match classified {
                Answer::Response(v) => {
                    if *schema && ctx.expect.schema.is_none() {
                        let violations = match (&ctx.kind, login) {
                            (_, true) => ctx
                                .catalog
                                .validate("openvk/token.json#/$defs/response", &v)
                                .err(),
                            (StepKind::Call(Some(spec)), _) => spec
                                .validate_response(&v)
                                .err()
                                .map(|vs| closest_alternative(ctx.catalog, spec, &v, vs)),
                            _ => None,
                        };
                        if let Some(vs) = violations {
                            let doc = match &ctx.kind {
                                StepKind::Call(Some(spec)) => {
                                    format!("schemas/{}#/$defs/response", spec.file)
                                }
                                _ => "schemas/openvk/token.json#/$defs/response".into(),
                            };
                            out.findings.extend(schema_findings(ctx, &vs, &doc));
                        }
                    }
                    out.value = Some(v);
                }
                Answer::Error { error, dialect, .. } => {
                    out.error_code = Some(error.code);
                    out.findings.push(
                        ctx.finding(
                            rules::ERROR_CODE,
                            Severity::Must,
                            format!(
                                "expected a success response, got error {}: {}",
                                error.code,
                                clip(&error.msg, 160)
                            ),
                        )
                        .expected("success")
                        .actual(format!("error {}", error.code))
                        .hint(if error.code == 5 {
                            "the call needs a valid access token (--token)"
                        } else {
                            "the call with these parameters must succeed"
                        }),
                    );
                    out.value = error_object(&body, dialect);
                    out.fatal = true;
                }
                Answer::Other(why) => {
                    out.findings.push(
                        ctx.finding(
                            rules::ENVELOPE,
                            Severity::Must,
                            format!("the answer is not a VK envelope: {why}"),
                        )
                        .expected(if login {
                            "{\"access_token\": …, \"user_id\": …}"
                        } else {
                            "{\"response\": …}"
                        })
                        .actual(excerpt(&body))
                        .hint(if login {
                            "answer /token with {access_token, expires_in, user_id}"
                        } else {
                            "wrap the result: {\"response\": <result>}"
                        }),
                    );
                    out.fatal = true;
                }
            }
        }
        Outcome::Error(codes) => {
            let want = codes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" or ");
            match classify(&body) {
                Answer::Error { error, dialect, .. } => {
                    out.error_code = Some(error.code);
                    if !codes.contains(&error.code) {
                        out.findings.push(
                            ctx.finding(
                                rules::ERROR_CODE,
                                Severity::Must,
                                format!(
                                    "error {} instead of {want}: {}",
                                    error.code,
                                    clip(&error.msg, 160)
                                ),
                            )
                            .at("/error_code")
                            .expected(want)
                            .actual(error.code.to_string())
                            .hint(code_hint(codes)),
                        );
                    }
                    if dialect != ctx.profile {
                        out.findings.push(
                        ctx.finding(rules::ERROR_DIALECT, Severity::Must, format!("the error is in the `{dialect}` dialect, the `{}` profile wants {}", ctx.profile, dialect_text(ctx.profile)))
                            .expected(dialect_text(ctx.profile))
                            .actual(excerpt(&body))
                            .hint("run with the matching --profile, or answer errors in the profile's dialect"),
                    );
                    } else {
                        let doc = format!("openvk/errors/{}.json", ctx.profile.as_str());
                        if ctx.catalog.document(&doc).is_some() {
                            if let Err(vs) = ctx.catalog.validate(&doc, &body) {
                                let mut fs = schema_findings(ctx, &vs, &format!("schemas/{doc}"));
                                for f in &mut fs {
                                    f.rule = rules::ERROR_SCHEMA.into();
                                }
                                out.findings.extend(fs);
                            }
                        }
                    }
                    out.value = error_object(&body, dialect);
                }
                Answer::Response(v) => {
                    out.findings.push(
                        ctx.finding(
                            rules::ERROR_CODE,
                            Severity::Must,
                            format!("a success response instead of error {want}"),
                        )
                        .expected(format!("error {want}"))
                        .actual(format!("{{\"response\": {}}}", clip(&v.to_string(), 120)))
                        .hint(code_hint(codes)),
                    );
                    out.value = Some(v);
                    out.fatal = true;
                }
                Answer::Other(why) => {
                    out.findings.push(
                        ctx.finding(
                            rules::ENVELOPE,
                            Severity::Must,
                            format!(
                                "expected error {want}, but the answer is not a VK error: {why}"
                            ),
                        )
                        .expected(dialect_text(ctx.profile))
                        .actual(excerpt(&body))
                        .hint("answer errors as {error_code, error_msg, request_params}"),
                    );
                    out.fatal = true;
                }
            }
        }
    }
    check_value(ctx, &mut out);
    out
}

/// Explicit schema and JSON-pointer assertions on the checked value.
fn check_value(ctx: &Context<'_>, out: &mut Checked) {
    let Some(value) = out.value.clone() else {
        return;
    };
    if let Some(s) = &ctx.expect.schema {
        if let Err(vs) = ctx.catalog.validate(s, &value) {
            out.findings
                .extend(schema_findings(ctx, &vs, &format!("schemas/{s}")));
        }
    }
    for a in &ctx.expect.json {
        for f in assertion_failures(&value, a) {
            out.findings.push(
                ctx.finding(rules::EXPECT, Severity::Must, f.message)
                    .at(a.at.clone())
                    .expected(f.expected)
                    .actual(f.actual),
            );
        }
    }
}

fn login_classify(body: &Value) -> Answer {
    match body.get("access_token") {
        Some(_) => Answer::Response(body.clone()),
        None => classify(body),
    }
}

fn error_object(body: &Value, dialect: Profile) -> Option<Value> {
    match dialect {
        Profile::Vk => body.get("error").cloned(),
        Profile::Openvk => Some(body.clone()),
    }
}

fn dialect_text(p: Profile) -> &'static str {
    match p {
        Profile::Openvk => "top-level {error_code, error_msg, request_params} (HTTP 400)",
        Profile::Vk => "{\"error\": {error_code, error_msg, request_params}} (HTTP 200)",
    }
}

fn status_hint(p: Profile, outcome: &Outcome) -> String {
    match (outcome, p) {
        (Outcome::Error(_), Profile::Openvk) => "the openvk profile answers API errors with HTTP 400 (as a real OpenVK does)".into(),
        (Outcome::Error(_), Profile::Vk) => "the vk profile answers API errors with HTTP 200 (VK client libraries ignore non-2xx bodies)".into(),
        _ => "answer successful calls with HTTP 200".into(),
    }
}

fn code_hint(codes: &[i64]) -> String {
    let c = codes.first().copied().unwrap_or(0);
    match c {
        3 => "an unknown method must answer error 3 (Unknown method passed.)".into(),
        5 => "a method marked 🔰 must answer error 5 when no valid access token is given".into(),
        7 => "/token must answer 7 for a grant_type other than `password`".into(),
        28 => "/token must answer 28 for a wrong login, password or 2FA code".into(),
        100 => "a missing or wrongly typed required parameter must answer error 100".into(),
        _ => format!("the seed requires error {c} here"),
    }
}

fn schema_findings(ctx: &Context<'_>, vs: &[Violation], doc: &str) -> Vec<Finding> {
    vs.iter()
        .take(10)
        .map(|v| {
            let at = if v.instance_path.is_empty() {
                "(root)".to_string()
            } else {
                v.instance_path.clone()
            };
            let mut f = ctx
                .finding(
                    rules::SCHEMA,
                    Severity::Must,
                    format!("at {at}: {}", v.message),
                )
                .at(v.instance_path.clone())
                .expected(format!("valid against {doc}"))
                .hint(format!("see {doc}{}", v.schema_path));
            f.schema_path = Some(v.schema_path.clone());
            f
        })
        .collect()
}

/// When the whole response fails a top-level `oneOf`/`anyOf`, the bare "not valid
/// under any of the schemas" says little: report the violations of the closest
/// alternative (the one of the instance's type with the fewest violations) instead.
fn closest_alternative(
    catalog: &Catalog,
    spec: &MethodSpec,
    value: &Value,
    vs: Vec<Violation>,
) -> Vec<Violation> {
    let generic = vs.len() == 1
        && vs[0].instance_path.is_empty()
        && (vs[0].message.contains("oneOf") || vs[0].message.contains("anyOf"));
    if !generic {
        return vs;
    }
    let response = &spec.document["$defs"]["response"];
    let mut best: Option<(bool, usize, Vec<Violation>)> = None;
    for key in ["oneOf", "anyOf"] {
        let Some(alts) = response[key].as_array() else {
            continue;
        };
        for (i, alt) in alts.iter().enumerate() {
            let uri = format!("{}#/$defs/response/{key}/{i}", spec.id);
            let Err(found) = catalog.validate(&uri, value) else {
                continue;
            };
            let same_type = alt["type"].as_str().is_some_and(|t| type_matches(t, value));
            let better = match &best {
                None => true,
                Some((bt, bn, _)) => (same_type && !bt) || (same_type == *bt && found.len() < *bn),
            };
            if better {
                best = Some((same_type, found.len(), found));
            }
        }
    }
    match best {
        Some((_, _, found)) if !found.is_empty() => found,
        _ => vs,
    }
}

/// One failed assertion, described.
#[derive(Debug, Clone, PartialEq)]
pub struct AssertionFailure {
    /// One-line description.
    pub message: String,
    /// What the suite wants.
    pub expected: String,
    /// What was there.
    pub actual: String,
}

/// Numbers compare by value, everything else structurally.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// `expected` is a subset of `actual`: objects match on the given fields, everything else by [`json_eq`].
pub fn json_subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|w| json_subset(v, w))),
        _ => json_eq(expected, actual),
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        other => kind(v) == other,
    }
}

fn length(v: &Value) -> Option<u64> {
    match v {
        Value::Array(a) => Some(a.len() as u64),
        Value::Object(o) => Some(o.len() as u64),
        Value::String(s) => Some(s.chars().count() as u64),
        _ => None,
    }
}

/// Every way `value` fails an assertion (empty when it holds).
pub fn assertion_failures(value: &Value, a: &Assertion) -> Vec<AssertionFailure> {
    let target = value.pointer(&a.at);
    let at = if a.at.is_empty() {
        "(root)"
    } else {
        a.at.as_str()
    };
    let actual_s = target.map(excerpt).unwrap_or_else(|| "(absent)".into());
    let mut out = Vec::new();
    let mut fail = |message: String, expected: String| {
        out.push(AssertionFailure {
            message,
            expected,
            actual: actual_s.clone(),
        })
    };
    for c in &a.checks {
        match c {
            Check::Exists(want) => {
                if target.is_some() != *want {
                    fail(
                        format!("{at} is {}", if *want { "absent" } else { "present" }),
                        if *want {
                            "present".into()
                        } else {
                            "absent".into()
                        },
                    );
                }
                continue;
            }
            _ if target.is_none() => {
                fail(format!("nothing at {at}"), describe(c));
                break;
            }
            _ => {}
        }
        let v = target.expect("checked");
        let ok = match c {
            Check::Equals(e) => json_eq(e, v),
            Check::NotEquals(e) => !json_eq(e, v),
            Check::In(es) => es.iter().any(|e| json_eq(e, v)),
            Check::Contains(e) => v
                .as_array()
                .is_some_and(|items| items.iter().any(|i| json_subset(e, i))),
            Check::NotContains(e) => v
                .as_array()
                .is_some_and(|items| !items.iter().any(|i| json_subset(e, i))),
            Check::Matches(re) => v.as_str().is_some_and(|s| {
                regex::Regex::new(re)
                    .map(|r| r.is_match(s))
                    .unwrap_or(false)
            }),
            Check::Type(t) => type_matches(t, v),
            Check::CountMin(n) => length(v).is_some_and(|l| l >= *n),
            Check::CountMax(n) => length(v).is_some_and(|l| l <= *n),
            Check::Min(n) => v.as_f64().is_some_and(|x| x >= *n),
            Check::Max(n) => v.as_f64().is_some_and(|x| x <= *n),
            Check::Exists(_) => unreachable!(),
        };
        if !ok {
            let mut msg = format!("{at}: expected {}", describe(c));
            if matches!(c, Check::CountMin(_) | Check::CountMax(_)) {
                if let Some(l) = length(v) {
                    msg.push_str(&format!(", found {l}"));
                }
            }
            fail(msg, describe(c));
        }
    }
    out
}

fn describe(c: &Check) -> String {
    match c {
        Check::Equals(v) => format!("= {}", excerpt(v)),
        Check::NotEquals(v) => format!("≠ {}", excerpt(v)),
        Check::In(vs) => format!("one of {}", excerpt(&Value::Array(vs.clone()))),
        Check::Contains(v) => format!("an array containing {}", excerpt(v)),
        Check::NotContains(v) => format!("an array without {}", excerpt(v)),
        Check::Matches(r) => format!("a string matching /{r}/"),
        Check::Type(t) => format!("a value of type {t}"),
        Check::CountMin(n) => format!("at least {n} entries"),
        Check::CountMax(n) => format!("at most {n} entries"),
        Check::Min(n) => format!("a number >= {n}"),
        Check::Max(n) => format!("a number <= {n}"),
        Check::Exists(b) => if *b { "present" } else { "absent" }.to_string(),
    }
}

/// Looks for secrets in an answer: as substrings of the body (raw, JSON-unescaped
/// or inside base64) and of header values; short secrets (2FA codes) only as
/// whole JSON string values. `login` skips the token `/token` itself issues.
fn secret_echoes(ctx: &Context<'_>, ans: &HttpAnswer, login: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    if ctx.secrets.is_empty() {
        return out;
    }
    let raw = String::from_utf8_lossy(&ans.body).to_string();
    let mut parsed: Option<Value> = serde_json::from_slice(&ans.body).ok();
    if login {
        if let Some(Value::Object(o)) = parsed.as_mut() {
            o.remove("access_token");
        }
    }
    let mut strings: Vec<(String, String)> = Vec::new();
    if let Some(v) = &parsed {
        collect_strings(v, String::new(), &mut strings);
    }
    for s in ctx.secrets {
        if s.value.len() < 3 {
            continue;
        }
        let long = s.value.chars().count() >= 8;
        let mut where_: Option<String> = None;
        for (ptr, text) in &strings {
            if text == &s.value || (long && (text.contains(&s.value) || in_base64(text, &s.value)))
            {
                where_ = Some(if ptr.is_empty() {
                    "(root)".into()
                } else {
                    ptr.clone()
                });
                break;
            }
        }
        if where_.is_none() && long && parsed.is_none() && raw.contains(&s.value) {
            where_ = Some("the body".into());
        }
        if where_.is_none() && long {
            for (k, v) in &ans.headers {
                if v.contains(&s.value) {
                    where_ = Some(format!("header {k}"));
                    break;
                }
            }
        }
        if let Some(w) = where_ {
            let mut f = Finding {
                rule: rules::SECRET_ECHO.into(),
                severity: Severity::Must,
                message: format!("the answer echoes {} back (at {w}): anyone who sees the answer, logs or a proxy learns it", s.label),
                pointer: if w.starts_with('/') { Some(w.clone()) } else { None },
                schema_path: None,
                expected: Some(format!("{} never appears in an answer", s.label)),
                actual: Some(format!("found at {w}")),
                hint: Some("never echo access_token, password or code (e.g. leave them out of request_params)".into()),
                step: ctx.step,
            };
            f.severity = Severity::Must;
            out.push(f);
        }
    }
    out
}

fn collect_strings(v: &Value, ptr: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((ptr, s.clone())),
        Value::Number(n) => out.push((ptr, n.to_string())),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| collect_strings(x, format!("{ptr}/{i}"), out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            collect_strings(
                x,
                format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        _ => {}
    }
}

/// True when a base64 (standard or URL-safe) run inside `text` decodes to something containing `secret`.
fn in_base64(text: &str, secret: &str) -> bool {
    let decoded = text
        .replace("%3D", "=")
        .replace("%3d", "=")
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%2B", "+")
        .replace("%2b", "+");
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_');
    for run in decoded
        .split(|c: char| !is_b64(c))
        .filter(|r| r.len() >= 12)
    {
        for engine in [
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            // Try every offset within a 4-character block, as the run may start mid-block.
            for start in 0..4.min(run.len()) {
                let part = &run[start..];
                let cut = part.len() - part.len() % 4;
                for end in [part.len(), cut] {
                    if let Ok(bytes) = engine.decode(&part[..end]) {
                        if String::from_utf8_lossy(&bytes).contains(secret) {
                            return true;
                        }
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Expect;

    fn cat() -> std::sync::Arc<Catalog> {
        Catalog::shared().unwrap()
    }

    #[test]
    fn subset_matching_compares_only_the_given_fields() {
        let actual = serde_json::json!([{"id": 1, "text": "a"}, {"id": 2, "text": "b"}]);
        let a = Assertion {
            at: String::new(),
            checks: vec![Check::Contains(serde_json::json!({"id": 2}))],
        };
        assert!(assertion_failures(&actual, &a).is_empty());
        let a = Assertion {
            at: String::new(),
            checks: vec![Check::Contains(serde_json::json!({"id": 3}))],
        };
        assert_eq!(assertion_failures(&actual, &a).len(), 1);
    }

    #[test]
    fn a_password_echoed_in_request_params_is_a_security_finding() {
        let catalog = cat();
        let expect = Expect {
            outcome: Outcome::Error(vec![28]),
            ..Expect::default()
        };
        let secrets = vec![Secret {
            label: "the password".into(),
            value: "hunter2-secret".into(),
        }];
        let mut ctx = Context::new(&catalog, Profile::Openvk, StepKind::Login, &expect);
        ctx.secrets = &secrets;
        let body = br#"{"error_code":28,"error_msg":"Invalid username or password","request_params":[{"key":"password","value":"hunter2-secret"}]}"#;
        let c = check_answer(&ctx, &HttpAnswer::json(400, body));
        let f = c
            .findings
            .iter()
            .find(|f| f.rule == rules::SECRET_ECHO)
            .expect("secret-echo");
        assert!(!serde_json::to_string(f).unwrap().contains("hunter2-secret"));
    }

    #[test]
    fn base64_wrapped_secrets_are_found() {
        let enc = base64::engine::general_purpose::STANDARD
            .encode(br#"{"login":"a","password":"s3cr3t-value!"}"#);
        assert!(in_base64(
            &format!("http://x/2fa?data={enc}"),
            "s3cr3t-value!"
        ));
    }

    #[test]
    fn html_500_is_not_json_and_a_server_error() {
        let catalog = cat();
        let expect = Expect::default();
        let ctx = Context::new(&catalog, Profile::Openvk, StepKind::Call(None), &expect);
        let ans = HttpAnswer {
            status: 500,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html>Server Error</html>".to_vec(),
            ..HttpAnswer::default()
        };
        let c = check_answer(&ctx, &ans);
        let rules: Vec<&str> = c.findings.iter().map(|f| f.rule.as_str()).collect();
        assert!(
            rules.contains(&"http-status") && rules.contains(&"not-json"),
            "{rules:?}"
        );
    }
}
