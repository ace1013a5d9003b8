//! Recording: captures a live server's answers into reviewable recording
//! files (`docs/formats.md` §2), the way insta handles snapshots: new answers
//! go to pending `*.json.new` files next to the accepted ones; a person
//! reviews the diff and accepts (or rejects) them. CI never writes snapshots.
//!
//! Secrets are redacted before anything is written, and every write is
//! atomic (temporary file + rename).

use crate::api::Api;
use crate::mock::recordings::{Recording, RecordingFile, FORMAT};
use crate::redact::Redactor;
use crate::schema::{Catalog, Kind, MethodSpec};
use crate::vk::{classify, Answer};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What went wrong while recording (load and I/O errors; a server's wrong answer is data).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Reading or writing a snapshot file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An existing recording file does not parse.
    #[error("{path}: not a valid recording file: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        message: String,
    },
    /// The target could not be reached at all.
    #[error("cannot reach {target}: {message}")]
    Unreachable {
        /// The target URL (without credentials).
        target: String,
        /// The cause.
        message: String,
    },
}

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Base URL of the live server.
    pub target: String,
    /// Access token for 🔰 methods (never written anywhere).
    pub token: Option<String>,
    /// Methods to record (case-insensitive); empty = every read method.
    pub methods: Vec<String>,
    /// Also call write methods (off by default: recording must not change a live server).
    pub include_writes: bool,
    /// The snapshots directory.
    pub snapshots: PathBuf,
    /// Requests per second.
    pub rate: f64,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// The outcome for one method.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    /// Method name.
    pub method: String,
    /// The pending file written, relative to the snapshots directory.
    pub pending: String,
    /// Schema problems of the recorded answer (the file is still written, for review).
    pub problems: Vec<String>,
    /// `response` or `error N`.
    pub outcome: String,
}

/// Calls each selected method once with the first examples of its required
/// parameters and writes `snapshots/openvk/<Method>.json.new`.
pub async fn record(cat: &Catalog, opts: &RecordOptions) -> Result<Vec<Recorded>, RecordError> {
    let client = reqwest::Client::builder()
        .timeout(opts.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| RecordError::Unreachable {
            target: opts.target.clone(),
            message: e.to_string(),
        })?;
    let redactor = Redactor::new(opts.token.clone());
    let base = opts.target.trim_end_matches('/').to_string();
    let wanted: Vec<String> = opts
        .methods
        .iter()
        .map(|m| m.to_ascii_lowercase())
        .collect();
    let interval = Duration::from_secs_f64(1.0 / opts.rate.max(0.01));
    let mut out = Vec::new();
    let mut reached = false;
    for spec in cat.methods(Api::Openvk).filter(|m| m.name != "token") {
        if !wanted.is_empty() && !wanted.contains(&spec.name.to_ascii_lowercase()) {
            continue;
        }
        if wanted.is_empty() && spec.kind == Kind::Write && !opts.include_writes {
            continue;
        }
        let params = example_params(spec);
        let mut form: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.clone(), wire(v))).collect();
        if let Some(t) = &opts.token {
            form.push(("access_token".into(), t.clone()));
        }
        let started = std::time::Instant::now();
        let resp = client
            .post(format!("{base}/method/{}", spec.name))
            .form(&form)
            .send()
            .await;
        let body: Value = match resp {
            Ok(r) => {
                reached = true;
                match r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                {
                    Some(v) => v,
                    None => {
                        out.push(Recorded {
                            method: spec.name.clone(),
                            pending: String::new(),
                            problems: vec!["the answer is not JSON; nothing recorded".into()],
                            outcome: "skipped".into(),
                        });
                        continue;
                    }
                }
            }
            Err(e) if !reached && (e.is_connect() || e.is_timeout()) => {
                return Err(RecordError::Unreachable {
                    target: redactor.text(&base),
                    message: redactor.text(&e.to_string()),
                });
            }
            Err(e) => {
                out.push(Recorded {
                    method: spec.name.clone(),
                    pending: String::new(),
                    problems: vec![redactor.text(&e.to_string())],
                    outcome: "skipped".into(),
                });
                continue;
            }
        };
        let mut rec = Recording {
            id: recording_id(&params),
            matcher: params.clone(),
            response: None,
            error: None,
            page: None,
            objects: Map::new(),
            source: Some(format!(
                "recorded from {} on {}",
                redactor.text(&base),
                today()
            )),
            min_v: None,
            max_v: None,
            note: None,
        };
        let mut problems = Vec::new();
        let outcome = match classify(&body) {
            Answer::Response(mut v) => {
                redactor.value(&mut v);
                if let Err(vs) = spec.validate_response(&v) {
                    problems.extend(vs.iter().map(|x| x.to_string()));
                }
                if v.get("items").is_some_and(Value::is_array) {
                    rec.page = Some("/items".into());
                }
                rec.response = Some(v);
                "response".to_string()
            }
            Answer::Error { error, .. } => {
                rec.error = Some(crate::mock::recordings::RecordedError {
                    error_code: error.code,
                    error_msg: redactor.text(&error.msg),
                });
                format!("error {}", error.code)
            }
            Answer::Other(why) => {
                out.push(Recorded {
                    method: spec.name.clone(),
                    pending: String::new(),
                    problems: vec![why],
                    outcome: "skipped".into(),
                });
                continue;
            }
        };
        let pending = write_pending(&opts.snapshots, spec, rec)?;
        out.push(Recorded {
            method: spec.name.clone(),
            pending,
            problems,
            outcome,
        });
        if let Some(rest) = interval.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    Ok(out)
}

