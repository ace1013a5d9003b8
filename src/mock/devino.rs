//! Devino's VK messaging gateway (seed `001_…`): `POST /vk/messages`, the
//! status callbacks it sends to each message's `status_url`, and the
//! incoming-message webhook it pushes on request
//! (`POST /__vkconform/devino/incoming`).
//!
//! # Decisions and triggers
//!
//! The seed documents six error codes, seven callback statuses and two
//! sending limits, but not what makes a real gateway produce each one. The
//! mock produces every one of them from a documented input, so a client can
//! exercise each branch:
//!
//! | input | answer |
//! |---|---|
//! | no `Authorization` header, an empty one, `Key ` with no key, or `Basic` with an empty login | HTTP 401 `{"code":"login.must.be.not.null"}` (`errors.json#/$defs/http_error`) |
//! | a wrong key, a wrong login/password, undecodable `Basic`, any other scheme | HTTP 401 `{"code":"unauthorized"}` |
//! | a body larger than `MockConfig::max_body` | HTTP 413 `{"code":"bad.request"}` naming the limit |
//! | a body that is not JSON, or does not match `vk.messages` `$defs/params` (not an array, empty, a message missing a field, a phone that is not E.164, `ttl` < 60, a route other than VK/OK, …) | HTTP 400 `{"code":"bad.request"}` whose `description` names the JSON pointer(s) |
//! | more than [`MAX_MESSAGES`] messages | HTTP 200, every message `REJECTED` with `too.many.messages` (checked before anything else) |
//! | `service` is [`NO_MONEY_SERVICE`] | `REJECTED` `billing.error` |
//! | `service` not in [`DevinoConfig::services`] (default [`DEFAULT_SERVICES`]) | `REJECTED` `service.not.found` |
//! | `templateId` given and not in [`DevinoConfig::template_ids`] (default [`DEFAULT_TEMPLATE_IDS`]) | `REJECTED` `message.contains.invalid.templateId` |
//! | a `tmpl_data` value, `tmpl` or a `text` field containing [`SPAM_MARKER`] (any case) | `REJECTED` `is.spam` |
//!
//! A message may collect several reasons; they come in the order of the table.
//! `login.must.be.not.null` is never a per-message reason: a request without
//! a login is refused as a whole (the schema's decision).
//!
//! Every other message is accepted: `{"code":"OK","messageId":N}` with a
//! unique 19-digit `messageId` (a JSON integer, as the doc's example; the
//! callbacks and `message_tag` carry it as a string of digits, as theirs).
//!
//! **Limits.** The doc's limits — [`DevinoConfig::per_second_limit`] (50)
//! notifications per second per VK group (= `service`) and
//! [`DevinoConfig::per_day_limit`] (5) per day per user (= `phone`) per
//! group — are not response errors: a message over either is still answered
//! `OK` with a `messageId`, but is not sent; its only callback is
//! `RATELIMIT` ("Message sending limit has been exceeded"). A limited message
//! does not count towards the limits. The windows are fixed: one second, and
//! 24 hours from the first message of that user in that group. The counters
//! expire with their window and each map holds at most [`MAX_TRACKED`] keys.
//!
//! **Callbacks.** For each accepted message with a `status_url`, the mock
//! POSTs `callback.status.json` bodies (an array with one status, the
//! message's `callbackData` echoed when given; `channel` is the first of its
//! `routes`, VK without routes; `errorCode` is 0, the doc lists no codes),
//! [`DevinoConfig::status_delay`] apart, chosen by the last digits of `phone`:
//!
//! | phone ends in | statuses |
//! |---|---|
//! | anything else | `SENT` → `DELIVERED` → `READ` |
//! | [`UNDELIVERABLE_SUFFIX`] `0000` | `SENT` → `UNDELIVERABLE` |
//! | [`EXPIRED_SUFFIX`] `1111` | `SENT`, then `EXPIRED` once `ttl` (default [`DEFAULT_TTL_SECS`]) × [`DevinoConfig::ttl_scale`] seconds have passed |
//! | [`UNKNOWN_SUFFIX`] `2222` | `SENT` → `UNKNOWN` |
//! | (over a limit) | `RATELIMIT` only |
//!
//! A callback the receiver refuses (non-2xx, connection error or timeout) is
//! retried with exponential back-off ([`DevinoConfig::retry_base`] × 2ⁿ, at
//! most [`MAX_BACKOFF`]) up to [`DevinoConfig::max_attempts`] times, then
//! given up (logged to stderr). The statuses of one message are sent in
//! order, one at a time. At most [`DevinoConfig::queue_capacity`] messages
//! wait for their callbacks: a slow receiver only delays them; past the cap
//! the callbacks of new messages are dropped and logged to stderr (see
//! [`DevinoStats::dropped`]). The workers stop when the mock stops.
//!
//! **Incoming messages.** `POST /__vkconform/devino/incoming` with a JSON
//! [`IncomingRequest`] makes the mock push a `webhook.incoming.json` body
//! (`message_new`, VK's Callback API event as Devino passes it through) to
//! the given `url` (or [`DevinoConfig::incoming_url`]), with `message_tag`
//! equal to a `messageId` this mock issued (the last one by default). It
//! answers once the push succeeded or was given up.

