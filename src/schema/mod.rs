//! Stage 1: the schema catalog. Loads every JSON Schema under `schemas/`,
//! meta-validates it against 2020-12, compiles it once, and answers
//! "what does method X take and return" for every other stage.
//!
//! Nothing here imports another vkconform stage, and no `$ref` is ever
//! fetched over the network: references resolve inside the catalog.

mod bundle;
mod openapi;

pub use openapi::openapi_document;

use crate::api::Api;
use jsonschema::{Draft, Retrieve, Uri, Validator};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The base of every schema `$id`: `BASE_URI` + path below `schemas/`.
pub const BASE_URI: &str = "https://vkconform.dev/schemas/";
/// The JSON Schema dialect every document declares.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// A schema document that failed to load, with the file and the place in it.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", location.as_ref().map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SchemaError {
    /// Path of the document below `schemas/`.
    pub file: String,
    /// `line:column` for syntax errors, or a JSON pointer into the document.
    pub location: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SchemaError {
    fn new(file: &str, location: Option<String>, message: impl Into<String>) -> Self {
        SchemaError {
            file: file.to_string(),
            location,
            message: message.into(),
        }
    }
}

/// One schema violation found while validating an instance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    /// JSON pointer into the validated value (`/items/0/id`).
    pub instance_path: String,
    /// JSON pointer into the schema (`/properties/items/items/properties/id/type`).
    pub schema_path: String,
    /// Human-readable description.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.instance_path.is_empty() {
            "(root)"
        } else {
            &self.instance_path
        };
        write!(f, "at {at}: {} (schema {})", self.message, self.schema_path)
    }
}

/// Whether a method reads or changes server state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Reads only.
    Read,
    /// Changes state (paced by the runner, skipped with `--read-only`).
    Write,
}

/// A parameter of a method, as its schema describes it.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    /// The documented name.
    pub name: String,
    /// The property schema (may contain `$ref`s relative to the method document).
    pub schema: Value,
    /// Whether the method cannot work without it.
    pub required: bool,
    /// The documented default, if any.
    pub default: Option<Value>,
    /// Examples; the first is answerable by the default world.
    pub examples: Vec<Value>,
    /// The primitive type used to coerce wire strings (see `docs/formats.md` §1.2).
    pub wire: WireType,
}

/// How a parameter's wire string is turned into JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum WireType {
    /// A whole number.
    Integer,
    /// A 0/1 flag that also accepts `true/false/True/False`.
    Flag,
    /// A JSON boolean from the same spellings as a flag.
    Boolean,
    /// Any text.
    String,
    /// A number when it parses, text otherwise.
    IntegerOrString,
    /// A JSON document in a string.
    Json,
    /// A comma-joined (or repeated-key) list of items of the inner type.
    List(Box<WireType>),
}

/// Everything the catalog knows about one documented method or endpoint.
pub struct MethodSpec {
    /// Which API.
    pub api: Api,
    /// Canonical name (`Users.get`, `vk.messages`, `graph.user.messages`, `token`).
    pub name: String,
    /// Seed section.
    pub section: String,
    /// Whether the seed marks it as needing a token.
    pub auth: bool,
    /// What the real server does when it differs from the seed.
    pub auth_real: Option<bool>,
    /// Read or write.
    pub kind: Kind,
    /// `documented`, `dummy`, `non-standard` or `not-implemented`.
    pub status: String,
    /// `real name → documented name` aliases accepted for parameters.
    pub aliases: Vec<(String, String)>,
    /// Parameters in document order.
    pub params: Vec<ParamSpec>,
    /// Path of the document below `schemas/`.
    pub file: String,
    /// The document's `$id`.
    pub id: String,
    /// The whole document (for `schemas show`, reports and the OpenAPI export).
    pub document: Value,
    params_validator: Validator,
    response_validator: Validator,
}