fn example_params(spec: &MethodSpec) -> Map<String, Value> {
    let mut m = Map::new();
    for p in spec.required_params() {
        if let Some(e) = p.examples.first() {
            m.insert(p.name.clone(), e.clone());
        }
    }
    m
}

fn wire(v: &Value) -> String {
    crate::vk::params::to_wire(v).unwrap_or_default()
}

fn recording_id(params: &Map<String, Value>) -> String {
    if params.is_empty() {
        return "recorded".into();
    }
    let parts: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}-{}", wire(v)))
        .collect();
    let id: String = format!("recorded-{}", parts.join("-"))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    id.chars().take(80).collect()
}

fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        now.month() as u8,
        now.day()
    )
}

/// Merges the new recording into the accepted file's recordings (replacing one with the same id) and writes `<file>.new`.
fn write_pending(root: &Path, spec: &MethodSpec, rec: Recording) -> Result<String, RecordError> {
    let rel = format!("{}/{}.json", spec.api, spec.name);
    let accepted = root.join(&rel);
    let mut file = match std::fs::read(&accepted) {
        Ok(bytes) => {
            serde_json::from_slice::<RecordingFile>(&bytes).map_err(|e| RecordError::Parse {
                path: accepted.display().to_string(),
                message: e.to_string(),
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => RecordingFile {
            format: FORMAT.into(),
            api: spec.api,
            method: spec.name.clone(),
            recordings: Vec::new(),
        },
        Err(source) => {
            return Err(RecordError::Io {
                path: accepted.display().to_string(),
                source,
            })
        }
    };
    match file.recordings.iter_mut().find(|r| r.id == rec.id) {
        Some(slot) => *slot = rec,
        None => file.recordings.push(rec),
    }
    let mut text = serde_json::to_string_pretty(&file).expect("recording serializes");
    text.push('\n');
    let pending = format!("{rel}.new");
    write_atomic(&root.join(&pending), text.as_bytes())?;
    Ok(pending)
}

/// Writes a file atomically: a temporary file in the same directory, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    let io = |source| RecordError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Every pending `*.json.new` file below the snapshots directory (relative paths, sorted).
pub fn pending(root: &Path) -> Result<Vec<String>, RecordError> {
    let files = crate::embedded::files_on_disk(root).map_err(|source| RecordError::Io {
        path: root.display().to_string(),
        source,
    })?;
    Ok(files
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.ends_with(".json.new"))
        .collect())
}

/// Accepts pending recordings: each must load and validate; then it replaces the accepted file.
pub fn accept(cat: &Catalog, root: &Path) -> Result<Vec<String>, (String, String)> {
    let list = pending(root).map_err(|e| (root.display().to_string(), e.to_string()))?;
    for rel in &list {
        let bytes = std::fs::read(root.join(rel)).map_err(|e| (rel.clone(), e.to_string()))?;
        let target = rel.trim_end_matches(".new");
        crate::mock::Recordings::from_files(cat, std::iter::once((target, bytes.as_slice())))
            .map_err(|e| (rel.clone(), e.message))?;
    }
    for rel in &list {
        let from = root.join(rel);
        let to = root.join(rel.trim_end_matches(".new"));
        std::fs::rename(&from, &to).map_err(|e| (rel.clone(), e.to_string()))?;
    }
    Ok(list)
}

/// Deletes pending recordings.
pub fn reject(root: &Path) -> Result<Vec<String>, RecordError> {
    let list = pending(root)?;
    for rel in &list {
        std::fs::remove_file(root.join(rel)).map_err(|source| RecordError::Io {
            path: rel.clone(),
            source,
        })?;
    }
    Ok(list)
}
