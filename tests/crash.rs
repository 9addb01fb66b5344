//! Durability: the server binary is killed with SIGKILL while writers are sending; after a
//! restart every message that got a status-0 reply is there, exactly once.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

use common::{HttpClient, http_client};
use serde_json::{Value, json};

/// Starts the real binary on a free port over `db`; returns it and the address it listens on.
fn start(db: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ajax-chat"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        // No site files: this test needs no page, and compressing them costs seconds in debug.
        .env("LEPTOS_SITE_ROOT", db.with_file_name("site"))
        .env("RUST_LOG", "info")
        // Eight writers flat out from one address: no rate limit in this test.
        .env("CHAT_MESSAGE_RATE", "0")
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

async fn post(client: &HttpClient, addr: SocketAddr, body: Value) -> Option<Value> {
    common::post_ajax(client, addr, &body)
        .await
        .map(|(_, reply)| reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let (mut server, addr) = start(&db);
    let client = http_client();

    // Writers send until their requests start failing because the server is gone.
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let text = format!("{writer}:{n}");
                    let body = json!({"type": "message", "data": {"sender": "w", "message": text}});
                    match post(&client, addr, body).await {
                        Some(reply) if reply["data"]["status"] == 0 => acknowledged.push(text),
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() > 20,
        "writers got going: {}",
        acknowledged.len()
    );

    let (mut server, addr) = start(&db);
    let client = http_client();
    let mut stored: HashMap<String, usize> = HashMap::new();
    let mut last = 0;
    loop {
        let reply = post(
            &client,
            addr,
            json!({"type": "sync", "data": {"last_message": last}}),
        )
        .await
        .expect("sync after restart");
        let page = reply["data"].as_array().unwrap().clone();
        for message in &page {
            last = message["id"].as_u64().unwrap();
            *stored
                .entry(message["message"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        if page.len() < 1000 {
            break;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();

    for text in &acknowledged {
        assert_eq!(
            stored.get(text),
            Some(&1),
            "{text} acknowledged but stored {:?} times",
            stored.get(text)
        );
    }
    assert!(
        stored.values().all(|&count| count == 1),
        "no message stored twice"
    );
}
