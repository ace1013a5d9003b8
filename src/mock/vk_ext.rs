//! The VK dialect of the mock: what `--profile vk` adds on top of the
//! OpenVK emulation so that real VK client libraries (vk-io, vk_api,
//! vkbottle; `docs/clients.md`) work against it unchanged.
//!
//! Nothing here is active with `--profile openvk` (the default), which stays
//! a faithful OpenVK. With `--profile vk`:
//!
//! * **Every method needs a valid token** (VK answers error 5 without one:
//!   `no access_token passed`, or `invalid access_token (4)` for an unknown one),
//!   not only the 🔰 ones.
//! * **VK parameters**: `messages.send` takes VK's `peer_ids` (answered as
//!   `[{peer_id, message_id, conversation_message_id}]`). Required parameters
//!   stay required (error 100), also where VK would default to the caller.
//! * **VK shapes** ([`adapt_response`]), still valid against `schemas/` (which
//!   accept both dialects): `friends.get`, `groups.getMembers` and
//!   `users.getFollowers` answer ids unless `fields` is given, `groups.get` and
//!   `friends.getRequests` ids unless `extended=1`; messages carry `version`,
//!   conversations `last_conversation_message_id` and `version`;
//!   `messages.getLongPollHistory` events are flat scalars; `board.getTopics`
//!   and `groups.getSettings` carry VK's always-present fields (and the world's
//!   `board.getComments` its `count`); `photos.save`
//!   is a bare array, `photos.saveOwnerPhoto` has a `photo_hash`,
//!   `friends.delete` answers `{success, friend_deleted}`,
//!   `photos.getWallUploadServer` the wall album id (-14) instead of `null`;
//!   note privacy is a list (`["all"]`) and note comments carry `message`.
//! * **Bots Long Poll** (a documented VK extension: the catalog keeps exactly
//!   the documented OpenVK methods): `groups.getLongPollServer({group_id})`
//!   answers `{key, server, ts}` with `server` a full `http://HOST:PORT/bots/<group_id>`
//!   URL and `ts` a string, for a group the token's user administers (else 15;
//!   unknown group → 100). `GET|POST /bots/<group_id>?act=a_check&key=K&ts=T&wait=W`
//!   waits (at most [`super::longpoll::MAX_WAIT`] s, default 25) and answers
//!   `{"ts": "N", "updates": [{type, object, group_id, event_id, v}]}`;
//!   `{"failed": 1, "ts": "N"}` for a `ts` outside the kept history, `{"failed": 2}`
//!   for a wrong key (clients fetch a new one). Events: `wall_post_new` when a
//!   post is made on a group's wall, `wall_reply_new` for a comment on it, and
//!   whatever a test pushes with `POST /__vkconform/vk/group-event` (see
//!   [`inject_event`]; the usual one: a user writes to the community → `message_new`).
//! * **Photo uploads**: the `photos.get*UploadServer` answers point at the
//!   mock's own upload server ([`upload_photo`]); VK's
//!   `photos.getMessagesUploadServer` / `photos.saveMessagesPhoto` exist too.
//!   Saved photos can be attached (`photo<owner>_<id>`) to posts and messages.
//!
//! Bot events share the user long poll's bounded ring (negative owner ids).

use super::openvk::{json_response, read_request, CallCtx};
use super::state::MockState;
use crate::api::Profile;
use crate::vk::{codes, ApiError, WireParams};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The API version stamped on bot events (`v`), as VK does.
pub const EVENTS_VERSION: &str = "5.199";
/// The first id of messages pushed with [`inject_event`] (kept apart from the world's ids).
pub const INJECTED_MESSAGE_IDS: i64 = 1_000_000;

static NEXT_INJECTED_MESSAGE: AtomicI64 = AtomicI64::new(INJECTED_MESSAGE_IDS);

/// Whether the VK dialect is on (`--profile vk`).
pub fn active(st: &MockState) -> bool {
    st.config.profile == Profile::Vk
}

/// Error 5 as VK words it: no token at all, or a token it does not know.
pub fn auth_error(wire: &WireParams) -> ApiError {
    if wire.get("access_token").is_some_and(|t| !t.is_empty()) {
        ApiError::new(
            codes::AUTH,
            "User authorization failed: invalid access_token (4).",
        )
    } else {
        ApiError::code(codes::AUTH)
    }
}

