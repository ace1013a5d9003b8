//! Recorded answers (`snapshots/<api>/*.json`, format `vkconform-recording/1`):
//! loading, matching a request to the most specific recording, and the
//! generic post-processing every collection gets (`offset`/`count` paging,
//! `fields` filtering of user and group objects).

use crate::api::Api;
use crate::schema::Catalog;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The format tag every recording file carries.
pub const FORMAT: &str = "vkconform-recording/1";

/// A recording file that failed to load.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", location.as_ref().map(|l| format!(":{l}")).unwrap_or_default())]
pub struct RecordingError {
    /// Path below `snapshots/`.
    pub file: String,
    /// `line:column` or a JSON pointer.
    pub location: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// One recording file.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingFile {
    /// `vkconform-recording/1`.
    pub format: String,
    /// `openvk`, `devino` or `ok`.
    pub api: Api,
    /// Canonical method name.
    pub method: String,
    /// The answers, most specific chosen per request.
    pub recordings: Vec<Recording>,
}

/// One recorded answer.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// Unique id within the file.
    pub id: String,
    /// Typed parameter values that must all be equal.
    #[serde(default, rename = "match")]
    pub matcher: Map<String, Value>,
    /// The value served inside `{"response": …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// An error to serve instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordedError>,
    /// JSON pointer to the items array sliced by `offset`/`count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Pointers to user/group objects filtered by `fields`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub objects: Map<String, Value>,
    /// Where the answer came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Lowest API version (inclusive) this recording answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_v: Option<String>,
    /// Version (exclusive) from which this recording no longer answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_v: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An error recorded instead of a response.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct RecordedError {
    /// `error_code`.
    pub error_code: i64,
    /// `error_msg`.
    pub error_msg: String,
}

/// Every recording, indexed by `(api, lower-case method)`.
#[derive(Debug, Default)]
pub struct Recordings {
    by_method: HashMap<(Api, String), RecordingFile>,
    files: Vec<String>,
}

impl Recordings {
    /// The recordings compiled into the binary.
    pub fn embedded(catalog: &Catalog) -> Result<Recordings, RecordingError> {
        let files = crate::embedded::files(&crate::embedded::SNAPSHOTS);
        Recordings::from_files(catalog, files.iter().map(|(p, b)| (p.as_str(), *b)))
    }

    /// Loads every recording below a directory on disk.
    pub fn load_dir(
        catalog: &Catalog,
        root: &std::path::Path,
    ) -> Result<Recordings, RecordingError> {
        let files = crate::embedded::files_on_disk(root).map_err(|e| RecordingError {
            file: root.display().to_string(),
            location: None,
            message: format!("cannot read the snapshots directory: {e}"),
        })?;
        Recordings::from_files(
            catalog,
            files.iter().map(|(p, b)| (p.as_str(), b.as_slice())),
        )
    }

