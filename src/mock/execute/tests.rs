//! The interpreter against a fake API: values, control flow, errors and limits.

use super::*;
use proptest::prelude::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// A fake API: `fail.*` answers error 100, `captcha.*` error 14, anything else echoes its method and parameters.
fn fake(method: &str, params: WireParams) -> Result<Value, ApiError> {
    if method.starts_with("fail.") {
        return Err(ApiError::new(
            100,
            "One of the parameters specified was missing or invalid",
        ));
    }
    if method.starts_with("captcha.") {
        return Err(ApiError::code(14)
            .with("captcha_sid", json!("123"))
            .with("captcha_img", json!("http://x/captcha.php?sid=123")));
    }
    let p: Map<String, Value> = params
        .pairs()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    Ok(json!({"method": method, "params": p}))
}

fn exec_with(src: &str, args: Value, limits: &Limits) -> Result<Outcome, ApiError> {
    let args = args.as_object().cloned().unwrap_or_default();
    run(src, args, limits, &mut fake)
}

fn exec(src: &str) -> Result<Outcome, ApiError> {
    exec_with(src, json!({}), &Limits::default())
}

fn value(src: &str) -> Value {
    match exec(src) {
        Ok(o) => o.response,
        Err(e) => panic!("{src}\n→ {} {}", e.code, e.msg),
    }
}

fn error(src: &str) -> ApiError {
    match exec(src) {
        Ok(o) => panic!("{src}\n→ expected an error, got {}", o.body()),
        Err(e) => e,
    }
}

