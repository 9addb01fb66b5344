//! The caching layer: the one [`Store`], over any [`Backend`].
//!
//! It keeps what every backend would otherwise repeat:
//! - **one writer** (a task) fed by the [`WriteQueue`]: whatever posts wait go to the backend
//!   as one batch (group commit), and each is answered only once its batch is committed;
//! - **the tail** of the newest messages and **the newest id**, so that syncs of clients that
//!   are up to date or a few messages behind, and the page, read no database at all;
//! - **the publish rule**: a commit goes into the tail *before* its id is published as the
//!   newest. A reader that trusts `newest_id()` to answer "nothing new", and reads newer ids
//!   from the tail, can then never miss a message that was published;
//! - for a database other instances write too ([`Backend::news`]), **their commits**: read into
//!   the tail when a notification says there are some, and every [`REFRESH_EVERY`] in case one
//!   was lost. Ids are handed out in commit order, so reading "everything above the newest id
//!   held" never skips a message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::task::JoinHandle;

use super::news::{Bells, News};
use super::queue::{self, Jobs, MAX_BATCH, WriteQueue};
use super::tail::{self, TAIL_CAPACITY, Tail};
use super::{Backend, BackendFault, Bot, Encoded, Outcome, RoomFilter, Store, StoreError, Write};
use crate::protocol::{Ban, ChatMessage, Kind, MAX_UNREAD, RoomIds, RoomInfo};

/// The longest a lost notification can delay news from another instance.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

pub struct CachedStore<B: Backend> {
    shared: Arc<Shared<B>>,
    queue: WriteQueue,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    /// Reads other instances' commits, for a backend that has them.
    refresher: Option<JoinHandle<()>>,
    /// The fingerprint secret, read once at start.
    secret: Vec<u8>,
}

/// What the writer, the refresher and the request handlers share.
struct Shared<B> {
    backend: B,
    tail: Tail,
    newest: AtomicU64,
    /// Held syncs wait on these, room by room; rung once a commit is published.
    bells: Bells,
    /// One change of the tail at a time, so each extends it from where the last one ended.
    publishing: tokio::sync::Mutex<()>,
    metrics: StoreMetrics,
}

/// What storage shows on `/metrics`: bumped by the writer and by failing database calls.
struct StoreMetrics {
    /// New messages committed (not events, not a retried nonce's first copy).
    messages: Counter,
    /// Each commit of a batch, from handing it to the database to its answer.
    commit_seconds: Histogram,
    /// Writes in each batch committed (group commit: how many waited together).
    commit_writes: Histogram,
    /// Database calls that failed: commits and reads.
    errors: Counter,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            messages: Counter::default(),
            // 50 us to about 3 s.
            commit_seconds: Histogram::new(exponential_buckets(0.00005, 2.0, 17)),
            // 1 to 256 writes ([`MAX_BATCH`] at most).
            commit_writes: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            errors: Counter::default(),
        }
    }
}

impl<B: Backend> CachedStore<B> {
    /// Loads the tail from `backend` and starts the writer (and the refresher, for a backend
    /// shared with other instances).
    pub async fn open(backend: B) -> Result<Self, StoreError> {
        let recent = backend
            .latest(TAIL_CAPACITY)
            .await
            .map_err(StoreError::backend)?;
        let by_room = backend
            .newest_by_room()
            .await
            .map_err(StoreError::backend)?;
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|err| StoreError::backend(std::io::Error::other(err.to_string())))?;
        let secret = backend.secret(fresh).await.map_err(StoreError::backend)?;
        let newest = recent.last().map_or(0, |message| message.id);
        let all = recent.len() < TAIL_CAPACITY;
        let tail = Tail::new(TAIL_CAPACITY, recent, all, by_room).map_err(StoreError::backend)?;
        let shared = Arc::new(Shared {
            backend,
            tail,
            newest: AtomicU64::new(newest),
            bells: Bells::default(),
            publishing: tokio::sync::Mutex::new(()),
            metrics: StoreMetrics::default(),
        });
        let (queue, jobs) = WriteQueue::new();
        let writer = tokio::spawn(write_loop(Arc::clone(&shared), jobs));
        let refresher = shared
            .backend
            .news()
            .is_some()
            .then(|| tokio::spawn(refresh_loop(Arc::clone(&shared))));
        Ok(Self {
            shared,
            queue,
            writer: tokio::sync::Mutex::new(Some(writer)),
            refresher,
            secret,
        })
    }
}