use super::openvk::json_response;
use super::state::MockState;
use super::{MockConfig, DEFAULT_DEVINO_KEY, DEFAULT_DEVINO_LOGIN, DEFAULT_PASSWORD};
use crate::api::Api;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// Most messages one request may carry (the doc's limit); more are all `too.many.messages`.
pub const MAX_MESSAGES: usize = 1000;
/// Sender names (`service`) the default mock account knows: the seed's example
/// `Group_name`, `vkconform`, and [`NO_MONEY_SERVICE`].
pub const DEFAULT_SERVICES: &[&str] = &["Group_name", "vkconform", NO_MONEY_SERVICE];
/// A known sender whose balance is empty: every message from it is `billing.error`.
pub const NO_MONEY_SERVICE: &str = "no-money";
/// Template IDs the default mock account knows (the seed's example uses 4).
pub const DEFAULT_TEMPLATE_IDS: &[i64] = &[1, 2, 3, 4, 5];
/// A message whose `tmpl_data` values, `tmpl` or `text` contain this word (any case) is `is.spam`.
pub const SPAM_MARKER: &str = "spam";
/// A phone ending in these digits gets `SENT` → `UNDELIVERABLE`.
pub const UNDELIVERABLE_SUFFIX: &str = "0000";
/// A phone ending in these digits gets `SENT`, then `EXPIRED` when its `ttl` runs out.
pub const EXPIRED_SUFFIX: &str = "1111";
/// A phone ending in these digits gets `SENT` → `UNKNOWN`.
pub const UNKNOWN_SUFFIX: &str = "2222";
/// The `ttl` assumed when a message has none (the doc's default is cut off): one day.
pub const DEFAULT_TTL_SECS: u64 = 86_400;
/// The VK group ID of incoming-message webhooks (the doc's example).
pub const DEFAULT_GROUP_ID: i64 = 213_243_638;
/// The `from_id` of an incoming message when the request names none (the doc's example).
pub const DEFAULT_FROM_ID: i64 = 666_666;
/// Most keys each rate-limit map tracks; expired ones go first, then the oldest half.
pub const MAX_TRACKED: usize = 100_000;
/// How many issued `messageId`s the mock remembers for `message_tag`.
pub const MAX_REMEMBERED_IDS: usize = 100_000;
/// Longest wait between two attempts of one callback.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest a scaled `ttl` may wait (a guard against absurd values).
const MAX_EXPIRY: Duration = Duration::from_secs(400 * 86_400);
const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);

/// Devino behaviour settings (part of [`MockConfig`]).
///
/// ```
/// use std::time::Duration;
/// use vkconform::mock::{devino::DevinoConfig, MockConfig};
/// let config = MockConfig {
///     devino: DevinoConfig { status_delay: Duration::from_millis(5), ttl_scale: 0.001, ..DevinoConfig::default() },
///     ..MockConfig::default()
/// };
/// assert_eq!(config.devino.per_second_limit, 50);
/// ```
#[derive(Debug, Clone)]
pub struct DevinoConfig {
    /// Wait before the first status callback of a message and between its
    /// statuses (default 50 ms).
    pub status_delay: Duration,
    /// Real seconds per second of `ttl` before `EXPIRED` (default 1.0; 0.001
    /// makes a 60 s ttl expire after 60 ms).
    pub ttl_scale: f64,
    /// Attempts per callback before it is given up (default 5; at least 1).
    pub max_attempts: u32,
    /// Back-off before the second attempt; doubles each time (default 100 ms).
    pub retry_base: Duration,
    /// Timeout of one callback POST (default 10 s).
    pub callback_timeout: Duration,
    /// Most messages whose callbacks may be pending at once (default 10 000).
    pub queue_capacity: usize,
    /// Most callback POSTs in flight at once (default 32).
    pub concurrency: usize,
    /// Notifications per second per VK group (`service`); the doc's 50.
    pub per_second_limit: u32,
    /// Notifications per day per user (`phone`) per group; the doc's 5.
    pub per_day_limit: u32,
    /// Sender names the account knows; others are `service.not.found`.
    pub services: Vec<String>,
    /// Template IDs the account knows; others are `message.contains.invalid.templateId`.
    pub template_ids: Vec<i64>,
    /// Where incoming-message webhooks go when the injection names no `url`.
    pub incoming_url: Option<String>,
}

impl Default for DevinoConfig {
    fn default() -> Self {
        DevinoConfig {
            status_delay: Duration::from_millis(50),
            ttl_scale: 1.0,
            max_attempts: 5,
            retry_base: Duration::from_millis(100),
            callback_timeout: Duration::from_secs(10),
            queue_capacity: 10_000,
            concurrency: 32,
            per_second_limit: 50,
            per_day_limit: 5,
            services: DEFAULT_SERVICES.iter().map(|s| s.to_string()).collect(),
            template_ids: DEFAULT_TEMPLATE_IDS.to_vec(),
            incoming_url: None,
        }
    }
}

