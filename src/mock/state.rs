//! What a running mock shares between requests: the catalog, the recordings,
//! the issued tokens and the mutable world. Every collection here is bounded.

use super::recordings::{RecordingError, Recordings};
use super::{devino, longpoll, world, Account, MockConfig, MockError};
use super::{
    DEFAULT_2FA_LOGIN, DEFAULT_2FA_SECRET, DEFAULT_LOGIN, DEFAULT_PASSWORD, DEFAULT_TOKEN,
};
use crate::schema::Catalog;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// Most tokens `/token` keeps; the oldest issued one is forgotten first.
pub const MAX_ISSUED_TOKENS: usize = 10_000;
/// Most clients (tokens or IPs) the rate limiters track at once.
pub const MAX_TRACKED_CLIENTS: usize = 10_000;

/// State shared by every request of one mock.
pub struct MockState {
    /// The configuration it was started with.
    pub config: MockConfig,
    /// The schema catalog.
    pub catalog: Arc<Catalog>,
    /// The recordings it answers from.
    pub recordings: Recordings,
    /// `/token` accounts by login.
    pub accounts: HashMap<String, Account>,
    tokens: RwLock<Tokens>,
    /// The stateful part of the default world (posts, messages, …).
    pub world: Mutex<world::World>,
    /// Long-poll event queue.
    pub longpoll: longpoll::LongPoll,
    /// Devino gateway state.
    pub devino: devino::DevinoState,
    limits: Mutex<Limits>,
    base_url: OnceLock<String>,
}

#[derive(Default)]
struct Tokens {
    fixed: HashMap<String, i64>,
    issued: HashMap<String, i64>,
    order: VecDeque<String>,
}

#[derive(Default)]
struct Limits {
    /// Calls per token in the current second.
    per_second: HashMap<String, (Instant, u32)>,
    /// Write calls per client IP in the current 20 s window.
    writes: HashMap<IpAddr, (Instant, u32)>,
    /// Write calls seen, for captcha-every-N.
    write_calls: u64,
    /// Open captcha challenges: sid → (expected key, image loads so far).
    captchas: HashMap<String, (String, u32)>,
    /// `success_token`s handed out by the redirect page: token → sid.
    success_tokens: HashMap<String, String>,
    captcha_order: VecDeque<String>,
}

impl MockState {
    /// Builds the state: loads recordings, registers tokens and accounts.
    pub fn new(config: MockConfig, catalog: Arc<Catalog>) -> Result<MockState, MockError> {
        let recordings = match &config.snapshots {
            Some(dir) => Recordings::load_dir(&catalog, dir)?,
            None => Recordings::embedded(&catalog)?,
        };
        let mut tokens = Tokens::default();
        tokens.fixed.insert(DEFAULT_TOKEN.to_string(), 1);
        for t in &config.tokens {
            tokens.fixed.insert(t.clone(), 1);
        }
        let mut accounts = HashMap::new();
        accounts.insert(
            DEFAULT_LOGIN.to_string(),
            Account {
                login: DEFAULT_LOGIN.into(),
                password: DEFAULT_PASSWORD.into(),
                totp_secret: None,
                user_id: 1,
            },
        );
        accounts.insert(
            DEFAULT_2FA_LOGIN.to_string(),
            Account {
                login: DEFAULT_2FA_LOGIN.into(),
                password: DEFAULT_PASSWORD.into(),
                totp_secret: Some(DEFAULT_2FA_SECRET.into()),
                user_id: 2,
            },
        );
        for a in &config.accounts {
            accounts.insert(a.login.clone(), a.clone());
        }
        let world = world::World::from_recordings(&recordings).map_err(|message| {
            MockError::Recording(RecordingError {
                file: "openvk/".into(),
                location: None,
                message,
            })
        })?;
        let devino = devino::DevinoState::new(&config);
        Ok(MockState {
            config,
            catalog,
            recordings,
            accounts,
            tokens: RwLock::new(tokens),
            world: Mutex::new(world),
            longpoll: longpoll::LongPoll::default(),
            devino,
            limits: Mutex::new(Limits::default()),
            base_url: OnceLock::new(),
        })
    }

    pub(crate) fn set_base_url(&self, url: String) {
        let _ = self.base_url.set(url);
    }

    /// `http://HOST:PORT` of this mock (empty before it is bound).
    pub fn base_url(&self) -> &str {
        self.base_url.get().map(String::as_str).unwrap_or("")
    }

    /// The user a token belongs to.
    pub fn user_for_token(&self, token: &str) -> Option<i64> {
        let t = self.tokens.read().expect("tokens lock");
        t.fixed.get(token).or_else(|| t.issued.get(token)).copied()
    }

    /// Issues a new token for a user (bounded: the oldest issued token is dropped past the cap).
    pub fn issue_token(&self, user_id: i64) -> String {
        use rand::Rng;
        let mut rng = rand::rng();
        let mut parts = Vec::with_capacity(9);
        for _ in 0..9 {
            parts.push(format!("{:08x}", rng.random::<u32>()));
        }
        let mut t = self.tokens.write().expect("tokens lock");
        let token = format!(
            "{}-{}-jill",
            t.issued.len() + t.fixed.len() + 1,
            parts.join("-")
        );
        t.issued.insert(token.clone(), user_id);
        t.order.push_back(token.clone());
        while t.order.len() > MAX_ISSUED_TOKENS {
            if let Some(old) = t.order.pop_front() {
                t.issued.remove(&old);
            }
        }
        token
    }

