//! `schemas show`: one self-contained schema with every `$ref` bundled in.

use super::{Catalog, DIALECT};
use serde_json::{json, Value};

/// Bundles the schema at `uri` (absolute, with optional fragment) into one
/// Compound Schema Document that any 2020-12 validator accepts offline.
pub(super) fn bundle(cat: &Catalog, uri: &str) -> Result<Value, String> {
    let (doc_uri, _) = uri.split_once('#').unwrap_or((uri, ""));
    if !cat.docs().contains_key(doc_uri) {
        return Err(format!("no schema document `{doc_uri}` in the catalog"));
    }
    let wrapper = json!({"$schema": DIALECT, "$ref": uri});
    let mut out = cat.options().bundle(&wrapper).map_err(|e| format!("cannot bundle `{uri}`: {e}"))?;
    if let Some(obj) = out.as_object_mut() {
        let doc = &cat.docs()[doc_uri];
        if let Some(title) = doc.get("title") {
            obj.insert("title".into(), title.clone());
        }
        obj.insert("description".into(), Value::String(format!("Self-contained schema for {uri}, bundled by vkconform")));
    }
    Ok(out)
}
