//! `vkconform check`: loads the suites, selects cases (`--filter`,
//! `--partition`), starts the embedded mock or probes the target, logs in if
//! asked, runs the cases, and writes the report (stdout or `--output`,
//! atomically). Progress goes to stderr, and only on a terminal.

use super::{runtime, write_stdout, Failure};
use crate::api::{Api, Profile};
use crate::exit::Exit;
use crate::report::{self, Format, RenderOptions, Report, Status};
use crate::runner::{self, Code, Credentials, Event, LoginError, Options, Target};
use crate::schema::Catalog;
use crate::suite::{self, Filter, GenerateOptions, Partition, Xfail};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
Pacing: against a live server vkconform behaves like VK-IO: at most 3 requests/s (--rate) and write calls at least \
4000 ms apart (--write-interval), because a real OpenVK allows 5 writes per 20 s per IP and bans accounts that keep \
exceeding it. Against `--target mock` nothing is paced unless --rate/--write-interval are given. Errors 6, 9 and 29 are \
retried --retries times, --retry-wait ms apart.

Credentials: --token, or --username/--password[/--code] (logged in at /token). The same values are read from \
VKCONFORM_TOKEN, VKCONFORM_USERNAME, VKCONFORM_PASSWORD and VKCONFORM_CODE; VKCONFORM_DEVINO_KEY sets ${devino_key}. \
Secrets never appear in reports or logs.

Devino callbacks: cases that wait for status callbacks start a receiver on --callback-listen (default 127.0.0.1:0) and \
send its URL as status_url; give --callback-url when a remote server must reach it through a tunnel. Against a live \
server, leave out the cases that rely on the mock's triggers and data: --filter '!tag:mock-triggers' --filter \
'!tag:mock-world'.

Exit codes: 0 every must-check passed, 1 findings (a failed must case, or an expected failure that passed), \
2 usage, 3 suites/schemas/xfail file failed to load, 4 target unreachable.";

/// Which APIs to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ApiChoice {
    /// OpenVK (`suites/openvk`).
    #[default]
    Openvk,
    /// Devino VK messaging (`suites/devino`).
    Devino,
    /// OK.ru graph messages (`suites/ok`).
    Ok,
    /// Every API.
    All,
}

impl ApiChoice {
    fn apis(self) -> Vec<Api> {
        match self {
            ApiChoice::Openvk => vec![Api::Openvk],
            ApiChoice::Devino => vec![Api::Devino],
            ApiChoice::Ok => vec![Api::Ok],
            ApiChoice::All => Api::ALL.to_vec(),
        }
    }
}

/// When to colour the human report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Arguments of `vkconform check`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct CheckArgs {
    /// `mock` (start the embedded mock in-process) or the server's base URL, e.g. https://ovk.example.
    #[arg(long, value_name = "URL|mock")]
    pub target: String,
    /// Access token for calls (default against the mock: its ready token).
    #[arg(long, env = "VKCONFORM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Login for /token (with --password).
    #[arg(long, env = "VKCONFORM_USERNAME", hide_env_values = true)]
    pub username: Option<String>,
    /// Password for /token (with --username).
    #[arg(long, env = "VKCONFORM_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// 2FA code for /token; marks the account as a 2FA account (enables the 2FA cases).
    #[arg(long, env = "VKCONFORM_CODE", hide_env_values = true)]
    pub code: Option<String>,
    /// Error dialect: `openvk` (top-level error fields, HTTP 400) or `vk` (`{"error": …}`, HTTP 200).
    #[arg(long, value_enum, default_value_t = Profile::Openvk)]
    pub profile: Profile,
    /// Which APIs' built-in suites to run.
    #[arg(long, value_enum, default_value_t = ApiChoice::Openvk)]
    pub api: ApiChoice,
    /// Run these suite files or directories instead of the built-in suites (repeatable).
    #[arg(long = "suite", value_name = "PATH")]
    pub suites: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Skip every case that writes (for production servers).
    #[arg(long)]
    pub read_only: bool,
    /// Requests per second (default 3 against a live server, unlimited against the mock).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Minimum milliseconds between two write calls (default 4000 live, 0 against the mock).
    #[arg(long, value_name = "MS")]
    pub write_interval: Option<u64>,
    /// Retries after errors 6, 9 and 29.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// Milliseconds to wait before such a retry.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub retry_wait: u64,
    /// Per-request timeout in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout: u64,
    /// Select cases: `id:GLOB`, `section:NAME`, `tag:NAME`, `severity:LEVEL`, `api:NAME`, or a bare id glob; `!EXPR` excludes (repeatable; positives are OR-ed).
    #[arg(long = "filter", value_name = "EXPR")]
    pub filters: Vec<String>,
    /// Run shard M of N (`hash:M/N`); the shards are disjoint and together cover the selection.
    #[arg(long, value_name = "hash:M/N")]
    pub partition: Option<String>,
    /// Expected failures: one `CASE-ID  reason` per line; a listed case that passes is reported (exit 1).
    #[arg(long, value_name = "FILE")]
    pub xfail: Option<PathBuf>,
    /// Seed of every random choice (fuzz inputs); printed in the report.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Colour in the human report.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Leave out the fuzz cases.
    #[arg(long)]
    pub no_fuzz: bool,
    /// Inputs per fuzz case.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub fuzz_cases: usize,
    /// Print the ids of the selected cases, one per line, and exit.
    #[arg(long)]
    pub list: bool,
    /// Where the Devino callback receiver listens (`${callback_url}`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub callback_listen: std::net::SocketAddr,
    /// A public http(s) URL that reaches --callback-listen (e.g. a tunnel): sent as `status_url` instead of the local address, so a remote Devino server can deliver callbacks.
    #[arg(long, value_name = "URL")]
    pub callback_url: Option<String>,
}

