//! `ajax-chat backup` against the real binary: a backup taken while writers post as fast as
//! they can holds every message acknowledged before it began, is one consistent moment (ids
//! 1 to N, none missing), and restored as the README says (stop, put the file in place,
//! start) gives a server whose new ids continue above the backup's newest.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{http_client, message, post_ajax, read_all, spawn_server};

fn stop(mut server: std::process::Child) {
    // SAFETY: signals a child process of ours by its id.
    unsafe {
        libc::kill(server.id() as libc::pid_t, libc::SIGTERM);
    }
    server.wait().unwrap();
}

/// Runs `ajax-chat backup <to>` over `db`: its exit status, stdout and stderr.
fn backup(db: &Path, to: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ajax-chat"))
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .arg("backup")
        .arg(to)
        .output()
        .expect("run the backup command");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_everything_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let site = dir.path().join("site");
    let url = format!("sqlite://{}", db.display());
    let (server, addr) = spawn_server(&url, &site);

    // Writers posting flat out, each acknowledged id noted with when its answer came.
    let acknowledged = Arc::new(Mutex::new(Vec::<(u64, Instant)>::new()));
    let writing = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (acknowledged, writing) = (Arc::clone(&acknowledged), Arc::clone(&writing));
            tokio::spawn(async move {
                let client = http_client();
                let mut n = 0;
                while writing.load(Ordering::Relaxed) {
                    // Long texts: the database outgrows one step of the copy (4 MiB) soon, so
                    // posts land between its steps.
                    let text = format!("writer {writer} message {n} {}", "x".repeat(3000));
                    let (status, reply) = post_ajax(&client, addr, &message(&text))
                        .await
                        .expect("a reply");
                    assert_eq!(status, 200, "{reply}");
                    let id = reply["data"]["id"].as_u64().unwrap();
                    acknowledged.lock().unwrap().push((id, Instant::now()));
                    n += 1;
                }
            })
        })
        .collect();
    // About 6 MB first, so the backup copies in several steps while posts go on.
    while acknowledged.lock().unwrap().len() < 2000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let copy = dir.path().join("backups").join("chat-backup.db");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let began = Instant::now();
    let (db_for_backup, copy_for_backup) = (db.clone(), copy.clone());
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || backup(&db_for_backup, &copy_for_backup))
            .await
            .unwrap();
    assert!(ok, "backup failed: {stderr}");
    // Not on a terminal: nothing but errors, and there were none.
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    // Nothing half-written is left beside it.
    let beside: Vec<_> = std::fs::read_dir(copy.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["chat-backup.db"]);

    // Writing goes on a little after the backup, then everything stops.
    let after_backup = acknowledged.lock().unwrap().len();
    while acknowledged.lock().unwrap().len() < after_backup + 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writing.store(false, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    stop(server);
    let before: Vec<u64> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(id, _)| *id)
        .collect();
    let newest_written = acknowledged.lock().unwrap().iter().map(|(id, _)| *id).max();

    // The copy is a sound database on its own.
    {
        let copied = rusqlite::Connection::open(&copy).unwrap();
        let check: String = copied
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    // Restore: stop (done), put the file in place, start.
    for stale in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(stale));
    }
    std::fs::copy(&copy, &db).unwrap();
    let (server, addr) = spawn_server(&url, &site);
    let client = http_client();
    let restored: Vec<u64> = read_all(&client, addr)
        .await
        .iter()
        .map(|message| message["id"].as_u64().unwrap())
        .collect();
    let newest = *restored.last().expect("the backup holds messages");
    // One moment of the log: every id from 1 to its newest, none missing.
    assert_eq!(restored, (1..=newest).collect::<Vec<_>>());
    for id in &before {
        assert!(
            restored.contains(id),
            "message {id} was acknowledged before the backup began and is missing"
        );
    }
    // The backup was taken mid-load: later posts are not in it.
    assert!(newest < newest_written.unwrap());
    // Ids go on above the backup's newest.
    let (status, reply) = post_ajax(&client, addr, &message("after the restore"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(reply["data"]["id"].as_u64(), Some(newest + 1));
    stop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_over_the_live_database_is_refused_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let url = format!("sqlite://{}", db.display());
    let (server, addr) = spawn_server(&url, &dir.path().join("site"));
    let client = http_client();
    let (status, _) = post_ajax(&client, addr, &message("kept")).await.unwrap();
    assert_eq!(status, 200);
    let same_by_another_name = dir.path().join(".").join("chat.db");
    for target in [
        db.clone(),
        same_by_another_name,
        dir.path().join("chat.db-wal"),
    ] {
        let (ok, _, stderr) = backup(&db, &target);
        assert!(!ok, "a backup over {} must fail", target.display());
        assert!(stderr.contains("the database itself"), "{stderr}");
    }
    let (status, _) = post_ajax(&client, addr, &message("after")).await.unwrap();
    assert_eq!(status, 200);
    stop(server);
    let (server, addr) = spawn_server(&url, &dir.path().join("site"));
    assert_eq!(read_all(&http_client(), addr).await.len(), 2);
    stop(server);
}

#[test]
fn a_backup_of_nothing_or_of_postgres_fails_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("copy.db");
    let (ok, stdout, stderr) = backup(&dir.path().join("absent.db"), &to);
    assert!(!ok);
    assert_eq!(stdout, "");
    assert!(stderr.contains("no database at"), "{stderr}");
    assert!(!to.exists(), "no backup file for a failed backup");

    let out = Command::new(env!("CARGO_BIN_EXE_ajax-chat"))
        .env("DATABASE_URL", "postgres://chat@127.0.0.1:1/chat")
        .arg("backup")
        .arg(&to)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!to.exists());
}
