//! What the operator's tools read, against the real server binary: `/metrics` on its own
//! listener (never the public one), read by the Prometheus project's own parser (its Python
//! client, installed by `scripts/bootstrap`), with counters that move with traffic; and logs
//! as one JSON object per line that never carry a key or a token.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use common::{HttpClient, http_client, post_ajax};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "operator-token-0123456789-abcdefghij";
const KEY: &str = "k3y-of-a-browser_0123456789abcdefXYZ";

struct Server {
    child: Child,
    public: SocketAddr,
    metrics: SocketAddr,
    /// Every line the server wrote to stderr so far.
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The server binary with JSON logs at `debug` (the most it would ever log), metrics on a
    /// free port, and a write budget of `writes` requests (then one every 100 s).
    fn start(writes: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ajax-chat"))
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("chat.db").display()),
            )
            .env("LEPTOS_SITE_ROOT", dir.path().join("site"))
            .env("CHAT_METRICS_ADDR", "127.0.0.1:0")
            .env("CHAT_LOG_FORMAT", "json")
            .env("CHAT_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("CHAT_MESSAGE_RATE", "0.01")
            .env("CHAT_MESSAGE_BURST", writes.to_string())
            .env("CHAT_SYNC_RATE", "0")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server binary");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, addrs) = mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    let fields = &entry["fields"];
                    if let (Some(what), Some(addr)) =
                        (fields["message"].as_str(), fields["addr"].as_str())
                    {
                        let _ = found.send((what.to_owned(), addr.to_owned()));
                    }
                }
                kept.lock().unwrap().push(line);
            }
        });
        let (mut public, mut metrics) = (None, None);
        while public.is_none() || metrics.is_none() {
            let (what, addr) = addrs
                .recv_timeout(Duration::from_secs(30))
                .expect("the server names both its addresses in its log");
            match what.as_str() {
                "listening" => public = addr.parse().ok(),
                "metrics listening" => metrics = addr.parse().ok(),
                _ => {}
            }
        }
        Self {
            child,
            public: public.unwrap(),
            metrics: metrics.unwrap(),
            log,
            _dir: dir,
        }
    }

    /// Stops the server (SIGTERM) and gives what it logged.
    fn stop(mut self) -> Vec<String> {
        // SAFETY: signals a child process of ours by its id.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        self.child.wait().unwrap();
        // The reader thread ends with the pipe; give it a moment to take the last lines.
        for _ in 0..100 {
            if self
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains("storage closed"))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log.lock().unwrap().clone()
    }
}