/// Methods VK has and the OpenVK catalog does not, answered only in the VK
/// dialect (`groups.getLongPollServer`, `photos.getMessagesUploadServer`,
/// `photos.saveMessagesPhoto`); `None` when `name` is not one of them (→ error 3).
pub fn method(
    st: &MockState,
    ctx: &CallCtx,
    name: &str,
    wire: &WireParams,
) -> Option<Result<Value, ApiError>> {
    if !active(st) {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    if !matches!(
        lower.as_str(),
        "groups.getlongpollserver" | "photos.getmessagesuploadserver" | "photos.savemessagesphoto"
    ) {
        return None;
    }
    if ctx.user.is_none() {
        return Some(Err(auth_error(wire)));
    }
    Some(match lower.as_str() {
        "groups.getlongpollserver" => long_poll_server(st, ctx, wire),
        "photos.getmessagesuploadserver" => Ok(json!({
            "upload_url": format!("{}/upload/photo?kind=messages", st.base_url()),
            "album_id": -3, "user_id": ctx.user, "group_id": 0,
        })),
        _ => save_messages_photo(st, ctx, wire),
    })
}

/// `photos.saveMessagesPhoto({photo, server, hash})`: saved like a wall photo.
fn save_messages_photo(
    st: &MockState,
    ctx: &CallCtx,
    wire: &WireParams,
) -> Result<Value, ApiError> {
    let mut inner = WireParams::default();
    for key in ["photo", "hash", "server"] {
        match wire.get(key) {
            Some(v) if !v.is_empty() => inner.push(key, v),
            _ if key == "server" => {}
            _ => {
                return Err(ApiError::new(
                    codes::PARAM,
                    format!(
                    "One of the parameters specified was missing or invalid: {key} is undefined"
                ),
                ))
            }
        }
    }
    super::openvk::call(st, ctx, "Photos.saveWallPhoto", &inner)
}

fn long_poll_server(st: &MockState, ctx: &CallCtx, wire: &WireParams) -> Result<Value, ApiError> {
    let group = match wire.get("group_id").map(str::trim) {
        None | Some("") => {
            return Err(ApiError::new(
                codes::PARAM,
                "One of the parameters specified was missing or invalid: group_id is undefined",
            ))
        }
        Some(g) => g
            .trim_start_matches('-')
            .parse::<i64>()
            .ok()
            .filter(|g| *g > 0),
    }
    .ok_or_else(|| {
        ApiError::new(
            codes::PARAM,
            "One of the parameters specified was missing or invalid: group_id not integer",
        )
    })?;
    let g = group_object(st, ctx, group)
        .ok_or_else(|| ApiError::new(codes::PARAM, "Invalid group id"))?;
    if !flag_of(g.get("is_admin")) {
        return Err(ApiError::new(
            codes::FORBIDDEN,
            "Access denied: only community administrators can use its Bots Long Poll",
        ));
    }
    Ok(json!({
        "key": st.longpoll.key_for(-group),
        "server": format!("{}/bots/{group}", st.base_url()),
        "ts": st.longpoll.ts().to_string(),
    }))
}

/// The group as `groups.getById` shows it to the caller; `None` for an unknown one.
fn group_object(st: &MockState, ctx: &CallCtx, group: i64) -> Option<Value> {
    let wire = WireParams::from_pairs([("group_ids", group.to_string())]);
    let ctx = CallCtx {
        version: None,
        ..ctx.clone()
    };
    let v = super::openvk::call(st, &ctx, "Groups.getById", &wire).ok()?;
    let g = v.as_array()?.first()?.clone();
    (g.get("name").and_then(Value::as_str) != Some("DELETED")
        && g.get("deactivated").is_none_or(Value::is_null))
    .then_some(g)
}

/// VK's parameter forms that OpenVK lacks, rewritten before coercion. Required
/// parameters stay required (a missing one is error 100 in both profiles), so
/// VK's "default: the caller" for `owner_id`/`user_id` is not emulated.
pub fn adapt_params<'a>(st: &MockState, method: &str, wire: &'a WireParams) -> Cow<'a, WireParams> {
    if !active(st) {
        return Cow::Borrowed(wire);
    }
    let missing = |k: &str| wire.get(k).is_none_or(str::is_empty);
    match method {
        // VK's multi-recipient form (vkbottle's `message.answer()` uses it):
        // sent as OpenVK's `user_ids`, answered by [`adapt_response`].
        "Messages.send"
            if !missing("peer_ids")
                && ["user_id", "peer_id", "domain", "user_ids"]
                    .iter()
                    .all(|k| missing(k)) =>
        {
            let mut w = wire.clone();
            w.push("user_ids", wire.get("peer_ids").unwrap_or_default());
            Cow::Owned(w)
        }
        _ => Cow::Borrowed(wire),
    }
}