/// A message status, as `callback.status.json` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The message delivery request has been sent.
    Sent,
    /// The message has been delivered.
    Delivered,
    /// The recipient does not exist or blocks the sender.
    Undeliverable,
    /// Not delivered within `ttl`.
    Expired,
    /// A sending limit was exceeded.
    RateLimit,
    /// The message has been read.
    Read,
    /// Unknown exception.
    Unknown,
}

impl Status {
    /// The wire name (`SENT`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "SENT",
            Status::Delivered => "DELIVERED",
            Status::Undeliverable => "UNDELIVERABLE",
            Status::Expired => "EXPIRED",
            Status::RateLimit => "RATELIMIT",
            Status::Read => "READ",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// Counters of the callback machinery (a snapshot, see [`DevinoState::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevinoStats {
    /// Messages whose callbacks were queued.
    pub queued: u64,
    /// Messages whose callbacks were dropped because the queue was full.
    pub dropped: u64,
    /// Callbacks the receiver accepted (2xx).
    pub delivered: u64,
    /// Callbacks given up after every attempt failed.
    pub failed: u64,
    /// HTTP attempts made (callbacks and incoming webhooks).
    pub attempts: u64,
    /// Messages whose callbacks are queued or under way right now.
    pub pending: u64,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    dropped: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    attempts: AtomicU64,
}

/// What the workers share with the request handlers.
struct Shared {
    config: DevinoConfig,
    client: reqwest::Client,
    counters: Counters,
    /// Bounds the messages whose callbacks are pending.
    slots: Arc<Semaphore>,
}

/// The status callbacks of one accepted message, in order.
struct Plan {
    url: String,
    message_id: u64,
    channel: String,
    callback_data: Option<Value>,
    steps: Vec<(Instant, Status)>,
    _slot: OwnedSemaphorePermit,
}

/// Devino gateway state of one mock: credentials, limits, issued IDs and
/// the callback queue. Dropping it (when the mock stops) stops the workers.
pub struct DevinoState {
    shared: Arc<Shared>,
    keys: HashSet<String>,
    next_id: AtomicU64,
    incoming_seq: AtomicI64,
    limits: Mutex<RateLimits>,
    issued: Mutex<IssuedIds>,
    queue: mpsc::UnboundedSender<Plan>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Plan>>>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for DevinoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevinoState")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl DevinoState {
    /// Builds the state from the mock configuration (keys from
    /// `devino_keys` plus [`DEFAULT_DEVINO_KEY`]). Needs no runtime.
    pub fn new(config: &MockConfig) -> DevinoState {
        use rand::Rng;
        let dc = config.devino.clone();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(dc.callback_timeout)
            .user_agent(concat!(
                "vkconform-mock/",
                env!("CARGO_PKG_VERSION"),
                " (devino callbacks)"
            ))
            .build()
            .unwrap_or_default();
        let mut keys: HashSet<String> = config
            .devino_keys
            .iter()
            .filter(|k| !k.is_empty())
            .cloned()
            .collect();
        keys.insert(DEFAULT_DEVINO_KEY.to_string());
        let slots = Arc::new(Semaphore::new(
            dc.queue_capacity.clamp(1, Semaphore::MAX_PERMITS),
        ));
        // 19 digits, like the doc's IDs, and below i64::MAX so every client reads it exactly.
        let base = 3_000_000_000_000_000_000u64
            + rand::rng().random_range(0..1_000_000_000_000_000_000u64);
        let (queue, inbox) = mpsc::unbounded_channel();
        let (stop, _) = watch::channel(false);
        DevinoState {
            shared: Arc::new(Shared {
                config: dc,
                client,
                counters: Counters::default(),
                slots,
            }),
            keys,
            next_id: AtomicU64::new(base),
            incoming_seq: AtomicI64::new(0),
            limits: Mutex::new(RateLimits::new(MAX_TRACKED)),
            issued: Mutex::new(IssuedIds::default()),
            queue,
            inbox: Mutex::new(Some(inbox)),
            stop,
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &DevinoConfig {
        &self.shared.config
    }

    /// A snapshot of the callback counters.
    pub fn stats(&self) -> DevinoStats {
        let c = &self.shared.counters;
        let cap = self
            .shared
            .config
            .queue_capacity
            .clamp(1, Semaphore::MAX_PERMITS);
        DevinoStats {
            queued: c.queued.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            attempts: c.attempts.load(Ordering::Relaxed),
            pending: cap.saturating_sub(self.shared.slots.available_permits()) as u64,
        }
    }

    /// Whether this mock issued `message_id` (among the last [`MAX_REMEMBERED_IDS`]).
    pub fn issued(&self, message_id: u64) -> bool {
        self.issued
            .lock()
            .expect("issued lock")
            .set
            .contains(&message_id)
    }

    /// Checks the `Authorization` header; `Some` is the ready 401 answer.
    fn refuse(&self, headers: &HeaderMap) -> Option<Response> {
        match check_authorization(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()), &self.keys) {
            Auth::Ok => None,
            Auth::NoLogin => Some(http_error(
                StatusCode::UNAUTHORIZED,
                "login.must.be.not.null",
                "User's login is not specified: send `Authorization: Key <API key>` or `Authorization: Basic base64(login:password)`.",
            )),
            Auth::Wrong => Some(http_error(StatusCode::UNAUTHORIZED, "unauthorized", "The API key or login/password in the Authorization header is not valid.")),
        }
    }

    /// Answers every message of a valid request (1..=1000 messages that match
    /// the schema): rejection reasons, limits, IDs and callback plans.
    fn accept(&self, messages: &[Value]) -> Vec<Value> {
        let cfg = &self.shared.config;
        let now = Instant::now();
        let mut limits = self.limits.lock().expect("limits lock");
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            let reasons = self.reasons(m);
            if !reasons.is_empty() {
                let reasons: Vec<Value> = reasons.into_iter().map(|k| json!({"key": k})).collect();
                out.push(json!({"code": "REJECTED", "reasons": reasons}));
                continue;
            }
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.issued.lock().expect("issued lock").remember(id);
            let service = m.get("service").and_then(Value::as_str).unwrap_or_default();
            let phone = phone_digits(m.get("phone").and_then(Value::as_str).unwrap_or_default());
            let admitted = limits.admit(
                service,
                &phone,
                now,
                cfg.per_second_limit,
                cfg.per_day_limit,
            );
            if let Some(url) = m.get("status_url").and_then(Value::as_str) {
                self.enqueue(m, url, id, &phone, admitted, now);
            }
            out.push(json!({"code": "OK", "messageId": id}));
        }
        out
    }

