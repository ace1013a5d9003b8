//! `execute` and stored procedures over HTTP: what vk-io, vk_api and
//! vkbottle send runs, failed inner calls become `false` plus
//! `execute_errors`, VKScript errors are 12/13, limits hold, captcha
//! propagates, and both error dialects wrap the errors.

use crate::common::{client, mock};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use vkconform::api::Profile;
use vkconform::mock::{MockConfig, MockServer, DEFAULT_TOKEN};

/// POSTs a form to `/method/{method}` with the default token (as vk-io does) and returns status and JSON body.
async fn post(m: &MockServer, method: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("access_token", DEFAULT_TOKEN), ("v", "5.199")];
    form.extend_from_slice(params);
    send(
        client()
            .post(format!("{}/method/{method}", m.uri()))
            .form(&form),
    )
    .await
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

async fn execute(m: &MockServer, code: &str) -> (u16, Value) {
    post(m, "execute", &[("code", code)]).await
}

#[tokio::test]
async fn vk_io_parallel_batch_of_three_calls_answers_each_in_order() {
    let m = mock(MockConfig::default()).await;
    let (status, body) = execute(&m, r#"return [API.users.get({"user_ids":1}),API.utils.getServerTime({}),API.users.get({"user_ids":2})];"#).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["response"];
    assert_eq!(r.as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(r[0][0]["id"], 1, "{body}");
    assert!(r[1].is_i64(), "{body}");
    assert_eq!(r[2][0]["id"], 2, "{body}");
    assert!(
        body.get("execute_errors").is_none(),
        "no failed call, no execute_errors: {body}"
    );

    // The same answer as the direct calls.
    let (_, direct) = post(&m, "utils.getServerTime", &[]).await;
    assert_eq!(r[1], direct["response"]);
}

#[tokio::test]
async fn a_failing_sub_call_is_false_in_place_and_listed_in_execute_errors_in_order() {
    let m = mock(MockConfig::default()).await;
    let code = r#"return [API.users.get({"user_ids":1}),API.wall.getById({}),API.utils.getServerTime({}),API.nosuch.method({"x":1})];"#;
    let (status, body) = execute(&m, code).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["response"];
    assert_eq!(r[0][0]["id"], 1, "{body}");
    assert_eq!(r[1], false, "{body}");
    assert!(r[2].is_i64(), "{body}");
    assert_eq!(r[3], false, "{body}");
    let errors = body["execute_errors"]
        .as_array()
        .unwrap_or_else(|| panic!("execute_errors: {body}"));
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(
        errors[0]["method"], "wall.getById",
        "the method as written: {body}"
    );
    assert_eq!(errors[0]["error_code"], 100);
    assert!(
        errors[0]["error_msg"].as_str().unwrap().contains("posts"),
        "{body}"
    );
    assert_eq!(
        errors[1],
        json!({"method": "nosuch.method", "error_code": 3, "error_msg": "Unknown method passed."})
    );
}

#[tokio::test]
async fn vk_api_while_loop_pool_runs() {
    let m = mock(MockConfig::default()).await;
    // requests_pool.py's vk_one_method, as vk_api minifies it.
    let code = r#"var values = [{"user_ids":1},{"user_ids":2},{"user_ids":3}], i = 0, result = []; while(i < values.length) { result.push(API.users.get(values[i])); i = i + 1; } return result;"#;
    let (status, body) = execute(&m, code).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<Value> = body["response"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|u| u[0]["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(1), json!(2), json!(3)], "{body}");
}

#[tokio::test]
async fn args_are_the_other_parameters_as_strings_and_code_may_come_in_the_query() {
    let m = mock(MockConfig::default()).await;
    // vk-io: api.execute({code, ids: [2, 3], n: 5}) → ids=2,3&n=5 in the form body.
    let code = "var users = API.users.get({user_ids: Args.ids});\nreturn {ids: users@.id, n: Args.n, sum: Args.n + 1, missing: Args.nope, token: Args.access_token};";
    let (status, body) = post(&m, "execute", &[("code", code), ("ids", "2,3"), ("n", "5")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["response"],
        json!({"ids": [2, 3], "n": "5", "sum": "51", "missing": null, "token": null}),
        "{body}"
    );

    // GET with everything in the query string.
    let url = format!("{}/method/execute", m.uri());
    let (status, body) = send(client().get(url).query(&[
        ("access_token", DEFAULT_TOKEN),
        ("code", "return Args.x * 2;"),
        ("x", "21"),
    ]))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], 42);
}

#[tokio::test]
async fn stored_procedures_run_with_the_call_parameters_as_args() {
    let m = mock(MockConfig::default()).await;
    let (_, time) = post(&m, "utils.getServerTime", &[]).await;
    let (status, body) = post(&m, "execute.serverTime", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], time["response"]);
    // OpenVK matches method names case-insensitively; so do procedure names.
    let (status, body) = post(&m, "execute.servertime", &[]).await;
    assert_eq!(
        (status, &body["response"]),
        (200, &time["response"]),
        "{body}"
    );

    let (status, body) = post(&m, "execute.getProfileAndFriends", &[("user_id", "2")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["profile"]["id"], 2, "{body}");
    assert!(body["response"]["friends"]["count"].is_i64(), "{body}");

    let (status, body) = post(&m, "execute.getFriendIds", &[]).await;
    assert_eq!(status, 200, "{body}");
    let ids = body["response"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(!ids.is_empty() && ids.iter().all(Value::is_i64), "{body}");
}

#[tokio::test]
async fn an_unknown_procedure_is_error_3() {
    let m = mock(MockConfig::default()).await;
    let (status, body) = post(&m, "execute.noSuchProcedure", &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], 3, "{body}");
    let (_, body) = post(&m, "execute.bad-name", &[]).await;
    assert_eq!(body["error_code"], 3, "{body}");
}

#[tokio::test]
async fn a_syntax_error_is_12_with_its_position() {
    let m = mock(MockConfig::default()).await;
    let (status, body) = execute(&m, "var a = [1, 2;\nreturn a;").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], 12, "{body}");
    let msg = body["error_msg"].as_str().unwrap();
    assert!(
        msg.starts_with("Syntax error at line 1, column 14"),
        "{msg}"
    );
    // The code is a secret-like parameter: it is not echoed back.
    assert!(!body.to_string().contains("var a"), "{body}");
}

#[tokio::test]
async fn a_runtime_error_is_13() {
    let m = mock(MockConfig::default()).await;
    let (status, body) = execute(&m, "var a = API.users.get({user_ids: 1});\nreturn b;").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], 13, "{body}");
    let msg = body["error_msg"].as_str().unwrap();
    assert!(
        msg.starts_with("Runtime error: unknown variable `b`") && msg.contains("line 2"),
        "{msg}"
    );
}

