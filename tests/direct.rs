//! Direct rooms through the real router, on the backend the fixture opens (SQLite here;
//! `scripts/test` runs this file over PostgreSQL too): a conversation only its two members read.
//! For a third key, no key and a seed client, every envelope answers as if it did not exist
//! (the same 404 as a room not served, the same 404 as an unknown id), before and after its
//! first message; its members get everything, a held sync of theirs included.

mod common;

use std::sync::Arc;

use ajax_chat::protocol::direct_room;
use ajax_chat::server::identity::Identity;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::Fixture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "an-operator-token-of-at-least-32-characters";
const ANN: &str = "ann-key-0123456789abcdefghij";
const BOB: &str = "bob-key-0123456789abcdefghij";
const EVE: &str = "eve-key-0123456789abcdefghij";

struct Chat {
    fx: Fixture,
    router: Router,
    ann: String,
    bob: String,
    eve: String,
}

impl Chat {
    async fn new() -> Self {
        let mut fx = Fixture::new().await;
        fx.state.identity = Arc::new(Identity::new(fx.store.secret(), Some(ADMIN)));
        fx.state.rooms = Arc::new(ajax_chat::server::rooms::Rooms::parse("dev").unwrap());
        let print = |key| fx.state.identity.fingerprint(key);
        let (ann, bob, eve) = (print(ANN), print(BOB), print(EVE));
        let router = fx.router();
        Self {
            fx,
            router,
            ann,
            bob,
            eve,
        }
    }

    /// Ann's and Bob's conversation.
    fn dm(&self) -> String {
        direct_room(&self.ann, &self.bob)
    }

