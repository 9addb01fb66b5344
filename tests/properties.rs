//! Property tests of envelope decoding and validation through the real router: arbitrary bytes
//! and arbitrary JSON never make the server panic or answer outside the protocol; every input
//! is either accepted, and then round-trips byte-exact through a sync, or refused with a
//! status-1 envelope and nothing stored. The server serves `general` and `dev`, and the inputs
//! lean towards every envelope a client may send and every field they have.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::Fixture;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

thread_local! {
    /// One runtime and one database per test (each test runs on its own thread, its cases one
    /// after another), so a case sees only its own changes.
    static SHARED: (tokio::runtime::Runtime, Fixture) = {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut fixture = runtime.block_on(Fixture::new());
        fixture.state.rooms =
            std::sync::Arc::new(ajax_chat::server::rooms::Rooms::parse("dev").unwrap());
        // As a server shutting down: a sync with `wait_ms` is checked as always, but answered
        // at once instead of held (arbitrary waits would hold the cases for up to 30 s each).
        fixture.state.closing.close();
        (runtime, fixture)
    };
}

async fn post(router: &Router, body: Vec<u8>) -> (StatusCode, Value) {
    let request = Request::post("/ajax")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).expect("every reply is JSON");
    (status, body)
}

async fn all_messages(router: &Router) -> Vec<Value> {
    let mut last = 0;
    let mut all = Vec::new();
    loop {
        let (status, body) = post(
            router,
            json!({"type": "sync", "data": {"last_message": last, "rooms": ["general", "dev"]}})
                .to_string()
                .into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let page = body["data"].as_array().unwrap().clone();
        let full = page.len() == 1000;
        if let Some(newest) = page.last() {
            last = newest["id"].as_u64().unwrap();
        }
        all.extend(page);
        if !full {
            return all;
        }
    }
}

/// Sends `body` and checks the outcome against the protocol; returns the HTTP status.
fn check(body: Vec<u8>) -> Result<StatusCode, TestCaseError> {
    SHARED.with(|(runtime, fixture)| {
        runtime.block_on(async {
            let router = fixture.router();
            let before = all_messages(&router).await;
            let (status, reply) = post(&router, body.clone()).await;
            let after = all_messages(&router).await;
            let sent_type = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|sent| sent["type"].as_str().map(str::to_owned))
                .unwrap_or_default();
            match status {
                StatusCode::OK => {
                    let kind = reply["type"].as_str().unwrap_or_default();
                    prop_assert!(
                        ["sync", "history", "rooms", "search"].contains(&kind)
                            || reply["data"]["status"] == 0,
                        "{reply}"
                    );
                    if kind == "history" || kind == "sync" {
                        // Items in ascending id order, each of a served room.
                        let items = reply["data"].as_array().unwrap();
                        let ids: Vec<u64> =
                            items.iter().map(|m| m["id"].as_u64().unwrap()).collect();
                        prop_assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{reply}");
                        prop_assert!(
                            items
                                .iter()
                                .all(|m| m["room"] == "general" || m["room"] == "dev")
                        );
                    }
                    if kind == "rooms" {
                        let names: Vec<&str> = reply["data"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|r| r["name"].as_str().unwrap())
                            .collect();
                        prop_assert_eq!(names, ["general", "dev"]);
                    }
                    if kind == "search" {
                        // Newest first, each of a served room.
                        let items = reply["data"].as_array().unwrap();
                        let ids: Vec<u64> =
                            items.iter().map(|m| m["id"].as_u64().unwrap()).collect();
                        prop_assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "{reply}");
                        prop_assert_eq!(after.len(), before.len());
                    }
                    if kind == "status" && sent_type == "fingerprint" {
                        // A key's fingerprint: nothing stored.
                        let print = reply["data"]["author"].as_str().unwrap_or_default();
                        prop_assert!(ajax_chat::protocol::is_fingerprint(print), "{reply}");
                        prop_assert_eq!(after.len(), before.len());
                    } else if kind == "status" {
                        // A stored message: exactly one more, equal to what was sent.
                        prop_assert_eq!(after.len(), before.len() + 1);
                        let sent: Value = serde_json::from_slice(&body).unwrap();
                        let stored = after.last().unwrap();
                        prop_assert_eq!(&stored["message"], &sent["data"]["message"]);
                        let sender = sent["data"]["sender"].as_str().unwrap().trim();
                        prop_assert_eq!(stored["sender"].as_str().unwrap(), sender);
                        let room = sent["data"]["room"].as_str().unwrap_or("general");
                        prop_assert_eq!(stored["room"].as_str().unwrap(), room);
                    } else {
                        prop_assert_eq!(after.len(), before.len());
                    }
                }
                StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                    prop_assert_eq!(&reply["type"], "status");
                    prop_assert_eq!(&reply["data"]["status"], 1);
                    prop_assert_eq!(after.len(), before.len(), "a refused input stored nothing");
                }
                other => prop_assert!(false, "unexpected status {other}: {reply}"),
            }
            Ok(status)
        })
    })
}

