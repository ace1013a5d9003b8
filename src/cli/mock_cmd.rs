//! `vkconform mock`: serve the mock until SIGINT/SIGTERM.

use super::{runtime, Failure};
use crate::api::Profile;
use crate::exit::Exit;
use crate::mock::{Account, MockConfig, MockServer};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

/// Arguments of `vkconform mock`.
#[derive(Debug, clap::Args)]
pub struct MockArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Error dialect: `openvk` (top-level error fields, HTTP 400) or `vk` (`{"error": …}`, HTTP 200).
    #[arg(long, value_enum, default_value_t = Profile::Openvk)]
    pub profile: Profile,
    /// A ready access token for user 1 (repeatable). `vkconform-test-token` always works.
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// A /token login, LOGIN:PASSWORD[:TOTP_SECRET] (repeatable); with a TOTP secret it needs a 2FA code.
    #[arg(long = "account", value_name = "LOGIN:PASSWORD[:TOTP_SECRET]")]
    pub accounts: Vec<Account>,
    /// A Devino API key for `Authorization: Key <KEY>` (repeatable). `vkconform-devino-key` always works.
    #[arg(long = "devino-key", value_name = "KEY")]
    pub devino_keys: Vec<String>,
    /// Serve recordings from this directory instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Emulate VK's per-token rate limit: more calls per second answer error 6.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate_limit: Option<u32>,
    /// Emulate OpenVK's write limiter: more write calls per 20 s per client answer error 29.
    #[arg(long, value_name = "PER_20S")]
    pub write_limit: Option<u32>,
    /// Ask for a captcha (error 14) on every Nth write call.
    #[arg(long, value_name = "N")]
    pub captcha_every: Option<u32>,
    /// Captchas carry `redirect_uri`; the page there hands out a `success_token` to retry with.
    #[arg(long, requires = "captcha_every")]
    pub captcha_redirect: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    pub max_body: usize,
    /// Devino: milliseconds before a message's first status callback and between its statuses.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub devino_callback_delay_ms: u64,
    /// Devino: where `POST /__vkconform/devino/incoming` pushes the webhook when the request names no `url`.
    #[arg(long, value_name = "URL")]
    pub devino_incoming_url: Option<String>,
}

impl MockArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> MockConfig {
        let mut config = MockConfig {
            host: self.host,
            port: self.port,
            profile: self.profile,
            tokens: self.tokens.clone(),
            accounts: self.accounts.clone(),
            devino_keys: self.devino_keys.clone(),
            snapshots: self.snapshots.clone(),
            rate_limit: self.rate_limit,
            write_limit: self.write_limit,
            captcha_every: self.captcha_every,
            captcha_redirect: self.captcha_redirect,
            max_body: self.max_body,
            ..MockConfig::default()
        };
        config.devino.status_delay =
            std::time::Duration::from_millis(self.devino_callback_delay_ms);
        config.devino.incoming_url = self.devino_incoming_url.clone();
        config
    }
}

/// Runs `mock`.
pub fn run(args: MockArgs) -> Result<Exit, Failure> {
    let rt = runtime()?;
    let started = std::time::Instant::now();
    rt.block_on(async move {
        let server = MockServer::start(args.config())
            .await
            .map_err(|e| match e {
                crate::mock::MockError::Bind { .. } => Failure::new(
                    Exit::Usage,
                    format!("{e}; pick another --port (0 picks a free one)"),
                ),
                other => Failure::new(Exit::Load, other.to_string()),
            })?;
        let signals = Signals::install()?;
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on {}", server.uri());
            let _ = out.flush();
        }
        eprintln!(
            "vkconform mock: profile {}, ready in {} ms; stop with Ctrl-C",
            args.profile,
            started.elapsed().as_millis()
        );
        signals.wait().await;
        eprintln!("vkconform mock: stopping");
        server.shutdown().await;
        Ok(Exit::Success)
    })
}

/// Signal handlers, installed before the mock announces itself so that a
/// SIGTERM right after the `listening on` line still stops it cleanly.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let err = |e: std::io::Error| {
                Failure::new(Exit::Usage, format!("cannot install signal handlers: {e}"))
            };
            Ok(Signals {
                term: signal(SignalKind::terminate()).map_err(err)?,
                int: signal(SignalKind::interrupt()).map_err(err)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
