//! The mock server: answers like a real OpenVK (and Devino, and OK) from the
//! recordings in `snapshots/`, validates what clients send against the
//! schema catalog, and emulates the behaviours clients depend on (auth and
//! `/token` with 2FA, both error dialects, rate limits, captcha, `execute`,
//! long poll, Devino callbacks).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use vkconform::mock::{MockConfig, MockServer};
//! let mock = MockServer::start(MockConfig { tokens: vec!["t0ken".into()], ..MockConfig::default() }).await?;
//! let me: serde_json::Value = reqwest::get(format!("{}/method/account.getProfileInfo?access_token=t0ken", mock.uri()))
//!     .await?.json().await?;
//! assert_eq!(me["response"]["id"], 1);
//! # Ok(()) }
//! ```

pub mod devino;
pub mod execute;
pub mod longpoll;
pub mod ok;
pub(crate) mod openvk;
pub mod recordings;
mod state;
pub mod token;
pub mod vk_ext;
pub mod world;

pub use recordings::{Recording, RecordingFile, Recordings};
pub use state::MockState;

use crate::api::Profile;
use crate::schema::Catalog;
use axum::routing::{any, post};
use axum::Router;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The ready token every mock accepts for user 1 (documented in `docs/world.md`).
pub const DEFAULT_TOKEN: &str = "vkconform-test-token";
/// The documented default `/token` login (user 1).
pub const DEFAULT_LOGIN: &str = "test@vkconform.local";
/// The documented default password of both default accounts.
pub const DEFAULT_PASSWORD: &str = "test-password";
/// The documented default 2FA login (user 2).
pub const DEFAULT_2FA_LOGIN: &str = "2fa@vkconform.local";
/// The TOTP secret (base32) of the default 2FA account.
pub const DEFAULT_2FA_SECRET: &str = "JBSWY3DPEHPK3PXP";
/// The documented default Devino API key.
pub const DEFAULT_DEVINO_KEY: &str = "vkconform-devino-key";
/// The documented default Devino login for `Authorization: Basic`.
pub const DEFAULT_DEVINO_LOGIN: &str = "devino";

/// A `/token` account: `LOGIN:PASSWORD[:TOTP_SECRET]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Login (`username`).
    pub login: String,
    /// Password.
    pub password: String,
    /// Base32 TOTP secret; when set, `/token` needs a valid `code`.
    pub totp_secret: Option<String>,
    /// The user the issued token belongs to.
    pub user_id: i64,
}

impl std::str::FromStr for Account {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        let login = parts.next().unwrap_or_default();
        let password = parts
            .next()
            .ok_or("an account is LOGIN:PASSWORD[:TOTP_SECRET]")?;
        if login.is_empty() || password.is_empty() {
            return Err(
                "an account is LOGIN:PASSWORD[:TOTP_SECRET] with a non-empty login and password"
                    .into(),
            );
        }
        let totp_secret = parts.next().filter(|t| !t.is_empty()).map(str::to_string);
        if let Some(t) = &totp_secret {
            token::totp_now(t, 0)
                .map_err(|e| format!("the TOTP secret is not valid base32: {e}"))?;
        }
        Ok(Account {
            login: login.into(),
            password: password.into(),
            totp_secret,
            user_id: 1,
        })
    }
}

/// Everything a mock needs to start.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Address to bind (loopback by default).
    pub host: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Error dialect.
    pub profile: Profile,
    /// Extra ready tokens for user 1 (the default token always works too).
    pub tokens: Vec<String>,
    /// Extra `/token` accounts (the two documented defaults always exist).
    pub accounts: Vec<Account>,
    /// Extra Devino API keys (the documented default always works too).
    pub devino_keys: Vec<String>,
    /// Load recordings from this directory instead of the embedded ones.
    pub snapshots: Option<PathBuf>,
    /// VK's per-token request rate: more than this many calls in one second answer error 6.
    pub rate_limit: Option<u32>,
    /// OpenVK's write limiter: more than this many write calls per 20 s per client answer error 29.
    pub write_limit: Option<u32>,
    /// Ask for a captcha (error 14) on every Nth write call.
    pub captcha_every: Option<u32>,
    /// Captchas also carry `redirect_uri` (VK's newer flow: retry with `success_token`).
    pub captcha_redirect: bool,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// Devino behaviour (callbacks, limits).
    pub devino: devino::DevinoConfig,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            profile: Profile::Openvk,
            tokens: Vec::new(),
            accounts: Vec::new(),
            devino_keys: Vec::new(),
            snapshots: None,
            rate_limit: None,
            write_limit: None,
            captcha_every: None,
            captcha_redirect: false,
            max_body: 2 * 1024 * 1024,
            devino: devino::DevinoConfig::default(),
        }
    }
}

/// Why the mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// A schema failed to load.
    #[error("schema {0}")]
    Schema(#[from] crate::schema::SchemaError),
    /// A recording failed to load.
    #[error("snapshot {0}")]
    Recording(#[from] recordings::RecordingError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running mock server; stops when dropped or on [`MockServer::shutdown`].
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MockServer {
    /// Starts a mock on the configured address (port 0: a free port) inside
    /// the current tokio runtime, with the embedded catalog.
    pub async fn start(config: MockConfig) -> Result<MockServer, MockError> {
        let catalog = match Catalog::shared() {
            Ok(c) => c,
            Err(e) => {
                return Err(MockError::Schema(crate::schema::SchemaError {
                    file: e.file.clone(),
                    location: e.location.clone(),
                    message: e.message.clone(),
                }))
            }
        };
        MockServer::start_with(config, catalog).await
    }

    /// Starts a mock with a given catalog.
    pub async fn start_with(
        config: MockConfig,
        catalog: Arc<Catalog>,
    ) -> Result<MockServer, MockError> {
        let state = Arc::new(MockState::new(config.clone(), catalog)?);
        let addr = SocketAddr::new(config.host, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MockError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MockError::Bind { addr, source })?;
        state.set_base_url(format!("http://{addr}"));
        let app = router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        });
        devino::spawn_workers(&state);
        Ok(MockServer {
            addr,
            state,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// `http://HOST:PORT`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (for tests that inspect the world or inject events).
    pub fn state(&self) -> &Arc<MockState> {
        &self.state
    }

    /// Stops accepting connections and waits (at most 5 s) for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The axum router of a mock (for embedding in another server).
pub fn router(state: Arc<MockState>) -> Router {
    Router::new()
        .route("/method/{name}", any(openvk::method))
        .route("/token", any(token::handle))
        .route("/token/", any(token::handle))
        .route("/oauth/token", any(token::handle))
        .route("/vk/messages", post(devino::send))
        .route("/graph/me/messages", any(ok::messages))
        .route("/graph/me/messages/{chat}", any(ok::messages_by_path))
        .route("/graph/{*rest}", any(ok::unknown))
        .route("/captcha.php", any(openvk::captcha_image))
        .route("/captcha/challenge", any(openvk::captcha_challenge))
        .route(
            "/__vkconform/devino/incoming",
            post(devino::inject_incoming),
        )
        .route("/__vkconform/health", any(|| async { "ok" }))
        .route("/__vkconform/vk/group-event", post(vk_ext::inject_event))
        .route("/bots/{group}", any(vk_ext::bots_poll))
        .route("/upload/photo", any(vk_ext::upload_photo))
        .route("/{poll}", any(longpoll::poll))
        .fallback(openvk::not_found)
        .with_state(state)
}
