//! `/method/*`: the OpenVK (and VK-dialect) method dispatcher.
//!
//! Order of checks for one call: unknown method → 3; 🔰 without a valid
//! token → 5 (VK's order; a real OpenVK binds parameters first, see
//! README "Decisions"); parameters coerced and validated → 100; captcha and
//! write limits for writes; then the stateful world, then the recordings.
//! With `--profile vk` the VK dialect ([`super::vk_ext`]) also applies: every
//! method needs a token, VK's extra methods and defaults, VK's answer shapes.

use super::recordings::shape;
use super::state::MockState;
use crate::api::Api;
use crate::schema::Kind;
use crate::vk::{codes, error_body, request_params, ApiError, WireParams};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Who is calling, with what.
#[derive(Debug, Clone)]
pub struct CallCtx {
    /// The token's user, if a valid token came.
    pub user: Option<i64>,
    /// Client address (for OpenVK's per-IP write limiter).
    pub ip: IpAddr,
    /// The `v` parameter.
    pub version: Option<String>,
}

/// A request read off the wire: its parameters and who sent it.
pub(crate) struct Incoming {
    pub wire: WireParams,
    pub ctx: CallCtx,
    pub headers: HeaderMap,
}

/// Reads query + body of a request into [`Incoming`]; `Err` is a ready answer (body too large).
pub(crate) async fn read_request(st: &MockState, req: Request) -> Result<Incoming, Response> {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let query = req.uri().query().map(str::to_string);
    let headers = req.headers().clone();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(true);
    let body = match axum::body::to_bytes(req.into_body(), st.config.max_body).await {
        Ok(b) => b,
        Err(_) => {
            let err = ApiError::new(
                codes::PARAM,
                format!(
                    "Request body too large: the limit is {} bytes",
                    st.config.max_body
                ),
            );
            let (_, body) = error_body(st.config.profile, &err, vec![]);
            return Err(json_response(StatusCode::PAYLOAD_TOO_LARGE, &body));
        }
    };
    let wire = WireParams::parse(
        query.as_deref(),
        if is_form && !body.is_empty() {
            Some(&body)
        } else {
            None
        },
    );
    let token = wire.get("access_token").map(str::to_string).or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_string())
    });
    let user = token.as_deref().and_then(|t| st.user_for_token(t));
    let version = wire.get("v").map(str::to_string);
    Ok(Incoming {
        wire,
        ctx: CallCtx { user, ip, version },
        headers,
    })
}

/// `GET|POST /method/{name}`.
pub(super) async fn method(
    State(st): State<Arc<MockState>>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let inc = match read_request(&st, req).await {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let profile = st.config.profile;
    let fail = |err: ApiError| {
        let (status, body) = error_body(profile, &err, request_params(profile, &inc.wire, &name));
        json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            &body,
        )
    };
    if let Some(code) = inc
        .headers
        .get("x-vkconform-force-error")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
    {
        return fail(forced_error(&st, code));
    }
    let client = inc
        .wire
        .get("access_token")
        .map(str::to_string)
        .unwrap_or_else(|| inc.ctx.ip.to_string());
    if st.over_rate_limit(&client) {
        return fail(ApiError::code(codes::TOO_MANY));
    }
    let lower = name.to_ascii_lowercase();
    let result = if lower == "execute" || lower.starts_with("execute.") {
        super::execute::handle(&st, &inc.ctx, &name, &inc.wire)
    } else {
        call(&st, &inc.ctx, &name, &inc.wire).map(|v| json!({"response": v}))
    };
    match result {
        Ok(body) => match inc
            .wire
            .query_pairs()
            .iter()
            .rev()
            .find(|(k, _)| k == "callback")
            .map(|(_, v)| v.clone())
        {
            Some(cb) if is_js_identifier(&cb) => {
                let text = format!("{cb}({body})");
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/javascript"),
                    )],
                    text,
                )
                    .into_response()
            }
            _ => json_response(StatusCode::OK, &body),
        },
        Err(e) => fail(e),
    }
}

fn forced_error(st: &MockState, code: i64) -> ApiError {
    let mut e = ApiError::code(code);
    if code == codes::CAPTCHA {
        let sid = "100000000001".to_string();
        e = e.with("captcha_sid", json!(sid)).with(
            "captcha_img",
            json!(format!("{}/captcha.php?sid={sid}", st.base_url())),
        );
    }
    e
}

