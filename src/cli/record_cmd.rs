//! `vkconform record`: capture a live server's answers as pending recordings,
//! then `--accept` or `--reject` them after review.

use super::{runtime, write_stdout, Failure};
use crate::exit::Exit;
use crate::record::{self, RecordOptions};
use crate::schema::Catalog;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `vkconform record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Base URL of the live server (e.g. https://openvk.example).
    #[arg(long, required_unless_present_any = ["accept", "reject"])]
    pub target: Option<String>,
    /// Access token for 🔰 methods (never written to a recording).
    #[arg(long, env = "VKCONFORM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Record only this method (repeatable); default: every read method.
    #[arg(long = "method", value_name = "METHOD")]
    pub methods: Vec<String>,
    /// Also call write methods (they change the live server).
    #[arg(long)]
    pub include_writes: bool,
    /// The snapshots directory.
    #[arg(long, default_value = "snapshots")]
    pub snapshots: PathBuf,
    /// Requests per second.
    #[arg(long, default_value_t = 3.0)]
    pub rate: f64,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout: u64,
    /// Accept every pending `*.json.new` recording (each must validate).
    #[arg(long, conflicts_with_all = ["target", "reject"])]
    pub accept: bool,
    /// Delete every pending `*.json.new` recording.
    #[arg(long, conflicts_with_all = ["target", "accept"])]
    pub reject: bool,
}

/// Runs `record`.
pub fn run(args: RecordArgs) -> Result<Exit, Failure> {
    let cat = Catalog::embedded().map_err(|e| Failure::new(Exit::Load, format!("schema {e}")))?;
    if args.accept {
        let done = record::accept(&cat, &args.snapshots).map_err(|(file, why)| {
            Failure::new(
                Exit::Load,
                format!("{file}: {why}; fix or reject it (vkconform record --reject)"),
            )
        })?;
        write_stdout(format!("accepted {} recording(s)\n{}", done.len(), lines(&done)).as_bytes())?;
        return Ok(Exit::Success);
    }
    if args.reject {
        let done =
            record::reject(&args.snapshots).map_err(|e| Failure::new(Exit::Load, e.to_string()))?;
        write_stdout(format!("rejected {} recording(s)\n{}", done.len(), lines(&done)).as_bytes())?;
        return Ok(Exit::Success);
    }
    if std::env::var_os("CI").is_some() {
        return Err(Failure::new(Exit::Usage, "refusing to record in CI (CI is set): recordings are reviewed and accepted by a person"));
    }
    let target = args.target.clone().unwrap_or_default();
    if url::Url::parse(&target)
        .map(|u| !matches!(u.scheme(), "http" | "https"))
        .unwrap_or(true)
    {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "--target must be an http(s) URL, got `{}`",
                crate::redact::redact_query_values(&target)
            ),
        ));
    }
    for m in &args.methods {
        if cat.method(crate::api::Api::Openvk, m).is_none() {
            return Err(Failure::new(Exit::Usage, format!("`{m}` is not a documented OpenVK method; `vkconform schemas list` shows them all")));
        }
    }
    let opts = RecordOptions {
        target,
        token: args.token.clone(),
        methods: args.methods.clone(),
        include_writes: args.include_writes,
        snapshots: args.snapshots.clone(),
        rate: args.rate,
        timeout: Duration::from_millis(args.timeout),
    };
    let rt = runtime()?;
    let results = rt
        .block_on(record::record(&cat, &opts))
        .map_err(|e| match e {
            record::RecordError::Unreachable { .. } => {
                Failure::new(Exit::Unreachable, e.to_string())
            }
            other => Failure::new(Exit::Load, other.to_string()),
        })?;
    let mut text = String::new();
    let mut flagged = 0;
    for r in &results {
        text.push_str(&format!(
            "{:<34} {:<10} {}\n",
            r.method, r.outcome, r.pending
        ));
        for p in &r.problems {
            flagged += 1;
            text.push_str(&format!("    ! {p}\n"));
        }
    }
    text.push_str(&format!(
        "{} method(s) recorded as pending *.json.new files ({flagged} schema problem(s)); review the diffs, then `vkconform record --accept` or `--reject`\n",
        results.iter().filter(|r| !r.pending.is_empty()).count()
    ));
    write_stdout(text.as_bytes())?;
    Ok(Exit::Success)
}

fn lines(v: &[String]) -> String {
    v.iter().map(|l| format!("  {l}\n")).collect()
}