    /// The documented rejection reasons of one message (see the module docs), in order.
    fn reasons(&self, m: &Value) -> Vec<&'static str> {
        let cfg = &self.shared.config;
        let mut reasons = Vec::new();
        let service = m.get("service").and_then(Value::as_str).unwrap_or_default();
        if service == NO_MONEY_SERVICE {
            reasons.push("billing.error");
        } else if !cfg.services.iter().any(|s| s == service) {
            reasons.push("service.not.found");
        }
        if let Some(t) = m.get("templateId") {
            if !t.as_i64().is_some_and(|t| cfg.template_ids.contains(&t)) {
                reasons.push("message.contains.invalid.templateId");
            }
        }
        if is_spam(m) {
            reasons.push("is.spam");
        }
        reasons
    }

    fn enqueue(&self, m: &Value, url: &str, id: u64, phone: &str, admitted: bool, now: Instant) {
        let cfg = &self.shared.config;
        let Ok(slot) = self.shared.slots.clone().try_acquire_owned() else {
            self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "vkconform mock: devino: callback queue full ({} messages pending); dropping the status callbacks of message {id} to {}",
                cfg.queue_capacity,
                loggable_url(url)
            );
            return;
        };
        let d = cfg.status_delay;
        let at = |n: u32| {
            d.checked_mul(n)
                .and_then(|x| now.checked_add(x))
                .unwrap_or(now)
        };
        let steps = if !admitted {
            vec![(at(1), Status::RateLimit)]
        } else if phone.ends_with(UNDELIVERABLE_SUFFIX) {
            vec![(at(1), Status::Sent), (at(2), Status::Undeliverable)]
        } else if phone.ends_with(EXPIRED_SUFFIX) {
            let ttl = m
                .get("ttl")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_TTL_SECS);
            let scale = if cfg.ttl_scale.is_finite() && cfg.ttl_scale >= 0.0 {
                cfg.ttl_scale
            } else {
                1.0
            };
            let wait = Duration::try_from_secs_f64(ttl as f64 * scale)
                .unwrap_or(MAX_EXPIRY)
                .min(MAX_EXPIRY);
            vec![
                (at(1), Status::Sent),
                (
                    now.checked_add(wait).unwrap_or(now).max(at(1)),
                    Status::Expired,
                ),
            ]
        } else if phone.ends_with(UNKNOWN_SUFFIX) {
            vec![(at(1), Status::Sent), (at(2), Status::Unknown)]
        } else {
            vec![
                (at(1), Status::Sent),
                (at(2), Status::Delivered),
                (at(3), Status::Read),
            ]
        };
        let channel = m
            .get("routes")
            .and_then(|r| r.get(0))
            .and_then(Value::as_str)
            .unwrap_or("VK")
            .to_string();
        let plan = Plan {
            url: url.to_string(),
            message_id: id,
            channel,
            callback_data: m.get("callbackData").cloned(),
            steps,
            _slot: slot,
        };
        self.shared.counters.queued.fetch_add(1, Ordering::Relaxed);
        // The receiver lives as long as the workers; before they start, plans wait in the channel.
        let _ = self.queue.send(plan);
    }
}

/// Starts the callback workers of a mock (once; later calls do nothing).
/// They hold no reference to the state: they stop when it is dropped, that
/// is when the mock stops. Must be called inside a tokio runtime.
pub fn spawn_workers(state: &Arc<MockState>) {
    let dv = &state.devino;
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let Some(mut inbox) = dv.inbox.lock().expect("inbox lock").take() else {
        return;
    };
    let shared = dv.shared.clone();
    let mut stop = dv.stop.subscribe();
    tokio::spawn(async move {
        let posts = Arc::new(Semaphore::new(
            shared.config.concurrency.clamp(1, Semaphore::MAX_PERMITS),
        ));
        loop {
            let plan = tokio::select! {
                p = inbox.recv() => match p { Some(p) => p, None => break },
                _ = stopped(&mut stop) => break,
            };
            let (shared, posts, mut stop) = (shared.clone(), posts.clone(), stop.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = run_plan(&shared, &posts, plan) => {}
                    _ = stopped(&mut stop) => {}
                }
            });
        }
    });
}

