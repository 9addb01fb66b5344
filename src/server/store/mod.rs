//! Storage of chat messages: one caching layer over small backends, so that the HTTP layer
//! never sees SQL and a backend is nothing but its SQL.
//!
//! - [`Store`]: what the HTTP layer uses (`Arc<dyn Store>` in the router's state).
//! - [`CachedStore`]: the one implementation of it. It owns the rules every backend shares:
//!   the write queue with its group commit, the in-memory [`tail`] of the newest messages, the
//!   newest committed id, and the order in which a commit becomes visible (tail first, then id,
//!   then the [`news`] bells of its rooms, which wake held syncs).
//! - [`Backend`]: what a database must do: commit a batch, read since an id (in some rooms or
//!   all), read a room's page before an id, count, answer a health check.
//!
//! The stored messages are one ordered log: every room's messages take their ids from one
//! sequence, handed out in commit order. A reader that holds "everything up to id N" of some
//! rooms asks for what is above N and never misses anything; later kinds of events (edits,
//! deletes) take their ids from the same sequence. [`SqliteBackend`] (the embedded default, `sqlite://path`) and
//!   [`PostgresBackend`] (several instances over one database, `postgres://user@host/db`).

mod cached;
pub mod files;
mod news;
mod postgres;
mod queue;
mod sqlite;
mod tail;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::Notify;

pub use cached::CachedStore;
pub use files::{FileStore, Upload};
pub use news::{News, member_bell};
pub use postgres::{PostgresBackend, PostgresError};
pub use sqlite::{SqliteBackend, SqliteError, backup as sqlite_backup};
pub use tail::{RoomFilter, encode};

use crate::protocol::{
    Ban, BotInfo, ChatMessage, Quote, Reaction, RoomIds, RoomInfo, ValidMessage, may_read, quoted,
    toggle_reaction,
};

/// A message as JSON, encoded once when it entered the tail and shared by every reply that
/// carries it.
pub type Encoded = Arc<RawValue>;

/// A backend's fault, shared by every post of the batch it failed (hence the `Arc`).
pub type BackendFault = Arc<dyn std::error::Error + Send + Sync>;

/// A fault of the storage itself. It goes to the log with its causes, never to a client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage is shut down")]
    Closed,
    /// The writer is gone (it panicked): nothing can be stored until a restart.
    #[error("the storage writer has stopped")]
    WriterStopped,
    #[error("storage failed")]
    Backend(#[source] BackendFault),
    #[error(
        "unsupported DATABASE_URL: expected sqlite://<path> or postgres://<user>@<host>/<database>"
    )]
    UnsupportedUrl,
    /// [`Store::append`] of a post that storage refused (its author or address is banned).
    #[error("the post was refused: {0:?}")]
    Refused(Refusal),
}

/// A change to the log, handed to the one writer so that it takes its place (and its ids) in
/// commit order with every other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Post(ValidMessage),
    /// Replaces the text of message `id`, if `author` wrote it.
    Edit {
        id: u64,
        message: String,
        author: String,
        address: Option<String>,
        nonce: Option<String>,
    },
    /// Deletes message `id`: its text and sender leave storage, a delete event takes their place.
    Delete {
        id: u64,
        by: Actor,
        nonce: Option<String>,
    },
    /// Toggles `author`'s reaction `emoji` on message `id` ([`toggle_reaction`]); with `rooms`
    /// (a bot's), only on a message of one of them.
    React {
        id: u64,
        emoji: String,
        author: String,
        address: Option<String>,
        nonce: Option<String>,
        rooms: Option<Vec<String>>,
    },
    /// Bans an author or an address; `purge` deletes all their messages as well.
    Ban {
        ban: Ban,
        purge: bool,
    },
    Unban(Ban),
    /// Adds a bot; refused if a bot not revoked has its name (or one ever had its fingerprint).
    AddBot(Bot),
    /// Revokes the bot with this fingerprint: its token opens nothing any more, its messages
    /// stay.
    RevokeBot {
        author: String,
    },
}