impl fmt::Debug for MethodSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodSpec")
            .field("api", &self.api)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl MethodSpec {
    /// Looks a parameter up by its documented name or by an alias.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        let doc_name = self
            .aliases
            .iter()
            .find(|(real, _)| real == name)
            .map(|(_, d)| d.as_str())
            .unwrap_or(name);
        self.params.iter().find(|p| p.name == doc_name)
    }

    /// The documented name for a wire name (resolving aliases).
    pub fn canonical_param<'a>(&'a self, name: &'a str) -> &'a str {
        self.aliases
            .iter()
            .find(|(real, _)| real == name)
            .map(|(_, d)| d.as_str())
            .unwrap_or(name)
    }

    /// Parameters the method cannot work without.
    pub fn required_params(&self) -> impl Iterator<Item = &ParamSpec> {
        self.params.iter().filter(|p| p.required)
    }

    /// The `x-vkconform` metadata object.
    pub fn meta(&self) -> &Value {
        &self.document["x-vkconform"]
    }

    /// The seed file and section this method is documented in, e.g. `000_…txt §Users`.
    pub fn citation(&self) -> String {
        let src = &self.meta()["source"];
        let seed = src["seed"].as_str().unwrap_or("?");
        let section = src["section"].as_str().unwrap_or(&self.section);
        match src["lines"].as_array() {
            Some(l) if l.len() == 2 => format!("{seed} §{section} L{}-{}", l[0], l[1]),
            _ => format!("{seed} §{section}"),
        }
    }

    /// True when typed, alias-resolved parameters satisfy `$defs/params`.
    pub fn params_valid(&self, params: &Value) -> bool {
        self.params_validator.is_valid(params)
    }

    /// Validates typed parameters; every violation on failure.
    pub fn validate_params(&self, params: &Value) -> Result<(), Vec<Violation>> {
        check(&self.params_validator, params)
    }

    /// True when a result value (inside `{"response": …}`) satisfies `$defs/response`.
    pub fn response_valid(&self, response: &Value) -> bool {
        self.response_validator.is_valid(response)
    }

    /// Validates a result value; every violation on failure.
    pub fn validate_response(&self, response: &Value) -> Result<(), Vec<Violation>> {
        check(&self.response_validator, response)
    }
}

/// Validates with the fast boolean path first, and collects details only on failure.
pub fn check(validator: &Validator, instance: &Value) -> Result<(), Vec<Violation>> {
    if validator.is_valid(instance) {
        return Ok(());
    }
    let v: Vec<Violation> = validator
        .iter_errors(instance)
        .take(20)
        .map(|e| Violation {
            instance_path: e.instance_path().as_str().to_string(),
            schema_path: e.schema_path().as_str().to_string(),
            message: e.masked_with("value").to_string(),
        })
        .collect();
    Err(v)
}

/// The compiled catalog of every schema document.
pub struct Catalog {
    docs: Arc<HashMap<String, Value>>,
    files: Vec<String>,
    methods: Vec<MethodSpec>,
    index: HashMap<(Api, String), usize>,
    cache: Mutex<HashMap<String, Arc<Validator>>>,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("documents", &self.files.len())
            .field("methods", &self.methods.len())
            .finish()
    }
}

/// Resolves `$ref`s to documents of the catalog; refuses everything else.
#[derive(Clone)]
struct CatalogRetriever(Arc<HashMap<String, Value>>);

impl Retrieve for CatalogRetriever {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let s = uri.as_str();
        let base = s.split('#').next().unwrap_or(s);
        self.0.get(base).cloned().ok_or_else(|| {
            format!("`{base}` is not a document of the vkconform catalog (no network fetching)")
                .into()
        })
    }
}

impl Catalog {
    /// Loads the catalog compiled into the binary.
    pub fn embedded() -> Result<Catalog, SchemaError> {
        let files: Vec<(String, &[u8])> = crate::embedded::files(&crate::embedded::SCHEMAS);
        Catalog::from_files(files.iter().map(|(p, b)| (p.as_str(), *b)))
    }

