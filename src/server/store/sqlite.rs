//! The embedded default: SQLite in WAL mode with `synchronous=FULL`, so an acknowledged message
//! survives a crash, a `kill -9` or a power cut. Only SQL lives here; the caching and ordering
//! rules are the layer's ([`super::CachedStore`]).
//!
//! SQLite calls block, so none runs on the async runtime. One thread owns the only writing
//! connection and commits the batches the layer's writer hands it; reads run on
//! `spawn_blocking` over a small pool of read-only connections, which WAL lets proceed while
//! the writer commits.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use std::collections::HashMap;

use super::StoreError;
use super::files::{
    CHUNK_BYTES, FileRow, FileStore, PENDING_MICROS, UNATTACHED_MICROS, Upload, attachable,
    stored_files,
};
use super::{
    Actor, Asker, Backend, Bot, COLUMNS, Committed, Outcome, QuotedRow, Refusal, RoomFilter,
    StoredRow, Verdict, Write, ban_of, ban_row, kind, may_react_in, now_micros, quote_for, react,
    same_toggle, stored_quote, stored_reactions, toggle_text, verdict,
};
use crate::protocol::{Ban, ChatMessage, FileInfo, Quote, ValidMessage, quoted};

/// Read-only connections open at once; more readers wait for one.
const READERS: usize = 4;
/// How long a connection waits on a lock held by another process before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The schema, one entry per version; `PRAGMA user_version` records how many are applied.
/// `AUTOINCREMENT` keeps ids from being reused even after the newest row is deleted.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE messages (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        sender  TEXT    NOT NULL,
        message TEXT    NOT NULL,
        sent_at INTEGER NOT NULL -- microseconds since the Unix epoch, UTC
    );",
    // The client's idempotency key: a retried post finds its first copy instead of adding one.
    "ALTER TABLE messages ADD COLUMN nonce TEXT;
     CREATE UNIQUE INDEX messages_by_nonce ON messages (nonce) WHERE nonce IS NOT NULL;",
    // Rooms: what was stored before them is `general`'s. The index serves "room R, id < B,
    // newest first" (history), "room R, id > N" (sync, counts) and each room's newest id.
    "ALTER TABLE messages ADD COLUMN room TEXT NOT NULL DEFAULT 'general';
     CREATE INDEX messages_by_room ON messages (room, id);",
    // Identity, edits, deletes and bans. `kind` says what a row is (see `store::kind`): edits
    // and deletes are rows of the log too, about the message `target`. `author` is the
    // fingerprint of the key a message was sent with, `address` its client's IP (for bans
    // with purge); a deleted message keeps neither. The fingerprint secret lives in
    // `settings`, so it survives restarts.
    "ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE messages ADD COLUMN target INTEGER;
     ALTER TABLE messages ADD COLUMN author TEXT;
     ALTER TABLE messages ADD COLUMN address TEXT;
     ALTER TABLE messages ADD COLUMN edited_at INTEGER;
     CREATE INDEX messages_by_target ON messages (target) WHERE target IS NOT NULL;
     CREATE INDEX messages_by_author ON messages (author) WHERE author IS NOT NULL;
     CREATE INDEX messages_by_address ON messages (address) WHERE address IS NOT NULL;
     CREATE TABLE bans (kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value));
     CREATE TABLE settings (name TEXT PRIMARY KEY, value BLOB NOT NULL);",
    // Full-text search: an FTS5 index of the messages' current text (kind 0), kept in step by
    // triggers, so in the same transaction as every post, edit and delete. Contentless (the
    // text is not stored twice) with deletes that remove a message's words from the index at
    // once (`secure-delete`): a deleted message's text does not linger there either.
    "CREATE VIRTUAL TABLE messages_fts USING fts5(
        message, content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
     );
     INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
     INSERT INTO messages_fts (rowid, message) SELECT id, message FROM messages WHERE kind = 0;
     CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind = 0 BEGIN
       INSERT INTO messages_fts (rowid, message) VALUES (new.id, new.message);
     END;
     CREATE TRIGGER messages_fts_update AFTER UPDATE OF message, kind ON messages
     WHEN old.kind = 0 BEGIN
       DELETE FROM messages_fts WHERE rowid = old.id;
       INSERT INTO messages_fts (rowid, message) SELECT new.id, new.message WHERE new.kind = 0;
     END;",
    // New messages are indexed by one statement per commit (`index_posts`), still in the
    // writer's transaction: FTS5 took 11 us a row from the trigger, 3 us from one `INSERT …
    // SELECT` over the batch (50-row transactions, measured here). Edits and deletes keep their
    // trigger: they are few.
    "DROP TRIGGER messages_fts_insert;",
    // Reactions: a message's current set, and a reactions event's new one, as JSON
    // (`store::stored_reactions`). The one writer reads and writes a message's set in its
    // transaction, so no toggle is lost; a read of a message carries its set without a join.
    "ALTER TABLE messages ADD COLUMN reactions TEXT;",
    // Replies: the id a reply answers (indexed: an edit or delete of it rewrites its replies'
    // quotes) and the quote itself as JSON (`store::stored_quote`), kept current by the writer.
    "ALTER TABLE messages ADD COLUMN reply_id INTEGER;
     ALTER TABLE messages ADD COLUMN reply_to TEXT;
     CREATE INDEX messages_by_reply ON messages (reply_id) WHERE reply_id IS NOT NULL;",
    // Bots: each message says whether a bot sent it (set when it is stored, so it stays after
    // the bot is revoked); a bot's rooms as a JSON array, its token's verifier, never the token;
    // a revoked bot stays (`revoked`, when) so that its token is refused, not taken for a key.
    "ALTER TABLE messages ADD COLUMN bot INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE bots (
        author   TEXT    PRIMARY KEY,
        name     TEXT    NOT NULL,
        rooms    TEXT    NOT NULL,
        verifier TEXT    NOT NULL,
        created  INTEGER NOT NULL,
        revoked  INTEGER
     );",
    // Files: a row per file (pending, without a size, until its upload is finished; `message`
    // once attached) and its bytes in chunks of `files::CHUNK_BYTES` (a rowid table: a B-tree
    // keyed by (file, seq) would hold whole chunks in its pages). A message keeps its files'
    // descriptions as JSON, so that a read of the log needs no join.
    "ALTER TABLE messages ADD COLUMN files TEXT;
     CREATE TABLE files (
        id       TEXT    PRIMARY KEY,
        author   TEXT    NOT NULL,
        address  TEXT,
        name     TEXT    NOT NULL,
        content_type TEXT,
        size     INTEGER,
        width    INTEGER,
        height   INTEGER,
        thumb    BLOB,
        created  INTEGER NOT NULL,
        message  INTEGER
     );
     CREATE INDEX files_by_message ON files (message) WHERE message IS NOT NULL;
     CREATE INDEX files_unattached ON files (created) WHERE message IS NULL;
     CREATE INDEX files_by_author ON files (author);
     CREATE INDEX files_by_address ON files (address) WHERE address IS NOT NULL;
     CREATE TABLE file_chunks (
        file  TEXT    NOT NULL,
        seq   INTEGER NOT NULL,
        bytes BLOB    NOT NULL
     );
     CREATE UNIQUE INDEX file_chunks_by_file ON file_chunks (file, seq);",
];