/// Runs one method call (also used by `execute` for each `API.x.y(...)`).
pub fn call(
    st: &MockState,
    ctx: &CallCtx,
    name: &str,
    wire: &WireParams,
) -> Result<Value, ApiError> {
    let Some(spec) = st
        .catalog
        .method(Api::Openvk, name)
        .filter(|m| m.name != "token")
    else {
        return super::vk_ext::method(st, ctx, name, wire)
            .unwrap_or_else(|| Err(ApiError::code(codes::UNKNOWN_METHOD)));
    };
    if ctx.user.is_none() {
        // A made-up token is refused in the VK dialect (VK: "invalid access_token");
        // OpenVK treats it as anonymous. Without any token, only 🔰 methods need one.
        let bogus = wire.get("access_token").is_some_and(|t| !t.is_empty());
        if bogus && super::vk_ext::active(st) {
            return Err(super::vk_ext::auth_error(wire));
        }
        if spec.auth {
            return Err(super::vk_ext::auth_error(wire));
        }
    }
    let adapted = super::vk_ext::adapt_params(st, &spec.name, wire);
    let params =
        crate::vk::coerce(spec, &adapted).map_err(|e| ApiError::new(codes::PARAM, e.message))?;
    let value = answer(st, ctx, spec, &adapted, &params)?;
    super::vk_ext::after_call(st, ctx, &spec.name, &params, &value);
    Ok(super::vk_ext::adapt_response(
        st, ctx, &spec.name, wire, &params, value,
    ))
}

/// The answer of a documented method to validated parameters: captcha and
/// write limits, then the stateful world, then the recordings.
fn answer(
    st: &MockState,
    ctx: &CallCtx,
    spec: &crate::schema::MethodSpec,
    wire: &WireParams,
    params: &serde_json::Map<String, Value>,
) -> Result<Value, ApiError> {
    if spec.kind == Kind::Write {
        if let Err(c) = st.captcha_gate(
            wire.get("captcha_sid"),
            wire.get("captcha_key"),
            wire.get("success_token"),
        ) {
            let mut e = ApiError::code(codes::CAPTCHA)
                .with("captcha_sid", json!(c.sid))
                .with("captcha_img", json!(c.img));
            if let Some(r) = c.redirect_uri {
                e = e.with("redirect_uri", json!(r));
            }
            return Err(e);
        }
        if st.over_write_limit(ctx.ip) {
            return Err(ApiError::code(codes::RATE_LIMIT));
        }
    }
    {
        let mut world = st.world.lock().expect("world lock");
        if let Some(result) = world.handle(st, ctx, &spec.name, params) {
            return result;
        }
    }
    let rec = st
        .recordings
        .find(Api::Openvk, &spec.name, params, ctx.version.as_deref())
        .ok_or_else(|| {
            ApiError::new(
                codes::UNKNOWN,
                format!(
                    "vkconform mock: no recording answers {} with these parameters",
                    spec.name
                ),
            )
        })?;
    if let Some(e) = &rec.error {
        return Err(ApiError::new(e.error_code, e.error_msg.clone()));
    }
    let default_count = spec
        .param("count")
        .and_then(|p| p.default.as_ref())
        .and_then(Value::as_i64);
    Ok(shape(rec, params, default_count))
}

/// Any path the mock does not serve.
pub(super) async fn not_found(State(st): State<Arc<MockState>>, req: Request) -> Response {
    let what = format!("{} {}", req.method(), req.uri().path());
    let err = ApiError::new(codes::UNKNOWN_METHOD, format!("Unknown method passed: vkconform mock has no endpoint {what}; API calls go to /method/Section.name"));
    let (_, body) = error_body(st.config.profile, &err, vec![]);
    json_response(StatusCode::NOT_FOUND, &body)
}

/// `GET /captcha.php?sid=…`: an SVG showing the answer. Loading it again makes a new answer (as VK does).
pub(super) async fn captcha_image(State(st): State<Arc<MockState>>, req: Request) -> Response {
    let wire = WireParams::parse(req.uri().query(), None);
    let sid = wire.get("sid").unwrap_or_default().to_string();
    match st.captcha_text(&sid) {
        Some(text) => {
            let svg = format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"130\" height=\"50\"><rect width=\"100%\" height=\"100%\" fill=\"#eef\"/><text x=\"20\" y=\"34\" font-size=\"28\" font-family=\"monospace\">{}</text></svg>",
                text.chars().filter(char::is_ascii_alphanumeric).collect::<String>()
            );
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("image/svg+xml"),
                )],
                svg,
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "unknown captcha sid").into_response(),
    }
}

/// `GET /captcha/challenge?sid=…` (redirect mode): the page a person would
/// solve; it answers the `success_token` to retry with (JSON, or HTML for browsers).
pub(super) async fn captcha_challenge(State(st): State<Arc<MockState>>, req: Request) -> Response {
    let wire = WireParams::parse(req.uri().query(), None);
    let sid = wire.get("sid").unwrap_or_default().to_string();
    match st.captcha_success_token(&sid) {
        Some(token) => json_response(StatusCode::OK, &json!({"sid": sid, "success_token": token})),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "unknown captcha sid"}),
        ),
    }
}

/// A JSON answer with the given status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn is_js_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.')
}
