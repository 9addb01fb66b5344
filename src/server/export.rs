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

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::BoxError;
use super::config::ExportFormat;
use super::progress::Progress;
use super::store::{self, Store};
use crate::app::model::markup::{Part, parts};
use crate::protocol::{ChatMessage, is_room_name};

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
}

/// Exports from the database `database_url` names.
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
        let store = store::open(database_url).await?;
        let done = write(&*store, &export).await;
        store.close().await;
        done
    })
}

async fn write(store: &dyn Store, export: &Export) -> Result<(), BoxError> {
    let rooms = if export.rooms.is_empty() {
        store.room_names()
    } else {
        export.rooms.clone()
    };
    let mut progress = Progress::on_terminal();
    match export.format {
        ExportFormat::Jsonl => {
            let mut out: Box<dyn Write> = match &export.out {
                Some(file) => Box::new(std::io::BufWriter::new(std::fs::File::create(file)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            for room in &rooms {
                let messages = read(store, room, export.since, &mut progress).await?;
                for message in &messages {
                    serde_json::to_writer(&mut out, message)?;
                    out.write_all(b"\n")?;
                }
            }
            out.flush()?;
        }
        ExportFormat::Html => {
            let folder = export.out.clone().unwrap_or_else(|| PathBuf::from("."));
            std::fs::create_dir_all(&folder)?;
            let now = OffsetDateTime::now_utc().format(&Rfc3339)?;
            for room in &rooms {
                let messages = read(store, room, export.since, &mut progress).await?;
                write_file(
                    &folder.join(format!("{room}.html")),
                    &page(room, &messages, &now),
                )?;
            }
        }
    }
    progress.finish();
    Ok(())
}

/// Every message of `room` (sent at or after `since`), in id order.
async fn read(
    store: &dyn Store,
    room: &str,
    since: Option<OffsetDateTime>,
    progress: &mut Progress,
) -> Result<Vec<ChatMessage>, BoxError> {
    let rooms = [room.to_owned()];
    let mut messages = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.since(&rooms, after, PAGE, false).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.id;
        messages.extend(
            batch
                .into_iter()
                .filter(|message| sent_since(message, since)),
        );
        progress.count(&format!("export {room}"), messages.len() as u64, "messages");
    }
    Ok(messages)
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

/// Writes `text` to `file` whole: under a temporary name, then renamed.
fn write_file(file: &Path, text: &str) -> std::io::Result<()> {
    let partial = file.with_extension("html.partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, file)
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
            Part::Block(code) => write!(html, "<pre><code>{}</code></pre>", escape(code)),
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

/// The HTML file of `room`.
fn page(room: &str, messages: &[ChatMessage], exported_at: &str) -> String {
    let room = escape(room);
    let mut html = format!(
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
<p class="about">{count} {noun}, exported <time datetime="{at}">{readable}</time>.</p>
<ol>
"#,
        count = messages.len(),
        noun = if messages.len() == 1 {
            "message"
        } else {
            "messages"
        },
        at = escape(exported_at),
        readable = escape(&readable(exported_at)),
    );
    for message in messages {
        item(&mut html, message);
    }
    html.push_str("</ol>\n</main>\n</body>\n</html>\n");
    html
}

fn item(html: &mut String, message: &ChatMessage) {
    let _ = write!(
        html,
        r#"<li id="m{id}"><p class="meta"><strong class="sender">{sender}</strong>"#,
        id = message.id,
        sender = escape(&message.sender),
    );
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_never_markup() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        let html = rich("see https://example.org/?a=1&b=\"2\" and `<b>` and\n```\n<i>\n```");
        assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
        assert!(html.contains("<code>&lt;b&gt;</code>"), "{html}");
        assert!(html.contains("<pre><code>&lt;i&gt;</code></pre>"), "{html}");
    }
}
