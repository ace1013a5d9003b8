//! The user long-poll endpoint `/nim{user}` (OpenVK's `MessengerPresenter`,
//! `openvk-behavior.md` §5 "Long-poll endpoint").
//!
//! `Messages.getLongPollServer` (answered by the world) hands out
//! `{key, server: "<host:port>/nim<uid>", ts[, pts]}`. With the default API
//! version (no `v`, or `v=5.9999`) `server` is a full `http://…` URL, with an
//! explicit `v` it is the bare `host:port/nim<uid>`, as the real server does.
//! VK client libraries (vk-io, vk_api, vkbottle) prepend `https://` to the
//! bare form, so against this plain-HTTP mock they need the default version or
//! a rewrite of the scheme (`vk-clients.md`).
//!
//! `GET|POST /nim<uid>?act=a_check&key=K&ts=T&wait=W` (query string or form body):
//!
//! | request | answer |
//! |---|---|
//! | path is not `nim<digits>` | 404 with the profile's JSON error (code 3) |
//! | `act` missing or not `a_check` | 400, empty body |
//! | `key` missing or empty | 403, empty body |
//! | `key` is not the user's key | 200 `{"failed":3}` |
//! | `ts` older than the kept events, or from the future | 200 `{"failed":1,"ts":<current>}` |
//! | otherwise | waits up to `wait` seconds (missing or `0` → 25, at most [`MAX_WAIT`]) for events of that user newer than `ts`: 200 `{"ts":<current>,"updates":[[4, …], …]}`, or `{"ts":<current>,"updates":[]}` when the wait ends |
//!
//! `ts` is a global event counter that starts at the mock's start time in
//! Unix seconds (so it looks like the real server's `ts`) and grows by one per
//! event; a missing or unparsable `ts` means "from now". Waiting uses
//! [`tokio::sync::Notify`]; nothing polls. Memory is bounded: the last
//! [`RING_SIZE`] events and at most [`MAX_KEYS`] user keys are kept.

use super::state::MockState;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How many events the ring keeps (older ones answer `failed:1`).
pub const RING_SIZE: usize = 1000;
/// Longest wait a client may ask for, in seconds.
pub const MAX_WAIT: u64 = 90;
/// Wait used when `wait` is missing, unparsable or 0 (as OpenVK does).
pub const DEFAULT_WAIT: u64 = 25;
/// Most long-poll keys kept; the oldest issued key is forgotten first.
pub const MAX_KEYS: usize = 10_000;

/// The long-poll event queue shared by every request of one mock.
///
/// All state sits behind one mutex; waiting pollers are woken by a
/// [`Notify`] whenever an event is pushed.
#[derive(Debug)]
pub struct LongPoll {
    inner: Mutex<Ring>,
    notify: Notify,
}

#[derive(Debug)]
struct Ring {
    /// The `ts` of the newest event (the start value before any event).
    ts: u64,
    /// Events older than or equal to this were dropped (or never existed).
    lost_upto: u64,
    events: VecDeque<Event>,
    keys: HashMap<i64, String>,
    key_order: VecDeque<i64>,
}

#[derive(Debug)]
struct Event {
    ts: u64,
    user: i64,
    update: Value,
}

/// What a poll answers.
#[derive(Debug, Clone, PartialEq)]
pub enum PollAnswer {
    /// New events (possibly none, when the wait ended).
    Updates {
        /// The `ts` to send next.
        ts: u64,
        /// The user's events newer than the request's `ts`.
        updates: Vec<Value>,
    },
    /// `{"failed":1,"ts":…}`: the requested `ts` is outside the kept history.
    Outdated {
        /// The current `ts`.
        ts: u64,
    },
}

impl PollAnswer {
    /// The JSON body of this answer.
    pub fn to_json(&self) -> Value {
        match self {
            PollAnswer::Updates { ts, updates } => json!({"ts": ts, "updates": updates}),
            PollAnswer::Outdated { ts } => json!({"failed": 1, "ts": ts}),
        }
    }
}

impl Default for LongPoll {
    fn default() -> Self {
        LongPoll::starting_at(super::world::unix_now().max(0) as u64)
    }
}