/// Reshapes a successful answer the way VK sends it (see the module docs).
/// `wire` is the call as the client sent it, `params` its coerced parameters.
pub fn adapt_response(
    st: &MockState,
    ctx: &CallCtx,
    method: &str,
    wire: &WireParams,
    params: &Map<String, Value>,
    mut v: Value,
) -> Value {
    if !active(st) {
        return v;
    }
    let has = |k: &str| match params.get(k) {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    let flag = |k: &str| flag_of(params.get(k));
    match method {
        "Friends.get" | "Groups.getMembers" | "Users.getFollowers" if !has("fields") => {
            items_to_ids(&mut v)
        }
        "Groups.get" | "Friends.getRequests" if !flag("extended") => items_to_ids(&mut v),
        "Messages.getHistory" => {
            each(&mut v, "/items", add_message_version);
            for c in array_mut(&mut v, "/conversations") {
                add_conversation_fields(st, ctx, c, None);
            }
        }
        "Messages.getById" => each(&mut v, "/items", add_message_version),
        "Messages.getLongPollHistory" => {
            each(&mut v, "/messages/items", add_message_version);
            // VK's history events are flat scalars ([4, id, flags, peer, ts, text]).
            for e in array_mut(&mut v, "/history") {
                if let Some(a) = e.as_array_mut() {
                    a.retain(|x| !x.is_object() && !x.is_array());
                }
            }
        }
        "Messages.getConversations" => {
            for item in array_mut(&mut v, "/items") {
                if let Some(m) = item.get_mut("last_message") {
                    add_message_version(m);
                }
                let cmid = item
                    .pointer("/last_message/conversation_message_id")
                    .and_then(Value::as_i64);
                if let Some(c) = item.get_mut("conversation") {
                    add_conversation_fields(st, ctx, c, cmid);
                }
            }
        }
        "Messages.getConversationsById" => {
            for c in array_mut(&mut v, "/items") {
                add_conversation_fields(st, ctx, c, None);
            }
        }
        "Board.getTopics" => defaults(&mut v, &[("default_order", json!(1))]),
        "Groups.getSettings" => defaults(
            &mut v,
            &[
                ("articles", json!(0)),
                ("city_id", json!(0)),
                ("city_name", json!("")),
                ("obscene_filter", json!(0)),
                ("obscene_stopwords", json!(0)),
                ("obscene_words", json!([])),
                ("toxic_filter", json!(0)),
                ("disable_replies_from_groups", json!(0)),
                ("wiki", json!(0)),
            ],
        ),
        "Photos.getWallUploadServer"
        | "Photos.getUploadServer"
        | "Photos.getOwnerPhotoUploadServer" => {
            let kind = match method {
                "Photos.getWallUploadServer" => "wall",
                "Photos.getUploadServer" => "album",
                _ => "owner",
            };
            let mut url = format!("{}/upload/photo?kind={kind}", st.base_url());
            if let Some(a) = params.get("album_id").and_then(Value::as_i64) {
                url.push_str(&format!("&album_id={a}"));
            }
            v["upload_url"] = json!(url);
            // VK's id of the system "wall photos" album.
            if kind == "wall" && v.get("album_id").is_some_and(Value::is_null) {
                v["album_id"] = json!(-14);
            }
        }
        "Messages.send" if wire.get("peer_ids").is_some() && wire.get("user_ids").is_none() => {
            for item in array_mut(&mut v, "") {
                if let Some(id) = item.as_i64() {
                    let wire = WireParams::from_pairs([("message_ids", id.to_string())]);
                    let m = super::openvk::call(st, ctx, "Messages.getById", &wire)
                        .ok()
                        .and_then(|r| r.pointer("/items/0").cloned())
                        .unwrap_or(Value::Null);
                    *item = json!({"peer_id": m.get("peer_id").cloned().unwrap_or(Value::Null),
                        "message_id": id, "conversation_message_id": m.get("conversation_message_id").cloned().unwrap_or(json!(0))});
                }
            }
        }
        "Friends.delete" if v == json!(1) => {
            v = json!({"success": 1, "friend_deleted": 1});
        }
        "Photos.save" => {
            if let Some(items) = v.get_mut("items").map(Value::take) {
                v = items;
            }
        }
        "Photos.saveOwnerPhoto" if v.get("photo_hash").is_none_or(Value::is_null) => {
            let src = v.get("photo_src").and_then(Value::as_str).unwrap_or("");
            v["photo_hash"] = json!(format!("{:016x}", fnv1a(src.as_bytes())));
        }
        "Notes.get" => each(&mut v, "/items", note_privacy),
        "Notes.getById" => note_privacy(&mut v),
        "Notes.getComments" => {
            for c in array_mut(&mut v, "/items") {
                if let Some(text) = c.get("text").cloned() {
                    c.as_object_mut()
                        .map(|o| o.entry("message").or_insert(text));
                }
            }
        }
        _ => {}
    }
    v
}

/// Adds the fields VK always sends when the OpenVK answer lacks them.
fn defaults(v: &mut Value, fields: &[(&str, Value)]) {
    if let Some(o) = v.as_object_mut() {
        for (k, d) in fields {
            o.entry(k.to_string()).or_insert_with(|| d.clone());
        }
    }
}

/// VK's note privacy is a list of privacy names; OpenVK sends a number (notes are public there).
fn note_privacy(n: &mut Value) {
    for k in ["privacy_view", "privacy_comment"] {
        if n.get(k).is_some_and(Value::is_number) {
            n[k] = json!(["all"]);
        }
    }
}

/// 64-bit FNV-1a: a stable stand-in hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn flag_of(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|i| i != 0),
        Some(Value::String(s)) => crate::vk::params::parse_flag(s).unwrap_or(false),
        _ => false,
    }
}

fn array_mut<'a>(v: &'a mut Value, ptr: &str) -> std::slice::IterMut<'a, Value> {
    match v.pointer_mut(ptr) {
        Some(Value::Array(a)) => a.iter_mut(),
        _ => [].iter_mut(),
    }
}