    /// VK's per-token rate limit: true when this call is over the limit (→ error 6).
    pub fn over_rate_limit(&self, client: &str) -> bool {
        let Some(limit) = self.config.rate_limit else {
            return false;
        };
        let mut l = self.limits.lock().expect("limits lock");
        let now = Instant::now();
        if l.per_second.len() >= MAX_TRACKED_CLIENTS && !l.per_second.contains_key(client) {
            l.per_second
                .retain(|_, (t, _)| now.duration_since(*t) < Duration::from_secs(1));
            if l.per_second.len() >= MAX_TRACKED_CLIENTS {
                l.per_second.clear();
            }
        }
        let e = l.per_second.entry(client.to_string()).or_insert((now, 0));
        if now.duration_since(e.0) >= Duration::from_secs(1) {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 > limit
    }

    /// OpenVK's per-IP write limiter: true when this write is over the limit (→ error 29).
    pub fn over_write_limit(&self, ip: IpAddr) -> bool {
        let Some(limit) = self.config.write_limit else {
            return false;
        };
        let mut l = self.limits.lock().expect("limits lock");
        let now = Instant::now();
        if l.writes.len() >= MAX_TRACKED_CLIENTS && !l.writes.contains_key(&ip) {
            l.writes.clear();
        }
        let e = l.writes.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= Duration::from_secs(20) {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 > limit
    }

    /// Captcha emulation for write calls. `Ok(())` lets the call through;
    /// `Err(challenge)` asks for a captcha. A retry passes with the right
    /// `captcha_sid` + `captcha_key`, or (redirect mode) a `success_token`.
    pub fn captcha_gate(
        &self,
        sid: Option<&str>,
        key: Option<&str>,
        success_token: Option<&str>,
    ) -> Result<(), Challenge> {
        let Some(every) = self.config.captcha_every.filter(|n| *n > 0) else {
            return Ok(());
        };
        let mut l = self.limits.lock().expect("limits lock");
        if let (Some(sid), Some(key)) = (sid, key) {
            if l.captchas
                .get(sid)
                .is_some_and(|(expected, _)| expected.eq_ignore_ascii_case(key.trim()))
            {
                l.captchas.remove(sid);
                return Ok(());
            }
        }
        if let Some(t) = success_token {
            if let Some(sid) = l.success_tokens.remove(t) {
                l.captchas.remove(&sid);
                return Ok(());
            }
        }
        l.write_calls += 1;
        if l.write_calls % u64::from(every) != 0 {
            return Ok(());
        }
        use rand::Rng;
        let mut rng = rand::rng();
        let sid: String = format!("{}", rng.random_range(100_000_000_000u64..999_999_999_999));
        let answer = captcha_answer(&sid);
        l.captchas.insert(sid.clone(), (answer, 0));
        l.captcha_order.push_back(sid.clone());
        while l.captcha_order.len() > MAX_TRACKED_CLIENTS {
            if let Some(old) = l.captcha_order.pop_front() {
                l.captchas.remove(&old);
            }
        }
        let img = format!("{}/captcha.php?sid={sid}", self.base_url());
        let redirect_uri = self
            .config
            .captcha_redirect
            .then(|| format!("{}/captcha/challenge?sid={sid}", self.base_url()));
        Err(Challenge {
            sid,
            img,
            redirect_uri,
        })
    }

    /// The text a captcha image shows. VK's images are single-use: every load
    /// after the first makes a new answer for the same sid.
    pub fn captcha_text(&self, sid: &str) -> Option<String> {
        let mut l = self.limits.lock().expect("limits lock");
        let (answer, loads) = l.captchas.get_mut(sid)?;
        if *loads > 0 {
            use rand::Rng;
            let old = answer.clone();
            while *answer == old {
                *answer = format!("{:04}", rand::rng().random_range(0..10_000u32));
            }
        }
        *loads += 1;
        Some(answer.clone())
    }

    /// Redirect mode: the page at `redirect_uri` "solves" the captcha and hands out a `success_token`.
    pub fn captcha_success_token(&self, sid: &str) -> Option<String> {
        let mut l = self.limits.lock().expect("limits lock");
        if !l.captchas.contains_key(sid) {
            return None;
        }
        use rand::Rng;
        let token = format!("st-{:016x}", rand::rng().random::<u64>());
        if l.success_tokens.len() >= MAX_TRACKED_CLIENTS {
            l.success_tokens.clear();
        }
        l.success_tokens.insert(token.clone(), sid.to_string());
        Some(token)
    }
}

/// A captcha challenge (error 14's extra fields).
#[derive(Debug, Clone)]
pub struct Challenge {
    /// `captcha_sid`.
    pub sid: String,
    /// `captcha_img`.
    pub img: String,
    /// `redirect_uri` (redirect mode only; vk-io then retries with `success_token`).
    pub redirect_uri: Option<String>,
}

/// The answer to a captcha: the last four digits of its sid (documented, so test clients can solve it).
pub fn captcha_answer(sid: &str) -> String {
    sid.chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}
