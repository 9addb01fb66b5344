//! The queue between request handlers and the store's one writer, which commits whatever writes
//! (posts, edits, deletes, bans) are waiting in one transaction (group commit) and answers each
//! only after the commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

use super::{BackendFault, Outcome, StoreError, Write};

/// Posts waiting for the writer beyond this make senders wait: back-pressure, not memory growth.
const WRITE_QUEUE: usize = 4096;
/// Most messages committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// One write waiting for the writer.
pub struct Job {
    pub write: Write,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// The handlers' side.
pub struct WriteQueue {
    /// `None` once closed: dropping the sender is what lets the writer finish.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// Whether `close` was called: the store's one "closed" state, read by every query, so an
    /// atomic rather than the mutex.
    closed: AtomicBool,
}

/// The writer's side.
pub struct Jobs(mpsc::Receiver<Job>);

impl WriteQueue {
    pub fn new() -> (Self, Jobs) {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let queue = Self {
            jobs: Mutex::new(Some(tx)),
            closed: AtomicBool::new(false),
        };
        (queue, Jobs(rx))
    }

    /// Queues `write` and waits for the writer's answer.
    pub async fn submit(&self, write: Write) -> Result<Outcome, StoreError> {
        // Only an `Option` is taken or cloned under this lock: poisoning cannot leave it torn.
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        jobs.send(Job { write, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        // The writer drops the reply only if it died mid-batch: the message may or may not be
        // stored, and the client is told it failed, so it will retry.
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Takes no more posts; the writer commits those already queued, then ends.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }

    /// Whether the writer still takes posts: its end of the queue is dropped when it ends,
    /// whether it finished or panicked.
    pub fn writer_running(&self) -> bool {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|jobs| !jobs.is_closed())
    }

    /// Whether the store was closed: then every call fails with `Closed`.
    pub fn ensure_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

impl Jobs {
    /// The next batch: waits (async) for a first post, then takes what else is waiting.
    pub async fn next(&mut self, batch: &mut Vec<Job>) -> bool {
        match self.0.recv().await {
            Some(first) => self.fill(first, batch),
            None => false,
        }
    }

    fn fill(&mut self, first: Job, batch: &mut Vec<Job>) -> bool {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match self.0.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        true
    }
}

/// Splits a batch into its writes, for the backend, and its replies, for [`answer`].
pub fn split(batch: &mut Vec<Job>) -> (Vec<Write>, Vec<Reply>) {
    batch
        .drain(..)
        .map(|job| (job.write, Reply(job.reply)))
        .unzip()
}

/// Where the answer to one write goes.
pub struct Reply(oneshot::Sender<Result<Outcome, StoreError>>);

/// Answers every write of a batch: each with its outcome, or all with the fault when the
/// transaction failed and none of them is stored.
pub fn answer(replies: Vec<Reply>, committed: Result<Vec<Outcome>, BackendFault>) {
    match committed {
        Ok(outcomes) => {
            // A backend answers every write of a batch; a short answer would leave writes
            // refused as if the writer had died.
            debug_assert_eq!(outcomes.len(), replies.len(), "one outcome per write");
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.0.send(Ok(outcome));
            }
        }
        Err(fault) => {
            tracing::error!(
                error = &*fault as &dyn std::error::Error,
                messages = replies.len(),
                "commit failed"
            );
            for reply in replies {
                let _ = reply
                    .0
                    .send(Err(StoreError::Backend(BackendFault::clone(&fault))));
            }
        }
    }
}