fn each(v: &mut Value, ptr: &str, f: fn(&mut Value)) {
    array_mut(v, ptr).for_each(f);
}

/// `{count, items: [{id, …}]}` → `{count, items: [id, …]}`.
fn items_to_ids(v: &mut Value) {
    for item in array_mut(v, "/items") {
        let id = item
            .get("id")
            .or_else(|| item.get("user_id"))
            .and_then(Value::as_i64);
        if let Some(id) = id {
            *item = json!(id);
        }
    }
}

/// VK's `version` of a message (an increasing number; the message id here).
fn add_message_version(m: &mut Value) {
    let id = m.get("id").and_then(Value::as_i64).unwrap_or(0);
    if let Some(o) = m.as_object_mut() {
        o.entry("version").or_insert(json!(id));
    }
}

fn add_conversation_fields(st: &MockState, ctx: &CallCtx, c: &mut Value, cmid: Option<i64>) {
    let last = c
        .get("last_message_id")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let Some(o) = c.as_object_mut() else { return };
    if !o.contains_key("last_conversation_message_id") {
        let cmid = cmid
            .or_else(|| (last > 0).then(|| last_cmid(st, ctx, last)).flatten())
            .unwrap_or(0);
        o.insert("last_conversation_message_id".into(), json!(cmid));
    }
    o.entry("version").or_insert(json!(last));
}

fn last_cmid(st: &MockState, ctx: &CallCtx, message_id: i64) -> Option<i64> {
    let wire = WireParams::from_pairs([("message_ids", message_id.to_string())]);
    let v = super::openvk::call(st, ctx, "Messages.getById", &wire).ok()?;
    v.pointer("/items/0/conversation_message_id")
        .and_then(Value::as_i64)
}

/// What a successful call causes in the VK dialect: saved photos become
/// attachable (`photo<owner>_<id>`); posts and comments on a group's wall are
/// `wall_post_new` / `wall_reply_new` bot events.
pub fn after_call(
    st: &MockState,
    ctx: &CallCtx,
    method: &str,
    params: &Map<String, Value>,
    answer: &Value,
) {
    if !active(st) {
        return;
    }
    if matches!(method, "Photos.saveWallPhoto" | "Photos.save") {
        let photos = answer.get("items").unwrap_or(answer);
        let mut world = st.world.lock().expect("world lock");
        for p in photos.as_array().into_iter().flatten() {
            world.remember_attachment(json!({"type": "photo", "photo": p}));
        }
        return;
    }
    let owner = params.get("owner_id").and_then(Value::as_i64).unwrap_or(0);
    if owner >= 0 {
        return;
    }
    let group = -owner;
    let ctx = CallCtx {
        version: Some(EVENTS_VERSION.into()),
        ..ctx.clone()
    };
    match method {
        "Wall.post" => {
            let Some(id) = answer.get("post_id").and_then(Value::as_i64) else {
                return;
            };
            let wire = WireParams::from_pairs([("posts", format!("{owner}_{id}"))]);
            if let Some(post) = super::openvk::call(st, &ctx, "Wall.getById", &wire)
                .ok()
                .and_then(|v| v.pointer("/items/0").cloned())
            {
                push_event(st, group, "wall_post_new", post);
            }
        }
        "Wall.createComment" => {
            let Some(id) = answer.get("comment_id").and_then(Value::as_i64) else {
                return;
            };
            let post = params.get("post_id").and_then(Value::as_i64).unwrap_or(0);
            let wire = WireParams::from_pairs([
                ("owner_id", owner.to_string()),
                ("comment_id", id.to_string()),
            ]);
            let mut comment = super::openvk::call(st, &ctx, "Wall.getComment", &wire)
                .ok()
                .and_then(|v| v.pointer("/items/0").cloned())
                .unwrap_or_else(|| json!({"id": id, "from_id": ctx.user.unwrap_or(0), "date": super::world::unix_now(), "text": params.get("message").cloned().unwrap_or(json!(""))}));
            if let Some(o) = comment.as_object_mut() {
                o.insert("post_id".into(), json!(post));
                o.insert("owner_id".into(), json!(owner));
                o.insert("post_owner_id".into(), json!(owner));
            }
            push_event(st, group, "wall_reply_new", comment);
        }
        _ => {}
    }
}

/// Queues a bot event `{type, object, group_id, event_id, v}` for a group; returns its `ts`.
pub fn push_event(st: &MockState, group: i64, kind: &str, object: Value) -> u64 {
    use rand::Rng;
    let event_id = format!("{:040x}", rand::rng().random::<u128>());
    st.longpoll.push(
        -group,
        json!({"type": kind, "object": object, "group_id": group, "event_id": event_id, "v": EVENTS_VERSION}),
    )
}