/// `ttl` seconds run this much faster in the mock `check --target mock` starts,
/// so the EXPIRED callback of a 60 s message comes after 0.3 s.
pub const EMBEDDED_TTL_SCALE: f64 = 0.005;
/// Delay between the Devino status callbacks of the mock `check --target mock` starts.
pub const EMBEDDED_STATUS_DELAY_MS: u64 = 10;

fn usage(msg: impl Into<String>) -> Failure {
    Failure::new(Exit::Usage, msg)
}

/// The pieces of a check decided from the flags alone.
struct Plan {
    filters: Vec<Filter>,
    partition: Option<Partition>,
    live: Option<String>,
    apis: Vec<Api>,
}

fn plan(args: &CheckArgs) -> Result<Plan, Failure> {
    let live = if args.target == "mock" {
        None
    } else {
        let u = url::Url::parse(&args.target).map_err(|_| {
            usage(format!(
                "--target `{}` is neither `mock` nor a URL; use e.g. --target https://ovk.example",
                runner::display_url(&args.target)
            ))
        })?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(usage(format!(
                "--target `{}` must be an http(s) URL or `mock`",
                runner::display_url(&args.target)
            )));
        }
        Some(args.target.trim_end_matches('/').to_string())
    };
    if args.username.is_some() != args.password.is_some() {
        return Err(usage("--username and --password go together (or set VKCONFORM_USERNAME and VKCONFORM_PASSWORD)"));
    }
    if args.code.is_some() && args.username.is_none() {
        return Err(usage(
            "--code needs --username and --password of the same 2FA account",
        ));
    }
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(usage(
                "--rate must be a positive number of requests per second, e.g. --rate 3",
            ));
        }
    }
    if args.timeout == 0 {
        return Err(usage(
            "--timeout must be at least 1 ms, e.g. --timeout 10000",
        ));
    }
    if let Some(u) = &args.callback_url {
        let ok = url::Url::parse(u)
            .ok()
            .is_some_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some());
        if !ok {
            return Err(usage(format!(
                "--callback-url `{}` must be an http(s) URL that reaches --callback-listen, e.g. https://hooks.example/devino",
                runner::display_url(u)
            )));
        }
    }
    if args.fuzz_cases == 0 {
        return Err(usage(
            "--fuzz-cases must be at least 1; use --no-fuzz to leave fuzzing out",
        ));
    }
    let filters = args
        .filters
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let partition = args
        .partition
        .as_deref()
        .map(Partition::parse)
        .transpose()
        .map_err(usage)?;
    Ok(Plan {
        filters,
        partition,
        live,
        apis: args.api.apis(),
    })
}

fn rerun_prefix(args: &CheckArgs, target_label: &str, seed: u64) -> String {
    let mut s = format!("vkconform check --target {target_label}");
    if args.profile != Profile::Openvk {
        s.push_str(&format!(" --profile {}", args.profile));
    }
    if args.api != ApiChoice::Openvk {
        s.push_str(&format!(
            " --api {}",
            format!("{:?}", args.api).to_ascii_lowercase()
        ));
    }
    for p in &args.suites {
        s.push_str(&format!(" --suite {}", p.display()));
    }
    if args.read_only {
        s.push_str(" --read-only");
    }
    if let Some(u) = &args.callback_url {
        s.push_str(&format!(" --callback-url {u}"));
    }
    if args.callback_listen != std::net::SocketAddr::from(([127, 0, 0, 1], 0)) {
        s.push_str(&format!(" --callback-listen {}", args.callback_listen));
    }
    s.push_str(&format!(" --seed {seed}"));
    s
}