#[test]
fn literals_of_every_kind() {
    assert_eq!(
        value(
            r#"return [1, -2, 2.5, -0.5, 1e3, 0x10, "a\"b", 'c\'d', "\u0416\n", true, false, null];"#
        ),
        json!([1, -2, 2.5, -0.5, 1000, 16, "a\"b", "c'd", "Ж\n", true, false, null])
    );
    assert_eq!(
        value(r#"return {a: 1, "b c": [2], 3: {d: null},};"#),
        json!({"a": 1, "b c": [2], "3": {"d": null}})
    );
    assert_eq!(value("return;"), Value::Null);
    assert_eq!(value("var a = 1"), Value::Null);
    assert_eq!(
        value("var a = 1; var a; var b; return [a, b];"),
        json!([1, null])
    );
}

#[test]
fn arithmetic_and_strings_follow_javascript() {
    assert_eq!(
        value("return [1 + 2 * 3, (1 + 2) * 3, 7 / 2, 6 / 3, 7 % 3, -7 % 3, 10 - 2 - 3];"),
        json!([7, 9, 3.5, 2, 1, -1, 5])
    );
    assert_eq!(
        value(
            r#"return ["a" + 1, 1 + "a", "x" + true + null, 1 + 2 + "3", [1, 2] + "", "5" * "2", "5" - 1];"#
        ),
        json!(["a1", "1a", "xtruenull", "33", "1,2", 10, 4])
    );
    assert_eq!(
        value("return 9007199254740993 + 0;"),
        json!(9007199254740993i64)
    );
    assert_eq!(
        value("return 9223372036854775807 + 1;"),
        json!(9223372036854775808.0)
    );
}

#[test]
fn comparisons_and_logic() {
    assert_eq!(
        value(
            r#"return [1 == "1", 1 === "1", 1 != 2, null == 0, null == null, true == 1, "b" > "a", 2 < 10, "2" < "10", 1 <= 1, [1] == [1], 0 || "x", 1 && 2, !0, !"", 1 > 2 ? "y" : "n"];"#
        ),
        json!([
            true, false, true, false, true, true, true, true, false, true, true, "x", 2, true,
            true, "n"
        ])
    );
}

#[test]
fn variables_members_indexes_and_methods() {
    let src = r#"
        var a = [1, 2, 3], o = {x: {y: [10, 20]}}, s = "a,b,c";
        a.push(4);
        a[4] = 5;
        o.x.y[1] = 21;
        o["z"] = o.x.y.length;
        o.x.w = a.pop();
        var i = 0;
        i++;
        ++i;
        i += 10;
        return [a, a.length, o, s.split(","), s.length, a.slice(1, -1), a.indexOf(3), a.join("-"), s.substr(2, 3), i, a[99], o.missing, o.x.y[-1], a.shift(), a, "abc"[1]];
    "#;
    assert_eq!(
        value(src),
        json!([[1, 2, 3, 4], 4, {"x": {"y": [10, 21], "w": 5}, "z": 2}, ["a", "b", "c"], 5, [2, 3], 2, "1-2-3-4", "b,c", 12, null, null, null, 1, [2, 3, 4], "b"])
    );
}

#[test]
fn what_vkbottle_vkscript_emits() {
    // @vkscript output: `var` re-declarations, `};` after blocks, `parseInt`,
    // `extend` as array `+`, `for` as a `while` over `.pop()`, `delete`, `**`.
    let src = "var a=[3,1,2];var b=a+[4];var c=0;var __iter_x__ = b;while(__iter_x__.length > 0){var v=__iter_x__.pop();c = c + v;};\
               if(c==10){var r=parseInt('42px')+parseDouble(' 1.5e1x');}else{var r=0;};var o={k:1,j:2};delete o.k;a.sort();\
               return [r, c, o, a, 2**3**2, 6&3, 6|3, 6^3, 1<<4, -16>>2, parseInt('x'), [3,1].reverse(), ['b','a',10].sort()];";
    assert_eq!(
        value(src),
        json!([57, 10, {"j": 2}, [1, 2, 3], 512, 2, 7, 5, 16, -4, null, [1, 3], [10, "a", "b"]])
    );
    assert_eq!(error("var a = 1; delete a;").code, 12);
}

#[test]
fn control_flow() {
    let src = "var i = 0, out = []; while (true) { i = i + 1; if (i % 2 == 0) continue; if (i > 7) break; out.push(i); } if (out.length == 4) { return out; } else return 0;";
    assert_eq!(value(src), json!([1, 3, 5, 7]));
    assert_eq!(value("var i = 0\nwhile (i < 3) i++\nreturn i"), json!(3));
    assert_eq!(
        value("var i = 0; while (1) { while (1) { return 'inner'; } }"),
        json!("inner")
    );
}

#[test]
fn api_calls_send_parameters_as_clients_do() {
    let out = exec_with(r#"return API.users.get({"user_ids": [1, 2], s: "x", n: 5, f: 1.5, b: true, c: false, o: {a: 1}, z: null, i: Args.ids});"#, json!({"ids": "7,8"}), &Limits::default()).unwrap();
    assert_eq!(out.response["method"], "users.get");
    assert_eq!(
        out.response["params"],
        json!({"user_ids": "1,2", "s": "x", "n": "5", "f": "1.5", "b": "1", "c": "0", "o": "{\"a\":1}", "i": "7,8"})
    );
    assert_eq!(
        value("return API.Utils.GetServerTime().method;"),
        json!("Utils.GetServerTime")
    );
    assert_eq!(
        value("return API.utils.getServerTime(null).method;"),
        json!("utils.getServerTime")
    );
}

#[test]
fn failed_calls_leave_false_and_are_listed_in_order() {
    let out = exec("return [API.a.b({}), API.fail.one({}), API.c.d(), API.fail.two()];").unwrap();
    assert_eq!(out.response[1], json!(false));
    assert_eq!(out.response[3], json!(false));
    assert_eq!(out.response[2]["method"], "c.d");
    let body = out.body();
    assert_eq!(
        body["execute_errors"],
        json!([
            {"method": "fail.one", "error_code": 100, "error_msg": "One of the parameters specified was missing or invalid"},
            {"method": "fail.two", "error_code": 100, "error_msg": "One of the parameters specified was missing or invalid"}
        ])
    );
    assert!(exec("return 1;")
        .unwrap()
        .body()
        .get("execute_errors")
        .is_none());
    // Reading through a failed call's false is null, not an error.
    assert_eq!(
        value("var r = API.fail.x(); return [r.items, r[0], r@.id, r.items.length];"),
        json!([null, null, null, null])
    );
}

#[test]
fn captcha_ends_the_whole_execute() {
    let e = error("var a = API.users.get(); var b = API.captcha.needed({}); return [a, b];");
    assert_eq!(e.code, 14);
    assert_eq!(e.extra["captcha_sid"], "123");
    assert!(e.extra.contains_key("captcha_img"));
}

#[test]
fn at_dot_maps_a_collection() {
    let src = r#"var list = [{id: 1, n: "a"}, {id: 2}, 5]; return [list@.id, list@.n, API.users.get({})@.method];"#;
    assert_eq!(value(src), json!([[1, 2, null], ["a", null, null], null]));
}

#[test]
fn vk_api_pool_runs() {
    let src = r#"var values = [{"user_ids":1},{"user_ids":2},{"user_ids":3}], i = 0, result = []; while(i < values.length) { result.push(API.users.get(values[i])); i = i + 1; } return result;"#;
    let v = value(src);
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[2]["params"]["user_ids"], "3");
}

#[test]
fn syntax_errors_are_12_with_a_position() {
    let e = error("var a = 1;\nreturn a +;");
    assert_eq!(e.code, 12);
    assert_eq!(
        e.msg,
        "Syntax error at line 2, column 11: expected an expression but found `;`"
    );
    assert_eq!(error("return 'abc").code, 12);
    assert_eq!(error(&"x".repeat(70 * 1024)).code, 12);
}

#[test]
fn runtime_errors_are_13_with_a_position() {
    for (src, needle) in [
        ("return nope;", "unknown variable `nope`"),
        ("var a = [1]; a[\"x\"] = 1;", "bad index"),
        ("var a = [1]; return a[[0]];", "bad index"),
        ("return 1 / 0;", "division by zero"),
        ("return [1] < [2];", "Comparing values"),
        ("var a = 1; a.push(2);", "needs an array"),
        (
            "var a = 'x'; return a.frobnicate();",
            "not a VKScript method",
        ),
        ("return API.users.get(5);", "takes an object"),
        ("var a = {}; a.b.c = 1;", "cannot change `a.b`"),
        ("var a = 5; a.b = 1;", "cannot set `a.b`"),
        ("return -[1];", "needs numbers"),
    ] {
        let e = error(src);
        assert_eq!(e.code, 13, "{src}: {}", e.msg);
        assert!(
            e.msg.starts_with("Runtime error: ")
                && e.msg.contains(needle)
                && e.msg.contains("(line 1, column "),
            "{src}: {}",
            e.msg
        );
    }
}

#[test]
fn limits_are_runtime_errors() {
    let calls = format!("return [{}];", vec!["API.a.b()"; 26].join(","));
    let e = error(&calls);
    assert_eq!(e.code, 13);
    assert!(e.msg.contains("Too many API calls"), "{}", e.msg);
    assert_eq!(
        value(&format!("return [{}];", vec!["API.a.b()"; 25].join(",")))
            .as_array()
            .unwrap()
            .len(),
        25
    );

    let t = Instant::now();
    let e = error("var i = 0; while (true) { i = i + 1; }");
    assert!(e.msg.contains("too many loop iterations"), "{}", e.msg);
    assert!(t.elapsed() < Duration::from_secs(5));

    // Exponential growth is stopped by the data budget.
    let e = error(
        "var s = 'xxxxxxxxxxxxxxxx', i = 0; while (i < 100) { s = s + s; i = i + 1; } return s;",
    );
    assert!(e.msg.contains("too much data"), "{}", e.msg);
    let e =
        error("var a = [1], i = 0; while (i < 100) { a.push(a); a.push(a); i = i + 1; } return a;");
    assert!(
        e.msg.contains("too much data") || e.msg.contains("nested too deeply"),
        "{}",
        e.msg
    );
    let e = error("var a = [], i = 0; while (i < 100) { a = [a]; i = i + 1; } return a;");
    assert!(e.msg.contains("nested too deeply"), "{}", e.msg);

    let small = Limits {
        max_steps: 1_000,
        ..Limits::default()
    };
    let e = exec_with(
        "var i = 0; while (i < 5000) { i = i + 1; }",
        json!({}),
        &small,
    )
    .unwrap_err();
    assert!(e.msg.contains("runs too long"), "{}", e.msg);
}

#[test]
fn the_deepest_allowed_code_runs_on_a_small_stack() {
    // Tokio workers and test threads have 2 MiB stacks; the caps must fit in them (debug builds included).
    let chain = format!("return 1{};", " + 1".repeat(MAX_EXPR_DEPTH as usize - 2));
    let members = format!(
        "var a = {{}}; return a{};",
        ".b".repeat(MAX_EXPR_DEPTH as usize - 2)
    );
    let parens = format!(
        "return {}1{};",
        "(".repeat(MAX_NESTING - 2),
        ")".repeat(MAX_NESTING - 2)
    );
    let blocks = format!(
        "{} return 1; {}",
        "if (1) {".repeat(MAX_NESTING - 2),
        "}".repeat(MAX_NESTING - 2)
    );
    let arrays = format!(
        "return {}1{};",
        "[".repeat(MAX_NESTING - 2),
        "]".repeat(MAX_NESTING - 2)
    );
    let unary =
        format!("return {}1;", "-(".repeat(MAX_NESTING / 2 - 2)) + &")".repeat(MAX_NESTING / 2 - 2);
    let methods = format!(
        "var a = [1]; return {}0{};",
        "a.slice(".repeat(MAX_NESTING - 4),
        ")".repeat(MAX_NESTING - 4)
    );
    let api = format!("return {}1{};", "API.a.b({x: ".repeat(20), "})".repeat(20));
    let ternary = format!(
        "return {}1{};",
        "1 ? ".repeat(MAX_NESTING - 4),
        " : 0".repeat(MAX_NESTING - 4)
    );
    let assigns = format!("var a; return {}1;", "a = ".repeat(MAX_NESTING - 4));
    let right = format!(
        "return {}1{};",
        "1 + (".repeat(MAX_NESTING - 4),
        ")".repeat(MAX_NESTING - 4)
    );
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            for src in [
                chain, members, parens, blocks, arrays, unary, methods, api, ternary, assigns,
                right,
            ] {
                let r = exec(&src);
                assert!(
                    r.is_ok() || r.as_ref().is_err_and(|e| e.code == 12 || e.code == 13),
                    "{src}: {r:?}"
                );
            }
        })
        .unwrap();
    handle.join().expect("no stack overflow");
}

