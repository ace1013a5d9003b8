//! The runner's Devino callback receiver: a small HTTP server (on
//! `127.0.0.1:0` by default, `--callback-listen ADDR`) whose URL the suites
//! pass as `status_url` through `${callback_url}` (or the public URL given
//! with `--callback-url`, forwarded to the listen address). It stores every
//! POST it gets (bounded), and `await_callbacks` steps wait on it and judge
//! what arrived:
//!
//! * every callback body must be valid against
//!   `schemas/devino/callback.status.json` (an unknown status, a missing
//!   field, a body that is not JSON → a `schema` finding);
//! * every callback must name a `messageId` the server returned in a
//!   `result[].messageId` of this run (else `callback-unknown-message`);
//! * the statuses of one message must come in a valid order
//!   (`callback-order`, see [`order_problems`]);
//! * the statuses the step expects must arrive within its timeout, each
//!   carrying the message's `callbackData` when the step names it
//!   (`callback`).
//!
//! Waiting never polls: each stored POST wakes the waiters through a
//! [`Notify`], and every wait is bounded by `tokio::time::timeout_at`.
//!
//! ```
//! use vkconform::runner::callbacks::order_problems;
//! let ok: Vec<String> = ["SENT", "DELIVERED", "READ"].iter().map(|s| s.to_string()).collect();
//! assert!(order_problems(&ok).is_empty());
//! let bad: Vec<String> = ["SENT", "READ"].iter().map(|s| s.to_string()).collect();
//! assert_eq!(order_problems(&bad).len(), 1);
//! ```

use crate::report::{Finding, Severity};
use crate::schema::Catalog;
use crate::validate;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// Rule ids of the findings this module makes (besides `schema`).
pub mod rules {
    /// The expected statuses did not arrive (in time), or lack the message's `callbackData`.
    pub const CALLBACK: &str = "callback";
    /// The statuses of one message arrived in an impossible order.
    pub const CALLBACK_ORDER: &str = "callback-order";
    /// A callback names a `messageId` the server never returned in this run.
    pub const CALLBACK_UNKNOWN: &str = "callback-unknown-message";
}

/// The schema every callback body must satisfy.
pub const SCHEMA: &str = "devino/callback.status.json";
/// Most POSTs kept; older ones are dropped first (and counted).
pub const MAX_POSTS: usize = 10_000;
/// Largest callback body read (larger ones are answered 413 and reported).
pub const MAX_CALLBACK_BODY: usize = 64 * 1024;
/// Most body bytes kept over all stored POSTs; older ones are dropped first.
pub const MAX_STORED_BYTES: usize = 16 * 1024 * 1024;
/// Most message IDs remembered as returned by the server.
pub const MAX_KNOWN_IDS: usize = 100_000;
/// The path of `${callback_url}` on the local receiver.
pub const DEFAULT_PATH: &str = "/vkconform/devino/status";
/// The statuses Devino documents.
pub const STATUSES: [&str; 7] = [
    "SENT",
    "DELIVERED",
    "UNDELIVERABLE",
    "EXPIRED",
    "RATELIMIT",
    "READ",
    "UNKNOWN",
];
/// Statuses after which nothing may follow (`READ` ends a sequence too).
pub const TERMINAL: [&str; 4] = ["UNDELIVERABLE", "EXPIRED", "RATELIMIT", "UNKNOWN"];
/// Most findings one `await_callbacks` step reports per kind (the rest are summed up).
const MAX_FINDINGS_PER_KIND: usize = 10;

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Post {
    /// Arrival number (0, 1, …) over the run.
    pub seq: u64,
    /// Request path.
    pub path: String,
    /// Milliseconds since the receiver started.
    pub at_ms: u64,
    /// The parsed body, or why it could not be read as JSON.
    pub body: Result<Value, String>,
    /// Size of the body as received, in bytes.
    pub size: usize,
}

/// One status object of a callback body.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The POST it came in.
    pub post: u64,
    /// Its index in the body's array.
    pub index: usize,
    /// `messageId` as digits (an integer or a string of digits), when present.
    pub message_id: Option<String>,
    /// `status`, when a string.
    pub status: Option<String>,
    /// `ts`, when an integer.
    pub ts: Option<i64>,
    /// The whole object.
    pub value: Value,
}