#[async_trait::async_trait]
impl<B: Backend> Store for CachedStore<B> {
    fn files(&self) -> &dyn super::FileStore {
        &self.shared.backend
    }

    async fn write(&self, write: Write) -> Result<Outcome, StoreError> {
        self.queue.submit(write).await
    }

    async fn since(
        &self,
        rooms: &[String],
        after: u64,
        limit: usize,
        events: bool,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.queue.ensure_open()?;
        match self.shared.tail.since(Some(rooms), after, limit, events) {
            Some(messages) => Ok(messages),
            None => self.shared.since(Some(rooms), after, limit, events).await,
        }
    }

    async fn since_encoded(
        &self,
        rooms: &[String],
        after: u64,
        limit: usize,
        events: bool,
    ) -> Result<Vec<Encoded>, StoreError> {
        self.queue.ensure_open()?;
        let tail = &self.shared.tail;
        if let Some(encoded) = tail.since_encoded(Some(rooms), after, limit, events) {
            return Ok(encoded);
        }
        // Older than the tail: rare (a client back after a long absence), encoded here.
        self.shared
            .since(Some(rooms), after, limit, events)
            .await?
            .iter()
            .map(tail::encode)
            .collect::<Result<_, _>>()
            .map_err(StoreError::backend)
    }

    async fn history(
        &self,
        room: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.queue.ensure_open()?;
        if let Some(messages) = self.shared.tail.history(room, before, limit) {
            return Ok(messages);
        }
        let backend = &self.shared.backend;
        backend
            .history(room, before, limit)
            .await
            .map_err(|err| self.shared.fault(err))
    }

    async fn rooms(&self, rooms: &[String], read: &RoomIds) -> Result<Vec<RoomInfo>, StoreError> {
        self.queue.ensure_open()?;
        let newest = self.shared.tail.newest_of(rooms);
        let mut infos = Vec::with_capacity(rooms.len());
        for (name, newest) in rooms.iter().zip(newest) {
            let unread = match read.get(name) {
                None => None,
                Some(after) if after >= newest => Some(0),
                Some(after) => Some(
                    match self.shared.tail.count_after(name, after, MAX_UNREAD) {
                        Some(count) => count,
                        None => {
                            let backend = &self.shared.backend;
                            backend
                                .count_after(name, after, MAX_UNREAD)
                                .await
                                .map_err(|err| self.shared.fault(err))?
                        }
                    },
                ),
            };
            infos.push(RoomInfo {
                name: name.clone(),
                newest,
                unread,
                with: None,
            });
        }
        Ok(infos)
    }

    async fn bans(&self) -> Result<Vec<Ban>, StoreError> {
        self.queue.ensure_open()?;
        let backend = &self.shared.backend;
        backend.bans().await.map_err(|err| self.shared.fault(err))
    }

    async fn bots(&self) -> Result<Vec<Bot>, StoreError> {
        self.queue.ensure_open()?;
        let backend = &self.shared.backend;
        backend.bots().await.map_err(|err| self.shared.fault(err))
    }

    async fn bot(&self, author: &str) -> Result<Option<Bot>, StoreError> {
        self.queue.ensure_open()?;
        let backend = &self.shared.backend;
        backend
            .bot(author)
            .await
            .map_err(|err| self.shared.fault(err))
    }

    async fn search(
        &self,
        words: &[String],
        rooms: &[String],
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.queue.ensure_open()?;
        let backend = &self.shared.backend;
        backend
            .search(words, rooms, before, limit)
            .await
            .map_err(|err| self.shared.fault(err))
    }

    fn secret(&self) -> &[u8] {
        &self.secret
    }

    fn news_in(&self, rooms: &[String]) -> News {
        self.shared.bells.listen(rooms)
    }

