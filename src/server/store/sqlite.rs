//! The embedded default: SQLite in WAL mode with `synchronous=FULL`, so an acknowledged message
//! survives a crash, a `kill -9` or a power cut.
//!
//! SQLite calls block, so none runs on the async runtime. One writer thread owns the only
//! writing connection and commits whatever posts are waiting in one transaction (group commit:
//! one fsync for many messages), replying to each only after the commit. Reads run on
//! `spawn_blocking` over a small pool of read-only connections, which WAL lets proceed while
//! the writer commits. The newest messages are also kept in memory ([`Tail`]), so syncs of
//! clients that are up to date or a few messages behind, and the page, read no SQLite at all.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::Semaphore;

use super::queue::{self, Job, Jobs, MAX_BATCH, WriteQueue};
use super::tail::{TAIL_CAPACITY, Tail};
use super::{Store, StoreError, format_micros, now_micros};
use crate::protocol::{ChatMessage, ValidMessage};

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
];

pub struct SqliteStore {
    queue: WriteQueue,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Readers>,
    tail: Arc<Tail>,
    newest: Arc<AtomicU64>,
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates its schema.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        let opened = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let conn = open_writer(&path).map_err(|err| unavailable("open", &path, err))?;
            let newest: i64 = conn
                .query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |row| {
                    row.get(0)
                })
                .map_err(|err| unavailable("read newest id", &path, err))?;
            let recent = latest(&conn, TAIL_CAPACITY)
                .map_err(|err| unavailable("read newest messages", &path, err))?;
            Ok((conn, path, newest as u64, recent))
        })
        .await
        .map_err(|err| StoreError::Unavailable(format!("opening task failed: {err}")))??;
        let (conn, path, newest, recent) = opened;

        let all = recent.len() < TAIL_CAPACITY;
        let tail = Arc::new(Tail::new(TAIL_CAPACITY, recent, all));
        let newest = Arc::new(AtomicU64::new(newest));
        let (queue, jobs) = WriteQueue::new();
        let writer = {
            let newest = Arc::clone(&newest);
            let tail = Arc::clone(&tail);
            std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || write_loop(conn, jobs, &tail, &newest))
                .map_err(|err| StoreError::Unavailable(format!("spawn writer: {err}")))?
        };
        Ok(Self {
            queue,
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
            }),
            tail,
            newest,
        })
    }

    async fn read<T, F>(&self, what: &'static str, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let pooled = readers.idle.lock().expect("reader pool poisoned").pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&readers.path)
                    .map_err(|err| unavailable(what, &readers.path, err))?,
            };
            let result = query(&conn).map_err(|err| unavailable(what, &readers.path, err));
            // A connection that failed may be broken (file gone, disk error): open a fresh one
            // next time rather than keep it.
            if result.is_ok() {
                readers
                    .idle
                    .lock()
                    .expect("reader pool poisoned")
                    .push(conn);
            }
            result
        })
        .await
        .map_err(|err| StoreError::Unavailable(format!("{what}: task failed: {err}")))?
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn append(&self, message: ValidMessage) -> Result<ChatMessage, StoreError> {
        self.queue.submit(message).await
    }

    async fn since(&self, after: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        self.queue.ensure_open()?;
        if let Some(messages) = self.tail.since(after, limit) {
            return Ok(messages);
        }
        // Ids live in SQLite's i64; anything past its range has nothing newer.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read("read messages", move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, sender, message, sent_at FROM messages
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit as i64], row_to_message)?;
            rows.collect()
        })
        .await
    }

    async fn since_json(&self, after: u64, limit: usize) -> Result<String, StoreError> {
        self.queue.ensure_open()?;
        if let Some(json) = self.tail.since_json(after, limit) {
            return Ok(json);
        }
        Ok(super::encode(&self.since(after, limit).await?))
    }

    async fn latest(&self, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        self.queue.ensure_open()?;
        if let Some(messages) = self.tail.latest(limit) {
            return Ok(messages);
        }
        self.read("read latest messages", move |conn| latest(conn, limit))
            .await
    }

    fn newest_id(&self) -> u64 {
        self.newest.load(Ordering::Acquire)
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.queue.ensure_open()?;
        self.read("health check", |conn| {
            conn.query_row("SELECT COUNT(*) FROM messages WHERE id < 0", [], |_| Ok(()))
        })
        .await
    }

    async fn close(&self) {
        self.queue.close();
        let writer = self.writer.lock().expect("writer handle poisoned").take();
        if let Some(writer) = writer {
            // The writer drains the queue, commits, checkpoints and closes its connection.
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        self.readers.permits.close();
        self.readers
            .idle
            .lock()
            .expect("reader pool poisoned")
            .clear();
    }
}

