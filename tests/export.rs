//! `ajax-chat export` against the real binary, on SQLite (and on PostgreSQL when
//! `CHAT_TEST_POSTGRES_URL` names a cluster, as `scripts/test` does): JSON Lines read back
//! equal `history`; the HTML files hold no script and every hostile text as text; `--since`,
//! `--room` and bad input; nothing but errors when not on a terminal.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use ajax_chat::protocol::ChatMessage;
use ajax_chat::server::rooms::Rooms;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use common::Fixture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "a-browser-key-for-the-export-test";

async fn call(router: &Router, body: Value) -> Value {
    let request = Request::post("/ajax")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{body}");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

async fn post(router: &Router, room: &str, text: &str, reply_to: Option<u64>) -> u64 {
    let mut data = json!({"room": room, "sender": "Ana <b>", "message": text, "key": KEY});
    if let Some(id) = reply_to {
        data["reply_to"] = json!(id);
    }
    call(router, json!({"type": "message", "data": data})).await["data"]["id"]
        .as_u64()
        .unwrap()
}

/// A conversation with everything an export must carry: two rooms, an edit, a delete, a reply,
/// reactions, code, a link, and text that would be markup if it were not escaped.
async fn conversation() -> (Fixture, Router) {
    let mut fx = Fixture::new().await;
    fx.state.rooms = Arc::new(Rooms::parse("dev").unwrap());
    let router = fx.router();
    let first = post(&router, "general", "hello <script>alert(1)</script>", None).await;
    let edited = post(&router, "general", "draft", None).await;
    call(
        &router,
        json!({"type": "edit", "data": {"id": edited, "message": "final & <i>edited</i>", "key": KEY}}),
    )
    .await;
    let gone = post(&router, "general", "deleted text", None).await;
    call(
        &router,
        json!({"type": "delete", "data": {"id": gone, "key": KEY}}),
    )
    .await;
    let reply = post(&router, "general", "a reply", Some(first)).await;
    call(
        &router,
        json!({"type": "react", "data": {"id": reply, "emoji": "👍", "key": KEY}}),
    )
    .await;
    post(
        &router,
        "general",
        "see https://example.org/?a=1&b=2 and `x<y`\n```\n</pre><script>bad()</script>\n```",
        None,
    )
    .await;
    post(&router, "dev", "in dev", None).await;
    (fx, router)
}

/// Runs `ajax-chat export` over `url` with `args`: status, stdout, stderr.
fn export(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ajax-chat"))
        .env("DATABASE_URL", url)
        .arg("export")
        .args(args)
        .output()
        .expect("run the export command");
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(jsonl: &str) -> Vec<ChatMessage> {
    jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn json_lines_read_back_equal_history() {
    let (fx, _router) = conversation().await;
    let (ok, stdout, stderr) = export(&fx.url, &[]);
    assert!(ok, "{stderr}");
    assert_eq!(stderr, "", "nothing but errors when not on a terminal");
    let mut expected = Vec::new();
    for room in ["dev", "general"] {
        expected.extend(fx.store.history(room, u64::MAX, 1000).await.unwrap());
    }
    assert_eq!(lines(&stdout), expected);
    assert_eq!(expected.len(), 5, "deleted messages are not exported");
    // Each line is what a sync carries, byte for byte.
    for (line, message) in stdout.lines().zip(&expected) {
        assert_eq!(line, serde_json::to_string(message).unwrap());
    }

    // One room, into a file.
    let file = fx.dir.path().join("dev.jsonl");
    let (ok, stdout, stderr) = export(&fx.url, &["--room", "dev", "--out", file.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    let dev = lines(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(dev, fx.store.history("dev", u64::MAX, 1000).await.unwrap());
}

#[tokio::test]
async fn since_keeps_what_was_sent_from_then_on() {
    let (fx, _router) = conversation().await;
    let all = lines(&export(&fx.url, &[]).1);
    let third = &all[2].sent_at;
    let (ok, stdout, stderr) = export(&fx.url, &["--since", third]);
    assert!(ok, "{stderr}");
    let kept = lines(&stdout);
    let expected: Vec<_> = all
        .iter()
        .filter(|message| message.sent_at >= *third)
        .cloned()
        .collect();
    assert!(!kept.is_empty() && kept.len() < all.len());
    assert_eq!(kept, expected);
    assert_eq!(export(&fx.url, &["--since", "2999-01-01T00:00:00Z"]).1, "");
}

#[tokio::test]
async fn bad_input_is_refused_and_says_why() {
    let (fx, _router) = conversation().await;
    let (ok, _, stderr) = export(&fx.url, &["--since", "yesterday"]);
    assert!(!ok);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
    let (ok, _, stderr) = export(&fx.url, &["--room", "../etc"]);
    assert!(!ok);
    assert!(stderr.contains("--room ../etc"), "{stderr}");
    let (ok, _, stderr) = export(&fx.url, &["--format", "pdf"]);
    assert!(!ok);
    assert!(stderr.contains("pdf"), "{stderr}");
}

/// Whether `html` has an attribute `on...=` (an event handler).
fn has_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name_end = rest
            .find(|c: char| !c.is_ascii_lowercase())
            .unwrap_or(rest.len());
        name_end > 0 && rest[name_end..].starts_with('=')
    })
}

#[tokio::test]
async fn a_missing_database_is_an_error_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data").join("typo.db");
    let (ok, stdout, stderr) = export(&format!("sqlite://{}", db.display()), &[]);
    assert!(!ok);
    assert_eq!(stdout, "");
    assert!(stderr.contains("no database at"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing created");
}

#[tokio::test]
async fn rooms_longer_than_a_page_are_exported_whole_with_progress_on_a_terminal() {
    let fx = Fixture::new().await;
    let router = fx.router();
    for n in 0..1005 {
        post(&router, "general", &format!("message {n}"), None).await;
    }
    let (ok, stdout, stderr) = export(&fx.url, &[]);
    assert!(ok, "{stderr}");
    let all = lines(&stdout);
    assert_eq!(
        all,
        fx.store.history("general", u64::MAX, 2000).await.unwrap()
    );
    assert_eq!(all.len(), 1005);

    // On a terminal (`script` gives it one): a bar with the counts, on stderr.
    let file = fx.dir.path().join("all.jsonl");
    let command = format!(
        "DATABASE_URL='{}' '{}' export --out '{}'",
        fx.url,
        env!("CARGO_BIN_EXE_ajax-chat"),
        file.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script (util-linux)");
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("export general [##############################] 1005 / 1005 messages"),
        "{shown}"
    );
    assert_eq!(lines(&std::fs::read_to_string(&file).unwrap()), all);
}

fn html_of(folder: &Path, room: &str) -> String {
    std::fs::read_to_string(folder.join(format!("{room}.html"))).unwrap()
}

#[tokio::test]
async fn html_files_hold_no_script_and_every_text_as_text() {
    let (fx, _router) = conversation().await;
    let folder = fx.dir.path().join("html");
    let (ok, stdout, stderr) = export(
        &fx.url,
        &["--format", "html", "--out", folder.to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["dev.html", "general.html"]);

    let general = html_of(&folder, "general");
    let lower = general.to_lowercase();
    assert!(!lower.contains("<script"), "{general}");
    assert!(
        !has_handler(&lower),
        "no event handler attributes: {general}"
    );
    assert!(
        general.contains("default-src 'none'"),
        "a policy that runs nothing"
    );
    assert!(general.contains("hello &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(general.contains("Ana &lt;b&gt;"), "names are text too");
    assert!(general.contains(" (edited)</p>"));
    assert!(general.contains("final &amp; &lt;i&gt;edited&lt;/i&gt;"));
    assert!(!general.contains("deleted text"));
    assert!(!general.contains("draft"), "edits show their current text");
    assert!(
        general.contains(r##"Reply to <a href="#m1">"##),
        "{general}"
    );
    assert!(general.contains("👍 1"));
    assert!(general.contains(
        r#"<a href="https://example.org/?a=1&amp;b=2" rel="nofollow noopener noreferrer ugc">"#
    ));
    assert!(general.contains("<code>x&lt;y</code>"));
    assert!(general.contains(
        r#"<pre tabindex="0"><code>&lt;/pre&gt;&lt;script&gt;bad()&lt;/script&gt;</code></pre>"#
    ));
    assert!(general.contains("4 messages."));
    let dev = html_of(&folder, "dev");
    assert!(dev.contains("1 message.") && dev.contains("in dev"));
}

/// Direct rooms are never exported unless named with the key of one of their two members.
#[tokio::test]
async fn direct_rooms_are_exported_only_when_named_with_a_member_s_key() {
    let (fx, router) = conversation().await;
    const OTHER: &str = "another-browser-key-0123456789";
    let print = |key| fx.state.identity.fingerprint(key);
    let dm = ajax_chat::protocol::direct_room(&print(KEY), &print(OTHER));
    post(&router, &dm, "between the two of us", None).await;
    // Every room: the served ones only.
    let (ok, stdout, stderr) = export(&fx.url, &[]);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("between the two"), "{stdout}");
    assert_eq!(lines(&stdout).len(), 5);
    // Named without a key, or with a third key: refused, nothing written.
    let third = "a-third-browser-key-0123456789";
    for args in [
        vec!["--room", dm.as_str()],
        vec!["--room", dm.as_str(), "--key", third],
    ] {
        let (ok, stdout, stderr) = export(&fx.url, &args);
        assert!(!ok, "{stdout}");
        assert!(
            stderr.contains("only with the key of one of its two members"),
            "{stderr}"
        );
        assert_eq!(stdout, "");
    }
    // With either member's key (here from the environment), it is.
    for key in [KEY, OTHER] {
        let out = Command::new(env!("CARGO_BIN_EXE_ajax-chat"))
            .env("DATABASE_URL", &fx.url)
            .env("CHAT_EXPORT_KEY", key)
            .args(["export", "--room", &dm])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exported = lines(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(exported.len(), 1);
        assert_eq!(exported[0].message, "between the two of us");
    }
}
