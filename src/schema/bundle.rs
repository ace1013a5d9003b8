//! `schemas show`: one self-contained schema with every `$ref` bundled in.
//!
//! The output is a 2020-12 Compound Schema Document: its root `$ref`s the
//! requested subschema, and `$defs` embeds every catalog document reachable
//! from it, whole and under its own `$id`, so every reference (including
//! fragments like `#/$defs/int01`) resolves inside the bundle, offline, in any
//! 2020-12 validator.

use super::{join_uri, Catalog, DIALECT};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Bundles the schema at `uri` (absolute, with optional fragment).
pub(super) fn bundle(cat: &Catalog, uri: &str) -> Result<Value, String> {
    let (doc_uri, frag) = uri.split_once('#').unwrap_or((uri, ""));
    let root = cat
        .docs()
        .get(doc_uri)
        .ok_or_else(|| format!("no schema document `{doc_uri}` in the catalog"))?;
    if !frag.is_empty() && root.pointer(frag).is_none() {
        return Err(format!("`{doc_uri}` has nothing at `#{frag}`"));
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![doc_uri.to_string()];
    while let Some(d) = todo.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        let doc = cat
            .docs()
            .get(&d)
            .ok_or_else(|| format!("`{d}` is referenced but not in the catalog"))?;
        let mut refs = Vec::new();
        collect_refs(doc, &mut refs);
        for r in refs {
            let target = r.split('#').next().unwrap_or("");
            if target.is_empty() {
                continue;
            }
            let abs = join_uri(&d, target);
            if !seen.contains(&abs) {
                todo.push(abs);
            }
        }
    }
    let mut defs = Map::new();
    for d in &seen {
        let mut doc = cat.docs()[d].clone();
        if let Some(o) = doc.as_object_mut() {
            o.remove("$schema");
        }
        let key = d.strip_prefix(super::BASE_URI).unwrap_or(d).to_string();
        defs.insert(key, doc);
    }
    let title = root.get("title").cloned().unwrap_or(Value::Null);
    let what = if frag.is_empty() {
        String::new()
    } else {
        format!(" ({})", frag.trim_start_matches("/$defs/"))
    };
    Ok(json!({
        "$schema": DIALECT,
        "$id": format!("{}bundled/{}{}", super::BASE_URI, doc_uri.strip_prefix(super::BASE_URI).unwrap_or(doc_uri), if frag.is_empty() { String::new() } else { format!("-{}", frag.rsplit('/').next().unwrap_or("")) }),
        "title": format!("{}{what}", title.as_str().unwrap_or(doc_uri)),
        "description": format!("Self-contained schema for {uri}, bundled by vkconform {}: every referenced document is embedded in $defs under its own $id.", env!("CARGO_PKG_VERSION")),
        "$ref": uri,
        "$defs": defs,
    }))
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r.clone());
            }
            for (k, c) in o {
                if k != "examples" && k != "const" && k != "enum" && k != "default" {
                    collect_refs(c, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}
