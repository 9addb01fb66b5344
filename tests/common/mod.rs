//! Helpers shared by the protocol and server tests: a fresh database (SQLite in a temporary
//! folder, or with `CHAT_TEST_POSTGRES_URL` set, a new database in that PostgreSQL cluster),
//! the router over it, and an HTTP client and the real binary for real-server tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ajax_chat::server::store::{self, Store};
use ajax_chat::server::{AppState, app};
use axum::Router;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use leptos::config::LeptosOptions;
use serde_json::{Value, json};
use tempfile::TempDir;

pub struct Fixture {
    pub dir: TempDir,
    /// The storage URL the store was opened with.
    pub url: String,
    pub store: Arc<dyn Store>,
    pub state: AppState,
}

impl Fixture {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match std::env::var("CHAT_TEST_POSTGRES_URL") {
            Ok(cluster) => fresh_postgres_database(&cluster).await,
            Err(_) => format!("sqlite://{}", db_path(&dir).display()),
        };
        let store = store::open(&url).await.expect("open store");
        let state = AppState::new(Arc::clone(&store), leptos_options());
        Self {
            dir,
            url,
            store,
            state,
        }
    }

    pub fn router(&self) -> Router {
        app(self.state.clone())
    }

    pub fn db_path(&self) -> PathBuf {
        db_path(&self.dir)
    }
}

/// Creates an empty database in the PostgreSQL cluster at `cluster` (a URL naming any of its
/// databases) and returns the URL of the new one.
pub async fn fresh_postgres_database(cluster: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "chat_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let (client, connection) = tokio_postgres::connect(cluster, tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster (CHAT_TEST_POSTGRES_URL)");
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    drop(client);
    let _ = driver.await;
    let (server, _) = cluster
        .rsplit_once('/')
        .expect("a URL ending in /<database>");
    format!("{server}/{name}")
}

pub fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("chat.db")
}

pub async fn open_store(path: &std::path::Path) -> Arc<dyn Store> {
    store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open store")
}

pub fn leptos_options() -> LeptosOptions {
    LeptosOptions::builder().output_name("ajax-chat").build()
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs `body` to `/ajax` on a real server: the HTTP status and the JSON reply, or `None` when
/// no reply arrived (connection refused or cut).
pub async fn post_ajax(
    client: &HttpClient,
    addr: SocketAddr,
    body: &Value,
) -> Option<(u16, Value)> {
    let request = hyper::Request::post(format!("http://{addr}/ajax"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.ok()?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    Some((
        status,
        serde_json::from_slice(&bytes).expect("every reply is JSON"),
    ))
}

/// Every stored message, paging through `sync` from the start.
pub async fn read_all(client: &HttpClient, addr: SocketAddr) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let last = all
            .last()
            .map_or(0, |message: &Value| message["id"].as_u64().unwrap());
        let (_, reply) = post_ajax(
            client,
            addr,
            &json!({"type": "sync", "data": {"last_message": last}}),
        )
        .await
        .expect("a sync reply");
        let page = reply["data"].as_array().expect("a sync reply").clone();
        let full = page.len() == 1000;
        all.extend(page);
        if !full {
            return all;
        }
    }
}

pub fn message(text: &str) -> Value {
    json!({"type": "message", "data": {"sender": "w", "message": text}})
}

/// Starts the real server binary on a free loopback port over `database_url`, with rate limits
/// off and no site files (`site_dir` need not exist); returns it and the address it listens on.
pub fn spawn_server(database_url: &str, site_dir: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ajax-chat"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", database_url)
        // No site files: these tests need no page, and compressing them costs seconds in debug.
        .env("LEPTOS_SITE_ROOT", site_dir)
        .env("RUST_LOG", "info")
        // Writers flat out from one address: no rate limits in these tests.
        .env("CHAT_MESSAGE_RATE", "0")
        .env("CHAT_SYNC_RATE", "0")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server binary");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .unwrap();
        if let Some(rest) = line.split("addr=").nth(1) {
            let addr = rest.split_whitespace().next().unwrap();
            break addr
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// Waits until the server of `state` holds `count` syncs: a test posts only once its long poll
/// is held, as the server says, instead of guessing how long holding takes.
pub async fn until_held(state: &AppState, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state.held.count() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "{count} syncs not held after 10 s ({} are)",
            state.held.count()
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Sets the soft file-size limit of process `pid` (the hard limit stays as it is).
pub fn set_file_size_limit(pid: u32, bytes: libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a live child of this process, with valid pointers.
    unsafe {
        assert_eq!(
            libc::prlimit(
                pid as libc::pid_t,
                libc::RLIMIT_FSIZE,
                std::ptr::null(),
                &mut limit
            ),
            0,
            "read the limit"
        );
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(
            libc::prlimit(
                pid as libc::pid_t,
                libc::RLIMIT_FSIZE,
                &limit,
                std::ptr::null_mut()
            ),
            0,
            "set the limit"
        );
    }
}