/// Resolves when the mock stops (the state's stop sender is dropped or set).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn run_plan(shared: &Shared, posts: &Arc<Semaphore>, plan: Plan) {
    for (due, status) in &plan.steps {
        tokio::time::sleep_until((*due).into()).await;
        let mut item = Map::new();
        item.insert("channel".into(), json!(plan.channel));
        item.insert("messageId".into(), json!(plan.message_id.to_string()));
        item.insert("ts".into(), json!(now_ms()));
        item.insert("status".into(), json!(status.as_str()));
        item.insert("errorCode".into(), json!(0));
        if let Some(data) = &plan.callback_data {
            item.insert("callbackData".into(), data.clone());
        }
        let body = Value::Array(vec![Value::Object(item)]);
        let outcome = post_with_retry(shared, posts, &plan.url, &body).await;
        if outcome.ok {
            shared.counters.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "vkconform mock: devino: gave up the {} callback of message {} to {} after {} attempts ({})",
                status.as_str(),
                plan.message_id,
                loggable_url(&plan.url),
                outcome.attempts,
                outcome.last
            );
        }
    }
}

/// How a POST with retries ended.
struct Outcome {
    ok: bool,
    attempts: u32,
    status: Option<u16>,
    last: String,
}

/// POSTs JSON, retrying non-2xx answers and transport errors with exponential back-off.
async fn post_with_retry(
    shared: &Shared,
    posts: &Arc<Semaphore>,
    url: &str,
    body: &Value,
) -> Outcome {
    let cfg = &shared.config;
    let max = cfg.max_attempts.max(1);
    let mut backoff = cfg.retry_base;
    let mut out = Outcome {
        ok: false,
        attempts: 0,
        status: None,
        last: String::new(),
    };
    while out.attempts < max {
        if out.attempts > 0 {
            tokio::time::sleep(backoff.min(MAX_BACKOFF)).await;
            backoff = backoff.saturating_mul(2);
        }
        out.attempts += 1;
        shared.counters.attempts.fetch_add(1, Ordering::Relaxed);
        let result = {
            let _permit = posts
                .acquire()
                .await
                .expect("the post semaphore is never closed");
            shared.client.post(url).json(body).send().await
        };
        match result {
            Ok(resp) if resp.status().is_success() => {
                out.ok = true;
                out.status = Some(resp.status().as_u16());
                return out;
            }
            Ok(resp) => {
                out.status = Some(resp.status().as_u16());
                out.last = format!("HTTP {}", resp.status().as_u16());
            }
            Err(e) => {
                out.status = None;
                out.last = if e.is_timeout() {
                    "timed out".into()
                } else if e.is_connect() {
                    "connection failed".into()
                } else {
                    "transport error".into()
                };
            }
        }
    }
    out
}

/// `POST /vk/messages`.
pub async fn send(State(st): State<Arc<MockState>>, req: Request) -> Response {
    let dv = &st.devino;
    if let Some(resp) = dv.refuse(req.headers()) {
        return resp;
    }
    let bytes = match axum::body::to_bytes(req.into_body(), st.config.max_body).await {
        Ok(b) => b,
        Err(_) => {
            let why = format!("Request body too large: the limit is {} bytes (at most {MAX_MESSAGES} messages per request).", st.config.max_body);
            return http_error(StatusCode::PAYLOAD_TOO_LARGE, "bad.request", &why);
        }
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return http_error(
                StatusCode::BAD_REQUEST,
                "bad.request",
                &format!("Request body is not valid JSON: {e}."),
            )
        }
    };
    if let Some(items) = body.as_array().filter(|a| a.len() > MAX_MESSAGES) {
        let result: Vec<Value> = items
            .iter()
            .map(|_| json!({"code": "REJECTED", "reasons": [{"key": "too.many.messages"}]}))
            .collect();
        return json_response(StatusCode::OK, &json!({ "result": result }));
    }
    if let Some(spec) = st.catalog.method(Api::Devino, "vk.messages") {
        if let Err(violations) = spec.validate_params(&body) {
            let detail: Vec<String> = violations
                .iter()
                .take(3)
                .map(|v| {
                    format!(
                        "{}: {}",
                        if v.instance_path.is_empty() {
                            "(root)"
                        } else {
                            &v.instance_path
                        },
                        v.message
                    )
                })
                .collect();
            let why = format!("Request body is not valid: {}. It must be a JSON array of 1 to {MAX_MESSAGES} messages (schemas/devino/objects/message.json).", detail.join("; "));
            return http_error(StatusCode::BAD_REQUEST, "bad.request", &why);
        }
    }
    let Some(messages) = body.as_array() else {
        return http_error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "Request body is not valid: it must be a JSON array of messages.",
        );
    };
    if messages.is_empty() {
        return http_error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "Request body is not valid: the array of messages is empty.",
        );
    }
    let result = dv.accept(messages);
    json_response(StatusCode::OK, &json!({ "result": result }))
}

