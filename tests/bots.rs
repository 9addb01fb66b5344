//! Bots through the real router, on the backend the fixture opens (SQLite here; `scripts/test`
//! runs this file over PostgreSQL too): the operator's `bot`, `bots` and `bot_delete`; posts on
//! `POST /bots/<room>/messages` as text or JSON, refused in the contract's order (401, 404,
//! 403, then the message rules); the token as the bot's key on `/ajax`; `"bot": true` on every
//! item a bot wrote; the bot's own rate; bots and revocations kept across a restart and seen by
//! a second instance over the same database at once.

mod common;

use std::sync::Arc;

use ajax_chat::server::identity::Identity;
use ajax_chat::server::limit::{Limiter, Rate};
use ajax_chat::server::store::{self, Store};
use ajax_chat::server::{AppState, app};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::Fixture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "an-operator-token-of-at-least-32-characters";
const ANN: &str = "ann-key-0123456789abcdefghij";

struct Chat {
    fx: Fixture,
    router: Router,
}

/// A reply: its status, headers and JSON body.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Chat {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// A chat serving `general` and `dev`, with the operator's token, its state changed by
    /// `change` before the router is made.
    async fn with(change: impl FnOnce(&mut AppState)) -> Self {
        let mut fx = Fixture::new().await;
        configure(&mut fx.state);
        change(&mut fx.state);
        let router = fx.router();
        Self { fx, router }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        send(&self.router, request).await
    }

    /// `/ajax` with `body`.
    async fn call(&self, body: Value) -> Reply {
        self.send(ajax(&body)).await
    }

    /// `/ajax` with `body`, which must be answered with `status`.
    async fn expect(&self, body: Value, status: StatusCode) -> Value {
        let reply = self.call(body.clone()).await;
        assert_eq!(reply.status, status, "{body} -> {}", reply.body);
        reply.body
    }

    /// A new bot `name` in `rooms`: its token and fingerprint.
    async fn bot(&self, name: &str, rooms: &[&str]) -> (String, String) {
        let request =
            json!({"type": "bot", "data": {"admin": ADMIN, "name": name, "rooms": rooms}});
        let reply = self.call(request).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["type"], "bot", "{}", reply.body);
        assert_eq!(
            reply.headers[header::CACHE_CONTROL],
            "no-store",
            "the token is kept by no cache"
        );
        let data = &reply.body["data"];
        assert_eq!(data["name"], name);
        (
            data["token"].as_str().unwrap().to_owned(),
            data["author"].as_str().unwrap().to_owned(),
        )
    }

    /// `POST /bots/<room>/messages` with `token` (if any) and a body of `kind`.
    async fn post(&self, room: &str, token: Option<&str>, kind: &str, body: &str) -> Reply {
        self.send(bot_post(room, token, kind, body)).await
    }

    /// A bot's post that must be stored: its id.
    async fn posted(&self, room: &str, token: &str, kind: &str, body: &str) -> u64 {
        let reply = self.post(room, Some(token), kind, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.body["type"], "status");
        assert_eq!(reply.body["data"]["status"], 0);
        reply.body["data"]["id"].as_u64().unwrap()
    }

    /// Every message of `rooms`, as a sync that names them sees it.
    async fn sync(&self, rooms: &[&str]) -> Vec<Value> {
        let body = json!({"type": "sync", "data": {"last_message": 0, "rooms": rooms}});
        let reply = self.expect(body, StatusCode::OK).await;
        reply["data"].as_array().unwrap().clone()
    }

    async fn bots(&self) -> Vec<Value> {
        let reply = self
            .expect(
                json!({"type": "bots", "data": {"admin": ADMIN}}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(reply["type"], "bots");
        reply["data"].as_array().unwrap().clone()
    }

    async fn revoke(&self, author: &str) -> Reply {
        self.call(json!({"type": "bot_delete", "data": {"admin": ADMIN, "author": author}}))
            .await
    }
}

/// The operator's token and a second room, as every test here has them.
fn configure(state: &mut AppState) {
    state.identity = Arc::new(Identity::new(state.store.secret(), Some(ADMIN)));
    state.rooms = Arc::new(ajax_chat::server::rooms::Rooms::parse("dev").unwrap());
}

fn ajax(body: &Value) -> Request<Body> {
    Request::post("/ajax")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn bot_post(room: &str, token: Option<&str>, kind: &str, body: &str) -> Request<Body> {
    let mut request = Request::post(format!("/bots/{room}/messages"));
    if !kind.is_empty() {
        request = request.header("content-type", kind);
    }
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    Reply {
        status,
        headers,
        body,
    }
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

#[tokio::test]
async fn the_operator_makes_lists_and_deletes_bots() {
    let chat = Chat::new().await;
    let (token, author) = chat.bot("CI", &["dev"]).await;
    // At least 128 random bits, in a key's form, and its fingerprint derived as a key's.
    assert!(token.starts_with("chatbot_"), "{token}");
    assert!(token.len() - "chatbot_".len() >= 22, "{token}");
    let told = chat
        .expect(
            json!({"type": "fingerprint", "data": {"key": token}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(told["data"]["author"], author.as_str());
    let (other, _) = chat.bot("Alerts", &["general", "dev"]).await;
    assert_ne!(other, token, "every bot its own token");

    // Listed oldest first, never with a token.
    let listed = chat.bots().await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["name"], "CI");
    assert_eq!(listed[0]["author"], author.as_str());
    assert_eq!(listed[0]["rooms"], json!(["dev"]));
    assert_eq!(listed[1]["rooms"], json!(["general", "dev"]));
    let created = listed[0]["created"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{created}"
    );
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&token) && !text.contains(&other), "{text}");
    assert!(
        !text.contains("token") && !text.contains("verifier"),
        "{text}"
    );

    // A name taken by a bot not deleted: 409; deleted, it is free again.
    chat.expect(
        json!({"type": "bot", "data": {"admin": ADMIN, "name": " CI ", "rooms": ["general"]}}),
        StatusCode::CONFLICT,
    )
    .await;
    let reply = chat.revoke(&author).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["status"], 0);
    assert_eq!(chat.bots().await.len(), 1, "a deleted bot is not listed");
    let again = chat.revoke(&author).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
    assert_eq!(
        again.body["data"]["message"],
        format!("no such bot: {author}")
    );
    let unknown = chat.revoke("aaaaaaaa").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let (renewed, renewed_author) = chat.bot("CI", &["dev"]).await;
    assert_ne!(renewed_author, author, "a new token, a new fingerprint");
    assert_ne!(renewed, token);
}

#[tokio::test]
async fn the_operator_s_bot_envelopes_refuse_in_order() {
    let chat = Chat::new().await;
    let bot = |data: Value| json!({"type": "bot", "data": data});
    // 400: a malformed name or rooms, before the token is looked at.
    for data in [
        json!({"admin": "wrong", "name": " ", "rooms": ["dev"]}),
        json!({"admin": "wrong", "name": "x".repeat(65), "rooms": ["dev"]}),
        json!({"admin": "wrong", "name": "CI", "rooms": []}),
        json!({"admin": "wrong", "name": "CI", "rooms": ["Dev"]}),
        json!({"admin": "wrong", "name": "CI", "rooms": ["dev", "dev"]}),
        json!({"admin": "wrong", "name": "CI"}),
        json!({"admin": "wrong", "name": "CI", "rooms": "dev"}),
    ] {
        chat.expect(bot(data), StatusCode::BAD_REQUEST).await;
    }
    // 403: a wrong token, even for a room not served.
    chat.expect(
        bot(json!({"admin": "wrong", "name": "CI", "rooms": ["ops"]})),
        StatusCode::FORBIDDEN,
    )
    .await;
    // 404: a room not served.
    let reply = chat
        .expect(
            bot(json!({"admin": ADMIN, "name": "CI", "rooms": ["dev", "ops"]})),
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(reply["data"]["message"], "no such room: ops");
    assert!(chat.bots().await.is_empty(), "nothing was made");
    chat.expect(
        json!({"type": "bots", "data": {"admin": "wrong"}}),
        StatusCode::FORBIDDEN,
    )
    .await;
    let delete = |data: Value| json!({"type": "bot_delete", "data": data});
    chat.expect(
        delete(json!({"admin": "wrong", "author": "not-one"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    chat.expect(
        delete(json!({"admin": "wrong", "author": "aaaaaaaa"})),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn a_bot_posts_text_or_json_and_its_items_say_bot() {
    let chat = Chat::new().await;
    let (token, author) = chat.bot("CI", &["dev"]).await;
    let first = chat.posted("dev", &token, TEXT, "Build 42 passed\n").await;
    let reply = chat
        .post(
            "dev",
            Some(&token),
            JSON,
            &json!({"sender": "Mallory", "message": "Deploy of `42` done", "nonce": "deploy-42-nonce", "reply_to": first}).to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["author"], author.as_str());
    let second = reply.body["data"]["id"].as_u64().unwrap();
    // A retry with the same nonce is answered like the first try and stores nothing.
    let retried = chat
        .posted(
            "dev",
            &token,
            JSON,
            &json!({"message": "Deploy of `42` done", "nonce": "deploy-42-nonce"}).to_string(),
        )
        .await;
    assert_eq!(retried, second);
    chat.expect(
        json!({"type": "message", "data": {"sender": "Ann", "message": "thanks", "room": "dev", "key": ANN}}),
        StatusCode::OK,
    )
    .await;

    let items = chat.sync(&["dev"]).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0]["id"], first);
    assert_eq!(
        items[0]["message"], "Build 42 passed",
        "the line end dropped"
    );
    for item in &items[..2] {
        assert_eq!(item["sender"], "CI", "the bot's name, whatever sender said");
        assert_eq!(item["author"], author.as_str());
        assert_eq!(item["bot"], true, "{item}");
    }
    assert_eq!(items[1]["reply_to"]["id"], first);
    assert_eq!(items[1]["reply_to"]["sender"], "CI");
    assert!(items[2].get("bot").is_none(), "a person's: {}", items[2]);
    // Every place a message shows says so.
    let history = chat
        .expect(
            json!({"type": "history", "data": {"room": "dev"}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(history["data"][0]["bot"], true);
    let found = chat
        .expect(
            json!({"type": "search", "data": {"q": "deploy"}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(found["data"][0]["id"], second);
    assert_eq!(found["data"][0]["bot"], true);
}

#[tokio::test]
async fn a_bot_s_post_is_refused_in_the_contract_s_order() {
    let chat = Chat::new().await;
    let (token, author) = chat.bot("CI", &["dev"]).await;
    let unauthorized = |reply: Reply| {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(reply.body["data"]["status"], 1);
    };
    // 401 first: no token, another scheme, a wrong token (also one of a bot's form, and one
    // that differs from the real one in its last character), whatever else is wrong.
    unauthorized(chat.post("ops", None, "", "").await);
    let basic = Request::post("/bots/dev/messages")
        .header("authorization", "Basic Q0k6cGFzcw==")
        .header("content-type", TEXT)
        .body(Body::from("hi"))
        .unwrap();
    unauthorized(chat.send(basic).await);
    let mut near = token.clone();
    let last = near.pop().unwrap();
    near.push(if last == 'A' { 'B' } else { 'A' });
    for wrong in [
        ANN,
        "chatbot_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &near,
    ] {
        unauthorized(chat.post("dev", Some(wrong), TEXT, "hi").await);
    }
    // 404: a room not served (or not a room at all), before the bot's rooms and the body.
    for room in ["ops", "Not_A_Room"] {
        let reply = chat.post(room, Some(&token), "", "").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    }
    // 403: a room served that the bot may not post to, whatever the body.
    let reply = chat.post("general", Some(&token), "", "").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    // Then the message rules.
    let expect = |reply: Reply, status: StatusCode| {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert_eq!(reply.body["data"]["status"], 1);
    };
    expect(
        chat.post("dev", Some(&token), "text/html", "<b>hi</b>")
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    expect(
        chat.post("dev", Some(&token), "", "hi").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    for (kind, body) in [
        (TEXT, " \n".to_owned()),
        (TEXT, "x".repeat(4097)),
        (TEXT, "nul \0 inside".to_owned()),
        (JSON, "{".to_owned()),
        (JSON, "[\"CI\", \"hi\"]".to_owned()),
        (JSON, json!({"sender": "CI"}).to_string()),
        (
            JSON,
            json!({"message": "hi", "room": "general"}).to_string(),
        ),
        (JSON, json!({"message": "hi", "key": ANN}).to_string()),
        (JSON, json!({"message": "hi", "nonce": "short"}).to_string()),
    ] {
        expect(
            chat.post("dev", Some(&token), kind, &body).await,
            StatusCode::BAD_REQUEST,
        );
    }
    let invalid_utf8 = Request::post("/bots/dev/messages")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", TEXT)
        .body(Body::from(vec![b'h', 0xff, b'i']))
        .unwrap();
    expect(chat.send(invalid_utf8).await, StatusCode::BAD_REQUEST);
    let reply = chat
        .post("dev", Some(&token), TEXT, &"x".repeat(64 * 1024 + 1))
        .await;
    expect(reply, StatusCode::PAYLOAD_TOO_LARGE);
    // A reply to a message that is not there: 404, as for `message`.
    let reply = chat
        .post(
            "dev",
            Some(&token),
            JSON,
            &json!({"message": "re", "reply_to": 999}).to_string(),
        )
        .await;
    expect(reply, StatusCode::NOT_FOUND);
    // GET is not a post.
    let get = Request::get("/bots/dev/messages")
        .body(Body::empty())
        .unwrap();
    let reply = chat.send(get).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        chat.sync(&["dev", "general"]).await.is_empty(),
        "nothing stored"
    );

    // A banned bot is refused like any banned author; the refusal after authentication.
    chat.expect(
        json!({"type": "ban", "data": {"admin": ADMIN, "author": author}}),
        StatusCode::OK,
    )
    .await;
    expect(
        chat.post("dev", Some(&token), TEXT, "still here?").await,
        StatusCode::FORBIDDEN,
    );
    // Deleted: its token is wrong from then on.
    assert_eq!(chat.revoke(&author).await.status, StatusCode::OK);
    unauthorized(chat.post("dev", Some(&token), TEXT, "hi").await);
}

#[tokio::test]
async fn the_token_is_the_bot_s_key_on_ajax() {
    let chat = Chat::new().await;
    let (token, author) = chat.bot("CI", &["dev"]).await;
    let on_endpoint = chat.posted("dev", &token, TEXT, "from the endpoint").await;
    // A message with the token as its key is the bot's, sent by its name, in its rooms only.
    let reply = chat
        .expect(
            json!({"type": "message", "data": {"sender": "Mallory", "message": "from ajax", "room": "dev", "key": token}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply["data"]["author"], author.as_str());
    let on_ajax = reply["data"]["id"].as_u64().unwrap();
    chat.expect(
        json!({"type": "message", "data": {"sender": "CI", "message": "elsewhere", "key": token}}),
        StatusCode::FORBIDDEN,
    )
    .await;
    let items = chat.sync(&["dev"]).await;
    assert_eq!(items[1]["id"], on_ajax);
    assert_eq!(items[1]["sender"], "CI");
    assert_eq!(items[1]["bot"], true);

    // It edits, reacts to and deletes its own messages; a person's key cannot.
    chat.expect(
        json!({"type": "edit", "data": {"id": on_endpoint, "message": "edited", "key": ANN}}),
        StatusCode::FORBIDDEN,
    )
    .await;
    chat.expect(
        json!({"type": "edit", "data": {"id": on_endpoint, "message": "edited", "key": token}}),
        StatusCode::OK,
    )
    .await;
    let reacted = chat
        .expect(
            json!({"type": "react", "data": {"id": on_endpoint, "emoji": "🚀", "key": token}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(reacted["data"]["author"], author.as_str());
    chat.expect(
        json!({"type": "delete", "data": {"id": on_ajax, "key": token}}),
        StatusCode::OK,
    )
    .await;
    let items = chat.sync(&["dev"]).await;
    let message = items.iter().find(|item| item["id"] == on_endpoint).unwrap();
    assert_eq!(message["message"], "edited");
    assert_eq!(message["bot"], true, "an edit keeps it the bot's");
    assert_eq!(message["reactions"][0]["authors"], json!([author]));

    // Deleted, its token opens nothing on /ajax either, and does not pass for a person's key;
    // its messages stay, still the bot's.
    assert_eq!(chat.revoke(&author).await.status, StatusCode::OK);
    for request in [
        json!({"type": "message", "data": {"sender": "CI", "message": "again", "room": "dev", "key": token}}),
        json!({"type": "edit", "data": {"id": on_endpoint, "message": "again", "key": token}}),
        json!({"type": "react", "data": {"id": on_endpoint, "emoji": "👍", "key": token}}),
        json!({"type": "delete", "data": {"id": on_endpoint, "key": token}}),
    ] {
        chat.expect(request, StatusCode::FORBIDDEN).await;
    }
    let items = chat.sync(&["dev"]).await;
    let message = items.iter().find(|item| item["id"] == on_endpoint).unwrap();
    assert_eq!(message["message"], "edited");
    assert_eq!(message["bot"], true, "its messages stay a bot's");
    // A key of a bot token's form that no bot has is refused too.
    chat.expect(
        json!({"type": "message", "data": {"sender": "Ann", "message": "hi", "key": "chatbot_not-a-bot-0123456789"}}),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn a_bot_s_posts_count_against_its_own_rate() {
    let chat = Chat::with(|state| {
        // Two at once, then one in 1,000 s: the third is refused within the test.
        state.bot_limit = Arc::new(Limiter::new(Rate::new(0.001, 2).unwrap()));
    })
    .await;
    let (ci, _) = chat.bot("CI", &["dev"]).await;
    let (alerts, _) = chat.bot("Alerts", &["dev"]).await;
    chat.posted("dev", &ci, TEXT, "one").await;
    chat.posted("dev", &ci, TEXT, "two").await;
    let reply = chat.post("dev", Some(&ci), TEXT, "three").await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert!(reply.headers.contains_key(header::RETRY_AFTER));
    // The same bucket on /ajax; another bot and people are not in it.
    chat.expect(
        json!({"type": "message", "data": {"sender": "CI", "message": "three", "room": "dev", "key": ci}}),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    chat.posted("dev", &alerts, TEXT, "another bot").await;
    chat.expect(
        json!({"type": "message", "data": {"sender": "Ann", "message": "a person", "room": "dev", "key": ANN}}),
        StatusCode::OK,
    )
    .await;
    // 0 turns the limit off.
    let unlimited = Chat::with(|state| state.bot_limit = Arc::new(Limiter::new(None))).await;
    let (token, _) = unlimited.bot("CI", &["dev"]).await;
    for n in 0..70 {
        unlimited
            .posted("dev", &token, TEXT, &format!("post {n}"))
            .await;
    }
}

#[tokio::test]
async fn bots_and_deletions_hold_across_a_restart_and_on_every_instance() {
    let chat = Chat::new().await;
    let (token, author) = chat.bot("CI", &["dev"]).await;
    let (kept, _) = chat.bot("Alerts", &["dev"]).await;
    // A second instance over the same database knows the bot at once.
    let other = second_instance(&chat.fx.url).await;
    let reply = send(&other, bot_post("dev", Some(&token), TEXT, "via the other")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // Deleted on that one, refused on this one at once.
    let delete = json!({"type": "bot_delete", "data": {"admin": ADMIN, "author": author}});
    assert_eq!(send(&other, ajax(&delete)).await.status, StatusCode::OK);
    let reply = chat.post("dev", Some(&token), TEXT, "after").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    drop(other);

    // After a restart: the bot kept works, the deleted one does not.
    chat.fx.store.close().await;
    let restarted = second_instance(&chat.fx.url).await;
    let reply = send(&restarted, bot_post("dev", Some(&kept), TEXT, "back")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = send(&restarted, bot_post("dev", Some(&token), TEXT, "back")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let list = json!({"type": "bots", "data": {"admin": ADMIN}});
    let reply = send(&restarted, ajax(&list)).await;
    let names: Vec<&str> = reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bot| bot["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alerts"]);
}

/// A router over its own store of the database at `url`, as another server process has.
async fn second_instance(url: &str) -> Router {
    let store: Arc<dyn Store> = store::open(url).await.expect("open store");
    let mut state = AppState::new(store, common::leptos_options());
    configure(&mut state);
    app(state)
}

#[tokio::test]
async fn a_nonce_another_message_took_is_refused_never_answered_as_stored() {
    let chat = Chat::new().await;
    let (ci, _) = chat.bot("CI", &["dev", "general"]).await;
    let json_post =
        |message: &str, nonce: &str| json!({"message": message, "nonce": nonce}).to_string();
    // A person takes a nonce a CI job will use (build numbers are easy to guess): the bot's post
    // is refused, not answered with the person's message as if it were the bot's.
    let person = |message: &str, nonce: &str, key: Option<&str>| {
        let mut data =
            json!({"sender": "Mallory", "message": message, "room": "dev", "nonce": nonce});
        if let Some(key) = key {
            data["key"] = json!(key);
        }
        json!({"type": "message", "data": data})
    };
    chat.expect(
        person("deploy cancelled", "deploy-1285", Some(ANN)),
        StatusCode::OK,
    )
    .await;
    let reply = chat
        .post(
            "dev",
            Some(&ci),
            JSON,
            &json_post("Deploy 1285 started", "deploy-1285"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["message"],
        "data.nonce: already used for another message"
    );
    // The bot's own retry is answered like its first try, in the room it posted to only.
    let first = chat
        .posted(
            "dev",
            &ci,
            JSON,
            &json_post("Deploy 1286 started", "deploy-1286"),
        )
        .await;
    let retry = chat
        .posted(
            "dev",
            &ci,
            JSON,
            &json_post("Deploy 1286 started", "deploy-1286"),
        )
        .await;
    assert_eq!(retry, first);
    let elsewhere = chat
        .post(
            "general",
            Some(&ci),
            JSON,
            &json_post("Deploy 1286 started", "deploy-1286"),
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::BAD_REQUEST,
        "{}",
        elsewhere.body
    );
    // Nor does a message deleted since pass for the bot's first try.
    let reply = chat
        .expect(
            person("soon gone", "deploy-1287", Some(ANN)),
            StatusCode::OK,
        )
        .await;
    let gone = reply["data"]["id"].as_u64().unwrap();
    chat.expect(
        json!({"type": "delete", "data": {"id": gone, "key": ANN}}),
        StatusCode::OK,
    )
    .await;
    let reply = chat
        .post(
            "dev",
            Some(&ci),
            JSON,
            &json_post("Deploy 1287 started", "deploy-1287"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    // People alike: another key's nonce, or another sender's without a key, is refused; a
    // page's retry of its own message, deleted since, is answered as its first try was.
    chat.expect(person("mine", "deploy-1285", None), StatusCode::BAD_REQUEST)
        .await;
    chat.expect(person("again", "deploy-1287", Some(ANN)), StatusCode::OK)
        .await;
    let messages: Vec<String> = chat
        .sync(&["dev", "general"])
        .await
        .iter()
        .filter(|item| item["kind"] == "message")
        .map(|item| item["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages, ["deploy cancelled", "Deploy 1286 started"]);
}

#[tokio::test]
async fn a_bot_reacts_only_in_its_rooms_and_on_ajax_its_sender_is_not_checked() {
    let chat = Chat::new().await;
    let (ci, author) = chat.bot("CI", &["dev"]).await;
    let in_room = |room: &str, text: &str| json!({"type": "message", "data": {"sender": "Ann", "message": text, "room": room, "key": ANN}});
    let ask = chat
        .expect(in_room("dev", "deploy please"), StatusCode::OK)
        .await;
    let elsewhere = chat
        .expect(in_room("general", "lunch?"), StatusCode::OK)
        .await;
    let react = |id: &Value| json!({"type": "react", "data": {"id": id, "emoji": "✅", "key": ci}});
    let done = chat.expect(react(&ask["data"]["id"]), StatusCode::OK).await;
    assert_eq!(done["data"]["author"], author.as_str());
    let refused = chat
        .expect(react(&elsewhere["data"]["id"]), StatusCode::FORBIDDEN)
        .await;
    assert!(
        refused["data"]["message"]
            .as_str()
            .unwrap()
            .contains("rooms"),
        "{refused}"
    );
    // On /ajax a bot's sender is its name: none, or one too long, is no refusal.
    for data in [
        json!({"message": "no sender", "room": "dev", "key": ci}),
        json!({"sender": "x".repeat(100), "message": "long sender", "room": "dev", "key": ci}),
    ] {
        chat.expect(json!({"type": "message", "data": data}), StatusCode::OK)
            .await;
    }
    // A malformed edit is 400 before the token is looked at, also a deleted bot's.
    assert_eq!(chat.revoke(&author).await.status, StatusCode::OK);
    chat.expect(
        json!({"type": "edit", "data": {"id": 1, "message": " ", "key": ci}}),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn a_text_s_byte_order_mark_and_a_whole_envelope_are_handled() {
    let chat = Chat::new().await;
    let (ci, _) = chat.bot("CI", &["dev"]).await;
    chat.posted("dev", &ci, TEXT, "\u{feff}from a file\r\n")
        .await;
    assert_eq!(chat.sync(&["dev"]).await[0]["message"], "from a file");
    let envelope = json!({"type": "message", "data": {"message": "hi"}}).to_string();
    let reply = chat.post("dev", Some(&ci), JSON, &envelope).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["data"]["message"]
            .as_str()
            .unwrap()
            .contains("not the envelope"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn wrong_tokens_cost_the_address_s_write_budget() {
    let chat = Chat::with(|state| {
        state.message_limit = Arc::new(Limiter::new(Rate::new(0.001, 2).unwrap()));
    })
    .await;
    let wrong = |address: &str| {
        let mut request = bot_post(
            "dev",
            Some("chatbot_guess-0123456789abcdefghij"),
            TEXT,
            "hi",
        );
        request
            .extensions_mut()
            .insert(ajax_chat::server::limit::ClientAddr(
                address.parse().unwrap(),
            ));
        request
    };
    for _ in 0..2 {
        assert_eq!(
            chat.send(wrong("203.0.113.7")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let reply = chat.send(wrong("203.0.113.7")).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert_eq!(
        chat.send(wrong("203.0.113.8")).await.status,
        StatusCode::UNAUTHORIZED
    );
}
