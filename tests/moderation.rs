//! Identity, edits, deletes, reactions, replies and moderation through the real router, on the
//! backend the fixture opens (SQLite here; `scripts/test` runs this file over PostgreSQL too):
//! keys and their fingerprints, edit, delete and reactions events on the one id sequence (and
//! the seed's clients, who never see them), replies that quote the current text, every refusal
//! in its order (400, then 403, then 404, then 409), retries with a nonce, bans by author and by
//! address with and without purge.

mod common;

use std::sync::Arc;

use ajax_chat::server::identity::Identity;
use ajax_chat::server::limit::ClientAddr;
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

struct Chat {
    fx: Fixture,
    router: Router,
}

impl Chat {
    async fn new() -> Self {
        let mut fx = Fixture::new().await;
        fx.state.identity = Arc::new(Identity::new(fx.store.secret(), Some(ADMIN)));
        // A second room, for replies across rooms.
        fx.state.rooms = Arc::new(ajax_chat::server::rooms::Rooms::parse("dev").unwrap());
        let router = fx.router();
        Self { fx, router }
    }

    /// Posts `body` from `address` (as the accept loop would tag it), or from nowhere.
    async fn from(&self, address: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = Request::post("/ajax")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        if let Some(address) = address {
            let ip = address.parse().unwrap();
            request.extensions_mut().insert(ClientAddr(ip));
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        for key in [ANN, BOB, ADMIN] {
            assert!(
                !text.contains(key),
                "a reply repeats a key or token: {text}"
            );
        }
        (status, serde_json::from_str(&text).unwrap())
    }

    async fn call(&self, body: Value) -> (StatusCode, Value) {
        self.from(None, body).await
    }

    /// Posts `text` as `sender` with `key`; returns the message's id and fingerprint.
    async fn post(&self, key: Option<&str>, text: &str) -> (u64, Option<String>) {
        self.post_as(key, "Ana", text).await
    }

    async fn post_as(&self, key: Option<&str>, sender: &str, text: &str) -> (u64, Option<String>) {
        let mut data = json!({"sender": sender, "message": text});
        if let Some(key) = key {
            data["key"] = json!(key);
        }
        let (status, body) = self.call(json!({"type": "message", "data": data})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let author = body["data"]["author"].as_str().map(str::to_owned);
        (body["data"]["id"].as_u64().expect("the stored id"), author)
    }

    async fn sync(&self, last: u64, rooms: bool) -> Vec<Value> {
        let mut data = json!({"last_message": last});
        if rooms {
            data["rooms"] = json!(["general"]);
        }
        let (status, body) = self.call(json!({"type": "sync", "data": data})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    async fn history(&self) -> Vec<Value> {
        let request = json!({"type": "history", "data": {"room": "general"}});
        let (status, body) = self.call(request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    async fn expect(&self, body: Value, status: StatusCode) -> Value {
        let (got, reply) = self.call(body.clone()).await;
        assert_eq!(got, status, "{body} -> {reply}");
        let outcome = if status == StatusCode::OK { 0 } else { 1 };
        if reply["type"] == "status" || status != StatusCode::OK {
            assert_eq!(reply["data"]["status"], outcome, "{reply}");
        }
        reply
    }

    /// Whether any stored row still holds `text` (as text or sender).
    async fn stored_anywhere(&self, text: &str) -> bool {
        let pattern = format!("%{text}%");
        if let Some(path) = self.fx.url.strip_prefix("sqlite://") {
            let conn = rusqlite_open(path);
            conn.query_row(
                "SELECT COUNT(*) FROM messages WHERE message LIKE ?1 OR sender LIKE ?1",
                [&pattern],
                |row| row.get::<_, i64>(0),
            )
            .unwrap()
                > 0
        } else {
            let (client, connection) = tokio_postgres::connect(&self.fx.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let row = client
                .query_one(
                    "SELECT COUNT(*) FROM chat_messages WHERE message LIKE $1 OR sender LIKE $1",
                    &[&pattern],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0) > 0
        }
    }
}

fn rusqlite_open(path: &str) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn ids(items: &[Value]) -> Vec<u64> {
    items
        .iter()
        .map(|item| item["id"].as_u64().unwrap())
        .collect()
}

/// `fingerprint`: what a page shows before it takes another browser's key, without posting.
#[tokio::test]
async fn a_key_s_fingerprint_is_told_without_posting() {
    let chat = Chat::new().await;
    let asked = chat
        .expect(
            json!({"type": "fingerprint", "data": {"key": ANN}}),
            StatusCode::OK,
        )
        .await;
    let told = asked["data"]["author"].as_str().unwrap().to_owned();
    assert!(chat.sync(0, true).await.is_empty(), "nothing is stored");
    let (_, posted) = chat.post(Some(ANN), "with that key").await;
    assert_eq!(
        posted.as_deref(),
        Some(told.as_str()),
        "the same as a post's"
    );
    let other = chat
        .expect(
            json!({"type": "fingerprint", "data": {"key": BOB}}),
            StatusCode::OK,
        )
        .await;
    assert_ne!(other["data"]["author"], told.as_str());
    for bad in [
        json!({"key": "short-key-21-chars-xx"}),
        json!({"key": "has space in it 0123456789"}),
        json!({}),
        json!({"key": 5}),
    ] {
        chat.expect(
            json!({"type": "fingerprint", "data": bad}),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn a_key_gives_a_fingerprint_that_is_the_same_for_the_same_key_only() {
    let chat = Chat::new().await;
    let (first, ann) = chat.post(Some(ANN), "one").await;
    let ann = ann.expect("a post with a key learns its fingerprint");
    assert_eq!(ann.len(), 8);
    assert!(
        ann.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
        "{ann}"
    );
    let (_, again) = chat.post(Some(ANN), "two").await;
    assert_eq!(again.as_deref(), Some(ann.as_str()));
    let (_, bob) = chat.post(Some(BOB), "three").await;
    assert_ne!(
        bob.as_deref(),
        Some(ann.as_str()),
        "another key, another fingerprint"
    );
    let (_, none) = chat.post(None, "four").await;
    assert_eq!(none, None);
    // Every item carries its author, in every reply; a message without a key carries none.
    for items in [
        chat.sync(0, false).await,
        chat.sync(0, true).await,
        chat.history().await,
    ] {
        let authors: Vec<Option<&str>> = items.iter().map(|m| m["author"].as_str()).collect();
        assert_eq!(
            authors,
            [Some(ann.as_str()), Some(&ann), bob.as_deref(), None]
        );
        assert_eq!(items[0]["id"].as_u64(), Some(first));
        assert!(items.iter().all(|m| m["kind"] == "message"));
    }
    // The page renders it too.
    let page = chat
        .fx
        .router()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let html = page.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8_lossy(&html);
    assert!(
        html.contains(&ann) && !html.contains(ANN),
        "the page shows fingerprints, not keys"
    );
    // The key is nowhere in storage.
    assert!(!chat.stored_anywhere(ANN).await);
    for bad in [
        "short-key-21-chars-xx",
        "has space in it 0123456789",
        &"k".repeat(129),
        "dotted.key.0123456789abcdef",
    ] {
        let post = json!({"type": "message", "data": {"sender": "a", "message": "x", "key": bad}});
        chat.expect(post, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        chat.sync(0, true).await.len(),
        4,
        "refused posts store nothing"
    );
}

#[tokio::test]
async fn an_author_edits_and_deletes_their_message_as_events_the_seed_never_sees() {
    let chat = Chat::new().await;
    let (id, _) = chat
        .post_as(Some(ANN), "Zed-the-sender", "secret typo")
        .await;
    let (other, _) = chat.post(None, "keyless").await;
    let edit = |key: Option<&str>, text: &str, nonce: Option<&str>| {
        let mut data = json!({"id": id, "message": text});
        if let Some(key) = key {
            data["key"] = json!(key);
        }
        if let Some(nonce) = nonce {
            data["nonce"] = json!(nonce);
        }
        json!({"type": "edit", "data": data})
    };
    // Refusals, in order: malformed 400, then not yours 403, then unknown 404.
    chat.expect(edit(Some(BOB), "  ", None), StatusCode::BAD_REQUEST)
        .await;
    chat.expect(edit(Some("bad"), "fixed", None), StatusCode::BAD_REQUEST)
        .await;
    chat.expect(edit(Some(BOB), "fixed", None), StatusCode::FORBIDDEN)
        .await;
    chat.expect(edit(None, "fixed", None), StatusCode::FORBIDDEN)
        .await;
    let as_admin = json!({"type": "edit", "data": {"id": id, "message": "x", "admin": ADMIN}});
    chat.expect(as_admin, StatusCode::FORBIDDEN).await;
    let keyless = json!({"type": "edit", "data": {"id": other, "message": "x", "key": ANN}});
    chat.expect(keyless, StatusCode::FORBIDDEN).await;
    let unknown = json!({"type": "edit", "data": {"id": 999, "message": "x", "key": ANN}});
    chat.expect(unknown, StatusCode::NOT_FOUND).await;

    let reply = chat
        .expect(
            edit(Some(ANN), "fixed", Some("edit-nonce-1")),
            StatusCode::OK,
        )
        .await;
    let edit_id = reply["data"]["id"].as_u64().unwrap();
    assert!(edit_id > other, "the edit takes the next id of the log");
    let retry = chat
        .expect(
            edit(Some(ANN), "fixed", Some("edit-nonce-1")),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        retry["data"]["id"].as_u64(),
        Some(edit_id),
        "a retry stores nothing new"
    );
    // The nonce is no retry of another change: another text, or another key's edit.
    for (key, text) in [(ANN, "fixed otherwise"), (BOB, "fixed")] {
        let reused = chat
            .expect(
                edit(Some(key), text, Some("edit-nonce-1")),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(
            reused["data"]["message"],
            "data.nonce: already used for another change"
        );
    }

    // A client that names rooms gets the event; the seed's clients get the current text only.
    let events = chat.sync(other, true).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(
        event.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["edited_at", "id", "kind", "message", "room", "target"]
    );
    assert_eq!(
        (event["kind"].as_str(), event["target"].as_u64()),
        (Some("edit"), Some(id))
    );
    assert_eq!(event["message"], "fixed");
    assert!(
        chat.sync(other, false).await.is_empty(),
        "no event items without rooms"
    );
    let seed = chat.sync(0, false).await;
    assert_eq!(seed[0]["message"], "fixed");
    assert_eq!(seed[0]["edited_at"], event["edited_at"]);
    let history = chat.history().await;
    assert_eq!(
        (history[0]["message"].as_str(), history[0]["kind"].as_str()),
        (Some("fixed"), Some("message"))
    );

    let delete = |key: &str, nonce: Option<&str>| {
        let mut data = json!({"id": id, "key": key});
        if let Some(nonce) = nonce {
            data["nonce"] = json!(nonce);
        }
        json!({"type": "delete", "data": data})
    };
    chat.expect(delete(BOB, None), StatusCode::FORBIDDEN).await;
    let both = json!({"type": "delete", "data": {"id": id, "key": ANN, "admin": ADMIN}});
    chat.expect(both, StatusCode::BAD_REQUEST).await;
    let reply = chat
        .expect(delete(ANN, Some("delete-nonce")), StatusCode::OK)
        .await;
    let delete_id = reply["data"]["id"].as_u64().unwrap();
    let retry = chat
        .expect(delete(ANN, Some("delete-nonce")), StatusCode::OK)
        .await;
    assert_eq!(
        retry["data"]["id"].as_u64(),
        Some(delete_id),
        "a retried delete succeeds once"
    );
    chat.expect(delete(ANN, None), StatusCode::NOT_FOUND).await;
    chat.expect(edit(Some(ANN), "again", None), StatusCode::NOT_FOUND)
        .await;

    // The message is gone everywhere, and so is the edit that carried its text.
    let all = chat.sync(0, true).await;
    assert_eq!(ids(&all), [other, delete_id], "{all:?}");
    assert_eq!(
        (all[1]["kind"].as_str(), all[1]["target"].as_u64()),
        (Some("delete"), Some(id))
    );
    assert!(all[1].get("message").is_none() && all[1].get("sender").is_none());
    assert_eq!(ids(&chat.sync(0, false).await), [other]);
    assert_eq!(ids(&chat.history().await), [other]);
    assert!(
        !chat.stored_anywhere("secret typo").await,
        "deleted text left in storage"
    );
    assert!(
        !chat.stored_anywhere("fixed").await,
        "edited text left in storage"
    );
    assert!(
        !chat.stored_anywhere("Zed-the-sender").await,
        "deleted sender left in storage"
    );
}

#[tokio::test]
async fn a_held_long_poll_is_released_by_an_edit() {
    let chat = Arc::new(Chat::new().await);
    let (id, _) = chat.post(Some(ANN), "before").await;
    let held = {
        let chat = Arc::clone(&chat);
        tokio::spawn(async move {
            let request = json!({"type": "sync", "data": {"last_message": id, "rooms": ["general"], "wait_ms": 10000}});
            chat.call(request).await
        })
    };
    common::until_held(&chat.fx.state, 1).await;
    let edit = json!({"type": "edit", "data": {"id": id, "message": "after", "key": ANN}});
    chat.expect(edit, StatusCode::OK).await;
    let (status, body) = tokio::time::timeout(std::time::Duration::from_secs(5), held)
        .await
        .expect("the held poll is answered at once")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["kind"], "edit", "{body}");
}

#[tokio::test]
async fn the_operator_deletes_bans_with_purge_and_unbans() {
    let chat = Chat::new().await;
    let (spam, spammer) = chat.post(Some(BOB), "spam 1").await;
    let spammer = spammer.unwrap();
    chat.post(Some(BOB), "spam 2").await;
    let (mine, _) = chat.post(Some(ANN), "hello").await;
    let admin_delete =
        |id: u64, token: &str| json!({"type": "delete", "data": {"id": id, "admin": token}});

    // A wrong token is 403, whatever it is; a malformed request is 400 first.
    chat.expect(admin_delete(spam, "wrong-token"), StatusCode::FORBIDDEN)
        .await;
    chat.expect(
        admin_delete(spam, &"x".repeat(ADMIN.len())),
        StatusCode::FORBIDDEN,
    )
    .await;
    chat.expect(admin_delete(999, "wrong-token"), StatusCode::FORBIDDEN)
        .await;
    chat.expect(admin_delete(999, ADMIN), StatusCode::NOT_FOUND)
        .await;
    chat.expect(admin_delete(spam, ADMIN), StatusCode::OK).await;
    assert!(!chat.stored_anywhere("spam 1").await);

    let ban = |data: Value| json!({"type": "ban", "data": data});
    for bad in [
        json!({"admin": ADMIN}),
        json!({"admin": ADMIN, "author": spammer, "address": "10.0.0.1"}),
        json!({"admin": ADMIN, "author": "NOT-A-FP"}),
        json!({"admin": ADMIN, "address": "10.0.0"}),
        json!({"admin": "wrong", "author": "NOT-A-FP"}),
    ] {
        chat.expect(ban(bad), StatusCode::BAD_REQUEST).await;
    }
    chat.expect(
        ban(json!({"admin": "wrong", "author": spammer})),
        StatusCode::FORBIDDEN,
    )
    .await;
    let before = chat.sync(0, true).await.last().unwrap()["id"]
        .as_u64()
        .unwrap();
    chat.expect(
        ban(json!({"admin": ADMIN, "author": spammer, "purge": true})),
        StatusCode::OK,
    )
    .await;
    // The purge deleted the rest of their messages, as events every page sees.
    let purged = chat.sync(before, true).await;
    assert_eq!(purged.len(), 1, "{purged:?}");
    assert_eq!(purged[0]["kind"], "delete");
    assert_eq!(ids(&chat.history().await), [mine]);

    // Banned: no posts, edits or deletes, even of unknown ids (403 before 404).
    let post =
        json!({"type": "message", "data": {"sender": "Bob", "message": "again", "key": BOB}});
    chat.expect(post.clone(), StatusCode::FORBIDDEN).await;
    let edit = json!({"type": "edit", "data": {"id": 999, "message": "x", "key": BOB}});
    chat.expect(edit, StatusCode::FORBIDDEN).await;
    let delete = json!({"type": "delete", "data": {"id": 999, "key": BOB}});
    chat.expect(delete, StatusCode::FORBIDDEN).await;

    let bans = chat
        .expect(
            json!({"type": "bans", "data": {"admin": ADMIN}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(bans, json!({"type": "bans", "data": [{"author": spammer}]}));
    chat.expect(
        json!({"type": "bans", "data": {"admin": "wrong"}}),
        StatusCode::FORBIDDEN,
    )
    .await;
    let unban = json!({"type": "unban", "data": {"admin": ADMIN, "author": spammer}});
    chat.expect(unban.clone(), StatusCode::OK).await;
    chat.expect(unban, StatusCode::NOT_FOUND).await;
    chat.expect(post, StatusCode::OK).await;

    // By address: posts from it are refused, with or without a key, and purge takes its messages.
    let from = |text: &str| json!({"type": "message", "data": {"sender": "Eve", "message": text}});
    let (status, _) = chat.from(Some("10.0.0.9"), from("from nine")).await;
    assert_eq!(status, StatusCode::OK);
    let ban_nine = json!({"type": "ban", "data": {"admin": ADMIN, "address": "::ffff:10.0.0.9", "purge": true}});
    chat.expect(ban_nine, StatusCode::OK).await;
    assert!(
        !chat.stored_anywhere("from nine").await,
        "purged by address"
    );
    let (status, reply) = chat.from(Some("10.0.0.9"), from("again")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    let (status, _) = chat.from(Some("10.0.0.10"), from("a neighbour")).await;
    assert_eq!(status, StatusCode::OK);
    let bans = chat
        .expect(
            json!({"type": "bans", "data": {"admin": ADMIN}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(bans["data"], json!([{"address": "10.0.0.9"}]));
}

#[tokio::test]
async fn without_a_token_configured_there_is_no_operator() {
    let fx = Fixture::new().await;
    let router = fx.router();
    let request = Request::post("/ajax")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"type": "bans", "data": {"admin": ADMIN}}).to_string(),
        ))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// `key`'s reaction `emoji` on message `id` (with `nonce`), as a `react` envelope.
fn react(id: u64, emoji: &str, key: Option<&str>, nonce: Option<&str>) -> Value {
    let mut data = json!({"id": id, "emoji": emoji});
    if let Some(key) = key {
        data["key"] = json!(key);
    }
    if let Some(nonce) = nonce {
        data["nonce"] = json!(nonce);
    }
    json!({"type": "react", "data": data})
}

/// The item with `id` among `items`.
fn item(items: &[Value], id: u64) -> &Value {
    items
        .iter()
        .find(|item| item["id"] == id)
        .unwrap_or_else(|| panic!("no item {id} in {items:?}"))
}

#[tokio::test]
async fn reactions_toggle_per_key_as_events_on_the_one_sequence() {
    let chat = Chat::new().await;
    let (id, ann) = chat.post(Some(ANN), "ship it?").await;
    let (_, bob) = chat.post(Some(BOB), "from bob").await;
    let (ann, bob) = (ann.unwrap(), bob.unwrap());

    let added = chat
        .expect(react(id, "👍", Some(ANN), None), StatusCode::OK)
        .await;
    assert_eq!(added["data"]["message"], format!("reaction on {id} added"));
    assert_eq!(
        added["data"]["author"], ann,
        "the page learns its fingerprint"
    );
    let first_event = added["data"]["id"].as_u64().unwrap();
    chat.expect(react(id, "🎉", Some(BOB), None), StatusCode::OK)
        .await;
    let third = chat
        .expect(react(id, "👍", Some(BOB), None), StatusCode::OK)
        .await;
    let newest = third["data"]["id"].as_u64().unwrap();
    assert!(
        newest > first_event,
        "each toggle takes the next id of the log"
    );

    // Items carry the whole set: emoji in the order first added, authors in the order they
    // reacted; in a sync of rooms, in a seed sync and in history alike.
    let expected = json!([
        {"emoji": "👍", "authors": [ann, bob]},
        {"emoji": "🎉", "authors": [bob]}
    ]);
    let with_rooms = chat.sync(0, true).await;
    assert_eq!(item(&with_rooms, id)["reactions"], expected);
    let seed = chat.sync(0, false).await;
    assert_eq!(item(&seed, id)["reactions"], expected);
    assert!(
        seed.iter().all(|item| item["kind"] == "message"),
        "a seed sync never sees the events: {seed:?}"
    );
    assert_eq!(item(&chat.history().await, id)["reactions"], expected);
    // The events, for syncs that name rooms: each with the message's whole new set then.
    let events: Vec<&Value> = with_rooms
        .iter()
        .filter(|item| item["kind"] == "reactions")
        .collect();
    assert_eq!(events.len(), 3, "{with_rooms:?}");
    assert_eq!(events[2]["id"], newest);
    assert_eq!(events[2]["target"], id);
    assert_eq!(events[2]["room"], "general");
    assert_eq!(events[2]["reactions"], expected);
    assert_eq!(
        events[0]["reactions"],
        json!([{"emoji": "👍", "authors": [ann]}])
    );

    // Toggling again takes the reaction back; an emoji nobody has any more is gone.
    let removed = chat
        .expect(react(id, "🎉", Some(BOB), None), StatusCode::OK)
        .await;
    assert_eq!(
        removed["data"]["message"],
        format!("reaction on {id} removed")
    );
    chat.expect(react(id, "👍", Some(ANN), None), StatusCode::OK)
        .await;
    let now = json!([{"emoji": "👍", "authors": [bob]}]);
    assert_eq!(item(&chat.sync(0, false).await, id)["reactions"], now);
    chat.expect(react(id, "👍", Some(BOB), None), StatusCode::OK)
        .await;
    let none = chat.sync(0, false).await;
    assert!(
        item(&none, id).get("reactions").is_none(),
        "no reactions: the field is left out"
    );
    let events = chat.sync(0, true).await;
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "reactions");
    assert_eq!(
        last["reactions"],
        json!([]),
        "an event carries its set, empty too"
    );

    // What storage holds is what memory answered: a second instance reads it from the database.
    chat.expect(react(id, "❤️", Some(ANN), None), StatusCode::OK)
        .await;
    let from_memory = chat.sync(0, true).await;
    let reopened = ajax_chat::server::store::open(&chat.fx.url).await.unwrap();
    let rooms = ["general".to_owned()];
    let from_storage = reopened.since(&rooms, 0, 1000, true).await.unwrap();
    reopened.close().await;
    assert_eq!(
        serde_json::to_value(&from_storage).unwrap(),
        json!(from_memory)
    );
}

#[tokio::test]
async fn reactions_are_refused_in_order_and_retries_toggle_nothing_again() {
    let chat = Chat::new().await;
    let (id, _) = chat.post(Some(ANN), "react to me").await;
    let newest = chat.sync(0, true).await.len();
    // 400 malformed (before the missing key), 403 no key, 404 unknown, an event's id, deleted.
    for bad in ["+1", "ok", "é", "", "👍👍👍👍👍👍👍👍👍", " 👍"] {
        chat.expect(react(id, bad, None, None), StatusCode::BAD_REQUEST)
            .await;
    }
    chat.expect(
        react(id, "👍", Some("short"), None),
        StatusCode::BAD_REQUEST,
    )
    .await;
    chat.expect(
        react(id, "👍", Some(BOB), Some("n")),
        StatusCode::BAD_REQUEST,
    )
    .await;
    chat.expect(react(id, "👍", None, None), StatusCode::FORBIDDEN)
        .await;
    chat.expect(react(999, "👍", Some(BOB), None), StatusCode::NOT_FOUND)
        .await;
    assert_eq!(chat.sync(0, true).await.len(), newest, "nothing stored");

    // A retry with the same nonce is answered like the first try and toggles nothing again.
    let first = chat
        .expect(
            react(id, "👍", Some(BOB), Some("react-nonce-1")),
            StatusCode::OK,
        )
        .await;
    let retry = chat
        .expect(
            react(id, "👍", Some(BOB), Some("react-nonce-1")),
            StatusCode::OK,
        )
        .await;
    assert_eq!(first, retry);
    assert_eq!(
        item(&chat.sync(0, false).await, id)["reactions"][0]["authors"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The nonce of that toggle is no retry of another: another emoji, or another key's.
    let events = chat.sync(0, true).await.len();
    for (emoji, key) in [("🎉", BOB), ("👍", ANN)] {
        let reused = chat
            .expect(
                react(id, emoji, Some(key), Some("react-nonce-1")),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(
            reused["data"]["message"],
            "data.nonce: already used for another change"
        );
    }
    assert_eq!(chat.sync(0, true).await.len(), events, "nothing toggled");
    assert_eq!(
        item(&chat.sync(0, false).await, id)["reactions"],
        json!([{"emoji": "👍", "authors": [first["data"]["author"]]}])
    );
    let event = first["data"]["id"].as_u64().unwrap();
    chat.expect(react(event, "👍", Some(BOB), None), StatusCode::NOT_FOUND)
        .await;
    // A nonce that stored something else is no retry of a reaction.
    let (posted, _) = chat.post(Some(BOB), "posted with a nonce").await;
    let nonce_post = json!({"type": "message", "data": {"sender": "B", "message": "n", "nonce": "used-by-a-post"}});
    chat.expect(nonce_post, StatusCode::OK).await;
    chat.expect(
        react(posted, "👍", Some(BOB), Some("used-by-a-post")),
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Twenty distinct emoji at most: a new 21st is 409, one already there is fine.
    for n in 1..20u32 {
        let emoji = char::from_u32(0x1F600 + n).unwrap().to_string();
        chat.expect(react(id, &emoji, Some(ANN), None), StatusCode::OK)
            .await;
    }
    let before = chat.sync(0, true).await.len();
    chat.expect(react(id, "🦀", Some(ANN), None), StatusCode::CONFLICT)
        .await;
    assert_eq!(chat.sync(0, true).await.len(), before, "nothing stored");
    chat.expect(react(id, "👍", Some(ANN), None), StatusCode::OK)
        .await;
    // A banned author is refused with 403 (before the 404 of an unknown message).
    let (_, bob) = chat.post(Some(BOB), "soon banned").await;
    let ban = json!({"type": "ban", "data": {"admin": ADMIN, "author": bob.unwrap()}});
    chat.expect(ban, StatusCode::OK).await;
    chat.expect(react(id, "😀", Some(BOB), None), StatusCode::FORBIDDEN)
        .await;
    chat.expect(react(999, "😀", Some(BOB), None), StatusCode::FORBIDDEN)
        .await;

    // A deleted message's reactions and their events are gone with it; it takes none again.
    let delete = json!({"type": "delete", "data": {"id": id, "key": ANN}});
    chat.expect(delete, StatusCode::OK).await;
    let after = chat.sync(0, true).await;
    assert!(
        after
            .iter()
            .all(|item| item["kind"] != "reactions" && item.get("reactions").is_none()),
        "{after:?}"
    );
    chat.expect(react(id, "👍", Some(ANN), None), StatusCode::NOT_FOUND)
        .await;
}

/// A reply of `text` to `to` in `room` (with `key`), as a `message` envelope.
fn reply(to: Value, room: &str, text: &str, key: Option<&str>) -> Value {
    let mut data = json!({"sender": "Ben", "message": text, "room": room, "reply_to": to});
    if let Some(key) = key {
        data["key"] = json!(key);
    }
    json!({"type": "message", "data": data})
}

#[tokio::test]
async fn replies_quote_the_current_text_of_a_message_of_their_room() {
    let chat = Chat::new().await;
    let long = format!("{}é and more after the quote", "a".repeat(139));
    let (id, ann) = chat.post(Some(ANN), &long).await;
    let (_, elsewhere) = chat
        .call(json!({"type": "message", "data": {"sender": "Ana", "message": "in dev", "room": "dev"}}))
        .await;
    let in_dev = elsewhere["data"]["id"].as_u64().unwrap();

    // Refusals: 400 malformed; 404 unknown, an event, another room's; nothing stored.
    let before = chat.sync(0, true).await.len();
    for bad in [json!(0), json!(-1), json!("42"), json!(1.5)] {
        chat.expect(reply(bad, "general", "re", None), StatusCode::BAD_REQUEST)
            .await;
    }
    chat.expect(
        reply(json!(999), "general", "re", None),
        StatusCode::NOT_FOUND,
    )
    .await;
    chat.expect(
        reply(json!(in_dev), "general", "re", None),
        StatusCode::NOT_FOUND,
    )
    .await;
    let reacted = chat
        .expect(react(id, "👍", Some(BOB), None), StatusCode::OK)
        .await;
    let event = reacted["data"]["id"].as_u64().unwrap();
    chat.expect(
        reply(json!(event), "general", "re", None),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        chat.sync(0, true).await.len(),
        before + 1,
        "only the reaction"
    );

    // A reply quotes exactly the first 140 scalar values of the text, with sender and author.
    let (_, answer) = chat
        .call(reply(json!(id), "general", "agreed", Some(BOB)))
        .await;
    let answer = answer["data"]["id"].as_u64().expect("stored");
    let quote = |text: &str| json!({"id": id, "sender": "Ana", "author": ann, "message": text});
    let first_140: String = long.chars().take(140).collect();
    assert!(first_140.ends_with('é'));
    assert_eq!(
        item(&chat.sync(0, true).await, answer)["reply_to"],
        quote(&first_140)
    );
    assert_eq!(
        item(&chat.sync(0, false).await, answer)["reply_to"],
        quote(&first_140)
    );
    assert_eq!(
        item(&chat.history().await, answer)["reply_to"],
        quote(&first_140)
    );
    // A message that answers nothing has no such field.
    assert!(item(&chat.history().await, id).get("reply_to").is_none());

    // An edit of the quoted message: every reply quotes the new text, also those before it.
    let edit = json!({"type": "edit", "data": {"id": id, "message": "short now", "key": ANN}});
    chat.expect(edit, StatusCode::OK).await;
    let (_, later) = chat.call(reply(json!(id), "general", "me too", None)).await;
    let later = later["data"]["id"].as_u64().unwrap();
    let items = chat.sync(0, true).await;
    assert_eq!(item(&items, answer)["reply_to"], quote("short now"));
    assert_eq!(item(&items, later)["reply_to"], quote("short now"));
    // Storage holds what memory answers: a second instance reads it from the database.
    let reopened = ajax_chat::server::store::open(&chat.fx.url).await.unwrap();
    let rooms = ["general".to_owned(), "dev".to_owned()];
    let from_storage = reopened.since(&rooms, 0, 1000, true).await.unwrap();
    reopened.close().await;
    let from_memory = chat
        .call(json!({"type": "sync", "data": {"last_message": 0, "rooms": ["general", "dev"]}}))
        .await
        .1;
    assert_eq!(
        serde_json::to_value(&from_storage).unwrap(),
        from_memory["data"]
    );

    // Deleted: the replies say exactly that, and it cannot be answered any more.
    let delete = json!({"type": "delete", "data": {"id": id, "key": ANN}});
    chat.expect(delete, StatusCode::OK).await;
    let items = chat.sync(0, true).await;
    for reply_id in [answer, later] {
        assert_eq!(
            item(&items, reply_id)["reply_to"],
            json!({"id": id, "deleted": true})
        );
    }
    assert!(
        !chat.stored_anywhere("short now").await,
        "the quote went with the text"
    );
    chat.expect(
        reply(json!(id), "general", "late", None),
        StatusCode::NOT_FOUND,
    )
    .await;
    // A retry of a reply is answered like the first try, even with its message gone since.
    let first = chat
        .expect(
            json!({"type": "message", "data": {"sender": "B", "message": "r", "reply_to": answer, "nonce": "reply-nonce-1"}}),
            StatusCode::OK,
        )
        .await;
    let delete = json!({"type": "delete", "data": {"id": answer, "key": BOB}});
    chat.expect(delete, StatusCode::OK).await;
    let retry = chat
        .expect(
            json!({"type": "message", "data": {"sender": "B", "message": "r", "reply_to": answer, "nonce": "reply-nonce-1"}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(first, retry);
}
