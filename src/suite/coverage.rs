//! Cases generated from the schema catalog (`generate: coverage` and
//! `generate: fuzz` in a suite file): for every documented method a
//! success-shape case, a no-token case for 🔰 methods (→ 5) and a
//! missing-parameter case for methods with required parameters (→ 100);
//! and fuzz cases for a sample of read methods.

use super::*;
use crate::schema::{Kind, MethodSpec, WireType};

/// The order generated cases run in: reads first, destructive writes last,
/// so the success case of `Notes.delete` does not remove the note `Notes.getById` reads.
fn phase(spec: &MethodSpec) -> u8 {
    let short = spec
        .name
        .split_once('.')
        .map(|(_, n)| n)
        .unwrap_or(&spec.name)
        .to_ascii_lowercase();
    if spec.kind == Kind::Read {
        0
    } else if short.starts_with("restore") {
        4
    } else if short.starts_with("delete") {
        3
    } else if short.starts_with("remove") || short.starts_with("close") || short == "leave" {
        2
    } else {
        1
    }
}

fn needs_token(spec: &MethodSpec) -> bool {
    spec.auth || spec.auth_real == Some(true)
}

/// Parameters one of which is needed (`anyOf: [{required: [a]}, {required: [b]}]`
/// in `$defs/params`): the first alternative's.
pub fn alternative_params(spec: &MethodSpec) -> Vec<String> {
    let params = &spec.document["$defs"]["params"];
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = params[key].as_array().and_then(|a| a.first()) {
            return first["required"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
        }
    }
    Vec::new()
}

/// Parameters of a success call: the first example of every required parameter
/// and of the first alternative of an `anyOf` (also under real-server aliases,
/// so both spellings are understood). `skip` leaves parameters out.
pub fn example_params(spec: &MethodSpec, skip: &[String]) -> (Vec<(String, Value)>, bool) {
    let mut out = Vec::new();
    let mut complete = true;
    let alternatives = alternative_params(spec);
    let needed = spec
        .params
        .iter()
        .filter(|p| p.required || alternatives.contains(&p.name));
    for p in needed {
        if skip.contains(&p.name) {
            continue;
        }
        match p.examples.first() {
            Some(v) => {
                out.push((p.name.clone(), v.clone()));
                for (real, doc) in &spec.aliases {
                    if doc == &p.name {
                        out.push((real.clone(), v.clone()));
                    }
                }
            }
            None => complete = false,
        }
    }
    (out, complete)
}

fn call_step(
    spec: &MethodSpec,
    params: Vec<(String, Value)>,
    token: TokenUse,
    outcome: Outcome,
) -> Step {
    Step {
        action: Action::Call(Call {
            method: spec.name.clone(),
            params,
            token,
            via: Via::Post,
            write: spec.kind == Kind::Write,
        }),
        expect: Expect {
            outcome,
            ..Expect::default()
        },
        capture: Vec::new(),
        line: 0,
    }
}

fn base_case(spec: &MethodSpec, file: &str, what: &str, title: String) -> Case {
    let kind = if spec.kind == Kind::Write {
        "write"
    } else {
        "read"
    };
    Case {
        id: format!("{}/{}/{what}", spec.api.as_str(), spec.name),
        api: spec.api,
        section: spec.section.clone(),
        title,
        severity: Severity::Must,
        tags: vec![kind.to_string(), "coverage".to_string()],
        cites: spec.citation(),
        requires: Vec::new(),
        steps: Vec::new(),
        fuzz: None,
        source: format!("{file} (generated from schemas/{})", spec.file),
    }
}

