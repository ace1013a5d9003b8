//! The stateful world over HTTP: multi-step flows, paging, `fields`, and the
//! user long poll `/nim<uid>`. Every answer the world produces is checked
//! against its method's `$defs/response`.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use vkconform::api::Api;
use vkconform::mock::{MockConfig, MockServer, DEFAULT_TOKEN};

struct Vk {
    http: reqwest::Client,
    mock: MockServer,
}

impl Vk {
    async fn start() -> Vk {
        Vk {
            http: crate::common::client(),
            mock: crate::common::mock(MockConfig::default()).await,
        }
    }

    /// POSTs a form to `/method/<name>` with the default token; the whole body.
    async fn raw(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let mut form: Vec<(&str, &str)> = vec![("access_token", DEFAULT_TOKEN)];
        form.extend_from_slice(params);
        let resp = self
            .http
            .post(format!("{}/method/{method}", self.mock.uri()))
            .form(&form)
            .send()
            .await
            .expect("request");
        resp.json().await.expect("JSON body")
    }

    /// The `response` of a successful call, validated against the method's schema.
    async fn ok(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let body = self.raw(method, params).await;
        let Some(resp) = body.get("response").cloned() else {
            panic!("{method} {params:?} failed: {body}")
        };
        let spec = self
            .mock
            .state()
            .catalog
            .method(Api::Openvk, method)
            .expect("documented method");
        if let Err(v) = spec.validate_response(&resp) {
            panic!("{method} answered {resp} which does not match its schema: {v:?}");
        }
        resp
    }