/// A bot as storage keeps it: never its token, only the token's verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    /// Its fingerprint, derived from its token as a key's.
    pub author: String,
    pub name: String,
    /// The rooms it may post to.
    pub rooms: Vec<String>,
    /// [`crate::server::identity::Identity::verifier`] of its token.
    pub verifier: String,
    /// When it was made, in microseconds since the Unix epoch.
    pub created: i64,
    /// Revoked by the operator: kept, so that its token is refused rather than taken for a
    /// browser's key.
    pub revoked: bool,
}

impl Bot {
    /// As `bots` lists it.
    pub fn info(&self) -> BotInfo {
        BotInfo {
            name: self.name.clone(),
            author: self.author.clone(),
            rooms: self.rooms.clone(),
            created: format_micros(self.created),
        }
    }
}

/// Who asks for a change of someone's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The holder of the key with this fingerprint, writing from `address`.
    Author {
        fingerprint: String,
        address: Option<String>,
    },
    /// The operator: may delete any message, and is never banned.
    Admin,
}

/// What became of one [`Write`]. (Large beside its other variants, and fine so: one lives for
/// the span of a write's answer, and boxing the message would allocate once more per post.)
#[expect(clippy::large_enum_variant, reason = "short-lived; see above")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A post's message (new, or the first copy of a repeated nonce), or an edit's or delete's
    /// event (likewise).
    Stored(ChatMessage),
    /// A ban or unban is in force; a purge's delete events are in the commit's items.
    Done,
    Refused(Refusal),
}

/// Why storage refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its author or address is banned.
    Banned,
    /// The message was written with another key, or none.
    NotYours,
    /// No message has that id (or it was deleted).
    NoSuchMessage,
    /// An unban of something not banned.
    NotBanned,
    /// A reaction with a new emoji on a message that has [`crate::protocol::MAX_REACTIONS`]
    /// already.
    TooManyReactions,
    /// A new bot with the name of a bot not revoked (or, by a chance of one in 2^40 per bot,
    /// the fingerprint of any bot).
    BotTaken,
    /// A revocation of a bot that does not exist or is revoked already.
    NoSuchBot,
    /// A bot's reaction on a message of a room it may not post to.
    NotInRooms,
    /// A post attaching a file uploaded with another key (or with a key, by a post without).
    NotYourFile,
    /// A post attaching a file that is not stored (unknown, unfinished, or removed).
    NoSuchFile,
    /// A post attaching a file attached to a message already.
    FileAttached,
    /// A nonce that recorded another change: another key's edit or delete, or another toggle
    /// (another emoji, or another key's).
    NonceTaken,
}

/// Whether an edit or a delete goes ahead: in the message's room, or not, with its answer.
#[expect(clippy::large_enum_variant, reason = "short-lived, as `Outcome`")]
pub(crate) enum Verdict {
    Go(String),
    Answer(Outcome),
}