/// The body of `POST /__vkconform/devino/incoming`: what the simulated VK
/// user writes. Every field is optional.
///
/// ```json
/// {"url": "http://127.0.0.1:9000/devino", "message_tag": "3690837110063289472", "text": "Yes, please", "from_id": 666666}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IncomingRequest {
    /// Where to push the webhook; default [`DevinoConfig::incoming_url`].
    pub url: Option<String>,
    /// The `messageId` the user answers (digits or a number); it must be one
    /// this mock issued. Default: the last issued one (none if none was).
    pub message_tag: Option<Value>,
    /// Message text (default empty).
    pub text: String,
    /// Author's VK user ID (default [`DEFAULT_FROM_ID`]).
    pub from_id: Option<i64>,
    /// Dialog peer ID (default `from_id`).
    pub peer_id: Option<i64>,
    /// VK group ID (default [`DEFAULT_GROUP_ID`]).
    pub group_id: Option<i64>,
    /// VK-style attachments, passed through (default none).
    pub attachments: Option<Vec<Value>>,
}

/// `POST /__vkconform/devino/incoming`: pushes an incoming-message webhook
/// (see [`IncomingRequest`]) and answers `{"delivered", "attempts", "status",
/// "url", "event"}`: HTTP 200 when the receiver took it, 502 when every
/// attempt failed, 400 `{"code":"bad.request"}` for a bad request.
pub async fn inject_incoming(State(st): State<Arc<MockState>>, req: Request) -> Response {
    let dv = &st.devino;
    let bytes = match axum::body::to_bytes(req.into_body(), st.config.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return http_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "bad.request",
                &format!(
                    "Request body too large: the limit is {} bytes.",
                    st.config.max_body
                ),
            )
        }
    };
    let inc: IncomingRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        IncomingRequest::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(i) => i,
            Err(e) => return http_error(StatusCode::BAD_REQUEST, "bad.request", &format!("Body must be a JSON object like {{\"url\": \"http://…\", \"message_tag\": \"<messageId>\", \"text\": \"…\", \"from_id\": 1}}: {e}.")),
        }
    };
    let Some(url) = inc
        .url
        .clone()
        .or_else(|| dv.shared.config.incoming_url.clone())
    else {
        return http_error(StatusCode::BAD_REQUEST, "bad.request", "No webhook URL: give `url` in the body or start the mock with an incoming URL (DevinoConfig::incoming_url).");
    };
    if !matches!(url::Url::parse(&url), Ok(u) if u.scheme() == "http" || u.scheme() == "https") {
        return http_error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "`url` must be an absolute http:// or https:// URL.",
        );
    }
    let tag = match &inc.message_tag {
        None | Some(Value::Null) => dv.issued.lock().expect("issued lock").last,
        Some(v) => {
            let id = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                    s.parse::<u64>().ok()
                }
                _ => None,
            };
            match id {
                Some(id) if dv.issued(id) => Some(id),
                _ => return http_error(StatusCode::BAD_REQUEST, "bad.request", "`message_tag` must be a messageId this mock issued in a POST /vk/messages response (digits)."),
            }
        }
    };
    let n = dv.incoming_seq.fetch_add(1, Ordering::Relaxed) + 1;
    let from_id = inc.from_id.unwrap_or(DEFAULT_FROM_ID);
    let mut message = Map::new();
    message.insert("id".into(), json!(n));
    message.insert("date".into(), json!(now_ms() / 1000));
    message.insert("peer_id".into(), json!(inc.peer_id.unwrap_or(from_id)));
    message.insert("from_id".into(), json!(from_id));
    message.insert("text".into(), json!(inc.text));
    message.insert("random_id".into(), json!(0));
    message.insert(
        "attachments".into(),
        Value::Array(inc.attachments.clone().unwrap_or_default()),
    );
    message.insert("important".into(), json!(false));
    message.insert("out".into(), json!(0));
    message.insert("conversation_message_id".into(), json!(n));
    message.insert("fwd_messages".into(), json!([]));
    message.insert("is_hidden".into(), json!(false));
    if let Some(tag) = tag {
        message.insert("message_tag".into(), json!(tag.to_string()));
    }
    let event = json!({
        "group_id": inc.group_id.unwrap_or(DEFAULT_GROUP_ID),
        "type": "message_new",
        "event_id": event_id(),
        "v": "5.131",
        "object": {
            "message": message,
            "client_info": {
                "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback", "intent_subscribe", "intent_unsubscribe"],
                "keyboard": true,
                "inline_keyboard": true,
                "carousel": true,
                "lang_id": 0
            }
        }
    });
    if let Err(v) = st.catalog.validate("devino/webhook.incoming.json", &event) {
        return http_error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            &format!(
                "The webhook built from this request would not match webhook.incoming.json: {}.",
                v[0]
            ),
        );
    }
    let posts = Semaphore::new(1);
    let posts = Arc::new(posts);
    let mut stop = dv.stop.subscribe();
    let outcome = tokio::select! {
        o = post_with_retry(&dv.shared, &posts, &url, &event) => o,
        _ = stopped(&mut stop) => Outcome { ok: false, attempts: 0, status: None, last: "the mock is stopping".into() },
    };
    let status = if outcome.ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    let mut answer = json!({"delivered": outcome.ok, "attempts": outcome.attempts, "status": outcome.status, "url": url, "event": event});
    if !outcome.ok {
        answer["error"] = json!(outcome.last);
    }
    json_response(status, &answer)
}