/// What went wrong, with SQLite's own error (or the file system's) as the cause.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("sqlite: {what} ({path})")]
    Query {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("sqlite: create the database folder {path}")]
    CreateFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sqlite: journal_mode is {0}, WAL is required")]
    NotWal(String),
    #[error("sqlite: start the writer thread")]
    SpawnWriter(#[source] std::io::Error),
    /// The writer thread is gone (it panicked): nothing can be committed until a restart.
    #[error("sqlite: the writer thread has stopped")]
    WriterStopped,
    #[error("sqlite: a blocking task failed")]
    Task(#[source] tokio::task::JoinError),
    #[error("sqlite: shut down")]
    Closed,
    #[error("sqlite: no database at {0}")]
    Missing(PathBuf),
    #[error("sqlite: the schema is version {found}, this build reads version {expected}")]
    Schema { found: i64, expected: i64 },
    #[error("sqlite: the backup does not pass `PRAGMA quick_check`: {0}")]
    BadBackup(String),
}

/// Work for the writer thread: a batch of the log and where its result goes, or a file's
/// write (its own transaction, run on the one writing connection between batches).
enum WriteJob {
    Batch(Vec<Write>, oneshot::Sender<Result<Committed, SqliteError>>),
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
}

pub struct SqliteBackend {
    path: PathBuf,
    /// The writer thread's inbox; taken at close, which lets the thread finish.
    writes: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: std::sync::Arc<Readers>,
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    // Only connections are pushed and popped under this lock: poisoning cannot tear it.
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path`, migrates its schema and starts the
    /// writer thread.
    pub async fn open(path: PathBuf) -> Result<Self, SqliteError> {
        let opened = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || open_writer(&path))
        };
        let conn = opened.await.map_err(SqliteError::Task)??;
        // One batch waits while another commits; the layer's queue holds the rest.
        let (writes, jobs) = mpsc::channel(1);
        let writer = {
            let path = path.clone();
            std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || write_loop(conn, &path, jobs))
                .map_err(SqliteError::SpawnWriter)?
        };
        Ok(Self {
            path: path.clone(),
            writes: Mutex::new(Some(writes)),
            writer: Mutex::new(Some(writer)),
            readers: std::sync::Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
            }),
        })
    }

    /// For reading only (`ajax-chat export`): read-only connections, no writer, no migration,
    /// nothing that could lock out or checkpoint under a running server; refused unless the
    /// file exists and its schema is the one this build knows.
    pub fn open_read_only(path: PathBuf) -> Result<Self, SqliteError> {
        if !path.is_file() {
            return Err(SqliteError::Missing(path));
        }
        let failed = |source| SqliteError::Query {
            what: "open the database",
            path: path.clone(),
            source,
        };
        let conn = open_reader(&path).map_err(failed)?;
        let found: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(failed)?;
        let expected = MIGRATIONS.len() as i64;
        if found != expected {
            return Err(SqliteError::Schema { found, expected });
        }
        Ok(Self {
            path: path.clone(),
            writes: Mutex::new(None),
            writer: Mutex::new(None),
            readers: std::sync::Arc::new(Readers {
                path,
                idle: Mutex::new(vec![conn]),
                permits: Semaphore::new(READERS),
            }),
        })
    }

    fn writes(&self) -> Option<mpsc::Sender<WriteJob>> {
        self.writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `work` on the writing connection, in its own transaction.
    async fn write_with<T, F>(&self, what: &'static str, work: F) -> Result<T, SqliteError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let writes = self.writes().ok_or(SqliteError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let path = self.path.clone();
        let job = WriteJob::Run(Box::new(move |conn: &mut Connection| {
            let done = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .and_then(|tx| {
                    let value = work(&tx)?;
                    tx.commit().map(|()| value)
                })
                .map_err(|source| SqliteError::Query { what, path, source });
            let _ = reply.send(done);
        }));
        writes
            .send(job)
            .await
            .map_err(|_| SqliteError::WriterStopped)?;
        answer.await.map_err(|_| SqliteError::WriterStopped)?
    }

    async fn read<T, F>(&self, what: &'static str, query: F) -> Result<T, SqliteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| SqliteError::Closed)?;
        let readers = std::sync::Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let failed = |source| SqliteError::Query {
                what,
                path: readers.path.clone(),
                source,
            };
            let pooled = readers.idle().pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&readers.path).map_err(failed)?,
            };
            let result = query(&conn).map_err(failed);
            // A connection that failed may be broken (file gone, disk error): open a fresh one
            // next time rather than keep it.
            if result.is_ok() {
                readers.idle().push(conn);
            }
            result
        })
        .await
        .map_err(SqliteError::Task)?
    }

    /// Makes the writer thread panic, as a bug in it would.
    #[cfg(test)]
    async fn crash_writer(&self) {
        if let Some(writes) = self.writes() {
            let (reply, _) = oneshot::channel();
            let _ = writes.send(WriteJob::Batch(Vec::new(), reply)).await;
        }
    }
}

impl Backend for SqliteBackend {
    type Error = SqliteError;

    async fn commit(&self, batch: Vec<Write>) -> Result<Committed, SqliteError> {
        let writes = self.writes().ok_or(SqliteError::Closed)?;
        let (reply, answer) = oneshot::channel();
        writes
            .send(WriteJob::Batch(batch, reply))
            .await
            .map_err(|_| SqliteError::WriterStopped)?;
        answer.await.map_err(|_| SqliteError::WriterStopped)?
    }

    async fn since(
        &self,
        rooms: RoomFilter<'_>,
        after: u64,
        limit: usize,
        events: bool,
    ) -> Result<Vec<ChatMessage>, SqliteError> {
        // Ids live in SQLite's i64; anything past its range has nothing newer.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Messages are kind 0, events 1, 2 and 4; deleted messages (3) never leave.
        let kinds = kind::max(events);
        match rooms {
            None => {
                self.read("read messages", move |conn| {
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM messages
                         WHERE id > ?1 AND kind <= ?3 AND kind <> 3 ORDER BY id LIMIT ?2"
                    ))?;
                    let rows = stmt.query_map(params![after, limit, kinds], row_to_message)?;
                    rows.collect()
                })
                .await
            }
            Some(rooms) => {
                // The room names as one JSON array parameter: one statement for any number.
                let rooms = serde_json::to_string(rooms).unwrap_or_else(|_| "[]".to_owned());
                self.read("read messages of rooms", move |conn| {
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM messages
                         WHERE room IN (SELECT value FROM json_each(?1)) AND id > ?2
                           AND kind <= ?4 AND kind <> 3
                         ORDER BY id LIMIT ?3"
                    ))?;
                    let rows =
                        stmt.query_map(params![rooms, after, limit, kinds], row_to_message)?;
                    rows.collect()
                })
                .await
            }
        }
    }

    async fn bans(&self) -> Result<Vec<Ban>, SqliteError> {
        self.read("read the bans", |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT kind, value FROM bans ORDER BY kind, value")?;
            let rows =
                stmt.query_map([], |row| Ok(ban_of(&row.get::<_, String>(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    async fn bots(&self) -> Result<Vec<Bot>, SqliteError> {
        self.read("read the bots", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {BOT_COLUMNS} FROM bots WHERE revoked IS NULL ORDER BY created, author"
            ))?;
            let rows = stmt.query_map([], bot_of)?;
            rows.collect()
        })
        .await
    }

    async fn bot(&self, author: &str) -> Result<Option<Bot>, SqliteError> {
        let author = author.to_owned();
        self.read("read a bot", move |conn| {
            conn.prepare_cached(&format!("SELECT {BOT_COLUMNS} FROM bots WHERE author = ?1"))?
                .query_row([author], bot_of)
                .optional()
        })
        .await
    }

    async fn search(
        &self,
        words: &[String],
        rooms: &[String],
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, SqliteError> {
        let query = fts_query(words);
        let rooms = serde_json::to_string(rooms).unwrap_or_else(|_| "[]".to_owned());
        let before = to_i64(before);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("search messages", move |conn| {
            // Newest first straight from the index (FTS5 walks its rowids backwards), joined to
            // the messages for their rows and rooms.
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {} FROM messages_fts JOIN messages ON messages.id = messages_fts.rowid
                 WHERE messages_fts MATCH ?1 AND messages_fts.rowid < ?2
                   AND messages.room IN (SELECT value FROM json_each(?3)) AND messages.kind = 0
                 ORDER BY messages_fts.rowid DESC LIMIT ?4",
                COLUMNS
                    .split(", ")
                    .map(|column| format!("messages.{column}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?;
            let rows = stmt.query_map(params![query, before, rooms, limit], row_to_message)?;
            rows.collect()
        })
        .await
    }

    async fn secret(&self, fresh: [u8; 32]) -> Result<Vec<u8>, SqliteError> {
        let path = self.path.clone();
        let work = tokio::task::spawn_blocking(move || -> rusqlite::Result<Vec<u8>> {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.execute(
                "INSERT OR IGNORE INTO settings (name, value) VALUES ('fingerprint_secret', ?1)",
                [&fresh[..]],
            )?;
            conn.query_row(
                "SELECT value FROM settings WHERE name = 'fingerprint_secret'",
                [],
                |row| row.get(0),
            )
        });
        work.await
            .map_err(SqliteError::Task)?
            .map_err(|source| SqliteError::Query {
                what: "read the fingerprint secret",
                path: self.path.clone(),
                source,
            })
    }

    async fn stored_secret(&self) -> Result<Option<Vec<u8>>, SqliteError> {
        self.read("read the fingerprint secret", |conn| {
            conn.query_row(
                "SELECT value FROM settings WHERE name = 'fingerprint_secret'",
                [],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn history(
        &self,
        room: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, SqliteError> {
        let room = room.to_owned();
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("read a room's history", move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM
                   (SELECT * FROM messages WHERE room = ?1 AND id < ?2 AND kind = 0
                    ORDER BY id DESC LIMIT ?3)
                 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![room, before, limit], row_to_message)?;
            rows.collect()
        })
        .await
    }

    async fn latest(&self, limit: usize) -> Result<Vec<ChatMessage>, SqliteError> {
        self.read("read latest messages", move |conn| latest(conn, limit))
            .await
    }

    async fn newest_by_room(&self) -> Result<HashMap<String, u64>, SqliteError> {
        self.read("read each room's newest id", |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT room, MAX(id) FROM messages GROUP BY room")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, positive_id(row.get(1)?))))?;
            rows.collect()
        })
        .await
    }

    async fn count_after(&self, room: &str, after: u64, cap: u64) -> Result<u64, SqliteError> {
        let room = room.to_owned();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        self.read("count a room's unread messages", move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT COUNT(*) FROM
                   (SELECT 1 FROM messages WHERE room = ?1 AND id > ?2 AND kind = 0 LIMIT ?3)",
            )?;
            stmt.query_row(params![room, after, cap], |row| {
                Ok(positive_id(row.get(0)?))
            })
        })
        .await
    }

    async fn check(&self) -> Result<(), SqliteError> {
        if self.writes().is_none_or(|writes| writes.is_closed()) {
            return Err(SqliteError::WriterStopped);
        }
        self.read("health check", |conn| {
            conn.query_row("SELECT COUNT(*) FROM messages WHERE id < 0", [], |_| Ok(()))
        })
        .await
    }

    fn news(&self) -> Option<&Notify> {
        // One process writes a SQLite file: its own commits are all there is.
        None
    }

    async fn close(&self) {
        drop(
            self.writes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            // The thread checkpoints the WAL and closes its connection.
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        self.readers.permits.close();
        self.readers.idle().clear();
        tracing::debug!(path = %self.path.display(), "sqlite closed");
    }
}

fn open_writer(path: &Path) -> Result<Connection, SqliteError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SqliteError::CreateFolder {
            path: dir.to_owned(),
            source,
        })?;
    }
    let failed = |what| {
        move |source| SqliteError::Query {
            what,
            path: path.to_owned(),
            source,
        }
    };
    let mut conn = Connection::open(path).map_err(failed("open"))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(failed("open"))?;
    // WAL lets readers run while the writer commits; FULL syncs the WAL on every commit, which
    // is what makes an acknowledged message durable.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(failed("set the journal mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SqliteError::NotWal(mode));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(failed("set synchronous"))?;
    // A deleted message's text must leave the file, not linger in a free page: SQLite then
    // overwrites what it frees with zeros.
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(failed("set secure_delete"))?;
    // A database a newer build has migrated is not this build's to write: it would write rows
    // without what the newer schema needs (a rolled-back deploy taking bots' tokens for keys).
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(failed("read the schema version"))?;
    if found > MIGRATIONS.len() as i64 {
        return Err(SqliteError::Schema {
            found,
            expected: MIGRATIONS.len() as i64,
        });
    }
    migrate(&mut conn).map_err(failed("migrate the schema"))?;
    Ok(conn)
}

/// Pages copied by one step of a backup (4 MiB of 4 KiB pages): the progress shown moves that
/// often.
const BACKUP_STEP_PAGES: i32 = 1024;

/// Copies the database at `path` into a new file `to` with SQLite's online backup API, while
/// the server may be writing to it. The copy is one read transaction's snapshot (WAL lets it
/// run beside the writer): the database as it was when the backup began, every commit before
/// it included, none after. `progress(copied, total)` is called with pages after each step.
pub fn backup(
    path: &Path,
    to: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), SqliteError> {
    let failed = |what| {
        move |source| SqliteError::Query {
            what,
            path: path.to_owned(),
            source,
        }
    };
    // Opening a missing file would create an empty database: that is no backup.
    if !path.is_file() {
        return Err(SqliteError::Missing(path.to_owned()));
    }
    // Read-only: the copy never changes the database, nor checkpoints it when it closes.
    let source = open_reader(path).map_err(failed("open the database"))?;
    // One read transaction for the whole copy: each step then reads the same snapshot (a step
    // opens its own only when none is open), so the server's commits meanwhile neither enter
    // the copy nor restart it, however long it takes.
    source
        .execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;")
        .map_err(failed("begin the backup's read"))?;
    let mut target = Connection::open(to).map_err(|source| SqliteError::Query {
        what: "create the backup file",
        path: to.to_owned(),
        source,
    })?;
    {
        let copy = rusqlite::backup::Backup::new(&source, &mut target)
            .map_err(failed("start the backup"))?;
        loop {
            use rusqlite::backup::StepResult;
            match copy.step(BACKUP_STEP_PAGES).map_err(failed("copy pages"))? {
                StepResult::Done => break,
                StepResult::More => {
                    let done = copy.progress();
                    let total = u64::try_from(done.pagecount).unwrap_or(0);
                    let left = u64::try_from(done.remaining).unwrap_or(0);
                    progress(total.saturating_sub(left), total);
                }
                // The target is ours alone, and the source's snapshot is already held.
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        let done = copy.progress();
        let total = u64::try_from(done.pagecount).unwrap_or(0);
        progress(total, total);
    }
    source
        .execute_batch("COMMIT")
        .map_err(failed("end the backup's read"))?;
    let checked: String = target
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(failed("check the backup"))?;
    if checked != "ok" {
        return Err(SqliteError::BadBackup(checked));
    }
    target
        .close()
        .map_err(|(_, source)| failed("close the backup file")(source))
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    // IMMEDIATE takes the write lock up front, so two processes starting at once migrate in turn.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: usize =
        tx.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? as usize;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
    }
    tx.commit()
}

/// The `limit` newest messages, ascending.
fn latest(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<ChatMessage>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM
           (SELECT * FROM messages WHERE kind <> {} ORDER BY id DESC LIMIT ?1)
         ORDER BY id",
        kind::DELETED
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![limit], row_to_message)?;
    rows.collect()
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The columns of [`bot_of`], in its order.
const BOT_COLUMNS: &str = "author, name, rooms, verifier, created, revoked IS NOT NULL";

fn bot_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Bot> {
    let rooms: String = row.get(2)?;
    Ok(Bot {
        author: row.get(0)?,
        name: row.get(1)?,
        rooms: super::rooms_of(&rooms),
        verifier: row.get(3)?,
        created: row.get(4)?,
        revoked: row.get(5)?,
    })
}

/// An `AUTOINCREMENT` rowid: it starts at 1 and only grows, so it is never negative.
fn positive_id(id: i64) -> u64 {
    id.unsigned_abs()
}

fn row_to_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    Ok(StoredRow {
        id: row.get(0)?,
        room: row.get(1)?,
        kind: row.get(2)?,
        target: row.get(3)?,
        sender: row.get(4)?,
        message: row.get(5)?,
        sent_at: row.get(6)?,
        author: row.get(7)?,
        edited_at: row.get(8)?,
        reactions: row.get(9)?,
        reply_to: row.get(10)?,
        bot: row.get(11)?,
        files: row.get(12)?,
    }
    .into_item())
}

/// The writer thread: commits each batch it is handed until its inbox is closed, then
/// checkpoints the WAL and closes the database.
fn write_loop(mut conn: Connection, path: &Path, mut jobs: mpsc::Receiver<WriteJob>) {
    let mut bans = Bans::default();
    let mut loaded = false;
    while let Some(job) = jobs.blocking_recv() {
        let (batch, reply) = match job {
            WriteJob::Batch(batch, reply) => (batch, reply),
            WriteJob::Run(work) => {
                work(&mut conn);
                continue;
            }
        };
        // An empty batch never comes from the layer: it is `crash_writer` in a test.
        assert!(!batch.is_empty(), "the sqlite writer was asked to crash");
        // On failure the transaction rolled back: none of the batch is stored.
        let committed = Bans::load(&conn, &mut bans, &mut loaded)
            .and_then(|()| commit(&mut conn, &batch, &mut bans))
            .map_err(|source| SqliteError::Query {
                what: "commit",
                path: path.to_owned(),
                source,
            });
        let _ = reply.send(committed);
    }
    if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(
            error = &err as &dyn std::error::Error,
            "checkpoint at shutdown failed"
        );
    }
    if let Err((_, err)) = conn.close() {
        tracing::warn!(
            error = &err as &dyn std::error::Error,
            "closing the database failed"
        );
    }
}

/// The bans in force, kept by the writer thread: it makes every change to them (one process
/// writes a SQLite file), so checking a post is a lookup in memory, not a query per post
/// (which cost about a fifth of the posting throughput).
#[derive(Debug, Clone, Default)]
struct Bans(std::collections::HashSet<(String, String)>);

impl Bans {
    /// Reads them from the database the first time (and again after a failed read).
    fn load(conn: &Connection, bans: &mut Self, loaded: &mut bool) -> rusqlite::Result<()> {
        if !*loaded {
            let mut stmt = conn.prepare_cached("SELECT kind, value FROM bans")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            bans.0 = rows.collect::<rusqlite::Result<_>>()?;
            *loaded = true;
        }
        Ok(())
    }

    fn holds(&self, author: Option<&str>, address: Option<&str>) -> bool {
        let held = |kind: &str, value: Option<&str>| {
            value.is_some_and(|value| self.0.contains(&(kind.to_owned(), value.to_owned())))
        };
        !self.0.is_empty() && (held("author", author) || held("address", address))
    }
}

/// Commits `batch`; the bans change only if it commits.
fn commit(conn: &mut Connection, batch: &[Write], bans: &mut Bans) -> rusqlite::Result<Committed> {
    let changes = batch
        .iter()
        .any(|write| matches!(write, Write::Ban { .. } | Write::Unban(_)));
    if !changes {
        return commit_with(conn, batch, bans);
    }
    let mut next = bans.clone();
    let done = commit_with(conn, batch, &mut next)?;
    *bans = next;
    Ok(done)
}

fn commit_with(
    conn: &mut Connection,
    batch: &[Write],
    bans: &mut Bans,
) -> rusqlite::Result<Committed> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = now_micros();
    let mut done = Committed::default();
    // The first message posted in this batch and not yet in the search index.
    let mut unindexed: Option<i64> = None;
    for write in batch {
        if !matches!(write, Write::Post(_)) {
            // An edit's or delete's trigger must find the messages before it in the index.
            index_posts(&tx, unindexed.take())?;
        }
        let outcome = match write {
            Write::Post(post) => {
                let stored = done.items.len();
                let outcome = post_one(&tx, post, bans, now, &mut done.items)?;
                // Only a new row (not a repeated nonce's earlier one) joins the index.
                if done.items.len() > stored && unindexed.is_none() {
                    unindexed = done.items.last().map(|message| to_i64(message.id));
                }
                outcome
            }
            Write::Edit {
                id,
                message,
                author,
                address,
                nonce,
            } => {
                let banned = bans.holds(Some(author.as_str()), address.as_deref());
                let repeat = by_nonce(&tx, nonce.as_deref())?;
                match verdict(banned, repeat, live(&tx, *id)?, Asker::Owner(author)) {
                    Verdict::Answer(outcome) => outcome,
                    Verdict::Go(room) => {
                        let target = to_i64(*id);
                        tx.prepare_cached(
                            "UPDATE messages SET message = ?2, edited_at = ?3 WHERE id = ?1",
                        )?
                        .execute(params![target, message, now])?;
                        requote(&tx, *id, Some(message))?;
                        let event = Event::new(kind::EDIT, room, target, message, now);
                        Outcome::Stored(event.insert(&tx, nonce, &mut done.items)?)
                    }
                }
            }
            Write::Delete { id, by, nonce } => {
                let (banned, author) = match by {
                    Actor::Author {
                        fingerprint,
                        address,
                    } => (
                        bans.holds(Some(fingerprint.as_str()), address.as_deref()),
                        Asker::Owner(fingerprint.as_str()),
                    ),
                    Actor::Admin => (false, Asker::Operator),
                };
                let repeat = by_nonce(&tx, nonce.as_deref())?;
                match verdict(banned, repeat, live(&tx, *id)?, author) {
                    Verdict::Answer(outcome) => outcome,
                    Verdict::Go(room) => {
                        Outcome::Stored(delete_one(&tx, *id, room, nonce, now, &mut done.items)?)
                    }
                }
            }
            Write::React {
                id,
                emoji,
                author,
                address,
                nonce,
                rooms,
            } => {
                let banned = bans.holds(Some(author.as_str()), address.as_deref());
                let repeat = by_nonce(&tx, nonce.as_deref())?;
                // A retry is this toggle's only if its event recorded this toggle.
                let taken = match &repeat {
                    Some(first) if first.kind == crate::protocol::Kind::Reactions => {
                        let text: String = tx
                            .prepare_cached("SELECT message FROM messages WHERE id = ?1")?
                            .query_row([to_i64(first.id)], |row| row.get(0))?;
                        !same_toggle(&text, author, emoji)
                    }
                    _ => false,
                };
                // Anyone may react to any message: no author to match.
                match verdict(banned, repeat, live(&tx, *id)?, Asker::Reader(author)) {
                    Verdict::Answer(Outcome::Stored(_)) if taken => {
                        Outcome::Refused(Refusal::NonceTaken)
                    }
                    Verdict::Answer(outcome) => outcome,
                    Verdict::Go(room) if !may_react_in(rooms.as_deref(), &room) => {
                        Outcome::Refused(Refusal::NotInRooms)
                    }
                    Verdict::Go(room) => {
                        let target = to_i64(*id);
                        let stored: Option<String> = tx
                            .prepare_cached("SELECT reactions FROM messages WHERE id = ?1")?
                            .query_row([target], |row| row.get(0))?;
                        match react(stored.as_deref(), emoji, author) {
                            Err(why) => Outcome::Refused(why),
                            Ok((set, _)) => {
                                let set = stored_reactions(&set);
                                tx.prepare_cached(
                                    "UPDATE messages SET reactions = ?2 WHERE id = ?1",
                                )?
                                .execute(params![target, set])?;
                                let toggle = toggle_text(author, emoji);
                                let mut event =
                                    Event::new(kind::REACTIONS, room, target, &toggle, now);
                                event.reactions = set;
                                Outcome::Stored(event.insert(&tx, nonce, &mut done.items)?)
                            }
                        }
                    }
                }
            }
            Write::Ban { ban, purge } => {
                let (what, value) = ban_row(ban);
                tx.prepare_cached("INSERT OR IGNORE INTO bans (kind, value) VALUES (?1, ?2)")?
                    .execute(params![what, value])?;
                bans.0.insert((what.to_owned(), value.to_owned()));
                if *purge {
                    let theirs: Vec<(i64, String)> = tx
                        .prepare_cached(
                            "SELECT id, room FROM messages
                             WHERE kind = 0 AND (author = ?1 OR address = ?2) ORDER BY id",
                        )?
                        .query_map(params![ban.author, ban.address], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })?
                        .collect::<rusqlite::Result<_>>()?;
                    for (id, room) in theirs {
                        delete_one(&tx, positive_id(id), room, &None, now, &mut done.items)?;
                    }
                    // And the files they uploaded and have not attached.
                    tx.prepare_cached(
                        "DELETE FROM file_chunks WHERE file IN (SELECT id FROM files
                         WHERE message IS NULL AND (author = ?1 OR address = ?2))",
                    )?
                    .execute(params![ban.author, ban.address])?;
                    tx.prepare_cached(
                        "DELETE FROM files WHERE message IS NULL AND (author = ?1 OR address = ?2)",
                    )?
                    .execute(params![ban.author, ban.address])?;
                }
                Outcome::Done
            }
            Write::Unban(ban) => {
                let (what, value) = ban_row(ban);
                let removed = tx
                    .prepare_cached("DELETE FROM bans WHERE kind = ?1 AND value = ?2")?
                    .execute(params![what, value])?;
                bans.0.remove(&(what.to_owned(), value.to_owned()));
                if removed == 0 {
                    Outcome::Refused(Refusal::NotBanned)
                } else {
                    Outcome::Done
                }
            }
            Write::AddBot(bot) => {
                let taken: bool = tx
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM bots
                         WHERE author = ?1 OR (name = ?2 AND revoked IS NULL))",
                    )?
                    .query_row(params![bot.author, bot.name], |row| row.get(0))?;
                if taken {
                    Outcome::Refused(Refusal::BotTaken)
                } else {
                    tx.prepare_cached(
                        "INSERT INTO bots (author, name, rooms, verifier, created)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        bot.author,
                        bot.name,
                        super::stored_rooms(&bot.rooms),
                        bot.verifier,
                        bot.created
                    ])?;
                    Outcome::Done
                }
            }
            Write::RevokeBot { author } => {
                let revoked = tx
                    .prepare_cached(
                        "UPDATE bots SET revoked = ?2 WHERE author = ?1 AND revoked IS NULL",
                    )?
                    .execute(params![author, now])?;
                if revoked == 0 {
                    Outcome::Refused(Refusal::NoSuchBot)
                } else {
                    Outcome::Done
                }
            }
        };
        done.outcomes.push(outcome);
    }
    index_posts(&tx, unindexed)?;
    tx.commit()?;
    Ok(done)
}

#[async_trait::async_trait]
impl FileStore for SqliteBackend {
    async fn begin_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        let upload = upload.clone();
        self.write_with("begin an upload", move |tx| {
            tx.prepare_cached(
                "INSERT INTO files (id, author, address, name, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                upload.id,
                upload.author,
                upload.address,
                upload.name,
                upload.created
            ])
            .map(drop)
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn put_chunk(&self, id: &str, seq: u32, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write_with("store a chunk", move |tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO file_chunks (file, seq, bytes)
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM files WHERE id = ?1 AND size IS NULL)",
            )?
            .execute(params![id, seq, bytes])
            .map(|stored| stored > 0)
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn finish_upload(
        &self,
        file: &FileInfo,
        thumb: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let file = file.clone();
        self.write_with("finish an upload", move |tx| {
            let chunks = file.size.div_ceil(CHUNK_BYTES as u64);
            tx.prepare_cached("DELETE FROM file_chunks WHERE file = ?1 AND seq >= ?2")?
                .execute(params![file.id, i64::try_from(chunks).unwrap_or(i64::MAX)])?;
            tx.prepare_cached(
                "UPDATE files SET size = ?2, content_type = ?3, width = ?4, height = ?5, thumb = ?6
                 WHERE id = ?1 AND size IS NULL",
            )?
            .execute(params![
                file.id,
                i64::try_from(file.size).unwrap_or(i64::MAX),
                file.content_type,
                file.width,
                file.height,
                thumb
            ])
            .map(|finished| finished > 0)
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn drop_upload(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write_with("drop an upload", move |tx| {
            tx.prepare_cached("DELETE FROM file_chunks WHERE file = ?1")?
                .execute([&id])?;
            tx.prepare_cached("DELETE FROM files WHERE id = ?1 AND size IS NULL")?
                .execute([&id])
                .map(drop)
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn file(&self, id: &str) -> Result<Option<FileInfo>, StoreError> {
        let id = id.to_owned();
        self.read("read a file", move |conn| {
            conn.prepare_cached(
                "SELECT name, size, content_type, width, height FROM files
                 WHERE id = ?1 AND size IS NOT NULL",
            )?
            .query_row([&id], |row| {
                Ok(FileInfo {
                    id: id.clone(),
                    name: row.get(0)?,
                    size: row.get::<_, i64>(1)?.unsigned_abs(),
                    content_type: row.get(2)?,
                    width: row.get(3)?,
                    height: row.get(4)?,
                })
            })
            .optional()
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn chunk(&self, id: &str, seq: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.to_owned();
        self.read("read a chunk", move |conn| {
            conn.prepare_cached("SELECT bytes FROM file_chunks WHERE file = ?1 AND seq = ?2")?
                .query_row(params![id, seq], |row| row.get(0))
                .optional()
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn thumb(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.to_owned();
        self.read("read a thumbnail", move |conn| {
            conn.prepare_cached(
                "SELECT thumb FROM files WHERE id = ?1 AND size IS NOT NULL AND thumb IS NOT NULL",
            )?
            .query_row([id], |row| row.get(0))
            .optional()
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn sweep_files(&self, now: i64) -> Result<u64, StoreError> {
        self.write_with("sweep files", move |tx| {
            let (unattached, pending) = (now - UNATTACHED_MICROS, now - PENDING_MICROS);
            let stale = "SELECT id FROM files WHERE message IS NULL
                AND (created < ?1 OR (size IS NULL AND created < ?2))";
            tx.prepare_cached(&format!("DELETE FROM file_chunks WHERE file IN ({stale})"))?
                .execute(params![unattached, pending])?;
            let removed = tx
                .prepare_cached(&format!("DELETE FROM files WHERE id IN ({stale})"))?
                .execute(params![unattached, pending])?;
            // Chunks of no file (an upload that went on writing as it was removed).
            tx.prepare_cached("DELETE FROM file_chunks WHERE file NOT IN (SELECT id FROM files)")?
                .execute([])?;
            Ok(removed as u64)
        })
        .await
        .map_err(StoreError::backend)
    }
}

/// Adds the messages posted in this transaction from id `first` on to the search index, in one
/// statement (see the last migration).
fn index_posts(tx: &rusqlite::Transaction<'_>, first: Option<i64>) -> rusqlite::Result<()> {
    if let Some(first) = first {
        tx.prepare_cached(
            "INSERT INTO messages_fts (rowid, message)
             SELECT id, message FROM messages WHERE id >= ?1 AND kind = 0",
        )?
        .execute(params![first])?;
    }
    Ok(())
}

/// An FTS5 query for messages with every word, the last also as a prefix: `"a" "b" "c"*`. The
/// words are letters and digits only; quoting keeps FTS5's operators (`AND`, `NEAR`) words.
fn fts_query(words: &[String]) -> String {
    let mut query = String::new();
    for (at, word) in words.iter().enumerate() {
        if at > 0 {
            query.push(' ');
        }
        query.push('"');
        query.push_str(&word.replace('"', "\"\""));
        query.push('"');
    }
    query.push('*');
    query
}

fn to_i64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// A post: refused if its author or address is banned; a repeated nonce (also earlier in this
/// batch) gets its first copy back.
fn post_one(
    tx: &rusqlite::Transaction<'_>,
    post: &ValidMessage,
    bans: &Bans,
    now: i64,
    items: &mut Vec<ChatMessage>,
) -> rusqlite::Result<Outcome> {
    if bans.holds(post.author.as_deref(), post.address.as_deref()) {
        return Ok(Outcome::Refused(Refusal::Banned));
    }
    if let Some(first) = by_nonce(tx, post.nonce.as_deref())? {
        return Ok(Outcome::Stored(first));
    }
    // A reply answers a live message of its own room.
    let quote = match post.reply_to {
        None => None,
        Some(target) => match quote_for(target, &post.room, quotable(tx, target)?) {
            Some(quote) => Some(stored_quote(&quote)),
            None => return Ok(Outcome::Refused(Refusal::NoSuchMessage)),
        },
    };
    let files = match attach_check(tx, post)? {
        Ok(files) => files,
        Err(why) => return Ok(Outcome::Refused(why)),
    };
    let stored = stored_files(&files);
    // `OR ROLLBACK`: a failing insert fails the whole batch anyway (and cannot fail on the
    // nonce, looked up just above by the only writer), so SQLite need not keep a statement
    // journal to undo just this statement: under `ABORT` it copied every page the insert
    // touched (the row, five indexes, `sqlite_sequence`) first, 5 % of the writer's time.
    let id = insert(
        tx,
        "INSERT OR ROLLBACK INTO messages
           (room, sender, message, sent_at, nonce, author, address, reply_id, reply_to, bot, files)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            post.room,
            post.sender,
            post.message,
            now,
            post.nonce,
            post.author,
            post.address,
            post.reply_to.map(to_i64),
            quote,
            post.bot,
            stored
        ],
    )?;
    for file in &files {
        tx.prepare_cached("UPDATE files SET message = ?2 WHERE id = ?1")?
            .execute(params![file.id, id])?;
    }
    let message = StoredRow {
        id,
        room: post.room.clone(),
        kind: kind::MESSAGE,
        target: None,
        sender: post.sender.clone(),
        message: post.message.clone(),
        sent_at: now,
        author: post.author.clone(),
        edited_at: None,
        reactions: None,
        reply_to: quote,
        bot: post.bot,
        files: stored,
    }
    .into_item();
    items.push(message.clone());
    Ok(Outcome::Stored(message))
}

/// The files a post attaches, or why it may not ([`attachable`]).
fn attach_check(
    tx: &rusqlite::Transaction<'_>,
    post: &ValidMessage,
) -> rusqlite::Result<Result<Vec<FileInfo>, Refusal>> {
    let mut found = Vec::with_capacity(post.files.len());
    for id in &post.files {
        found.push(
            tx.prepare_cached(
                "SELECT author, message, name, size, content_type, width, height FROM files
                 WHERE id = ?1 AND size IS NOT NULL",
            )?
            .query_row([id], |row| {
                Ok(FileRow {
                    author: row.get(0)?,
                    message: row.get(1)?,
                    info: FileInfo {
                        id: id.clone(),
                        name: row.get(2)?,
                        size: row.get::<_, i64>(3)?.unsigned_abs(),
                        content_type: row.get(4)?,
                        width: row.get(5)?,
                        height: row.get(6)?,
                    },
                })
            })
            .optional()?,
        );
    }
    Ok(attachable(found, post.author.as_deref()))
}

/// Runs the `INSERT` statement `sql` and gives the new row's id: the connection's last rowid,
/// read right after (the writer is alone on its connection; a trigger's inserts do not change
/// it once the statement is done). Not `RETURNING id`: SQLite runs every `RETURNING` through
/// an ephemeral table, opened, written, read back and freed for each insert (BENCHMARKS.md).
fn insert(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(sql)?.execute(params)?;
    Ok(tx.last_insert_rowid())
}

/// The row stored under `nonce`, if any: a retried write gets its first answer again.
fn by_nonce(
    tx: &rusqlite::Transaction<'_>,
    nonce: Option<&str>,
) -> rusqlite::Result<Option<ChatMessage>> {
    let Some(nonce) = nonce else {
        return Ok(None);
    };
    tx.prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE nonce = ?1"))?
        .query_row([nonce], row_to_message)
        .optional()
}

/// Message `id` as a reply would quote it.
fn quotable(tx: &rusqlite::Transaction<'_>, id: u64) -> rusqlite::Result<Option<QuotedRow>> {
    tx.prepare_cached("SELECT room, kind, sender, author, message FROM messages WHERE id = ?1")?
        .query_row([to_i64(id)], |row| {
            Ok(QuotedRow {
                room: row.get(0)?,
                kind: row.get(1)?,
                sender: row.get(2)?,
                author: row.get(3)?,
                text: row.get(4)?,
            })
        })
        .optional()
}

/// Rewrites the quotes of message `id` in its replies: its new text, or (`None`) deleted.
fn requote(tx: &rusqlite::Transaction<'_>, id: u64, text: Option<&str>) -> rusqlite::Result<()> {
    let target = to_i64(id);
    let quote = match text {
        Some(text) => {
            let (sender, author) = tx
                .prepare_cached("SELECT sender, author FROM messages WHERE id = ?1")?
                .query_row([target], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Quote {
                id,
                sender,
                author,
                message: quoted(text),
                deleted: false,
            }
        }
        None => Quote::deleted(id),
    };
    tx.prepare_cached("UPDATE messages SET reply_to = ?2 WHERE reply_id = ?1 AND kind = 0")?
        .execute(params![target, stored_quote(&quote)])?;
    Ok(())
}

/// Message `id`'s room and author, if it is a message that is not deleted.
fn live(
    tx: &rusqlite::Transaction<'_>,
    id: u64,
) -> rusqlite::Result<Option<(String, Option<String>)>> {
    tx.prepare_cached("SELECT room, author FROM messages WHERE id = ?1 AND kind = 0")?
        .query_row([to_i64(id)], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

/// Removes message `id`'s text, sender, author, address, reactions and quote (its row stays,
/// kind 3, so its nonce still answers a retried post), drops the edit and reactions events
/// about it, marks it deleted in its replies' quotes, and adds the delete event.
fn delete_one(
    tx: &rusqlite::Transaction<'_>,
    id: u64,
    room: String,
    nonce: &Option<String>,
    now: i64,
    items: &mut Vec<ChatMessage>,
) -> rusqlite::Result<ChatMessage> {
    let target = to_i64(id);
    tx.prepare_cached(
        "UPDATE messages SET kind = 3, sender = '', message = '', author = NULL,
           address = NULL, edited_at = NULL, reactions = NULL, reply_id = NULL, reply_to = NULL,
           files = NULL
         WHERE id = ?1",
    )?
    .execute([target])?;
    // Its files go with it, bytes and all (`secure_delete` zeroes the pages they leave).
    tx.prepare_cached(
        "DELETE FROM file_chunks WHERE file IN (SELECT id FROM files WHERE message = ?1)",
    )?
    .execute([target])?;
    tx.prepare_cached("DELETE FROM files WHERE message = ?1")?
        .execute([target])?;
    requote(tx, id, None)?;
    tx.prepare_cached("DELETE FROM messages WHERE kind IN (1, 4) AND target = ?1")?
        .execute([target])?;
    Event::new(kind::DELETE, room, target, "", now).insert(tx, nonce, items)
}

/// An edit, delete or reactions event, before it has its id.
struct Event<'a> {
    kind: i64,
    room: String,
    target: i64,
    message: &'a str,
    at: i64,
    /// A reactions event's new set, as stored.
    reactions: Option<String>,
}

impl<'a> Event<'a> {
    fn new(kind: i64, room: String, target: i64, message: &'a str, at: i64) -> Self {
        Self {
            kind,
            room,
            target,
            message,
            at,
            reactions: None,
        }
    }

    fn insert(
        self,
        tx: &rusqlite::Transaction<'_>,
        nonce: &Option<String>,
        items: &mut Vec<ChatMessage>,
    ) -> rusqlite::Result<ChatMessage> {
        let id = insert(
            tx,
            "INSERT INTO messages (room, kind, target, sender, message, sent_at, nonce, reactions)
             VALUES (?1, ?2, ?3, '', ?4, ?5, ?6, ?7)",
            params![
                self.room,
                self.kind,
                self.target,
                self.message,
                self.at,
                nonce,
                self.reactions
            ],
        )?;
        let event = StoredRow {
            id,
            room: self.room,
            kind: self.kind,
            target: Some(self.target),
            sender: String::new(),
            message: self.message.to_owned(),
            sent_at: self.at,
            author: None,
            edited_at: None,
            reactions: self.reactions,
            reply_to: None,
            bot: false,
            files: None,
        }
        .into_item();
        items.push(event.clone());
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(text: &str, nonce: Option<&str>) -> Write {
        Write::Post(ValidMessage {
            room: "general".into(),
            sender: "ann".into(),
            message: text.into(),
            nonce: nonce.map(Into::into),
            ..ValidMessage::default()
        })
    }

    fn in_room(room: &str, text: &str) -> Write {
        Write::Post(ValidMessage {
            room: room.into(),
            sender: "ann".into(),
            message: text.into(),
            ..ValidMessage::default()
        })
    }

    /// What each write of a committed batch stored.
    fn stored(committed: Committed) -> Vec<ChatMessage> {
        committed
            .outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::Stored(message) => message,
                other => panic!("not stored: {other:?}"),
            })
            .collect()
    }

    /// A backend over a fresh database, and the folder that holds it.
    async fn fresh() -> (tempfile::TempDir, SqliteBackend) {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(dir.path().join("chat.db")).await;
        (dir, backend.unwrap())
    }

    #[tokio::test]
    async fn a_batch_is_stored_in_order_with_repeats_answered_by_their_first_copy() {
        let (_dir, backend) = fresh().await;
        let stored = stored(
            backend
                .commit(vec![
                    post("one", Some("nonce-0001")),
                    post("two", None),
                    post("one again", Some("nonce-0001")),
                ])
                .await
                .unwrap(),
        );
        let ids: Vec<u64> = stored.iter().map(|message| message.id).collect();
        assert_eq!(ids, [1, 2, 1]);
        assert_eq!(stored[2].message, "one");
        assert_eq!(backend.since(None, 0, 10, true).await.unwrap().len(), 2);
        assert_eq!(backend.latest(1).await.unwrap()[0].message, "two");
        backend.close().await;
    }

    /// A batch that fails part-way stores none of its posts, nor their words in the index, and
    /// the writer goes on with the next batch. (The failure here is a constraint the test adds:
    /// the post's `INSERT OR ROLLBACK` then rolls the whole transaction back at once.)
    #[tokio::test]
    async fn a_batch_failing_part_way_stores_nothing_and_the_next_one_commits() {
        let (dir, backend) = fresh().await;
        let path = dir.path().join("chat.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE UNIQUE INDEX one_dup ON messages (message) WHERE message = 'dup';",
            )
            .unwrap();
        let batch = vec![post("dup", None), post("fine", None), post("dup", None)];
        assert!(backend.commit(batch).await.is_err());
        assert!(backend.since(None, 0, 10, true).await.unwrap().is_empty());
        let after = stored(backend.commit(vec![post("after", None)]).await.unwrap());
        // Nothing of the failed batch is left, not even the ids it took.
        assert_eq!((after[0].id, after[0].message.as_str()), (1, "after"));
        let texts: Vec<String> = backend
            .since(None, 0, 10, true)
            .await
            .unwrap()
            .into_iter()
            .map(|message| message.message)
            .collect();
        assert_eq!(texts, ["after"]);
        let indexed: i64 = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'fine OR dup'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 0);
        backend.close().await;
    }

    #[tokio::test]
    async fn a_dead_writer_thread_fails_the_check_and_commits() {
        let (_dir, backend) = fresh().await;
        assert!(backend.check().await.is_ok());
        backend.crash_writer().await;
        // The thread panics on its own time; the inbox closes when it is gone.
        for _ in 0..500 {
            if backend.check().await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(matches!(
            backend.check().await,
            Err(SqliteError::WriterStopped)
        ));
        assert!(matches!(
            backend.commit(vec![post("lost", None)]).await,
            Err(SqliteError::WriterStopped)
        ));
    }

    #[tokio::test]
    async fn rooms_are_read_apart() {
        let (_dir, backend) = fresh().await;
        let batch = vec![
            in_room("a", "1"),
            in_room("b", "2"),
            in_room("a", "3"),
            in_room("c", "4"),
        ];
        backend.commit(batch).await.unwrap();
        let texts = |messages: Vec<ChatMessage>| -> Vec<String> {
            messages.into_iter().map(|m| m.message).collect()
        };
        let a_c = ["a".to_owned(), "c".to_owned()];
        assert_eq!(
            texts(backend.since(Some(&a_c), 1, 10, true).await.unwrap()),
            ["3", "4"]
        );
        assert_eq!(texts(backend.history("a", 3, 10).await.unwrap()), ["1"]);
        assert_eq!(
            texts(backend.history("a", u64::MAX, 1).await.unwrap()),
            ["3"]
        );
        let newest = backend.newest_by_room().await.unwrap();
        assert_eq!(
            newest,
            HashMap::from([("a".into(), 3), ("b".into(), 2), ("c".into(), 4)])
        );
        assert_eq!(backend.count_after("a", 0, 10).await.unwrap(), 2);
        assert_eq!(backend.count_after("a", 0, 1).await.unwrap(), 1);
        backend.close().await;
    }

    /// Posts are indexed for search once per batch, before any edit or delete in it (whose
    /// triggers change the index): whatever a batch mixes, the index holds each live message's
    /// current text once.
    #[tokio::test]
    async fn a_batch_mixing_posts_edits_and_deletes_leaves_the_index_right() {
        let (dir, backend) = fresh().await;
        let by_ann = |text: &str, nonce: Option<&str>| {
            Write::Post(ValidMessage {
                room: "general".into(),
                sender: "ann".into(),
                message: text.into(),
                nonce: nonce.map(Into::into),
                author: Some("annprint".into()),
                ..ValidMessage::default()
            })
        };
        let ann = || Actor::Author {
            fingerprint: "annprint".into(),
            address: None,
        };
        let batch = vec![
            by_ann("apple first", Some("nonce-1111")),
            by_ann("apple second", None),
            Write::Edit {
                id: 1,
                message: "banana first".into(),
                author: "annprint".into(),
                address: None,
                nonce: None,
            },
            by_ann("apple third", None),
            by_ann("apple first again", Some("nonce-1111")),
            Write::Delete {
                id: 2,
                by: ann(),
                nonce: None,
            },
            by_ann("apple fourth", None),
        ];
        backend.commit(batch).await.unwrap();
        let general = ["general".to_owned()];
        let (backend, general) = (&backend, &general);
        let found = |word: &str| {
            let words = [word.to_owned()];
            async move {
                let found = backend.search(&words, general, u64::MAX, 50).await.unwrap();
                found.into_iter().map(|m| m.message).collect::<Vec<_>>()
            }
        };
        assert_eq!(found("apple").await, ["apple fourth", "apple third"]);
        assert_eq!(found("banana").await, ["banana first"]);
        assert_eq!(found("second").await, Vec::<String>::new());
        // Indexed once: the edit's text is not in the index a second time from the batch.
        let reader = Connection::open(dir.path().join("chat.db")).unwrap();
        reader
            .execute_batch(
                "CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, messages_fts, row)",
            )
            .unwrap();
        let documents: i64 = reader
            .query_row("SELECT doc FROM vocab WHERE term = 'banana'", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(documents, 1);
        // And a later batch edits a message of this one: found by its new text only.
        backend
            .commit(vec![Write::Edit {
                id: 4,
                message: "cherry".into(),
                author: "annprint".into(),
                address: None,
                nonce: None,
            }])
            .await
            .unwrap();
        assert_eq!(found("apple").await, ["apple fourth"]);
        assert_eq!(found("cherry").await, ["cherry"]);
        backend.close().await;
    }

    /// A database a newer build migrated is refused by an older one (say, after a rollback),
    /// which would write rows without what the newer schema needs.
    #[tokio::test]
    async fn a_database_of_a_newer_build_is_refused() {
        let (dir, backend) = fresh().await;
        backend.close().await;
        let path = dir.path().join("chat.db");
        let newer = MIGRATIONS.len() as i64 + 1;
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", newer)
            .unwrap();
        match SqliteBackend::open(path).await {
            Err(SqliteError::Schema { found, expected }) => {
                assert_eq!((found, expected), (newer, MIGRATIONS.len() as i64));
            }
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("a newer schema was opened"),
        }
    }

    /// A database file written by the server before rooms existed (schema version 2, three
    /// messages): opening it migrates it, and its messages are `general`'s.
    #[tokio::test]
    async fn a_database_from_before_rooms_is_migrated_into_general() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/chat-v2.db");
        std::fs::copy(fixture, &path).unwrap();
        let backend = SqliteBackend::open(path).await.unwrap();
        let old = backend.history("general", u64::MAX, 10).await.unwrap();
        let texts: Vec<&str> = old.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(
            texts,
            ["before rooms 1", "before rooms 2", "before rooms 3"]
        );
        assert!(old.iter().all(|m| m.room == "general"));
        // The nonces came along: a retry of an old post is still answered by its first copy.
        let repeat = Write::Post(ValidMessage {
            room: "dev".into(),
            sender: "ann".into(),
            message: "retried".into(),
            nonce: Some("nonce-0002".into()),
            ..ValidMessage::default()
        });
        let fresh = post("new", None);
        let stored = stored(backend.commit(vec![repeat, fresh]).await.unwrap());
        assert_eq!(
            (stored[0].id, stored[1].id),
            (2, 4),
            "ids go on from the old ones"
        );
        backend.close().await;
    }
}
