//! `ajax-chat export`: what was said, read from the database (also while the server runs).
//!
//! - **JSON Lines** (`--format jsonl`): one message per line, exactly as a `sync` carries it
//!   (the same serde definition), rooms in name order, each in id order: what a script reads.
//! - **HTML** (`--format html`): one self-contained file per room, `<room>.html`, that a
//!   browser opens offline. It holds no script and says so to the browser too (a Content
//!   Security Policy that allows only its own inline style); every text is escaped, links keep
//!   what the page's links keep (`rel="nofollow noopener noreferrer ugc"`), code stays code
//!   (the page's own split, `app::model::markup`).
//!
//! Messages are as they are now: edited text, deleted ones gone, replies quoting the current
//! text, reactions as they stand. `--since` keeps those sent at or after a time.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::BoxError;
use super::config::ExportFormat;
use super::identity::Identity;
use super::progress::Progress;
use super::store::{Backend, PostgresBackend, SqliteBackend, is_postgres, sqlite_path};
use super::whole::{partial_name, settle};
use crate::app::model::files::human_size;
use crate::app::model::markup::{Part, parts};
use crate::protocol::{ChatMessage, check_key, direct_members, is_room_name, may_read};

/// Messages read from storage at a time.
const PAGE: usize = 1000;

/// What to export, as the command line says it.
#[derive(Debug, Clone)]
pub struct Export {
    /// Empty: every room with messages.
    pub rooms: Vec<String>,
    pub format: ExportFormat,
    pub since: Option<OffsetDateTime>,
    /// JSON Lines: a file (none: standard output); HTML: a folder (none: the current one).
    pub out: Option<PathBuf>,
    /// A member's key: what a direct room named in `rooms` needs to be exported.
    pub key: Option<String>,
}

/// Exports from the database `database_url` names, opened for reading only: no migration, no
/// writer, nothing that could hold up a server running over it, and refused if the file is
/// missing or its schema is not the one this build knows.
pub fn run(database_url: &str, export: Export) -> Result<(), BoxError> {
    if let Some(bad) = export.rooms.iter().find(|room| !is_room_name(room)) {
        return Err(
            format!("--room {bad}: a room name is 1 to 32 of a-z, 0-9 and - (not first)").into(),
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if is_postgres(database_url) {
            let backend = PostgresBackend::open_read_only(database_url).await?;
            let done = write(&backend, &export).await;
            backend.close().await;
            done
        } else if let Some(path) = sqlite_path(database_url) {
            let backend = SqliteBackend::open_read_only(path.into())?;
            let done = write(&backend, &export).await;
            backend.close().await;
            done
        } else {
            Err(format!("unsupported DATABASE_URL: {database_url}").into())
        }
    })
}

async fn write<B: Backend>(backend: &B, export: &Export) -> Result<(), BoxError> {
    // Each room up to its newest message as export begins: new ones meanwhile are not chased.
    let newest: HashMap<String, u64> = backend.newest_by_room().await?;
    let named = !export.rooms.is_empty();
    let rooms = if named {
        check_direct(backend, export).await?;
        export.rooms.clone()
    } else {
        // Direct rooms never, unless named with a member's key. (A room of an older build whose
        // name only begins like one, `dm-team`, is not one.)
        let mut rooms: Vec<String> = newest
            .keys()
            .filter(|room| direct_members(room).is_none())
            .cloned()
            .collect();
        rooms.sort();
        rooms
    };
    let mut progress = Progress::on_terminal();
    match export.format {
        ExportFormat::Jsonl => {
            let (mut out, partial): (Box<dyn Write>, _) = match &export.out {
                Some(file) => {
                    let partial = partial_name(file);
                    let created = std::fs::File::create(&partial)?;
                    (Box::new(std::io::BufWriter::new(created)), Some(partial))
                }
                None => (
                    Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                    None,
                ),
            };
            let mut written = Ok(());
            for room in &rooms {
                let upto = newest.get(room).copied().unwrap_or(0);
                written = read(
                    backend,
                    room,
                    upto,
                    export.since,
                    &mut progress,
                    |message| {
                        serde_json::to_writer(&mut out, message)?;
                        out.write_all(b"\n")?;
                        Ok(())
                    },
                )
                .await
                .map(drop);
                if written.is_err() {
                    break;
                }
            }
            let written = written.and_then(|()| Ok(out.flush()?));
            drop(out);
            if let (Some(partial), Some(file)) = (partial, &export.out) {
                settle(&partial, file, written)?;
            } else {
                written?;
            }
        }
        ExportFormat::Html => {
            let folder = export.out.clone().unwrap_or_else(|| PathBuf::from("."));
            std::fs::create_dir_all(&folder)?;
            let now = OffsetDateTime::now_utc().format(&Rfc3339)?;
            for room in &rooms {
                let file = folder.join(format!("{room}.html"));
                let partial = partial_name(&file);
                let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
                let upto = newest.get(room).copied().unwrap_or(0);
                let written = async {
                    out.write_all(header(room, &now).as_bytes())?;
                    let count = read(
                        backend,
                        room,
                        upto,
                        export.since,
                        &mut progress,
                        |message| {
                            out.write_all(item(message).as_bytes())?;
                            Ok(())
                        },
                    )
                    .await?;
                    out.write_all(footer(count).as_bytes())?;
                    out.flush()?;
                    Ok::<u64, BoxError>(count)
                }
                .await;
                drop(out);
                match written {
                    // A room none of whose messages is kept gets no file, unless it was named.
                    Ok(0) if !named => std::fs::remove_file(&partial)?,
                    written => settle(&partial, &file, written.map(drop))?,
                }
            }
        }
    }
    progress.finish();
    Ok(())
}

