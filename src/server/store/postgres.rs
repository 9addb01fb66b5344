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
//! Each instance keeps the newest messages in memory (the caching layer's tail). To learn of
//! other instances' commits it `LISTEN`s on a channel that every write transaction `NOTIFY`s,
//! and tells the layer ([`Backend::news`]), which reads what is new; the layer also reads every
//! second in case a notification was lost (the listening connection dropped, the database
//! restarted).

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use futures_util::future::try_join_all;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use std::collections::HashMap;

use super::StoreError;
use super::files::{
    CHUNK_BYTES, FileRow, FileStore, PENDING_MICROS, UNATTACHED_MICROS, Upload, attachable,
    stored_files,
};
use super::{
    Actor, Asker, Backend, Bot, Committed, Outcome, QuotedRow, Refusal, RoomFilter, StoredRow,
    Verdict, Write, ban_of, ban_row, kind, may_react_in, now_micros, quote_for, react, same_toggle,
    stored_quote, stored_reactions, toggle_text, verdict,
};
use crate::protocol::{Ban, ChatMessage, FileInfo, Quote, ValidMessage, quoted};

/// Connections per instance: the writer's, the tail refresher's, and reads of old history.
const POOL_SIZE: usize = 8;
/// How long a request waits for a connection, a connection for the server, a query for its
/// answer, before the request is refused with 503.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long the listener waits before connecting again after its connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// The channel every write transaction notifies.
const CHANNEL: &str = "chat_messages";
/// Keys of the advisory locks: one serialises writers, one schema migrations. Arbitrary, but
/// fixed, and unlikely to collide with other applications sharing the database.
const WRITE_LOCK: i64 = 0x6368_6174_7772_6974; // "chatwrit"
const MIGRATE_LOCK: i64 = 0x6368_6174_6d69_6772; // "chatmigr"

/// The schema, one entry per version; `chat_schema` records how many are applied.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE chat_messages (
        id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        sender  TEXT   NOT NULL,
        message TEXT   NOT NULL,
        sent_at BIGINT NOT NULL, -- microseconds since the Unix epoch, UTC
        nonce   TEXT
    );
    CREATE UNIQUE INDEX chat_messages_by_nonce ON chat_messages (nonce) WHERE nonce IS NOT NULL;",
    // Rooms: what was stored before them is `general`'s (a constant default: no table rewrite).
    // The index serves history, syncs of some rooms, counts and each room's newest id.
    "ALTER TABLE chat_messages ADD COLUMN room TEXT NOT NULL DEFAULT 'general';
    CREATE INDEX chat_messages_by_room ON chat_messages (room, id);",
    // Identity, edits, deletes and bans: as SQLite's migration 4 (see there).
    "ALTER TABLE chat_messages ADD COLUMN kind SMALLINT NOT NULL DEFAULT 0,
        ADD COLUMN target BIGINT, ADD COLUMN author TEXT, ADD COLUMN address TEXT,
        ADD COLUMN edited_at BIGINT;
    CREATE INDEX chat_messages_by_target ON chat_messages (target) WHERE target IS NOT NULL;
    CREATE INDEX chat_messages_by_author ON chat_messages (author) WHERE author IS NOT NULL;
    CREATE INDEX chat_messages_by_address ON chat_messages (address) WHERE address IS NOT NULL;
    CREATE TABLE chat_bans (kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value));
    CREATE TABLE chat_settings (name TEXT PRIMARY KEY, value BYTEA NOT NULL);",
    // Full-text search: the words of each message's current text (none for events and deleted
    // messages) in a generated `tsvector` column, computed by the same statement that writes the
    // text, with a GIN index. The `simple` configuration: words as written, lowercased, no
    // stemming, for any language.
    "ALTER TABLE chat_messages ADD COLUMN words tsvector GENERATED ALWAYS AS
        (CASE WHEN kind = 0 THEN to_tsvector('simple', message) END) STORED;
    CREATE INDEX chat_messages_by_words ON chat_messages USING GIN (words);",
    // Reactions: a message's current set and a reactions event's new one, as JSON text (as in
    // SQLite; writers hold the write lock, so a toggle reads and writes a set alone).
    "ALTER TABLE chat_messages ADD COLUMN reactions TEXT;",
    // Replies: the id a reply answers (indexed, for rewriting quotes) and its quote as JSON.
    "ALTER TABLE chat_messages ADD COLUMN reply_id BIGINT, ADD COLUMN reply_to TEXT;
    CREATE INDEX chat_messages_by_reply ON chat_messages (reply_id) WHERE reply_id IS NOT NULL;",
    // Bots: as SQLite's last migration (see there); rooms as an array.
    "ALTER TABLE chat_messages ADD COLUMN bot BOOLEAN NOT NULL DEFAULT false;
    CREATE TABLE chat_bots (
        author   TEXT   PRIMARY KEY,
        name     TEXT   NOT NULL,
        rooms    TEXT[] NOT NULL,
        verifier TEXT   NOT NULL,
        created  BIGINT NOT NULL,
        revoked  BIGINT
    );",
    // Files: as SQLite's last migration (see there).
    "ALTER TABLE chat_messages ADD COLUMN files TEXT;
    CREATE TABLE chat_files (
        id       TEXT   PRIMARY KEY,
        author   TEXT   NOT NULL,
        address  TEXT,
        name     TEXT   NOT NULL,
        content_type TEXT,
        size     BIGINT,
        width    INTEGER,
        height   INTEGER,
        thumb    BYTEA,
        created  BIGINT NOT NULL,
        message  BIGINT
    );
    CREATE INDEX chat_files_by_message ON chat_files (message) WHERE message IS NOT NULL;
    CREATE INDEX chat_files_unattached ON chat_files (created) WHERE message IS NULL;
    CREATE INDEX chat_files_by_author ON chat_files (author);
    CREATE INDEX chat_files_by_address ON chat_files (address) WHERE address IS NOT NULL;
    CREATE TABLE chat_file_chunks (
        file  TEXT    NOT NULL,
        seq   INTEGER NOT NULL,
        bytes BYTEA   NOT NULL,
        PRIMARY KEY (file, seq)
    );",
];

