//! The newest committed messages, kept in memory so that the common syncs (a client a few
//! messages behind) and the page's first render never touch the database.
//!
//! The tail holds *every* committed message with an id above its `floor`, in id order; a read
//! that starts at or above the floor is answered from memory, an older one goes to storage.
//! Backends push each commit after it is durable and before they publish its id as the newest,
//! so a reader that saw an id also finds its message here.
//!
//! Each message is held with its JSON, encoded once when it is pushed: a sync reply copies those
//! texts together ([`Tail::since_json`]) instead of cloning every message and encoding it again
//! for every request (which `perf` showed as a fifth of a 20-message sync).

use std::collections::VecDeque;
use std::sync::RwLock;

use crate::protocol::ChatMessage;

/// How many messages the tail keeps: a full sync batch and more. A message is at most 4096
/// characters, so the worst case is about 17 MB, and up to as much again for the JSON (more
/// only for text made of control characters, which JSON escapes as six bytes each); real chats
/// use a small fraction of that.
pub const TAIL_CAPACITY: usize = 1024;

pub struct Tail {
    capacity: usize,
    inner: RwLock<Inner>,
}

struct Inner {
    /// Every committed message with an id above this is in `messages`.
    floor: u64,
    messages: VecDeque<Held>,
}

/// A message and the text `serde_json` makes of it.
struct Held {
    message: ChatMessage,
    json: Box<str>,
}

impl Held {
    fn new(message: ChatMessage) -> Self {
        let json = serde_json::to_string(&message).expect("a message encodes as JSON");
        Self {
            message,
            json: json.into(),
        }
    }
}

impl Inner {
    /// Up to `limit` held messages with an id above `after`, or `None` if some of them may be
    /// older than the tail.
    fn above(&self, after: u64, limit: usize) -> Option<impl Iterator<Item = &Held> + Clone> {
        if after < self.floor {
            return None;
        }
        let start = self
            .messages
            .partition_point(|held| held.message.id <= after);
        Some(self.messages.range(start..).take(limit))
    }
}

impl Tail {
    /// A tail over `newest`, the most recent committed messages in ascending id order; `all`
    /// says whether they are every message in storage (a young chat), so that nothing is older.
    pub fn new(capacity: usize, mut newest: Vec<ChatMessage>, all: bool) -> Self {
        let all = all && newest.len() <= capacity;
        if newest.len() > capacity {
            newest.drain(..newest.len() - capacity);
        }
        let floor = match newest.first() {
            _ if all => 0,
            Some(first) => first.id - 1,
            None => 0,
        };
        Self {
            capacity,
            inner: RwLock::new(Inner {
                floor,
                messages: newest.into_iter().map(Held::new).collect(),
            }),
        }
    }