/// Refuses a direct room named without the key of one of its two members (the fingerprint told
/// with the database's own secret, read without writing).
async fn check_direct<B: Backend>(backend: &B, export: &Export) -> Result<(), BoxError> {
    let direct = export
        .rooms
        .iter()
        .filter(|room| direct_members(room).is_some());
    let mut reader = None;
    for room in direct {
        if reader.is_none()
            && let Some(key) = &export.key
        {
            check_key(key).map_err(|_| "--key: not a key (22 to 128 of A-Z, a-z, 0-9, _ and -)")?;
            let secret = backend.stored_secret().await?.unwrap_or_default();
            reader = Some(Identity::new(&secret, None).fingerprint(key));
        }
        if !may_read(room, reader.as_deref()) {
            return Err(format!(
                "--room {room}: a direct room is exported only with the key of one of its two \
                 members (--key or CHAT_EXPORT_KEY)"
            )
            .into());
        }
    }
    Ok(())
}

/// Hands every message of `room` up to id `upto` (sent at or after `since`) to `each`, in id
/// order, a page at a time; says how many it handed.
async fn read<B: Backend>(
    backend: &B,
    room: &str,
    upto: u64,
    since: Option<OffsetDateTime>,
    progress: &mut Progress,
    mut each: impl FnMut(&ChatMessage) -> Result<(), BoxError>,
) -> Result<u64, BoxError> {
    let rooms = [room.to_owned()];
    let total = if progress.shown() && upto > 0 {
        backend.count_after(room, 0, u64::MAX).await?
    } else {
        0
    };
    let what = format!("export {room}");
    let (mut after, mut scanned, mut kept) = (0, 0, 0);
    while after < upto {
        let page = backend.since(Some(&rooms), after, PAGE, false).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for message in page.iter().filter(|message| message.id <= upto) {
            scanned += 1;
            if sent_since(message, since) {
                each(message)?;
                kept += 1;
            }
        }
        progress.bar(&what, scanned.min(total), total, "messages");
    }
    Ok(kept)
}

fn sent_since(message: &ChatMessage, since: Option<OffsetDateTime>) -> bool {
    let Some(since) = since else {
        return true;
    };
    // Written by the server as RFC 3339; one that is not would be a bug: kept, not lost.
    OffsetDateTime::parse(&message.sent_at, &Rfc3339).map_or(true, |sent| sent >= since)
}

/// An RFC 3339 time as people read it: `2026-12-07 12:35 UTC` (as it is if it is not one).
fn readable(at: &str) -> String {
    match OffsetDateTime::parse(at, &Rfc3339) {
        Ok(at) => {
            let at = at.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute()
            )
        }
        Err(_) => at.to_owned(),
    }
}

/// `text` as HTML text or attribute value: nothing in it is markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A message's text as the page draws it: text, links and code.
fn rich(text: &str) -> String {
    let mut html = String::new();
    for part in parts(text) {
        let _ = match part {
            Part::Text(text) => write!(html, "{}", escape(text)),
            Part::Link(url) => write!(
                html,
                r#"<a href="{0}" rel="nofollow noopener noreferrer ugc">{0}</a>"#,
                escape(url)
            ),
            Part::Code(code) => write!(html, "<code>{}</code>", escape(code)),
            // Focusable: a block wider than the page scrolls, also by keyboard.
            Part::Block(code) => write!(
                html,
                r#"<pre tabindex="0"><code>{}</code></pre>"#,
                escape(code)
            ),
        };
    }
    html
}

