//! Faults of the process and of its storage, on the real binary:
//! - killed with SIGKILL while writers are sending: after a restart every message that got a
//!   status-0 reply is there, exactly once;
//! - storage that cannot be written (a file-size limit of 0 on the process, which fails every
//!   file write with `EFBIG` like a full disk): posts are refused with 503 and a status-1
//!   envelope, syncs keep answering, the server stays up and recovers when writes work again,
//!   and nothing refused is stored.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

mod common;

use common::{HttpClient, http_client, message, read_all};
use serde_json::{Value, json};

/// Starts the real binary on a free port over the SQLite database `db`.
fn start(db: &Path) -> (Child, SocketAddr) {
    common::spawn_server(
        &format!("sqlite://{}", db.display()),
        &db.with_file_name("site"),
    )
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
                    match post(&client, addr, message(&text)).await {
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
    let mut stored: HashMap<String, usize> = HashMap::new();
    for message in read_all(&http_client(), addr).await {
        *stored
            .entry(message["message"].as_str().unwrap().to_owned())
            .or_default() += 1;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_storage_refuses_posts_keeps_syncing_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let (mut server, addr) = start(&db);
    let client = http_client();

    let mut acknowledged = Vec::new();
    for n in 0..30 {
        let text = format!("before {n}");
        let (status, reply) = common::post_ajax(&client, addr, &message(&text))
            .await
            .unwrap();
        assert_eq!((status, reply["data"]["status"].as_u64()), (200, Some(0)));
        acknowledged.push(text);
    }

    // Storage fails: no file of the process can be written any more, as on a full disk.
    common::set_file_size_limit(server.id(), 0);
    let mut refused = Vec::new();
    for n in 0..10 {
        let text = format!("while full {n}");
        let (status, reply) = common::post_ajax(&client, addr, &message(&text))
            .await
            .expect("the server answers while storage fails");
        assert_eq!(status, 503, "{reply}");
        assert_eq!(reply["type"], "status");
        assert_eq!(reply["data"]["status"], 1);
        assert!(
            !reply["data"]["message"]
                .as_str()
                .unwrap()
                .contains("chat.db"),
            "no storage detail leaks: {reply}"
        );
        refused.push(text);
    }
    // Syncs keep answering what storage can still give: everything, and "nothing new".
    let texts = |messages: Vec<Value>| -> Vec<String> {
        messages
            .iter()
            .map(|message| message["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(read_all(&client, addr).await), acknowledged);
    let newest = read_all(&client, addr).await.last().unwrap()["id"].clone();
    let idle = post(
        &client,
        addr,
        json!({"type": "sync", "data": {"last_message": newest}}),
    )
    .await
    .unwrap();
    assert_eq!(idle["data"], json!([]));
    assert!(server.try_wait().unwrap().is_none(), "the server stays up");

    // Storage recovers: posts are accepted again without a restart.
    common::set_file_size_limit(server.id(), libc::RLIM_INFINITY);
    for n in 0..10 {
        let text = format!("after {n}");
        let (status, reply) = common::post_ajax(&client, addr, &message(&text))
            .await
            .unwrap();
        assert_eq!(
            (status, reply["data"]["status"].as_u64()),
            (200, Some(0)),
            "{reply}"
        );
        acknowledged.push(text);
    }
    assert_eq!(texts(read_all(&client, addr).await), acknowledged);

    // And from disk after a hard kill: what was acknowledged, in order; nothing refused.
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, addr) = start(&db);
    let stored = texts(read_all(&http_client(), addr).await);
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(stored, acknowledged);
    assert!(refused.iter().all(|text| !stored.contains(text)));
}