/// Who asks for a change of a message, as [`verdict`] weighs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asker<'a> {
    /// The key with this fingerprint, for a change only the message's author may make (edit,
    /// delete).
    Owner(&'a str),
    /// The key with this fingerprint, for a change anyone who reads the message may make
    /// (react).
    Reader(&'a str),
    /// The operator: any message.
    Operator,
}

/// Decides an edit, a delete or a reaction the same way for every backend, from what its
/// database says: a banned actor is refused; a repeated nonce gets its first answer; then the
/// message must be live and readable by the asker (else "no such message": a direct message is
/// unknown to everyone but its two members) and, for its owner's changes, theirs (else "not
/// yours").
pub(crate) fn verdict(
    banned: bool,
    repeat: Option<ChatMessage>,
    live: Option<(String, Option<String>)>,
    asker: Asker<'_>,
) -> Verdict {
    let refused = |why| Verdict::Answer(Outcome::Refused(why));
    if banned {
        return refused(Refusal::Banned);
    }
    if let Some(first) = repeat {
        // A retry is answered as its first try was, but not to someone who could not have
        // made it: a direct room's event is an unknown id to anyone but its members.
        return match asker {
            Asker::Owner(me) | Asker::Reader(me) if !may_read(&first.room, Some(me)) => {
                refused(Refusal::NoSuchMessage)
            }
            // Another key's change of its own message: not this asker's retry.
            Asker::Owner(me)
                if live
                    .as_ref()
                    .is_some_and(|(_, owner)| owner.as_deref() != Some(me)) =>
            {
                refused(Refusal::NonceTaken)
            }
            _ => Verdict::Answer(Outcome::Stored(first)),
        };
    }
    let Some((room, owner)) = live else {
        return refused(Refusal::NoSuchMessage);
    };
    match asker {
        Asker::Owner(me) | Asker::Reader(me) if !may_read(&room, Some(me)) => {
            refused(Refusal::NoSuchMessage)
        }
        Asker::Owner(me) if owner.as_deref() != Some(me) => refused(Refusal::NotYours),
        _ => Verdict::Go(room),
    }
}

/// What a backend's commit did: an outcome per write, in order, and every new item of the log
/// (messages and events) in id order, for the tail.
#[derive(Debug, Default)]
pub struct Committed {
    pub outcomes: Vec<Outcome>,
    pub items: Vec<ChatMessage>,
}

impl StoreError {
    fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Arc::new(err))
    }
}

/// What the chat needs from its storage.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The files stored beside the messages.
    fn files(&self) -> &dyn FileStore;

    /// Commits one change and says what became of it, only once it is durably committed. Ids
    /// are positive, strictly increasing in commit order across all rooms and never reused.
    async fn write(&self, write: Write) -> Result<Outcome, StoreError>;

    /// Stores one message and returns it with its id ([`Store::write`] of a post).
    async fn append(&self, message: ValidMessage) -> Result<ChatMessage, StoreError> {
        match self.write(Write::Post(message)).await? {
            Outcome::Stored(message) => Ok(message),
            Outcome::Refused(why) => Err(StoreError::Refused(why)),
            Outcome::Done => Err(StoreError::Refused(Refusal::NoSuchMessage)),
        }
    }

    /// Up to `limit` items of `rooms` with an id greater than `after`, ascending: messages,
    /// and with `events` the edit and delete events too.
    async fn since(
        &self,
        rooms: &[String],
        after: u64,
        limit: usize,
        events: bool,
    ) -> Result<Vec<ChatMessage>, StoreError>;

    /// [`Store::since`] as the items' JSON, encoded once, for a sync reply.
    async fn since_encoded(
        &self,
        rooms: &[String],
        after: u64,
        limit: usize,
        events: bool,
    ) -> Result<Vec<Encoded>, StoreError>;

    /// The bans in force.
    async fn bans(&self) -> Result<Vec<Ban>, StoreError>;

    /// The bots not revoked, oldest first.
    async fn bots(&self) -> Result<Vec<Bot>, StoreError>;

    /// The bot with this fingerprint, revoked or not: read from the database each time, so that
    /// every instance over it sees a revocation at once.
    async fn bot(&self, author: &str) -> Result<Option<Bot>, StoreError>;

    /// Up to `limit` messages of `rooms` with every one of `words` as a word (the last also as
    /// a prefix), with an id below `before`, newest first.
    async fn search(
        &self,
        words: &[String],
        rooms: &[String],
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError>;

    /// The server's secret for deriving fingerprints: made at first start and kept in the
    /// database, so every instance over it derives the same.
    fn secret(&self) -> &[u8];

    /// The `limit` newest messages of `room` with an id below `before`, ascending.
    async fn history(
        &self,
        room: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError>;

    /// `rooms` with their newest ids and, for those in `read`, how many of their messages are
    /// newer than the id given there (counting up to [`crate::protocol::MAX_UNREAD`]).
    async fn rooms(&self, rooms: &[String], read: &RoomIds) -> Result<Vec<RoomInfo>, StoreError>;

    /// A wait for the next commit in any of `rooms`, registered when this is called: made before
    /// checking for news, it cannot miss a commit that lands after the check. A name made by
    /// [`member_bell`] stands for every direct room of that member.
    fn news_in(&self, rooms: &[String]) -> News;

    /// The direct rooms of `member` (a fingerprint) that hold anything, with their newest ids,
    /// newest first, from memory.
    fn direct_rooms(&self, member: &str) -> Vec<(String, u64)>;

    /// Forgets what held syncs no longer wait on ([`News`]' bells). Run now and then.
    fn sweep(&self);

    /// The newest id known to be committed, from memory. Never above the real newest id, so a
    /// reader that trusts it to answer "nothing new" can be late but never hides a message.
    fn newest_id(&self) -> u64;

    /// Whether storage can take and answer requests right now: open, its writer running, its
    /// database answering a query.
    async fn check(&self) -> Result<(), StoreError>;

    /// Finishes pending writes and closes the database; later calls fail with `Closed`.
    async fn close(&self);

    /// Adds storage's own metrics (messages stored, commits, database errors) to `registry`.
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry);
}

