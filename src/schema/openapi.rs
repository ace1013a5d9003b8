//! `schemas export --format openapi`: an OpenAPI 3.1 document of every endpoint
//! of the three APIs, built from the catalog (schemas become components).

use super::{join_uri, Catalog, MethodSpec, BASE_URI};
use crate::api::Api;
use serde_json::{json, Map, Value};

/// Builds the OpenAPI 3.1 document.
pub fn openapi_document(cat: &Catalog) -> Value {
    let mut components = Map::new();
    let mut files: Vec<&String> = cat.files().iter().collect();
    files.sort();
    for file in &files {
        if file.starts_with("report/") {
            continue;
        }
        let id = format!("{BASE_URI}{file}");
        let mut doc = cat.docs()[&id].clone();
        rewrite_refs(&mut doc, &id);
        if let Some(o) = doc.as_object_mut() {
            o.remove("$id");
            o.remove("$schema");
        }
        components.insert(component_name(file), doc);
    }
    let mut paths = Map::new();
    for m in cat.methods(Api::Openvk) {
        let op = operation(m, "openvk", true);
        if m.name == "token" {
            paths.insert(
                "/token".into(),
                json!({"get": op.clone(), "post": post_form(op)}),
            );
        } else {
            paths.insert(
                format!("/method/{}", m.name),
                json!({"get": op.clone(), "post": post_form(op)}),
            );
        }
    }
    for m in cat.methods(Api::Devino) {
        let path = m.meta()["http"]["path"]
            .as_str()
            .unwrap_or("/vk/messages")
            .to_string();
        paths.insert(path, json!({"post": devino_operation(m)}));
    }
    for m in cat.methods(Api::Ok) {
        let op = operation(m, "ok", false);
        let mut by_path = op.clone();
        if let Some(params) = by_path["parameters"].as_array_mut() {
            for p in params.iter_mut() {
                if p["name"] == "chat_id" {
                    p["in"] = json!("path");
                    p["required"] = json!(true);
                }
            }
        }
        by_path["operationId"] = json!(format!("{}.byPath", m.name));
        paths.insert("/graph/me/messages".into(), json!({"get": op}));
        paths.insert(
            "/graph/me/messages/{chat_id}".into(),
            json!({"get": by_path}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "VK-family APIs as vkconform checks them",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "OpenVK (seed 000), Devino VK messaging (seed 001) and OK.ru graph messages (seed 003), generated from vkconform's schema catalog.",
            "license": {"name": "MIT", "identifier": "MIT"}
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "vkconform mock (vkconform mock --port 8080)"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "access_token": {"type": "apiKey", "in": "query", "name": "access_token"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "devino_key": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Key <API key>` or `Basic base64(login:password)`"}
            }
        }
    })
}

fn component_name(file: &str) -> String {
    file.trim_end_matches(".json")
        .replace('/', "_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn component_ref(abs: &str) -> String {
    let (doc, frag) = abs.split_once('#').unwrap_or((abs, ""));
    let file = doc.strip_prefix(BASE_URI).unwrap_or(doc);
    format!("#/components/schemas/{}{}", component_name(file), frag)
}

fn rewrite_refs(v: &mut Value, base: &str) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref") {
                let abs = if let Some(frag) = r.strip_prefix('#') {
                    format!("{base}#{frag}")
                } else {
                    let (d, f) = r.split_once('#').unwrap_or((r.as_str(), ""));
                    let d = join_uri(base, d);
                    if f.is_empty() {
                        d
                    } else {
                        format!("{d}#{f}")
                    }
                };
                *r = component_ref(&abs);
            }
            for (k, child) in o.iter_mut() {
                if k != "examples" && k != "default" && k != "const" && k != "enum" {
                    rewrite_refs(child, base);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_refs(c, base)),
        _ => {}
    }
}

fn local(m: &MethodSpec, frag: &str) -> String {
    component_ref(&format!("{}#{frag}", m.id))
}

fn operation(m: &MethodSpec, tag: &str, envelope: bool) -> Value {
    let mut params = Vec::new();
    for p in &m.params {
        let mut param = json!({
            "name": p.name,
            "in": "query",
            "required": p.required,
            "schema": {"$ref": local(m, &format!("/$defs/params/properties/{}", escape(&p.name)))},
        });
        if let Some(d) = p.schema.get("description") {
            param["description"] = d.clone();
        }
        if matches!(p.wire, super::WireType::List(_)) {
            param["style"] = json!("form");
            param["explode"] = json!(false);
        }
        if let Some(e) = p.examples.first() {
            param["example"] = e.clone();
        }
        params.push(param);
    }
    let result = json!({"$ref": local(m, "/$defs/response")});
    let body = if envelope && m.name != "token" {
        json!({"type": "object", "required": ["response"], "properties": {"response": result}})
    } else {
        result
    };
    let mut responses = json!({
        "200": {"description": "Success", "content": {"application/json": {"schema": body}}}
    });
    if tag == "openvk" {
        responses["400"] = json!({"description": "OpenVK profile error (top-level error fields)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/openvk_errors_openvk"}}}});
    } else {
        responses["default"] = json!({"description": "OK error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ok_errors"}}}});
    }
    let mut op = json!({
        "operationId": m.name,
        "tags": [format!("{tag}:{}", m.section)],
        "summary": m.document.get("title").cloned().unwrap_or(json!(m.name)),
        "description": m.document.get("description").cloned().unwrap_or(json!("")),
        "parameters": params,
        "responses": responses,
    });
    if m.auth {
        op["security"] = json!([{"access_token": []}, {"bearer": []}]);
    }
    op
}

fn post_form(mut op: Value) -> Value {
    if let Some(id) = op["operationId"].as_str() {
        op["operationId"] = json!(format!("{id}.post"));
    }
    op
}

fn devino_operation(m: &MethodSpec) -> Value {
    json!({
        "operationId": m.name,
        "tags": ["devino"],
        "summary": m.document.get("title").cloned().unwrap_or(json!(m.name)),
        "description": m.document.get("description").cloned().unwrap_or(json!("")),
        "security": [{"devino_key": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": local(m, "/$defs/params")}}}},
        "responses": {
            "200": {"description": "Per-message results", "content": {"application/json": {"schema": {"$ref": local(m, "/$defs/response")}}}},
            "400": {"description": "Malformed request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/devino_errors"}}}},
            "401": {"description": "Missing or wrong Authorization", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/devino_errors"}}}}
        }
    })
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}