/// The columns of [`StoredRow`], with `kind` as the BIGINT it reads as.
const COLS: &str = "id, room, kind::BIGINT, target, sender, message, sent_at, author, edited_at,
    reactions, reply_to, bot, files";

/// Inserts one post unless its author or address is banned or its nonce is already stored, and
/// returns the stored row (with `true` when it is new); no row: banned. Statements of one
/// transaction run in order, so a repeat later in the same batch finds the first copy too.
const INSERT: &str = "WITH banned AS (
        SELECT 1 FROM chat_bans
        WHERE (kind = 'author' AND value = $6) OR (kind = 'address' AND value = $7)
    ), earlier AS (
        SELECT id, room, kind::BIGINT, target, sender, message, sent_at, author, edited_at,
          reactions, reply_to, bot, files
        FROM chat_messages WHERE nonce = $4 AND NOT EXISTS (SELECT 1 FROM banned)
    ), inserted AS (
        INSERT INTO chat_messages
          (sender, message, sent_at, nonce, room, author, address, reply_id, reply_to, bot, files)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
        WHERE NOT EXISTS (SELECT 1 FROM earlier) AND NOT EXISTS (SELECT 1 FROM banned)
        RETURNING id, room, kind::BIGINT, target, sender, message, sent_at, author, edited_at,
          reactions, reply_to, bot, files
    )
    SELECT *, true FROM inserted UNION ALL SELECT *, false FROM earlier";
const SINCE: &str = "SELECT id, room, kind::BIGINT, target, sender, message, sent_at, author,
    edited_at, reactions, reply_to, bot, files FROM chat_messages WHERE id > $1 AND kind <= $3 AND kind <> 3
    ORDER BY id LIMIT $2";
const SINCE_IN: &str = "SELECT id, room, kind::BIGINT, target, sender, message, sent_at, author,
    edited_at, reactions, reply_to, bot, files FROM chat_messages WHERE room = ANY($1) AND id > $2 AND kind <= $4
    AND kind <> 3 ORDER BY id LIMIT $3";
const HISTORY: &str = "SELECT id, room, kind::BIGINT, target, sender, message, sent_at, author,
    edited_at, reactions, reply_to, bot, files FROM (SELECT * FROM chat_messages WHERE room = $1 AND id < $2 AND kind = 0
      ORDER BY id DESC LIMIT $3) AS page
    ORDER BY id";
const LATEST: &str = "SELECT id, room, kind::BIGINT, target, sender, message, sent_at, author,
    edited_at, reactions, reply_to, bot, files FROM
      (SELECT * FROM chat_messages WHERE kind <> 3 ORDER BY id DESC LIMIT $1) AS newest
    ORDER BY id";
const NEWEST_BY_ROOM: &str = "SELECT room, MAX(id) FROM chat_messages GROUP BY room";
const COUNT_AFTER: &str = "SELECT COUNT(*) FROM
      (SELECT 1 FROM chat_messages WHERE room = $1 AND id > $2 AND kind = 0 LIMIT $3) AS unread";
/// Search, in two steps (see [`PostgresBackend::search`]): first the newest [`SEARCH_WINDOW`]
/// messages, read backwards by id and filtered...
const SEARCH_RECENT: &str = "SELECT id, room, kind::BIGINT, target, sender, message, sent_at,
    author, edited_at, reactions, reply_to, bot, files FROM
      (SELECT * FROM chat_messages WHERE id < $2 ORDER BY id DESC LIMIT $5) AS recent
    WHERE words @@ to_tsquery('simple', $1) AND room = ANY($3)
    ORDER BY id DESC LIMIT $4";
/// ...where that window ends ...
const SEARCH_FLOOR: &str =
    "SELECT id FROM chat_messages WHERE id < $1 ORDER BY id DESC OFFSET $2 LIMIT 1";
/// ...and then, for words too rare to fill a page there, the index over everything older.
/// `id + 0` keeps the planner from walking the primary key backwards instead: it guesses
/// poorly how many rows match a `tsquery`, and for words it thinks common but that are rare
/// that walk reads the whole table (200 ms on 1,000,000 messages, measured).
const SEARCH_OLDER: &str = "SELECT id, room, kind::BIGINT, target, sender, message, sent_at,
    author, edited_at, reactions, reply_to, bot, files FROM chat_messages
    WHERE words @@ to_tsquery('simple', $1) AND id < $2 AND room = ANY($3)
    ORDER BY id + 0 DESC LIMIT $4";
/// How many of the newest messages a search reads before it turns to the index.
const SEARCH_WINDOW: i64 = 5_000;
const BANNED: &str = "SELECT EXISTS (SELECT 1 FROM chat_bans
    WHERE (kind = 'author' AND value = $1) OR (kind = 'address' AND value = $2))";