/// Any JSON value, biased towards shapes near the protocol's.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        prop_oneof![
            Just("message"),
            Just("sync"),
            Just("status"),
            Just("history"),
            Just("rooms"),
            Just("edit"),
            Just("delete"),
            Just("ban"),
            Just("unban"),
            Just("bans"),
            Just("search"),
            Just("fingerprint"),
            Just("general"),
            Just("dev"),
            Just("a-key-of-twenty-two-chars"),
            Just("nonce-0123456789"),
            Just("abcdefgh"),
            Just("10.0.0.1"),
        ]
        .prop_map(Value::from),
        (0u64..5).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("data".to_owned()),
                    Just("sender".to_owned()),
                    Just("message".to_owned()),
                    Just("last_message".to_owned()),
                    Just("room".to_owned()),
                    Just("rooms".to_owned()),
                    Just("before".to_owned()),
                    Just("limit".to_owned()),
                    Just("read".to_owned()),
                    Just("id".to_owned()),
                    Just("key".to_owned()),
                    Just("admin".to_owned()),
                    Just("author".to_owned()),
                    Just("q".to_owned()),
                    Just("nonce".to_owned()),
                    Just("wait_ms".to_owned()),
                    Just("purge".to_owned()),
                    Just("address".to_owned()),
                    Just("general".to_owned()),
                    Just("dev".to_owned()),
                    any::<String>(),
                ],
                inner,
                0..4,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    // Failures are saved beside this file (properties.proptest-regressions, in git) and
    // replayed first on every run, so a case that once failed is tried for ever.
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_are_accepted_or_refused_cleanly(body in prop::collection::vec(any::<u8>(), 0..256)) {
        check(body)?;
    }

    #[test]
    fn arbitrary_json_is_accepted_or_refused_cleanly(value in json_value()) {
        check(serde_json::to_vec(&value).unwrap())?;
    }

    #[test]
    fn arbitrary_envelope_shapes_are_accepted_or_refused_cleanly(
        kind in prop_oneof![
            Just("message".to_owned()),
            Just("sync".to_owned()),
            Just("status".to_owned()),
            Just("history".to_owned()),
            Just("rooms".to_owned()),
            Just("edit".to_owned()),
            Just("delete".to_owned()),
            Just("ban".to_owned()),
            Just("unban".to_owned()),
            Just("bans".to_owned()),
            Just("search".to_owned()),
            Just("fingerprint".to_owned()),
            any::<String>(),
        ],
        data in json_value(),
    ) {
        check(serde_json::to_vec(&json!({"type": kind, "data": data})).unwrap())?;
    }

    #[test]
    fn any_valid_message_round_trips_byte_exact(
        sender in "\\PC{1,64}",
        message in "(\\PC|\\s){1,300}",
    ) {
        prop_assume!(!sender.trim().is_empty() && !message.trim().is_empty());
        prop_assume!(!sender.contains('\0') && !message.contains('\0'));
        let body = json!({"type": "message", "data": {"sender": sender, "message": message}});
        prop_assert_eq!(check(serde_json::to_vec(&body).unwrap())?, StatusCode::OK);
    }

    #[test]
    fn history_is_the_newest_page_of_its_room_before_an_id(
        rooms in prop::collection::vec(prop_oneof![Just("general"), Just("dev")], 1..12),
        before in 1u64..40,
        limit in 1u32..8,
    ) {
        SHARED.with(|(runtime, fixture)| {
            runtime.block_on(async {
                let router = fixture.router();
                for room in &rooms {
                    let body = json!({"type": "message", "data": {"sender": "p", "message": "m", "room": room}});
                    let (status, _) = post(&router, body.to_string().into_bytes()).await;
                    prop_assert_eq!(status, StatusCode::OK);
                }
                let all = all_messages(&router).await;
                let body = json!({"type": "history", "data": {"room": "dev", "before": before, "limit": limit}});
                let (status, reply) = post(&router, body.to_string().into_bytes()).await;
                prop_assert_eq!(status, StatusCode::OK);
                let got: Vec<u64> = reply["data"].as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect();
                let dev: Vec<u64> = all.iter().filter(|m| m["room"] == "dev").map(|m| m["id"].as_u64().unwrap()).filter(|&id| id < before).collect();
                let expected = dev[dev.len().saturating_sub(limit as usize)..].to_vec();
                prop_assert_eq!(got, expected);
                Ok(())
            })
        })?;
    }

    #[test]
    fn a_fingerprint_never_reveals_its_key(key in "[A-Za-z0-9_-]{22,128}") {
        SHARED.with(|(runtime, fixture)| {
            runtime.block_on(async {
                let router = fixture.router();
                let body = json!({"type": "message", "data": {"sender": "p", "message": "m", "key": key}});
                let mut prints = Vec::new();
                for _ in 0..2 {
                    let (status, reply) = post(&router, body.to_string().into_bytes()).await;
                    prop_assert_eq!(status, StatusCode::OK);
                    let print = reply["data"]["author"].as_str().unwrap().to_owned();
                    prop_assert!(ajax_chat::protocol::is_fingerprint(&print), "{}", print);
                    prop_assert!(!reply.to_string().contains(&key));
                    prints.push(print);
                }
                prop_assert_eq!(&prints[0], &prints[1], "same key, same fingerprint");
                for request in [
                    json!({"type": "sync", "data": {"last_message": 0}}),
                    json!({"type": "sync", "data": {"last_message": 0, "rooms": ["general", "dev"]}}),
                    json!({"type": "history", "data": {"room": "general", "limit": 200}}),
                ] {
                    let (_, reply) = post(&router, request.to_string().into_bytes()).await;
                    prop_assert!(!reply.to_string().contains(&key), "a reply shows the key");
                }
                Ok(())
            })
        })?;
    }

    /// Posts, edits and deletes by two keys in any order: a sync without `rooms` (the seed's)
    /// never returns an event item, and it shows exactly the messages `history` shows, with
    /// their current text.
    #[test]
    fn a_sync_without_rooms_never_returns_an_event(
        ops in prop::collection::vec((0u8..3, 0usize..8, 0usize..2, "[a-z]{1,8}"), 1..16),
        from in 0u64..20,
    ) {
        const KEYS: [&str; 2] = ["first-key-0123456789abcdef", "second-key-0123456789abcdef"];
        SHARED.with(|(runtime, fixture)| {
            runtime.block_on(async {
                let router = fixture.router();
                let mut posted: Vec<u64> = Vec::new();
                for (op, target, key, text) in ops {
                    let key = KEYS[key];
                    let target = posted.get(target % posted.len().max(1)).copied().unwrap_or(1);
                    let body = match op {
                        0 => json!({"type": "message", "data": {"sender": "p", "message": text, "key": key}}),
                        1 => json!({"type": "edit", "data": {"id": target, "message": text, "key": key}}),
                        _ => json!({"type": "delete", "data": {"id": target, "key": key}}),
                    };
                    let (status, reply) = post(&router, body.to_string().into_bytes()).await;
                    prop_assert!(
                        [StatusCode::OK, StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&status),
                        "{status}: {reply}"
                    );
                    if op == 0 {
                        posted.push(reply["data"]["id"].as_u64().unwrap());
                    }
                }
                // The newest 200 of `general` (the database is shared by this test's cases).
                let history = json!({"type": "history", "data": {"room": "general", "limit": 200}});
                let (_, history) = post(&router, history.to_string().into_bytes()).await;
                let history = history["data"].as_array().unwrap().clone();
                let first = history.first().map_or(0, |m| m["id"].as_u64().unwrap() - 1);
                let seed = json!({"type": "sync", "data": {"last_message": first}});
                let (_, seed) = post(&router, seed.to_string().into_bytes()).await;
                let seed = seed["data"].as_array().unwrap().clone();
                prop_assert!(seed.iter().all(|item| item["kind"] == "message"), "{seed:?}");
                prop_assert_eq!(seed, history);
                let later = json!({"type": "sync", "data": {"last_message": from}});
                let (_, later) = post(&router, later.to_string().into_bytes()).await;
                prop_assert!(later["data"].as_array().unwrap().iter().all(|item| item["kind"] == "message"));
                Ok(())
            })
        })?;
    }
}
