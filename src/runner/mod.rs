//! Stage 3: runs cases against a target as a well-behaved VK client (paced,
//! retrying 6/9/29, bounded in time and size, never following redirects),
//! hands every answer to `validate`, emits [`Event`]s while it goes, and
//! builds the one [`Report`]. Secrets are redacted from everything the
//! report contains.
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! use vkconform::runner::{self, Options, Target};
//! let catalog = vkconform::schema::Catalog::shared().map_err(|e| e.to_string())?;
//! let suites = vkconform::suite::load_embedded(&[vkconform::api::Api::Openvk], &catalog, &Default::default()).map_err(|e| e.to_string())?;
//! let cases: Vec<_> = suites.into_iter().flat_map(|s| s.cases).collect();
//! let target = Target::url("http://127.0.0.1:8080", Some("my-token".into()));
//! let report = runner::run(&cases, &target, &catalog, &Options::default(), &Default::default(), &mut |_| {}).await?;
//! println!("{} failed", report.summary.failed);
//! # Ok(()) }
//! ```

pub mod callbacks;
pub mod extra;
pub mod http;
pub mod vars;

use crate::api::{Api, Profile};
use crate::redact::{self, Redactor};
use crate::report::{
    CaseResult, Exchange, Finding, Report, Severity, Status, Summary, FORMAT_VERSION,
};
use crate::schema::Catalog;
use crate::suite::{
    AccountRef, Action, AwaitCallbacks, Body, Case, Check, Expect, ExtraCheck, Outcome,
    Requirement, Step, TokenUse, Via, Xfail,
};
use crate::validate::{self, rules, Context, Secret, StepKind};
use crate::vk::{classify, Answer};
use http::{Client, OutRequest, Pacer, Sent};
use serde_json::Value;
use std::time::{Duration, Instant};
use vars::Vars;

/// Error codes the runner waits out and retries (VK's 6, OpenVK's 9 and 29).
pub const RETRY_CODES: [i64; 3] = [6, 9, 29];
/// Longest request body an exchange in the report keeps (in characters).
pub const MAX_REPORTED_BODY: usize = 8192;

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Error dialect expected.
    pub profile: Profile,
    /// APIs covered (for the report).
    pub apis: Vec<Api>,
    /// Skip every case that writes.
    pub read_only: bool,
    /// Requests per second; `None` = unlimited.
    pub rate: Option<f64>,
    /// Minimum time between two writes.
    pub write_interval: Duration,
    /// Retries after errors 6, 9 and 29.
    pub retries: u32,
    /// Wait before such a retry.
    pub retry_wait: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Seed of every random choice.
    pub seed: u64,
    /// Inputs per fuzz case.
    pub fuzz_cases: usize,
    /// The command line that re-runs this run, without `--filter` (e.g. `vkconform check --target mock`).
    pub rerun_prefix: String,
    /// Where the Devino callback receiver listens (port 0: a free port); it
    /// only starts when a selected case needs it (`${callback_url}`, `await_callbacks`).
    pub callback_listen: std::net::SocketAddr,
    /// A public URL that reaches `callback_listen` (`--callback-url`): used as
    /// `${callback_url}` instead of the local address.
    pub callback_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: Profile::Openvk,
            apis: vec![Api::Openvk],
            read_only: false,
            rate: Some(3.0),
            write_interval: Duration::from_millis(4000),
            retries: 3,
            retry_wait: Duration::from_millis(3000),
            timeout: Duration::from_millis(10_000),
            seed: 0,
            fuzz_cases: 4,
            rerun_prefix: "vkconform check".into(),
            callback_listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            callback_url: None,
        }
    }
}

/// A 2FA code: given once, or computed from a TOTP secret when needed.
#[derive(Debug, Clone)]
pub enum Code {
    /// A code given on the command line.
    Fixed(String),
    /// A base32 TOTP secret (the mock's 2FA account).
    Totp(String),
}

impl Code {
    /// The code to send now.
    pub fn current(&self) -> Option<String> {
        match self {
            Code::Fixed(c) => Some(c.clone()),
            Code::Totp(secret) => crate::mock::token::totp_now(secret, 0).ok(),
        }
    }
}

/// A login for `/token`.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// 2FA code, for accounts with 2FA.
    pub code: Option<Code>,
}

/// Where and as whom the runner checks.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL, no trailing slash.
    pub base: String,
    /// How the report names it (`mock`, or the URL without credentials).
    pub label: String,
    /// Access token for calls.
    pub token: Option<String>,
    /// Credentials for `/token` cases.
    pub primary: Option<Credentials>,
    /// Credentials of an account with 2FA.
    pub twofa: Option<Credentials>,
    /// Devino API key for `${devino_key}`.
    pub devino_key: Option<String>,
}