/// Every status object of a POST (none when the body is not a JSON array).
pub fn items_of(post: &Post) -> Vec<Item> {
    let Ok(Value::Array(items)) = &post.body else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .map(|(index, v)| Item {
            post: post.seq,
            index,
            message_id: v.get("messageId").and_then(message_id_of),
            status: v.get("status").and_then(Value::as_str).map(str::to_string),
            ts: v.get("ts").and_then(Value::as_i64),
            value: v.clone(),
        })
        .collect()
}

/// A Devino message ID as digits: from an integer (exact, never through a
/// float) or a string of digits; `None` for anything else.
pub fn message_id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_u64() => n.as_u64().map(|x| x.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// Why a status sequence is impossible: `(severity, explanation)` per problem.
///
/// Valid sequences (arrival order): `SENT`, then either `DELIVERED` and
/// optionally `READ`, or one terminal status (`UNDELIVERABLE`, `EXPIRED`,
/// `RATELIMIT`, `UNKNOWN`); or a lone `RATELIMIT` or `UNKNOWN` (a message
/// refused by a limit, or failing, before it was sent — the mock sends a lone
/// `RATELIMIT` for a message over a limit). Nothing follows `READ` or a
/// terminal status. A status repeated right after itself (a re-sent
/// callback) is a `should` problem; statuses the doc does not list are left
/// to the schema check.
pub fn order_problems(statuses: &[String]) -> Vec<(Severity, String)> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Start,
        Sent,
        Delivered,
        Done,
    }
    let mut out = Vec::new();
    let mut state = St::Start;
    let mut last: Option<&str> = None;
    let mut final_status = "";
    for s in statuses.iter().map(String::as_str) {
        if !STATUSES.contains(&s) {
            continue;
        }
        if last == Some(s) {
            out.push((
                Severity::Should,
                format!("{s} arrived twice in a row (a re-sent callback?)"),
            ));
            continue;
        }
        last = Some(s);
        let terminal = TERMINAL.contains(&s);
        state = match (state, s) {
            (St::Done, _) => {
                out.push((
                    Severity::Must,
                    format!("{s} after {final_status}, which ends the message's statuses"),
                ));
                St::Done
            }
            (St::Start, "SENT") => St::Sent,
            (St::Start, "RATELIMIT" | "UNKNOWN") => St::Done,
            (St::Start, _) => {
                out.push((Severity::Must, format!("{s} before SENT")));
                match s {
                    "DELIVERED" => St::Delivered,
                    _ => St::Done,
                }
            }
            (St::Sent, "DELIVERED") => St::Delivered,
            (St::Sent, "READ") => {
                out.push((Severity::Must, "READ before DELIVERED".to_string()));
                St::Done
            }
            (St::Sent, _) if terminal => St::Done,
            (St::Delivered, "READ") => St::Done,
            (St::Sent | St::Delivered, "SENT") => {
                out.push((
                    Severity::Must,
                    "SENT again after later statuses".to_string(),
                ));
                state
            }
            (St::Delivered, _) => {
                out.push((
                    Severity::Must,
                    format!("{s} after DELIVERED (only READ may follow DELIVERED)"),
                ));
                St::Done
            }
            (St::Sent, _) => St::Done,
        };
        if state == St::Done && final_status.is_empty() {
            final_status = s;
        }
    }
    out
}

/// How far a status sequence is from the expected ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Equal to an expected sequence (or, with none expected, at least one status).
    Complete,
    /// A prefix of an expected sequence: more should come.
    Pending,
    /// Not a prefix of any expected sequence: waiting longer cannot help.
    Deviated,
}

/// Compares arrived statuses with the expected sequences (empty: any first status completes).
pub fn progress(statuses: &[String], expected: &[Vec<String>]) -> Progress {
    if expected.is_empty() {
        return if statuses.is_empty() {
            Progress::Pending
        } else {
            Progress::Complete
        };
    }
    if expected.iter().any(|e| e.as_slice() == statuses) {
        Progress::Complete
    } else if expected
        .iter()
        .any(|e| e.len() > statuses.len() && e[..statuses.len()] == *statuses)
    {
        Progress::Pending
    } else {
        Progress::Deviated
    }
}