    async fn call(&self, body: Value) -> (StatusCode, Value) {
        let request = Request::post("/ajax")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn expect(&self, body: Value, status: StatusCode) -> Value {
        let (got, reply) = self.call(body.clone()).await;
        assert_eq!(got, status, "{body} -> {reply}");
        reply
    }

    /// Posts `text` to `room` with `key`: the message's id.
    async fn post(&self, key: &str, room: &str, text: &str) -> u64 {
        let body = json!({"type": "message", "data": {"sender": "Someone", "message": text, "room": room, "key": key}});
        let reply = self.expect(body, StatusCode::OK).await;
        reply["data"]["id"].as_u64().unwrap()
    }

    /// The texts of a sync reply's messages.
    async fn sync_texts(&self, data: Value) -> Vec<String> {
        let reply = self
            .expect(json!({"type": "sync", "data": data}), StatusCode::OK)
            .await;
        texts(&reply)
    }
}

fn texts(reply: &Value) -> Vec<String> {
    reply["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["kind"] == "message")
        .map(|item| item["message"].as_str().unwrap().to_owned())
        .collect()
}

/// What a reader who may not see `dm` gets for every envelope that names it: the 404 of a room
/// not served, byte for byte but the name.
async fn unknown_room(chat: &Chat, request: impl Fn(&str) -> Value) {
    let (status, for_dm) = chat.call(request(&chat.dm())).await;
    let (served_status, for_unserved) = chat.call(request("ops")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{for_dm}");
    assert_eq!(served_status, StatusCode::NOT_FOUND, "{for_unserved}");
    let renamed = for_dm.to_string().replace(&chat.dm(), "ops");
    assert_eq!(renamed, for_unserved.to_string());
}

/// Every envelope that names a direct room, for `key` (or none), must answer as for a room
/// not served.
async fn every_envelope_hides_it(chat: &Chat, key: Option<&str>) {
    let with_key = |mut data: Value| {
        if let Some(key) = key {
            data["key"] = json!(key);
        }
        data
    };
    unknown_room(chat, |room| {
        json!({"type": "sync", "data": with_key(json!({"last_message": 0, "rooms": [room]}))})
    })
    .await;
    unknown_room(chat, |room| {
        json!({"type": "sync", "data": with_key(json!({"last_message": 0, "rooms": ["general", room], "wait_ms": 1000}))})
    })
    .await;
    unknown_room(
        chat,
        |room| json!({"type": "history", "data": with_key(json!({"room": room}))}),
    )
    .await;
    unknown_room(
        chat,
        |room| json!({"type": "search", "data": with_key(json!({"q": "secret", "room": room}))}),
    )
    .await;
    unknown_room(
        chat,
        |room| json!({"type": "rooms", "data": with_key(json!({"read": {room: 0}}))}),
    )
    .await;
    unknown_room(chat, |room| {
        json!({"type": "message", "data": with_key(json!({"sender": "Eve", "message": "let me in", "room": room}))})
    })
    .await;
}

#[tokio::test]
async fn only_its_two_members_read_a_direct_room() {
    let chat = Chat::new().await;
    let dm = chat.dm();
    // Before the first message and after it, a third key or none learns nothing.
    every_envelope_hides_it(&chat, Some(EVE)).await;
    every_envelope_hides_it(&chat, None).await;
    let first = chat.post(ANN, &dm, "the secret plan").await;
    chat.post(BOB, &dm, "secret agreed").await;
    chat.post(ANN, "general", "hello everyone").await;
    every_envelope_hides_it(&chat, Some(EVE)).await;
    every_envelope_hides_it(&chat, None).await;

    // Its members read it, with their keys.
    for key in [ANN, BOB] {
        let texts = chat
            .sync_texts(json!({"last_message": 0, "rooms": [dm], "key": key}))
            .await;
        assert_eq!(texts, ["the secret plan", "secret agreed"]);
        let history = chat
            .expect(
                json!({"type": "history", "data": {"room": dm, "key": key}}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(texts, crate::texts(&history));
    }
    // Nowhere else does a direct message show: a seed client's sync, a sync of the served
    // rooms, a search without a room, with or without another key.
    assert_eq!(
        chat.sync_texts(json!({"last_message": 0})).await,
        ["hello everyone"]
    );
    for data in [
        json!({"last_message": 0, "rooms": ["general", "dev"]}),
        json!({"last_message": 0, "rooms": ["general", "dev"], "key": EVE}),
        json!({"last_message": 0, "rooms": ["general"], "key": EVE, "direct": true}),
    ] {
        assert_eq!(chat.sync_texts(data).await, ["hello everyone"]);
    }
    for data in [json!({"q": "secret"}), json!({"q": "secret", "key": EVE})] {
        let found = chat
            .expect(json!({"type": "search", "data": data}), StatusCode::OK)
            .await;
        assert_eq!(found["data"], json!([]), "{found}");
    }
    // A member's search without a room finds them, newest first.
    let found = chat
        .expect(
            json!({"type": "search", "data": {"q": "secret", "key": BOB}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(texts(&found), ["secret agreed", "the secret plan"]);

    // `rooms`: the served rooms, and for a member the conversation, with whom it is.
    let listed = chat
        .expect(
            json!({"type": "rooms", "data": {"key": EVE}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
    let listed = chat
        .expect(
            json!({"type": "rooms", "data": {"key": BOB, "read": {dm.clone(): first}}}),
            StatusCode::OK,
        )
        .await;
    let rooms = listed["data"].as_array().unwrap();
    assert_eq!(rooms.len(), 3, "{listed}");
    assert_eq!(rooms[2]["name"], dm.as_str());
    assert_eq!(rooms[2]["with"], chat.ann.as_str());
    assert_eq!(rooms[2]["unread"], 1);
    assert!(rooms[0].get("with").is_none());
}

#[tokio::test]
async fn a_direct_message_is_an_unknown_id_to_everyone_else() {
    let chat = Chat::new().await;
    let dm = chat.dm();
    let id = chat.post(ANN, &dm, "just between us").await;
    let unknown = 999_999;
    // Edit, delete, react and a reply from elsewhere: exactly as for an id that does not exist.
    let asks = |id: u64, key: &str| {
        [
            json!({"type": "edit", "data": {"id": id, "message": "changed", "key": key}}),
            json!({"type": "delete", "data": {"id": id, "key": key}}),
            json!({"type": "react", "data": {"id": id, "emoji": "👀", "key": key}}),
            json!({"type": "message", "data": {"sender": "Eve", "message": "re", "reply_to": id, "key": key}}),
        ]
    };
    for (ask, same_for_unknown) in asks(id, EVE).into_iter().zip(asks(unknown, EVE)) {
        let (status, reply) = chat.call(ask).await;
        let (unknown_status, unknown_reply) = chat.call(same_for_unknown).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
        assert_eq!(status, unknown_status);
        let message = reply["data"]["message"].as_str().unwrap();
        assert_eq!(
            message.replace(&id.to_string(), &unknown.to_string()),
            unknown_reply["data"]["message"].as_str().unwrap()
        );
        assert_eq!(reply["data"]["status"], unknown_reply["data"]["status"]);
    }
    // Its other member reacts and replies; only its author edits and deletes.
    chat.expect(
        json!({"type": "edit", "data": {"id": id, "message": "changed", "key": BOB}}),
        StatusCode::FORBIDDEN,
    )
    .await;
    chat.expect(
        json!({"type": "react", "data": {"id": id, "emoji": "👍", "key": BOB}}),
        StatusCode::OK,
    )
    .await;
    chat.expect(
        json!({"type": "message", "data": {"sender": "Bob", "message": "sure", "room": dm, "reply_to": id, "key": BOB}}),
        StatusCode::OK,
    )
    .await;
    chat.expect(
        json!({"type": "edit", "data": {"id": id, "message": "just between us two", "key": ANN}}),
        StatusCode::OK,
    )
    .await;
    let items = chat
        .expect(
            json!({"type": "sync", "data": {"last_message": 0, "rooms": [dm], "key": BOB}}),
            StatusCode::OK,
        )
        .await;
    let message = &items["data"][0];
    assert_eq!(message["message"], "just between us two");
    assert_eq!(message["reactions"][0]["authors"], json!([chat.bob]));
    // The operator deletes it by id, as any message; a ban with purge reaches it too.
    let later = chat.post(BOB, &dm, "another one").await;
    chat.expect(
        json!({"type": "delete", "data": {"id": later, "admin": ADMIN}}),
        StatusCode::OK,
    )
    .await;
    chat.expect(
        json!({"type": "ban", "data": {"admin": ADMIN, "author": chat.ann, "purge": true}}),
        StatusCode::OK,
    )
    .await;
    let left = chat
        .sync_texts(json!({"last_message": 0, "rooms": [dm], "key": BOB}))
        .await;
    assert_eq!(
        left,
        ["sure"],
        "Ann's message purged, the operator's delete done"
    );
    // The operator's list of bans carries no text of it.
    let bans = chat
        .expect(
            json!({"type": "bans", "data": {"admin": ADMIN}}),
            StatusCode::OK,
        )
        .await;
    assert!(!bans.to_string().contains("between us"), "{bans}");
}

#[tokio::test]
async fn direct_room_names_and_the_direct_flag_are_checked() {
    let chat = Chat::new().await;
    let (low, high) = if chat.ann < chat.bob {
        (&chat.ann, &chat.bob)
    } else {
        (&chat.bob, &chat.ann)
    };
    for bad in [
        format!("dm-{high}-{low}"),
        format!("dm-{low}"),
        format!("dm-{low}-{high}-x"),
        "dm-abc-def".to_owned(),
        format!("dm-{low}-1{}", &high[1..]),
    ] {
        let body = json!({"type": "history", "data": {"room": bad, "key": ANN}});
        chat.expect(body, StatusCode::BAD_REQUEST).await;
        let body = json!({"type": "sync", "data": {"last_message": 0, "rooms": [bad], "key": ANN}});
        chat.expect(body, StatusCode::BAD_REQUEST).await;
    }
    for data in [
        json!({"last_message": 0, "rooms": ["general"], "direct": true}),
        json!({"last_message": 0, "key": ANN, "direct": true}),
        json!({"last_message": 0, "rooms": ["general"], "key": "short", "direct": true}),
    ] {
        chat.expect(
            json!({"type": "sync", "data": data}),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // A note to oneself is a direct room of one member.
    let note = direct_room(&chat.eve, &chat.eve);
    chat.post(EVE, &note, "remember the milk").await;
    assert_eq!(
        chat.sync_texts(json!({"last_message": 0, "rooms": [note], "key": EVE}))
            .await,
        ["remember the milk"]
    );
    let listed = chat
        .expect(
            json!({"type": "rooms", "data": {"key": EVE}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(listed["data"][2]["with"], chat.eve.as_str());
    // The operator cannot serve one.
    assert!(ajax_chat::server::rooms::Rooms::parse(&format!("dev,{note}")).is_err());
    // Its permalink under a served room is not found.
    let page = Request::get(format!("/r/general/{}", 1))
        .body(Body::empty())
        .unwrap();
    let response = chat.router.clone().oneshot(page).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    drop(chat.fx);
}

/// `GET` a page: its status and HTML.
async fn page(chat: &Chat, path: &str) -> (StatusCode, String) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = chat.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// A direct room's page is the chat's shell for anyone (the server cannot know who reads it):
/// 200 without a message, whether or not the conversation exists; its transcript pages, a
/// malformed name and a served room's permalink to one of its messages are the 404 page.
#[tokio::test]
async fn a_direct_room_s_page_is_the_shell_without_its_messages() {
    let chat = Chat::new().await;
    let dm = chat.dm();
    let id = chat.post(ANN, &dm, "the secret plan").await;
    chat.post(ANN, "general", "in the open").await;
    let (_, not_found) = page(&chat, "/r/ops").await;
    for path in [
        format!("/r/{dm}"),
        format!("/r/{dm}/{id}"),
        format!("/r/{}", direct_room(&chat.eve, &chat.bob)),
    ] {
        let (status, html) = page(&chat, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!html.contains("the secret plan"), "{path}: {html}");
        assert!(!html.contains("in the open"), "{path}: no message at all");
        assert!(
            html.contains("Only its two people can read this conversation."),
            "{path}"
        );
        assert!(html.contains("aria-label=\"Direct messages\""), "{path}");
    }
    let (low, high) = if chat.ann < chat.bob {
        (&chat.ann, &chat.bob)
    } else {
        (&chat.bob, &chat.ann)
    };
    for path in [
        format!("/r/{dm}?before={}", id + 1),
        format!("/r/{dm}?after=0"),
        format!("/r/dm-{high}-{low}"),
        format!("/r/dm-{low}-{high}x"),
        format!("/r/general/{id}"),
    ] {
        let (status, html) = page(&chat, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(html, not_found, "{path}: the same 404 page");
    }
    // A served room's page says nothing of it either.
    let (status, html) = page(&chat, "/r/general").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("in the open") && !html.contains("the secret plan"));
    assert!(!html.contains(&dm));
    drop(chat.fx);
}

/// Bots have no direct rooms: a live bot's token reads none (as a stranger), a deleted one
/// reads nothing at all.
#[tokio::test]
async fn a_bot_s_token_reads_no_direct_room() {
    let chat = Chat::new().await;
    let made = chat
        .expect(
            json!({"type": "bot", "data": {"admin": ADMIN, "name": "CI", "rooms": ["dev"]}}),
            StatusCode::OK,
        )
        .await;
    let (token, bot) = (
        made["data"]["token"].as_str().unwrap().to_owned(),
        made["data"]["author"].as_str().unwrap().to_owned(),
    );
    // Someone writes to the bot's fingerprint, as to anyone's.
    let to_bot = direct_room(&chat.ann, &bot);
    chat.post(ANN, &to_bot, "my password is hunter2").await;
    let read = |key: &str| json!({"type": "sync", "data": {"last_message": 0, "rooms": [to_bot], "key": key}});
    chat.expect(read(&token), StatusCode::NOT_FOUND).await;
    let direct = json!({"type": "sync", "data": {"last_message": 0, "rooms": ["dev"], "key": token, "direct": true}});
    assert_eq!(
        texts(&chat.expect(direct.clone(), StatusCode::OK).await),
        Vec::<String>::new()
    );
    chat.expect(
        json!({"type": "bot_delete", "data": {"admin": ADMIN, "author": bot}}),
        StatusCode::OK,
    )
    .await;
    chat.expect(read(&token), StatusCode::FORBIDDEN).await;
    chat.expect(direct, StatusCode::FORBIDDEN).await;
    chat.expect(
        json!({"type": "search", "data": {"q": "password", "key": token}}),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_sync_is_woken_by_a_conversation_s_first_message() {
    let chat = Chat::new().await;
    let dm = chat.dm();
    chat.post(ANN, "general", "hello").await;
    // Bob follows general and his direct rooms, none of which has a message yet.
    let held = {
        let router = chat.router.clone();
        let body = json!({"type": "sync", "data": {"last_message": 1, "rooms": ["general"], "key": BOB, "direct": true, "wait_ms": 20000}});
        tokio::spawn(async move {
            let request = Request::post("/ajax")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        })
    };
    common::until_held(&chat.fx.state, 1).await;
    chat.post(ANN, &dm, "are you there?").await;
    let reply = held.await.unwrap();
    assert_eq!(texts(&reply), ["are you there?"]);
    assert_eq!(reply["data"][0]["room"], dm.as_str());
    // Then it is one of his rooms: the next direct sync carries its news at once.
    chat.post(ANN, &dm, "ping").await;
    let texts = chat
        .sync_texts(json!({"last_message": 1, "rooms": ["general"], "key": BOB, "direct": true}))
        .await;
    assert_eq!(texts, ["are you there?", "ping"]);
    // Eve's direct sync sees none of it.
    let texts = chat
        .sync_texts(json!({"last_message": 0, "rooms": ["general"], "key": EVE, "direct": true}))
        .await;
    assert_eq!(texts, ["hello"]);
}

/// Arbitrary conversations: random posts between four keys, to `general` or to a direct room
/// with one of them (oneself included). What each key reads (a sync that follows `general` and
/// its direct rooms, a search of every room it may read) is exactly the messages of `general`
/// and of its own direct rooms; without a key, `general`'s alone.
mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    const KEYS: [&str; 4] = [ANN, BOB, EVE, "zed-key-0123456789abcdefghij"];

    fn reads(
        chat: &Chat,
        runtime: &tokio::runtime::Runtime,
        key: Option<&str>,
    ) -> (Vec<String>, Vec<String>) {
        runtime.block_on(async {
            let mut sync = json!({"last_message": 0, "rooms": ["general"]});
            let mut search = json!({"q": "note"});
            if let Some(key) = key {
                sync["key"] = json!(key);
                sync["direct"] = json!(true);
                search["key"] = json!(key);
            }
            let mut synced = chat.sync_texts(sync).await;
            let found = chat
                .expect(json!({"type": "search", "data": search}), StatusCode::OK)
                .await;
            let mut found = texts(&found);
            synced.sort();
            found.sort();
            (synced, found)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 16,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn each_key_reads_general_and_its_own_direct_rooms(
            posts in prop::collection::vec((0..4usize, 0..5usize), 1..16)
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let chat = runtime.block_on(Chat::new());
            let print = |key: &str| chat.fx.state.identity.fingerprint(key);
            // Who may read each post: everyone (general), or the two members of its room.
            let mut written: Vec<(String, Option<[usize; 2]>)> = Vec::new();
            runtime.block_on(async {
                for (at, (from, to)) in posts.iter().enumerate() {
                    let text = format!("note {at}");
                    let (room, members) = if *to == 0 {
                        ("general".to_owned(), None)
                    } else {
                        let other = to - 1;
                        (direct_room(&print(KEYS[*from]), &print(KEYS[other])), Some([*from, other]))
                    };
                    chat.post(KEYS[*from], &room, &text).await;
                    written.push((text, members));
                }
            });
            for reader in (0..KEYS.len()).map(Some).chain([None]) {
                let mut expected: Vec<String> = written
                    .iter()
                    .filter(|(_, members)| match (members, reader) {
                        (None, _) => true,
                        (Some(members), Some(me)) => members.contains(&me),
                        (Some(_), None) => false,
                    })
                    .map(|(text, _)| text.clone())
                    .collect();
                expected.sort();
                let (synced, found) = reads(&chat, &runtime, reader.map(|at| KEYS[at]));
                prop_assert_eq!(&synced, &expected, "sync of {:?}", reader);
                prop_assert_eq!(&found, &expected, "search of {:?}", reader);
            }
        }
    }
}