    /// Loads the catalog compiled into the binary, once per process.
    pub fn shared() -> Result<Arc<Catalog>, Arc<SchemaError>> {
        static SHARED: std::sync::OnceLock<Result<Arc<Catalog>, Arc<SchemaError>>> =
            std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| Catalog::embedded().map(Arc::new).map_err(Arc::new))
            .clone()
    }

    /// Loads every `*.json` below a directory on disk.
    pub fn load_dir(root: &std::path::Path) -> Result<Catalog, SchemaError> {
        let files = crate::embedded::files_on_disk(root).map_err(|e| {
            SchemaError::new(
                &root.display().to_string(),
                None,
                format!("cannot read the schema directory: {e}"),
            )
        })?;
        Catalog::from_files(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())))
    }

    /// Builds the catalog from `(path below schemas/, bytes)` pairs.
    pub fn from_files<'a>(
        files: impl Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Catalog, SchemaError> {
        let mut docs = HashMap::new();
        let mut names = Vec::new();
        for (path, bytes) in files {
            if !path.ends_with(".json") {
                continue;
            }
            let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
                SchemaError::new(
                    path,
                    Some(format!("{}:{}", e.line(), e.column())),
                    format!("not valid JSON: {e}"),
                )
            })?;
            let meta = jsonschema::draft202012::meta::validator();
            if let Some(err) = meta.iter_errors(&doc).next() {
                return Err(SchemaError::new(
                    path,
                    Some(format!("#{}", err.instance_path().as_str())),
                    format!(
                        "not a valid JSON Schema 2020-12 document: {}",
                        err.masked_with("value")
                    ),
                ));
            }
            let expected = format!("{BASE_URI}{path}");
            match doc.get("$id").and_then(Value::as_str) {
                Some(id) if id == expected => {}
                Some(id) => {
                    return Err(SchemaError::new(
                        path,
                        Some("#/$id".into()),
                        format!(
                        "`$id` is `{id}`; it must be `{expected}` (the file's path below schemas/)"
                    ),
                    ))
                }
                None => {
                    return Err(SchemaError::new(
                        path,
                        Some("#".into()),
                        format!("missing `$id`; add \"$id\": \"{expected}\""),
                    ))
                }
            }
            if doc.get("$schema").and_then(Value::as_str) != Some(DIALECT) {
                return Err(SchemaError::new(
                    path,
                    Some("#/$schema".into()),
                    format!("`$schema` must be \"{DIALECT}\""),
                ));
            }
            names.push(path.to_string());
            docs.insert(expected, doc);
        }
        let docs = Arc::new(docs);
        let mut cat = Catalog {
            docs,
            files: names,
            methods: Vec::new(),
            index: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        };
        // Compile every document once: a broken `$ref` anywhere fails the load.
        for file in cat.files.clone() {
            let id = format!("{BASE_URI}{file}");
            let doc = &cat.docs[&id];
            if doc
                .get("x-vkconform")
                .and_then(|m| m.get("method"))
                .is_some()
            {
                let spec = cat.method_from_doc(&file, &id, doc)?;
                let key = (spec.api, spec.name.to_ascii_lowercase());
                if cat.index.contains_key(&key) {
                    return Err(SchemaError::new(
                        &file,
                        Some("#/x-vkconform/method".into()),
                        format!("method `{}` is defined twice", spec.name),
                    ));
                }
                cat.index.insert(key, cat.methods.len());
                cat.methods.push(spec);
            } else {
                cat.compile_uri(&id)
                    .map_err(|m| SchemaError::new(&file, Some("#".into()), m))?;
            }
        }
        Ok(cat)
    }

    fn options(&self) -> jsonschema::ValidationOptions<'static> {
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_retriever(CatalogRetriever(self.docs.clone()))
    }

    /// Compiles (once, then cached) the schema at an absolute URI with optional fragment.
    pub fn validator(&self, uri: &str) -> Result<Arc<Validator>, String> {
        if let Some(v) = self.cache.lock().expect("cache lock").get(uri) {
            return Ok(v.clone());
        }
        let v = Arc::new(self.compile_uri(uri)?);
        self.cache
            .lock()
            .expect("cache lock")
            .insert(uri.to_string(), v.clone());
        Ok(v)
    }

    /// Validates `instance` against the schema at `uri` (a path below `schemas/` or an absolute URI, with optional `#fragment`).
    pub fn validate(&self, uri: &str, instance: &Value) -> Result<(), Vec<Violation>> {
        let uri = self.absolute(uri);
        match self.validator(&uri) {
            Ok(v) => check(&v, instance),
            Err(e) => Err(vec![Violation {
                instance_path: String::new(),
                schema_path: uri,
                message: e,
            }]),
        }
    }

    /// Turns `openvk/token.json#/$defs/response` into an absolute URI.
    pub fn absolute(&self, uri: &str) -> String {
        if uri.starts_with("https://") {
            uri.to_string()
        } else {
            format!("{BASE_URI}{uri}")
        }
    }

    fn compile_uri(&self, uri: &str) -> Result<Validator, String> {
        let wrapper = serde_json::json!({"$schema": DIALECT, "$ref": uri});
        self.options()
            .build(&wrapper)
            .map_err(|e| format!("does not compile: {e}"))
    }

    fn method_from_doc(
        &self,
        file: &str,
        id: &str,
        doc: &Value,
    ) -> Result<MethodSpec, SchemaError> {
        let meta = &doc["x-vkconform"];
        let err = |loc: &str, msg: String| SchemaError::new(file, Some(loc.to_string()), msg);
        let api_s = meta["api"].as_str().unwrap_or("");
        let api = Api::parse(api_s).ok_or_else(|| {
            err(
                "#/x-vkconform/api",
                format!("unknown api `{api_s}`; use openvk, devino or ok"),
            )
        })?;
        let name = meta["method"].as_str().unwrap_or_default().to_string();
        let params_schema = doc
            .pointer("/$defs/params")
            .ok_or_else(|| err("#/$defs", "a method document needs `$defs/params`".into()))?;
        if doc.pointer("/$defs/response").is_none() {
            return Err(err(
                "#/$defs",
                "a method document needs `$defs/response`".into(),
            ));
        }
        let kind = match meta["kind"].as_str() {
            Some("write") => Kind::Write,
            Some("read") | None => Kind::Read,
            Some(other) => {
                return Err(err(
                    "#/x-vkconform/kind",
                    format!("kind must be read or write, not `{other}`"),
                ))
            }
        };
        let aliases = meta["aliases"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let required: Vec<&str> = params_schema["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut params = Vec::new();
        if let Some(props) = params_schema["properties"].as_object() {
            for (pname, pschema) in props {
                let resolved = self.resolve_local(id, pschema);
                params.push(ParamSpec {
                    name: pname.clone(),
                    schema: pschema.clone(),
                    required: required.contains(&pname.as_str()),
                    default: resolved.get("default").cloned(),
                    examples: resolved
                        .get("examples")
                        .or_else(|| pschema.get("examples"))
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                    wire: wire_type(&resolved, |s| self.resolve_local(id, s)),
                });
            }
        }
        let params_validator = self
            .compile_uri(&format!("{id}#/$defs/params"))
            .map_err(|m| err("#/$defs/params", m))?;
        let response_validator = self
            .compile_uri(&format!("{id}#/$defs/response"))
            .map_err(|m| err("#/$defs/response", m))?;
        Ok(MethodSpec {
            api,
            section: meta["section"].as_str().unwrap_or_default().to_string(),
            auth: meta["auth"].as_bool().unwrap_or(false),
            auth_real: meta["auth_real"].as_bool(),
            kind,
            status: meta["status"].as_str().unwrap_or("documented").to_string(),
            aliases,
            params,
            file: file.to_string(),
            id: id.to_string(),
            document: doc.clone(),
            name,
            params_validator,
            response_validator,
        })
    }

    /// Follows a `$ref` (relative to document `base`) one level, for reading a property's type.
    fn resolve_local(&self, base: &str, schema: &Value) -> Value {
        let mut cur = schema.clone();
        let mut base = base.to_string();
        for _ in 0..8 {
            let Some(r) = cur.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let (doc_part, frag) = r.split_once('#').unwrap_or((r, ""));
            let target_doc = if doc_part.is_empty() {
                base.clone()
            } else {
                join_uri(&base, doc_part)
            };
            let Some(doc) = self.docs.get(&target_doc) else {
                break;
            };
            let Some(target) = (if frag.is_empty() {
                Some(doc)
            } else {
                doc.pointer(frag)
            }) else {
                break;
            };
            // Keep the referring schema's own annotations (description, examples, default).
            let mut merged = target.clone();
            if let (Some(m), Some(own)) = (merged.as_object_mut(), cur.as_object()) {
                for (k, v) in own {
                    if k != "$ref" {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            cur = merged;
            base = target_doc;
        }
        cur
    }

    /// Every method of an API, in file order.
    pub fn methods(&self, api: Api) -> impl Iterator<Item = &MethodSpec> {
        self.methods.iter().filter(move |m| m.api == api)
    }

    /// Every method of every API.
    pub fn all_methods(&self) -> &[MethodSpec] {
        &self.methods
    }

    /// Looks a method up by name, case-insensitively (`users.get` = `Users.get`).
    pub fn method(&self, api: Api, name: &str) -> Option<&MethodSpec> {
        if let Some(i) = self.index.get(&(api, name.to_string())) {
            return Some(&self.methods[*i]);
        }
        self.index
            .get(&(api, name.to_ascii_lowercase()))
            .map(|i| &self.methods[*i])
    }

    /// Paths of every document below `schemas/`.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// A document by its path below `schemas/`.
    pub fn document(&self, path: &str) -> Option<&Value> {
        self.docs.get(&format!("{BASE_URI}{path}"))
    }

    /// One self-contained schema for `uri#fragment`: every `$ref` bundled in.
    pub fn bundled(&self, uri: &str) -> Result<Value, String> {
        bundle::bundle(self, &self.absolute(uri))
    }

    pub(crate) fn docs(&self) -> &HashMap<String, Value> {
        &self.docs
    }
}

/// Resolves a relative reference against a base document URI.
pub(crate) fn join_uri(base: &str, rel: &str) -> String {
    if rel.starts_with("https://") || rel.starts_with("http://") {
        return rel.to_string();
    }
    let mut parts: Vec<&str> = base
        .rsplit_once('/')
        .map(|(dir, _)| dir)
        .unwrap_or(base)
        .split('/')
        .collect();
    for seg in rel.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn wire_type(schema: &Value, resolve: impl Fn(&Value) -> Value + Copy) -> WireType {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => {
            // oneOf/anyOf of simple types: take the union.
            let mut t = Vec::new();
            for key in ["oneOf", "anyOf"] {
                if let Some(alts) = schema[key].as_array() {
                    for alt in alts {
                        let alt = resolve(alt);
                        match wire_type(&alt, resolve) {
                            WireType::Integer | WireType::Flag => t.push("integer"),
                            WireType::String => t.push("string"),
                            WireType::Boolean => t.push("boolean"),
                            WireType::IntegerOrString => t.extend(["integer", "string"]),
                            WireType::List(inner) => return WireType::List(inner),
                            WireType::Json => t.push("object"),
                        }
                    }
                }
            }
            if t.is_empty() {
                return WireType::String;
            }
            return primitive(&t, schema);
        }
    };
    if types.contains(&"array") {
        let items = resolve(&schema["items"]);
        let inner = wire_type(&items, resolve);
        return WireType::List(Box::new(inner));
    }
    primitive(&types, schema)
}

fn primitive(types: &[&str], schema: &Value) -> WireType {
    let has = |t: &str| types.contains(&t);
    if has("object") {
        return WireType::Json;
    }
    if has("integer") && has("string") {
        return WireType::IntegerOrString;
    }
    if has("integer") || has("number") {
        let is_flag = schema["enum"]
            .as_array()
            .is_some_and(|e| e.iter().all(|v| v == 0 || v == 1) && !e.is_empty());
        return if is_flag {
            WireType::Flag
        } else {
            WireType::Integer
        };
    }
    if has("boolean") {
        return WireType::Boolean;
    }
    WireType::String
}

/// `x-vkconform` fields as a map, for renderers that list metadata.
pub fn meta_map(doc: &Value) -> Map<String, Value> {
    doc.get("x-vkconform")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}