#[derive(Default)]
struct Inner {
    posts: VecDeque<Post>,
    bytes: usize,
    next_seq: u64,
    dropped: u64,
    reported_dropped: u64,
    /// Posts with `seq` below this were judged by an earlier step.
    checked_upto: u64,
    known: HashSet<String>,
    known_order: VecDeque<String>,
}

struct Shared {
    inner: Mutex<Inner>,
    notify: Notify,
    started: Instant,
}

impl Shared {
    /// An empty receiver store, its clock starting now.
    fn new() -> Shared {
        Shared {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            started: Instant::now(),
        }
    }

    fn store(&self, path: String, body: Result<Value, String>, size: usize) {
        {
            let mut g = self.inner.lock().expect("receiver lock");
            let seq = g.next_seq;
            g.next_seq += 1;
            while !g.posts.is_empty()
                && (g.posts.len() >= MAX_POSTS || g.bytes + size > MAX_STORED_BYTES)
            {
                if let Some(old) = g.posts.pop_front() {
                    g.bytes -= old.size;
                    if old.seq >= g.checked_upto {
                        g.dropped += 1;
                    }
                }
            }
            g.bytes += size;
            g.posts.push_back(Post {
                seq,
                path,
                at_ms: self.started.elapsed().as_millis() as u64,
                body,
                size,
            });
        }
        self.notify.notify_waiters();
    }
}

/// What one wait saw.
#[derive(Debug, Clone)]
pub struct Waited {
    /// The message waited for.
    pub message_id: String,
    /// Its status objects, in arrival order.
    pub items: Vec<Item>,
    /// True when the wait ended at the timeout.
    pub timed_out: bool,
    /// How long the wait took.
    pub elapsed: Duration,
    /// POSTs no earlier step judged (now marked as judged), any message.
    pub fresh: Vec<Post>,
    /// POSTs dropped from the full buffer, unjudged, since the last wait.
    pub dropped: u64,
}

impl Waited {
    /// The statuses that arrived, in order.
    pub fn statuses(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|i| i.status.clone().unwrap_or_else(|| "(none)".into()))
            .collect()
    }
}

/// A running callback receiver; stops when dropped.
pub struct Receiver {
    url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("url", &self.url)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Receiver {
    /// Starts listening on `listen` (port 0: a free port) inside the current
    /// tokio runtime. `${callback_url}` is `public_url` when given (it must
    /// reach this address), else `http://ADDR/vkconform/devino/status`.
    pub async fn start(listen: SocketAddr, public_url: Option<&str>) -> Result<Receiver, String> {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            format!("cannot listen for Devino callbacks on {listen}: {e}; choose another --callback-listen address")
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen for Devino callbacks on {listen}: {e}"))?;
        let shared = Arc::new(Shared::new());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let url = match public_url {
            Some(u) => u.to_string(),
            None => format!("http://{addr}{DEFAULT_PATH}"),
        };
        Ok(Receiver {
            url,
            addr,
            shared,
            stop: Some(tx),
        })
    }

    /// The URL suites send as `status_url` (`${callback_url}`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Remembers a message ID the server returned (so its callbacks are not "unknown").
    pub fn register(&self, message_id: &str) {
        let mut g = self.shared.inner.lock().expect("receiver lock");
        if g.known.insert(message_id.to_string()) {
            g.known_order.push_back(message_id.to_string());
            if g.known_order.len() > MAX_KNOWN_IDS {
                if let Some(old) = g.known_order.pop_front() {
                    g.known.remove(&old);
                }
            }
        }
    }

    /// Registers every `result[].messageId` of a `POST /vk/messages` answer; returns how many.
    pub fn register_results(&self, body: &Value) -> usize {
        let Some(results) = body.get("result").and_then(Value::as_array) else {
            return 0;
        };
        let ids: Vec<String> = results
            .iter()
            .filter_map(|r| r.get("messageId").and_then(message_id_of))
            .collect();
        for id in &ids {
            self.register(id);
        }
        ids.len()
    }

    /// Whether the server returned this message ID in this run.
    pub fn is_known(&self, message_id: &str) -> bool {
        self.shared
            .inner
            .lock()
            .expect("receiver lock")
            .known
            .contains(message_id)
    }

    /// Every POST kept so far (oldest first).
    pub fn posts(&self) -> Vec<Post> {
        self.shared
            .inner
            .lock()
            .expect("receiver lock")
            .posts
            .iter()
            .cloned()
            .collect()
    }

    fn items_for(&self, message_id: &str) -> Vec<Item> {
        let g = self.shared.inner.lock().expect("receiver lock");
        g.posts
            .iter()
            .flat_map(items_of)
            .filter(|i| i.message_id.as_deref() == Some(message_id))
            .collect()
    }

    /// Waits until the statuses of `message_id` complete one of `expected`
    /// (with none expected: until its first callback), deviate from all of
    /// them, or `timeout` passes; once complete, waits `settle` longer for
    /// statuses that should not follow. Also hands over (and marks as judged)
    /// every POST no earlier wait judged.
    pub async fn wait(
        &self,
        message_id: &str,
        expected: &[Vec<String>],
        timeout: Duration,
        settle: Duration,
    ) -> Waited {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut timed_out = false;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let statuses: Vec<String> = self
                .items_for(message_id)
                .into_iter()
                .map(|i| i.status.unwrap_or_default())
                .collect();
            match progress(&statuses, expected) {
                Progress::Complete => {
                    if !settle.is_zero() {
                        tokio::time::sleep(settle).await;
                    }
                    break;
                }
                Progress::Deviated => break,
                Progress::Pending => {}
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                timed_out = true;
                break;
            }
        }
        let items = self.items_for(message_id);
        let mut g = self.shared.inner.lock().expect("receiver lock");
        let from = g.checked_upto;
        let fresh: Vec<Post> = g.posts.iter().filter(|p| p.seq >= from).cloned().collect();
        g.checked_upto = g.next_seq;
        let dropped = g.dropped - g.reported_dropped;
        g.reported_dropped = g.dropped;
        Waited {
            message_id: message_id.to_string(),
            items,
            timed_out,
            elapsed: started.elapsed(),
            fresh,
            dropped,
        }
    }
}

