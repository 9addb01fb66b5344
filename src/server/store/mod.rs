//! Storage of chat messages behind one small trait, so that the HTTP layer never sees SQL and
//! another backend (PostgreSQL) slots in without touching it.
//!
//! A backend chosen by URL: `sqlite://path/to/file.db` (the default, embedded) or
//! `postgres://user@host/db` (several server instances over one database).

mod postgres;
mod queue;
mod sqlite;
mod tail;

use std::sync::Arc;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::protocol::{ChatMessage, ValidMessage};

/// A fault of the storage itself. The text goes to the log, never to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage is shut down")]
    Closed,
}

/// What the chat needs from its storage.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores one message and returns it with its id, only once it is durably committed.
    /// Ids are positive, strictly increasing in commit order and never reused.
    async fn append(&self, message: ValidMessage) -> Result<ChatMessage, StoreError>;

    /// Up to `limit` messages with an id greater than `after`, ascending.
    async fn since(&self, after: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError>;

    /// [`Store::since`] as the JSON array a sync reply carries: the same text `serde_json` makes
    /// of those messages, copied from the tail's encodings where it holds them.
    async fn since_json(&self, after: u64, limit: usize) -> Result<String, StoreError>;
    /// The `limit` newest messages, ascending.
    async fn latest(&self, limit: usize) -> Result<Vec<ChatMessage>, StoreError>;

    /// The newest id known to be committed, from memory. Never above the real newest id, so a
    /// reader that trusts it to answer "nothing new" can be late but never hides a message.
    fn newest_id(&self) -> u64;

    /// Whether storage answers a query right now.
    async fn check(&self) -> Result<(), StoreError>;

    /// Finishes pending writes and closes the database; later calls fail with `Closed`.
    async fn close(&self);
}

/// Opens the backend that `url` names, creating or migrating its schema.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(Arc::new(SqliteStore::open(path.into()).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PostgresStore::open(url).await?));
    }
    Err(StoreError::Unavailable(
        "unsupported DATABASE_URL: expected sqlite://<path> or postgres://<user>@<host>/<database>"
            .into(),
    ))
}

/// Messages as a JSON array, for backends answering [`Store::since_json`] from storage.
pub(crate) fn encode(messages: &[ChatMessage]) -> String {
    serde_json::to_string(messages).expect("messages encode as JSON")
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
        .map(|since| since.as_micros() as i64)
        .unwrap_or(0)
}
