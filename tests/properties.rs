//! Property tests of envelope decoding and validation through the real router: arbitrary bytes
//! and arbitrary JSON never make the server panic or answer outside the protocol; every input
//! is either accepted, and then round-trips byte-exact through a sync, or refused with a
//! status-1 envelope and nothing stored.

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
        let fixture = runtime.block_on(Fixture::new());
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
            json!({"type": "sync", "data": {"last_message": last}})
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
            match status {
                StatusCode::OK => {
                    prop_assert!(
                        reply["type"] == "sync" || reply["data"]["status"] == 0,
                        "{reply}"
                    );
                    if reply["type"] == "status" {
                        // A stored message: exactly one more, equal to what was sent.
                        prop_assert_eq!(after.len(), before.len() + 1);
                        let sent: Value = serde_json::from_slice(&body).unwrap();
                        let stored = after.last().unwrap();
                        prop_assert_eq!(&stored["message"], &sent["data"]["message"]);
                        let sender = sent["data"]["sender"].as_str().unwrap().trim();
                        prop_assert_eq!(stored["sender"].as_str().unwrap(), sender);
                    } else {
                        prop_assert_eq!(after.len(), before.len());
                    }
                }
                StatusCode::BAD_REQUEST => {
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
        prop_oneof![Just("message"), Just("sync"), Just("status")].prop_map(Value::from),
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
}
