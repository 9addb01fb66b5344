//! PostgreSQL, for several server instances behind a load balancer over one database.
//!
//! The protocol's promise is that a poller asking for "ids above N" never misses a message. A
//! sequence hands out ids when rows are inserted, but transactions commit in any order, so id 12
//! could become visible before id 11 and a poller that saw 12 would skip 11 for ever. Every
//! write transaction here therefore takes one transaction-scoped advisory lock before its first
//! insert and holds it until it commits: ids are handed out and committed in the same order,
//! across all instances. Group commit (all posts waiting on this instance in one transaction)
//! keeps that lock from becoming the bottleneck.
//!
//! Each instance keeps the newest id and the newest messages in memory ([`Tail`]), as the SQLite
//! backend does. To learn of other instances' commits it `LISTEN`s on a channel that every write
//! transaction `NOTIFY`s, and reads what is new; because a notification can be lost (the
//! listening connection drops, the database restarts), it also reads the newest id once every
//! [`REFRESH_EVERY`]: a lost notification delays a reply by at most that much, never hides a
//! message, since the memory is only ever extended with everything up to an id.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use futures_util::future::try_join_all;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use super::queue::{self, Job, Jobs, MAX_BATCH, WriteQueue};
use super::tail::{TAIL_CAPACITY, Tail};
use super::{Store, StoreError, format_micros, now_micros};
use crate::protocol::{ChatMessage, ValidMessage};

/// Connections per instance: the writer's, the tail refresher's, and reads of old history.
const POOL_SIZE: usize = 8;
/// How long a request waits for a connection, a connection for the server, a query for its
/// answer, before the request is refused with 503.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a missed notification can delay news from another instance.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// The channel every write transaction notifies.
const CHANNEL: &str = "chat_messages";
/// Keys of the advisory locks: one serialises writers, one schema migrations. Arbitrary, but
/// fixed, and unlikely to collide with other applications sharing the database.
const WRITE_LOCK: i64 = 0x6368_6174_7772_6974; // "chatwrit"
const MIGRATE_LOCK: i64 = 0x6368_6174_6d69_6772; // "chatmigr"

/// The schema, one entry per version; `chat_schema` records how many are applied.
const MIGRATIONS: &[&str] = &["CREATE TABLE chat_messages (
        id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        sender  TEXT   NOT NULL,
        message TEXT   NOT NULL,
        sent_at BIGINT NOT NULL, -- microseconds since the Unix epoch, UTC
        nonce   TEXT
    );
    CREATE UNIQUE INDEX chat_messages_by_nonce ON chat_messages (nonce) WHERE nonce IS NOT NULL;"];

/// Inserts one post unless its nonce is already stored, and returns the stored row either way.
/// Statements of one transaction run in order, so a repeat later in the same batch finds the
/// first copy too.
const INSERT: &str = "WITH earlier AS (
        SELECT id, sender, message, sent_at FROM chat_messages WHERE nonce = $4
    ), inserted AS (
        INSERT INTO chat_messages (sender, message, sent_at, nonce)
        SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM earlier)
        RETURNING id, sender, message, sent_at
    )
    SELECT * FROM inserted UNION ALL SELECT * FROM earlier";
const SINCE: &str = "SELECT id, sender, message, sent_at FROM chat_messages
    WHERE id > $1 ORDER BY id LIMIT $2";
const LATEST: &str = "SELECT id, sender, message, sent_at FROM
      (SELECT * FROM chat_messages ORDER BY id DESC LIMIT $1) AS newest
    ORDER BY id";

/// What the writer, the listener and the request handlers share.
struct Shared {
    pool: Pool,
    tail: Tail,
    newest: AtomicU64,
    /// One refresh of the tail at a time, so each extends it from where the last one ended.
    refreshing: tokio::sync::Mutex<()>,
    /// Poked by notifications; the refresher reads what is new.
    news: Notify,
}

pub struct PostgresStore {
    shared: Arc<Shared>,
    queue: WriteQueue,
    writer: Mutex<Option<JoinHandle<()>>>,
    background: Vec<JoinHandle<()>>,
}