    /// The `error_code` of a failing call.
    async fn err(&self, method: &str, params: &[(&str, &str)]) -> i64 {
        let body = self.raw(method, params).await;
        body.get("error_code")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("{method} {params:?} should fail: {body}"))
    }
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|x| x["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn wall_post_comment_like_flow() {
    let vk = Vk::start().await;
    let post = vk
        .ok(
            "Wall.post",
            &[("owner_id", "1"), ("message", "Hello <world> & all")],
        )
        .await;
    let id = post["post_id"].as_i64().unwrap();
    assert_eq!(id, 4, "new ids continue after the highest recorded one");
    let key = format!("1_{id}");
    let ps = id.to_string();

    let got = vk.ok("Wall.getById", &[("posts", &key)]).await;
    assert_eq!(got["items"][0]["id"], id);
    assert_eq!(
        got["items"][0]["text"], "Hello &lt;world&gt; &amp; all",
        "texts are HTML-escaped like OpenVK's"
    );
    assert_eq!(
        got["items"][0]["can_edit"], true,
        "getById sends boolean flags"
    );
    let old = vk
        .ok("Wall.getById", &[("posts", &key), ("v", "5.92")])
        .await;
    assert!(
        old.is_array(),
        "before 5.138 Wall.getById is a bare array: {old}"
    );
    let none = vk.ok("Wall.getById", &[("posts", "1_999,1_2")]).await;
    assert_eq!(
        ids(&none["items"]),
        vec![2],
        "unknown posts are dropped silently"
    );

    let c = vk
        .ok(
            "Wall.createComment",
            &[("owner_id", "1"), ("post_id", &ps), ("message", "First!")],
        )
        .await;
    let cid = c["comment_id"].as_i64().unwrap();
    assert_eq!(cid, 3);
    assert_eq!(c["parents_stack"], json!([]));
    let comments = vk
        .ok("Wall.getComments", &[("owner_id", "1"), ("post_id", &ps)])
        .await;
    assert_eq!(comments["count"], 1);
    assert_eq!(comments["items"][0]["id"], cid);
    assert_eq!(comments["items"][0]["text"], "First!");
    let one = vk
        .ok(
            "Wall.getComment",
            &[("owner_id", "1"), ("comment_id", &cid.to_string())],
        )
        .await;
    assert_eq!(one["items"][0]["id"], cid);

    let liked = vk
        .ok(
            "Likes.add",
            &[("type", "post"), ("owner_id", "1"), ("item_id", &ps)],
        )
        .await;
    assert_eq!(liked, json!({"likes": 1}));
    let again = vk
        .ok(
            "Likes.add",
            &[("type", "post"), ("owner_id", "1"), ("item_id", &ps)],
        )
        .await;
    assert_eq!(again, json!({"likes": 1}), "liking twice counts once");
    let is = vk
        .ok(
            "Likes.isLiked",
            &[
                ("user_id", "1"),
                ("type", "post"),
                ("owner_id", "1"),
                ("item_id", &ps),
            ],
        )
        .await;
    assert_eq!(is, json!({"liked": 1, "copied": 0}));
    let seeded = vk
        .ok(
            "Likes.add",
            &[("type", "post"), ("owner_id", "1"), ("item_id", "1")],
        )
        .await;
    assert_eq!(seeded, json!({"likes": 4}), "post 1_1 had 3 recorded likes");
    let by2 = vk
        .ok(
            "Likes.isLiked",
            &[
                ("user_id", "2"),
                ("type", "post"),
                ("owner_id", "1"),
                ("item_id", "1"),
            ],
        )
        .await;
    assert_eq!(by2["liked"], 1, "recorded likers are known");
    let unliked = vk
        .ok(
            "Likes.delete",
            &[("type", "post"), ("owner_id", "1"), ("item_id", "1")],
        )
        .await;
    assert_eq!(unliked, json!({"likes": 3}));
    assert_eq!(
        vk.err(
            "Likes.add",
            &[("type", "post"), ("owner_id", "1"), ("item_id", "4242")]
        )
        .await,
        100
    );

    let wall = vk.ok("Wall.get", &[("owner_id", "1")]).await;
    assert_eq!(wall["count"], 4);
    assert_eq!(
        ids(&wall["items"]),
        vec![id, 3, 2, 1],
        "new posts come first"
    );
    assert_eq!(wall["items"][0]["comments"]["count"], 1);
    assert_eq!(wall["items"][0]["likes"]["count"], 1);
    assert_eq!(wall["items"][0]["likes"]["user_likes"], 1);
    assert_eq!(wall["items"][0]["can_edit"], 1, "Wall.get sends 0/1 flags");

    let deleted = vk
        .ok(
            "Wall.deleteComment",
            &[("owner_id", "1"), ("comment_id", &cid.to_string())],
        )
        .await;
    assert_eq!(deleted, 1);
    let comments = vk
        .ok("Wall.getComments", &[("owner_id", "1"), ("post_id", &ps)])
        .await;
    assert_eq!(comments["count"], 0);

    // Errors for things the world does not have.
    assert_eq!(
        vk.err("Wall.post", &[("owner_id", "999"), ("message", "x")])
            .await,
        18
    );
    assert_eq!(
        vk.err("Wall.post", &[("owner_id", "1")]).await,
        100,
        "no message and no attachment"
    );
    assert_eq!(
        vk.err(
            "Wall.createComment",
            &[("owner_id", "1"), ("post_id", "777"), ("message", "x")]
        )
        .await,
        100
    );

    // Another wall and an attachment from the world.
    let club = vk
        .ok(
            "Wall.post",
            &[
                ("owner_id", "-1"),
                ("message", "Club news"),
                ("from_group", "1"),
                ("attachments", "photo1_1"),
            ],
        )
        .await;
    assert_eq!(club["post_id"], 2);
    let club_wall = vk
        .ok("Wall.get", &[("owner_id", "-1"), ("extended", "1")])
        .await;
    assert_eq!(club_wall["items"][0]["from_id"], -1);
    assert_eq!(club_wall["items"][0]["attachments"][0]["type"], "photo");
    assert_eq!(club_wall["groups"][0]["id"], 1);
}

