//! Protocol tests: `POST /ajax` driven through the real router in-process, over a real SQLite
//! database in a temporary folder, or, with `CHAT_TEST_POSTGRES_URL` set (scripts/test runs the
//! suite both ways), over a fresh PostgreSQL database. Every error class is checked for its HTTP
//! status, its status-1 envelope, and that nothing was stored.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::Fixture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    content_type: String,
    allow: Option<String>,
    nosniff: Option<String>,
    body: Value,
}

async fn call(router: &Router, method: Method, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    let mut request = Request::builder().method(method).uri("/ajax");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let header_text = |name| {
        headers
            .get(name)
            .map(|value: &header::HeaderValue| value.to_str().unwrap().to_owned())
    };
    let content_type = header_text(header::CONTENT_TYPE).unwrap_or_default();
    let allow = header_text(header::ALLOW);
    let nosniff = header_text(header::X_CONTENT_TYPE_OPTIONS);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
        panic!(
            "reply is not JSON ({err}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Reply {
        status,
        content_type,
        allow,
        nosniff,
        body,
    }
}

async fn post(router: &Router, body: &Value) -> Reply {
    call(
        router,
        Method::POST,
        Some("application/json"),
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

async fn send(router: &Router, sender: &str, message: &str) -> Reply {
    post(
        router,
        &json!({"type": "message", "data": {"sender": sender, "message": message}}),
    )
    .await
}

/// The messages after `last`, checked to be a well-formed sync reply.
async fn sync(router: &Router, last: u64) -> Vec<Value> {
    let reply = post(
        router,
        &json!({"type": "sync", "data": {"last_message": last}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["type"], "sync");
    reply.body["data"]
        .as_array()
        .expect("data is a list")
        .clone()
}

fn assert_ok(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert!(reply.content_type.starts_with("application/json"));
    assert_eq!(reply.body["type"], "status");
    assert_eq!(reply.body["data"]["status"], 0, "{:?}", reply.body);
}

fn assert_refused(reply: &Reply, status: StatusCode, what: &str) {
    assert_eq!(reply.nosniff.as_deref(), Some("nosniff"), "{what}");
    assert_eq!(reply.status, status, "{what}: {:?}", reply.body);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{what}: content type {:?}",
        reply.content_type
    );
    assert_eq!(reply.body["type"], "status", "{what}");
    assert_eq!(reply.body["data"]["status"], 1, "{what}");
    let message = reply.body["data"]["message"]
        .as_str()
        .expect("message text");
    assert!(!message.is_empty(), "{what}: empty message");
    assert_eq!(
        reply.body.as_object().unwrap().len(),
        2,
        "{what}: only type and data"
    );
}

#[tokio::test]
async fn a_posted_message_is_acknowledged_and_synced_back() {
    let fx = Fixture::new().await;
    let router = fx.router();

    let reply = send(&router, "  ann\t", "hello, world").await;
    assert_ok(&reply);
    assert!(!reply.body["data"]["message"].as_str().unwrap().is_empty());

    let messages = sync(&router, 0).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.as_object().unwrap().len(), 6, "{message}");
    assert_eq!(message["kind"], "message");
    assert!(message["id"].as_u64().unwrap() >= 1);
    assert_eq!(message["room"], "general", "a seed post goes to general");
    assert_eq!(message["sender"], "ann", "sender is stored trimmed");
    assert_eq!(message["message"], "hello, world");
    let sent_at = message["sent_at"].as_str().unwrap();
    assert_eq!(sent_at.as_bytes()[10], b'T', "{sent_at}");
    assert!(sent_at.ends_with('Z'), "RFC 3339 UTC: {sent_at}");
    assert!(sent_at.starts_with("20"), "{sent_at}");
}

#[tokio::test]
async fn sync_returns_only_newer_messages_in_ascending_order() {
    let fx = Fixture::new().await;
    let router = fx.router();
    for n in 1..=5 {
        assert_ok(&send(&router, "bob", &format!("m{n}")).await);
    }
    let all = sync(&router, 0).await;
    let ids: Vec<u64> = all.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(all[4]["message"], "m5");

    let after_second = sync(&router, ids[1]).await;
    let texts: Vec<&str> = after_second
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m3", "m4", "m5"]);

    assert!(sync(&router, ids[4]).await.is_empty(), "up to date");
    assert!(
        sync(&router, ids[4] + 100).await.is_empty(),
        "ahead of the server"
    );
    assert!(sync(&router, u64::MAX).await.is_empty(), "far ahead");
}

#[tokio::test]
async fn syncing_past_1000_pages_through_every_message() {
    let fx = Fixture::new().await;
    let router = fx.router();
    let total = 2345;
    let posts: Vec<_> = (0..total)
        .map(|n| {
            let router = router.clone();
            tokio::spawn(async move { send(&router, "pager", &format!("#{n}")).await })
        })
        .collect();
    for post in posts {
        assert_ok(&post.await.unwrap());
    }

    let mut last = 0;
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = sync(&router, last).await;
        pages.push(page.len());
        for message in &page {
            let id = message["id"].as_u64().unwrap();
            assert!(id > last, "ascending and newer: {id} after {last}");
            last = id;
            seen.push(message["message"].as_str().unwrap().to_owned());
        }
        if page.len() < 1000 {
            break;
        }
    }
    assert_eq!(pages, [1000, 1000, 345]);
    seen.sort();
    let mut expected: Vec<String> = (0..total).map(|n| format!("#{n}")).collect();
    expected.sort();
    assert_eq!(seen, expected, "every message exactly once");
}

#[tokio::test]
async fn unicode_and_html_round_trip_byte_exact() {
    let fx = Fixture::new().await;
    let router = fx.router();
    let texts = [
        "<script>alert('x')</script> & <b>bold</b> &amp; \"quoted\"",
        "  leading and trailing white space\n\tkept  ",
        "multi\nline\r\nwith CRLF",
        "😀 astral, e\u{301} combining, 👩‍👩‍👧 joined, \u{200B}zero width, مرحبا RTL",
        "\u{FEFF}BOM and \u{7F} DEL and \u{1} control",
        "\\ backslash, \"quote\", '/' slash, \u{2028} separator",
    ];
    for text in texts {
        assert_ok(&send(&router, "émile 😀", text).await);
    }
    let stored: Vec<String> = sync(&router, 0)
        .await
        .iter()
        .map(|m| {
            assert_eq!(m["sender"], "émile 😀");
            m["message"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(stored, texts);
}

#[tokio::test]
async fn length_limits_count_unicode_scalar_values() {
    let fx = Fixture::new().await;
    let router = fx.router();
    let astral = "😀"; // one scalar value, four bytes

    assert_ok(&send(&router, &astral.repeat(64), "x").await);
    assert_ok(&send(&router, &format!("  {}\u{3000}", "a".repeat(64)), "x").await);
    assert_ok(&send(&router, "a", &astral.repeat(4096)).await);
    assert_ok(&send(&router, "a", &"b".repeat(4096)).await);
    let stored = sync(&router, 0).await.len();
    assert_eq!(stored, 4);

    let over = [
        send(&router, &astral.repeat(65), "x").await,
        send(&router, &"a".repeat(65), "x").await,
        send(&router, "a", &astral.repeat(4097)).await,
        send(&router, "a", &"b".repeat(4097)).await,
    ];
    for reply in &over {
        assert_refused(reply, StatusCode::BAD_REQUEST, "over a length limit");
    }
    assert_eq!(
        sync(&router, 0).await.len(),
        stored,
        "nothing refused is stored"
    );
}

/// Each case: what is sent, and the HTTP status it must be refused with.
#[tokio::test]
async fn every_error_class_is_refused_with_a_status_envelope_and_stores_nothing() {
    let fx = Fixture::new().await;
    let router = fx.router();
    assert_ok(&send(&router, "seed", "one message before").await);

    let json = Some("application/json");
    let bad_request: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"hello".to_vec()),
        ("truncated JSON", br#"{"type":"message","data":{"#.to_vec()),
        ("empty body", Vec::new()),
        ("not an object: list", b"[]".to_vec()),
        ("not an object: number", b"42".to_vec()),
        ("not an object: string", br#""message""#.to_vec()),
        ("not an object: null", b"null".to_vec()),
        (
            "type missing",
            br#"{"data":{"sender":"a","message":"b"}}"#.to_vec(),
        ),
        (
            "type not a string",
            br#"{"type":1,"data":{"last_message":0}}"#.to_vec(),
        ),
        (
            "type null",
            br#"{"type":null,"data":{"last_message":0}}"#.to_vec(),
        ),
        (
            "type unknown",
            br#"{"type":"shout","data":{"sender":"a","message":"b"}}"#.to_vec(),
        ),
        (
            "type in other case",
            br#"{"type":"Message","data":{"sender":"a","message":"b"}}"#.to_vec(),
        ),
        (
            "status from a client",
            br#"{"type":"status","data":{"status":0,"message":"ok"}}"#.to_vec(),
        ),
        (
            "server sync shape from a client",
            br#"{"type":"sync","data":[{"id":1,"sender":"a","message":"b"}]}"#.to_vec(),
        ),
        ("message data missing", br#"{"type":"message"}"#.to_vec()),
        (
            "message data null",
            br#"{"type":"message","data":null}"#.to_vec(),
        ),
        (
            "message data a string",
            br#"{"type":"message","data":"hi"}"#.to_vec(),
        ),
        (
            "message data a list",
            br#"{"type":"message","data":["a","b"]}"#.to_vec(),
        ),
        (
            "sender missing",
            br#"{"type":"message","data":{"message":"b"}}"#.to_vec(),
        ),
        (
            "message missing",
            br#"{"type":"message","data":{"sender":"a"}}"#.to_vec(),
        ),
        (
            "sender a number",
            br#"{"type":"message","data":{"sender":5,"message":"b"}}"#.to_vec(),
        ),
        (
            "sender null",
            br#"{"type":"message","data":{"sender":null,"message":"b"}}"#.to_vec(),
        ),
        (
            "message a bool",
            br#"{"type":"message","data":{"sender":"a","message":true}}"#.to_vec(),
        ),
        (
            "message an object",
            br#"{"type":"message","data":{"sender":"a","message":{"t":"b"}}}"#.to_vec(),
        ),
        (
            "sender empty",
            br#"{"type":"message","data":{"sender":"","message":"b"}}"#.to_vec(),
        ),
        (
            "sender only white space",
            br#"{"type":"message","data":{"sender":" \u3000\t","message":"b"}}"#.to_vec(),
        ),
        (
            "message empty",
            br#"{"type":"message","data":{"sender":"a","message":""}}"#.to_vec(),
        ),
        (
            "message only white space",
            br#"{"type":"message","data":{"sender":"a","message":" \n\t\u2003"}}"#.to_vec(),
        ),
        ("sync data missing", br#"{"type":"sync"}"#.to_vec()),
        (
            "sync data a number",
            br#"{"type":"sync","data":3}"#.to_vec(),
        ),
        (
            "last_message missing",
            br#"{"type":"sync","data":{}}"#.to_vec(),
        ),
        (
            "last_message negative",
            br#"{"type":"sync","data":{"last_message":-1}}"#.to_vec(),
        ),
        (
            "last_message a fraction",
            br#"{"type":"sync","data":{"last_message":1.5}}"#.to_vec(),
        ),
        (
            "last_message in exponent form",
            br#"{"type":"sync","data":{"last_message":1e2}}"#.to_vec(),
        ),
        (
            "last_message a string",
            br#"{"type":"sync","data":{"last_message":"3"}}"#.to_vec(),
        ),
        (
            "last_message null",
            br#"{"type":"sync","data":{"last_message":null}}"#.to_vec(),
        ),
        (
            "last_message too large",
            br#"{"type":"sync","data":{"last_message":18446744073709551616}}"#.to_vec(),
        ),
        (
            "invalid UTF-8",
            b"{\"type\":\"message\",\"data\":{\"sender\":\"a\",\"message\":\"\xff\"}}".to_vec(),
        ),
    ];
    for (what, body) in bad_request {
        let reply = call(&router, Method::POST, json, body).await;
        assert_refused(&reply, StatusCode::BAD_REQUEST, what);
    }

    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let body = br#"{"type":"message","data":{"sender":"a","message":"b"}}"#.to_vec();
        let reply = call(&router, method.clone(), json, body).await;
        assert_refused(&reply, StatusCode::METHOD_NOT_ALLOWED, method.as_str());
        assert_eq!(reply.allow.as_deref(), Some("POST"));
    }

    let valid = br#"{"type":"message","data":{"sender":"a","message":"b"}}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("text/json-ish"),
    ] {
        let reply = call(&router, Method::POST, content_type, valid.to_vec()).await;
        assert_refused(
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("{content_type:?}"),
        );
    }

    let messages = sync(&router, 0).await;
    assert_eq!(
        messages.len(),
        1,
        "nothing refused was stored: {messages:?}"
    );
}

#[tokio::test]
async fn content_type_parameters_are_allowed() {
    let fx = Fixture::new().await;
    let router = fx.router();
    let body = br#"{"type":"message","data":{"sender":"a","message":"b"}}"#;
    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ] {
        assert_ok(&call(&router, Method::POST, Some(content_type), body.to_vec()).await);
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413() {
    let fx = Fixture::new().await;
    let router = fx.router();
    let limit = 64 * 1024;
    // A valid envelope padded with insignificant white space to an exact size.
    let padded = |size: usize| {
        let mut body = br#"{"type":"message","data":{"sender":"big","message":"b"}}"#.to_vec();
        body.resize(size, b' ');
        body
    };
    let at_limit = call(
        &router,
        Method::POST,
        Some("application/json"),
        padded(limit),
    )
    .await;
    assert_ok(&at_limit);
    let over = call(
        &router,
        Method::POST,
        Some("application/json"),
        padded(limit + 1),
    )
    .await;
    assert_refused(&over, StatusCode::PAYLOAD_TOO_LARGE, "one byte over");
    let far_over = call(
        &router,
        Method::POST,
        Some("application/json"),
        padded(10 * limit),
    )
    .await;
    assert_refused(&far_over, StatusCode::PAYLOAD_TOO_LARGE, "far over");
    assert_eq!(sync(&router, 0).await.len(), 1);
}

#[tokio::test]
async fn storage_faults_are_503_without_internal_details() {
    let fx = Fixture::new().await;
    let router = fx.router();
    assert_ok(&send(&router, "ann", "before").await);
    fx.store.close().await;

    let reply = send(&router, "ann", "after").await;
    assert_refused(&reply, StatusCode::SERVICE_UNAVAILABLE, "post while closed");
    let reply = post(
        &router,
        &json!({"type": "sync", "data": {"last_message": 0}}),
    )
    .await;
    assert_refused(&reply, StatusCode::SERVICE_UNAVAILABLE, "sync while closed");
    let text = reply.body["data"]["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let path = fx.db_path().display().to_string().to_lowercase();
    let url = fx.url.to_lowercase();
    for secret in ["sqlite", "postgres", "sql", "select", &path, &url] {
        assert!(!text.contains(secret), "{text:?} leaks {secret:?}");
    }

    let health = router
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn healthz_reports_storage_that_answers() {
    let fx = Fixture::new().await;
    let response = fx
        .router()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["data"]["status"], 0);
}

#[tokio::test]
async fn unknown_fields_are_ignored_for_forward_compatibility() {
    let fx = Fixture::new().await;
    let router = fx.router();
    let reply = post(
        &router,
        &json!({"type": "message", "data": {"sender": "a", "message": "b", "extra": 1}, "v": 2}),
    )
    .await;
    assert_ok(&reply);
    assert_eq!(sync(&router, 0).await.len(), 1);
}

#[tokio::test]
async fn the_page_is_compressed_as_the_browser_prefers_and_has_a_description() {
    use std::io::Read;
    let fx = Fixture::new().await;
    let router = fx.router();
    assert_ok(&send(&router, "ann", "compressed hello").await);
    let get = |encoding: &str| {
        let request = Request::get("/")
            .header(header::ACCEPT_ENCODING, encoding)
            .body(Body::empty())
            .unwrap();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::VARY], "accept-encoding");
            let coding = response
                .headers()
                .get(header::CONTENT_ENCODING)
                .map(|value| value.to_str().unwrap().to_owned());
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (coding, bytes)
        }
    };
    let (coding, plain) = get("identity").await;
    assert_eq!(coding, None);
    let plain = String::from_utf8(plain.to_vec()).unwrap();
    assert!(plain.contains("compressed hello"));
    assert!(
        plain.contains(r#"<meta name="description" content=""#),
        "{plain}"
    );

    let (coding, packed) = get("gzip, deflate").await;
    assert_eq!(coding.as_deref(), Some("gzip"));
    let mut html = String::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_string(&mut html)
        .unwrap();
    assert!(html.contains("compressed hello") && packed.len() < html.len());

    let (coding, packed) = get("gzip, deflate, br, zstd").await;
    assert_eq!(coding.as_deref(), Some("br"));
    let mut html = String::new();
    brotli::Decompressor::new(&packed[..], 4096)
        .read_to_string(&mut html)
        .unwrap();
    assert!(html.contains("compressed hello") && packed.len() < html.len());
}

#[tokio::test]
async fn the_page_is_rendered_with_the_newest_messages_as_text() {
    let fx = Fixture::new().await;
    let router = fx.router();
    for n in 1..=55 {
        assert_ok(&send(&router, "ann", &format!("message number {n}")).await);
    }
    assert_ok(
        &send(
            &router,
            "<i>eve</i>",
            "<script>alert('x')</script> & </script>",
        )
        .await,
    );

    let response = router
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8(bytes.to_vec()).unwrap();

    assert!(html.contains(r#"role="log""#), "{html}");
    // The 50 newest: numbers 7..=55 and the HTML one; the oldest six are left to sync.
    assert!(!html.contains("message number 6<"), "only the 50 newest");
    assert!(html.contains("message number 7<"));
    let first = html.find("message number 7<").unwrap();
    let last = html.find("message number 55<").unwrap();
    assert!(first < last, "oldest first");
    assert!(
        html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;/script&gt;")
            || html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;/script&gt;"),
        "message text escaped"
    );
    assert!(html.contains("&lt;i&gt;eve&lt;/i&gt;"), "sender escaped");
    assert!(!html.contains("<script>alert"), "no markup from a message");
    // Every script the page runs carries the nonce that its policy allows, and only that one.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a script nonce in the policy");
    let scripts = html.matches("<script").count();
    let with_nonce = html.matches(&format!("nonce=\"{nonce}\"")).count();
    let data_only = html.matches(r#"<script type="application/json""#).count();
    assert_eq!(scripts, with_nonce + data_only, "{html}");
    assert!(!html.contains("<i>eve"), "no markup from a sender");
}

#[tokio::test]
async fn an_up_to_date_sync_is_answered_without_touching_storage() {
    let fx = Fixture::new().await;
    let router = fx.router();
    assert_ok(&send(&router, "ann", "newest").await);
    let newest = sync(&router, 0).await[0]["id"].as_u64().unwrap();
    // With storage closed, any query would fail with 503: only the in-memory newest id can
    // answer these.
    fx.store.close().await;
    assert!(sync(&router, newest).await.is_empty());
    assert!(sync(&router, newest + 10).await.is_empty());
    let behind = post(
        &router,
        &json!({"type": "sync", "data": {"last_message": 0}}),
    )
    .await;
    assert_refused(
        &behind,
        StatusCode::SERVICE_UNAVAILABLE,
        "a sync that needs the database",
    );
}

#[tokio::test]
async fn a_repeated_nonce_gets_the_same_reply_and_stores_nothing_new() {
    let fx = Fixture::new().await;
    let router = fx.router();
    let with_nonce = |message: &str, nonce: &str| json!({"type": "message", "data": {"sender": "ann", "message": message, "nonce": nonce}});
    let first = post(&router, &with_nonce("only once", "retry-key-0001")).await;
    assert_ok(&first);
    // A client that lost the reply sends again, once and then many times at once.
    let again = post(&router, &with_nonce("only once", "retry-key-0001")).await;
    assert_ok(&again);
    assert_eq!(again.body, first.body, "the same status-0 reply");
    let repeats: Vec<_> = (0..20)
        .map(|_| {
            let router = router.clone();
            let body = with_nonce("only once", "retry-key-0001");
            tokio::spawn(async move { post(&router, &body).await })
        })
        .collect();
    for repeat in repeats {
        assert_eq!(repeat.await.unwrap().body, first.body);
    }
    let stored = sync(&router, 0).await;
    assert_eq!(stored.len(), 1, "stored once");
    // The page's outbox matches its pending line to the stored message by this id.
    assert_eq!(first.body["data"]["id"], stored[0]["id"]);

    // Another key, or none, is another message.
    assert_ok(&post(&router, &with_nonce("only once", "retry-key-0002")).await);
    assert_ok(&send(&router, "ann", "only once").await);
    assert_ok(&send(&router, "ann", "only once").await);
    assert_eq!(sync(&router, 0).await.len(), 4);

    // Keys of the wrong length or type are refused.
    for nonce in [
        json!("short"),
        json!("n".repeat(65)),
        json!(12345678),
        json!(""),
    ] {
        let body =
            json!({"type": "message", "data": {"sender": "a", "message": "b", "nonce": nonce}});
        assert_refused(
            &post(&router, &body).await,
            StatusCode::BAD_REQUEST,
            "bad nonce",
        );
    }
    assert_eq!(sync(&router, 0).await.len(), 4);
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_retry_after_and_nothing_stored() {
    use ajax_chat::server::limit::{ClientAddr, Limiter, Rate};
    use std::sync::Arc;

    let mut fx = Fixture::new().await;
    fx.state.message_limit = Arc::new(Limiter::new(Rate::new(0.5, 3).unwrap()));
    fx.state.sync_limit = Arc::new(Limiter::new(Rate::new(0.5, 5).unwrap()));
    let router = fx.router();
    // What the accept loop does for every request: tag it with the client's address.
    let from = |client: &str, body: Value| {
        let mut request = Request::post("/ajax")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        request
            .extensions_mut()
            .insert(ClientAddr(client.parse().unwrap()));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                retry_after,
                serde_json::from_slice::<Value>(&bytes).unwrap(),
            )
        }
    };
    let message =
        |text: &str| json!({"type": "message", "data": {"sender": "flood", "message": text}});

    for n in 0..3 {
        let (status, _, _) = from("192.0.2.7", message(&format!("burst {n}"))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, retry_after, body) = from("192.0.2.7", message("one too many")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = retry_after
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");
    assert_eq!(body["type"], "status");
    assert_eq!(body["data"]["status"], 1);
    assert!(
        body["data"]["message"]
            .as_str()
            .unwrap()
            .contains("too many requests")
    );

    // Another client is not affected, and syncs have their own, looser budget.
    let (status, _, _) = from("192.0.2.8", message("someone else")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = from(
        "192.0.2.7",
        json!({"type": "sync", "data": {"last_message": 0}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let texts: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["burst 0", "burst 1", "burst 2", "someone else"],
        "the refused one was not stored"
    );

    // An IPv6 client is its /64: another address in it does not buy a fresh budget, another
    // /64 has its own.
    for n in 0..3 {
        let (status, _, _) = from("2001:db8:7:1::1", message(&format!("v6 {n}"))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, _) = from("2001:db8:7:1:ffff::2", message("same /64")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = from("2001:db8:7:2::1", message("next /64")).await;
    assert_eq!(status, StatusCode::OK);
}

// ---- Rooms, history, unread counts and the pages of rooms --------------------------------

/// A fixture whose server serves `general`, `dev` and `ops`.
async fn with_rooms() -> (Fixture, Router) {
    let mut fx = Fixture::new().await;
    fx.state.rooms =
        std::sync::Arc::new(ajax_chat::server::rooms::Rooms::parse("dev,ops").unwrap());
    let router = fx.router();
    (fx, router)
}

async fn send_to(router: &Router, room: &str, message: &str) -> u64 {
    let reply = post(
        router,
        &json!({"type": "message", "data": {"sender": "ann", "message": message, "room": room}}),
    )
    .await;
    assert_ok(&reply);
    // "message <id> stored"
    reply.body["data"]["message"]
        .as_str()
        .and_then(|text| text.split(' ').nth(1))
        .and_then(|id| id.parse().ok())
        .expect("the stored id in the status")
}

async fn sync_rooms(router: &Router, last: u64, rooms: &[&str]) -> Vec<(u64, String, String)> {
    let reply = post(
        router,
        &json!({"type": "sync", "data": {"last_message": last, "rooms": rooms}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    items(&reply, "sync")
}

/// `(id, room, text)` of a sync or history reply's items.
fn items(reply: &Reply, kind: &str) -> Vec<(u64, String, String)> {
    assert_eq!(reply.body["type"], kind, "{:?}", reply.body);
    reply.body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| {
            (
                item["id"].as_u64().unwrap(),
                item["room"].as_str().unwrap().to_owned(),
                item["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn rooms_keep_their_messages_apart_on_one_id_sequence() {
    let (_fx, router) = with_rooms().await;
    let mut ids = Vec::new();
    for (room, text) in [
        ("general", "g1"),
        ("dev", "d1"),
        ("ops", "o1"),
        ("dev", "d2"),
    ] {
        ids.push(send_to(&router, room, text).await);
    }
    // A seed post (no room) goes to general.
    assert_ok(&send(&router, "ann", "g2").await);
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "one sequence: {ids:?}"
    );

    // The seed's sync sees general only, exactly as before rooms.
    let seed: Vec<String> = sync(&router, 0)
        .await
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seed, ["g1", "g2"]);
    let texts = |items: Vec<(u64, String, String)>| -> Vec<String> {
        items
            .into_iter()
            .map(|(_, room, text)| format!("{room}:{text}"))
            .collect()
    };
    assert_eq!(
        texts(sync_rooms(&router, 0, &["dev", "ops"]).await),
        ["dev:d1", "ops:o1", "dev:d2"]
    );
    assert_eq!(
        texts(sync_rooms(&router, ids[1], &["ops", "dev"]).await),
        ["ops:o1", "dev:d2"]
    );
    assert_eq!(
        texts(sync_rooms(&router, 0, &["general", "dev", "ops"]).await),
        ["general:g1", "dev:d1", "ops:o1", "dev:d2", "general:g2"]
    );
    // Up to date in the rooms followed, while another room moved on: nothing.
    assert!(sync_rooms(&router, ids[2], &["ops"]).await.is_empty());
}

#[tokio::test]
async fn room_names_are_checked_everywhere_and_nothing_is_stored_when_refused() {
    let (_fx, router) = with_rooms().await;
    send_to(&router, "dev", "kept").await;
    let message = |room: Value| json!({"type": "message", "data": {"sender": "a", "message": "b", "room": room}});
    let sync = |rooms: Value| json!({"type": "sync", "data": {"last_message": 0, "rooms": rooms}});
    let history = |data: Value| json!({"type": "history", "data": data});
    let rooms = |read: Value| json!({"type": "rooms", "data": {"read": read}});
    let many: Vec<String> = (0..101).map(|n| format!("r{n}")).collect();
    let cases: Vec<(&str, Value, StatusCode)> = vec![
        (
            "message: malformed room",
            message(json!("Dev")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "message: room too long",
            message(json!("a".repeat(33))),
            StatusCode::BAD_REQUEST,
        ),
        (
            "message: room not a string",
            message(json!(7)),
            StatusCode::BAD_REQUEST,
        ),
        (
            "message: room not served",
            message(json!("nope")),
            StatusCode::NOT_FOUND,
        ),
        ("sync: no rooms", sync(json!([])), StatusCode::BAD_REQUEST),
        (
            "sync: 101 rooms",
            sync(json!(many)),
            StatusCode::BAD_REQUEST,
        ),
        (
            "sync: a room twice",
            sync(json!(["dev", "dev"])),
            StatusCode::BAD_REQUEST,
        ),
        (
            "sync: malformed room",
            sync(json!(["dev", "-x"])),
            StatusCode::BAD_REQUEST,
        ),
        (
            "sync: rooms not a list",
            sync(json!("dev")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "sync: room not served",
            sync(json!(["dev", "nope"])),
            StatusCode::NOT_FOUND,
        ),
        (
            "history: no room",
            history(json!({})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "history: malformed room",
            history(json!({"room": "a b"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "history: room not served",
            history(json!({"room": "nope"})),
            StatusCode::NOT_FOUND,
        ),
        (
            "history: before 0",
            history(json!({"room": "dev", "before": 0})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "history: before negative",
            history(json!({"room": "dev", "before": -1})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "history: limit 0",
            history(json!({"room": "dev", "limit": 0})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "history: limit 201",
            history(json!({"room": "dev", "limit": 201})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "history: limit a string",
            history(json!({"room": "dev", "limit": "5"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "history: data a list",
            json!({"type": "history", "data": ["dev"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "rooms: no data",
            json!({"type": "rooms"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "rooms: read a list",
            rooms(json!(["dev"])),
            StatusCode::BAD_REQUEST,
        ),
        (
            "rooms: read malformed room",
            rooms(json!({"Dev": 1})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "rooms: read negative id",
            rooms(json!({"dev": -1})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "rooms: read room not served",
            rooms(json!({"nope": 1})),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (what, body, status) in cases {
        assert_refused(&post(&router, &body).await, status, what);
    }
    // The new envelopes get the transport checks of the old ones.
    let body = serde_json::to_vec(&history(json!({"room": "dev"}))).unwrap();
    let reply = call(&router, Method::POST, Some("text/plain"), body.clone()).await;
    assert_refused(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "history as text/plain",
    );
    let reply = call(&router, Method::PUT, Some("application/json"), body).await;
    assert_refused(&reply, StatusCode::METHOD_NOT_ALLOWED, "history with PUT");
    let huge = json!({"type": "rooms", "data": {"read": {"dev": 1}, "pad": "x".repeat(70_000)}});
    assert_refused(
        &post(&router, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a huge rooms",
    );
    let all = sync_rooms(&router, 0, &["general", "dev", "ops"]).await;
    assert_eq!(all.len(), 1, "nothing stored: {all:?}");
}

#[tokio::test]
async fn history_pages_back_through_one_room() {
    let (_fx, router) = with_rooms().await;
    let mut dev = Vec::new();
    for n in 0..130 {
        dev.push(send_to(&router, "dev", &format!("d{n}")).await);
        if n % 3 == 0 {
            send_to(&router, "general", &format!("g{n}")).await;
        }
    }
    let history = |data: Value| {
        let router = router.clone();
        async move {
            let reply = post(&router, &json!({"type": "history", "data": data})).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            items(&reply, "history")
        }
    };
    let ids = |items: &[(u64, String, String)]| items.iter().map(|item| item.0).collect::<Vec<_>>();
    // Default: the 50 newest, ascending, all of dev.
    let newest = history(json!({"room": "dev"})).await;
    assert_eq!(ids(&newest), dev[80..]);
    assert!(newest.iter().all(|(_, room, _)| room == "dev"));
    let older = history(json!({"room": "dev", "before": dev[80], "limit": 50})).await;
    assert_eq!(ids(&older), dev[30..80]);
    let last = history(json!({"room": "dev", "before": dev[30], "limit": 50})).await;
    assert_eq!(ids(&last), dev[..30], "fewer than asked: the beginning");
    assert_eq!(
        ids(&history(json!({"room": "dev", "limit": 200})).await),
        dev
    );
    assert!(history(json!({"room": "ops"})).await.is_empty());
    assert!(
        history(json!({"room": "dev", "before": 1}))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn rooms_list_newest_ids_and_count_unread() {
    let (_fx, router) = with_rooms().await;
    let rooms = |read: Option<Value>| {
        let router = router.clone();
        async move {
            let data = match read {
                Some(read) => json!({"read": read}),
                None => json!({}),
            };
            let reply = post(&router, &json!({"type": "rooms", "data": data})).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            assert_eq!(reply.body["type"], "rooms");
            reply.body["data"].clone()
        }
    };
    assert_eq!(
        rooms(None).await,
        json!([{"name": "general", "newest": 0}, {"name": "dev", "newest": 0}, {"name": "ops", "newest": 0}])
    );
    let d1 = send_to(&router, "dev", "1").await;
    let g1 = send_to(&router, "general", "2").await;
    let d2 = send_to(&router, "dev", "3").await;
    let d3 = send_to(&router, "dev", "4").await;
    assert_eq!(
        rooms(Some(json!({"dev": d1, "ops": 0}))).await,
        json!([
            {"name": "general", "newest": g1},
            {"name": "dev", "newest": d3, "unread": 2},
            {"name": "ops", "newest": 0, "unread": 0}
        ])
    );
    assert_eq!(rooms(Some(json!({"dev": d2}))).await[1]["unread"], 1);
    assert_eq!(rooms(Some(json!({"dev": 0}))).await[1]["unread"], 3);
    assert_eq!(rooms(Some(json!({"dev": d3 + 100}))).await[1]["unread"], 0);
}

#[tokio::test]
async fn unread_counts_stop_at_1000() {
    let (_fx, router) = with_rooms().await;
    for n in 0..1001 {
        send_to(&router, "ops", &format!("{n}")).await;
    }
    let reply = post(
        &router,
        &json!({"type": "rooms", "data": {"read": {"ops": 0}}}),
    )
    .await;
    assert_eq!(reply.body["data"][2]["unread"], 1000, "{:?}", reply.body);
}

/// Whether the element of class `class` (the ends of a room's log) is shown, not `hidden`.
fn shown(html: &str, class: &str) -> bool {
    let at = html
        .find(&format!(r#"class="{class}""#))
        .unwrap_or_else(|| panic!("no .{class} in {html}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    !html[start..end].contains(" hidden")
}

async fn get_page(router: &Router, path: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn room_pages_transcripts_and_permalinks_are_rendered_on_the_server() {
    let (_fx, router) = with_rooms().await;
    let mut dev = Vec::new();
    for n in 0..120 {
        dev.push(send_to(&router, "dev", &format!("dev message {n}.")).await);
    }
    let general = send_to(&router, "general", "a general message.").await;

    let (status, html) = get_page(&router, "/r/dev").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<title>#dev · Chat</title>"), "{html}");
    assert!(
        html.contains(r#"<nav id="rooms" aria-label="Rooms""#),
        "{html}"
    );
    for room in ["general", "dev", "ops"] {
        assert!(
            html.contains(&format!(r#"href="/r/{room}""#)),
            "a link to {room}"
        );
    }
    assert!(
        html.contains(r#"href="/r/dev" aria-current="page""#),
        "{html}"
    );
    assert!(html.contains("dev message 119.") && html.contains("dev message 70."));
    assert!(!html.contains("dev message 69.") && !html.contains("a general message."));
    let older = format!(r#"href="/r/dev?before={}""#, dev[70]);
    assert!(
        html.contains(&older) && html.contains("Load older messages"),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"href="/r/dev/{}""#, dev[119])),
        "permalinks"
    );

    // The transcript of older pages, with links both ways.
    let (_, html) = get_page(&router, &format!("/r/dev?before={}", dev[70])).await;
    assert!(html.contains("dev message 20.") && html.contains("dev message 69."));
    assert!(!html.contains("dev message 19.") && !html.contains("dev message 70."));
    assert!(html.contains(&format!(r#"href="/r/dev?before={}""#, dev[20])));
    assert!(
        html.contains(&format!(r#"href="/r/dev?after={}""#, dev[69])),
        "{html}"
    );
    let (_, html) = get_page(&router, &format!("/r/dev?before={}", dev[20])).await;
    assert!(html.contains("dev message 0.") && shown(&html, "beginning"));
    assert!(!shown(&html, "older"));
    let (_, html) = get_page(&router, &format!("/r/dev?after={}", dev[69])).await;
    assert!(html.contains("dev message 70.") && html.contains("dev message 119."));
    assert!(!shown(&html, "newer"), "the newest page");

    // A permalink: 25 before, the message marked, 25 after.
    let (status, html) = get_page(&router, &format!("/r/dev/{}", dev[60])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("dev message 35.") && html.contains("dev message 85."));
    assert!(!html.contains("dev message 34.") && !html.contains("dev message 86."));
    assert!(
        html.contains(&format!(
            r#"id="m{}" tabindex="-1" data-id="{}" aria-current="true""#,
            dev[60], dev[60]
        )),
        "{html}"
    );
    assert!(html.contains("Jump to newest") && shown(&html, "newer"));

    // Not found: an unknown room, a message of another room, an id that is no id.
    for path in [
        "/r/nope",
        "/r/Dev",
        &format!("/r/dev/{general}"),
        "/r/dev/x",
        "/r/dev/999999",
    ] {
        let (status, html) = get_page(&router, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains(r#"href="/r/general""#), "{path}: {html}");
    }
    let (status, _) = get_page(&router, "/r/dev?before=zero").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // `/` is general's page, as before rooms.
    let (_, html) = get_page(&router, "/").await;
    assert!(html.contains("a general message.") && !html.contains("dev message"));
}

// ---- Long polling: `sync` with `wait_ms` -----------------------------------------------------

/// Sends a sync that may be held, and returns its reply's items and how long it took.
async fn held_sync(
    router: &Router,
    last: u64,
    rooms: &[&str],
    wait_ms: u64,
) -> (Vec<(u64, String, String)>, std::time::Duration) {
    let started = std::time::Instant::now();
    let body =
        json!({"type": "sync", "data": {"last_message": last, "rooms": rooms, "wait_ms": wait_ms}});
    let reply = post(router, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    (items(&reply, "sync"), started.elapsed())
}

#[tokio::test]
async fn a_held_sync_is_answered_by_a_post_in_its_rooms_only() {
    let (fx, router) = with_rooms().await;
    let last = send_to(&router, "dev", "before").await;
    // Nothing newer: held. A post in a room it does not follow leaves it held.
    let waiting = tokio::spawn({
        let router = router.clone();
        async move { held_sync(&router, last, &["dev", "general"], 10_000).await }
    });
    common::until_held(&fx.state, 1).await;
    // News of another room does not answer it: the answer below holds only `general`'s post.
    send_to(&router, "ops", "not followed").await;
    let id = send_to(&router, "general", "news").await;
    let (items, took) = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("answered well before its wait ends")
        .unwrap();
    assert_eq!(items, [(id, "general".to_owned(), "news".to_owned())]);
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    // Something newer already: answered at once, as without wait_ms.
    let (items, took) = held_sync(&router, last, &["general"], 10_000).await;
    assert_eq!(items.len(), 1);
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn a_held_sync_ends_empty_when_its_wait_is_over_or_the_server_closes() {
    let (fx, router) = with_rooms().await;
    let last = send_to(&router, "general", "only").await;
    let (items, took) = held_sync(&router, last, &["general"], 300).await;
    assert!(items.is_empty());
    assert!(
        took >= std::time::Duration::from_millis(290),
        "held for its wait: {took:?}"
    );
    // A seed-shaped sync (no rooms) may wait too.
    let reply = post(
        &router,
        &json!({"type": "sync", "data": {"last_message": last, "wait_ms": 200}}),
    )
    .await;
    assert_eq!(reply.body, json!({"type": "sync", "data": []}));

    let waiting = tokio::spawn({
        let router = router.clone();
        async move { held_sync(&router, last, &["dev"], 30_000).await }
    });
    common::until_held(&fx.state, 1).await;
    fx.state.closing.close();
    let (items, _) = tokio::time::timeout(std::time::Duration::from_secs(2), waiting)
        .await
        .expect("answered at once when the server closes")
        .unwrap();
    assert!(items.is_empty());
    // And a sync that arrives while it closes is not held.
    let (_, took) = held_sync(&router, last, &["dev"], 30_000).await;
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn wait_ms_is_checked() {
    let (_fx, router) = with_rooms().await;
    let sync = |wait: Value| json!({"type": "sync", "data": {"last_message": 0, "wait_ms": wait}});
    for (what, wait) in [
        ("over 30000", json!(30_001)),
        ("negative", json!(-1)),
        ("fractional", json!(1.5)),
        ("a string", json!("100")),
    ] {
        assert_refused(
            &post(&router, &sync(wait)).await,
            StatusCode::BAD_REQUEST,
            what,
        );
    }
    // Something to sync, so that the accepted ones are answered at once.
    send_to(&router, "general", "here").await;
    for ok in [json!(0), json!(30_000)] {
        let reply = post(&router, &sync(ok)).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
}