impl PostgresStore {
    /// Connects to the database `url` names, creates or migrates the schema (safely when several
    /// instances start at once) and starts the writer and the listener.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|err| StoreError::Unavailable(format!("DATABASE_URL: {err}")))?;
        config.connect_timeout(TIMEOUT);
        config.application_name("ajax-chat");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection that broke while PostgreSQL restarted is replaced, not reused.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(TIMEOUT),
                create: Some(TIMEOUT),
                recycle: Some(TIMEOUT),
            })
            .build()
            .map_err(|err| StoreError::Unavailable(format!("connection pool: {err}")))?;

        migrate(&pool).await?;
        let recent = {
            let client = pool.get().await.map_err(unavailable("connect"))?;
            let rows = timed(client.query(LATEST, &[&(TAIL_CAPACITY as i64)]))
                .await
                .map_err(unavailable("read newest messages"))?;
            rows.iter().map(row_to_message).collect::<Vec<_>>()
        };
        let newest = recent.last().map_or(0, |message| message.id);
        let all = recent.len() < TAIL_CAPACITY;
        let shared = Arc::new(Shared {
            pool,
            tail: Tail::new(TAIL_CAPACITY, recent, all),
            newest: AtomicU64::new(newest),
            refreshing: tokio::sync::Mutex::new(()),
            news: Notify::new(),
        });

        let (queue, jobs) = WriteQueue::new();
        let writer = tokio::spawn(write_loop(Arc::clone(&shared), jobs));
        let background = vec![
            tokio::spawn(listen_loop(config, Arc::clone(&shared))),
            tokio::spawn(refresh_loop(Arc::clone(&shared))),
        ];
        Ok(Self {
            shared,
            queue,
            writer: Mutex::new(Some(writer)),
            background,
        })
    }

    async fn connection(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.shared.pool.get().await.map_err(unavailable("connect"))
    }

    /// Messages from the database, for reads the tail cannot answer.
    async fn read(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let client = self.connection().await?;
        let rows = timed(client.query(sql, params))
            .await
            .map_err(unavailable(what))?;
        Ok(rows.iter().map(row_to_message).collect())
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn append(&self, message: ValidMessage) -> Result<ChatMessage, StoreError> {
        self.queue.submit(message).await
    }

    async fn since(&self, after: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        self.queue.ensure_open()?;
        if let Some(messages) = self.shared.tail.since(after, limit) {
            return Ok(messages);
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read("read messages", SINCE, &[&after, &(limit as i64)])
            .await
    }

    async fn since_json(&self, after: u64, limit: usize) -> Result<String, StoreError> {
        self.queue.ensure_open()?;
        if let Some(json) = self.shared.tail.since_json(after, limit) {
            return Ok(json);
        }
        Ok(super::encode(&self.since(after, limit).await?))
    }

    async fn latest(&self, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        self.queue.ensure_open()?;
        if let Some(messages) = self.shared.tail.latest(limit) {
            return Ok(messages);
        }
        self.read("read latest messages", LATEST, &[&(limit as i64)])
            .await
    }

    fn newest_id(&self) -> u64 {
        self.shared.newest.load(Ordering::Acquire)
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.queue.ensure_open()?;
        let client = self.connection().await?;
        timed(client.query_one("SELECT 1", &[]))
            .await
            .map_err(unavailable("health check"))?;
        Ok(())
    }

    async fn close(&self) {
        self.queue.close();
        let writer = self.writer.lock().expect("writer handle poisoned").take();
        if let Some(writer) = writer {
            // The writer commits what is queued, then ends.
            let _ = writer.await;
        }
        for task in &self.background {
            task.abort();
        }
        self.shared.pool.close();
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

/// Maps a database error to the storage fault a client sees as 503; the detail is for the log.
fn unavailable<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |err| StoreError::Unavailable(format!("postgres {what}: {err}"))
}

/// A query that takes longer than [`TIMEOUT`] fails rather than holding its request.
async fn timed<T>(
    query: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(TIMEOUT, query).await {
        Ok(result) => result.map_err(|err| describe(&err)),
        Err(_) => Err(format!("no answer within {TIMEOUT:?}")),
    }
}

/// A database error with its cause: tokio-postgres alone says only "db error".
fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    }
}

fn row_to_message(row: &Row) -> ChatMessage {
    ChatMessage {
        id: row.get::<_, i64>(0) as u64,
        sender: row.get(1),
        message: row.get(2),
        sent_at: format_micros(row.get(3)),
    }
}

async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(unavailable("connect"))?;
    let work = async {
        let tx = client.transaction().await?;
        // Instances starting at once migrate one after the other; the later ones find it done.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS chat_schema (version INTEGER NOT NULL)")
            .await?;
        let version: i32 = tx
            .query_opt("SELECT version FROM chat_schema", &[])
            .await?
            .map_or(0, |row| row.get(0));
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).await?;
            tx.execute("DELETE FROM chat_schema", &[]).await?;
            tx.execute(
                "INSERT INTO chat_schema (version) VALUES ($1)",
                &[&(index as i32 + 1)],
            )
            .await?;
        }
        tx.commit().await
    };
    // Longer than a query: another instance may hold the lock while it migrates.
    match tokio::time::timeout(TIMEOUT * 6, work).await {
        Ok(result) => result.map_err(|err| unavailable("migrate")(describe(&err))),
        Err(_) => Err(unavailable("migrate")("no answer within 30 s")),
    }
}