    fn direct_rooms(&self, member: &str) -> Vec<(String, u64)> {
        self.shared.tail.direct_rooms(member)
    }

    fn sweep(&self) {
        self.shared.bells.sweep();
    }

    fn newest_id(&self) -> u64 {
        self.shared.newest.load(Ordering::Acquire)
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.queue.ensure_open()?;
        if !self.queue.writer_running() {
            return Err(StoreError::WriterStopped);
        }
        let backend = &self.shared.backend;
        backend.check().await.map_err(|err| self.shared.fault(err))
    }

    async fn close(&self) {
        self.queue.close();
        if let Some(writer) = self.writer.lock().await.take() {
            // The writer commits what is queued, then ends.
            let _ = writer.await;
        }
        if let Some(refresher) = &self.refresher {
            refresher.abort();
        }
        self.shared.backend.close().await;
    }

    fn register_metrics(&self, registry: &mut Registry) {
        let metrics = &self.shared.metrics;
        registry.register(
            "messages_stored",
            "Messages committed by this instance",
            metrics.messages.clone(),
        );
        registry.register_with_unit(
            "commit_duration",
            "Time to commit one batch of writes",
            Unit::Seconds,
            metrics.commit_seconds.clone(),
        );
        registry.register(
            "commit_writes",
            "Writes committed together in one batch",
            metrics.commit_writes.clone(),
        );
        registry.register(
            "database_errors",
            "Database calls that failed (commits and reads)",
            metrics.errors.clone(),
        );
    }
}

impl<B: Backend> Drop for CachedStore<B> {
    fn drop(&mut self) {
        if let Some(refresher) = &self.refresher {
            refresher.abort();
        }
    }
}

impl<B: Backend> Shared<B> {
    /// A database call's failure, counted.
    fn fault(&self, err: B::Error) -> StoreError {
        self.metrics.errors.inc();
        StoreError::backend(err)
    }

    async fn since(
        &self,
        rooms: RoomFilter<'_>,
        after: u64,
        limit: usize,
        events: bool,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let backend = &self.backend;
        backend
            .since(rooms, after, limit, events)
            .await
            .map_err(|err| self.fault(err))
    }

    /// Makes committed items (messages and events, all new, in id order) visible: into the
    /// tail, then the newest id.
    ///
    /// When this process is the only writer its commits are all there is, so they go in as they
    /// are. Over a shared database, a batch goes in as it is only when it follows straight on
    /// from what the tail holds; after a gap (another instance committed in between) the tail
    /// reads what is new from the database instead.
    async fn publish(&self, stored: &[ChatMessage]) {
        let _one_at_a_time = self.publishing.lock().await;
        let newest_held = self.tail.newest();
        let Some(first_new) = stored.iter().map(|m| m.id).find(|&id| id > newest_held) else {
            return;
        };
        if self.backend.news().is_none() || first_new == newest_held + 1 {
            self.tail.push(stored);
            self.newest.fetch_max(self.tail.newest(), Ordering::AcqRel);
            // Last: whoever wakes finds the commit in the tail and its id published.
            self.bells.ring(stored.iter().map(|m| m.room.as_str()));
        } else if let Err(err) = self.read_news().await {
            tracing::warn!(
                error = &err as &dyn std::error::Error,
                "reading other instances' messages failed"
            );
        }
    }

    /// Reads every message above what the tail holds into it, then publishes the newest id.
    /// The caller holds `publishing`.
    async fn read_news(&self) -> Result<(), StoreError> {
        loop {
            let messages = self
                .since(None, self.tail.newest(), TAIL_CAPACITY, true)
                .await?;
            self.tail.push(&messages);
            // Commit order is id order, so everything up to the last id read is here.
            self.newest.fetch_max(self.tail.newest(), Ordering::AcqRel);
            self.bells.ring(messages.iter().map(|m| m.room.as_str()));
            if messages.len() < TAIL_CAPACITY {
                return Ok(());
            }
        }
    }
}