/// Per-method coverage cases for one API (OpenVK methods only; the other
/// APIs' endpoints are covered by their hand-written suites).
pub fn coverage_cases(catalog: &Catalog, api: Api, file: &str) -> Vec<Case> {
    if api != Api::Openvk {
        return Vec::new();
    }
    let mut specs: Vec<&MethodSpec> = catalog.methods(api).filter(|m| m.name != "token").collect();
    specs.sort_by(|a, b| phase(a).cmp(&phase(b)).then_with(|| a.name.cmp(&b.name)));
    let mut out = Vec::new();
    for spec in specs {
        let (params, complete) = example_params(spec, &[]);
        // Success shape.
        let mut c = base_case(
            spec,
            file,
            "success",
            format!(
                "{} answers a success response valid against its schema",
                spec.name
            ),
        );
        if spec.status == "not-implemented" {
            c.severity = Severity::Should;
        }
        if needs_token(spec) {
            c.requires.push(Requirement::Token);
            c.tags.push("auth".into());
        }
        c.steps.push(call_step(
            spec,
            params.clone(),
            TokenUse::Default,
            Outcome::Response { schema: true },
        ));
        out.push(c);
        // No token → 5.
        if spec.auth {
            let mut c = base_case(
                spec,
                file,
                "no-token",
                format!("{} without an access token answers error 5", spec.name),
            );
            c.tags.push("auth".into());
            if spec.auth_real == Some(false) {
                // The real server serves this method anonymously (openvk-behavior.md §6).
                c.severity = Severity::Should;
            }
            let codes = if complete { vec![5] } else { vec![5, 100] };
            c.steps.push(call_step(
                spec,
                params.clone(),
                TokenUse::None,
                Outcome::Error(codes),
            ));
            out.push(c);
        }
        // Missing required parameter (or every alternative of an anyOf) → 100.
        let missing: Vec<String> = match spec.required_params().next() {
            Some(first) => vec![first.name.clone()],
            None => {
                let params = &spec.document["$defs"]["params"];
                let alts = params["anyOf"]
                    .as_array()
                    .or(params["oneOf"].as_array())
                    .cloned()
                    .unwrap_or_default();
                alts.iter()
                    .flat_map(|a| a["required"].as_array().cloned().unwrap_or_default())
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            }
        };
        if !missing.is_empty() {
            let (params, _) = example_params(spec, &missing);
            let what = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(" or ");
            let mut c = base_case(
                spec,
                file,
                "missing-param",
                format!(
                    "{} without its required parameter {what} answers error 100",
                    spec.name
                ),
            );
            if needs_token(spec) {
                c.requires.push(Requirement::Token);
                c.tags.push("auth".into());
            }
            c.steps.push(call_step(
                spec,
                params,
                TokenUse::Default,
                Outcome::Error(vec![100]),
            ));
            out.push(c);
        }
    }
    out
}

fn fuzzable(spec: &MethodSpec) -> bool {
    spec.kind == Kind::Read
        && spec.status == "documented"
        && spec.params.iter().any(|p| {
            matches!(
                p.wire,
                WireType::Integer | WireType::Flag | WireType::Boolean | WireType::List(_)
            )
        })
}

/// Fuzz cases: the first fuzzable read method of every section (a fixed sample,
/// so every shard of a partitioned run sees the same cases).
pub fn fuzz_cases(catalog: &Catalog, api: Api, file: &str) -> Vec<Case> {
    if api != Api::Openvk {
        return Vec::new();
    }
    let mut specs: Vec<&MethodSpec> = catalog
        .methods(api)
        .filter(|m| m.name != "token" && fuzzable(m))
        .collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for spec in specs {
        if seen.contains(&spec.section) {
            continue;
        }
        seen.push(spec.section.clone());
        let mut c = base_case(spec, file, "fuzz", format!("{} answers wrong-typed and garbage parameters with a well-formed error (100) or a valid response", spec.name));
        c.tags = vec!["read".into(), "fuzz".into()];
        if needs_token(spec) {
            c.requires.push(Requirement::Token);
            c.tags.push("auth".into());
        }
        c.fuzz = Some(spec.name.clone());
        out.push(c);
    }
    out
}