/// The outcome of checking an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Ok,
    /// No login at all → `login.must.be.not.null`.
    NoLogin,
    /// Credentials given but wrong → `unauthorized`.
    Wrong,
}

/// `Key <KEY>` (keys case-sensitive, scheme not) or `Basic base64(login:password)`
/// with [`DEFAULT_DEVINO_LOGIN`]:[`DEFAULT_PASSWORD`].
fn check_authorization(header: Option<&[u8]>, keys: &HashSet<String>) -> Auth {
    let Some(raw) = header
        .and_then(|h| std::str::from_utf8(h).ok())
        .map(str::trim)
    else {
        return if header.is_some() {
            Auth::Wrong
        } else {
            Auth::NoLogin
        };
    };
    if raw.is_empty() {
        return Auth::NoLogin;
    }
    let (scheme, rest) = raw
        .split_once(' ')
        .map(|(s, r)| (s, r.trim()))
        .unwrap_or((raw, ""));
    if scheme.eq_ignore_ascii_case("key") {
        return if rest.is_empty() {
            Auth::NoLogin
        } else if keys.contains(rest) {
            Auth::Ok
        } else {
            Auth::Wrong
        };
    }
    if scheme.eq_ignore_ascii_case("basic") {
        if rest.is_empty() {
            return Auth::NoLogin;
        }
        let Some(text) = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return Auth::Wrong;
        };
        let (login, password) = text.split_once(':').unwrap_or((text.as_str(), ""));
        return if login.is_empty() {
            Auth::NoLogin
        } else if login == DEFAULT_DEVINO_LOGIN && password == DEFAULT_PASSWORD {
            Auth::Ok
        } else {
            Auth::Wrong
        };
    }
    Auth::Wrong
}

/// An `errors.json#/$defs/http_error` answer.
fn http_error(status: StatusCode, code: &str, description: &str) -> Response {
    json_response(status, &json!({"code": code, "description": description}))
}

/// Whether a message carries [`SPAM_MARKER`] in `tmpl`, a `tmpl_data` value or `text`.
fn is_spam(m: &Value) -> bool {
    let has = |s: &str| s.to_lowercase().contains(SPAM_MARKER);
    let data = m
        .get("tmpl_data")
        .and_then(Value::as_object)
        .is_some_and(|d| d.values().any(|v| v.as_str().is_some_and(has)));
    data || m.get("tmpl").and_then(Value::as_str).is_some_and(has)
        || m.get("text").and_then(Value::as_str).is_some_and(has)
}

/// The digits of a phone number (`+7 999…` → `7999…`).
fn phone_digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A 40-hex-digit event ID, like the doc's.
fn event_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5)
        .map(|_| format!("{:08x}", rng.random::<u32>()))
        .collect()
}

/// A URL safe to log: scheme, host, port and path, without credentials or query.
fn loggable_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "(invalid URL)".into(),
    }
}

/// The two sending limits, per fixed window, with bounded maps.
struct RateLimits {
    cap: usize,
    /// `service` → (window start, messages sent in it).
    per_second: HashMap<String, (Instant, u32)>,
    /// (`service`, phone digits) → (window start, messages sent in it).
    per_day: HashMap<(String, String), (Instant, u32)>,
}

impl RateLimits {
    fn new(cap: usize) -> RateLimits {
        RateLimits {
            cap: cap.max(2),
            per_second: HashMap::new(),
            per_day: HashMap::new(),
        }
    }

    /// True when a message may be sent now (and counts it); false when it is over a limit.
    fn admit(
        &mut self,
        service: &str,
        phone: &str,
        now: Instant,
        per_second: u32,
        per_day: u32,
    ) -> bool {
        let sk = service.to_string();
        let dk = (service.to_string(), phone.to_string());
        make_room(&mut self.per_second, &sk, now, SECOND, self.cap);
        make_room(&mut self.per_day, &dk, now, DAY, self.cap);
        let s = self.per_second.entry(sk).or_insert((now, 0));
        if now.duration_since(s.0) >= SECOND {
            *s = (now, 0);
        }
        let d = self.per_day.entry(dk).or_insert((now, 0));
        if now.duration_since(d.0) >= DAY {
            *d = (now, 0);
        }
        if s.1 >= per_second || d.1 >= per_day {
            return false;
        }
        s.1 += 1;
        d.1 += 1;
        true
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (self.per_second.len(), self.per_day.len())
    }
}

/// Before inserting a new key into a full map: forget expired windows, then the oldest half.
fn make_room<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, (Instant, u32)>,
    key: &K,
    now: Instant,
    window: Duration,
    cap: usize,
) {
    if map.len() < cap || map.contains_key(key) {
        return;
    }
    map.retain(|_, (start, _)| now.duration_since(*start) < window);
    if map.len() >= cap {
        let mut starts: Vec<(K, Instant)> = map.iter().map(|(k, (t, _))| (k.clone(), *t)).collect();
        starts.sort_by_key(|(_, t)| *t);
        for (k, _) in starts.into_iter().take(cap / 2) {
            map.remove(&k);
        }
    }
}

