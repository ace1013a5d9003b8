//! The OpenVK mock, driven over HTTP: every method answers, auth and
//! parameter errors come in the right dialect, `/token` behaves, wire
//! details real clients rely on work, and bad input never hurts it.

use crate::common::{client, mock, spawn_mock};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::OnceLock;
use vkconform::api::{Api, Profile};
use vkconform::mock::{
    MockConfig, DEFAULT_2FA_LOGIN, DEFAULT_2FA_SECRET, DEFAULT_LOGIN, DEFAULT_PASSWORD,
    DEFAULT_TOKEN,
};
use vkconform::schema::Catalog;

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::embedded().expect("catalog"))
}

/// A typed example as it travels on the wire.
fn wire(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => (*b as i32).to_string(),
        Value::Array(a) => a.iter().map(wire).collect::<Vec<_>>().join(","),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn required_examples(m: &vkconform::schema::MethodSpec) -> Vec<(String, String)> {
    m.required_params()
        .map(|p| {
            (
                p.name.clone(),
                wire(
                    p.examples
                        .first()
                        .unwrap_or_else(|| panic!("{}.{} has examples", m.name, p.name)),
                ),
            )
        })
        .collect()
}

/// Satisfies `anyOf`/`oneOf` required alternatives too (e.g. Groups.getById's groups_id | group_id).
fn call_params(m: &vkconform::schema::MethodSpec) -> Vec<(String, String)> {
    let mut params = required_examples(m);
    let p = &m.document["$defs"]["params"];
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = p[key].as_array() {
            if let Some(first) = alts.iter().find_map(|a| a["required"].as_array()) {
                for name in first.iter().filter_map(Value::as_str) {
                    if !params.iter().any(|(k, _)| k == name) {
                        let ex = m
                            .param(name)
                            .and_then(|x| x.examples.first())
                            .map(wire)
                            .unwrap_or_else(|| "1".into());
                        params.push((name.to_string(), ex));
                    }
                }
            }
        }
    }
    params
}

async fn get(url: &str, params: &[(String, String)]) -> (u16, Value) {
    let r = client()
        .get(url)
        .query(params)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}")),
    )
}

