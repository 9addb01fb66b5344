//! A backend in memory for the tests of the layers above storage; it can be made to refuse
//! commits or to die, as a real backend's writer might.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use super::{Backend, Committed, Outcome, RoomFilter, Write};
use crate::protocol::{Ban, ChatMessage, ValidMessage};

#[derive(Debug, thiserror::Error)]
#[error("the test backend refused")]
pub struct Refused;

#[derive(Default)]
pub struct Memory {
    pub rows: Mutex<Vec<ChatMessage>>,
    /// A commit whose first message has this text panics.
    pub panic_on: Option<&'static str>,
    pub refuse: AtomicBool,
    pub news: Option<Notify>,
    /// How many writes each commit was handed, in order.
    pub batches: Mutex<Vec<usize>>,
}

impl Memory {
    pub fn rows(&self) -> std::sync::MutexGuard<'_, Vec<ChatMessage>> {
        self.rows.lock().unwrap()
    }

    /// A commit by "another instance": straight into the rows, as a database would.
    pub fn insert_elsewhere(&self, text: &str) -> u64 {
        self.insert("general", text)
    }

    fn insert(&self, room: &str, text: &str) -> u64 {
        let mut rows = self.rows();
        let id = rows.last().map_or(1, |last| last.id + 1);
        rows.push(message(id, room, text));
        id
    }
}

fn message(id: u64, room: &str, text: &str) -> ChatMessage {
    ChatMessage {
        id,
        room: room.into(),
        sender: "s".into(),
        message: text.into(),
        sent_at: "2026-01-01T00:00:00Z".into(),
        ..ChatMessage::default()
    }
}

pub fn post(text: &str) -> ValidMessage {
    post_in("general", text)
}

pub fn post_in(room: &str, text: &str) -> ValidMessage {
    ValidMessage {
        room: room.into(),
        sender: "s".into(),
        message: text.into(),
        ..ValidMessage::default()
    }
}

/// Files are the real backends' to test: here there are none, and none can be stored.
#[async_trait::async_trait]
impl super::FileStore for Memory {
    async fn begin_upload(&self, _: &super::Upload) -> Result<(), super::StoreError> {
        Err(super::StoreError::backend(Refused))
    }
    async fn put_chunk(&self, _: &str, _: u32, _: Vec<u8>) -> Result<bool, super::StoreError> {
        Err(super::StoreError::backend(Refused))
    }
    async fn finish_upload(
        &self,
        _: &crate::protocol::FileInfo,
        _: Option<Vec<u8>>,
    ) -> Result<bool, super::StoreError> {
        Err(super::StoreError::backend(Refused))
    }
    async fn drop_upload(&self, _: &str) -> Result<(), super::StoreError> {
        Ok(())
    }
    async fn file(&self, _: &str) -> Result<Option<crate::protocol::FileInfo>, super::StoreError> {
        Ok(None)
    }
    async fn chunk(&self, _: &str, _: u32) -> Result<Option<Vec<u8>>, super::StoreError> {
        Ok(None)
    }
    async fn thumb(&self, _: &str) -> Result<Option<Vec<u8>>, super::StoreError> {
        Ok(None)
    }
    async fn sweep_files(&self, _: i64) -> Result<u64, super::StoreError> {
        Ok(0)
    }
}

impl Backend for Memory {
    type Error = Refused;

    /// Posts only: the rules of edits, deletes and bans are the real backends' to test.
    async fn commit(&self, batch: Vec<Write>) -> Result<Committed, Refused> {
        self.batches.lock().unwrap().push(batch.len());
        // A real backend's commit takes a while, and writes queue meanwhile.
        tokio::task::yield_now().await;
        let posts: Vec<&ValidMessage> = batch
            .iter()
            .map(|write| match write {
                Write::Post(post) => Ok(post),
                _ => Err(Refused),
            })
            .collect::<Result<_, _>>()?;
        if self.panic_on.is_some_and(|text| posts[0].message == text) {
            panic!("the test backend's writer dies");
        }
        if self.refuse.load(Ordering::Relaxed) {
            return Err(Refused);
        }
        let items: Vec<ChatMessage> = posts
            .iter()
            .map(|post| self.insert(&post.room, &post.message))
            .map(|id| self.rows()[id as usize - 1].clone())
            .collect();
        Ok(Committed {
            outcomes: items.iter().cloned().map(Outcome::Stored).collect(),
            items,
        })
    }

    async fn bans(&self) -> Result<Vec<Ban>, Refused> {
        Ok(Vec::new())
    }

    async fn bots(&self) -> Result<Vec<super::Bot>, Refused> {
        Ok(Vec::new())
    }

    async fn bot(&self, _author: &str) -> Result<Option<super::Bot>, Refused> {
        Ok(None)
    }

    async fn search(
        &self,
        _words: &[String],
        _rooms: &[String],
        _before: u64,
        _limit: usize,
    ) -> Result<Vec<ChatMessage>, Refused> {
        Err(Refused)
    }

    async fn secret(&self, fresh: [u8; 32]) -> Result<Vec<u8>, Refused> {
        Ok(fresh.to_vec())
    }

    async fn stored_secret(&self) -> Result<Option<Vec<u8>>, Refused> {
        Ok(None)
    }

    async fn since(
        &self,
        rooms: RoomFilter<'_>,
        after: u64,
        limit: usize,
        _events: bool,
    ) -> Result<Vec<ChatMessage>, Refused> {
        let rows = self.rows();
        Ok(rows
            .iter()
            .filter(|row| row.id > after && rooms.is_none_or(|rooms| rooms.contains(&row.room)))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn history(
        &self,
        room: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, Refused> {
        let rows = self.rows();
        let mut page: Vec<ChatMessage> = rows
            .iter()
            .rev()
            .filter(|row| row.id < before && row.room == room)
            .take(limit)
            .cloned()
            .collect();
        page.reverse();
        Ok(page)
    }

    async fn newest_by_room(&self) -> Result<HashMap<String, u64>, Refused> {
        Ok(self
            .rows()
            .iter()
            .map(|row| (row.room.clone(), row.id))
            .collect())
    }

    async fn count_after(&self, room: &str, after: u64, cap: u64) -> Result<u64, Refused> {
        let rows = self.rows();
        let count = rows
            .iter()
            .filter(|row| row.room == room && row.id > after)
            .count();
        Ok((count as u64).min(cap))
    }

    async fn latest(&self, limit: usize) -> Result<Vec<ChatMessage>, Refused> {
        let rows = self.rows();
        Ok(rows[rows.len().saturating_sub(limit)..].to_vec())
    }

    async fn check(&self) -> Result<(), Refused> {
        Ok(())
    }

    fn news(&self) -> Option<&Notify> {
        self.news.as_ref()
    }

    async fn close(&self) {}
}