impl Target {
    /// A live server at `base` with an optional token.
    pub fn url(base: &str, token: Option<String>) -> Target {
        let base = base.trim_end_matches('/').to_string();
        Target {
            label: display_url(&base),
            base,
            token,
            primary: None,
            twofa: None,
            devino_key: None,
        }
    }

    /// Every secret value the run knows.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut out = Vec::new();
        let mut add = |label: &str, v: &str| {
            if !v.is_empty() && !out.iter().any(|s: &Secret| s.value == v) {
                out.push(Secret {
                    label: label.to_string(),
                    value: v.to_string(),
                });
            }
        };
        if let Some(t) = &self.token {
            add("the access token", t);
        }
        for c in [&self.primary, &self.twofa].into_iter().flatten() {
            add("the password", &c.password);
            match &c.code {
                Some(Code::Fixed(code)) => add("the 2FA code", code),
                Some(Code::Totp(secret)) => add("the TOTP secret", secret),
                None => {}
            }
        }
        if let Some(k) = &self.devino_key {
            add("the Devino key", k);
        }
        for (k, v) in std::env::vars() {
            let upper = k.to_ascii_uppercase();
            if upper.starts_with("VKCONFORM_")
                && ["TOKEN", "PASSWORD", "KEY", "SECRET", "CODE"]
                    .iter()
                    .any(|w| upper.contains(w))
            {
                add(&format!("${k}"), &v);
            }
        }
        out
    }
}

/// A URL as reports show it: no credentials, no query.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => redact::redact_query_values(url),
    }
}

/// What happens during a run, for progress displays.
#[derive(Debug)]
pub enum Event<'a> {
    /// The run starts with this many cases.
    Started {
        /// Number of cases.
        total: usize,
    },
    /// A case starts.
    CaseStarted {
        /// 0-based index.
        index: usize,
        /// The case.
        case: &'a Case,
    },
    /// A case ended (already redacted).
    CaseFinished {
        /// 0-based index.
        index: usize,
        /// Its result.
        result: &'a CaseResult,
    },
}

/// Checks that something answers HTTP at `base` (any status counts).
pub async fn probe(base: &str, timeout: Duration) -> Result<(), String> {
    let client = Client::new(timeout, Pacer::new(None, Duration::ZERO))?;
    let req = OutRequest {
        method: "GET".into(),
        url: format!("{base}/"),
        headers: Vec::new(),
        body: None,
    };
    match client.send_now(&req).await {
        Sent::Answer(_) | Sent::Redirect { .. } => Ok(()),
        Sent::Timeout => Err(format!(
            "{} did not answer within {} ms",
            display_url(base),
            timeout.as_millis()
        )),
        Sent::Transport(e) => Err(format!(
            "cannot reach {}: {}",
            display_url(base),
            redact::redact_query_values(&e)
        )),
    }
}

/// Why `/token` gave no token.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginError {
    /// The server could not be reached.
    Unreachable(String),
    /// The server refused (message without secrets).
    Refused(String),
}

/// Logs in at `/token` and returns the access token.
pub async fn obtain_token(
    base: &str,
    creds: &Credentials,
    timeout: Duration,
) -> Result<String, LoginError> {
    let client =
        Client::new(timeout, Pacer::new(None, Duration::ZERO)).map_err(LoginError::Unreachable)?;
    let mut form = vec![
        ("grant_type".to_string(), "password".to_string()),
        ("username".into(), creds.username.clone()),
        ("password".into(), creds.password.clone()),
    ];
    if let Some(code) = creds.code.as_ref().and_then(Code::current) {
        form.push(("code".into(), code));
    }
    form.push(("client_name".into(), "vkconform".into()));
    let req = OutRequest {
        method: "POST".into(),
        url: format!("{base}/token"),
        headers: Vec::new(),
        body: Some(form_body(&form)),
    };
    let redactor = Redactor::new([creds.password.clone()]);
    match client.send_now(&req).await {
        Sent::Answer(a) => {
            let body: Option<Value> = serde_json::from_slice(&a.body).ok();
            if let Some(t) = body
                .as_ref()
                .and_then(|b| b.get("access_token"))
                .and_then(Value::as_str)
            {
                return Ok(t.to_string());
            }
            let why = match body.as_ref().map(classify) {
                Some(Answer::Error { error, .. }) => format!("error {}: {}", error.code, error.msg),
                _ => format!("HTTP {} without an access_token", a.status),
            };
            Err(LoginError::Refused(redactor.text(&why)))
        }
        Sent::Timeout => Err(LoginError::Unreachable(format!(
            "/token did not answer within {} ms",
            timeout.as_millis()
        ))),
        Sent::Transport(e) => Err(LoginError::Unreachable(redactor.text(&e))),
        Sent::Redirect { status, .. } => Err(LoginError::Refused(format!(
            "/token answered a redirect (HTTP {status}); not followed"
        ))),
    }
}