async fn get(client: &HttpClient, url: String) -> (u16, Option<String>, String) {
    let request = hyper::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// A sample's name and its labels, sorted.
type SampleKey = (String, Vec<(String, String)>);
/// Every sample as the parser read it, with its value.
type Samples = HashMap<SampleKey, f64>;

/// `text` read by the Prometheus Python client's parser (`text_string_to_metric_families`),
/// which fails on anything that is not the text format; every sample with its labels sorted.
fn parse(text: &str) -> Samples {
    const READER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append([sample.name, sorted(sample.labels.items()), sample.value])
json.dump(samples, sys.stdout)
"#;
    // Debian's python3, where `scripts/bootstrap` installed the parser.
    let mut python = Command::new("/usr/bin/python3")
        .args(["-c", READER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (scripts/bootstrap installs the parser there)");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(SampleKey, f64)> = serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap()
        .into_iter()
        .map(|sample| serde_json::from_value::<(String, _, f64)>(sample).unwrap())
        .map(|(name, labels, value)| ((name, labels), value))
        .collect();
    samples.into_iter().collect()
}

fn sample(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    samples.get(&(name.to_owned(), labels)).copied()
}

fn requests(samples: &Samples, kind: &str, status: &str) -> f64 {
    sample(
        samples,
        "ajax_chat_requests_total",
        &[("type", kind), ("status", status)],
    )
    .unwrap_or(0.0)
}

async fn scrape(client: &HttpClient, server: &Server) -> Samples {
    parse(&scrape_text(client, server).await)
}

async fn scrape_text(client: &HttpClient, server: &Server) -> String {
    let (status, content_type, text) =
        get(client, format!("http://{}/metrics", server.metrics)).await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    text
}

/// Scrapes until the line `line` (a sample and its value, as written) shows, for up to 10 s.
async fn until_line(client: &HttpClient, server: &Server, line: &str) {
    for _ in 0..1000 {
        if scrape_text(client, server).await.lines().any(|l| l == line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no `{line}` in /metrics after 10 s");
}

fn post(text: &str) -> Value {
    json!({"type": "message", "data": {"sender": "Ana", "message": text, "key": KEY}})
}

#[tokio::test]
async fn metrics_are_on_their_own_listener_and_move_with_traffic() {
    let server = Server::start(2);
    let client = http_client();

    // Never on the public listener.
    let (status, _, body) = get(&client, format!("http://{}/metrics", server.public)).await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("ajax_chat_"), "{body}");

    let before = scrape(&client, &server).await;
    assert_eq!(requests(&before, "message", "200"), 0.0);
    assert_eq!(
        sample(&before, "ajax_chat_messages_stored_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&before, "ajax_chat_database_errors_total", &[]),
        Some(0.0)
    );
    assert_eq!(sample(&before, "ajax_chat_held_polls", &[]), Some(0.0));

    // Traffic: a post, a sync, a body that is no envelope, a wrong admin token (a write), and
    // a third write, over the budget of two.
    let (status, _) = post_ajax(&client, server.public, &post("hello"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let sync = json!({"type": "sync", "data": {"last_message": 0}});
    assert_eq!(
        post_ajax(&client, server.public, &sync).await.unwrap().0,
        200
    );
    let not_an_envelope = json!({"type": "shout", "data": {}});
    assert_eq!(
        post_ajax(&client, server.public, &not_an_envelope)
            .await
            .unwrap()
            .0,
        400
    );
    let bans = json!({"type": "bans", "data": {"admin": "not-the-operator-token-000000000000"}});
    assert_eq!(
        post_ajax(&client, server.public, &bans).await.unwrap().0,
        403
    );
    let (status, _) = post_ajax(&client, server.public, &post("again"))
        .await
        .unwrap();
    assert_eq!(status, 429);

    let after = scrape(&client, &server).await;
    assert_eq!(requests(&after, "message", "200"), 1.0);
    assert_eq!(requests(&after, "message", "429"), 1.0);
    assert_eq!(requests(&after, "sync", "200"), 1.0);
    assert_eq!(requests(&after, "invalid", "400"), 1.0);
    assert_eq!(requests(&after, "bans", "403"), 1.0);
    assert_eq!(
        sample(
            &after,
            "ajax_chat_rate_limited_total",
            &[("bucket", "message")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "ajax_chat_messages_stored_total", &[]),
        Some(1.0)
    );
    // One commit of one write, timed.
    assert_eq!(
        sample(&after, "ajax_chat_commit_writes_count", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "ajax_chat_commit_writes_sum", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "ajax_chat_commit_duration_seconds_count", &[]),
        Some(1.0)
    );
    assert!(sample(&after, "ajax_chat_commit_duration_seconds_sum", &[]).unwrap() > 0.0);
    // Every message request timed, in cumulative buckets up to +Inf.
    assert_eq!(
        sample(
            &after,
            "ajax_chat_request_duration_seconds_count",
            &[("type", "message")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &after,
            "ajax_chat_request_duration_seconds_bucket",
            &[("type", "message"), ("le", "+Inf")]
        ),
        Some(2.0)
    );
    // The client's kept-alive connection to the public listener is open.
    assert!(sample(&after, "ajax_chat_open_connections", &[]).unwrap() >= 1.0);
    assert_eq!(
        sample(&after, "ajax_chat_database_errors_total", &[]),
        Some(0.0)
    );

    // A held sync shows while it is held, and once its client gives up it is counted as
    // given up (499) and held no more.
    let held = {
        let addr = server.public;
        tokio::spawn(async move {
            let hold = json!({"type": "sync", "data": {"last_message": 1, "wait_ms": 20000}});
            post_ajax(&http_client(), addr, &hold).await
        })
    };
    until_line(&client, &server, "ajax_chat_held_polls 1").await;
    held.abort();
    until_line(&client, &server, "ajax_chat_held_polls 0").await;
    until_line(
        &client,
        &server,
        r#"ajax_chat_requests_total{type="sync",status="499"} 1"#,
    )
    .await;

    // The public listener's connections close when their clients go.
    drop(client);
    let metrics_client = http_client();
    until_line(&metrics_client, &server, "ajax_chat_open_connections 0").await;

    // Another listener path is 404, not metrics.
    let (status, _, _) = get(&metrics_client, format!("http://{}/", server.metrics)).await;
    assert_eq!(status, 404);
    server.stop();
}

#[tokio::test]
async fn database_errors_are_counted() {
    let server = Server::start(100);
    let client = http_client();
    assert_eq!(
        post_ajax(&client, server.public, &post("stored"))
            .await
            .unwrap()
            .0,
        200
    );
    // No file of the server can grow any more, as on a full disk: the commit fails.
    common::set_file_size_limit(server.child.id(), 0);
    assert_eq!(
        post_ajax(&client, server.public, &post("refused"))
            .await
            .unwrap()
            .0,
        503
    );
    common::set_file_size_limit(server.child.id(), libc::RLIM_INFINITY);
    let samples = scrape(&client, &server).await;
    assert!(sample(&samples, "ajax_chat_database_errors_total", &[]).unwrap() >= 1.0);
    assert_eq!(requests(&samples, "message", "503"), 1.0);
    assert_eq!(
        sample(&samples, "ajax_chat_messages_stored_total", &[]),
        Some(1.0)
    );
    server.stop();
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_and_never_carry_keys_or_tokens() {
    let server = Server::start(100);
    let client = http_client();
    // What a log could leak: a key with a post, an edit and a refused post, the operator's
    // token used rightly and a wrong one, a bot's token made and used.
    let (_, stored) = post_ajax(&client, server.public, &post("hello"))
        .await
        .unwrap();
    let id = stored["data"]["id"].as_u64().unwrap();
    let edit = json!({"type": "edit", "data": {"id": id, "message": "hello!", "key": KEY}});
    post_ajax(&client, server.public, &edit).await.unwrap();
    let too_long = json!({"type": "message", "data": {
        "sender": "Ana", "message": "x".repeat(5000), "key": KEY}});
    post_ajax(&client, server.public, &too_long).await.unwrap();
    let wrong = json!({"type": "bans", "data": {"admin": "wrong-token-but-long-enough-000000000"}});
    post_ajax(&client, server.public, &wrong).await.unwrap();
    // A key where an id belongs: serde's refusal quotes the value it refuses.
    let key_as_id = json!({"type": "edit", "data": {"id": KEY, "message": "x", "key": KEY}});
    assert_eq!(
        post_ajax(&client, server.public, &key_as_id)
            .await
            .unwrap()
            .0,
        400
    );
    let right = json!({"type": "bans", "data": {"admin": ADMIN_TOKEN}});
    assert_eq!(
        post_ajax(&client, server.public, &right).await.unwrap().0,
        200
    );
    // A bot: its token in the reply, then on its endpoint, rightly and wrongly.
    let make =
        json!({"type": "bot", "data": {"admin": ADMIN_TOKEN, "name": "CI", "rooms": ["general"]}});
    let (status, made) = post_ajax(&client, server.public, &make).await.unwrap();
    assert_eq!(status, 200, "{made}");
    let bot_token = made["data"]["token"].as_str().unwrap().to_owned();
    let wrong_bot_token = format!("{bot_token}x");
    for (token, expected) in [(&bot_token, 201), (&wrong_bot_token, 401)] {
        let request =
            hyper::Request::post(format!("http://{}/bots/general/messages", server.public))
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from("build passed")))
                .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status().as_u16(), expected);
    }
    // Counted under their own type.
    let counted = scrape(&client, &server).await;
    assert_eq!(requests(&counted, "bot", "200"), 1.0);
    assert_eq!(requests(&counted, "bot_post", "201"), 1.0);
    assert_eq!(requests(&counted, "bot_post", "401"), 1.0);
    let log = server.stop();

    assert!(log.len() >= 3, "{log:?}");
    for line in &log {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not a JSON object ({err}): {line}"));
        assert!(entry.is_object(), "{line}");
        assert!(entry["level"].is_string(), "{line}");
        assert!(entry["timestamp"].is_string(), "{line}");
        for secret in [
            KEY,
            ADMIN_TOKEN,
            "wrong-token-but-long-enough",
            &bot_token[..20],
        ] {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
    }
    // The requests were logged (at debug, the refusals), so the check above saw them.
    assert!(
        log.iter().any(|line| line.contains("request refused")),
        "{log:#?}"
    );
}