#[tokio::test]
async fn messages_flow() {
    let vk = Vk::start().await;
    let sent = vk
        .ok(
            "Messages.send",
            &[("peer_id", "2"), ("message", "Ping from the test")],
        )
        .await;
    let id = sent.as_i64().expect("a bare integer id");
    assert_eq!(id, 4);
    let hist = vk.ok("Messages.getHistory", &[("peer_id", "2")]).await;
    assert_eq!(hist["count"], 3);
    assert_eq!(ids(&hist["items"]), vec![id, 2, 1], "newest first");
    assert_eq!(hist["items"][0]["text"], "Ping from the test");
    assert_eq!(hist["items"][0]["out"], 1);
    assert_eq!(hist["items"][0]["peer_id"], 2);
    assert_eq!(hist["items"][0]["conversation_message_id"], 3);
    let rev = vk
        .ok("Messages.getHistory", &[("user_id", "2"), ("rev", "1")])
        .await;
    assert_eq!(ids(&rev["items"]), vec![1, 2, id]);
    let ext = vk
        .ok(
            "Messages.getHistory",
            &[("peer_id", "2"), ("extended", "1"), ("fields", "sex")],
        )
        .await;
    let profiles = ext["profiles"].as_array().unwrap();
    assert!(
        profiles.iter().any(|p| p["id"] == 2 && p["sex"] == 1),
        "{ext}"
    );
    assert!(
        profiles.iter().all(|p| p.get("status").is_none()),
        "fields not asked for are removed"
    );

    let by_id = vk
        .ok(
            "Messages.getById",
            &[("message_ids", &format!("{id},3,999"))],
        )
        .await;
    assert_eq!(ids(&by_id["items"]), vec![id, 3]);
    assert_eq!(by_id["count"], 2);

    let to3 = vk
        .ok("Messages.send", &[("user_id", "3"), ("message", "Pong")])
        .await
        .as_i64()
        .unwrap();
    assert_eq!(to3, id + 1);
    let convs = vk.ok("Messages.getConversations", &[]).await;
    let peers: Vec<i64> = convs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation"]["peer"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        peers,
        vec![3, 2],
        "the conversation with the newest message first"
    );
    assert_eq!(convs["items"][0]["last_message"]["id"], to3);

    let many = vk
        .ok("Messages.send", &[("user_ids", "2,3"), ("message", "Both")])
        .await;
    assert_eq!(many, json!([to3 + 1, to3 + 2]));
    assert_eq!(
        vk.err("Messages.send", &[("user_id", "999"), ("message", "x")])
            .await,
        936
    );
    assert_eq!(
        vk.err(
            "Messages.send",
            &[("peer_id", "2000000001"), ("message", "x")]
        )
        .await,
        -151
    );
    let del = vk
        .ok("Messages.delete", &[("message_ids", &format!("{id},999"))])
        .await;
    assert_eq!(del, json!({id.to_string(): 1, "999": 0}));
    let hist = vk.ok("Messages.getHistory", &[("peer_id", "2")]).await;
    assert!(!ids(&hist["items"]).contains(&id));
    assert_eq!(
        vk.ok("Messages.getById", &[("message_ids", &id.to_string())])
            .await["count"],
        0
    );
    assert_eq!(
        vk.ok("Messages.restore", &[("message_id", &id.to_string())])
            .await,
        1
    );
    let hist = vk.ok("Messages.getHistory", &[("peer_id", "2")]).await;
    assert!(ids(&hist["items"]).contains(&id), "restored");
    assert_eq!(
        vk.ok("Messages.restore", &[("message_ids", "999")]).await,
        0
    );
}

#[tokio::test]
async fn status_flow() {
    let vk = Vk::start().await;
    assert_eq!(vk.ok("Status.get", &[]).await["text"], "Status example");
    assert_eq!(
        vk.ok("Status.set", &[("text", "Listening to Lagtrain")])
            .await,
        1
    );
    assert_eq!(
        vk.ok("Status.get", &[]).await["text"],
        "Listening to Lagtrain"
    );
    assert_eq!(
        vk.ok("Status.get", &[("user_id", "1")]).await["text"],
        "Listening to Lagtrain"
    );
    assert_eq!(
        vk.ok("Status.get", &[("user_id", "2")]).await["text"],
        "Hello from OpenVK"
    );
    assert_eq!(
        vk.err("Status.set", &[("text", "x"), ("group_id", "1")])
            .await,
        501
    );
}