/// `GET|POST /bots/{group_id}`: the Bots Long Poll endpoint (VK dialect only; 404 otherwise).
pub async fn bots_poll(
    State(st): State<Arc<MockState>>,
    Path(group): Path<String>,
    req: Request,
) -> Response {
    let group = group.parse::<i64>().ok().filter(|g| *g > 0);
    let (true, Some(group)) = (active(&st), group) else {
        return super::openvk::not_found(State(st), req).await;
    };
    let inc = match read_request(&st, req).await {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    if inc.wire.get("act") != Some("a_check") {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"failed": 2, "error": "act must be a_check"}),
        );
    }
    let key = inc.wire.get("key").unwrap_or_default();
    if key.is_empty() || !st.longpoll.key_matches(-group, key) {
        return json_response(StatusCode::OK, &json!({"failed": 2}));
    }
    let since = inc
        .wire
        .get("ts")
        .and_then(|t| t.trim().parse::<u64>().ok());
    let wait = inc
        .wire
        .get("wait")
        .and_then(|w| w.trim().parse::<u64>().ok())
        .filter(|w| *w > 0)
        .unwrap_or(super::longpoll::DEFAULT_WAIT)
        .min(super::longpoll::MAX_WAIT);
    let answer = match st
        .longpoll
        .wait(-group, since, Duration::from_secs(wait))
        .await
    {
        super::longpoll::PollAnswer::Updates { ts, updates } => {
            json!({"ts": ts.to_string(), "updates": updates})
        }
        super::longpoll::PollAnswer::Outdated { ts } => {
            json!({"failed": 1, "ts": ts.to_string()})
        }
    };
    json_response(StatusCode::OK, &answer)
}

/// A test's request to push a bot event (`POST /__vkconform/vk/group-event`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    group_id: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    object: Option<Value>,
    from_id: Option<i64>,
    peer_id: Option<i64>,
    text: Option<String>,
    payload: Option<String>,
}

/// `POST /__vkconform/vk/group-event` (VK dialect only): pushes one Bots Long
/// Poll event. JSON body, every field optional: `group_id` (default 1),
/// `type` (default `message_new`), `object` (the event's object as is), or for
/// `message_new` without `object`: `from_id` (default 2), `peer_id` (default
/// `from_id`), `text` (default `Hello, bot!`), `payload`. Answers `{"ts": "N",
/// "group_id": G, "type": T}`; 400 with `{"error": …}` for a bad body or unknown group.
pub async fn inject_event(State(st): State<Arc<MockState>>, req: Request) -> Response {
    if !active(&st) {
        return super::openvk::not_found(State(st), req).await;
    }
    let bad = |msg: String| json_response(StatusCode::BAD_REQUEST, &json!({"error": msg}));
    let bytes = match axum::body::to_bytes(req.into_body(), st.config.max_body).await {
        Ok(b) => b,
        Err(_) => return bad("request body too large".into()),
    };
    let r: EventRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        EventRequest::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => return bad(format!("body must be a JSON object like {{\"group_id\": 1, \"type\": \"message_new\", \"from_id\": 2, \"text\": \"hi\"}}: {e}")),
        }
    };
    let group = r.group_id.unwrap_or(1).abs();
    let ctx = CallCtx {
        user: Some(1),
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        version: None,
    };
    if group == 0 || group_object(&st, &ctx, group).is_none() {
        return bad(format!("unknown group {group}"));
    }
    let kind = r.kind.unwrap_or_else(|| "message_new".into());
    if kind.is_empty()
        || kind.len() > 64
        || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return bad("`type` must be an event type like message_new".into());
    }
    let object = match (r.object, kind.as_str()) {
        (Some(o), _) => o,
        (None, "message_new") => {
            let from = r.from_id.unwrap_or(2);
            let id = NEXT_INJECTED_MESSAGE.fetch_add(1, Ordering::Relaxed) + 1;
            let mut message = json!({
                "id": id, "date": super::world::unix_now(), "peer_id": r.peer_id.unwrap_or(from),
                "from_id": from, "text": r.text.unwrap_or_else(|| "Hello, bot!".into()), "out": 0,
                "attachments": [], "conversation_message_id": id - INJECTED_MESSAGE_IDS,
                "fwd_messages": [], "important": false, "is_hidden": false, "random_id": 0,
                "version": id
            });
            if let Some(p) = r.payload {
                message["payload"] = json!(p);
            }
            json!({"message": message, "client_info": {
                "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback", "intent_subscribe", "intent_unsubscribe"],
                "keyboard": true, "inline_keyboard": true, "carousel": true, "lang_id": 0}})
        }
        (None, _) => return bad(format!("`object` is needed for a {kind} event")),
    };
    let ts = push_event(&st, group, &kind, object);
    (
        StatusCode::OK,
        axum::Json(json!({"ts": ts.to_string(), "group_id": group, "type": kind})),
    )
        .into_response()
}