    /// Parses and checks recording files (`(path below snapshots/, bytes)`).
    /// Files outside `openvk/`, `devino/` and `ok/`, and non-JSON files, are skipped.
    pub fn from_files<'a>(
        catalog: &Catalog,
        files: impl Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Recordings, RecordingError> {
        let mut out = Recordings::default();
        for (path, bytes) in files {
            let top = path.split('/').next().unwrap_or("");
            if Api::parse(top).is_none()
                || !path.ends_with(".json")
                || path.contains("/procedures/")
            {
                continue;
            }
            let err = |location: Option<String>, message: String| RecordingError {
                file: path.to_string(),
                location,
                message,
            };
            let file: RecordingFile = serde_json::from_slice(bytes).map_err(|e| {
                err(
                    Some(format!("{}:{}", e.line(), e.column())),
                    format!("not a valid recording file: {e}"),
                )
            })?;
            if file.format != FORMAT {
                return Err(err(
                    Some("#/format".into()),
                    format!(
                        "format is `{}`; this vkconform reads `{FORMAT}`",
                        file.format
                    ),
                ));
            }
            let Some(spec) = catalog.method(file.api, &file.method) else {
                return Err(err(Some("#/method".into()), format!("`{}` is not a documented {} method; check the spelling against `vkconform schemas list`", file.method, file.api)));
            };
            for (i, r) in file.recordings.iter().enumerate() {
                let at = |f: &str| Some(format!("#/recordings/{i}{f}"));
                match (&r.response, &r.error) {
                    (Some(resp), None) => {
                        if let Err(v) = spec.validate_response(resp) {
                            return Err(err(
                                at("/response"),
                                format!(
                                    "recording `{}` does not match the response schema of {}: {}",
                                    r.id, spec.name, v[0]
                                ),
                            ));
                        }
                    }
                    (None, Some(_)) => {}
                    _ => {
                        return Err(err(
                            at(""),
                            format!(
                                "recording `{}` needs exactly one of `response` or `error`",
                                r.id
                            ),
                        ))
                    }
                }
            }
            let key = (file.api, spec.name.to_ascii_lowercase());
            if out.by_method.contains_key(&key) {
                return Err(err(
                    None,
                    format!("a second recording file for {}", spec.name),
                ));
            }
            out.files.push(path.to_string());
            out.by_method.insert(key, file);
        }
        Ok(out)
    }

    /// The recording file of a method.
    pub fn file(&self, api: Api, method: &str) -> Option<&RecordingFile> {
        self.by_method.get(&(api, method.to_ascii_lowercase()))
    }

    /// Paths of every loaded file.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The most specific recording of `method` whose matcher equals the typed params.
    pub fn find(
        &self,
        api: Api,
        method: &str,
        params: &Map<String, Value>,
        version: Option<&str>,
    ) -> Option<&Recording> {
        let file = self.file(api, method)?;
        let mut best: Option<(&Recording, usize)> = None;
        for r in &file.recordings {
            if !version_matches(r, version) {
                continue;
            }
            if r.matcher
                .iter()
                .all(|(k, v)| params.get(k).is_some_and(|p| loosely_equal(p, v)))
            {
                let n = r.matcher.len();
                if best.is_none_or(|(_, bn)| n > bn) {
                    best = Some((r, n));
                }
            }
        }
        best.map(|(r, _)| r)
    }
}

fn version_matches(r: &Recording, v: Option<&str>) -> bool {
    if r.min_v.is_none() && r.max_v.is_none() {
        return true;
    }
    // Version-gated shapes answer only clients that send `v`; a bare request
    // gets OpenVK's default (ungated) shape, as a real OpenVK with v=5.9999 does.
    let Some(v) = v.and_then(parse_version) else {
        return false;
    };
    let ok_min = r
        .min_v
        .as_deref()
        .and_then(parse_version)
        .is_none_or(|m| v >= m);
    let ok_max = r
        .max_v
        .as_deref()
        .and_then(parse_version)
        .is_none_or(|m| v < m);
    ok_min && ok_max
}

/// `5.199` → (5, 199); `5.9999` → (5, 9999).
pub fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('.').unwrap_or((s.trim(), "0"));
    Some((a.parse().ok()?, b.parse().unwrap_or(0)))
}

/// Equality that lets a scalar matcher equal a one-item list and numbers equal their text.
fn loosely_equal(param: &Value, matcher: &Value) -> bool {
    if param == matcher {
        return true;
    }
    match (param, matcher) {
        (Value::Array(a), m) if a.len() == 1 && !m.is_array() => loosely_equal(&a[0], m),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            n.to_string() == *s
        }
        _ => false,
    }
}

/// Base keys of user objects that `fields` never removes.
pub const USER_BASE: &[&str] = &[
    "id",
    "first_name",
    "last_name",
    "is_closed",
    "can_access_closed",
    "deactivated",
    "ban_reason",
];
/// Base keys of group objects that `fields` never removes.
pub const GROUP_BASE: &[&str] = &[
    "id",
    "name",
    "screen_name",
    "is_closed",
    "type",
    "is_member",
    "is_admin",
    "deactivated",
    "can_access_closed",
    "photo_50",
    "photo_100",
    "photo_200",
];

