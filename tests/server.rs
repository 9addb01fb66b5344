//! Tests on a real server bound to `127.0.0.1:0`: concurrent writers and pollers, restarts over
//! the same database file, slow clients, and rate limits behind a trusted proxy.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ajax_chat::server::{AppState, ListenOptions, run};
use common::HttpClient;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(db: &Path) -> Self {
        Self::start_with(db, ListenOptions::default(), Duration::from_secs(10)).await
    }

    async fn start_with(db: &Path, options: ListenOptions, body_timeout: Duration) -> Self {
        let store = common::open_store(db).await;
        let mut state = AppState::new(store, common::leptos_options());
        state.body_timeout = body_timeout;
        Self::start_state(state, options).await
    }

    async fn start_state(state: AppState, options: ListenOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, state, options, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Graceful shutdown: waits until the server has stopped and closed its database.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

fn client() -> HttpClient {
    common::http_client()
}

async fn post(client: &HttpClient, addr: SocketAddr, body: Value) -> (u16, Value) {
    common::post_ajax(client, addr, &body)
        .await
        .expect("a reply")
}

async fn send(client: &HttpClient, addr: SocketAddr, sender: &str, message: &str) {
    let (status, body) = post(
        client,
        addr,
        json!({"type": "message", "data": {"sender": sender, "message": message}}),
    )
    .await;
    assert_eq!(
        (status, &body["data"]["status"]),
        (200, &json!(0)),
        "{body}"
    );
}

/// Each writer's messages (`"<writer>:<n>"`) were seen in the order it sent them, all of them.
fn assert_sent_order(seen: &[String], writers: impl Iterator<Item = usize>, per_writer: usize) {
    for w in writers {
        let prefix = format!("{w}:");
        let order: Vec<usize> = seen
            .iter()
            .filter_map(|text| text.strip_prefix(&prefix))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(order, (0..per_writer).collect::<Vec<_>>(), "writer {w}");
    }
}

async fn sync(client: &HttpClient, addr: SocketAddr, last: u64) -> Vec<(u64, String)> {
    let (status, body) = post(
        client,
        addr,
        json!({"type": "sync", "data": {"last_message": last}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().unwrap(),
                m["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pollers_see_every_message_exactly_once_in_order() {
    const WRITERS: usize = 6;
    const PER_WRITER: usize = 150;
    const POLLERS: usize = 4;
    let total = WRITERS * PER_WRITER;

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&common::db_path(&dir)).await;
    let addr = server.addr;

    let pollers: Vec<_> = (0..POLLERS)
        .map(|_| {
            tokio::spawn(async move {
                let client = client();
                let mut last = 0;
                let mut seen = Vec::new();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while seen.len() < total {
                    assert!(tokio::time::Instant::now() < deadline, "poller timed out");
                    for (id, text) in sync(&client, addr, last).await {
                        assert!(id > last, "ids ascend: {id} after {last}");
                        last = id;
                        seen.push(text);
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                seen
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(async move {
                let client = client();
                for n in 0..PER_WRITER {
                    send(
                        &client,
                        addr,
                        &format!("w{writer}"),
                        &format!("{writer}:{n}"),
                    )
                    .await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }

    let expected: HashSet<String> = (0..WRITERS)
        .flat_map(|w| (0..PER_WRITER).map(move |n| format!("{w}:{n}")))
        .collect();
    for poller in pollers {
        let seen = poller.await.unwrap();
        assert_eq!(seen.len(), total, "no duplicates");
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique, expected, "nothing missing");
        // Each writer's own messages arrive in the order it sent them.
        assert_sent_order(&seen, 0..WRITERS, PER_WRITER);
    }
    server.stop().await;
}

/// Several rooms: each writer posts to one room, each poller follows a subset of them (as the
/// page follows the rooms of its navigation) and must get exactly its rooms' messages, each
/// once, each writer's in the order sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pollers_of_several_rooms_get_exactly_their_rooms_once_in_order() {
    const ROOMS: [&str; 4] = ["general", "a", "b", "c"];
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 100;
    let subsets: [&[&str]; 4] = [&["general"], &["a", "b"], &["c", "general", "b"], &ROOMS];

    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(&common::db_path(&dir)).await;
    let mut state = AppState::new(store, common::leptos_options());
    state.rooms = std::sync::Arc::new(ajax_chat::server::rooms::Rooms::parse("a,b,c").unwrap());
    let server = Server::start_state(state, ListenOptions::default()).await;
    let addr = server.addr;
    let room_of = |writer: usize| ROOMS[writer % ROOMS.len()];
    let expected_for = |rooms: &[&str]| -> HashSet<String> {
        (0..WRITERS)
            .filter(|&w| rooms.contains(&room_of(w)))
            .flat_map(|w| (0..PER_WRITER).map(move |n| format!("{w}:{n}")))
            .collect()
    };

    let pollers: Vec<_> = subsets
        .iter()
        .map(|rooms| {
            let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
            let total = expected_for(&rooms.iter().map(String::as_str).collect::<Vec<_>>()).len();
            tokio::spawn(async move {
                let client = client();
                let mut last = 0;
                let mut seen = Vec::new();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while seen.len() < total {
                    assert!(tokio::time::Instant::now() < deadline, "poller timed out");
                    let (status, body) = post(
                        &client,
                        addr,
                        json!({"type": "sync", "data": {"last_message": last, "rooms": rooms}}),
                    )
                    .await;
                    assert_eq!(status, 200, "{body}");
                    for item in body["data"].as_array().unwrap() {
                        let id = item["id"].as_u64().unwrap();
                        assert!(id > last, "ids ascend: {id} after {last}");
                        let room = item["room"].as_str().unwrap();
                        assert!(rooms.iter().any(|r| r == room), "{room} not followed");
                        last = id;
                        seen.push(item["message"].as_str().unwrap().to_owned());
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                // Nothing more arrives for these rooms once every writer is done.
                (rooms, seen)
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(async move {
                let client = client();
                for n in 0..PER_WRITER {
                    let body = json!({"type": "message", "data": {
                        "sender": format!("w{writer}"),
                        "message": format!("{writer}:{n}"),
                        "room": room_of(writer),
                    }});
                    let (status, reply) = post(&client, addr, body).await;
                    assert_eq!(
                        (status, &reply["data"]["status"]),
                        (200, &json!(0)),
                        "{reply}"
                    );
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for poller in pollers {
        let (rooms, seen) = poller.await.unwrap();
        let rooms: Vec<&str> = rooms.iter().map(String::as_str).collect();
        let expected = expected_for(&rooms);
        assert_eq!(seen.len(), expected.len(), "no duplicates in {rooms:?}");
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique, expected, "exactly the messages of {rooms:?}");
        assert_sent_order(
            &seen,
            (0..WRITERS).filter(|&w| rooms.contains(&room_of(w))),
            PER_WRITER,
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn messages_survive_a_restart_and_ids_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::db_path(&dir);
    let client = client();

    let server = Server::start(&db).await;
    for n in 0..5 {
        send(&client, server.addr, "ann", &format!("before {n}")).await;
    }
    let before = sync(&client, server.addr, 0).await;
    server.stop().await;

    let server = Server::start(&db).await;
    let after_restart = sync(&client, server.addr, 0).await;
    assert_eq!(after_restart, before, "everything survived, same ids");
    let newest = before.last().unwrap().0;
    // A client that was up to date before the restart hears "nothing new", not old messages.
    assert!(sync(&client, server.addr, newest).await.is_empty());

    send(&client, server.addr, "bob", "after").await;
    let new = sync(&client, server.addr, newest).await;
    assert_eq!(new.len(), 1);
    assert!(new[0].0 > newest, "new id {} > {newest}", new[0].0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_answers_what_it_accepted_and_stores_exactly_that() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::db_path(&dir);
    let server = Server::start(&db).await;
    let addr = server.addr;
    // Many posts in flight, then a stop: a post either never reaches the server (connection
    // refused or closed unanswered) or is answered with success, and exactly the answered
    // ones are in the database afterwards.
    let posts: Vec<_> = (0..200)
        .map(|n| {
            tokio::spawn(async move {
                let body = json!({"type": "message", "data": {"sender": "late", "message": n.to_string()}});
                let (status, body) = common::post_ajax(&client(), addr, &body).await?;
                assert_eq!((status, &body["data"]["status"]), (200, &json!(0)), "{body}");
                Some(n.to_string())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop().await;
    let mut acknowledged = HashSet::new();
    for post in posts {
        if let Some(text) = post.await.unwrap() {
            acknowledged.insert(text);
        }
    }

    let server = Server::start(&db).await;
    let stored: HashSet<String> = sync(&client(), server.addr, 0)
        .await
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "some posts were answered before the stop"
    );
    assert_eq!(stored, acknowledged);
    server.stop().await;
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None, // still open
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_clients_are_cut_off_and_cannot_exhaust_the_server() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    let dir = tempfile::tempdir().unwrap();
    let options = ListenOptions {
        max_connections: 4,
        header_timeout: Duration::from_millis(600),
        ..ListenOptions::default()
    };
    let server =
        Server::start_with(&common::db_path(&dir), options, Duration::from_millis(600)).await;
    let addr = server.addr;

    // Four connections take every slot: two say nothing, two send half a header line.
    let mut hogs = Vec::new();
    for n in 0..4 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        if n % 2 == 1 {
            stream
                .write_all(b"POST /ajax HTTP/1.1\r\nHo")
                .await
                .unwrap();
        }
        hogs.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A fifth is closed at once, without an answer.
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut extra, Duration::from_millis(400)).await;
    assert_eq!(
        answer.as_deref(),
        Some(""),
        "over the limit: closed unanswered"
    );

    // The header deadline closes every hog.
    for hog in &mut hogs {
        let closed = read_until_closed(hog, Duration::from_secs(3)).await;
        assert!(
            closed.is_some(),
            "a connection without headers was left open"
        );
    }

    // Slots are free again: a normal client is served.
    let client = client();
    send(&client, addr, "ann", "after the hogs").await;

    // A body that stops half way is answered 408 with a status envelope, and nothing stored.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /ajax HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"type\":",
    )
    .await
    .unwrap();
    let reply = read_until_closed(&mut slow, Duration::from_secs(3))
        .await
        .expect("the server answers and closes");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains(r#""status":1"#), "{reply}");
    assert_eq!(sync(&client, addr, 0).await.len(), 1);
    server.stop().await;
}

/// Posts one message as if through a proxy that saw the client at `forwarded`.
async fn post_forwarded(client: &HttpClient, addr: SocketAddr, forwarded: &str) -> u16 {
    let body = json!({"type": "message", "data": {"sender": "ann", "message": "hi"}});
    let request = hyper::Request::post(format!("http://{addr}/ajax"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(http_body_util::Full::new(axum::body::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    client.request(request).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_rate_limits_key_on_the_forwarded_address() {
    use ajax_chat::server::limit::{Limiter, Rate};
    use std::sync::Arc;

    for trust in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut state = AppState::new(
            common::open_store(&common::db_path(&dir)).await,
            common::leptos_options(),
        );
        // Two posts per client, then (practically) none.
        state.message_limit = Arc::new(Limiter::new(Rate::new(0.001, 2).unwrap()));
        let options = ListenOptions {
            trust_forwarded_for: trust,
            ..ListenOptions::default()
        };
        let server = Server::start_state(state, options).await;
        let client = client();
        // A client cannot escape its budget by naming another address before the proxy's entry.
        let ann = ["203.0.113.5", "198.51.100.1, 203.0.113.5", "203.0.113.5"];
        let mut statuses = Vec::new();
        for forwarded in ann {
            statuses.push(post_forwarded(&client, server.addr, forwarded).await);
        }
        let bob = post_forwarded(&client, server.addr, "203.0.113.9").await;
        if trust {
            assert_eq!(statuses, [200, 200, 429], "one budget for 203.0.113.5");
            assert_eq!(bob, 200, "another client has its own budget");
        } else {
            // Untrusted, the header is ignored: everything comes from 127.0.0.1.
            assert_eq!(statuses, [200, 200, 429]);
            assert_eq!(bob, 429, "the header does not buy a fresh budget");
        }
        server.stop().await;
    }
}

/// Long polling on a real server: many held syncs and concurrent writers; every poller gets
/// every message once, in order, and most of them by being woken rather than by polling again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_pollers_get_every_message_once_in_order() {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 50;
    const POLLERS: usize = 40;
    let total = WRITERS * PER_WRITER;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&common::db_path(&dir)).await;
    let addr = server.addr;
    let pollers: Vec<_> = (0..POLLERS)
        .map(|_| {
            tokio::spawn(async move {
                let client = client();
                let (mut last, mut seen, mut requests) = (0, Vec::new(), 0);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while seen.len() < total {
                    assert!(tokio::time::Instant::now() < deadline, "poller timed out");
                    let body =
                        json!({"type": "sync", "data": {"last_message": last, "wait_ms": 5000}});
                    let (status, reply) = post(&client, addr, body).await;
                    assert_eq!(status, 200, "{reply}");
                    requests += 1;
                    for item in reply["data"].as_array().unwrap() {
                        let id = item["id"].as_u64().unwrap();
                        assert!(id > last, "ids ascend: {id} after {last}");
                        last = id;
                        seen.push(item["message"].as_str().unwrap().to_owned());
                    }
                }
                (seen, requests)
            })
        })
        .collect();
    // Let the pollers be held before anything is written.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(async move {
                let client = client();
                for n in 0..PER_WRITER {
                    send(
                        &client,
                        addr,
                        &format!("w{writer}"),
                        &format!("{writer}:{n}"),
                    )
                    .await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for poller in pollers {
        let (seen, requests) = poller.await.unwrap();
        assert_eq!(seen.len(), total, "no duplicates");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), total, "nothing missing");
        assert_sent_order(&seen, 0..WRITERS, PER_WRITER);
        assert!(
            requests <= total + 1,
            "one request per news at most: {requests}"
        );
    }
    server.stop().await;
}

/// A graceful shutdown answers held syncs at once with nothing new, instead of waiting out
/// their wait (or the drain timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_held_syncs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&common::db_path(&dir)).await;
    let addr = server.addr;
    let held: Vec<_> = (0..5)
        .map(|_| {
            tokio::spawn(async move {
                let body = json!({"type": "sync", "data": {"last_message": 0, "wait_ms": 30_000}});
                post(&client(), addr, body).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    server.stop().await;
    for poll in held {
        let (status, reply) = poll.await.unwrap();
        assert_eq!((status, reply), (200, json!({"type": "sync", "data": []})));
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A held sync counts once against the sync rate limit, however long it is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_sync_counts_once_against_the_rate_limit() {
    use ajax_chat::server::limit::{Limiter, Rate};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(&common::db_path(&dir)).await;
    let mut state = AppState::new(store, common::leptos_options());
    // A burst of 3, then next to nothing.
    state.sync_limit = Arc::new(Limiter::new(Rate::new(0.001, 3).unwrap()));
    let server = Server::start_state(state, ListenOptions::default()).await;
    let client = client();
    let held = json!({"type": "sync", "data": {"last_message": 0, "wait_ms": 400}});
    for _ in 0..3 {
        let (status, reply) = post(&client, server.addr, held.clone()).await;
        assert_eq!(status, 200, "{reply}");
    }
    let (status, _) = post(&client, server.addr, held).await;
    assert_eq!(status, 429, "the fourth is over the burst");
    server.stop().await;
}