/// `POST /upload/photo?kind=wall|album|owner|messages[&album_id=N]` (VK dialect
/// only): the upload server the `photos.get*UploadServer` answers point at.
/// Takes a `multipart/form-data` body with at least one non-empty file part
/// (any field name: `photo`, `file`, `file1`…) and answers what VK's upload
/// servers do, for the matching `photos.save*` call: `{server, photo, hash}`
/// (wall, messages, owner) or `{server, photos_list, aid, hash}` (album).
/// Without a file: `{"error": "ERR_UPLOAD_FILE_NOT_UPLOADED: …"}` (HTTP 200, as VK).
pub async fn upload_photo(State(st): State<Arc<MockState>>, req: Request) -> Response {
    if !active(&st) || req.method() != axum::http::Method::POST {
        return super::openvk::not_found(State(st), req).await;
    }
    let wire = WireParams::parse(req.uri().query(), None);
    let kind = wire.get("kind").unwrap_or("wall").to_string();
    let album = wire
        .get("album_id")
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or(1);
    let boundary = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart_boundary);
    let bytes = match axum::body::to_bytes(req.into_body(), st.config.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": "ERR_UPLOAD_FILE_TOO_BIG: file is too big"}),
            )
        }
    };
    let files = boundary.map_or(0, |b| count_files(&bytes, &b));
    if files == 0 {
        return json_response(
            StatusCode::OK,
            &json!({"error": "ERR_UPLOAD_FILE_NOT_UPLOADED: file not uploaded (send multipart/form-data with a file)"}),
        );
    }
    let photos: Vec<Value> = (0..files)
        .map(|i| {
            json!({"photo": format!("{:016x}:w", fnv1a(&[bytes.as_ref(), &[i as u8]].concat())), "sizes": [], "kid": format!("{:08x}", i)})
        })
        .collect();
    let list = Value::Array(photos).to_string();
    let hash = format!("{:016x}", fnv1a(list.as_bytes()));
    let body = if kind == "album" {
        json!({"server": 1, "photos_list": list, "aid": album, "hash": hash})
    } else {
        json!({"server": 1, "photo": list, "hash": hash})
    };
    json_response(StatusCode::OK, &body)
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    if !lower.starts_with("multipart/form-data") {
        return None;
    }
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// Parts with a `filename` and a non-empty body.
fn count_files(body: &[u8], boundary: &str) -> usize {
    let delim = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    text.split(delim.as_str())
        .filter(|part| {
            let Some((head, content)) = part.split_once("\r\n\r\n") else {
                return false;
            };
            let content = content.strip_suffix("\r\n").unwrap_or(content);
            head.to_ascii_lowercase().contains("filename=") && !content.is_empty()
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Api;
    use crate::mock::{MockConfig, MockServer, DEFAULT_TOKEN};
    use crate::schema::Catalog;
    use std::net::{IpAddr, Ipv4Addr};

    fn state(profile: Profile) -> MockState {
        MockState::new(
            MockConfig {
                profile,
                ..MockConfig::default()
            },
            Catalog::shared().expect("catalog"),
        )
        .expect("state")
    }

    fn ctx(user: Option<i64>, v: Option<&str>) -> CallCtx {
        CallCtx {
            user,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            version: v.map(str::to_string),
        }
    }

    fn call(st: &MockState, method: &str, params: &[(&str, &str)]) -> Result<Value, ApiError> {
        let wire = WireParams::from_pairs(params.iter().copied());
        super::super::openvk::call(st, &ctx(Some(1), Some("5.199")), method, &wire)
    }

    /// Calls and checks the answer against the method's response schema.
    fn ok(st: &MockState, method: &str, params: &[(&str, &str)]) -> Value {
        let v = call(st, method, params).unwrap_or_else(|e| panic!("{method} failed: {e:?}"));
        let spec = st.catalog.method(Api::Openvk, method).expect("documented");
        if let Err(e) = spec.validate_response(&v) {
            panic!("{method} {params:?} answered {v}, which its schema refuses: {e:?}");
        }
        v
    }

    #[test]
    fn the_openvk_profile_is_untouched() {
        let st = state(Profile::Openvk);
        let anon = ctx(None, None);
        let users = WireParams::from_pairs([("user_ids", "1")]);
        assert!(super::super::openvk::call(&st, &anon, "Users.get", &users).is_ok());
        let friends = call(&st, "Friends.get", &[]).unwrap();
        assert!(friends["items"][0].is_object(), "OpenVK: user objects");
        let lp = call(&st, "groups.getLongPollServer", &[("group_id", "1")]).unwrap_err();
        assert_eq!(lp.code, codes::UNKNOWN_METHOD);
    }

    #[test]
    fn made_up_tokens_are_refused_and_only_marked_methods_need_one() {
        let st = state(Profile::Vk);
        let none = WireParams::from_pairs([("user_ids", "1")]);
        assert!(
            super::super::openvk::call(&st, &ctx(None, None), "Users.get", &none).is_ok(),
            "Users.get has no 🔰"
        );
        let e = super::super::openvk::call(&st, &ctx(None, None), "Status.get", &none).unwrap_err();
        assert_eq!(
            (e.code, e.msg.as_str()),
            (5, "User authorization failed: no access_token passed.")
        );
        let bad = WireParams::from_pairs([("user_ids", "1"), ("access_token", "nope")]);
        let e = super::super::openvk::call(&st, &ctx(None, None), "Users.get", &bad).unwrap_err();
        assert!(e.msg.contains("invalid access_token"), "{e:?}");
    }

    #[test]
    fn vk_shapes_still_match_the_schemas() {
        let st = state(Profile::Vk);
        assert_eq!(ok(&st, "Friends.get", &[])["items"], json!([2, 3]));
        assert!(ok(&st, "Friends.get", &[("fields", "sex")])["items"][0].is_object());
        assert_eq!(ok(&st, "Groups.get", &[])["items"], json!([1, 2]));
        assert!(ok(&st, "Groups.get", &[("extended", "1")])["items"][0].is_object());
        assert!(ok(&st, "Groups.getMembers", &[("group_id", "1")])["items"][0].is_i64());
        assert_eq!(
            ok(&st, "Users.getFollowers", &[("user_id", "1")])["items"],
            json!([4])
        );
        assert!(ok(&st, "Friends.getRequests", &[])["items"][0].is_i64());
        let h = ok(&st, "Messages.getHistory", &[("peer_id", "2")]);
        assert_eq!(h["items"][0]["version"], h["items"][0]["id"]);
        let c = ok(&st, "Messages.getConversations", &[]);
        let conv = &c["items"][0]["conversation"];
        assert_eq!(
            conv["last_conversation_message_id"],
            c["items"][0]["last_message"]["conversation_message_id"]
        );
        assert!(conv["version"].is_i64());
        let byid = ok(&st, "Messages.getConversationsById", &[("peer_ids", "2")]);
        assert!(byid["items"][0]["last_conversation_message_id"].as_i64() > Some(0));
        assert!(
            ok(&st, "Messages.getById", &[("message_ids", "1")])["items"][0]["version"].is_i64()
        );
        assert_eq!(
            ok(&st, "Board.getTopics", &[("group_id", "1")])["default_order"],
            1
        );
        let comments = ok(
            &st,
            "Board.getComments",
            &[("group_id", "1"), ("topic_id", "1"), ("count", "1")],
        );
        assert_eq!(comments["count"], 2, "the total, not the page");
        assert_eq!(
            ok(&st, "Groups.getSettings", &[("group_id", "1")])["wiki"],
            0
        );
        assert_eq!(ok(&st, "Photos.getWallUploadServer", &[])["album_id"], -14);
        assert!(ok(&st, "Notes.get", &[("user_id", "1")])["items"][0]["privacy_view"].is_array());
        assert!(ok(
            &st,
            "Notes.getComments",
            &[("note_id", "1"), ("owner_id", "1")]
        )["items"][0]["message"]
            .is_string());
        let history = ok(&st, "Messages.getLongPollHistory", &[("ts", "1")]);
        for e in history["history"].as_array().into_iter().flatten() {
            assert!(e.as_array().unwrap().iter().all(|x| !x.is_object()), "{e}");
        }
        assert_eq!(
            ok(&st, "Wall.get", &[("owner_id", "1"), ("count", "1")])["items"][0]["owner_id"],
            1
        );
        assert!(ok(
            &st,
            "Likes.isLiked",
            &[
                ("user_id", "1"),
                ("type", "post"),
                ("owner_id", "1"),
                ("item_id", "1")
            ]
        )["liked"]
            .is_i64());
        let sent = ok(
            &st,
            "Messages.send",
            &[("peer_ids", "2,3"), ("message", "hi"), ("random_id", "0")],
        );
        assert_eq!(sent[0]["peer_id"], 2);
        assert_eq!(sent[1]["peer_id"], 3);
        assert!(sent[1]["conversation_message_id"].as_i64() > Some(0));
        assert_eq!(
            ok(&st, "Friends.delete", &[("user_id", "2")]),
            json!({"success": 1, "friend_deleted": 1})
        );
    }

    #[test]
    fn long_poll_server_for_administered_groups_only() {
        let st = state(Profile::Vk);
        st.set_base_url("http://127.0.0.1:9".into());
        let v = call(&st, "groups.getLongPollServer", &[("group_id", "1")]).unwrap();
        assert_eq!(v["server"], "http://127.0.0.1:9/bots/1");
        assert!(v["ts"].is_string() && v["key"].as_str().unwrap().len() == 32);
        let e = |g: &str| {
            call(&st, "groups.getLongPollServer", &[("group_id", g)])
                .unwrap_err()
                .code
        };
        assert_eq!(e("2"), 15, "a member, not an admin");
        assert_eq!(e("999"), 100);
        assert_eq!(e("x"), 100);
        let missing = call(&st, "groups.getLongPollServer", &[]).unwrap_err();
        assert_eq!(missing.code, 100);
    }

    #[tokio::test]
    async fn group_wall_posts_and_comments_are_bot_events() {
        let st = state(Profile::Vk);
        let ts = st.longpoll.ts();
        let post = call(&st, "Wall.post", &[("owner_id", "-1"), ("message", "news")]).unwrap();
        let id = post["post_id"].as_i64().unwrap().to_string();
        call(
            &st,
            "Wall.createComment",
            &[("owner_id", "-1"), ("post_id", &id), ("message", "first")],
        )
        .unwrap();
        call(&st, "Wall.post", &[("owner_id", "1"), ("message", "mine")]).unwrap();
        match st
            .longpoll
            .wait(-1, Some(ts), Duration::from_millis(1))
            .await
        {
            super::super::longpoll::PollAnswer::Updates { updates, .. } => {
                let kinds: Vec<&str> = updates.iter().filter_map(|u| u["type"].as_str()).collect();
                assert_eq!(kinds, ["wall_post_new", "wall_reply_new"]);
                assert_eq!(updates[0]["object"]["text"], "news");
                assert_eq!(updates[1]["object"]["post_id"].to_string(), id);
                assert!(updates
                    .iter()
                    .all(|u| u["group_id"] == 1 && u["v"] == EVENTS_VERSION));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn multipart_bodies_are_counted_by_file_parts() {
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"abc\""),
            Some("abc".to_string())
        );
        assert_eq!(multipart_boundary("application/json"), None);
        let body = "--b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n\r\nPNG\r\n--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"e\"\r\n\r\n\r\n--b--\r\n";
        assert_eq!(
            count_files(body.as_bytes(), "b"),
            1,
            "empty files do not count"
        );
    }

    #[tokio::test]
    async fn photo_uploads_go_to_the_mock_and_saved_photos_are_attachable() {
        let mock = MockServer::start(MockConfig {
            profile: Profile::Vk,
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let base = mock.uri();
        let call = |m: &str, p: Vec<(&str, String)>| {
            let mut form = vec![
                ("access_token", DEFAULT_TOKEN.to_string()),
                ("v", "5.199".into()),
            ];
            form.extend(p);
            let req = http.post(format!("{base}/method/{m}")).form(&form);
            async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let server = call(
            "photos.getMessagesUploadServer",
            vec![("peer_id", "2".into())],
        )
        .await;
        let url = server["response"]["upload_url"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(url.starts_with(&format!("{base}/upload/photo")), "{url}");
        let empty: Value = http.post(&url).send().await.unwrap().json().await.unwrap();
        assert!(empty["error"]
            .as_str()
            .unwrap()
            .starts_with("ERR_UPLOAD_FILE_NOT_UPLOADED"));
        let up: Value = http
            .post(&url)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body("--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\u{89}PNG....\r\n--XyZ--\r\n")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(up["photo"].as_str().unwrap().starts_with("[{"), "{up}");
        let saved = call(
            "photos.saveMessagesPhoto",
            vec![
                ("photo", up["photo"].as_str().unwrap().into()),
                ("hash", up["hash"].as_str().unwrap().into()),
                ("server", up["server"].to_string()),
            ],
        )
        .await;
        let photo = &saved["response"][0];
        let key = format!("photo{}_{}", photo["owner_id"], photo["id"]);
        let sent = call(
            "messages.send",
            vec![
                ("peer_id", "2".into()),
                ("message", "look".into()),
                ("attachment", key),
                ("random_id", "0".into()),
            ],
        )
        .await;
        assert!(sent["response"].is_i64(), "{sent}");
        let hist = call(
            "messages.getHistory",
            vec![("peer_id", "2".into()), ("count", "1".into())],
        )
        .await;
        assert_eq!(
            hist["response"]["items"][0]["attachments"][0]["photo"]["id"],
            photo["id"]
        );
        let album = call("photos.getUploadServer", vec![("album_id", "1".into())]).await;
        assert!(album["response"]["upload_url"]
            .as_str()
            .unwrap()
            .ends_with("kind=album&album_id=1"));
        let wall = call("photos.getWallUploadServer", vec![]).await;
        assert_eq!(wall["response"]["album_id"], -14);
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn the_poll_endpoint_over_http() {
        let mock = MockServer::start(MockConfig {
            profile: Profile::Vk,
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let base = mock.uri();
        let lp: Value = http
            .post(format!("{base}/method/groups.getLongPollServer"))
            .form(&[("access_token", DEFAULT_TOKEN), ("group_id", "1")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let lp = &lp["response"];
        let server = lp["server"].as_str().unwrap();
        let (key, ts) = (lp["key"].as_str().unwrap(), lp["ts"].as_str().unwrap());
        let wrong: Value = http
            .get(format!("{server}?act=a_check&key=nope&ts={ts}&wait=1"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(wrong, json!({"failed": 2}));
        let pushed: Value = http
            .post(format!("{base}/__vkconform/vk/group-event"))
            .json(&json!({"text": "hi bot"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(pushed["type"], "message_new");
        // Bots poll with POST too (vkbottle), query parameters as usual.
        let got: Value = http
            .post(format!("{server}?act=a_check&key={key}&ts={ts}&wait=5"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["ts"], pushed["ts"]);
        let ev = &got["updates"][0];
        assert_eq!(ev["type"], "message_new");
        assert_eq!(ev["object"]["message"]["text"], "hi bot");
        assert_eq!(ev["object"]["message"]["from_id"], 2);
        let old: Value = http
            .get(format!("{server}?act=a_check&key={key}&ts=1&wait=1"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(old["failed"], 1);
        assert!(old["ts"].is_string());
        let bad = http
            .post(format!("{base}/__vkconform/vk/group-event"))
            .json(&json!({"group_id": 999}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        mock.shutdown().await;
    }
}