/// Stores one POST; anything else is 405.
async fn receive(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if req.method() != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "vkconform callback receiver: POST status callbacks here\n",
        )
            .into_response();
    }
    let path = req.uri().path().to_string();
    match axum::body::to_bytes(req.into_body(), MAX_CALLBACK_BODY).await {
        Ok(bytes) => {
            let body = serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                let text: String = String::from_utf8_lossy(&bytes).chars().take(120).collect();
                format!("not JSON ({e}): {text}")
            });
            shared.store(path, body, bytes.len());
            (StatusCode::OK, axum::Json(serde_json::json!({"ok": true}))).into_response()
        }
        Err(_) => {
            shared.store(
                path,
                Err(format!("a body larger than {MAX_CALLBACK_BODY} bytes")),
                0,
            );
            (StatusCode::PAYLOAD_TOO_LARGE, "callback body too large\n").into_response()
        }
    }
}

/// What an `await_callbacks` step expects (variables already substituted).
#[derive(Debug, Clone)]
pub struct Expectation<'a> {
    /// Acceptable status sequences (empty: any valid one).
    pub expected: &'a [Vec<String>],
    /// Every callback must carry this `callbackData`.
    pub callback_data: Option<&'a Value>,
    /// The step's timeout, for messages.
    pub timeout_ms: u64,
}