const STYLE: &str = "
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1a1a1a; background: #fff; }
main { max-width: 48rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
.about { color: #555; margin: 0 0 1rem; }
ol { list-style: none; padding: 0; margin: 0; }
li { padding: .5rem 0; border-top: 1px solid #ddd; }
.meta { margin: 0; color: #555; font-size: .875rem; }
.sender { color: #1a1a1a; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
pre { white-space: pre; overflow-x: auto; background: #f3f3f3; padding: .5rem; }
code { font-family: ui-monospace, monospace; background: #f3f3f3; }
blockquote { margin: .25rem 0; padding-left: .5rem; border-left: 3px solid #bbb; color: #444; }
.reactions { margin: .25rem 0 0; font-size: .875rem; }
.reactions span { margin-right: .5rem; }
a { color: #0645ad; }
@media (prefers-color-scheme: dark) {
  body { color: #eee; background: #121212; }
  .about, .meta { color: #bbb; }
  .sender { color: #eee; }
  li { border-color: #333; }
  pre, code { background: #222; }
  blockquote { border-color: #555; color: #ccc; }
  a { color: #8ab4f8; }
}
";

/// The start of `room`'s HTML file, up to its list of messages.
fn header(room: &str, exported_at: &str) -> String {
    let room = escape(room);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>#{room}: exported messages</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>#{room}</h1>
<p class="about">Exported <time datetime="{at}">{readable}</time>.</p>
<ol>
"#,
        at = escape(exported_at),
        readable = escape(&readable(exported_at)),
    )
}

/// The end of a room's HTML file, after its `count` messages.
fn footer(count: u64) -> String {
    let noun = if count == 1 { "message" } else { "messages" };
    format!("</ol>\n<p class=\"about\">{count} {noun}.</p>\n</main>\n</body>\n</html>\n")
}

/// One message as a list item.
fn item(message: &ChatMessage) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<li id="m{id}"><p class="meta"><strong class="sender">{sender}</strong>"#,
        id = message.id,
        sender = escape(&message.sender),
    );
    if message.bot {
        html.push_str(" <span class=\"bot\">(bot)</span>");
    }
    if let Some(author) = &message.author {
        let _ = write!(
            html,
            " <span title=\"fingerprint\">{}</span>",
            escape(author)
        );
    }
    let _ = write!(
        html,
        r#" <time datetime="{}">{}</time>"#,
        escape(&message.sent_at),
        escape(&readable(&message.sent_at))
    );
    if message.edited_at.is_some() {
        html.push_str(" (edited)");
    }
    html.push_str("</p>");
    if let Some(quote) = &message.reply_to {
        if quote.deleted {
            html.push_str("<blockquote>Reply to a deleted message</blockquote>");
        } else {
            let _ = write!(
                html,
                r##"<blockquote>Reply to <a href="#m{id}">{sender}</a>: {text}</blockquote>"##,
                id = quote.id,
                sender = escape(&quote.sender),
                text = escape(&quote.message),
            );
        }
    }
    let _ = write!(
        html,
        r#"<div class="text">{}</div>"#,
        rich(&message.message)
    );
    // Its files by name and size: their bytes stay on the server (a link would not work from
    // the exported file).
    if let Some(files) = message.files.as_ref().filter(|files| !files.is_empty()) {
        let names: Vec<String> = files
            .iter()
            .map(|file| format!("{} ({})", escape(&file.name), human_size(file.size)))
            .collect();
        let _ = write!(html, r#"<p class="files">Files: {}</p>"#, names.join(", "));
    }
    if let Some(reactions) = message.reactions.as_ref().filter(|set| !set.is_empty()) {
        html.push_str(r#"<p class="reactions">"#);
        for reaction in reactions {
            let _ = write!(
                html,
                r#"<span title="{who}">{emoji} {count}</span>"#,
                who = escape(&reaction.authors.join(", ")),
                emoji = escape(&reaction.emoji),
                count = reaction.authors.len(),
            );
        }
        html.push_str("</p>");
    }
    html.push_str("</li>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_listed_by_name_as_text() {
        let message = ChatMessage {
            id: 7,
            room: "general".into(),
            sender: "Ana".into(),
            sent_at: "2026-12-07T10:00:00Z".into(),
            files: Some(vec![crate::protocol::FileInfo {
                id: "mVh0610xKl73C207CufLQ_lcsAkdFG-a".into(),
                name: "<script>.pdf".into(),
                size: 12_288,
                content_type: "application/pdf".into(),
                width: None,
                height: None,
            }]),
            ..ChatMessage::default()
        };
        let html = item(&message);
        assert!(
            html.contains(r#"<p class="files">Files: &lt;script&gt;.pdf (12 KB)</p>"#),
            "{html}"
        );
    }

    #[test]
    fn text_is_never_markup() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        let html = rich("see https://example.org/?a=1&b=\"2\" and `<b>` and\n```\n<i>\n```");
        assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
        assert!(html.contains("<code>&lt;b&gt;</code>"), "{html}");
        assert!(
            html.contains(r#"<pre tabindex="0"><code>&lt;i&gt;</code></pre>"#),
            "{html}"
        );
    }
}