/// Applies `offset`/`count` paging and `fields` filtering to a recorded response.
pub fn shape(rec: &Recording, params: &Map<String, Value>, default_count: Option<i64>) -> Value {
    let mut v = rec.response.clone().unwrap_or(Value::Null);
    if !rec.objects.is_empty() {
        let fields: Vec<String> = match params.get("fields") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => s.split(',').map(|x| x.trim().to_string()).collect(),
            _ => Vec::new(),
        };
        for (ptr, kind) in &rec.objects {
            let base = if kind == "group" {
                GROUP_BASE
            } else {
                USER_BASE
            };
            if let Some(target) = v.pointer_mut(ptr) {
                filter_fields(target, base, &fields);
            }
        }
    }
    if let Some(ptr) = &rec.page {
        let offset = params
            .get("offset")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0) as usize;
        let count = params
            .get("count")
            .and_then(Value::as_i64)
            .or(default_count);
        if let Some(Value::Array(items)) = v.pointer_mut(ptr) {
            let start = offset.min(items.len());
            items.drain(..start);
            if let Some(c) = count {
                items.truncate(c.max(0) as usize);
            }
        }
    }
    v
}

/// Removes the optional fields of user (`kind = "user"`) or group objects that
/// the request's `fields` parameter did not ask for.
pub fn filter_objects(target: &mut Value, kind: &str, params: &Map<String, Value>) {
    let fields: Vec<String> = match params.get("fields") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s.split(',').map(|x| x.trim().to_string()).collect(),
        _ => Vec::new(),
    };
    let base = if kind == "group" {
        GROUP_BASE
    } else {
        USER_BASE
    };
    filter_fields(target, base, &fields);
}

fn filter_fields(target: &mut Value, base: &[&str], fields: &[String]) {
    match target {
        Value::Array(a) => a.iter_mut().for_each(|x| filter_fields(x, base, fields)),
        Value::Object(o) => {
            if o.contains_key("id") {
                // `online` comes with every user object on OpenVK.
                o.retain(|k, _| {
                    base.contains(&k.as_str()) || k == "online" || fields.iter().any(|f| f == k)
                });
            } else {
                // A map keyed by index (OpenVK's Users.get quirk).
                o.values_mut().for_each(|x| filter_fields(x, base, fields));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(response: Value) -> Recording {
        serde_json::from_value(json!({"id": "t", "response": response, "page": "/items", "objects": {"/items": "user"}})).unwrap()
    }

    #[test]
    fn paging_slices_items_and_keeps_the_total() {
        let r = rec(
            json!({"count": 3, "items": [{"id": 1, "first_name": "a", "last_name": "b", "sex": 1}, {"id": 2, "first_name": "a", "last_name": "b"}, {"id": 3, "first_name": "a", "last_name": "b"}]}),
        );
        let p = json!({"offset": 1, "count": 1, "fields": ["sex"]});
        let out = shape(&r, p.as_object().unwrap(), None);
        assert_eq!(out["count"], 3);
        assert_eq!(out["items"].as_array().unwrap().len(), 1);
        assert_eq!(out["items"][0]["id"], 2);
    }

    #[test]
    fn fields_not_asked_for_are_removed() {
        let r = rec(
            json!({"count": 1, "items": [{"id": 1, "first_name": "a", "last_name": "b", "sex": 1, "status": "x"}]}),
        );
        let out = shape(&r, json!({"fields": ["sex"]}).as_object().unwrap(), None);
        assert_eq!(out["items"][0].get("sex"), Some(&json!(1)));
        assert_eq!(out["items"][0].get("status"), None);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("5.199").unwrap() > parse_version("5.92").unwrap());
    }
}