/// Runs `check`.
pub fn run(args: CheckArgs) -> Result<Exit, Failure> {
    let plan = plan(&args)?;
    let catalog =
        Catalog::shared().map_err(|e| Failure::new(Exit::Load, format!("schemas/{e}")))?;
    let gen = GenerateOptions {
        fuzz: !args.no_fuzz,
        fuzz_cases: args.fuzz_cases,
    };
    let suites = if args.suites.is_empty() {
        suite::load_embedded(&plan.apis, &catalog, &gen)
    } else {
        suite::load_paths(&args.suites, &catalog, &gen)
    }
    .map_err(|e| Failure::new(Exit::Load, e.to_string()))?;
    suite::check_unique(&suites).map_err(|e| Failure::new(Exit::Load, e.to_string()))?;
    let mut apis = plan.apis.clone();
    if !args.suites.is_empty() {
        apis = suites.iter().map(|s| s.api).collect();
        apis.sort();
        apis.dedup();
    }
    let all: Vec<suite::Case> = suites.into_iter().flat_map(|s| s.cases).collect();
    let xfail = match &args.xfail {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::new(
                    Exit::Load,
                    format!(
                        "{}: cannot read the expected-failures file: {e}",
                        p.display()
                    ),
                )
            })?;
            let x = Xfail::parse(&p.display().to_string(), &text)
                .map_err(|e| Failure::new(Exit::Load, e.to_string()))?;
            for e in &x.entries {
                if !all
                    .iter()
                    .any(|c| x.lookup(&c.id).is_some_and(|hit| hit.line == e.line))
                {
                    eprintln!(
                        "vkconform: warning: {}:{}: `{}` matches no case",
                        p.display(),
                        e.line,
                        e.pattern
                    );
                }
            }
            x
        }
        None => Xfail::default(),
    };
    let selected: Vec<suite::Case> = all
        .into_iter()
        .filter(|c| {
            Filter::select(&plan.filters, c) && plan.partition.is_none_or(|p| p.contains(&c.id))
        })
        .collect();
    if args.list {
        let mut out = String::new();
        for c in &selected {
            out.push_str(&c.id);
            out.push('\n');
        }
        write_stdout(out.as_bytes())?;
        return Ok(Exit::Success);
    }
    let seed = args
        .seed
        .unwrap_or_else(|| u64::from(rand::random::<u32>()));
    let rt = runtime()?;
    let report = rt.block_on(execute(
        &args, &plan, &catalog, &selected, &xfail, seed, apis,
    ))?;
    let color = match args.color {
        ColorChoice::Never => false,
        ColorChoice::Always => true,
        ColorChoice::Auto => {
            args.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let mut buf = Vec::new();
    report::render(&report, args.format, &mut buf, &RenderOptions { color })
        .map_err(|e| Failure::new(Exit::Usage, format!("cannot render the report: {e}")))?;
    match &args.output {
        Some(path) => write_atomically(path, &buf)?,
        None => write_stdout(&buf)?,
    }
    let s = &report.summary;
    // The human report on stdout already ends with this; other formats and files get it on stderr.
    if args.output.is_some() || args.format != Format::Human {
        eprintln!(
        "vkconform: {} passed, {} failed ({} must), {} xfail, {} xpass, {} skipped in {:.1} s; seed {} (re-run with --seed {})",
        s.passed,
        s.failed,
        s.failed_must,
        s.xfailed,
        s.xpassed,
        s.skipped,
        report.duration_ms as f64 / 1000.0,
        report.seed,
        report.seed
    );
    }
    Ok(if s.is_failure() {
        Exit::Findings
    } else {
        Exit::Success
    })
}

async fn execute(
    args: &CheckArgs,
    plan: &Plan,
    catalog: &Catalog,
    cases: &[suite::Case],
    xfail: &Xfail,
    seed: u64,
    apis: Vec<Api>,
) -> Result<Report, Failure> {
    let timeout = Duration::from_millis(args.timeout);
    let devino_env = std::env::var("VKCONFORM_DEVINO_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    let (target, _mock, rate, write_ms) = match &plan.live {
        None => {
            let mut config = crate::mock::MockConfig {
                profile: args.profile,
                devino: crate::mock::devino::DevinoConfig {
                    status_delay: Duration::from_millis(EMBEDDED_STATUS_DELAY_MS),
                    ttl_scale: EMBEDDED_TTL_SCALE,
                    ..crate::mock::devino::DevinoConfig::default()
                },
                ..crate::mock::MockConfig::default()
            };
            if let Some(t) = &args.token {
                config.tokens.push(t.clone());
            }
            if let (Some(u), Some(p)) = (&args.username, &args.password) {
                config.accounts.push(crate::mock::Account {
                    login: u.clone(),
                    password: p.clone(),
                    totp_secret: None,
                    user_id: 1,
                });
            }
            let mock = crate::mock::MockServer::start(config)
                .await
                .map_err(|e| match e {
                    crate::mock::MockError::Bind { .. } => Failure::new(
                        Exit::Unreachable,
                        format!("cannot start the embedded mock: {e}"),
                    ),
                    other => Failure::new(
                        Exit::Load,
                        format!("cannot start the embedded mock: {other}"),
                    ),
                })?;
            let primary = match (&args.username, &args.password) {
                (Some(u), Some(p)) => Credentials {
                    username: u.clone(),
                    password: p.clone(),
                    code: None,
                },
                _ => Credentials {
                    username: crate::mock::DEFAULT_LOGIN.into(),
                    password: crate::mock::DEFAULT_PASSWORD.into(),
                    code: None,
                },
            };
            let target = Target {
                base: mock.uri(),
                label: "mock".into(),
                token: Some(
                    args.token
                        .clone()
                        .unwrap_or_else(|| crate::mock::DEFAULT_TOKEN.to_string()),
                ),
                primary: Some(primary),
                twofa: Some(Credentials {
                    username: crate::mock::DEFAULT_2FA_LOGIN.into(),
                    password: crate::mock::DEFAULT_PASSWORD.into(),
                    code: Some(Code::Totp(crate::mock::DEFAULT_2FA_SECRET.into())),
                }),
                devino_key: Some(
                    devino_env.unwrap_or_else(|| crate::mock::DEFAULT_DEVINO_KEY.to_string()),
                ),
            };
            (
                target,
                Some(mock),
                args.rate,
                args.write_interval.unwrap_or(0),
            )
        }
        Some(base) => {
            let mut target = Target::url(base, args.token.clone());
            target.devino_key = devino_env;
            runner::probe(&target.base, timeout)
                .await
                .map_err(|e| Failure::new(Exit::Unreachable, e))?;
            if let (Some(u), Some(p)) = (&args.username, &args.password) {
                let creds = Credentials {
                    username: u.clone(),
                    password: p.clone(),
                    code: args.code.clone().map(Code::Fixed),
                };
                if target.token.is_none() {
                    let token = runner::obtain_token(&target.base, &creds, timeout).await.map_err(|e| match e {
                        LoginError::Unreachable(m) => Failure::new(Exit::Unreachable, m),
                        LoginError::Refused(m) => Failure::new(Exit::Usage, format!("/token refused --username/--password: {m}; check the credentials (and --code for 2FA accounts)")),
                    })?;
                    target.token = Some(token);
                }
                if args.code.is_some() {
                    target.twofa = Some(creds.clone());
                }
                target.primary = Some(creds);
            }
            (
                target,
                None,
                Some(args.rate.unwrap_or(3.0)),
                args.write_interval.unwrap_or(4000),
            )
        }
    };
    let opts = Options {
        profile: args.profile,
        apis,
        read_only: args.read_only,
        rate,
        write_interval: Duration::from_millis(write_ms),
        retries: args.retries,
        retry_wait: Duration::from_millis(args.retry_wait),
        timeout,
        seed,
        fuzz_cases: args.fuzz_cases,
        rerun_prefix: rerun_prefix(args, &target.label, seed),
        callback_listen: args.callback_listen,
        callback_url: args.callback_url.clone(),
    };
    let bar = progress(cases.len());
    let mut on_event = |e: Event<'_>| {
        if let Some(bar) = &bar {
            match e {
                Event::CaseStarted { case, .. } => bar.set_message(case.id.clone()),
                Event::CaseFinished { result, .. } => {
                    if matches!(result.status, Status::Fail | Status::Xpass) {
                        bar.println(format!(
                            "{} {}",
                            result.status.as_str().to_ascii_uppercase(),
                            result.id
                        ));
                    }
                    bar.inc(1);
                }
                Event::Started { .. } => {}
            }
        }
    };
    let report = runner::run(cases, &target, catalog, &opts, xfail, &mut on_event)
        .await
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report)
}

/// A progress bar on stderr, only when stderr is a terminal.
fn progress(total: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// Writes a file via a temporary file in the same directory and a rename.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let fail = |e: std::io::Error| {
        Failure::new(
            Exit::Usage,
            format!("cannot write --output {}: {e}", path.display()),
        )
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
