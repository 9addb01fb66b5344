//! Full-text search through the real router, on the backend the fixture opens (SQLite here;
//! `scripts/test` runs this file over PostgreSQL too): which messages match (every word as a
//! word, the last also as a prefix, any case), newest first, by room, paged with `before`, at
//! most 50; edited messages match their current text, deleted ones never; refusals.

mod common;

use std::sync::Arc;

use ajax_chat::server::rooms::Rooms;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::Fixture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "search-test-key-0123456789";

async fn call(router: &Router, body: Value) -> (StatusCode, Value) {
    let request = Request::post("/ajax")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn post(router: &Router, room: &str, text: &str) -> u64 {
    let body = json!({"type": "message", "data": {"sender": "s", "message": text, "room": room, "key": KEY}});
    let (status, reply) = call(router, body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply["data"]["id"].as_u64().unwrap()
}

/// The ids a search finds, checked to be a well-formed reply.
async fn search(router: &Router, data: Value) -> Vec<u64> {
    let (status, reply) = call(router, json!({"type": "search", "data": data})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["type"], "search");
    let items = reply["data"].as_array().unwrap();
    assert!(items.len() <= 50);
    for item in items {
        assert_eq!(item["kind"], "message", "{item}");
        assert!(
            item["sender"].is_string() && item["sent_at"].is_string(),
            "{item}"
        );
    }
    items
        .iter()
        .map(|item| item["id"].as_u64().unwrap())
        .collect()
}

async fn chat() -> (Fixture, Router) {
    let mut fx = Fixture::new().await;
    fx.state.rooms = Arc::new(Rooms::parse("dev").unwrap());
    let router = fx.router();
    (fx, router)
}

#[tokio::test]
async fn every_word_as_a_word_the_last_as_a_prefix_newest_first() {
    let (_fx, router) = chat().await;
    let fox = post(&router, "general", "The quick brown fox").await;
    let thinking = post(&router, "general", "quick thinking, Brownian motion").await;
    let brownies = post(&router, "general", "brownies are great").await;
    let dev = post(&router, "dev", "QUICK brown build in dev").await;
    let accents = post(&router, "general", "Crème brûlée for the café").await;

    assert_eq!(
        search(&router, json!({"q": "quick brown"})).await,
        [dev, thinking, fox]
    );
    assert_eq!(
        search(&router, json!({"q": "brown"})).await,
        [dev, brownies, thinking, fox]
    );
    assert_eq!(
        search(&router, json!({"q": "Quick"})).await,
        [dev, thinking, fox]
    );
    assert_eq!(
        search(&router, json!({"q": "qui"})).await,
        [dev, thinking, fox],
        "a prefix"
    );
    assert!(
        search(&router, json!({"q": "qui brown"})).await.is_empty(),
        "only the last word is a prefix"
    );
    assert_eq!(
        search(&router, json!({"q": "fox, the!"})).await,
        [fox],
        "punctuation separates words"
    );
    assert_eq!(search(&router, json!({"q": "café"})).await, [accents]);
    assert_eq!(
        search(&router, json!({"q": "quick", "room": "dev"})).await,
        [dev]
    );
    assert_eq!(
        search(&router, json!({"q": "quick", "room": "general"})).await,
        [thinking, fox]
    );
    assert_eq!(
        search(&router, json!({"q": "quick", "before": dev})).await,
        [thinking, fox]
    );
    assert!(
        search(&router, json!({"q": "AND"})).await.is_empty(),
        "operators are words"
    );
    assert!(search(&router, json!({"q": "NEAR quick"})).await.is_empty());
}

#[tokio::test]
async fn edited_messages_match_their_current_text_and_deleted_ones_never() {
    let (_fx, router) = chat().await;
    let id = post(&router, "general", "an embarrassing typpo").await;
    let other = post(&router, "general", "another typpo here").await;
    let edit =
        json!({"type": "edit", "data": {"id": id, "message": "a corrected text", "key": KEY}});
    assert_eq!(call(&router, edit).await.0, StatusCode::OK);
    assert_eq!(search(&router, json!({"q": "typpo"})).await, [other]);
    assert_eq!(search(&router, json!({"q": "corrected"})).await, [id]);
    let delete = json!({"type": "delete", "data": {"id": other, "key": KEY}});
    assert_eq!(call(&router, delete).await.0, StatusCode::OK);
    assert!(search(&router, json!({"q": "typpo"})).await.is_empty());
    assert!(search(&router, json!({"q": "another"})).await.is_empty());
}

#[tokio::test]
async fn found_messages_carry_their_reactions_and_quotes_as_syncs_do() {
    let (_fx, router) = chat().await;
    let quoted = post(&router, "general", "the quoted line").await;
    let body = json!({"type": "message", "data": {"sender": "s", "message": "a findable reply", "reply_to": quoted, "key": KEY}});
    let (status, reply) = call(&router, body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let id = reply["data"]["id"].as_u64().unwrap();
    let react = json!({"type": "react", "data": {"id": id, "emoji": "👀", "key": KEY}});
    assert_eq!(call(&router, react).await.0, StatusCode::OK);
    let (_, found) = call(
        &router,
        json!({"type": "search", "data": {"q": "findable"}}),
    )
    .await;
    let item = &found["data"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["reactions"][0]["emoji"], "👀");
    assert_eq!(item["reactions"][0]["authors"].as_array().unwrap().len(), 1);
    assert_eq!(item["reply_to"]["id"], quoted);
    assert_eq!(item["reply_to"]["message"], "the quoted line");
    // The quote follows its message's deletion, in search as everywhere.
    let delete = json!({"type": "delete", "data": {"id": quoted, "key": KEY}});
    assert_eq!(call(&router, delete).await.0, StatusCode::OK);
    let (_, found) = call(
        &router,
        json!({"type": "search", "data": {"q": "findable"}}),
    )
    .await;
    assert_eq!(
        found["data"][0]["reply_to"],
        json!({"id": quoted, "deleted": true})
    );
}

#[tokio::test]
async fn at_most_fifty_newest_first_and_the_next_page_with_before() {
    let (_fx, router) = chat().await;
    let mut ids = Vec::new();
    for n in 0..60 {
        ids.push(post(&router, "general", &format!("needle number {n}")).await);
        post(&router, "general", "hay").await;
    }
    ids.reverse();
    let first = search(&router, json!({"q": "needle"})).await;
    assert_eq!(first, ids[..50]);
    let next = search(&router, json!({"q": "needle", "before": first[49]})).await;
    assert_eq!(next, ids[50..]);
}

#[tokio::test]
async fn malformed_searches_are_refused() {
    let (_fx, router) = chat().await;
    for (data, status) in [
        (json!({"q": ""}), StatusCode::BAD_REQUEST),
        (json!({"q": "x".repeat(201)}), StatusCode::BAD_REQUEST),
        (json!({"q": " !?* \"\""}), StatusCode::BAD_REQUEST),
        (json!({"q": "x", "before": 0}), StatusCode::BAD_REQUEST),
        (
            json!({"q": "x", "room": "Not A Room"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"q": "x", "room": "random"}), StatusCode::NOT_FOUND),
        (json!({}), StatusCode::BAD_REQUEST),
    ] {
        let (got, reply) = call(&router, json!({"type": "search", "data": data.clone()})).await;
        assert_eq!(got, status, "{data} -> {reply}");
        assert_eq!(reply["data"]["status"], 1);
    }
    assert_eq!(
        search(&router, json!({"q": "x".repeat(200)})).await,
        Vec::<u64>::new()
    );
}

/// More messages than the newest window a backend may read first (PostgreSQL reads the newest
/// 5,000 before it turns to its index): a rare word far back is still found, a common one gives
/// the newest page, and paging goes on past the window.
#[tokio::test]
async fn rare_words_far_back_and_common_words_among_many_messages() {
    let (fx, router) = chat().await;
    let rare = post(&router, "general", "a zanzibarian word, once").await;
    let fillers = (0..5_100).map(|n| {
        let store = &fx.store;
        async move {
            let message = ajax_chat::protocol::ValidMessage {
                room: "general".into(),
                sender: "filler".into(),
                message: format!("common filler {n}"),
                ..Default::default()
            };
            store.append(message).await.unwrap().id
        }
    });
    let mut ids = futures_util::future::join_all(fillers).await;
    ids.sort_unstable();
    assert_eq!(search(&router, json!({"q": "zanzibar"})).await, [rare]);
    let newest: Vec<u64> = ids.iter().rev().take(50).copied().collect();
    assert_eq!(search(&router, json!({"q": "common filler"})).await, newest);
    let deep = ids[ids.len() - 5_050];
    let page = search(&router, json!({"q": "filler", "before": deep})).await;
    let expected: Vec<u64> = ids.iter().rev().skip(5_050).take(50).copied().collect();
    assert_eq!(page, expected);
}
