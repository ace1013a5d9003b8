//! The schema catalog: every document loads, the catalog covers the seeds'
//! inventory exactly, the seeds' examples validate (and mutated copies do
//! not), no response schema accepts everything, and the exports are usable
//! by other tools.

use crate::common::{bin, root};
use serde_json::{json, Value};
use vkconform::api::Api;
use vkconform::schema::Catalog;

fn catalog() -> Catalog {
    Catalog::load_dir(&root().join("schemas")).unwrap_or_else(|e| panic!("schemas/ must load: {e}"))
}

fn inventory() -> Value {
    let path = root().join("../shared/spec/inventory.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} must be readable: {e}", path.display()));
    serde_json::from_str(&text).expect("inventory is JSON")
}

fn seed(name_prefix: &str) -> String {
    let dir = root().join("../shared/seeds");
    let entry = std::fs::read_dir(&dir)
        .expect("seeds dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(name_prefix))
        .unwrap_or_else(|| panic!("seed {name_prefix}_… exists"));
    std::fs::read_to_string(entry.path()).expect("seed readable")
}

#[test]
fn every_document_meta_validates_and_compiles() {
    let cat = catalog();
    assert!(
        cat.files().len() >= 130,
        "only {} documents",
        cat.files().len()
    );
    let out = bin()
        .args(["schemas", "check", "--dir"])
        .arg(root().join("schemas"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "schemas check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The embedded copy is the same catalog.
    let embedded = Catalog::embedded().expect("embedded catalog loads");
    assert_eq!(embedded.files(), cat.files());
}

#[test]
fn a_broken_schema_fails_the_load_with_file_and_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("openvk");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("bad.json"),
        r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://vkconform.dev/schemas/openvk/bad.json", "type": 12}"#,
    )
    .unwrap();
    let out = bin()
        .args(["schemas", "check", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("openvk/bad.json") && err.contains("#/type"),
        "{err}"
    );

    std::fs::write(p.join("bad.json"), "{\n  \"a\": 1,\n}").unwrap();
    let out = bin()
        .args(["schemas", "check", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("openvk/bad.json:3:1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_catalog_covers_the_inventory_exactly() {
    let cat = catalog();
    let inv = inventory();
    let methods = inv["openvk"]["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 130);
    assert_eq!(
        cat.methods(Api::Openvk)
            .filter(|m| m.name != "token")
            .count(),
        130,
        "exactly the 130 documented methods (plus /token)"
    );
    let mut auth = 0;
    for m in methods {
        let name = m["name"].as_str().unwrap();
        let spec = cat
            .method(Api::Openvk, name)
            .unwrap_or_else(|| panic!("{name} has a schema"));
        assert_eq!(spec.name, name, "canonical spelling");
        assert_eq!(
            spec.auth,
            m["auth"].as_bool().unwrap(),
            "{name}: auth flag as the seed marks it"
        );
        auth += spec.auth as usize;
        for p in m["params"].as_array().unwrap() {
            let pname = p["name"].as_str().unwrap();
            assert!(
                spec.params.iter().any(|x| x.name == pname),
                "{name}: parameter `{pname}` is described"
            );
        }
        for p in &spec.params {
            assert!(
                p.schema.get("description").is_some() || p.schema.get("$ref").is_some(),
                "{name}.{}: has a description",
                p.name
            );
            assert!(!p.examples.is_empty(), "{name}.{}: has examples", p.name);
        }
        let src = &spec.meta()["source"];
        assert_eq!(
            src["seed"], "000_20030d02835fe94e.txt",
            "{name}: cites its seed"
        );
    }
    assert_eq!(auth, 114);
    let token = cat
        .method(Api::Openvk, "token")
        .expect("/token has a schema");
    assert!(
        token.param("code").is_some(),
        "/token documents the 2FA code"
    );
    assert!(cat.method(Api::Devino, "vk.messages").is_some());
    assert!(cat.method(Api::Ok, "graph.user.messages").is_some());
}

#[test]
fn first_examples_of_every_parameter_validate() {
    let cat = catalog();
    for m in cat.all_methods() {
        for p in &m.params {
            let Some(first) = p.examples.first() else {
                continue;
            };
            let doc = json!({"x": first});
            let wrapper_uri = format!("{}#/$defs/params/properties/{}", m.id, p.name);
            if let Err(v) = cat.validate(&wrapper_uri, first) {
                panic!(
                    "{}.{}: first example {doc} is invalid: {}",
                    m.name, p.name, v[0]
                );
            }
        }
    }
}

/// Checks an example and mutated copies of it against a schema.
fn example_and_mutants(cat: &Catalog, uri: &str, example: &Value) {
    if let Err(v) = cat.validate(uri, example) {
        panic!("{uri}: the seed's example must validate: {}", v[0]);
    }
    // The object the schema talks about: the example itself, or its first array item.
    type Rewrap = Box<dyn Fn(Value) -> Value>;
    let (obj, wrap): (&serde_json::Map<String, Value>, Rewrap) = match example {
        Value::Object(o) => (o, Box::new(|v| v)),
        Value::Array(a) => {
            let rest: Vec<Value> = a[1..].to_vec();
            (
                a[0].as_object().expect("array of objects"),
                Box::new(move |v| {
                    let mut all = vec![v];
                    all.extend(rest.clone());
                    Value::Array(all)
                }),
            )
        }
        _ => return,
    };
    let mut removed_rejected = 0;
    for key in obj.keys() {
        let mut m = obj.clone();
        m.remove(key);
        if cat.validate(uri, &wrap(Value::Object(m))).is_err() {
            removed_rejected += 1;
        }
        let mut t = obj.clone();
        let changed = match &obj[key] {
            Value::Object(_) | Value::Array(_) => json!("x"),
            _ => json!({"unexpected": "object"}),
        };
        t.insert(key.clone(), changed);
        assert!(
            cat.validate(uri, &wrap(Value::Object(t))).is_err(),
            "{uri}: changing the type of `{key}` must be rejected"
        );
    }
    assert!(
        removed_rejected > 0,
        "{uri}: removing a required field must be rejected"
    );
}

#[test]
fn openvk_seed_examples_validate_and_mutants_do_not() {
    let cat = catalog();
    let inv = inventory();
    let mut n = 0;
    for m in inv["openvk"]["methods"].as_array().unwrap() {
        let Some(ex) = m["example_response"].get("response") else {
            continue;
        };
        let spec = cat
            .method(Api::Openvk, m["name"].as_str().unwrap())
            .unwrap();
        example_and_mutants(&cat, &format!("{}#/$defs/response", spec.id), ex);
        n += 1;
    }
    assert_eq!(n, 3, "the seed has three example responses");
    let token_example = &inv["openvk"]["token"]["example_response"];
    example_and_mutants(&cat, "openvk/token.json#/$defs/response", token_example);
    let error_example = &inv["openvk"]["error_format"]["example"];
    example_and_mutants(&cat, "openvk/errors/openvk.json", error_example);
    let wrapped = json!({"error": error_example});
    cat.validate("openvk/errors/vk.json", &wrapped)
        .expect("the vk profile wraps the same error");
    assert!(
        cat.validate("openvk/errors/vk.json", error_example)
            .is_err(),
        "the vk profile needs the wrapper"
    );
}

/// Extracts the JSON text of the first balanced `[`/`{` block after `marker`.
fn json_block_after(text: &str, marker: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("marker {marker:?} in seed"))
        + marker.len();
    let rest = &text[start..];
    let open = rest.find(['[', '{']).expect("a JSON block");
    let (o, c) = if rest.as_bytes()[open] == b'[' {
        (b'[', b']')
    } else {
        (b'{', b'}')
    };
    let mut depth = 0;
    let mut in_str = false;
    for (i, b) in rest.bytes().enumerate().skip(open) {
        if b == b'"' && rest.as_bytes()[i - 1] != b'\\' {
            in_str = !in_str;
        }
        if in_str {
            continue;
        }
        if b == o {
            depth += 1;
        } else if b == c {
            depth -= 1;
            if depth == 0 {
                return rest[open..=i].to_string();
            }
        }
    }
    panic!("unbalanced block after {marker:?}");
}

#[test]
fn devino_seed_examples_validate_and_mutants_do_not() {
    let cat = catalog();
    let text = seed("001");
    let spec = cat.method(Api::Devino, "vk.messages").unwrap();
    // The request example has a trailing comma in tmpl_data; remove it as the issue says.
    let raw = json_block_after(&text, "Request example¶");
    let fixed = regex::Regex::new(r",(\s*[}\]])")
        .unwrap()
        .replace_all(&raw, "$1")
        .to_string();
    let request: Value = serde_json::from_str(&fixed)
        .expect("request example parses once the trailing comma is gone");
    example_and_mutants(&cat, &format!("{}#/$defs/params", spec.id), &request);
    let mut bad = request.clone();
    bad[0]["ttl"] = json!(59);
    assert!(!spec.params_valid(&bad), "ttl below 60 is rejected");
    bad = request.clone();
    bad[0]["phone"] = json!("not-a-phone");
    assert!(!spec.params_valid(&bad), "a non-E.164 phone is rejected");
    let many = Value::Array(vec![request[0].clone(); 1001]);
    assert!(
        !spec.params_valid(&many),
        "more than 1000 messages are rejected"
    );

    let ok: Value = serde_json::from_str(&json_block_after(&text, "Response examples¶")).unwrap();
    spec.validate_response(&ok).expect("OK example");
    let ok_text = json_block_after(&text, "Response examples¶");
    let after_ok = &text[text.find(&ok_text).unwrap() + ok_text.len()..];
    let rejected: Value = serde_json::from_str(&json_block_after(after_ok, "")).unwrap();
    spec.validate_response(&rejected).expect("REJECTED example");
    let mut m = ok.clone();
    m["result"][0].as_object_mut().unwrap().remove("code");
    assert!(!spec.response_valid(&m));
    let mut m = rejected.clone();
    m["result"][0]["reasons"][0]["key"] = json!("not.a.documented.code");
    assert!(
        !spec.response_valid(&m),
        "reason keys are the documented codes"
    );

    let callback: Value =
        serde_json::from_str(&json_block_after(&text, "Callback example¶")).unwrap();
    example_and_mutants(&cat, "devino/callback.status.json", &callback);
    let incoming: Value = serde_json::from_str(&json_block_after(&text, "Example¶")).unwrap();
    example_and_mutants(&cat, "devino/webhook.incoming.json", &incoming);
}

#[test]
fn ok_seed_example_validates_with_comments_stripped() {
    let cat = catalog();
    let text = seed("003");
    let raw = json_block_after(&text, "Response\n");
    let stripped = regex::Regex::new(r"/\*.*?\*/")
        .unwrap()
        .replace_all(&raw, "")
        .to_string();
    let example: Value =
        serde_json::from_str(&stripped).expect("OK example parses without comments");
    let spec = cat.method(Api::Ok, "graph.user.messages").unwrap();
    example_and_mutants(&cat, &format!("{}#/$defs/response", spec.id), &example);
    let mut m = example.clone();
    m["messages"][0]["message"]["mid"] = json!("C3ecb9d02a600.15cea67d78d2059");
    assert!(
        !spec.response_valid(&m),
        "a mid without its prefix is rejected"
    );
    let mut m = example.clone();
    m["messages"][1]["message"]["attachments"][0]["type"] = json!("GIF");
    assert!(!spec.response_valid(&m), "only the four attachment types");
}

#[test]
fn no_response_schema_accepts_everything() {
    let cat = catalog();
    let probes = [json!("x"), json!({}), json!([]), json!(3.5)];
    for m in cat.all_methods() {
        assert!(
            !m.response_valid(&Value::Null),
            "{}: response schema accepts null",
            m.name
        );
        let rejected = probes.iter().filter(|p| !m.response_valid(p)).count();
        assert!(
            rejected >= 2,
            "{}: response schema rejects only {rejected} of \"x\", {{}}, [], 3.5",
            m.name
        );
    }
}

#[test]
fn schemas_list_prints_one_line_per_method() {
    let out = bin().args(["schemas", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        130 + 1 + 2,
        "130 OpenVK methods, /token, Devino and OK"
    );
    assert!(lines
        .iter()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["openvk", "Users.get", "none"]));
    assert!(lines
        .iter()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["openvk", "Wall.post", "token"]));
}

/// A retriever that refuses everything: proves a schema needs nothing outside itself.
struct NoFetch;

impl jsonschema::Retrieve for NoFetch {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("unexpected fetch of {uri}").into())
    }
}

#[test]
fn schemas_show_prints_a_self_contained_schema() {
    for (method, flag, instance) in [
        (
            "Users.get",
            "--response",
            json!([{"id": 1, "first_name": "Vladimir", "last_name": "Barinov"}]),
        ),
        (
            "Likes.add",
            "--params",
            json!({"type": "post", "owner_id": 1, "item_id": 1}),
        ),
        ("wall.getById", "--response", json!({"items": []})),
    ] {
        let out = bin()
            .args(["schemas", "show", "openvk", method, flag])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Compiles with a validator that has no access to our catalog: every $ref is inside.
        let v = jsonschema::options()
            .with_retriever(NoFetch)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{method} {flag}: not self-contained: {e}"));
        assert!(v.is_valid(&instance), "{method} {flag}: {instance}");
        assert!(!v.is_valid(&Value::Null));
    }
    let out = bin()
        .args(["schemas", "show", "openvk", "Nope.nothing", "--params"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("schemas list"));
}

#[test]
fn openapi_export_is_valid_openapi_3_1() {
    let out = bin()
        .args(["schemas", "export", "--format", "openapi"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        paths.contains_key("/method/Users.get")
            && paths.contains_key("/token")
            && paths.contains_key("/vk/messages")
    );
    assert!(
        paths.contains_key("/graph/me/messages")
            && paths.contains_key("/graph/me/messages/{chat_id}")
    );
    assert_eq!(
        paths.keys().filter(|k| k.starts_with("/method/")).count(),
        130
    );
    // Every local $ref resolves inside the document.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|c| refs(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| refs(c, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        let ptr = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        let ptr = ptr.replace("~1", "/");
        assert!(
            doc.pointer(&ptr).is_some() || doc.pointer(r.strip_prefix('#').unwrap()).is_some(),
            "dangling $ref {r}"
        );
    }
    // A real validator (openapi-spec-validator, installed by .ci/run).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &out.stdout).unwrap();
    let py = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output();
    match py {
        Ok(o) if o.status.success() => {}
        Ok(o)
            if String::from_utf8_lossy(&o.stderr).contains("No module named")
                && std::env::var_os("CI").is_none() =>
        {
            eprintln!("note: openapi-spec-validator is not installed; `pip install openapi-spec-validator` to run this check locally");
        }
        Ok(o) => panic!(
            "openapi-spec-validator rejected the export:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("note: python3 not available ({e})")
        }
        Err(e) => panic!("python3 is required in CI: {e}"),
    }
}

/// The one walk over every data file the project ships: schemas compile,
/// suites parse (with unique ids), recordings load and validate — both from
/// disk and as embedded in the binary.
#[test]
fn every_file_under_schemas_suites_and_snapshots_loads() {
    let cat = catalog();
    let suites = vkconform::suite::load_paths(
        &[root().join("suites")],
        &cat,
        &vkconform::suite::GenerateOptions::default(),
    )
    .unwrap_or_else(|e| panic!("suites/ must load: {e}"));
    vkconform::suite::check_unique(&suites).unwrap_or_else(|e| panic!("{e}"));
    let on_disk = std::fs::read_dir(root().join("suites"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .count();
    assert_eq!(suites.len(), on_disk, "every file under suites/ is a suite");
    let embedded = vkconform::suite::load_embedded(
        &Api::ALL,
        &cat,
        &vkconform::suite::GenerateOptions::default(),
    )
    .unwrap();
    assert_eq!(
        embedded.len(),
        suites.len(),
        "the binary embeds the same suites"
    );
    let recs = vkconform::mock::Recordings::load_dir(&cat, &root().join("snapshots"))
        .unwrap_or_else(|e| panic!("snapshots/ must load: {e}"));
    let embedded_recs = vkconform::mock::Recordings::embedded(&cat).unwrap();
    assert_eq!(recs.files(), embedded_recs.files());
    assert!(recs.file(Api::Ok, "graph.user.messages").is_some());
}