/// The last [`MAX_REMEMBERED_IDS`] issued `messageId`s.
#[derive(Default)]
struct IssuedIds {
    order: VecDeque<u64>,
    set: HashSet<u64>,
    last: Option<u64>,
}

impl IssuedIds {
    fn remember(&mut self, id: u64) {
        self.order.push_back(id);
        self.set.insert(id);
        self.last = Some(id);
        while self.order.len() > MAX_REMEMBERED_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> HashSet<String> {
        [DEFAULT_DEVINO_KEY.to_string()].into_iter().collect()
    }

    fn basic(s: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    #[test]
    fn authorization_accepts_the_key_and_the_default_login() {
        assert_eq!(
            check_authorization(
                Some(format!("Key {DEFAULT_DEVINO_KEY}").as_bytes()),
                &keys()
            ),
            Auth::Ok
        );
        assert_eq!(
            check_authorization(
                Some(format!("key  {DEFAULT_DEVINO_KEY} ").as_bytes()),
                &keys()
            ),
            Auth::Ok
        );
        assert_eq!(
            check_authorization(
                Some(basic(&format!("{DEFAULT_DEVINO_LOGIN}:{DEFAULT_PASSWORD}")).as_bytes()),
                &keys()
            ),
            Auth::Ok
        );
    }

    #[test]
    fn authorization_without_a_login_is_login_must_be_not_null() {
        for h in [
            None,
            Some(""),
            Some("Key"),
            Some("Key "),
            Some("Basic"),
            Some(basic(":pw").as_str()),
            Some(basic("").as_str()),
        ] {
            assert_eq!(
                check_authorization(h.map(str::as_bytes), &keys()),
                Auth::NoLogin,
                "{h:?}"
            );
        }
    }

    #[test]
    fn wrong_credentials_are_unauthorized() {
        for h in [
            "Key nope",
            "Bearer x",
            "Basic !!!",
            &basic("devino:wrong"),
            &basic("other:test-password"),
            "Token vkconform-devino-key",
        ] {
            assert_eq!(
                check_authorization(Some(h.as_bytes()), &keys()),
                Auth::Wrong,
                "{h}"
            );
        }
        assert_eq!(
            check_authorization(Some(&[0xff, 0xfe]), &keys()),
            Auth::Wrong
        );
    }

    #[test]
    fn the_per_second_limit_counts_per_service() {
        let mut l = RateLimits::new(100);
        let now = Instant::now();
        for i in 0..3 {
            assert!(l.admit("g", &format!("7999000000{i}"), now, 3, 5));
        }
        assert!(!l.admit("g", "79990000009", now, 3, 5));
        assert!(l.admit("other", "79990000009", now, 3, 5));
        assert!(
            l.admit("g", "79990000009", now + SECOND, 3, 5),
            "a new second opens a new window"
        );
    }

    #[test]
    fn the_per_day_limit_counts_per_user_and_service() {
        let mut l = RateLimits::new(100);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.admit("g", "79990000001", t0 + SECOND * (i * 2), 50, 5));
        }
        assert!(!l.admit("g", "79990000001", t0 + SECOND * 20, 50, 5));
        assert!(l.admit("h", "79990000001", t0 + SECOND * 20, 50, 5));
        assert!(
            l.admit("g", "79990000001", t0 + DAY, 50, 5),
            "the next day opens a new window"
        );
    }

    #[test]
    fn rate_limit_maps_stay_bounded() {
        let mut l = RateLimits::new(8);
        let now = Instant::now();
        for i in 0..100 {
            l.admit(&format!("s{i}"), &format!("p{i}"), now, 50, 5);
            let (a, b) = l.len();
            assert!(a <= 8 && b <= 8, "{a} {b}");
        }
    }

    #[test]
    fn issued_ids_are_bounded() {
        let mut ids = IssuedIds::default();
        for i in 0..(MAX_REMEMBERED_IDS as u64 + 10) {
            ids.remember(i);
        }
        assert_eq!(ids.order.len(), MAX_REMEMBERED_IDS);
        assert!(!ids.set.contains(&0));
        assert_eq!(ids.last, Some(MAX_REMEMBERED_IDS as u64 + 9));
    }

    #[test]
    fn spam_is_found_in_any_case_in_template_data() {
        assert!(is_spam(&json!({"tmpl_data": {"x": "Buy SPAM now"}})));
        assert!(is_spam(&json!({"tmpl": "spam_template", "tmpl_data": {}})));
        assert!(!is_spam(
            &json!({"tmpl": "base", "tmpl_data": {"name": "Anna", "n": 5}})
        ));
    }

    #[test]
    fn logged_urls_lose_credentials_and_query() {
        assert_eq!(
            loggable_url("http://u:p@127.0.0.1:9/cb?token=x"),
            "http://127.0.0.1:9/cb"
        );
    }
}