#[tokio::test]
async fn notes_flow() {
    let vk = Vk::start().await;
    let id = vk
        .ok(
            "Notes.add",
            &[("title", "Shopping list"), ("text", "<p>Milk</p>")],
        )
        .await
        .as_i64()
        .expect("bare id");
    assert_eq!(id, 2);
    let list = vk.ok("Notes.get", &[("user_id", "1")]).await;
    assert_eq!(list["count"], 2);
    assert_eq!(ids(&list["items"]), vec![id, 1]);
    let note = vk
        .ok(
            "Notes.getById",
            &[("note_id", &id.to_string()), ("owner_id", "1")],
        )
        .await;
    assert_eq!(note["title"], "Shopping list");
    assert_eq!(
        note["text"], "<p>Milk</p>",
        "note text is HTML and not escaped"
    );
    assert_eq!(note["view_url"], format!("/note1_{id}"));
    assert_eq!(
        vk.ok(
            "Notes.edit",
            &[("note_id", &id.to_string()), ("title", "Groceries")]
        )
        .await,
        1
    );
    assert_eq!(
        vk.ok(
            "Notes.getById",
            &[("note_id", &id.to_string()), ("owner_id", "1")]
        )
        .await["title"],
        "Groceries"
    );
    let page = vk
        .ok(
            "Notes.get",
            &[("user_id", "1"), ("count", "1"), ("offset", "1")],
        )
        .await;
    assert_eq!(ids(&page["items"]), vec![1]);
    assert_eq!(page["count"], 2);
    assert_eq!(
        vk.ok("Notes.delete", &[("note_id", &id.to_string())]).await,
        1
    );
    let list = vk.ok("Notes.get", &[("user_id", "1")]).await;
    assert_eq!(ids(&list["items"]), vec![1]);
    assert_eq!(
        vk.err(
            "Notes.getById",
            &[("note_id", &id.to_string()), ("owner_id", "1")]
        )
        .await,
        15
    );
    assert_eq!(
        vk.err("Notes.delete", &[("note_id", &id.to_string())])
            .await,
        15
    );
    assert_eq!(vk.ok("Notes.get", &[("user_id", "2")]).await["count"], 0);
}

#[tokio::test]
async fn friends_flow() {
    let vk = Vk::start().await;
    let status = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["user_id"].as_i64().unwrap(),
                    s["friend_status"].as_i64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = vk
        .ok("Friends.areFriends", &[("user_ids", "2,4,5,6")])
        .await;
    assert_eq!(status(before), vec![(2, 3), (4, 2), (5, 1), (6, 0)]);

    assert_eq!(
        vk.ok("Friends.add", &[("user_id", "6")]).await,
        1,
        "a request is sent"
    );
    assert_eq!(
        vk.ok("Friends.add", &[("user_id", "4")]).await,
        2,
        "user 4's request is accepted"
    );
    let after = vk.ok("Friends.areFriends", &[("user_ids", "4,6")]).await;
    assert_eq!(status(after), vec![(4, 3), (6, 1)]);
    let friends = vk.ok("Friends.get", &[("fields", "sex")]).await;
    assert_eq!(ids(&friends["items"]), vec![2, 3, 4]);
    assert_eq!(friends["items"][2]["sex"], 1);
    assert!(
        friends["items"][0].get("screen_name").is_none(),
        "fields filtering applies"
    );
    let out = vk.ok("Friends.getRequests", &[("out", "1")]).await;
    assert_eq!(ids(&out["items"]), vec![5, 6]);
    let incoming = vk.ok("Friends.getRequests", &[]).await;
    assert_eq!(incoming["count"], 0);

    assert_eq!(vk.ok("Friends.delete", &[("user_id", "4")]).await, 1);
    assert_eq!(
        status(vk.ok("Friends.areFriends", &[("user_ids", "4")]).await),
        vec![(4, 2)],
        "back to a follower"
    );
    // As on OpenVK, only friendships can be deleted, not outgoing requests.
    assert_eq!(vk.err("Friends.delete", &[("user_id", "6")]).await, 15);
    assert_eq!(vk.err("Friends.add", &[("user_id", "1")]).await, 174);
    assert_eq!(vk.err("Friends.add", &[("user_id", "999")]).await, 177);
    let page = vk
        .ok("Friends.get", &[("count", "1"), ("offset", "1")])
        .await;
    assert_eq!(page["count"], 2);
    assert_eq!(ids(&page["items"]), vec![3]);
}