/// What went wrong, with the database's own error as the cause.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("postgres: DATABASE_URL")]
    Url(#[source] tokio_postgres::Error),
    #[error("postgres: build the connection pool")]
    BuildPool(#[source] deadpool_postgres::BuildError),
    #[error("postgres: get a connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("postgres: {what}")]
    Query {
        what: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("postgres: the schema is version {found}, this build reads version {expected}")]
    Schema { found: i32, expected: i32 },
    #[error("postgres: {what}: no answer within {after:?}")]
    Timeout { what: &'static str, after: Duration },
}

pub struct PostgresBackend {
    pool: Pool,
    /// Poked when another instance may have committed.
    news: std::sync::Arc<Notify>,
    listener: JoinHandle<()>,
}

impl PostgresBackend {
    /// The schema version a migrated database records in `chat_schema`.
    pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

    /// Connects to the database `url` names, creates or migrates the schema (safely when several
    /// instances start at once) and starts listening for other instances' commits.
    pub async fn open(url: &str) -> Result<Self, PostgresError> {
        let (config, pool) = Self::pool(url)?;
        migrate(&pool).await?;
        let news = std::sync::Arc::new(Notify::new());
        let listener = tokio::spawn(listen_loop(config, std::sync::Arc::clone(&news)));
        Ok(Self {
            pool,
            news,
            listener,
        })
    }

    /// For reading only (`ajax-chat export`): no migration, no listening; refused unless the
    /// schema is the one this build knows, so that neither an older nor a newer server's
    /// database is read wrongly (or changed).
    pub async fn open_read_only(url: &str) -> Result<Self, PostgresError> {
        let (_, pool) = Self::pool(url)?;
        let client = pool.get().await.map_err(PostgresError::Pool)?;
        let found: i32 = timed(
            "read the schema version",
            client.query_opt("SELECT version FROM chat_schema", &[]),
        )
        .await?
        .map_or(0, |row| row.get(0));
        drop(client);
        if found != Self::SCHEMA_VERSION {
            return Err(PostgresError::Schema {
                found,
                expected: Self::SCHEMA_VERSION,
            });
        }
        Ok(Self {
            pool,
            news: std::sync::Arc::new(Notify::new()),
            listener: tokio::spawn(async {}),
        })
    }

    fn pool(url: &str) -> Result<(tokio_postgres::Config, Pool), PostgresError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(PostgresError::Url)?;
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
            .map_err(PostgresError::BuildPool)?;
        Ok((config, pool))
    }

    async fn connection(&self) -> Result<deadpool_postgres::Object, PostgresError> {
        self.pool.get().await.map_err(PostgresError::Pool)
    }

    /// Messages from the database.
    async fn read(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<ChatMessage>, PostgresError> {
        let client = self.connection().await?;
        let rows = timed(what, client.query(sql, params)).await?;
        rows.iter()
            .map(row_to_message)
            .collect::<Result<_, _>>()
            .map_err(|source| PostgresError::Query { what, source })
    }
}

impl Backend for PostgresBackend {
    type Error = PostgresError;

    async fn commit(&self, batch: Vec<Write>) -> Result<Committed, PostgresError> {
        let mut client = self.connection().await?;
        let work = async {
            let insert = client.prepare_cached(INSERT).await?;
            let tx = client.transaction().await?;
            // Held until COMMIT: no other writer, on any instance, takes an id in between.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .await?;
            let now = now_micros();
            let mut done = Committed::default();
            let mut rest = batch.as_slice();
            while !rest.is_empty() {
                // A run of posts goes together (pipelined), executed in order; the rarer
                // replies, edits, deletes and bans one at a time.
                let posts = rest
                    .iter()
                    .take_while(|write| {
                        matches!(write, Write::Post(post)
                            if post.reply_to.is_none() && post.files.is_empty())
                    })
                    .count();
                if posts == 0 {
                    let outcome = moderate(&tx, &insert, &rest[0], now, &mut done.items).await?;
                    done.outcomes.push(outcome);
                    rest = &rest[1..];
                    continue;
                }
                let run: Vec<&ValidMessage> = rest[..posts]
                    .iter()
                    .filter_map(|write| match write {
                        Write::Post(post) => Some(post),
                        _ => None,
                    })
                    .collect();
                // Not replies, no files: no quote, nothing attached.
                let (no_reply, no_quote): (Option<i64>, Option<String>) = (None, None);
                let no_files: Option<String> = None;
                let params: Vec<[&(dyn ToSql + Sync); 11]> = run
                    .iter()
                    .map(|post| {
                        [
                            &post.sender as &(dyn ToSql + Sync),
                            &post.message,
                            &now,
                            &post.nonce,
                            &post.room,
                            &post.author,
                            &post.address,
                            &no_reply,
                            &no_quote,
                            &post.bot,
                            &no_files,
                        ]
                    })
                    .collect();
                let answers =
                    try_join_all(params.iter().map(|params| tx.query(&insert, params))).await?;
                for rows in answers {
                    let outcome = inserted(&rows, &mut done.items)?;
                    done.outcomes.push(outcome);
                }
                rest = &rest[posts..];
            }
            tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL]).await?;
            tx.commit().await?;
            Ok(done)
        };
        timed("commit", work).await
    }

    async fn since(
        &self,
        rooms: RoomFilter<'_>,
        after: u64,
        limit: usize,
        events: bool,
    ) -> Result<Vec<ChatMessage>, PostgresError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Messages are kind 0, events 1 and 2; deleted messages (3) never leave.
        let kinds = kind::max(events) as i16;
        match rooms {
            None => {
                let what = "read messages";
                self.read(what, SINCE, &[&after, &limit, &kinds]).await
            }
            Some(rooms) => {
                let what = "read messages of rooms";
                self.read(what, SINCE_IN, &[&rooms, &after, &limit, &kinds])
                    .await
            }
        }
    }

    async fn bans(&self) -> Result<Vec<Ban>, PostgresError> {
        let what = "read the bans";
        let client = self.connection().await?;
        let sql = "SELECT kind, value FROM chat_bans ORDER BY kind, value";
        let rows = timed(what, client.query(sql, &[])).await?;
        rows.iter()
            .map(|row| Ok(ban_of(row.try_get::<_, &str>(0)?, row.try_get(1)?)))
            .collect::<Result<_, _>>()
            .map_err(|source| PostgresError::Query { what, source })
    }

    async fn bots(&self) -> Result<Vec<Bot>, PostgresError> {
        let what = "read the bots";
        let client = self.connection().await?;
        let sql = format!(
            "SELECT {BOT_COLUMNS} FROM chat_bots WHERE revoked IS NULL ORDER BY created, author"
        );
        let rows = timed(what, client.query(&sql, &[])).await?;
        rows.iter()
            .map(bot_of)
            .collect::<Result<_, _>>()
            .map_err(|source| PostgresError::Query { what, source })
    }

    async fn bot(&self, author: &str) -> Result<Option<Bot>, PostgresError> {
        let what = "read a bot";
        let client = self.connection().await?;
        let sql = format!("SELECT {BOT_COLUMNS} FROM chat_bots WHERE author = $1");
        let row = timed(what, client.query_opt(&sql, &[&author])).await?;
        row.as_ref()
            .map(bot_of)
            .transpose()
            .map_err(|source| PostgresError::Query { what, source })
    }

    async fn search(
        &self,
        words: &[String],
        rooms: &[String],
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, PostgresError> {
        // `'a' & 'b' & 'c':*`: every word, the last also as a prefix. The words are letters and
        // digits only; quoted, none is read as an operator.
        let mut query: Vec<String> = words
            .iter()
            .map(|word| format!("'{}'", word.replace('\'', "''")))
            .collect();
        if let Some(last) = query.last_mut() {
            last.push_str(":*");
        }
        let query = query.join(" & ");
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The GIN index finds every match and sorts them, which for common words is most of
        // the table (180 ms p99 on 1,000,000 messages, measured); the newest messages read
        // backwards fill a page of common words at once. So: the newest window first, and the
        // index only for what is too rare to fill the page there (then it has few rows to sort).
        let what = "search messages";
        let params: [&(dyn ToSql + Sync); 5] = [&query, &before, &rooms, &limit, &SEARCH_WINDOW];
        let mut found = self.read(what, SEARCH_RECENT, &params).await?;
        let missing = limit - found.len() as i64;
        if missing <= 0 {
            return Ok(found);
        }
        let client = self.connection().await?;
        let floor = timed(
            what,
            client.query_opt(SEARCH_FLOOR, &[&before, &(SEARCH_WINDOW - 1)]),
        )
        .await?;
        drop(client);
        let Some(floor) = floor else {
            // The window held every message there is.
            return Ok(found);
        };
        let floor: i64 = floor
            .try_get(0)
            .map_err(|source| PostgresError::Query { what, source })?;
        let older = self
            .read(what, SEARCH_OLDER, &[&query, &floor, &rooms, &missing])
            .await?;
        found.extend(older);
        Ok(found)
    }

    async fn secret(&self, fresh: [u8; 32]) -> Result<Vec<u8>, PostgresError> {
        let client = self.connection().await?;
        let work = async {
            client
                .execute(
                    "INSERT INTO chat_settings (name, value) VALUES ('fingerprint_secret', $1)
                     ON CONFLICT (name) DO NOTHING",
                    &[&&fresh[..]],
                )
                .await?;
            let row = client
                .query_one(
                    "SELECT value FROM chat_settings WHERE name = 'fingerprint_secret'",
                    &[],
                )
                .await?;
            row.try_get(0)
        };
        timed("read the fingerprint secret", work).await
    }

    async fn stored_secret(&self) -> Result<Option<Vec<u8>>, PostgresError> {
        let client = self.connection().await?;
        let sql = "SELECT value FROM chat_settings WHERE name = 'fingerprint_secret'";
        let row = timed("read the fingerprint secret", client.query_opt(sql, &[])).await?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(|source| PostgresError::Query {
                what: "read the fingerprint secret",
                source,
            })
    }

    async fn history(
        &self,
        room: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, PostgresError> {
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let what = "read a room's history";
        self.read(what, HISTORY, &[&room, &before, &limit]).await
    }

    async fn latest(&self, limit: usize) -> Result<Vec<ChatMessage>, PostgresError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("read latest messages", LATEST, &[&limit]).await
    }

    async fn newest_by_room(&self) -> Result<HashMap<String, u64>, PostgresError> {
        let what = "read each room's newest id";
        let client = self.connection().await?;
        let rows = timed(what, client.query(NEWEST_BY_ROOM, &[])).await?;
        rows.iter()
            .map(|row| {
                let newest: i64 = row.try_get(1)?;
                Ok((row.try_get(0)?, newest.unsigned_abs()))
            })
            .collect::<Result<_, _>>()
            .map_err(|source| PostgresError::Query { what, source })
    }

    async fn count_after(&self, room: &str, after: u64, cap: u64) -> Result<u64, PostgresError> {
        let what = "count a room's unread messages";
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let client = self.connection().await?;
        let row = timed(what, client.query_one(COUNT_AFTER, &[&room, &after, &cap])).await?;
        let count: i64 = row
            .try_get(0)
            .map_err(|source| PostgresError::Query { what, source })?;
        Ok(count.unsigned_abs())
    }

    async fn check(&self) -> Result<(), PostgresError> {
        let client = self.connection().await?;
        timed("health check", client.query_one("SELECT 1", &[])).await?;
        Ok(())
    }

    fn news(&self) -> Option<&Notify> {
        Some(&self.news)
    }

    async fn close(&self) {
        self.listener.abort();
        self.pool.close();
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// A query that takes longer than [`TIMEOUT`] fails rather than holding its request.
async fn timed<T>(
    what: &'static str,
    query: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, PostgresError> {
    match tokio::time::timeout(TIMEOUT, query).await {
        Ok(result) => result.map_err(|source| PostgresError::Query { what, source }),
        Err(_) => Err(PostgresError::Timeout {
            what,
            after: TIMEOUT,
        }),
    }
}

fn row_to_message(row: &Row) -> Result<ChatMessage, tokio_postgres::Error> {
    Ok(StoredRow {
        id: row.try_get(0)?,
        room: row.try_get(1)?,
        kind: row.try_get(2)?,
        target: row.try_get(3)?,
        sender: row.try_get(4)?,
        message: row.try_get(5)?,
        sent_at: row.try_get(6)?,
        author: row.try_get(7)?,
        edited_at: row.try_get(8)?,
        reactions: row.try_get(9)?,
        reply_to: row.try_get(10)?,
        bot: row.try_get(11)?,
        files: row.try_get(12)?,
    }
    .into_item())
}

/// The columns of [`bot_of`], in its order.
const BOT_COLUMNS: &str = "author, name, rooms, verifier, created, revoked IS NOT NULL";

fn bot_of(row: &Row) -> Result<Bot, tokio_postgres::Error> {
    Ok(Bot {
        author: row.try_get(0)?,
        name: row.try_get(1)?,
        rooms: row.try_get(2)?,
        verifier: row.try_get(3)?,
        created: row.try_get(4)?,
        revoked: row.try_get(5)?,
    })
}

/// What [`INSERT`] answered: the stored message (new ones also to `items`), or none: banned.
fn inserted(rows: &[Row], items: &mut Vec<ChatMessage>) -> Result<Outcome, tokio_postgres::Error> {
    Ok(match rows.first() {
        None => Outcome::Refused(Refusal::Banned),
        Some(row) => {
            let message = row_to_message(row)?;
            if row.try_get::<_, bool>(13)? {
                items.push(message.clone());
            }
            Outcome::Stored(message)
        }
    })
}

/// A reply, an edit, delete, ban or unban, in the write transaction (see SQLite's `commit` for
/// the same rules: a ban refuses first, then a repeated nonce answers, then the message must
/// exist).
async fn moderate(
    tx: &tokio_postgres::Transaction<'_>,
    insert: &tokio_postgres::Statement,
    write: &Write,
    now: i64,
    items: &mut Vec<ChatMessage>,
) -> Result<Outcome, tokio_postgres::Error> {
    Ok(match write {
        Write::Post(post) => {
            if banned(tx, post.author.as_deref(), post.address.as_deref()).await? {
                return Ok(Outcome::Refused(Refusal::Banned));
            }
            if let Some(first) = by_nonce(tx, post.nonce.as_deref()).await? {
                return Ok(Outcome::Stored(first));
            }
            // A reply answers a live message of its own room.
            let (reply_id, quote) = match post.reply_to {
                None => (None, None),
                Some(target) => {
                    let Some(quote) = quote_for(target, &post.room, quotable(tx, target).await?)
                    else {
                        return Ok(Outcome::Refused(Refusal::NoSuchMessage));
                    };
                    (Some(to_i64(target)), Some(stored_quote(&quote)))
                }
            };
            let files = match attach_check(tx, post).await? {
                Ok(files) => files,
                Err(why) => return Ok(Outcome::Refused(why)),
            };
            let stored = stored_files(&files);
            let params: [&(dyn ToSql + Sync); 11] = [
                &post.sender,
                &post.message,
                &now,
                &post.nonce,
                &post.room,
                &post.author,
                &post.address,
                &reply_id,
                &quote,
                &post.bot,
                &stored,
            ];
            let outcome = inserted(&tx.query(insert, &params).await?, items)?;
            if let Outcome::Stored(message) = &outcome {
                for file in &files {
                    tx.execute(
                        "UPDATE chat_files SET message = $2 WHERE id = $1",
                        &[&file.id, &to_i64(message.id)],
                    )
                    .await?;
                }
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
            let banned = banned(tx, Some(author.as_str()), address.as_deref()).await?;
            let repeat = by_nonce(tx, nonce.as_deref()).await?;
            match verdict(banned, repeat, live(tx, *id).await?, Asker::Owner(author)) {
                Verdict::Answer(outcome) => outcome,
                Verdict::Go(room) => {
                    let target = to_i64(*id);
                    tx.execute(
                        "UPDATE chat_messages SET message = $2, edited_at = $3 WHERE id = $1",
                        &[&target, message, &now],
                    )
                    .await?;
                    requote(tx, *id, Some(message)).await?;
                    let event = (kind::EDIT, room, target, message.as_str());
                    Outcome::Stored(insert_event(tx, event, None, nonce, now, items).await?)
                }
            }
        }
        Write::Delete { id, by, nonce } => {
            let (banned, author) = match by {
                Actor::Author {
                    fingerprint,
                    address,
                } => (
                    banned(tx, Some(fingerprint.as_str()), address.as_deref()).await?,
                    Asker::Owner(fingerprint.as_str()),
                ),
                Actor::Admin => (false, Asker::Operator),
            };
            let repeat = by_nonce(tx, nonce.as_deref()).await?;
            match verdict(banned, repeat, live(tx, *id).await?, author) {
                Verdict::Answer(outcome) => outcome,
                Verdict::Go(room) => {
                    Outcome::Stored(delete_one(tx, *id, room, nonce, now, items).await?)
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
            let banned = banned(tx, Some(author.as_str()), address.as_deref()).await?;
            let repeat = by_nonce(tx, nonce.as_deref()).await?;
            // A retry is this toggle's only if its event recorded this toggle.
            let taken = match &repeat {
                Some(first) if first.kind == crate::protocol::Kind::Reactions => {
                    let text: String = tx
                        .query_one(
                            "SELECT message FROM chat_messages WHERE id = $1",
                            &[&to_i64(first.id)],
                        )
                        .await?
                        .try_get(0)?;
                    !same_toggle(&text, author, emoji)
                }
                _ => false,
            };
            // Anyone may react to any message: no author to match.
            match verdict(banned, repeat, live(tx, *id).await?, Asker::Reader(author)) {
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
                        .query_one(
                            "SELECT reactions FROM chat_messages WHERE id = $1",
                            &[&target],
                        )
                        .await?
                        .try_get(0)?;
                    match react(stored.as_deref(), emoji, author) {
                        Err(why) => Outcome::Refused(why),
                        Ok((set, _)) => {
                            let set = stored_reactions(&set);
                            tx.execute(
                                "UPDATE chat_messages SET reactions = $2 WHERE id = $1",
                                &[&target, &set],
                            )
                            .await?;
                            let toggle = toggle_text(author, emoji);
                            let event = (kind::REACTIONS, room, target, toggle.as_str());
                            Outcome::Stored(insert_event(tx, event, set, nonce, now, items).await?)
                        }
                    }
                }
            }
        }
        Write::Ban { ban, purge } => {
            let (what, value) = ban_row(ban);
            tx.execute(
                "INSERT INTO chat_bans (kind, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&what, &value],
            )
            .await?;
            if *purge {
                let theirs = tx
                    .query(
                        "SELECT id, room FROM chat_messages
                         WHERE kind = 0 AND (author = $1 OR address = $2) ORDER BY id",
                        &[&ban.author, &ban.address],
                    )
                    .await?;
                for row in theirs {
                    let id: i64 = row.try_get(0)?;
                    let room: String = row.try_get(1)?;
                    delete_one(tx, id.unsigned_abs(), room, &None, now, items).await?;
                }
                // And the files they uploaded and have not attached: their rows first (a chunk
                // being written holds its row, and this waits for it), then every chunk of
                // them, that one included (a later statement sees it).
                let gone: Vec<String> = tx
                    .query(
                        // Locked in the order of their ids first, as a post locks files
                        // (`attach_check`); then their chunks, as an upload's end takes them.
                        "WITH theirs AS (
                           SELECT id FROM chat_files
                           WHERE message IS NULL AND (author = $1 OR address = $2)
                           ORDER BY id FOR UPDATE
                         )
                         DELETE FROM chat_files WHERE id IN (SELECT id FROM theirs) RETURNING id",
                        &[&ban.author, &ban.address],
                    )
                    .await?
                    .iter()
                    .map(|row| row.try_get(0))
                    .collect::<Result<_, _>>()?;
                tx.execute(
                    "DELETE FROM chat_file_chunks WHERE file = ANY($1)",
                    &[&gone],
                )
                .await?;
            }
            Outcome::Done
        }
        Write::Unban(ban) => {
            let (what, value) = ban_row(ban);
            let removed = tx
                .execute(
                    "DELETE FROM chat_bans WHERE kind = $1 AND value = $2",
                    &[&what, &value],
                )
                .await?;
            if removed == 0 {
                Outcome::Refused(Refusal::NotBanned)
            } else {
                Outcome::Done
            }
        }
        Write::AddBot(bot) => {
            // Writers hold the write lock: no other instance adds a bot in between.
            let taken: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM chat_bots
                     WHERE author = $1 OR (name = $2 AND revoked IS NULL))",
                    &[&bot.author, &bot.name],
                )
                .await?
                .try_get(0)?;
            if taken {
                Outcome::Refused(Refusal::BotTaken)
            } else {
                tx.execute(
                    "INSERT INTO chat_bots (author, name, rooms, verifier, created)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &bot.author,
                        &bot.name,
                        &bot.rooms,
                        &bot.verifier,
                        &bot.created,
                    ],
                )
                .await?;
                Outcome::Done
            }
        }
        Write::RevokeBot { author } => {
            let revoked = tx
                .execute(
                    "UPDATE chat_bots SET revoked = $2 WHERE author = $1 AND revoked IS NULL",
                    &[author, &now],
                )
                .await?;
            if revoked == 0 {
                Outcome::Refused(Refusal::NoSuchBot)
            } else {
                Outcome::Done
            }
        }
    })
}

fn to_i64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

async fn banned(
    tx: &tokio_postgres::Transaction<'_>,
    author: Option<&str>,
    address: Option<&str>,
) -> Result<bool, tokio_postgres::Error> {
    tx.query_one(BANNED, &[&author, &address]).await?.try_get(0)
}

async fn by_nonce(
    tx: &tokio_postgres::Transaction<'_>,
    nonce: Option<&str>,
) -> Result<Option<ChatMessage>, tokio_postgres::Error> {
    let Some(nonce) = nonce else {
        return Ok(None);
    };
    let sql = format!("SELECT {COLS} FROM chat_messages WHERE nonce = $1");
    tx.query_opt(&sql, &[&nonce])
        .await?
        .map(|row| row_to_message(&row))
        .transpose()
}

/// The files a post attaches, or why it may not ([`attachable`]).
async fn attach_check(
    tx: &tokio_postgres::Transaction<'_>,
    post: &ValidMessage,
) -> Result<Result<Vec<FileInfo>, Refusal>, tokio_postgres::Error> {
    if post.files.is_empty() {
        return Ok(attachable(Vec::new(), post.author.as_deref()));
    }
    // Locked, so that the sweep cannot remove them before this post commits; all at once, in
    // the order of their ids, as a purge locks them. (The sweep skips locked rows, so it never
    // waits on a batch of posts, whatever order the batch's posts take their files in.)
    let ids: Vec<&str> = post.files.iter().map(String::as_str).collect();
    tx.execute(
        "SELECT 1 FROM chat_files WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&ids],
    )
    .await?;
    let mut found = Vec::with_capacity(post.files.len());
    for id in &post.files {
        let row = tx
            .query_opt(
                "SELECT author, message, name, size, content_type, width, height FROM chat_files
                 WHERE id = $1 AND size IS NOT NULL",
                &[id],
            )
            .await?;
        found.push(match row {
            None => None,
            Some(row) => Some(FileRow {
                author: row.try_get(0)?,
                message: row.try_get(1)?,
                info: file_info(id, &row, 2)?,
            }),
        });
    }
    Ok(attachable(found, post.author.as_deref()))
}

/// A file's description from `name, size, content_type, width, height` at `at` on.
fn file_info(id: &str, row: &Row, at: usize) -> Result<FileInfo, tokio_postgres::Error> {
    let pixels = |column: usize| -> Result<Option<u32>, tokio_postgres::Error> {
        Ok(row
            .try_get::<_, Option<i32>>(column)?
            .map(|n| n.unsigned_abs()))
    };
    Ok(FileInfo {
        id: id.to_owned(),
        name: row.try_get(at)?,
        size: row.try_get::<_, i64>(at + 1)?.unsigned_abs(),
        content_type: row.try_get(at + 2)?,
        width: pixels(at + 3)?,
        height: pixels(at + 4)?,
    })
}

#[async_trait::async_trait]
impl FileStore for PostgresBackend {
    async fn begin_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        let client = self.connection().await.map_err(StoreError::backend)?;
        timed("begin an upload", async {
            client
                .execute(
                    "INSERT INTO chat_files (id, author, address, name, created)
                 VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &upload.id,
                        &upload.author,
                        &upload.address,
                        &upload.name,
                        &upload.created,
                    ],
                )
                .await
                .map(drop)
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn put_chunk(&self, id: &str, seq: u32, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let seq = i32::try_from(seq).unwrap_or(i32::MAX);
        let client = self.connection().await.map_err(StoreError::backend)?;
        let stored = timed(
            "store a chunk",
            client.execute(
                "INSERT INTO chat_file_chunks (file, seq, bytes)
                 SELECT $1, $2, $3 WHERE EXISTS
                   (SELECT 1 FROM chat_files WHERE id = $1 AND size IS NULL FOR KEY SHARE)
                 ON CONFLICT (file, seq) DO UPDATE SET bytes = excluded.bytes",
                &[&id, &seq, &bytes],
            ),
        )
        .await
        .map_err(StoreError::backend)?;
        Ok(stored > 0)
    }

    async fn finish_upload(
        &self,
        file: &FileInfo,
        thumb: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let chunks = i32::try_from(file.size.div_ceil(CHUNK_BYTES as u64)).unwrap_or(i32::MAX);
        let size = i64::try_from(file.size).unwrap_or(i64::MAX);
        let pixels = |n: Option<u32>| n.and_then(|n| i32::try_from(n).ok());
        let (width, height) = (pixels(file.width), pixels(file.height));
        let mut client = self.connection().await.map_err(StoreError::backend)?;
        timed("finish an upload", async {
            let tx = client.transaction().await?;
            // The row before its chunks, the order a purge takes them in.
            tx.execute(
                "SELECT 1 FROM chat_files WHERE id = $1 FOR UPDATE",
                &[&file.id],
            )
            .await?;
            tx.execute(
                "DELETE FROM chat_file_chunks WHERE file = $1 AND seq >= $2",
                &[&file.id, &chunks],
            )
            .await?;
            let finished = tx
                .execute(
                    "UPDATE chat_files SET size = $2, content_type = $3, width = $4, height = $5,
                       thumb = $6
                     WHERE id = $1 AND size IS NULL",
                    &[&file.id, &size, &file.content_type, &width, &height, &thumb],
                )
                .await?;
            tx.commit().await.map(|()| finished > 0)
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn drop_upload(&self, id: &str) -> Result<(), StoreError> {
        let mut client = self.connection().await.map_err(StoreError::backend)?;
        timed("drop an upload", async {
            let tx = client.transaction().await?;
            // The row before its chunks, the order a purge takes them in.
            tx.execute("SELECT 1 FROM chat_files WHERE id = $1 FOR UPDATE", &[&id])
                .await?;
            tx.execute("DELETE FROM chat_file_chunks WHERE file = $1", &[&id])
                .await?;
            tx.execute(
                "DELETE FROM chat_files WHERE id = $1 AND size IS NULL",
                &[&id],
            )
            .await?;
            tx.commit().await
        })
        .await
        .map_err(StoreError::backend)
    }

    async fn file(&self, id: &str) -> Result<Option<FileInfo>, StoreError> {
        let client = self.connection().await.map_err(StoreError::backend)?;
        let row = timed(
            "read a file",
            client.query_opt(
                "SELECT name, size, content_type, width, height FROM chat_files
                 WHERE id = $1 AND size IS NOT NULL",
                &[&id],
            ),
        )
        .await
        .map_err(StoreError::backend)?;
        row.map(|row| file_info(id, &row, 0))
            .transpose()
            .map_err(|source| {
                StoreError::backend(PostgresError::Query {
                    what: "read a file",
                    source,
                })
            })
    }

    async fn chunk(&self, id: &str, seq: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let seq = i32::try_from(seq).unwrap_or(i32::MAX);
        self.bytes(
            "read a chunk",
            "SELECT bytes FROM chat_file_chunks WHERE file = $1 AND seq = $2",
            &[&id, &seq],
        )
        .await
    }

    async fn thumb(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bytes(
            "read a thumbnail",
            "SELECT thumb FROM chat_files WHERE id = $1 AND size IS NOT NULL AND thumb IS NOT NULL",
            &[&id],
        )
        .await
    }

    async fn sweep_files(&self, now: i64) -> Result<u64, StoreError> {
        let (unattached, pending) = (now - UNATTACHED_MICROS, now - PENDING_MICROS);
        let mut client = self.connection().await.map_err(StoreError::backend)?;
        timed("sweep files", async {
            let tx = client.transaction().await?;
            // One statement, which waits on nobody: a row locked by a post attaching it
            // (`attach_check`), a purge or an upload is skipped, and left to the next sweep if
            // it is still stale then. (Waiting would let a batch of posts, which takes its
            // files post by post, and the sweep each hold what the other waits for.)
            let removed: i64 = tx
                .query_one(
                    "WITH stale AS (
                       SELECT id FROM chat_files WHERE message IS NULL
                         AND (created < $1 OR (size IS NULL AND created < $2))
                       FOR UPDATE SKIP LOCKED
                     ), gone AS (
                       DELETE FROM chat_files WHERE id IN (SELECT id FROM stale)
                         AND message IS NULL
                       RETURNING id
                     ), chunks AS (
                       DELETE FROM chat_file_chunks WHERE file IN (SELECT id FROM gone)
                     )
                     SELECT count(*) FROM gone",
                    &[&unattached, &pending],
                )
                .await?
                .try_get(0)?;
            // Chunks of no file (an upload that went on writing as it was removed).
            tx.execute(
                "DELETE FROM chat_file_chunks AS chunk
                 WHERE NOT EXISTS (SELECT 1 FROM chat_files WHERE id = chunk.file)",
                &[],
            )
            .await?;
            tx.commit().await.map(|()| removed.unsigned_abs())
        })
        .await
        .map_err(StoreError::backend)
    }
}

impl PostgresBackend {
    /// One `BYTEA` value, if its row is there.
    async fn bytes(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.connection().await.map_err(StoreError::backend)?;
        let row = timed(what, client.query_opt(sql, params))
            .await
            .map_err(StoreError::backend)?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(|source| StoreError::backend(PostgresError::Query { what, source }))
    }
}

async fn live(
    tx: &tokio_postgres::Transaction<'_>,
    id: u64,
) -> Result<Option<(String, Option<String>)>, tokio_postgres::Error> {
    let sql = "SELECT room, author FROM chat_messages WHERE id = $1 AND kind = 0";
    match tx.query_opt(sql, &[&to_i64(id)]).await? {
        Some(row) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
        None => Ok(None),
    }
}

/// Message `id` as a reply would quote it.
async fn quotable(
    tx: &tokio_postgres::Transaction<'_>,
    id: u64,
) -> Result<Option<QuotedRow>, tokio_postgres::Error> {
    let sql = "SELECT room, kind::BIGINT, sender, author, message FROM chat_messages WHERE id = $1";
    match tx.query_opt(sql, &[&to_i64(id)]).await? {
        Some(row) => Ok(Some(QuotedRow {
            room: row.try_get(0)?,
            kind: row.try_get(1)?,
            sender: row.try_get(2)?,
            author: row.try_get(3)?,
            text: row.try_get(4)?,
        })),
        None => Ok(None),
    }
}

/// Rewrites the quotes of message `id` in its replies: its new text, or (`None`) deleted.
async fn requote(
    tx: &tokio_postgres::Transaction<'_>,
    id: u64,
    text: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let target = to_i64(id);
    let quote = match text {
        Some(text) => {
            let row = tx
                .query_one(
                    "SELECT sender, author FROM chat_messages WHERE id = $1",
                    &[&target],
                )
                .await?;
            Quote {
                id,
                sender: row.try_get(0)?,
                author: row.try_get(1)?,
                message: quoted(text),
                deleted: false,
            }
        }
        None => Quote::deleted(id),
    };
    tx.execute(
        "UPDATE chat_messages SET reply_to = $2 WHERE reply_id = $1 AND kind = 0",
        &[&target, &stored_quote(&quote)],
    )
    .await?;
    Ok(())
}

async fn delete_one(
    tx: &tokio_postgres::Transaction<'_>,
    id: u64,
    room: String,
    nonce: &Option<String>,
    now: i64,
    items: &mut Vec<ChatMessage>,
) -> Result<ChatMessage, tokio_postgres::Error> {
    let target = to_i64(id);
    tx.execute(
        "UPDATE chat_messages SET kind = 3, sender = '', message = '', author = NULL,
           address = NULL, edited_at = NULL, reactions = NULL, reply_id = NULL, reply_to = NULL,
           files = NULL
         WHERE id = $1",
        &[&target],
    )
    .await?;
    // Its files go with it, bytes and all.
    tx.execute(
        "DELETE FROM chat_file_chunks WHERE file IN (SELECT id FROM chat_files WHERE message = $1)",
        &[&target],
    )
    .await?;
    tx.execute("DELETE FROM chat_files WHERE message = $1", &[&target])
        .await?;
    requote(tx, id, None).await?;
    tx.execute(
        "DELETE FROM chat_messages WHERE kind IN (1, 4) AND target = $1",
        &[&target],
    )
    .await?;
    insert_event(
        tx,
        (kind::DELETE, room, target, ""),
        None,
        nonce,
        now,
        items,
    )
    .await
}

/// Adds an edit, delete or reactions event `(kind, room, target, text)` to the log, with a
/// reactions event's new set.
async fn insert_event(
    tx: &tokio_postgres::Transaction<'_>,
    (event_kind, room, target, text): (i64, String, i64, &str),
    reactions: Option<String>,
    nonce: &Option<String>,
    now: i64,
    items: &mut Vec<ChatMessage>,
) -> Result<ChatMessage, tokio_postgres::Error> {
    let sql = "INSERT INTO chat_messages
        (room, kind, target, sender, message, sent_at, nonce, reactions)
        VALUES ($1, $2, $3, '', $4, $5, $6, $7) RETURNING id";
    let small_kind = event_kind as i16;
    let row = tx
        .query_one(
            sql,
            &[&room, &small_kind, &target, &text, &now, nonce, &reactions],
        )
        .await?;
    let event = StoredRow {
        id: row.try_get(0)?,
        room,
        kind: event_kind,
        target: Some(target),
        sender: String::new(),
        message: text.to_owned(),
        sent_at: now,
        author: None,
        edited_at: None,
        reactions,
        reply_to: None,
        bot: false,
        files: None,
    }
    .into_item();
    items.push(event.clone());
    Ok(event)
}

async fn migrate(pool: &Pool) -> Result<(), PostgresError> {
    let mut client = pool.get().await.map_err(PostgresError::Pool)?;
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
        // A database a newer build has migrated is not this build's to write (as SQLite's).
        if version > PostgresBackend::SCHEMA_VERSION {
            return Ok(Some(version));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).await?;
            tx.execute("DELETE FROM chat_schema", &[]).await?;
            tx.execute(
                "INSERT INTO chat_schema (version) VALUES ($1)",
                &[&(index as i32 + 1)],
            )
            .await?;
        }
        tx.commit().await.map(|()| None)
    };
    // Longer than a query: another instance may hold the lock while it migrates.
    match tokio::time::timeout(TIMEOUT * 6, work).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(found))) => Err(PostgresError::Schema {
            found,
            expected: PostgresBackend::SCHEMA_VERSION,
        }),
        Ok(Err(source)) => Err(PostgresError::Query {
            what: "migrate",
            source,
        }),
        Err(_) => Err(PostgresError::Timeout {
            what: "migrate",
            after: TIMEOUT * 6,
        }),
    }
}

/// Keeps one connection listening on [`CHANNEL`], reconnecting after it drops.
async fn listen_loop(config: tokio_postgres::Config, news: std::sync::Arc<Notify>) {
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
                                tracing::warn!(
                                    error = &err as &dyn std::error::Error,
                                    "listening connection failed"
                                );
                                break;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        // Whatever was committed while not listening.
                        news.notify_one();
                        while notified.recv().await.is_some() {
                            news.notify_one();
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = &err as &dyn std::error::Error, "LISTEN failed")
                    }
                }
                driver.abort();
            }
            Err(err) => tracing::debug!(
                error = &err as &dyn std::error::Error,
                "listening connection: connect failed"
            ),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