/// The writer: commits waiting posts in batches until the queue is closed and drained.
async fn write_loop(shared: Arc<Shared>, mut jobs: Jobs) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.next(&mut batch).await {
        // On failure the transaction rolled back (or never began): none of the batch is stored.
        let committed = commit(&shared.pool, &batch).await;
        if let Ok(stored) = &committed {
            // Into memory before replying: a client that got its status 0 and syncs on this
            // instance finds its message.
            publish(&shared, stored).await;
        }
        queue::answer(&mut batch, committed);
    }
}

async fn commit(pool: &Pool, batch: &[Job]) -> Result<Vec<ChatMessage>, String> {
    let mut client = pool.get().await.map_err(|err| err.to_string())?;
    let insert = client
        .prepare_cached(INSERT)
        .await
        .map_err(|err| err.to_string())?;
    let work = async {
        let tx = client.transaction().await?;
        // Held until COMMIT: no other writer, on any instance, takes an id in between.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .await?;
        let sent_at = now_micros();
        let params: Vec<[&(dyn ToSql + Sync); 4]> = batch
            .iter()
            .map(|job| {
                let message = &job.message;
                [
                    &message.sender as &(dyn ToSql + Sync),
                    &message.message,
                    &sent_at,
                    &message.nonce,
                ]
            })
            .collect();
        // Sent together (pipelined), executed in order.
        let rows = try_join_all(params.iter().map(|params| tx.query_one(&insert, params))).await?;
        tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL]).await?;
        tx.commit().await?;
        Ok::<_, tokio_postgres::Error>(rows.iter().map(row_to_message).collect())
    };
    timed(work).await
}

/// Makes committed messages visible to this instance's syncs: into the tail, then the newest id.
/// A batch that follows straight on from what the tail holds goes in as it is; after a gap
/// (another instance committed in between) the tail is refreshed from the database instead.
async fn publish(shared: &Shared, stored: &[ChatMessage]) {
    let _one_at_a_time = shared.refreshing.lock().await;
    let held = shared.tail.newest();
    let first_new = stored
        .iter()
        .map(|message| message.id)
        .find(|&id| id > held);
    match first_new {
        None => {}
        Some(first) if first == held + 1 => {
            shared.tail.extend(stored);
            shared
                .newest
                .fetch_max(shared.tail.newest(), Ordering::AcqRel);
        }
        Some(_) => {
            if let Err(err) = read_news(shared).await {
                tracing::warn!(error = %err, "reading other instances' messages failed");
            }
        }
    }
}

/// Reads every message above what the tail holds into it, then publishes the newest id. The
/// caller holds `refreshing`.
async fn read_news(shared: &Shared) -> Result<(), String> {
    let client = shared.pool.get().await.map_err(|err| err.to_string())?;
    loop {
        let held = shared.tail.newest();
        let after = held as i64;
        let rows = timed(client.query(SINCE, &[&after, &(TAIL_CAPACITY as i64)])).await?;
        let messages: Vec<_> = rows.iter().map(row_to_message).collect();
        // Commit order is id order, so everything up to the last id read is here.
        shared.tail.extend(&messages);
        shared
            .newest
            .fetch_max(shared.tail.newest(), Ordering::AcqRel);
        if messages.len() < TAIL_CAPACITY {
            return Ok(());
        }
    }
}

/// Reads news when notified, and every [`REFRESH_EVERY`] in case a notification was lost.
async fn refresh_loop(shared: Arc<Shared>) {
    loop {
        let _ = tokio::time::timeout(REFRESH_EVERY, shared.news.notified()).await;
        let _one_at_a_time = shared.refreshing.lock().await;
        if let Err(err) = read_news(&shared).await {
            tracing::debug!(error = %err, "refresh failed; retrying");
        }
    }
}

/// Keeps one connection listening on [`CHANNEL`], reconnecting after it drops.
async fn listen_loop(config: tokio_postgres::Config, shared: Arc<Shared>) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (notes, mut notified) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    // The connection hands out notifications as it is driven.
                    while let Some(message) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => {
                                let _ = notes.send(());
                            }
                            Ok(_) => {}
                            Err(err) => {
                                tracing::warn!(error = %err, "listening connection failed");
                                break;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        // Whatever was committed while not listening.
                        shared.news.notify_one();
                        while notified.recv().await.is_some() {
                            shared.news.notify_one();
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "LISTEN failed"),
                }
                driver.abort();
            }
            Err(err) => tracing::debug!(error = %err, "listening connection: connect failed"),
        }
        tokio::time::sleep(REFRESH_EVERY).await;
    }
}