#[tokio::test]
async fn at_most_25_api_calls_per_execute() {
    let m = mock(MockConfig::default()).await;
    let calls = |n: usize| {
        format!(
            "return [{}];",
            vec!["API.utils.getServerTime()"; n].join(",")
        )
    };
    let (status, body) = execute(&m, &calls(25)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"].as_array().map(Vec::len), Some(25));
    let (status, body) = execute(&m, &calls(26)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], 13);
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("Too many API calls"),
        "{body}"
    );
    // In a loop too.
    let (_, body) = execute(
        &m,
        "var i = 0; while (i < 100) { API.utils.getServerTime(); i = i + 1; } return i;",
    )
    .await;
    assert_eq!(body["error_code"], 13, "{body}");
}

#[tokio::test]
async fn an_endless_loop_stops_quickly_with_13() {
    let m = mock(MockConfig::default()).await;
    let t = Instant::now();
    let (status, body) = execute(&m, "var i = 0; while (true) { i = i + 1; }").await;
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], 13);
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("too many loop iterations"),
        "{body}"
    );
    // The mock still answers afterwards.
    let (status, _) = execute(&m, "return 1;").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn execute_needs_a_token_and_code() {
    let m = mock(MockConfig::default()).await;
    let url = format!("{}/method/execute", m.uri());
    let (status, body) = send(
        client()
            .post(&url)
            .form(&[("code", "return API.users.get({user_ids: 1});")]),
    )
    .await;
    assert_eq!((status, &body["error_code"]), (400, &json!(5)), "{body}");
    let (_, body) = send(
        client()
            .post(format!("{url}.serverTime"))
            .form(&[("v", "5.199")]),
    )
    .await;
    assert_eq!(body["error_code"], 5, "{body}");
    let (_, body) = post(&m, "execute", &[]).await;
    assert_eq!(body["error_code"], 100, "{body}");
}