/// Judges what a wait saw: the fresh POSTs (schema, unknown message IDs) and
/// the awaited message's statuses (order, expectation, `callbackData`).
/// `known` tells whether the server returned a message ID in this run.
pub fn judge(
    catalog: &Catalog,
    waited: &Waited,
    want: &Expectation<'_>,
    known: &dyn Fn(&str) -> bool,
    severity: Severity,
    step: usize,
) -> Vec<Finding> {
    let finding = |rule: &str, rule_severity: Severity, message: String| Finding {
        rule: rule.to_string(),
        severity: rule_severity.max(severity),
        message,
        pointer: None,
        schema_path: None,
        expected: None,
        actual: None,
        hint: None,
        step: Some(step),
    };
    let mut out = Vec::new();
    // 1. Every fresh POST: valid body, known message IDs.
    let mut schema_n = 0usize;
    let mut unknown_n = 0usize;
    let mut unknown_seen: HashSet<String> = HashSet::new();
    for post in &waited.fresh {
        match &post.body {
            Err(why) => {
                schema_n += 1;
                if schema_n <= MAX_FINDINGS_PER_KIND {
                    let mut f = finding(
                        validate::rules::SCHEMA,
                        Severity::Must,
                        format!("callback #{} to {} is {why}", post.seq + 1, post.path),
                    );
                    f.expected = Some(format!("a JSON body valid against schemas/{SCHEMA}"));
                    out.push(f);
                }
            }
            Ok(body) => {
                if let Err(vs) = catalog.validate(SCHEMA, body) {
                    schema_n += 1;
                    if schema_n <= MAX_FINDINGS_PER_KIND {
                        for v in vs.iter().take(3) {
                            let at = if v.instance_path.is_empty() {
                                "(root)".to_string()
                            } else {
                                v.instance_path.clone()
                            };
                            let mut f = finding(
                                validate::rules::SCHEMA,
                                Severity::Must,
                                format!("callback #{} at {at}: {}", post.seq + 1, v.message),
                            );
                            f.pointer = Some(v.instance_path.clone());
                            f.schema_path = Some(v.schema_path.clone());
                            f.expected = Some(format!("valid against schemas/{SCHEMA}"));
                            f.actual = Some(validate::excerpt(body));
                            f.hint = Some(format!(
                                "see schemas/{SCHEMA}{}; statuses are {}",
                                v.schema_path,
                                STATUSES.join(", ")
                            ));
                            out.push(f);
                        }
                    }
                }
                for item in items_of(post) {
                    let Some(id) = &item.message_id else { continue };
                    if known(id) || !unknown_seen.insert(id.clone()) {
                        continue;
                    }
                    unknown_n += 1;
                    if unknown_n <= MAX_FINDINGS_PER_KIND {
                        let mut f = finding(
                            rules::CALLBACK_UNKNOWN,
                            Severity::Must,
                            format!(
                                "callback #{} is for message {id} ({}), which the server never returned in this run",
                                post.seq + 1,
                                item.status.as_deref().unwrap_or("no status")
                            ),
                        );
                        f.pointer = Some(format!("/{}/messageId", item.index));
                        f.expected =
                            Some("a messageId from a result[].messageId of this run".into());
                        f.actual = Some(id.clone());
                        f.hint = Some("send callbacks only for the messages of this client, with the messageId POST /vk/messages returned".into());
                        out.push(f);
                    }
                }
            }
        }
    }
    for (n, rule) in [
        (schema_n, validate::rules::SCHEMA),
        (unknown_n, rules::CALLBACK_UNKNOWN),
    ] {
        if n > MAX_FINDINGS_PER_KIND {
            out.push(finding(
                rule,
                Severity::Must,
                format!(
                    "… and {} more callbacks like these",
                    n - MAX_FINDINGS_PER_KIND
                ),
            ));
        }
    }
    if waited.dropped > 0 {
        out.push(finding(
            rules::CALLBACK,
            Severity::Should,
            format!(
                "{} callbacks were dropped unjudged: the receiver keeps the last {MAX_POSTS} (at most {} MiB)",
                waited.dropped,
                MAX_STORED_BYTES / (1024 * 1024)
            ),
        ));
    }
    // 2. The awaited message.
    let id = &waited.message_id;
    let statuses = waited.statuses();
    for (sev, why) in order_problems(&statuses) {
        let mut f = finding(
            rules::CALLBACK_ORDER,
            sev,
            format!("message {id}: {why} (statuses: {})", statuses.join(" → ")),
        );
        f.expected = Some("SENT, then DELIVERED and READ, or one of UNDELIVERABLE, EXPIRED, RATELIMIT, UNKNOWN; nothing after READ or those".into());
        f.actual = Some(statuses.join(" → "));
        out.push(f);
    }
    let ts: Vec<i64> = waited.items.iter().filter_map(|i| i.ts).collect();
    if ts.windows(2).any(|w| w[1] < w[0]) {
        let mut f = finding(
            rules::CALLBACK_ORDER,
            Severity::Should,
            format!("message {id}: the callbacks' ts values go back in time ({ts:?})"),
        );
        f.hint = Some("send a message's callbacks in the order of their ts".into());
        out.push(f);
    }
    let complete = progress(&statuses, want.expected) == Progress::Complete;
    if !complete {
        let wanted = if want.expected.is_empty() {
            "at least one status callback".to_string()
        } else {
            want.expected
                .iter()
                .map(|e| e.join(" → "))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let got = if statuses.is_empty() {
            "none".to_string()
        } else {
            statuses.join(" → ")
        };
        let when = if waited.timed_out {
            format!(" within {} ms", want.timeout_ms)
        } else {
            String::new()
        };
        let mut f = finding(
            rules::CALLBACK,
            Severity::Must,
            if statuses.is_empty() {
                format!("no status callback for message {id}{when}")
            } else {
                format!("message {id}: statuses {got}{when}, expected {wanted}")
            },
        );
        f.expected = Some(wanted);
        f.actual = Some(got);
        f.hint = Some(if statuses.is_empty() {
            "POST each status change to the message's status_url, with the messageId the send returned".into()
        } else {
            "send every status change of the message, in order".into()
        });
        out.push(f);
    }
    if let Some(data) = want.callback_data {
        for item in &waited.items {
            let got = item.value.get("callbackData");
            if !got.is_some_and(|g| validate::json_eq(g, data)) {
                let mut f = finding(
                    rules::CALLBACK,
                    Severity::Must,
                    format!(
                        "message {id}: the {} callback does not echo the message's callbackData",
                        item.status.as_deref().unwrap_or("(no status)")
                    ),
                );
                f.pointer = Some(format!("/{}/callbackData", item.index));
                f.expected = Some(validate::excerpt(data));
                f.actual = Some(
                    got.map(validate::excerpt)
                        .unwrap_or_else(|| "(absent)".into()),
                );
                f.hint = Some("echo the message's callbackData in every status callback".into());
                out.push(f);
            }
        }
    }
    out
}

/// One line for the report: what arrived for the message.
pub fn summary(waited: &Waited) -> String {
    let statuses = waited.statuses();
    let mut s = if statuses.is_empty() {
        format!("no callbacks for message {}", waited.message_id)
    } else {
        format!(
            "message {}: {} ({} callback{})",
            waited.message_id,
            statuses.join(" → "),
            statuses.len(),
            if statuses.len() == 1 { "" } else { "s" }
        )
    };
    s.push_str(&format!(
        " after {} ms{}",
        waited.elapsed.as_millis(),
        if waited.timed_out { " (timed out)" } else { "" }
    ));
    if let Some(first) = waited.items.first() {
        s.push_str(&format!("; first: {}", validate::excerpt(&first.value)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seq(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn musts(s: &[&str]) -> usize {
        order_problems(&seq(s))
            .iter()
            .filter(|(sev, _)| *sev == Severity::Must)
            .count()
    }

    #[test]
    fn valid_sequences_have_no_order_problems() {
        for ok in [
            &["SENT"][..],
            &["SENT", "DELIVERED"],
            &["SENT", "DELIVERED", "READ"],
            &["SENT", "UNDELIVERABLE"],
            &["SENT", "EXPIRED"],
            &["SENT", "UNKNOWN"],
            &["SENT", "RATELIMIT"],
            &["RATELIMIT"],
            &["UNKNOWN"],
        ] {
            assert!(order_problems(&seq(ok)).is_empty(), "{ok:?}");
        }
    }

    #[test]
    fn impossible_orders_are_problems() {
        assert_eq!(musts(&["DELIVERED"]), 1, "not SENT first");
        assert_eq!(musts(&["SENT", "READ"]), 1, "READ before DELIVERED");
        assert_eq!(
            musts(&["SENT", "EXPIRED", "DELIVERED"]),
            1,
            "after terminal"
        );
        assert_eq!(musts(&["SENT", "DELIVERED", "READ", "EXPIRED"]), 1);
        assert_eq!(musts(&["SENT", "DELIVERED", "UNDELIVERABLE"]), 1);
        assert_eq!(musts(&["RATELIMIT", "SENT"]), 1);
        assert_eq!(musts(&["SENT", "DELIVERED", "SENT"]), 1);
        // A repeated status is only a `should`.
        let p = order_problems(&seq(&["SENT", "SENT", "DELIVERED"]));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, Severity::Should);
        // Unknown names are the schema's business.
        assert!(order_problems(&seq(&["SENT", "DELIVERING"])).is_empty());
    }

    #[test]
    fn progress_against_expected_sequences() {
        let exp = vec![seq(&["SENT", "DELIVERED", "READ"])];
        assert_eq!(progress(&seq(&[]), &exp), Progress::Pending);
        assert_eq!(progress(&seq(&["SENT"]), &exp), Progress::Pending);
        assert_eq!(
            progress(&seq(&["SENT", "DELIVERED", "READ"]), &exp),
            Progress::Complete
        );
        assert_eq!(
            progress(&seq(&["SENT", "UNKNOWN"]), &exp),
            Progress::Deviated
        );
        assert_eq!(progress(&seq(&[]), &[]), Progress::Pending);
        assert_eq!(progress(&seq(&["READ"]), &[]), Progress::Complete);
    }

    #[test]
    fn message_ids_are_digits_from_integers_or_strings_never_floats() {
        assert_eq!(
            message_id_of(&json!(3721115754893245581u64)).as_deref(),
            Some("3721115754893245581")
        );
        assert_eq!(
            message_id_of(&json!("3721115754893245581")).as_deref(),
            Some("3721115754893245581")
        );
        assert_eq!(message_id_of(&json!(1.5)), None);
        assert_eq!(message_id_of(&json!(-3)), None);
        assert_eq!(message_id_of(&json!("12a")), None);
        // serde_json keeps 19-digit integers exact.
        let v: Value = serde_json::from_str(r#"{"messageId": 9223372036854775807}"#).unwrap();
        assert_eq!(
            message_id_of(&v["messageId"]).as_deref(),
            Some("9223372036854775807")
        );
    }

    fn waited(fresh: Vec<Value>, id: &str, timed_out: bool) -> Waited {
        let posts: Vec<Post> = fresh
            .into_iter()
            .enumerate()
            .map(|(i, b)| Post {
                seq: i as u64,
                path: DEFAULT_PATH.into(),
                at_ms: i as u64,
                body: Ok(b),
                size: 0,
            })
            .collect();
        let items = posts
            .iter()
            .flat_map(items_of)
            .filter(|i| i.message_id.as_deref() == Some(id))
            .collect();
        Waited {
            message_id: id.into(),
            items,
            timed_out,
            elapsed: Duration::from_millis(5),
            fresh: posts,
            dropped: 0,
        }
    }

    fn cb(id: &str, status: &str, ts: i64) -> Value {
        json!([{"channel": "VK", "messageId": id, "ts": ts, "status": status, "errorCode": 0}])
    }

    fn rules_of(fs: &[Finding]) -> Vec<&str> {
        fs.iter().map(|f| f.rule.as_str()).collect()
    }

    #[test]
    fn judging_a_valid_expired_sequence_finds_nothing() {
        let catalog = Catalog::shared().unwrap();
        let w = waited(vec![cb("7", "SENT", 1), cb("7", "EXPIRED", 2)], "7", false);
        let exp = vec![seq(&["SENT", "EXPIRED"])];
        let want = Expectation {
            expected: &exp,
            callback_data: None,
            timeout_ms: 100,
        };
        let fs = judge(&catalog, &w, &want, &|id| id == "7", Severity::Must, 1);
        assert!(fs.is_empty(), "{fs:#?}");
    }

    #[test]
    fn unknown_statuses_unknown_messages_bad_order_and_missing_data_are_findings() {
        let catalog = Catalog::shared().unwrap();
        let w = waited(
            vec![
                cb("7", "SENT", 5),
                cb("7", "DELIVERING", 4),
                cb("8", "SENT", 6),
                cb("7", "EXPIRED", 7),
                cb("7", "READ", 8),
            ],
            "7",
            true,
        );
        let exp = vec![seq(&["SENT", "EXPIRED"])];
        let data = json!({"order": 1});
        let want = Expectation {
            expected: &exp,
            callback_data: Some(&data),
            timeout_ms: 100,
        };
        let fs = judge(&catalog, &w, &want, &|id| id == "7", Severity::Must, 1);
        let r = rules_of(&fs);
        assert!(r.contains(&"schema"), "{r:?}");
        assert!(r.contains(&rules::CALLBACK_UNKNOWN), "{r:?}");
        assert!(r.contains(&rules::CALLBACK_ORDER), "{r:?}");
        assert!(r.contains(&rules::CALLBACK), "{r:?}");
        assert!(fs
            .iter()
            .any(|f| f.rule == "callback-order" && f.message.contains("READ after EXPIRED")));
        assert!(fs.iter().all(|f| f.step == Some(1)));
    }

    #[test]
    fn a_missing_callback_is_reported_with_the_timeout() {
        let catalog = Catalog::shared().unwrap();
        let w = waited(vec![], "7", true);
        let want = Expectation {
            expected: &[],
            callback_data: None,
            timeout_ms: 250,
        };
        let fs = judge(&catalog, &w, &want, &|_| true, Severity::Must, 0);
        assert_eq!(rules_of(&fs), vec![rules::CALLBACK]);
        assert!(fs[0].message.contains("within 250 ms"), "{}", fs[0].message);
    }

    #[tokio::test]
    async fn the_receiver_stores_posts_and_wakes_a_waiter_without_polling() {
        let rx = Receiver::start("127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        assert!(rx.url().ends_with(DEFAULT_PATH));
        rx.register("42");
        let url = rx.url().to_string();
        let sender = tokio::spawn(async move {
            let c = reqwest::Client::new();
            for s in ["SENT", "DELIVERED", "READ"] {
                c.post(&url).json(&cb("42", s, 1)).send().await.unwrap();
            }
            c.post(&url).body("not json").send().await.unwrap();
        });
        let exp = vec![seq(&["SENT", "DELIVERED", "READ"])];
        let w = rx
            .wait("42", &exp, Duration::from_secs(10), Duration::ZERO)
            .await;
        assert!(!w.timed_out);
        assert_eq!(w.statuses(), seq(&["SENT", "DELIVERED", "READ"]));
        sender.await.unwrap();
        // The non-JSON POST is judged by the next wait, once.
        let w2 = rx
            .wait("42", &[], Duration::from_millis(50), Duration::ZERO)
            .await;
        assert!(w2.fresh.iter().any(|p| p.body.is_err()));
        let w3 = rx
            .wait("42", &[], Duration::from_millis(10), Duration::ZERO)
            .await;
        assert!(w3.fresh.is_empty());
        assert!(rx.is_known("42") && !rx.is_known("43"));
        let get = reqwest::get(rx.url()).await.unwrap();
        assert_eq!(get.status().as_u16(), 405);
    }

    #[tokio::test]
    async fn a_wait_for_callbacks_that_never_come_ends_at_its_timeout() {
        let rx = Receiver::start("127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let t0 = Instant::now();
        let w = rx
            .wait(
                "1",
                &[seq(&["SENT"])],
                Duration::from_millis(80),
                Duration::ZERO,
            )
            .await;
        assert!(w.timed_out && w.items.is_empty());
        assert!(t0.elapsed() >= Duration::from_millis(80));
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_buffer_is_bounded_and_counts_unjudged_drops() {
        let shared = Shared::new();
        for _ in 0..MAX_POSTS + 5 {
            shared.store("/".into(), Ok(json!([])), 2);
        }
        {
            let g = shared.inner.lock().unwrap();
            assert_eq!(g.posts.len(), MAX_POSTS);
            assert_eq!(g.dropped, 5);
            assert_eq!(g.posts.front().unwrap().seq, 5);
        }
        // Large bodies are bounded by bytes too.
        shared.store("/".into(), Ok(json!([])), MAX_STORED_BYTES - 10);
        let g = shared.inner.lock().unwrap();
        assert!(g.bytes <= MAX_STORED_BYTES, "{}", g.bytes);
        assert!(g.posts.len() <= 6);
    }

    #[test]
    fn results_register_message_ids() {
        let body = json!({"result": [{"code": "OK", "messageId": 3000000000000000001u64}, {"code": "REJECTED", "reasons": []}, {"code": "OK", "messageId": "55"}]});
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let rx = Receiver::start(
                "127.0.0.1:0".parse().unwrap(),
                Some("https://hooks.example/d"),
            )
            .await
            .unwrap();
            assert_eq!(rx.url(), "https://hooks.example/d");
            assert_eq!(rx.register_results(&body), 2);
            assert!(rx.is_known("3000000000000000001") && rx.is_known("55"));
        });
    }
}