    /// Appends newly committed messages; ids at or below the newest held (repeats of earlier
    /// posts) are skipped.
    pub fn extend<'a>(&self, committed: impl IntoIterator<Item = &'a ChatMessage>) {
        let mut inner = self.inner.write().expect("tail poisoned");
        for message in committed {
            let newest = inner
                .messages
                .back()
                .map_or(inner.floor, |last| last.message.id);
            if message.id <= newest {
                continue;
            }
            if inner.messages.len() == self.capacity
                && let Some(oldest) = inner.messages.pop_front()
            {
                inner.floor = oldest.message.id;
            }
            inner.messages.push_back(Held::new(message.clone()));
        }
    }

    /// The newest id held: everything up to it that was committed is here.
    pub fn newest(&self) -> u64 {
        let inner = self.inner.read().expect("tail poisoned");
        inner
            .messages
            .back()
            .map_or(inner.floor, |last| last.message.id)
    }

    /// Up to `limit` messages with an id above `after`, or `None` if some of them may be older
    /// than the tail.
    pub fn since(&self, after: u64, limit: usize) -> Option<Vec<ChatMessage>> {
        let inner = self.inner.read().expect("tail poisoned");
        let above = inner.above(after, limit)?;
        Some(above.map(|held| held.message.clone()).collect())
    }

    /// [`Tail::since`] as a JSON array: the same text `serde_json` makes of those messages.
    pub fn since_json(&self, after: u64, limit: usize) -> Option<String> {
        let inner = self.inner.read().expect("tail poisoned");
        let above = inner.above(after, limit)?;
        let length = above.clone().map(|held| held.json.len() + 1).sum::<usize>();
        let mut json = String::with_capacity(length + 2);
        json.push('[');
        for (n, held) in above.enumerate() {
            if n > 0 {
                json.push(',');
            }
            json.push_str(&held.json);
        }
        json.push(']');
        Some(json)
    }

    /// The `limit` newest messages, or `None` if the tail holds fewer and older ones exist.
    pub fn latest(&self, limit: usize) -> Option<Vec<ChatMessage>> {
        let inner = self.inner.read().expect("tail poisoned");
        let held = inner.messages.len();
        if held < limit && inner.floor > 0 {
            return None;
        }
        Some(
            inner
                .messages
                .range(held.saturating_sub(limit)..)
                .map(|held| held.message.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            sender: "s".into(),
            message: format!("m{id}"),
            sent_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn ids(messages: Option<Vec<ChatMessage>>) -> Option<Vec<u64>> {
        messages.map(|messages| messages.iter().map(|message| message.id).collect())
    }

    #[test]
    fn a_young_chat_is_answered_entirely_from_memory() {
        let tail = Tail::new(4, (1..=3).map(message).collect(), true);
        assert_eq!(ids(tail.since(0, 10)), Some(vec![1, 2, 3]));
        assert_eq!(ids(tail.since(1, 1)), Some(vec![2]));
        assert_eq!(ids(tail.since(3, 10)), Some(vec![]));
        assert_eq!(ids(tail.latest(50)), Some(vec![1, 2, 3]));
        assert_eq!(ids(Tail::new(4, vec![], true).since(0, 10)), Some(vec![]));
    }

    #[test]
    fn reads_older_than_the_tail_go_to_storage() {
        // Started over a database whose newest messages are 7..=10 (older ones exist).
        let tail = Tail::new(4, (5..=10).map(message).collect(), false);
        assert_eq!(ids(tail.since(6, 10)), Some(vec![7, 8, 9, 10]));
        assert_eq!(tail.since(5, 10), None, "message 6 is not held");
        assert_eq!(ids(tail.latest(2)), Some(vec![9, 10]));
        assert_eq!(tail.latest(5), None);
    }

    #[test]
    fn commits_push_out_the_oldest_and_raise_the_floor() {
        let tail = Tail::new(3, vec![], true);
        tail.extend(&(1..=5).map(message).collect::<Vec<_>>());
        assert_eq!(ids(tail.since(2, 10)), Some(vec![3, 4, 5]));
        assert_eq!(tail.since(1, 10), None);
        assert_eq!(tail.latest(4), None);
    }

    #[test]
    fn sync_json_is_what_serde_json_makes_of_the_messages() {
        let tricky = ChatMessage {
            id: 7,
            sender: "\"quoted\" \\ name".into(),
            message: "<script>alert(1)</script>\u{0}\u{1f}\n\té 😀 \u{2028}".into(),
            sent_at: "2026-01-01T00:00:00.000001Z".into(),
        };
        let tail = Tail::new(8, vec![message(5), message(6)], false);
        tail.extend(&[tricky, message(8)]);
        for (after, limit) in [(4, 10), (5, 10), (5, 2), (6, 1), (8, 10)] {
            let expected = serde_json::to_string(&tail.since(after, limit).unwrap()).unwrap();
            assert_eq!(
                tail.since_json(after, limit),
                Some(expected),
                "{after} {limit}"
            );
        }
        assert_eq!(tail.since_json(3, 10), None, "message 4 is not held");
    }

    #[test]
    fn repeats_of_earlier_posts_are_not_added_again() {
        let tail = Tail::new(8, vec![], true);
        // A batch whose third post repeats the first (same nonce): it carries the first's id.
        tail.extend(&[message(1), message(2), message(1)]);
        tail.extend(&[message(2), message(3)]);
        assert_eq!(ids(tail.since(0, 10)), Some(vec![1, 2, 3]));
    }
}