#[tokio::test]
async fn every_method_answers_a_schema_valid_response_with_a_token() {
    let m = spawn_mock(&[]);
    let mut failures = Vec::new();
    // One mock serves every call, so destructive methods go last (whole objects last of all).
    let rank = |name: &str| {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".delete") || n.ends_with("deletealbum") || n.ends_with("deletetopic") {
            2
        } else if n.contains("delete") || n.contains("remove") || n.contains("close") {
            1
        } else {
            0
        }
    };
    let mut specs: Vec<_> = catalog()
        .methods(Api::Openvk)
        .filter(|s| s.name != "token")
        .collect();
    specs.sort_by_key(|s| rank(&s.name));
    for spec in specs {
        let mut params = call_params(spec);
        params.push(("access_token".into(), DEFAULT_TOKEN.into()));
        let (status, body) = get(&format!("{}/method/{}", m.url, spec.name), &params).await;
        match body.get("response") {
            Some(r) if status == 200 => {
                if let Err(v) = spec.validate_response(r) {
                    failures.push(format!("{}: response invalid: {}", spec.name, v[0]));
                }
            }
            _ => failures.push(format!("{}: HTTP {status} {body}", spec.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} methods failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn without_a_token_exactly_the_marked_methods_answer_5() {
    let m = spawn_mock(&[]);
    let mut wrong = Vec::new();
    for spec in catalog().methods(Api::Openvk).filter(|s| s.name != "token") {
        let params = call_params(spec);
        let (status, body) = get(&format!("{}/method/{}", m.url, spec.name), &params).await;
        let code = body["error_code"].as_i64();
        if spec.auth {
            if code != Some(5) || status != 400 {
                wrong.push(format!(
                    "{} (🔰): expected 5/400, got {status} {body}",
                    spec.name
                ));
            }
        } else if code.is_some() || body.get("response").is_none() {
            wrong.push(format!(
                "{} (no 🔰): expected a response, got {status} {body}",
                spec.name
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn missing_required_parameters_answer_100_naming_the_parameter() {
    let m = spawn_mock(&[]);
    let mut n = 0;
    for spec in catalog().methods(Api::Openvk).filter(|s| s.name != "token") {
        let required: Vec<_> = spec.required_params().map(|p| p.name.clone()).collect();
        if required.is_empty() {
            continue;
        }
        n += 1;
        let (status, body) = get(
            &format!("{}/method/{}", m.url, spec.name),
            &[("access_token".into(), DEFAULT_TOKEN.into())],
        )
        .await;
        assert_eq!(
            (status, body["error_code"].as_i64()),
            (400, Some(100)),
            "{}: {body}",
            spec.name
        );
        let msg = body["error_msg"].as_str().unwrap();
        assert!(
            required.iter().any(|r| msg.contains(r.as_str())),
            "{}: `{msg}` names a parameter",
            spec.name
        );
    }
    assert!(n > 40, "only {n} methods have required parameters");
}

#[tokio::test]
async fn a_wrong_type_answers_100_and_unknown_methods_answer_3() {
    let m = spawn_mock(&[]);
    let (s, b) = get(
        &format!("{}/method/Likes.add", m.url),
        &[
            ("access_token".into(), DEFAULT_TOKEN.into()),
            ("type".into(), "post".into()),
            ("owner_id".into(), "abc".into()),
            ("item_id".into(), "1".into()),
        ],
    )
    .await;
    assert_eq!((s, b["error_code"].as_i64()), (400, Some(100)), "{b}");
    assert!(b["error_msg"].as_str().unwrap().contains("owner_id"));
    let (s, b) = get(
        &format!("{}/method/Foo.bar", m.url),
        &[("x".into(), "1".into())],
    )
    .await;
    assert_eq!((s, b["error_code"].as_i64()), (400, Some(3)));
    assert_eq!(
        b["request_params"],
        json!([{"key": "x", "value": "1"}, {"key": "method", "value": "Foo.bar"}, {"key": "oauth", "value": 1}])
    );
}

#[tokio::test]
async fn the_vk_profile_wraps_errors_with_http_200() {
    let m = spawn_mock(&["--profile", "vk"]);
    let (s, b) = get(&format!("{}/method/account.getProfileInfo", m.url), &[]).await;
    assert_eq!(s, 200);
    assert_eq!(b["error"]["error_code"], 5);
    assert!(b["error"]["request_params"].is_array());
    assert!(b.get("error_code").is_none());
}

#[tokio::test]
async fn secrets_are_never_echoed_in_request_params() {
    let m = spawn_mock(&[]);
    let (_, b) = get(
        &format!("{}/method/Foo.bar", m.url),
        &[("access_token".into(), "sekrit-token".into())],
    )
    .await;
    assert!(!b.to_string().contains("sekrit-token"));
    let (_, b) = get(
        &format!("{}/token", m.url),
        &[
            ("grant_type".into(), "password".into()),
            ("username".into(), "u".into()),
            ("password".into(), "agreatpassword".into()),
        ],
    )
    .await;
    assert_eq!(b["error_code"], 28);
    assert!(!b.to_string().contains("agreatpassword"));
}

#[tokio::test]
async fn token_endpoint_success_and_every_failure() {
    let m = spawn_mock(&[
        "--account",
        "alice:pw1",
        "--account",
        "bob:pw2:GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    ]);
    let url = format!("{}/token", m.url);
    let p = |u: &str, pw: &str| {
        vec![
            ("grant_type".to_string(), "password".to_string()),
            ("username".into(), u.into()),
            ("password".into(), pw.into()),
        ]
    };
    let (s, b) = get(&url, &p("alice", "pw1")).await;
    assert_eq!(s, 200, "{b}");
    catalog()
        .validate("openvk/token.json#/$defs/response", &b)
        .expect("success body per schema");
    let token = b["access_token"].as_str().unwrap().to_string();
    let (_, me) = get(
        &format!("{}/method/Account.getProfileInfo", m.url),
        &[("access_token".into(), token.clone())],
    )
    .await;
    assert_eq!(me["response"]["id"], 1);
    // POST form works too, with the token in Authorization: Bearer afterwards.
    let r = client()
        .post(&url)
        .form(&p(DEFAULT_LOGIN, DEFAULT_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .get(format!("{}/method/Account.getProfileInfo", m.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["response"]["id"], 1);

    let (s, b) = get(&url, &p("alice", "wrong")).await;
    assert_eq!((s, b["error_code"].as_i64()), (400, Some(28)));
    let (_, b) = get(&url, &p("nobody", "pw1")).await;
    assert_eq!(b["error_code"], 28);
    let (_, b) = get(
        &url,
        &[
            ("grant_type".into(), "client_credentials".into()),
            ("username".into(), "alice".into()),
            ("password".into(), "pw1".into()),
        ],
    )
    .await;
    assert_eq!(b["error_code"], 7);
    let (_, b) = get(
        &url,
        &[
            ("grant_type".into(), "password".into()),
            ("username".into(), "alice".into()),
        ],
    )
    .await;
    assert_eq!(b["error_code"], 100);
    assert_eq!(
        b["request_params"].as_array().unwrap().last().unwrap(),
        &json!({"key": "oauth", "value": 1})
    );
    assert!(b["request_params"]
        .as_array()
        .unwrap()
        .iter()
        .any(|kv| kv == &json!({"key": "method", "value": "internal.acquireToken"})));

    // 2FA: no code → 401 need_validation; wrong code → 28; right code → token.
    let (s, b) = get(&url, &p("bob", "pw2")).await;
    assert_eq!(s, 401);
    catalog()
        .validate("openvk/token.json#/$defs/need_validation", &b)
        .expect("2FA-needed body per schema");
    assert!(
        !b.to_string().contains("pw2"),
        "the 2FA answer must not leak the password"
    );
    let mut wrong = p("bob", "pw2");
    wrong.push(("code".into(), "000000".into()));
    let code = vkconform::mock::token::totp_now("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 0).unwrap();
    if code != "000000" {
        let (_, b) = get(&url, &wrong).await;
        assert_eq!(b["error_code"], 28);
        assert_eq!(b["error_msg"], "Invalid 2FA code");
    }
    let mut right = p("bob", "pw2");
    right.push(("code".into(), code));
    let (s, b) = get(&url, &right).await;
    assert_eq!(s, 200, "{b}");
    // The documented default 2FA account.
    let mut d = p(DEFAULT_2FA_LOGIN, DEFAULT_PASSWORD);
    d.push((
        "code".into(),
        vkconform::mock::token::totp_now(DEFAULT_2FA_SECRET, 0).unwrap(),
    ));
    let (s, b) = get(&url, &d).await;
    assert_eq!((s, b["user_id"].as_i64()), (200, Some(2)));
}

#[tokio::test]
async fn wire_details_real_clients_rely_on() {
    let m = mock(MockConfig::default()).await;
    let c = client();
    // Lower-case method names, POST form merged with the query string, token in the query.
    let r: Value = c
        .post(format!(
            "{}/method/users.get?access_token={DEFAULT_TOKEN}&v=5.199&lang=en",
            m.uri()
        ))
        .form(&[("user_ids", "2,3"), ("fields", "sex")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users = r["response"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        users
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert!(users[0].get("sex").is_some());
    // Repeated keys (vk_api's raw calls) and True/False flags.
    let r: Value = c
        .get(format!(
            "{}/method/USERS.GET?user_ids=2&user_ids=3",
            m.uri()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["response"].as_array().map(Vec::len), Some(2), "{r}");
    for flag in ["1", "true", "True", "0", "false", "False"] {
        let r: Value = c
            .get(format!(
                "{}/method/Wall.get?access_token={DEFAULT_TOKEN}&owner_id=1&extended={flag}",
                m.uri()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r.get("response").is_some(), "extended={flag}: {r}");
    }
    // count/offset are honoured on collections.
    let all: Value = c
        .get(format!(
            "{}/method/Wall.get?access_token={DEFAULT_TOKEN}&owner_id=1",
            m.uri()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page: Value = c
        .get(format!(
            "{}/method/Wall.get?access_token={DEFAULT_TOKEN}&owner_id=1&count=1&offset=1",
            m.uri()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["response"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        page["response"]["items"][0]["id"],
        all["response"]["items"][1]["id"]
    );
    assert_eq!(page["response"]["count"], all["response"]["count"]);
    m.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_server_keeps_serving() {
    let m = mock(MockConfig {
        max_body: 64 * 1024,
        ..MockConfig::default()
    })
    .await;
    let c = client();
    // Invalid UTF-8 in the body and in the query.
    let r = c
        .post(format!("{}/method/users.get", m.uri()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0xc3])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().as_u16() == 400);
    let _: Value = r.json().await.expect("JSON even for garbage");
    let r = c
        .get(format!("{}/method/users.get?user_ids=%ff%fe", m.uri()))
        .send()
        .await
        .unwrap();
    let _: Value = r.json().await.expect("JSON");
    // Oversized body: a limit and an error, not memory growth.
    let r = c
        .post(format!("{}/method/users.get", m.uri()))
        .body(vec![b'a'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let b: Value = r.json().await.unwrap();
    assert!(b["error_msg"].as_str().unwrap().contains("too large"));
    // Malformed JSON body is ignored like the real server does (params come from query/form).
    let r = c
        .post(format!("{}/method/utils.getServerTime", m.uri()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Unknown paths.
    let r = c
        .get(format!("{}/nothing/here", m.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error_code"], 3);
    // Many concurrent clients.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = c.clone();
        let url = format!("{}/method/users.get?user_ids={}", m.uri(), 1 + i % 3);
        tasks.push(tokio::spawn(async move {
            c.get(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    let r: Value = c
        .get(format!("{}/method/utils.getServerTime", m.uri()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["response"].is_i64());
    m.shutdown().await;
}

#[tokio::test]
async fn the_first_line_is_the_listen_address_and_sigterm_stops_it() {
    let mut m = spawn_mock(&[]);
    assert!(m.url.starts_with("http://127.0.0.1:"));
    let pid = m.child.id();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = m.child.try_wait().unwrap() {
            assert!(status.success(), "clean exit on SIGTERM: {status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mock did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn every_recording_validates_against_its_schema() {
    let cat = Catalog::load_dir(&crate::common::root().join("schemas")).unwrap();
    let recs =
        vkconform::mock::Recordings::load_dir(&cat, &crate::common::root().join("snapshots"))
            .unwrap_or_else(|e| panic!("{e}"));
    let token_shape = regex::Regex::new(r"\d+-([0-9a-f]{8}-){9}jill").unwrap();
    let mut n = 0;
    for file in recs.files() {
        let text =
            std::fs::read_to_string(crate::common::root().join("snapshots").join(file)).unwrap();
        let f: vkconform::mock::RecordingFile = serde_json::from_str(&text).unwrap();
        let spec = cat.method(f.api, &f.method).unwrap();
        for r in &f.recordings {
            if let Some(resp) = &r.response {
                spec.validate_response(resp)
                    .unwrap_or_else(|v| panic!("{file} `{}`: {}", r.id, v[0]));
                n += 1;
            }
        }
        // No token-shaped secret in a recording.
        assert!(
            !text.contains(DEFAULT_TOKEN) && !token_shape.is_match(&text),
            "{file} contains a token"
        );
    }
    assert_eq!(
        recs.files()
            .iter()
            .filter(|f| f.starts_with("openvk/"))
            .count(),
        130,
        "one recording file per OpenVK method"
    );
    assert!(n >= 130);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    /// Arbitrary parameters, bodies and headers get well-formed VK errors or valid responses.
    #[test]
    fn arbitrary_requests_get_well_formed_answers(
        method in prop::sample::select(vec!["users.get", "Wall.get", "Likes.add", "messages.send", "Friends.areFriends", "notes.get", "nope.nope", "execute", "photos.getAlbums", "Polls.getById"]),
        params in prop::collection::vec(("[a-z_]{1,12}", ".{0,30}"), 0..6),
        body in prop::collection::vec(any::<u8>(), 0..300),
        with_token in any::<bool>(),
        vk in any::<bool>(),
        header_value in "[ -~]{0,40}",
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let profile = if vk { Profile::Vk } else { Profile::Openvk };
            let m = mock(MockConfig { profile, ..MockConfig::default() }).await;
            let mut url = reqwest::Url::parse(&format!("{}/method/{method}", m.uri())).unwrap();
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in &params { q.append_pair(k, v); }
                if with_token { q.append_pair("access_token", DEFAULT_TOKEN); }
            }
            let r = tokio::time::timeout(std::time::Duration::from_secs(10), client().post(url).header("content-type", "application/x-www-form-urlencoded").header("x-anything", header_value.as_str()).body(body.clone()).send()).await;
            let r = r.expect("no hang").expect("an answer");
            let status = r.status().as_u16();
            let v: Value = r.json().await.expect("always JSON");
            let ok = if let Some(resp) = v.get("response") {
                let spec = catalog().method(Api::Openvk, method);
                status == 200 && spec.is_none_or(|s| s.response_valid(resp))
            } else if vk {
                status == 200 && v["error"]["error_code"].is_i64() && v["error"]["error_msg"].is_string()
            } else {
                status == 400 && v["error_code"].is_i64() && v["error_msg"].is_string() && v["request_params"].is_array()
            };
            m.shutdown().await;
            prop_assert!(ok, "{method} → {status} {v}");
            Ok(())
        })?;
    }
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> Value {
    client()
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn captcha_challenges_are_solved_with_sid_and_key_and_images_are_single_use() {
    let m = mock(MockConfig {
        captcha_every: Some(1),
        profile: Profile::Vk,
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}/method/status.set", m.uri());
    let base = [("access_token", DEFAULT_TOKEN), ("text", "hi")];
    let b = post_form(&url, &base).await;
    assert_eq!(b["error"]["error_code"], 14, "{b}");
    let sid = b["error"]["captcha_sid"].as_str().unwrap().to_string();
    let img = b["error"]["captcha_img"].as_str().unwrap().to_string();
    assert!(
        b["error"].get("redirect_uri").is_none(),
        "no redirect_uri unless the success_token flow is on"
    );
    let svg = client()
        .get(&img)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer = &sid[sid.len() - 4..];
    assert!(
        svg.contains(answer),
        "the first image shows the documented answer"
    );
    // A second load makes a new captcha: the old answer no longer works.
    let svg2 = client()
        .get(&img)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!svg2.contains(&format!(">{answer}<")));
    let b = post_form(
        &url,
        &[
            base[0],
            base[1],
            ("captcha_sid", &sid),
            ("captcha_key", answer),
        ],
    )
    .await;
    assert_eq!(b["error"]["error_code"], 14, "stale answer refused: {b}");
    let sid = b["error"]["captcha_sid"].as_str().unwrap().to_string();
    let key = sid[sid.len() - 4..].to_string();
    let b = post_form(
        &url,
        &[
            base[0],
            base[1],
            ("captcha_sid", &sid),
            ("captcha_key", &key),
        ],
    )
    .await;
    assert_eq!(b["response"], 1, "{b}");
    m.shutdown().await;
}

#[tokio::test]
async fn captcha_redirect_mode_hands_out_a_success_token() {
    let m = mock(MockConfig {
        captcha_every: Some(1),
        captcha_redirect: true,
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}/method/status.set", m.uri());
    let b = post_form(&url, &[("access_token", DEFAULT_TOKEN), ("text", "hi")]).await;
    let redirect = b["redirect_uri"]
        .as_str()
        .unwrap_or_else(|| panic!("{b}"))
        .to_string();
    let page: Value = client()
        .get(&redirect)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = page["success_token"].as_str().unwrap().to_string();
    let b = post_form(
        &url,
        &[
            ("access_token", DEFAULT_TOKEN),
            ("text", "hi"),
            ("success_token", &token),
        ],
    )
    .await;
    assert_eq!(b["response"], 1, "{b}");
    m.shutdown().await;
}

#[tokio::test]
async fn rate_and_write_limits_and_forced_errors() {
    let m = mock(MockConfig {
        rate_limit: Some(2),
        ..MockConfig::default()
    })
    .await;
    let url = format!(
        "{}/method/utils.getServerTime?access_token=rl-token",
        m.uri()
    );
    let mut codes = Vec::new();
    for _ in 0..4 {
        let b: Value = client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        codes.push(b["error_code"].as_i64());
    }
    assert!(
        codes.contains(&Some(6)),
        "more than 2 calls a second answer 6: {codes:?}"
    );
    m.shutdown().await;

    let m = mock(MockConfig {
        write_limit: Some(1),
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}/method/status.set", m.uri());
    let first = post_form(&url, &[("access_token", DEFAULT_TOKEN), ("text", "a")]).await;
    let second = post_form(&url, &[("access_token", DEFAULT_TOKEN), ("text", "b")]).await;
    assert_eq!(first["response"], 1);
    assert_eq!(second["error_code"], 29, "{second}");
    let forced: Value = client()
        .get(format!("{}/method/users.get", m.uri()))
        .header("x-vkconform-force-error", "14")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(forced["error_code"], 14);
    assert!(forced["captcha_sid"].is_string() && forced["captcha_img"].is_string());
    m.shutdown().await;
}