#[tokio::test]
async fn the_vk_profile_wraps_execute_errors_and_keeps_the_success_shape() {
    let m = mock(MockConfig {
        profile: Profile::Vk,
        ..Default::default()
    })
    .await;
    let (status, body) = execute(
        &m,
        "return [API.utils.getServerTime(), API.nosuch.method()];",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["response"][0].is_i64(), "{body}");
    assert_eq!(body["response"][1], false);
    assert_eq!(body["execute_errors"][0]["error_code"], 3, "{body}");

    for (code, want) in [("return [;", 12), ("return nope;", 13)] {
        let (status, body) = execute(&m, code).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["error"]["error_code"], want, "{body}");
        assert!(body["error"]["request_params"].is_array(), "{body}");
    }
    let (status, body) = post(&m, "execute.noSuchProcedure", &[]).await;
    assert_eq!(
        (status, &body["error"]["error_code"]),
        (200, &json!(3)),
        "{body}"
    );
}

#[tokio::test]
async fn a_captcha_on_an_inner_call_is_the_whole_answer_and_a_retry_passes() {
    let m = mock(MockConfig {
        captcha_every: Some(1),
        ..Default::default()
    })
    .await;
    let code = r#"return [API.utils.getServerTime(), API.status.set({"text": "from execute"})];"#;
    let (status, body) = execute(&m, code).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], 14, "{body}");
    let sid = body["captcha_sid"]
        .as_str()
        .unwrap_or_else(|| panic!("captcha_sid: {body}"))
        .to_string();
    assert!(
        body["captcha_img"]
            .as_str()
            .is_some_and(|u| u.contains(&sid)),
        "{body}"
    );

    // The documented answer: the sid's last four digits; vk_api/vkbottle resend the execute with both.
    let key = &sid[sid.len() - 4..];
    let (status, body) = post(
        &m,
        "execute",
        &[("code", code), ("captcha_sid", &sid), ("captcha_key", key)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["response"][0].is_i64(), "{body}");
    assert_ne!(body["response"][1], false, "{body}");
}

#[tokio::test]
async fn procedures_come_from_the_snapshots_directory_when_one_is_configured() {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let (src, dst) = (e.path(), to.join(e.file_name()));
            if src.is_dir() {
                copy(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&crate::common::root().join("snapshots"), dir.path());
    std::fs::write(
        dir.path().join("openvk/procedures/hello.vkscript"),
        "// execute.hello: greets Args.name.\nreturn \"hello, \" + Args.name;\n",
    )
    .unwrap();
    let m = mock(MockConfig {
        snapshots: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let (status, body) = post(&m, "execute.hello", &[("name", "vk")]).await;
    assert_eq!(
        (status, &body["response"]),
        (200, &json!("hello, vk")),
        "{body}"
    );
    let (status, body) = post(&m, "execute.serverTime", &[]).await;
    assert_eq!(
        status, 200,
        "the shipped procedures are in the copied directory too: {body}"
    );
}