impl LongPoll {
    /// A queue whose first event will get `ts = start + 1`.
    pub fn starting_at(start: u64) -> LongPoll {
        LongPoll {
            inner: Mutex::new(Ring {
                ts: start,
                lost_upto: start,
                events: VecDeque::new(),
                keys: HashMap::new(),
                key_order: VecDeque::new(),
            }),
            notify: Notify::new(),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current `ts` (that of the newest event).
    pub fn ts(&self) -> u64 {
        self.ring().ts
    }

    /// The user's long-poll key (32 lower-case hex digits), made on first use and then stable.
    pub fn key_for(&self, user: i64) -> String {
        let mut r = self.ring();
        if let Some(k) = r.keys.get(&user) {
            return k.clone();
        }
        use rand::Rng;
        let key = format!("{:032x}", rand::rng().random::<u128>());
        r.keys.insert(user, key.clone());
        r.key_order.push_back(user);
        while r.key_order.len() > MAX_KEYS {
            if let Some(old) = r.key_order.pop_front() {
                r.keys.remove(&old);
            }
        }
        key
    }

    /// Whether `key` is the key issued to `user`.
    pub fn key_matches(&self, user: i64, key: &str) -> bool {
        self.ring().keys.get(&user).is_some_and(|k| k == key)
    }

    /// Queues an event for a user, wakes every waiting poll and returns the event's `ts`.
    pub fn push(&self, user: i64, update: Value) -> u64 {
        let ts = {
            let mut r = self.ring();
            r.ts += 1;
            let ts = r.ts;
            r.events.push_back(Event { ts, user, update });
            while r.events.len() > RING_SIZE {
                if let Some(old) = r.events.pop_front() {
                    r.lost_upto = old.ts;
                }
            }
            ts
        };
        self.notify.notify_waiters();
        ts
    }

    /// The user's events newer than `since` right now: `Ok(None)` when there are none.
    fn collect(&self, user: i64, since: u64) -> Result<Option<(u64, Vec<Value>)>, u64> {
        let r = self.ring();
        if since < r.lost_upto || since > r.ts {
            return Err(r.ts);
        }
        let updates: Vec<Value> = r
            .events
            .iter()
            .filter(|e| e.ts > since && e.user == user)
            .map(|e| e.update.clone())
            .collect();
        Ok(if updates.is_empty() {
            None
        } else {
            Some((r.ts, updates))
        })
    }

    /// Waits up to `wait` for events of `user` newer than `since` (`None`: from now).
    pub async fn wait(&self, user: i64, since: Option<u64>, wait: Duration) -> PollAnswer {
        let since = since.unwrap_or_else(|| self.ts());
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before looking, so a push between the look and
            // the await still wakes this poll.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.collect(user, since) {
                Err(ts) => return PollAnswer::Outdated { ts },
                Ok(Some((ts, updates))) => return PollAnswer::Updates { ts, updates },
                Ok(None) => {}
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return PollAnswer::Updates {
                    ts: self.ts().max(since),
                    updates: Vec::new(),
                };
            }
        }
    }
}

/// `GET|POST /nim{user}?act=a_check&key=…&ts=…&wait=…`.
pub async fn poll(
    State(st): State<Arc<MockState>>,
    Path(p): Path<String>,
    req: Request,
) -> Response {
    let user = p
        .strip_prefix("nim")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<i64>().ok());
    let Some(user) = user else {
        return super::openvk::not_found(State(st), req).await;
    };
    let inc = match super::openvk::read_request(&st, req).await {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    if inc.wire.get("act") != Some("a_check") {
        return empty(StatusCode::BAD_REQUEST);
    }
    let Some(key) = inc.wire.get("key").filter(|k| !k.is_empty()) else {
        return empty(StatusCode::FORBIDDEN);
    };
    if !st.longpoll.key_matches(user, key) {
        return super::openvk::json_response(StatusCode::OK, &json!({"failed": 3}));
    }
    let since = inc
        .wire
        .get("ts")
        .and_then(|t| t.trim().parse::<u64>().ok());
    let wait = inc
        .wire
        .get("wait")
        .and_then(|w| w.trim().parse::<u64>().ok())
        .filter(|w| *w > 0)
        .unwrap_or(DEFAULT_WAIT)
        .min(MAX_WAIT);
    let answer = st
        .longpoll
        .wait(user, since, Duration::from_secs(wait))
        .await;
    super::openvk::json_response(StatusCode::OK, &answer.to_json())
}

fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pushed_event_wakes_a_waiting_poll() {
        let lp = Arc::new(LongPoll::starting_at(100));
        let waiter = {
            let lp = lp.clone();
            tokio::spawn(async move { lp.wait(1, Some(100), Duration::from_secs(30)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        lp.push(2, json!([4, 1]));
        lp.push(1, json!([4, 2]));
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken promptly")
            .unwrap();
        assert_eq!(
            got,
            PollAnswer::Updates {
                ts: 102,
                updates: vec![json!([4, 2])]
            }
        );
    }

    #[tokio::test]
    async fn old_and_future_ts_are_outdated() {
        let lp = LongPoll::starting_at(10);
        for i in 0..(RING_SIZE as u64 + 5) {
            lp.push(1, json!([4, i]));
        }
        let now = lp.ts();
        assert_eq!(
            lp.wait(1, Some(10), Duration::from_millis(1)).await,
            PollAnswer::Outdated { ts: now }
        );
        assert_eq!(
            lp.wait(1, Some(now + 1), Duration::from_millis(1)).await,
            PollAnswer::Outdated { ts: now }
        );
        match lp.wait(1, Some(now - 2), Duration::from_millis(1)).await {
            PollAnswer::Updates { updates, .. } => assert_eq!(updates.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_are_stable_and_bounded() {
        let lp = LongPoll::starting_at(0);
        let k = lp.key_for(1);
        assert_eq!(k.len(), 32);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(lp.key_for(1), k);
        assert!(lp.key_matches(1, &k));
        assert!(!lp.key_matches(2, &k));
        for u in 0..(MAX_KEYS as i64 + 10) {
            lp.key_for(100 + u);
        }
        assert!(lp.ring().keys.len() <= MAX_KEYS);
    }
}