fn unavailable(what: &str, path: &Path, err: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} ({}): {err}", path.display()))
}

fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|err| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("create {}: {err}", dir.display())),
            )
        })?;
    }
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers run while the writer commits; FULL syncs the WAL on every commit, which
    // is what makes an acknowledged message durable.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("journal_mode is {mode}, WAL is required")),
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    migrate(&mut conn)?;
    Ok(conn)
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
    let mut stmt = conn.prepare_cached(
        "SELECT id, sender, message, sent_at FROM
           (SELECT * FROM messages ORDER BY id DESC LIMIT ?1)
         ORDER BY id",
    )?;
    let rows = stmt.query_map(params![limit as i64], row_to_message)?;
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

fn row_to_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        id: row.get::<_, i64>(0)? as u64,
        sender: row.get(1)?,
        message: row.get(2)?,
        sent_at: format_micros(row.get(3)?),
    })
}

/// The writer thread: commits waiting posts in batches until the queue is closed and drained.
fn write_loop(mut conn: Connection, mut jobs: Jobs, tail: &Tail, newest: &AtomicU64) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.blocking_next(&mut batch) {
        // On failure the transaction rolled back: none of the batch is stored.
        let committed = commit(&mut conn, &batch).map_err(|err| err.to_string());
        if let Ok(stored) = &committed {
            // Into the tail before the new newest id is published: a sync that sees the id
            // must find the message.
            tail.extend(stored);
            // Repeats of earlier posts carry older ids: take the largest.
            if let Some(id) = stored.iter().map(|message| message.id).max() {
                newest.fetch_max(id, Ordering::AcqRel);
            }
        }
        queue::answer(&mut batch, committed);
    }
    if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(error = %err, "checkpoint at shutdown failed");
    }
    if let Err((_, err)) = conn.close() {
        tracing::warn!(error = %err, "closing the database failed");
    }
}

fn commit(conn: &mut Connection, batch: &[Job]) -> rusqlite::Result<Vec<ChatMessage>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let sent_at = now_micros();
    let mut stored = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO messages (sender, message, sent_at, nonce) VALUES (?1, ?2, ?3, ?4)
             RETURNING id",
        )?;
        let mut earlier = tx
            .prepare_cached("SELECT id, sender, message, sent_at FROM messages WHERE nonce = ?1")?;
        for job in batch {
            // A repeat (also one earlier in this same batch) gets its first copy back.
            if let Some(nonce) = &job.message.nonce
                && let Some(first) = earlier.query_row([nonce], row_to_message).optional()?
            {
                stored.push(first);
                continue;
            }
            let id: i64 = insert.query_row(
                params![
                    job.message.sender,
                    job.message.message,
                    sent_at,
                    job.message.nonce
                ],
                |row| row.get(0),
            )?;
            stored.push(ChatMessage {
                id: id as u64,
                sender: job.message.sender.clone(),
                message: job.message.message.clone(),
                sent_at: format_micros(sent_at),
            });
        }
    }
    tx.commit()?;
    Ok(stored)
}