#[tokio::test]
async fn audio_album_flow() {
    let vk = Vk::start().await;
    let album = vk
        .ok("Audio.addAlbum", &[("title", "Road trip")])
        .await
        .as_i64()
        .expect("bare playlist id");
    assert_eq!(album, 2);
    let a = album.to_string();
    assert_eq!(vk.ok("Audio.get", &[("album_id", &a)]).await["count"], 0);
    assert_eq!(
        vk.ok(
            "Audio.moveToAlbum",
            &[("album_id", &a), ("audio_ids", "1_3,1_1")]
        )
        .await,
        1
    );
    assert_eq!(
        vk.ok(
            "Audio.moveToAlbum",
            &[("album_id", &a), ("audio_ids", "1_3")]
        )
        .await,
        0,
        "already there"
    );
    let got = vk.ok("Audio.get", &[("album_id", &a)]).await;
    assert_eq!(ids(&got["items"]), vec![3, 1]);
    assert_eq!(got["items"][0]["user"]["id"], 1, "need_user defaults to 1");
    let page = vk
        .ok(
            "Audio.get",
            &[
                ("album_id", &a),
                ("count", "1"),
                ("offset", "1"),
                ("need_user", "0"),
            ],
        )
        .await;
    assert_eq!(ids(&page["items"]), vec![1]);
    assert!(page["items"][0].get("user").is_none());
    let albums = vk.ok("Audio.getAlbums", &[]).await;
    assert_eq!(ids(&albums["items"]), vec![1, album]);
    assert_eq!(albums["items"][1]["size"], 2);
    assert_eq!(albums["items"][1]["length"], 180 + 251);
    assert_eq!(
        vk.ok(
            "Audio.removeFromAlbum",
            &[("album_id", &a), ("audio_ids", "1_1")]
        )
        .await,
        1
    );
    assert_eq!(
        ids(&vk.ok("Audio.get", &[("album_id", &a)]).await["items"]),
        vec![3]
    );
    assert_eq!(
        ids(&vk.ok("Audio.get", &[("album_id", "1")]).await["items"]),
        vec![1, 2],
        "the recorded playlist is untouched"
    );
    assert_eq!(
        vk.err(
            "Audio.moveToAlbum",
            &[("album_id", "999"), ("audio_ids", "1_1")]
        )
        .await,
        260
    );
    assert_eq!(vk.ok("Audio.deleteAlbum", &[("album_id", &a)]).await, 1);
    assert_eq!(vk.err("Audio.get", &[("album_id", &a)]).await, 260);
}