fn form_body(pairs: &[(String, String)]) -> (String, Vec<u8>) {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    (
        "application/x-www-form-urlencoded".into(),
        ser.finish().into_bytes(),
    )
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs cases in order and builds the report.
pub async fn run(
    cases: &[Case],
    target: &Target,
    catalog: &Catalog,
    opts: &Options,
    xfail: &Xfail,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Report, String> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let client = Client::new(opts.timeout, Pacer::new(opts.rate, opts.write_interval))?;
    let secrets = target.secrets();
    let redactor = Redactor::new(secrets.iter().map(|s| s.value.clone()));
    let receiver = if cases
        .iter()
        .any(|c| c.requires.contains(&Requirement::Callbacks) && !(opts.read_only && c.writes()))
    {
        Some(callbacks::Receiver::start(opts.callback_listen, opts.callback_url.as_deref()).await?)
    } else {
        None
    };
    let mut runner = Runner {
        callbacks: receiver,
        catalog,
        target,
        opts,
        client,
        secrets,
        redactor,
        run_id: run_id(opts.seed),
    };
    on_event(Event::Started { total: cases.len() });
    let mut results = Vec::with_capacity(cases.len());
    for (index, case) in cases.iter().enumerate() {
        on_event(Event::CaseStarted { index, case });
        let mut result = runner.case(case).await;
        if let Some(entry) = xfail.lookup(&case.id) {
            match result.status {
                Status::Fail => {
                    result.status = Status::Xfail;
                    result.reason = Some(format!("expected failure: {}", entry.reason));
                }
                Status::Pass => {
                    result.status = Status::Xpass;
                    result.reason = Some(format!("listed as an expected failure ({}) but passed: remove it from the --xfail file", entry.reason));
                }
                _ => {}
            }
        }
        let result = runner.redact(result);
        on_event(Event::CaseFinished {
            index,
            result: &result,
        });
        results.push(result);
    }
    let report = Report {
        format_version: FORMAT_VERSION.to_string(),
        tool: format!("vkconform {}", env!("CARGO_PKG_VERSION")),
        target: target.label.clone(),
        profile: opts.profile,
        apis: opts.apis.clone(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        seed: opts.seed,
        summary: Summary::of(&results),
        cases: results,
    };
    Ok(runner.redact_report(report))
}

/// A short id for this run (unique per seed and start time), used in texts the suites write.
fn run_id(seed: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    format!(
        "{:08x}",
        crate::suite::select::fnv1a(format!("{seed}-{now}").as_bytes()) as u32
    )
}

struct Runner<'a> {
    catalog: &'a Catalog,
    target: &'a Target,
    opts: &'a Options,
    client: Client,
    secrets: Vec<Secret>,
    redactor: Redactor,
    run_id: String,
    callbacks: Option<callbacks::Receiver>,
}

/// The state of one running case.
struct CaseRun {
    findings: Vec<Finding>,
    steps: Vec<Exchange>,
    severity: Severity,
}

impl<'a> Runner<'a> {
    fn redact(&self, r: CaseResult) -> CaseResult {
        let mut v = match serde_json::to_value(&r) {
            Ok(v) => v,
            Err(_) => return r,
        };
        self.redactor.value(&mut v);
        serde_json::from_value(v).unwrap_or(r)
    }

    fn redact_report(&self, r: Report) -> Report {
        let mut v = match serde_json::to_value(&r) {
            Ok(v) => v,
            Err(_) => return r,
        };
        self.redactor.value(&mut v);
        serde_json::from_value(v).unwrap_or(r)
    }

    fn rerun(&self, id: &str) -> String {
        format!(
            "{} --filter {}",
            self.opts.rerun_prefix,
            shell_quote(&format!("id:{id}"))
        )
    }

    fn skip_reason(&self, case: &Case) -> Option<String> {
        if self.opts.read_only && case.writes() {
            return Some("writes to the server (--read-only)".into());
        }
        let mut needs_primary = case.requires.contains(&Requirement::Credentials);
        let mut needs_2fa = case.requires.contains(&Requirement::TwoFactor);
        for s in &case.steps {
            if let Action::Login(l) = &s.action {
                match l.account {
                    AccountRef::TwoFactor => needs_2fa = true,
                    AccountRef::Primary => {
                        needs_primary |= l.username.is_none() || l.password.is_none()
                    }
                }
            }
        }
        if case.requires.contains(&Requirement::Token) && self.target.token.is_none() {
            return Some(
                "needs an access token: give --token, or --username and --password".into(),
            );
        }
        if needs_primary && self.target.primary.is_none() {
            return Some("needs a login: give --username and --password".into());
        }
        if needs_2fa && self.target.twofa.is_none() {
            return Some("needs an account with two-factor authentication: give --username, --password and --code of such an account".into());
        }
        if let Some(m) = &case.fuzz {
            if self.catalog.method(case.api, m).is_none() {
                return Some(format!("method {m} is not in the catalog"));
            }
        }
        None
    }

    fn result(
        &self,
        case: &Case,
        status: Status,
        reason: Option<String>,
        run: CaseRun,
        started: Instant,
    ) -> CaseResult {
        CaseResult {
            id: case.id.clone(),
            api: case.api,
            section: case.section.clone(),
            title: case.title.clone(),
            severity: run.severity,
            tags: case.tags.clone(),
            cites: case.cites.clone(),
            status,
            reason,
            duration_ms: started.elapsed().as_millis() as u64,
            findings: run.findings,
            steps: run.steps,
            rerun: self.rerun(&case.id),
        }
    }

    async fn case(&mut self, case: &Case) -> CaseResult {
        let started = Instant::now();
        let mut run = CaseRun {
            findings: Vec::new(),
            steps: Vec::new(),
            severity: case.severity,
        };
        if let Some(reason) = self.skip_reason(case) {
            return self.result(case, Status::Skip, Some(reason), run, started);
        }
        if let Some(method) = &case.fuzz {
            self.fuzz(case, method, &mut run).await;
        } else {
            let mut vars = self.builtins();
            for (i, step) in case.steps.iter().enumerate() {
                if !self.step(case, i, step, &mut vars, &mut run).await {
                    break;
                }
            }
        }
        let status = if run.findings.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        if let Some(worst) = run.findings.iter().map(|f| f.severity).min() {
            // A case is only as severe as its worst finding (never more than declared).
            run.severity = worst.max(case.severity);
        }
        self.result(case, status, None, run, started)
    }

    fn builtins(&self) -> Vars {
        let mut v = Vars::default();
        v.set("run_id", Value::String(self.run_id.clone()));
        let digits = u32::from_str_radix(&self.run_id, 16).unwrap_or(0) % 1_000_000;
        v.set("run_digits", Value::String(format!("{digits:06}")));
        if let Some(rx) = &self.callbacks {
            v.set("callback_url", Value::String(rx.url().to_string()));
        }
        v.set("seed", Value::from(self.opts.seed));
        v.set("target", Value::String(self.target.base.clone()));
        if let Some(t) = &self.target.token {
            v.set("token", Value::String(t.clone()));
        }
        if let Some(p) = &self.target.primary {
            v.set("username", Value::String(p.username.clone()));
            v.set("password", Value::String(p.password.clone()));
            if let Some(c) = p.code.as_ref().and_then(Code::current) {
                v.set("code", Value::String(c));
            }
        }
        if let Some(p) = &self.target.twofa {
            v.set("twofa_username", Value::String(p.username.clone()));
            v.set("twofa_password", Value::String(p.password.clone()));
        }
        if let Some(k) = &self.target.devino_key {
            v.set("devino_key", Value::String(k.clone()));
        }
        v
    }

    fn suite_finding(&self, case: &Case, step: usize, message: String) -> Finding {
        Finding {
            rule: rules::SUITE.into(),
            severity: case.severity,
            message,
            pointer: None,
            schema_path: None,
            expected: None,
            actual: None,
            hint: Some(format!("fix the suite ({})", case.source)),
            step: Some(step),
        }
    }

    /// Builds the HTTP request of a step; also returns the secrets it carries.
    fn build(&self, step: &Step, vars: &Vars) -> Result<(OutRequest, bool, Vec<Secret>), String> {
        let mut secrets = Vec::new();
        let mut note = |k: &str, v: &str| {
            if redact::is_secret_key(k) && v.len() >= 3 {
                secrets.push(Secret {
                    label: format!("the `{k}` sent"),
                    value: v.to_string(),
                });
            }
        };
        match &step.action {
            Action::Call(call) => {
                let method = vars.string(&call.method)?;
                let mut pairs = Vec::new();
                for (k, v) in &call.params {
                    if let Some(w) = vars::wire(&vars.value(v)?) {
                        note(k, &w);
                        pairs.push((vars.string(k)?, w));
                    }
                }
                let mut headers = Vec::new();
                match call.token {
                    TokenUse::Default => {
                        if let Some(t) = &self.target.token {
                            pairs.push(("access_token".into(), t.clone()));
                        }
                    }
                    TokenUse::Header => {
                        if let Some(t) = &self.target.token {
                            headers.push(("Authorization".to_string(), format!("Bearer {t}")));
                        }
                    }
                    TokenUse::Invalid => pairs.push((
                        "access_token".into(),
                        format!("vkconform-invalid-{}", self.run_id),
                    )),
                    TokenUse::None => {}
                }
                let path = format!("{}/method/{}", self.target.base, method);
                let req = match call.via {
                    Via::Post => OutRequest {
                        method: "POST".into(),
                        url: path,
                        headers,
                        body: Some(form_body(&pairs)),
                    },
                    Via::Get => {
                        let mut ser = form_urlencoded::Serializer::new(String::new());
                        for (k, v) in &pairs {
                            ser.append_pair(k, v);
                        }
                        let q = ser.finish();
                        OutRequest {
                            method: "GET".into(),
                            url: if q.is_empty() {
                                path
                            } else {
                                format!("{path}?{q}")
                            },
                            headers,
                            body: None,
                        }
                    }
                };
                Ok((req, call.write, secrets))
            }
            Action::Login(l) => {
                let account = match l.account {
                    AccountRef::Primary => self.target.primary.as_ref(),
                    AccountRef::TwoFactor => self.target.twofa.as_ref(),
                };
                let field = |over: &Option<Option<String>>,
                             from_account: Option<String>|
                 -> Result<Option<String>, String> {
                    match over {
                        Some(Some(s)) => vars.string(s).map(Some),
                        Some(None) => Ok(None),
                        None => Ok(from_account),
                    }
                };
                let mut pairs = Vec::new();
                if let Some(g) = field(&l.grant_type, Some("password".into()))? {
                    pairs.push(("grant_type".to_string(), g));
                }
                if let Some(u) = field(&l.username, account.map(|a| a.username.clone()))? {
                    pairs.push(("username".into(), u));
                }
                if let Some(p) = field(&l.password, account.map(|a| a.password.clone()))? {
                    note("password", &p);
                    pairs.push(("password".into(), p));
                }
                if let Some(c) = field(
                    &l.code,
                    account
                        .and_then(|a| a.code.as_ref())
                        .and_then(Code::current),
                )? {
                    note("code", &c);
                    pairs.push(("code".into(), c));
                }
                pairs.push(("client_name".into(), "vkconform".into()));
                Ok((
                    OutRequest {
                        method: "POST".into(),
                        url: format!("{}/token", self.target.base),
                        headers: Vec::new(),
                        body: Some(form_body(&pairs)),
                    },
                    false,
                    secrets,
                ))
            }
            Action::Request(r) => {
                let mut url = format!("{}{}", self.target.base, vars.string(&r.path)?);
                let mut ser = form_urlencoded::Serializer::new(String::new());
                let mut any = false;
                for (k, v) in &r.query {
                    if let Some(w) = vars::wire(&vars.value(v)?) {
                        note(k, &w);
                        ser.append_pair(&vars.string(k)?, &w);
                        any = true;
                    }
                }
                if any {
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str(&ser.finish());
                }
                let mut headers = Vec::new();
                for (k, v) in &r.headers {
                    let v = vars.string(v)?;
                    if redact::is_secret_header(k) {
                        let token = v.split_once(' ').map(|(_, t)| t).unwrap_or(&v).to_string();
                        note("access_token", &token);
                    }
                    headers.push((k.clone(), v));
                }
                let body = match &r.body {
                    Body::None => None,
                    Body::Json(j) => Some((
                        "application/json".to_string(),
                        serde_json::to_vec(&vars.value(j)?).unwrap_or_default(),
                    )),
                    Body::Form(f) => {
                        let mut pairs = Vec::new();
                        for (k, v) in f {
                            if let Some(w) = vars::wire(&vars.value(v)?) {
                                note(k, &w);
                                pairs.push((k.clone(), w));
                            }
                        }
                        Some(form_body(&pairs))
                    }
                    Body::Text(t) => Some(("text/plain".to_string(), vars.string(t)?.into_bytes())),
                    Body::Repeat { count, item } => {
                        let width = count.saturating_sub(1).to_string().len().max(4);
                        let mut local = vars.clone();
                        let mut items = Vec::with_capacity(*count);
                        for i in 0..*count {
                            local.set(
                                crate::suite::INDEX_VAR,
                                Value::String(format!("{i:0width$}")),
                            );
                            items.push(local.value(item)?);
                        }
                        Some((
                            "application/json".to_string(),
                            serde_json::to_vec(&Value::Array(items)).unwrap_or_default(),
                        ))
                    }
                };
                Ok((
                    OutRequest {
                        method: r.method.clone(),
                        url,
                        headers,
                        body,
                    },
                    r.write,
                    secrets,
                ))
            }
            Action::AwaitCallbacks(_) => Err("`await_callbacks` sends no request".into()),
        }
    }

    /// An exchange for the report (redacted here, and again with the final redactor).
    fn exchange(&self, req: &OutRequest, sent: &Sent, took: Duration) -> Exchange {
        let body = req.body.as_ref().map(|(ct, b)| {
            let text = String::from_utf8_lossy(b).to_string();
            let text = if ct.contains("json") {
                match serde_json::from_str::<Value>(&text) {
                    Ok(mut v) => {
                        self.redactor.value(&mut v);
                        v.to_string()
                    }
                    Err(_) => self.redactor.text(&text),
                }
            } else {
                self.redactor.text(&text)
            };
            // Huge bodies (e.g. 1001 Devino messages) are kept short in reports.
            if text.chars().count() > MAX_REPORTED_BODY {
                let mut short: String = text.chars().take(MAX_REPORTED_BODY).collect();
                short.push('…');
                short
            } else {
                text
            }
        });
        let (status, content_type, excerpt) = match sent {
            Sent::Answer(a) => {
                let text = self.redactor.text(&String::from_utf8_lossy(&a.body));
                let mut ex: String = text.chars().take(2048).collect();
                if text.chars().count() > 2048 {
                    ex.push('…');
                }
                (
                    Some(a.status),
                    a.header("content-type").map(str::to_string),
                    Some(ex),
                )
            }
            Sent::Redirect { status, location } => (
                Some(*status),
                None,
                location
                    .as_ref()
                    .map(|l| format!("Location: {}", display_url(l))),
            ),
            Sent::Timeout => (None, None, Some("(no answer: timed out)".into())),
            Sent::Transport(e) => (
                None,
                None,
                Some(format!("(no answer: {})", self.redactor.text(e))),
            ),
        };
        Exchange {
            method: req.method.clone(),
            url: self.redactor.text(&req.url),
            body,
            status,
            content_type,
            excerpt,
            duration_ms: took.as_millis() as u64,
        }
    }

    /// Sends with retries on 6/9/29 (unless the step expects that code); records every attempt.
    async fn send(
        &mut self,
        req: &OutRequest,
        write: bool,
        expected: &[i64],
        run: &mut CaseRun,
    ) -> Sent {
        let mut attempt = 0u32;
        loop {
            let t0 = Instant::now();
            let sent = self.client.send(req, write).await;
            run.steps.push(self.exchange(req, &sent, t0.elapsed()));
            if let Sent::Answer(a) = &sent {
                if let Some(code) =
                    serde_json::from_slice::<Value>(&a.body)
                        .ok()
                        .and_then(|b| match classify(&b) {
                            Answer::Error { error, .. } => Some(error.code),
                            _ => None,
                        })
                {
                    if RETRY_CODES.contains(&code)
                        && !expected.contains(&code)
                        && attempt < self.opts.retries
                    {
                        attempt += 1;
                        tokio::time::sleep(self.opts.retry_wait).await;
                        continue;
                    }
                }
            }
            return sent;
        }
    }

    fn transport_findings(&self, sent: &Sent, severity: Severity, step: usize) -> Option<Finding> {
        match sent {
            Sent::Timeout => Some(validate::timeout_finding(
                severity,
                Some(step),
                self.opts.timeout.as_millis() as u64,
            )),
            Sent::Transport(e) => Some(validate::transport_finding(
                severity,
                Some(step),
                &self.redactor.text(e),
            )),
            Sent::Redirect { status, location } => Some(validate::redirect_finding(
                severity,
                Some(step),
                *status,
                location.as_deref().map(display_url).as_deref(),
            )),
            Sent::Answer(_) => None,
        }
    }

    /// Runs one step; false when the case cannot go on.
    async fn step(
        &mut self,
        case: &Case,
        i: usize,
        step: &Step,
        vars: &mut Vars,
        run: &mut CaseRun,
    ) -> bool {
        if let Action::AwaitCallbacks(a) = &step.action {
            return self.await_callbacks(case, i, a, vars, run).await;
        }
        let (req, write, step_secrets) = match self.build(step, vars) {
            Ok(x) => x,
            Err(e) => {
                run.findings.push(self.suite_finding(
                    case,
                    i,
                    format!("step {} cannot be built: {e}", i + 1),
                ));
                return false;
            }
        };
        for s in &step_secrets {
            self.redactor.add(s.value.clone());
        }
        let expect = match interpolate_expect(&step.expect, vars) {
            Ok(e) => e,
            Err(e) => {
                run.findings.push(self.suite_finding(
                    case,
                    i,
                    format!("step {} expectations: {e}", i + 1),
                ));
                return false;
            }
        };
        let expected_codes = match &expect.outcome {
            Outcome::Error(c) => c.clone(),
            _ => Vec::new(),
        };
        let sent = self.send(&req, write, &expected_codes, run).await;
        if let Some(f) = self.transport_findings(&sent, case.severity, i) {
            run.findings.push(f);
            return false;
        }
        let Sent::Answer(ans) = sent else {
            return false;
        };
        let kind = match &step.action {
            Action::Call(c) => StepKind::Call(
                self.catalog
                    .method(case.api, &vars.string(&c.method).unwrap_or_default())
                    .filter(|m| m.name != "token"),
            ),
            Action::Login(_) => StepKind::Login,
            Action::Request(_) | Action::AwaitCallbacks(_) => StepKind::Request,
        };
        let mut secrets = self.secrets.clone();
        secrets.extend(step_secrets);
        let ctx = Context {
            catalog: self.catalog,
            profile: self.opts.profile,
            kind,
            expect: &expect,
            severity: case.severity,
            secrets: &secrets,
            step: Some(i),
        };
        let checked = validate::check_answer(&ctx, &ans);
        if matches!(step.action, Action::Login(_)) {
            if let Some(t) = checked
                .body
                .as_ref()
                .and_then(|b| b.get("access_token"))
                .and_then(Value::as_str)
            {
                self.redactor.add(t.to_string());
            }
        }
        run.findings.extend(checked.findings);
        if case.api == Api::Devino {
            if let (Some(rx), Some(body)) = (&self.callbacks, &checked.body) {
                rx.register_results(body);
            }
        }
        if let Some(value) = &checked.value {
            for x in extra::failures(value, &expect.extra) {
                run.findings.push(Finding {
                    rule: rules::EXPECT.into(),
                    severity: case.severity,
                    message: x.failure.message,
                    pointer: Some(x.at),
                    schema_path: None,
                    expected: Some(x.failure.expected),
                    actual: Some(x.failure.actual),
                    hint: None,
                    step: Some(i),
                });
            }
        }
        if checked.fatal {
            return false;
        }
        for (name, ptrs) in &step.capture {
            let value = checked.value.as_ref();
            let found = value.and_then(|v| {
                let resolved: Vec<&Value> = ptrs
                    .iter()
                    .filter_map(|p| v.pointer(p))
                    .filter(|x| !x.is_null())
                    .collect();
                resolved
                    .iter()
                    .find(|x| !x.is_object() && !x.is_array())
                    .or(resolved.first())
                    .map(|x| (*x).clone())
            });
            match found {
                Some(v) => vars.set(name, v),
                None => {
                    run.findings.push(Finding {
                        rule: rules::CAPTURE.into(),
                        severity: case.severity,
                        message: format!("nothing to capture as `{name}` at {}", ptrs.join(" or ")),
                        pointer: ptrs.first().cloned(),
                        schema_path: None,
                        expected: Some(format!("a value at {}", ptrs.join(" or "))),
                        actual: value.map(validate::excerpt),
                        hint: Some("the answer lacks the field later steps need".into()),
                        step: Some(i),
                    });
                    return false;
                }
            }
        }
        true
    }

    /// Runs an `await_callbacks` step: waits at the receiver, then judges
    /// what arrived. Later steps run whatever the verdict.
    async fn await_callbacks(
        &mut self,
        case: &Case,
        i: usize,
        a: &AwaitCallbacks,
        vars: &Vars,
        run: &mut CaseRun,
    ) -> bool {
        let Some(rx) = &self.callbacks else {
            run.findings.push(self.suite_finding(
                case,
                i,
                format!("step {}: no callback receiver is running", i + 1),
            ));
            return false;
        };
        let id = match vars.value(&a.message_id) {
            Ok(v) => match callbacks::message_id_of(&v) {
                Some(id) => id,
                None => {
                    run.findings.push(self.suite_finding(
                        case,
                        i,
                        format!(
                            "step {}: message_id {} is not a Devino message ID (digits)",
                            i + 1,
                            validate::excerpt(&v)
                        ),
                    ));
                    return false;
                }
            },
            Err(e) => {
                run.findings
                    .push(self.suite_finding(case, i, format!("step {}: {e}", i + 1)));
                return false;
            }
        };
        let data = match a.callback_data.as_ref().map(|d| vars.value(d)).transpose() {
            Ok(d) => d,
            Err(e) => {
                run.findings
                    .push(self.suite_finding(case, i, format!("step {}: {e}", i + 1)));
                return false;
            }
        };
        let waited = rx
            .wait(
                &id,
                &a.expected,
                Duration::from_millis(a.timeout_ms),
                Duration::from_millis(a.settle_ms),
            )
            .await;
        let want = callbacks::Expectation {
            expected: &a.expected,
            callback_data: data.as_ref(),
            timeout_ms: a.timeout_ms,
        };
        let findings = callbacks::judge(
            self.catalog,
            &waited,
            &want,
            &|m| rx.is_known(m),
            case.severity,
            i,
        );
        run.steps.push(Exchange {
            method: "AWAIT".into(),
            url: self.redactor.text(&display_url(rx.url())),
            body: None,
            status: None,
            content_type: None,
            excerpt: Some(self.redactor.text(&callbacks::summary(&waited))),
            duration_ms: waited.elapsed.as_millis() as u64,
        });
        run.findings.extend(findings);
        true
    }

    async fn fuzz(&mut self, case: &Case, method: &str, run: &mut CaseRun) {
        let Some(spec) = self.catalog.method(case.api, method) else {
            return;
        };
        let inputs = crate::fuzz::inputs(spec, self.opts.seed, self.opts.fuzz_cases);
        for (i, input) in inputs.iter().enumerate() {
            let mut pairs = input.params.clone();
            if let Some(t) = &self.target.token {
                pairs.push(("access_token".into(), t.clone()));
            }
            let req = OutRequest {
                method: "POST".into(),
                url: format!("{}/method/{}", self.target.base, spec.name),
                headers: Vec::new(),
                body: Some(form_body(&pairs)),
            };
            let sent = self.send(&req, false, &[], run).await;
            let label = format!("input {} (`{}`)", i + 1, input.describe());
            if let Some(mut f) = self.transport_findings(&sent, case.severity, i) {
                f.message = format!("{label}: {}", f.message);
                run.findings.push(f);
                continue;
            }
            let Sent::Answer(ans) = sent else { continue };
            let classified = serde_json::from_slice::<Value>(&ans.body)
                .ok()
                .map(|b| classify(&b));
            let outcome = match (&classified, &input.wrong_typed) {
                (Some(Answer::Error { .. }), Some(_)) => Outcome::Error(vec![100]),
                (Some(Answer::Error { error, .. }), None) => Outcome::Error(vec![error.code]),
                _ => Outcome::Response { schema: true },
            };
            let expect = Expect {
                outcome,
                ..Expect::default()
            };
            let ctx = Context {
                catalog: self.catalog,
                profile: self.opts.profile,
                kind: StepKind::Call(Some(spec)),
                expect: &expect,
                severity: case.severity,
                secrets: &self.secrets,
                step: Some(i),
            };
            let checked = validate::check_answer(&ctx, &ans);
            for mut f in checked.findings {
                if f.rule == rules::ERROR_CODE {
                    f.severity = f.severity.max(Severity::Should);
                }
                f.message = format!("{label}: {}", f.message);
                run.findings.push(f);
            }
            if let (Some(Answer::Response(_)), Some(p)) = (&classified, &input.wrong_typed) {
                run.findings.push(Finding {
                    rule: rules::ERROR_CODE.into(),
                    severity: Severity::Should.max(case.severity),
                    message: format!("{label}: a wrongly typed `{p}` was accepted with a success response"),
                    pointer: None,
                    schema_path: None,
                    expected: Some("error 100".into()),
                    actual: Some("success".into()),
                    hint: Some("a parameter that cannot be coerced to its documented type must answer error 100".into()),
                    step: Some(i),
                });
            }
        }
    }
}

fn interpolate_expect(e: &Expect, vars: &Vars) -> Result<Expect, String> {
    let mut out = e.clone();
    for a in &mut out.json {
        for c in &mut a.checks {
            match c {
                Check::Equals(v)
                | Check::NotEquals(v)
                | Check::Contains(v)
                | Check::NotContains(v) => *v = vars.value(v)?,
                Check::In(vs) => {
                    for v in vs.iter_mut() {
                        *v = vars.value(v)?;
                    }
                }
                Check::Matches(s) => *s = vars.string(s)?,
                _ => {}
            }
        }
    }
    for x in &mut out.extra {
        match x {
            ExtraCheck::Sorted { .. } => {}
            ExtraCheck::Each { assertions, .. } => interpolate_assertions(assertions, vars)?,
            ExtraCheck::AnyOf(groups) => {
                for g in groups.iter_mut() {
                    interpolate_assertions(g, vars)?;
                }
            }
        }
    }
    Ok(out)
}

fn interpolate_assertions(
    assertions: &mut [crate::suite::Assertion],
    vars: &Vars,
) -> Result<(), String> {
    let mut e = Expect {
        json: assertions.to_vec(),
        ..Expect::default()
    };
    e = interpolate_expect(&e, vars)?;
    assertions.clone_from_slice(&e.json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_urls_lose_credentials_and_queries() {
        assert_eq!(
            display_url("https://u:p@ovk.example/api?access_token=x"),
            "https://ovk.example/api"
        );
    }

    #[test]
    fn shell_quoting_is_minimal() {
        assert_eq!(
            shell_quote("id:openvk/Users.get/success"),
            "id:openvk/Users.get/success"
        );
        assert_eq!(shell_quote("a b'c"), "'a b'\\''c'");
    }
}