#[test]
fn shipped_procedures_parse() {
    let all = embedded_procedures();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    for want in ["getFriendIds", "getProfileAndFriends", "serverTime"] {
        assert!(names.contains(&want), "{names:?}");
    }
    for (name, src) in &all {
        assert!(
            src.starts_with("// execute."),
            "{name} starts with a comment documenting it"
        );
        parse(src).unwrap_or_else(|e| panic!("{name}: {}", e.render(src)));
    }
}

fn script() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(vec![
            "var",
            "a",
            "b",
            "=",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            ",",
            ";",
            ".",
            "@.",
            "API.users.get",
            "API.fail.x",
            "while",
            "if",
            "else",
            "return",
            "1",
            "0",
            "-1",
            "'s'",
            "+",
            "-",
            "*",
            "/",
            "%",
            "!",
            "?",
            ":",
            "==",
            "<",
            "&&",
            "||",
            "\n",
            "++",
            "break",
            "continue",
            "push",
            "length",
            "true",
            "null",
            "Args.x",
            "a.push(a)",
            "a = a + a",
            "var a = [1]",
            "while (1) {",
        ]),
        0..120,
    )
    .prop_map(|p| p.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_finishes_quickly(src in "\\PC{0,300}") {
        let t = Instant::now();
        let _ = exec(&src);
        prop_assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn arbitrary_scripts_never_panic_and_finish_quickly(src in script()) {
        let t = Instant::now();
        let r = exec(&src);
        if let Err(e) = &r {
            prop_assert!(e.code == 12 || e.code == 13, "{}: {}", e.code, e.msg);
        }
        prop_assert!(t.elapsed() < Duration::from_secs(2), "{src}");
    }
}