#[tokio::test]
async fn board_flow() {
    let vk = Vk::start().await;
    let topic = vk
        .ok(
            "Board.addTopic",
            &[("group_id", "1"), ("title", "Meetup"), ("text", "Friday?")],
        )
        .await
        .as_i64()
        .expect("bare topic id");
    assert_eq!(topic, 3);
    let t = topic.to_string();
    let cid = vk
        .ok(
            "Board.createComment",
            &[("group_id", "1"), ("topic_id", &t), ("message", "I'm in")],
        )
        .await
        .as_i64()
        .expect("bare comment id");
    let comments = vk
        .ok("Board.getComments", &[("group_id", "1"), ("topic_id", &t)])
        .await;
    let texts: Vec<&str> = comments["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["Friday?", "I'm in"]);
    assert_eq!(comments["items"][1]["id"], cid);
    let page = vk
        .ok(
            "Board.getComments",
            &[
                ("group_id", "1"),
                ("topic_id", &t),
                ("count", "1"),
                ("offset", "1"),
                ("need_likes", "1"),
            ],
        )
        .await;
    assert_eq!(ids(&page["items"]), vec![cid]);
    assert_eq!(page["items"][0]["can_like"], 1);
    let topics = vk
        .ok("Board.getTopics", &[("group_id", "1"), ("preview", "1")])
        .await;
    assert_eq!(topics["count"], 3);
    assert_eq!(ids(&topics["items"]), vec![1, 2, topic]);
    assert_eq!(topics["items"][2]["comments"], 2);
    assert_eq!(topics["items"][2]["first_comment"], "Friday?");
    assert_eq!(topics["items"][2]["last_comment"], "I'm in");
    let recorded = vk
        .ok("Board.getComments", &[("group_id", "1"), ("topic_id", "1")])
        .await;
    assert_eq!(ids(&recorded["items"]), vec![1, 2]);
    assert_eq!(
        vk.err(
            "Board.createComment",
            &[("group_id", "1"), ("topic_id", "2"), ("message", "x")]
        )
        .await,
        15,
        "topic 2 is closed"
    );
    assert_eq!(
        vk.ok("Board.closeTopic", &[("group_id", "1"), ("topic_id", &t)])
            .await,
        1
    );
    assert_eq!(
        vk.err(
            "Board.createComment",
            &[("group_id", "1"), ("topic_id", &t), ("message", "x")]
        )
        .await,
        15
    );
    assert_eq!(
        vk.ok("Board.deleteTopic", &[("group_id", "1"), ("topic_id", &t)])
            .await,
        1
    );
    assert_eq!(
        vk.ok("Board.getTopics", &[("group_id", "1")]).await["count"],
        2
    );
    assert_eq!(
        vk.err("Board.getComments", &[("group_id", "1"), ("topic_id", &t)])
            .await,
        5
    );
}

#[tokio::test]
async fn collections_page_with_offset_and_count() {
    let vk = Vk::start().await;
    for i in 0..3 {
        vk.ok(
            "Wall.post",
            &[("owner_id", "1"), ("message", &format!("post {i}"))],
        )
        .await;
        vk.ok(
            "Messages.send",
            &[("peer_id", "3"), ("message", &format!("msg {i}"))],
        )
        .await;
    }
    let wall = vk
        .ok(
            "Wall.get",
            &[("owner_id", "1"), ("count", "2"), ("offset", "1")],
        )
        .await;
    assert_eq!(wall["count"], 6, "count stays the total");
    assert_eq!(ids(&wall["items"]), vec![5, 4]);
    let hist = vk
        .ok(
            "Messages.getHistory",
            &[("peer_id", "3"), ("count", "2"), ("offset", "1")],
        )
        .await;
    assert_eq!(hist["count"], 4);
    assert_eq!(hist["items"].as_array().unwrap().len(), 2);
    assert_eq!(hist["items"][0]["text"], "msg 1");
    let tail = vk
        .ok("Messages.getHistory", &[("peer_id", "3"), ("offset", "10")])
        .await;
    assert_eq!(tail["items"], json!([]));
    let c = vk
        .ok(
            "Wall.getComments",
            &[
                ("owner_id", "1"),
                ("post_id", "1"),
                ("count", "1"),
                ("offset", "1"),
            ],
        )
        .await;
    assert_eq!(c["count"], 2);
    assert_eq!(ids(&c["items"]), vec![2]);
    let ext = vk
        .ok(
            "Wall.getComments",
            &[("owner_id", "1"), ("post_id", "1"), ("extended", "1")],
        )
        .await;
    assert!(
        ext["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("sex").is_none()),
        "no fields asked: base fields only"
    );
}

// ------------------------------------------------------------------ long poll

async fn lp_server(vk: &Vk) -> (String, String, u64) {
    let s = vk.ok("Messages.getLongPollServer", &[]).await;
    let key = s["key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 32);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(s["pts"], -1);
    (
        s["server"].as_str().unwrap().to_string(),
        key,
        s["ts"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn long_poll_server_points_at_the_mock() {
    let vk = Vk::start().await;
    let (server, key, _) = lp_server(&vk).await;
    assert_eq!(
        server,
        format!("{}/nim1", vk.mock.uri()),
        "default v: a full http:// URL"
    );
    let explicit = vk
        .ok(
            "Messages.getLongPollServer",
            &[("v", "5.131"), ("need_pts", "0")],
        )
        .await;
    assert_eq!(
        explicit["server"],
        format!("{}/nim1", vk.mock.addr()),
        "explicit v: bare host/nim<uid>"
    );
    assert!(explicit.get("pts").is_none());
    assert_eq!(explicit["key"], key, "the key is stable");
}

#[tokio::test]
async fn long_poll_delivers_a_sent_message_to_a_waiting_poll() {
    let vk = Vk::start().await;
    let (server, key, ts) = lp_server(&vk).await;
    let url = format!("{server}?act=a_check&key={key}&ts={ts}&wait=25");
    let http = vk.http.clone();
    let started = Instant::now();
    let poll = tokio::spawn(async move {
        http.get(url)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = vk
        .ok("Messages.send", &[("peer_id", "2"), ("message", "Wake up")])
        .await
        .as_i64()
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the poll returns promptly")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        got["ts"],
        ts + 2,
        "one event for the sender, one for the recipient"
    );
    let ev = &got["updates"][0];
    assert_eq!(ev[0], 4);
    assert_eq!(ev[1], id);
    assert_eq!(
        ev[2].as_i64().unwrap() & 2,
        2,
        "the sender's copy carries the OUTBOX flag"
    );
    assert_eq!(ev[3], 2);
    assert_eq!(ev[5], "Wake up");
    assert_eq!(ev[8], id << 2);

    // The next poll from the new ts waits for newer events only; POST form works too (vkbottle).
    let next = vk
        .http
        .post(&server)
        .form(&[
            ("act", "a_check"),
            ("key", key.as_str()),
            ("ts", &got["ts"].to_string()),
            ("wait", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    let next: Value = next.json().await.unwrap();
    assert_eq!(next, json!({"ts": ts + 2, "updates": []}));
}

#[tokio::test]
async fn long_poll_times_out_and_refuses_bad_requests() {
    let vk = Vk::start().await;
    let (server, key, ts) = lp_server(&vk).await;
    let started = Instant::now();
    let idle = tokio::time::timeout(
        Duration::from_secs(5),
        vk.http
            .get(format!("{server}?act=a_check&key={key}&ts={ts}&wait=1"))
            .send(),
    )
    .await
    .expect("wait=1 ends")
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited");
    assert_eq!(
        idle.json::<Value>().await.unwrap(),
        json!({"ts": ts, "updates": []})
    );

    let wrong = vk
        .http
        .get(format!(
            "{server}?act=a_check&key=00000000000000000000000000000000&ts={ts}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 200);
    assert_eq!(wrong.json::<Value>().await.unwrap(), json!({"failed": 3}));

    let no_act = vk
        .http
        .get(format!("{server}?key={key}&ts={ts}"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_act.status(), 400);
    assert!(no_act.bytes().await.unwrap().is_empty());

    let no_key = vk
        .http
        .get(format!("{server}?act=a_check&ts={ts}"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 403);
    assert!(no_key.bytes().await.unwrap().is_empty());

    let stale = vk
        .http
        .get(format!("{server}?act=a_check&key={key}&ts=0&wait=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.json::<Value>().await.unwrap(),
        json!({"failed": 1, "ts": ts})
    );

    for path in ["nimabc", "favicon.ico", "nim"] {
        let r = vk
            .http
            .get(format!("{}/{path}?act=a_check&key={key}", vk.mock.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "/{path}");
        let body: Value = r.json().await.expect("a JSON error");
        assert_eq!(body["error_code"], 3, "/{path}: {body}");
    }
}

#[tokio::test]
async fn users_get_answers_any_id_list_and_the_caller_by_default() {
    use vkconform::mock::{MockConfig, MockServer, DEFAULT_TOKEN};
    let m = MockServer::start(MockConfig::default()).await.unwrap();
    let c = reqwest::Client::new();
    let get = |q: String| {
        let c = c.clone();
        let url = format!("{}/method/users.get?{q}", m.uri());
        async move {
            c.get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let r = get("user_ids=1,4,6&fields=sex".into()).await;
    let ids: Vec<i64> = r["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 4, 6]);
    assert!(r["response"][0].get("sex").is_some() && r["response"][0].get("photo_50").is_none());
    let r = get("user_ids=3,999".into()).await;
    assert_eq!(r["response"][1]["deactivated"], "deleted");
    let r = get(String::new()).await;
    assert_eq!(
        r["response"],
        serde_json::json!([]),
        "no ids and no token: nobody"
    );
    let token = {
        let code =
            vkconform::mock::token::totp_now(vkconform::mock::DEFAULT_2FA_SECRET, 0).unwrap();
        let b: serde_json::Value = c
            .get(format!("{}/token", m.uri()))
            .query(&[
                ("grant_type", "password"),
                ("username", vkconform::mock::DEFAULT_2FA_LOGIN),
                ("password", vkconform::mock::DEFAULT_PASSWORD),
                ("code", &code),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        b["access_token"].as_str().unwrap().to_string()
    };
    let r = get(format!("access_token={token}")).await;
    assert_eq!(r["response"][0]["id"], 2, "no ids: the token's user");
    let r = get(format!("access_token={DEFAULT_TOKEN}")).await;
    assert_eq!(r["response"][0]["id"], 1);
    m.shutdown().await;
}