/// A database, as the caching layer uses it: SQL and nothing else. Only one commit runs at a
/// time (the layer's writer); reads may run alongside it and each other.
pub trait Backend: FileStore + Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Commits `batch` in one transaction, in order, and says what became of each write (a
    /// post whose nonce is already stored, also earlier in this batch, gets that first copy;
    /// likewise an edit or delete). All or nothing; ids are handed out in commit order.
    fn commit(
        &self,
        batch: Vec<Write>,
    ) -> impl Future<Output = Result<Committed, Self::Error>> + Send;

    /// Up to `limit` items of `rooms` (all rooms: `None`) with an id greater than `after`,
    /// ascending: messages with their current text and, with `events`, edit and delete events.
    /// Deleted messages never.
    fn since(
        &self,
        rooms: RoomFilter<'_>,
        after: u64,
        limit: usize,
        events: bool,
    ) -> impl Future<Output = Result<Vec<ChatMessage>, Self::Error>> + Send;

    /// The bans in force.
    fn bans(&self) -> impl Future<Output = Result<Vec<Ban>, Self::Error>> + Send;

    /// As [`Store::bots`].
    fn bots(&self) -> impl Future<Output = Result<Vec<Bot>, Self::Error>> + Send;

    /// As [`Store::bot`].
    fn bot(&self, author: &str) -> impl Future<Output = Result<Option<Bot>, Self::Error>> + Send;

    /// As [`Store::search`]: the database's full-text index, kept in step with the messages
    /// by the same transactions.
    fn search(
        &self,
        words: &[String],
        rooms: &[String],
        before: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ChatMessage>, Self::Error>> + Send;

    /// The stored fingerprint secret; `fresh` is stored first if there is none yet (by
    /// whichever instance gets there first).
    fn secret(&self, fresh: [u8; 32]) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send;

    /// The stored fingerprint secret, if there is one, read without writing anything (what a
    /// read-only command needs to tell a key's fingerprint).
    fn stored_secret(&self) -> impl Future<Output = Result<Option<Vec<u8>>, Self::Error>> + Send;

    /// The `limit` newest messages of `room` with an id below `before`, ascending (messages
    /// only, as they are now).
    fn history(
        &self,
        room: &str,
        before: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ChatMessage>, Self::Error>> + Send;

    /// The `limit` newest items (messages and events) of all rooms, ascending.
    fn latest(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ChatMessage>, Self::Error>> + Send;

    /// Every room that has messages, with the id of its newest.
    fn newest_by_room(
        &self,
    ) -> impl Future<Output = Result<HashMap<String, u64>, Self::Error>> + Send;

    /// How many messages (not events) of `room` have an id greater than `after`, counting up
    /// to `cap`.
    fn count_after(
        &self,
        room: &str,
        after: u64,
        cap: u64,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Whether the database (and anything of the backend's own, such as a writer thread) works.
    fn check(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// For a database that other processes write to as well: notified when they may have
    /// committed, so the layer reads what is new. `None` when this process is the only writer,
    /// and its own commits are all there is.
    fn news(&self) -> Option<&Notify>;

    /// Closes the database, once the last commit is done.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// The file of a `sqlite://<path>` (or `sqlite:<path>`) URL.
pub fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the backend that `url` names, creating or migrating its schema.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = sqlite_path(url) {
        let backend = SqliteBackend::open(path.into())
            .await
            .map_err(StoreError::backend)?;
        return Ok(Arc::new(CachedStore::open(backend).await?));
    }
    if is_postgres(url) {
        let backend = PostgresBackend::open(url)
            .await
            .map_err(StoreError::backend)?;
        return Ok(Arc::new(CachedStore::open(backend).await?));
    }
    Err(StoreError::UnsupportedUrl)
}

/// How the backends store what a row of the log is.
pub(crate) mod kind {
    pub const MESSAGE: i64 = 0;
    pub const EDIT: i64 = 1;
    pub const DELETE: i64 = 2;
    /// A deleted message: its id and nonce stay (so a retried post is not stored again), its
    /// text, sender, author, address and reactions are gone.
    pub const DELETED: i64 = 3;
    /// A change of a message's reactions, with the whole new set.
    pub const REACTIONS: i64 = 4;
    /// The highest kind a sync reads: with events, everything but deleted messages (`kind <=
    /// ?max AND kind <> 3`); without, messages only.
    pub fn max(events: bool) -> i64 {
        if events { REACTIONS } else { MESSAGE }
    }
}

/// What a reaction's toggle does to a message's set (as stored: JSON, `None` when empty), the
/// same for every backend: the new set and whether the reaction was added, or a refusal.
pub(crate) fn react(
    stored: Option<&str>,
    emoji: &str,
    author: &str,
) -> Result<(Vec<Reaction>, bool), Refusal> {
    let mut set = reactions_of(stored);
    match toggle_reaction(&mut set, emoji, author) {
        Ok(added) => Ok((set, added)),
        Err(crate::protocol::TooManyReactions) => Err(Refusal::TooManyReactions),
    }
}

/// What a reactions event's row keeps in its text of the toggle it records: who toggled which
/// emoji. Never sent (the event's item carries the set alone); it tells a retry of this toggle
/// from another toggle that reuses its nonce.
pub(crate) fn toggle_text(author: &str, emoji: &str) -> String {
    format!("{author} {emoji}")
}

/// Whether the reactions event whose row has `text` recorded this toggle. Rows written before
/// toggles were recorded have no text and are taken as this toggle's, as they were then.
pub(crate) fn same_toggle(text: &str, author: &str, emoji: &str) -> bool {
    text.is_empty() || text == toggle_text(author, emoji)
}

/// A set of reactions as the backends store it: JSON text, `None` for none.
pub(crate) fn stored_reactions(set: &[Reaction]) -> Option<String> {
    if set.is_empty() {
        return None;
    }
    serde_json::to_string(set).ok()
}

/// The set stored as [`stored_reactions`] wrote it. Written only by this code: anything else
/// would be a bug, logged, and read as none.
fn reactions_of(stored: Option<&str>) -> Vec<Reaction> {
    let Some(json) = stored else {
        return Vec::new();
    };
    serde_json::from_str(json).unwrap_or_else(|err| {
        tracing::error!(error = %err, "stored reactions are not readable");
        Vec::new()
    })
}

/// A bot's rooms as SQLite stores them: a JSON array.
pub(crate) fn stored_rooms(rooms: &[String]) -> String {
    serde_json::to_string(rooms).unwrap_or_default()
}

/// The rooms stored as [`stored_rooms`] wrote them (written only by this code: anything else
/// would be a bug, logged, and read as none).
pub(crate) fn rooms_of(stored: &str) -> Vec<String> {
    serde_json::from_str(stored).unwrap_or_else(|err| {
        tracing::error!(error = %err, "a bot's stored rooms are not readable");
        Vec::new()
    })
}

/// Whether a reaction may go on a message of `room`: anyone's may, a bot's (`rooms`) only in
/// its rooms.
pub(crate) fn may_react_in(rooms: Option<&[String]>, room: &str) -> bool {
    rooms.is_none_or(|rooms| rooms.iter().any(|allowed| allowed == room))
}

/// A row as a reply would quote it, as both backends read it.
pub(crate) struct QuotedRow {
    pub room: String,
    pub kind: i64,
    pub sender: String,
    pub author: Option<String>,
    pub text: String,
}

/// The quote a reply to message `id` in `room` carries, from the row of `id`: only a live
/// message of the same room can be answered.
pub(crate) fn quote_for(id: u64, room: &str, row: Option<QuotedRow>) -> Option<Quote> {
    let row = row?;
    (row.kind == kind::MESSAGE && row.room == room).then(|| Quote {
        id,
        sender: row.sender,
        author: row.author,
        message: quoted(&row.text),
        deleted: false,
    })
}

/// A quote as the backends store it, on each reply: JSON, rewritten when the quoted message is
/// edited or deleted, so that a read of a reply needs no join.
pub(crate) fn stored_quote(quote: &Quote) -> String {
    serde_json::to_string(quote).unwrap_or_default()
}

/// The quote stored as [`stored_quote`] wrote it.
fn quote_of(json: &str) -> Option<Quote> {
    serde_json::from_str(json)
        .inspect_err(|err| tracing::error!(error = %err, "a stored quote is not readable"))
        .ok()
}

/// What to answer a `react` that stored `event`: whether its author's reaction is in the set
/// now (for a retry, the set as the first try left it).
pub fn reaction_added(event: &ChatMessage, emoji: &str, author: &str) -> bool {
    event
        .reactions
        .iter()
        .flatten()
        .any(|reaction| reaction.emoji == emoji && reaction.authors.iter().any(|a| a == author))
}

/// The columns every read of the log selects, in this order, for [`StoredRow`].
pub(crate) const COLUMNS: &str = "id, room, kind, target, sender, message, sent_at, author, edited_at, reactions, reply_to, bot, files";

/// One row of the log as both backends read it ([`COLUMNS`]).
pub(crate) struct StoredRow {
    pub id: i64,
    pub room: String,
    pub kind: i64,
    pub target: Option<i64>,
    pub sender: String,
    pub message: String,
    pub sent_at: i64,
    pub author: Option<String>,
    pub edited_at: Option<i64>,
    /// A message's reactions, or a reactions event's new set ([`stored_reactions`]).
    pub reactions: Option<String>,
    /// A reply's quote of the message it answers, kept current ([`stored_quote`]).
    pub reply_to: Option<String>,
    /// Sent by a bot.
    pub bot: bool,
    /// A message's files ([`files::stored_files`]).
    pub files: Option<String>,
}

impl StoredRow {
    /// The item clients see. Ids start at 1 in both backends: never negative.
    pub fn into_item(self) -> ChatMessage {
        let id = self.id.unsigned_abs();
        let target = self.target.map(i64::unsigned_abs);
        match self.kind {
            kind::EDIT => ChatMessage {
                id,
                room: self.room,
                kind: crate::protocol::Kind::Edit,
                target,
                message: self.message,
                edited_at: Some(format_micros(self.sent_at)),
                ..ChatMessage::default()
            },
            kind::DELETE => ChatMessage {
                id,
                room: self.room,
                kind: crate::protocol::Kind::Delete,
                target,
                ..ChatMessage::default()
            },
            kind::REACTIONS => ChatMessage {
                id,
                room: self.room,
                kind: crate::protocol::Kind::Reactions,
                target,
                reactions: Some(reactions_of(self.reactions.as_deref())),
                ..ChatMessage::default()
            },
            _ => ChatMessage {
                id,
                room: self.room,
                kind: crate::protocol::Kind::Message,
                target: None,
                sender: self.sender,
                message: self.message,
                sent_at: format_micros(self.sent_at),
                author: self.author,
                bot: self.bot,
                edited_at: self.edited_at.map(format_micros),
                reply_to: self.reply_to.as_deref().and_then(quote_of),
                reactions: Some(reactions_of(self.reactions.as_deref()))
                    .filter(|set| !set.is_empty()),
                files: files::files_of(self.files.as_deref()),
            },
        }
    }
}

/// A ban as the backends store it: `("author", fingerprint)` or `("address", ip)`.
pub(crate) fn ban_row(ban: &Ban) -> (&'static str, &str) {
    match (&ban.author, &ban.address) {
        (Some(author), _) => ("author", author),
        (None, address) => ("address", address.as_deref().unwrap_or_default()),
    }
}

pub(crate) fn ban_of(kind: &str, value: String) -> Ban {
    if kind == "author" {
        Ban {
            author: Some(value),
            address: None,
        }
    } else {
        Ban {
            author: None,
            address: Some(value),
        }
    }
}

/// RFC 3339 in UTC, e.g. `2026-11-27T01:36:03.123456Z`.
pub(crate) fn format_micros(micros: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Now, in microseconds since the Unix epoch: how `sent_at` is stored.
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(verdict: Verdict) -> Option<Outcome> {
        match verdict {
            Verdict::Go(_) => None,
            Verdict::Answer(outcome) => Some(outcome),
        }
    }

    #[test]
    fn a_ban_then_a_repeat_then_the_message_decide_an_edit_or_delete() {
        let earlier = ChatMessage {
            id: 7,
            ..ChatMessage::default()
        };
        let anns = || Some(("general".to_owned(), Some("ann".to_owned())));
        let refused = |why| Some(Outcome::Refused(why));
        // A banned author is refused even for a retry of what went through before the ban.
        assert_eq!(
            answer(verdict(
                true,
                Some(earlier.clone()),
                anns(),
                Asker::Owner("ann")
            )),
            refused(Refusal::Banned)
        );
        // A retry gets its first answer, even if the message is gone since.
        assert_eq!(
            answer(verdict(
                false,
                Some(earlier.clone()),
                None,
                Asker::Owner("ann")
            )),
            Some(Outcome::Stored(earlier))
        );
        // Not when it was about a direct room the asker is not a member of.
        let direct = ChatMessage {
            id: 8,
            room: crate::protocol::direct_room("aaaaaaaa", "bbbbbbbb"),
            ..ChatMessage::default()
        };
        let retried = |asker| answer(verdict(false, Some(direct.clone()), None, asker));
        assert_eq!(
            retried(Asker::Reader("eeeeeeee")),
            refused(Refusal::NoSuchMessage)
        );
        assert_eq!(
            retried(Asker::Reader("aaaaaaaa")),
            Some(Outcome::Stored(direct.clone()))
        );
        assert_eq!(
            answer(verdict(false, None, None, Asker::Owner("ann"))),
            refused(Refusal::NoSuchMessage)
        );
        assert_eq!(
            answer(verdict(false, None, anns(), Asker::Owner("bob"))),
            refused(Refusal::NotYours)
        );
        let anonymous = Some(("general".to_owned(), None));
        assert_eq!(
            answer(verdict(false, None, anonymous.clone(), Asker::Owner("bob"))),
            refused(Refusal::NotYours),
            "a message sent without a key is nobody's"
        );
        // The author, or the operator (no author), goes ahead in the message's room.
        assert!(
            matches!(verdict(false, None, anns(), Asker::Owner("ann")), Verdict::Go(room) if room == "general")
        );
        assert!(matches!(
            verdict(false, None, anonymous, Asker::Operator),
            Verdict::Go(_)
        ));
    }
}