/// The writer: commits waiting posts in batches until the queue is closed and drained.
async fn write_loop<B: Backend>(shared: Arc<Shared<B>>, mut jobs: Jobs) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.next(&mut batch).await {
        let (writes, replies) = queue::split(&mut batch);
        let (started, size) = (Instant::now(), writes.len());
        // On failure the transaction rolled back (or never began): none of the batch is stored.
        let committed = shared.backend.commit(writes).await.map_err(|err| {
            shared.metrics.errors.inc();
            Arc::new(err) as BackendFault
        });
        let metrics = &shared.metrics;
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.commit_writes.observe(size as f64);
        let answer = match committed {
            Ok(committed) => {
                let messages = committed
                    .items
                    .iter()
                    .filter(|item| item.kind == Kind::Message);
                metrics.messages.inc_by(messages.count() as u64);
                // Published before replying: a client that got its status 0 and syncs finds
                // its message.
                shared.publish(&committed.items).await;
                Ok(committed.outcomes)
            }
            Err(fault) => Err(fault),
        };
        queue::answer(replies, answer);
    }
}

/// Reads other instances' commits when notified, and every [`REFRESH_EVERY`] in case a
/// notification was lost.
async fn refresh_loop<B: Backend>(shared: Arc<Shared<B>>) {
    let Some(news) = shared.backend.news() else {
        return;
    };
    loop {
        let _ = tokio::time::timeout(REFRESH_EVERY, news.notified()).await;
        let _one_at_a_time = shared.publishing.lock().await;
        if let Err(err) = shared.read_news().await {
            tracing::debug!(
                error = &err as &dyn std::error::Error,
                "refresh failed; retrying"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    //! The layer's rules over a backend in memory, which can also be made to fail or die.

    use super::*;
    use crate::server::store::testing::{Memory, post, post_in};
    use tokio::sync::Notify;

    fn general() -> Vec<String> {
        vec!["general".to_owned()]
    }

    #[tokio::test]
    async fn rooms_answer_from_memory_with_their_newest_ids_and_unread_counts() {
        let store = CachedStore::open(Memory::default()).await.unwrap();
        for (room, text) in [("a", "1"), ("b", "2"), ("a", "3"), ("a", "4")] {
            store.append(post_in(room, text)).await.unwrap();
        }
        store.shared.backend.rows().clear();
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let read = RoomIds(vec![("a".to_owned(), 1), ("c".to_owned(), 0)]);
        let infos = store.rooms(&names, &read).await.unwrap();
        let summary: Vec<_> = infos
            .iter()
            .map(|i| (i.name.as_str(), i.newest, i.unread))
            .collect();
        assert_eq!(
            summary,
            [("a", 4, Some(2)), ("b", 2, None), ("c", 0, Some(0))]
        );
        let texts = |messages: Vec<ChatMessage>| -> Vec<String> {
            messages.into_iter().map(|m| m.message).collect()
        };
        assert_eq!(texts(store.history("a", 4, 10).await.unwrap()), ["1", "3"]);
        assert_eq!(
            texts(store.since(&names[1..], 0, 10, true).await.unwrap()),
            ["2"]
        );
    }

    #[tokio::test]
    async fn a_commit_is_in_the_tail_before_its_id_is_published() {
        let store = CachedStore::open(Memory::default()).await.unwrap();
        let stored = store.append(post("hello")).await.unwrap();
        assert_eq!(store.newest_id(), stored.id);
        // The tail answers without the backend: empty its rows to prove it.
        store.shared.backend.rows().clear();
        assert_eq!(
            store.since(&general(), 0, 10, true).await.unwrap(),
            [stored]
        );
    }

    /// Under many concurrent writers, what queues while one batch commits goes to the backend
    /// together in the next (group commit); each write is answered only once it is in the tail,
    /// and the tail gets every commit in id order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_each_in_the_tail_when_answered() {
        const WRITERS: usize = 8;
        const EACH: usize = 100;
        let store = Arc::new(CachedStore::open(Memory::default()).await.unwrap());
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for n in 0..EACH {
                        let stored = store.append(post(&format!("{writer}:{n}"))).await.unwrap();
                        // From the tail alone, not the backend (which has it since the commit).
                        let tail = store.shared.tail.since(None, stored.id - 1, 1, true);
                        assert_eq!(
                            tail,
                            Some(vec![stored.clone()]),
                            "answered before published"
                        );
                        assert!(store.newest_id() >= stored.id);
                        ids.push(stored.id);
                    }
                    ids
                })
            })
            .collect();
        let mut all = Vec::new();
        for writer in writers {
            let ids = writer.await.unwrap();
            assert!(
                ids.is_sorted(),
                "one writer's posts are stored in its order"
            );
            all.extend(ids);
        }
        all.sort_unstable();
        let expected: Vec<u64> = (1..=(WRITERS * EACH) as u64).collect();
        assert_eq!(all, expected, "every post stored once, no id skipped");
        let tail = store
            .shared
            .tail
            .since(None, 0, WRITERS * EACH, true)
            .unwrap();
        let tail_ids: Vec<u64> = tail.iter().map(|m| m.id).collect();
        assert_eq!(
            tail_ids, expected,
            "the tail holds every commit in id order"
        );
        let batches = store.shared.backend.batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), WRITERS * EACH);
        assert!(
            batches.iter().any(|&size| size > 1),
            "concurrent writes are committed together: {batches:?}"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn a_refused_batch_is_refused_for_every_post_and_publishes_nothing() {
        let store = CachedStore::open(Memory::default()).await.unwrap();
        store.shared.backend.refuse.store(true, Ordering::Relaxed);
        let err = store.append(post("no")).await.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        assert_eq!(store.newest_id(), 0);
        assert!(
            store.check().await.is_ok(),
            "a refused batch is not a dead writer"
        );
    }

    #[tokio::test]
    async fn a_dead_writer_fails_the_health_check_and_every_post() {
        let backend = Memory {
            panic_on: Some("boom"),
            ..Memory::default()
        };
        let store = CachedStore::open(backend).await.unwrap();
        store.append(post("fine")).await.unwrap();
        assert!(store.check().await.is_ok());
        let err = store.append(post("boom")).await.unwrap_err();
        assert!(matches!(err, StoreError::WriterStopped), "{err:?}");
        assert!(matches!(
            store.check().await,
            Err(StoreError::WriterStopped)
        ));
        assert!(store.append(post("after")).await.is_err());
        // What was stored can still be read.
        assert_eq!(store.since(&general(), 0, 10, true).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn over_a_shared_database_news_and_gaps_are_read_from_it() {
        let backend = Memory {
            news: Some(Notify::new()),
            ..Memory::default()
        };
        let store = CachedStore::open(backend).await.unwrap();
        let backend = &store.shared.backend;
        // Another instance commits 1; our own commit 2 then does not follow on from the tail.
        backend.insert_elsewhere("theirs");
        let ours = store.append(post("ours")).await.unwrap();
        assert_eq!(ours.id, 2);
        assert_eq!(store.newest_id(), 2);
        let texts = |messages: Vec<ChatMessage>| -> Vec<String> {
            messages.into_iter().map(|m| m.message).collect()
        };
        assert_eq!(
            texts(store.since(&general(), 0, 10, true).await.unwrap()),
            ["theirs", "ours"]
        );
        // A notification brings the next one in without any post of ours.
        let theirs = backend.insert_elsewhere("later");
        backend.news.as_ref().unwrap().notify_one();
        tokio::time::timeout(Duration::from_secs(5), async {
            while store.newest_id() < theirs {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the refresher reads news");
        store.shared.backend.rows().clear();
        assert_eq!(
            texts(store.since(&general(), 2, 10, true).await.unwrap()),
            ["later"]
        );
    }

    #[tokio::test]
    async fn after_close_everything_fails_with_closed() {
        let store = CachedStore::open(Memory::default()).await.unwrap();
        store.close().await;
        assert!(matches!(
            store.append(post("late")).await,
            Err(StoreError::Closed)
        ));
        assert!(matches!(store.check().await, Err(StoreError::Closed)));
        assert!(matches!(
            store.since(&general(), 0, 1, true).await,
            Err(StoreError::Closed)
        ));
    }
}
