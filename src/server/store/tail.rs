//! The newest committed messages, kept in memory so that the common syncs (a client a few
//! messages behind) and the page's first render never touch the database.
//!
//! The tail holds *every* committed message with an id above its `floor`, in id order; a read
//! that starts at or above the floor is answered from memory, an older one goes to storage.
//! The caching layer ([`super::cached`]) pushes each commit after it is durable and before it
//! publishes its id as the newest, so a reader that saw an id also finds its message here.
//!
//! Each message is held with its JSON ([`Encoded`]), encoded once, *before* the write lock is
//! taken ([`Tail::push`]): a sync reply hands those encodings to serde, which copies them into
//! the envelope, instead of cloning every message and escaping its text again for every request
//! (`perf` showed that as a fifth of a 20-message sync), and writers never make syncs wait on
//! serialisation.
//!
//! Edits, deletes and reactions are items of the log too, and the tail applies them as it takes
//! them in: an edit changes its message's text and a reactions event its reactions (encoded
//! again, under the lock: one message), a delete removes its message and the events about it;
//! an edit or delete also changes the quotes of the replies to its message. So what the tail holds
//! is always the current state, as storage would answer it.

use std::collections::{HashMap, VecDeque};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::Encoded;
use crate::protocol::{ChatMessage, Kind, direct_members};

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
    /// Every room's newest id, also of rooms whose messages are all older than the floor: what
    /// tells an up-to-date sync of any rooms "nothing new" without a scan, and `rooms` replies.
    newest_by_room: HashMap<String, u64>,
}

/// A message and the text `serde_json` makes of it.
struct Held {
    message: ChatMessage,
    json: Encoded,
}

/// `message` as the JSON every reply that carries it copies.
pub fn encode(message: &ChatMessage) -> serde_json::Result<Encoded> {
    serde_json::value::to_raw_value(message).map(Encoded::from)
}

/// Messages with their encodings, made before any lock is taken.
fn held(messages: impl IntoIterator<Item = ChatMessage>) -> serde_json::Result<Vec<Held>> {
    messages
        .into_iter()
        .map(|message| {
            Ok(Held {
                json: encode(&message)?,
                message,
            })
        })
        .collect()
}

/// Which rooms a read is about: `None` for all of them.
pub type RoomFilter<'a> = Option<&'a [String]>;

fn wanted(rooms: RoomFilter<'_>, room: &str) -> bool {
    rooms.is_none_or(|rooms| rooms.iter().any(|wanted| wanted == room))
}

impl Held {
    fn is_message(&self) -> bool {
        self.message.kind == Kind::Message
    }
}

impl Inner {
    /// Held messages of `rooms` with an id above `after`, at most `limit`, or `None` if some of
    /// them may be older than the tail.
    fn above<'a>(
        &'a self,
        rooms: RoomFilter<'a>,
        after: u64,
        limit: usize,
        events: bool,
    ) -> Option<impl Iterator<Item = &'a Held>> {
        if after < self.floor {
            return None;
        }
        // Nothing newer in those rooms (the usual poll): no scan.
        let start = if self.newest_in(rooms) <= after {
            self.messages.len()
        } else {
            self.messages
                .partition_point(|held| held.message.id <= after)
        };
        Some(
            self.messages
                .range(start..)
                .filter(move |held| {
                    (events || held.is_message()) && wanted(rooms, &held.message.room)
                })
                .take(limit),
        )
    }

    fn newest_in(&self, rooms: RoomFilter<'_>) -> u64 {
        match rooms {
            None => self.newest(),
            Some(rooms) => rooms
                .iter()
                .filter_map(|room| self.newest_by_room.get(room))
                .copied()
                .max()
                .unwrap_or(0),
        }
    }

    fn newest(&self) -> u64 {
        self.messages
            .back()
            .map_or(self.floor, |last| last.message.id)
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.messages
            .binary_search_by_key(&id, |held| held.message.id)
            .ok()
    }

    /// Changes held message `id` (if it is held) and encodes it again.
    fn change(&mut self, id: u64, change: impl FnOnce(&mut ChatMessage)) {
        let Some(at) = self.position(id) else {
            return;
        };
        let held = &mut self.messages[at];
        let mut message = held.message.clone();
        change(&mut message);
        match encode(&message) {
            Ok(json) => *held = Held { message, json },
            Err(err) => tracing::error!(error = %err, "encoding a changed message failed"),
        }
    }

    /// What an event does to the message it is about, if that is held, and to the quotes of
    /// the held replies to it.
    fn apply(&mut self, event: &ChatMessage) {
        let Some(target) = event.target else {
            return;
        };
        if matches!(event.kind, Kind::Edit | Kind::Delete) {
            let replies: Vec<u64> = self
                .messages
                .iter()
                .filter(|held| {
                    held.message
                        .reply_to
                        .as_ref()
                        .is_some_and(|q| q.id == target)
                })
                .map(|held| held.message.id)
                .collect();
            for reply in replies {
                self.change(reply, |message| {
                    if let Some(quote) = &mut message.reply_to {
                        quote.follow(event);
                    }
                });
            }
        }
        match event.kind {
            Kind::Message => {}
            Kind::Edit => self.change(target, |message| {
                message.message.clone_from(&event.message);
                message.edited_at.clone_from(&event.edited_at);
            }),
            Kind::Reactions => self.change(target, |message| {
                message.reactions = event.reactions.clone().filter(|set| !set.is_empty());
            }),
            Kind::Delete => {
                if let Some(at) = self.position(target) {
                    self.messages.remove(at);
                }
                self.messages.retain(|held| {
                    !(matches!(held.message.kind, Kind::Edit | Kind::Reactions)
                        && held.message.target == Some(target))
                });
            }
        }
    }
}

impl Tail {
    /// A tail over `newest`, the most recent committed messages in ascending id order; `all`
    /// says whether they are every message in storage (a young chat), so that nothing is older.
    /// `newest_by_room` is each room's newest id in storage.
    pub fn new(
        capacity: usize,
        mut newest: Vec<ChatMessage>,
        all: bool,
        newest_by_room: HashMap<String, u64>,
    ) -> serde_json::Result<Self> {
        let all = all && newest.len() <= capacity;
        if newest.len() > capacity {
            newest.drain(..newest.len() - capacity);
        }
        let newest = held(newest)?;
        let floor = match newest.first() {
            _ if all => 0,
            Some(first) => first.message.id.saturating_sub(1),
            None => 0,
        };
        Ok(Self {
            capacity,
            inner: RwLock::new(Inner {
                floor,
                messages: newest.into(),
                newest_by_room,
            }),
        })
    }

    // Nothing that runs under these locks can panic (pushes, pops and clones of strings; the
    // encoding happens before), so a poisoned lock cannot hold a half-made update: go on with it.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends newly committed messages, in id order; ids at or below the newest held (repeats
    /// of earlier posts) are skipped. They are encoded before the write lock is taken, so readers
    /// never wait on serialisation. Should encoding fail (it cannot, for messages of strings and
    /// numbers), the tail forgets up to the newest of them rather than claim to hold them, and
    /// reads of them go to storage.
    pub fn push(&self, committed: &[ChatMessage]) {
        let newest = self.newest();
        let fresh = committed.iter().filter(|message| message.id > newest);
        match held(fresh.cloned()) {
            Ok(held) => self.extend(held),
            Err(err) => {
                tracing::error!(error = %err, "encoding committed messages failed");
                let last = committed.iter().map(|message| message.id).max();
                self.skip_through(last.unwrap_or(newest));
                // Their rooms' newest ids still move, or a sync of them would see nothing new.
                let mut inner = self.write();
                for message in committed {
                    let newest = inner
                        .newest_by_room
                        .entry(message.room.clone())
                        .or_default();
                    *newest = (*newest).max(message.id);
                }
            }
        }
    }

    fn extend(&self, held: Vec<Held>) {
        let mut inner = self.write();
        for held in held {
            if held.message.id <= inner.newest() {
                continue;
            }
            if inner.messages.len() == self.capacity
                && let Some(oldest) = inner.messages.pop_front()
            {
                inner.floor = oldest.message.id;
            }
            inner.apply(&held.message);
            let id = held.message.id;
            match inner.newest_by_room.get_mut(&held.message.room) {
                Some(newest) => *newest = id,
                None => {
                    let room = held.message.room.clone();
                    inner.newest_by_room.insert(room, id);
                }
            }
            inner.messages.push_back(held);
        }
    }

    /// Forgets everything up to `id`: reads of anything older than what comes next go to storage.
    fn skip_through(&self, id: u64) {
        let mut inner = self.write();
        if id > inner.newest() {
            inner.messages.clear();
            inner.floor = id;
        }
    }

    /// The newest id held: everything up to it that was committed is here.
    pub fn newest(&self) -> u64 {
        self.read().newest()
    }

    /// Up to `limit` messages of `rooms` with an id above `after`, or `None` if some of them
    /// may be older than the tail.
    pub fn since(
        &self,
        rooms: RoomFilter<'_>,
        after: u64,
        limit: usize,
        events: bool,
    ) -> Option<Vec<ChatMessage>> {
        let inner = self.read();
        let above = inner.above(rooms, after, limit, events)?;
        Some(above.map(|held| held.message.clone()).collect())
    }

    /// [`Tail::since`] as the messages' encodings: one reference count each, no copy.
    pub fn since_encoded(
        &self,
        rooms: RoomFilter<'_>,
        after: u64,
        limit: usize,
        events: bool,
    ) -> Option<Vec<Encoded>> {
        let inner = self.read();
        let above = inner.above(rooms, after, limit, events)?;
        Some(above.map(|held| Encoded::clone(&held.json)).collect())
    }

    /// The `limit` newest messages of `room` with an id below `before`, ascending, or `None` if
    /// the tail holds fewer and older ones may exist.
    pub fn history(&self, room: &str, before: u64, limit: usize) -> Option<Vec<ChatMessage>> {
        let inner = self.read();
        let end = inner
            .messages
            .partition_point(|held| held.message.id < before);
        let mut page: Vec<ChatMessage> = inner
            .messages
            .range(..end)
            .rev()
            .filter(|held| held.is_message() && held.message.room == room)
            .take(limit)
            .map(|held| held.message.clone())
            .collect();
        if page.len() < limit && inner.floor > 0 {
            return None;
        }
        page.reverse();
        Some(page)
    }

    /// How many messages of `room` have an id above `after`, counting up to `cap`, or `None` if
    /// some may be older than the tail.
    pub fn count_after(&self, room: &str, after: u64, cap: u64) -> Option<u64> {
        let room = [room.to_owned()];
        let inner = self.read();
        let above = inner.above(Some(&room), after, usize::MAX, false)?;
        Some(
            above
                .take(usize::try_from(cap).unwrap_or(usize::MAX))
                .count() as u64,
        )
    }

    /// The newest id of each room in `rooms` (0 for a room without messages).
    pub fn newest_of(&self, rooms: &[String]) -> Vec<u64> {
        let inner = self.read();
        rooms
            .iter()
            .map(|room| inner.newest_by_room.get(room).copied().unwrap_or(0))
            .collect()
    }

    /// Every direct room of `member` that storage holds anything of, with its newest id,
    /// newest first. (A scan of every room's newest id: direct rooms are few per person, but
    /// all of them are looked at.)
    pub fn direct_rooms(&self, member: &str) -> Vec<(String, u64)> {
        let inner = self.read();
        let mut rooms: Vec<(String, u64)> = inner
            .newest_by_room
            .iter()
            .filter(|(room, _)| {
                direct_members(room).is_some_and(|(a, b)| a == member || b == member)
            })
            .map(|(room, newest)| (room.clone(), *newest))
            .collect();
        rooms.sort_by_key(|room| std::cmp::Reverse(room.1));
        rooms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64) -> ChatMessage {
        in_room(id, "general")
    }

    fn in_room(id: u64, room: &str) -> ChatMessage {
        ChatMessage {
            id,
            room: room.into(),
            sender: "s".into(),
            message: format!("m{id}"),
            sent_at: "2026-01-01T00:00:00Z".into(),
            ..ChatMessage::default()
        }
    }

    fn tail_of(capacity: usize, newest: impl IntoIterator<Item = ChatMessage>, all: bool) -> Tail {
        let newest: Vec<ChatMessage> = newest.into_iter().collect();
        let by_room = newest.iter().map(|m| (m.room.clone(), m.id)).collect();
        Tail::new(capacity, newest, all, by_room).unwrap()
    }

    fn since(tail: &Tail, after: u64, limit: usize) -> Option<Vec<ChatMessage>> {
        tail.since(None, after, limit, true)
    }

    fn latest(tail: &Tail, limit: usize) -> Option<Vec<ChatMessage>> {
        tail.history("general", u64::MAX, limit)
    }

    fn ids(messages: Option<Vec<ChatMessage>>) -> Option<Vec<u64>> {
        messages.map(|messages| messages.iter().map(|message| message.id).collect())
    }

    #[test]
    fn a_young_chat_is_answered_entirely_from_memory() {
        let tail = tail_of(4, (1..=3).map(message), true);
        assert_eq!(ids(since(&tail, 0, 10)), Some(vec![1, 2, 3]));
        assert_eq!(ids(since(&tail, 1, 1)), Some(vec![2]));
        assert_eq!(ids(since(&tail, 3, 10)), Some(vec![]));
        assert_eq!(ids(latest(&tail, 50)), Some(vec![1, 2, 3]));
        assert_eq!(ids(since(&tail_of(4, [], true), 0, 10)), Some(vec![]));
    }

    #[test]
    fn reads_older_than_the_tail_go_to_storage() {
        // Started over a database whose newest messages are 7..=10 (older ones exist).
        let tail = tail_of(4, (5..=10).map(message), false);
        assert_eq!(ids(since(&tail, 6, 10)), Some(vec![7, 8, 9, 10]));
        assert_eq!(since(&tail, 5, 10), None, "message 6 is not held");
        assert_eq!(ids(latest(&tail, 2)), Some(vec![9, 10]));
        assert_eq!(latest(&tail, 5), None);
    }

    #[test]
    fn commits_push_out_the_oldest_and_raise_the_floor() {
        let tail = tail_of(3, [], true);
        tail.push(&(1..=5).map(message).collect::<Vec<_>>());
        assert_eq!(ids(since(&tail, 2, 10)), Some(vec![3, 4, 5]));
        assert_eq!(since(&tail, 1, 10), None);
        assert_eq!(latest(&tail, 4), None);
    }

    #[test]
    fn skipped_commits_send_older_reads_to_storage() {
        let tail = tail_of(8, (1..=3).map(message), true);
        tail.skip_through(5);
        assert_eq!(tail.newest(), 5);
        assert_eq!(since(&tail, 3, 10), None, "4 and 5 are not held");
        assert_eq!(ids(since(&tail, 5, 10)), Some(vec![]));
        tail.push(&[message(6)]);
        assert_eq!(ids(since(&tail, 5, 10)), Some(vec![6]));
        tail.skip_through(2);
        assert_eq!(tail.newest(), 6, "never moves back");
    }

    #[test]
    fn encodings_are_what_serde_json_makes_of_the_messages() {
        let tricky = ChatMessage {
            id: 7,
            room: "general".into(),
            sender: "\"quoted\" \\ name".into(),
            message: "<script>alert(1)</script>\u{0}\u{1f}\n\té 😀 \u{2028}".into(),
            sent_at: "2026-01-01T00:00:00.000001Z".into(),
            author: Some("abcdefgh".into()),
            ..ChatMessage::default()
        };
        let tail = tail_of(8, [message(5), message(6)], false);
        tail.push(&[tricky, message(8)]);
        for (after, limit) in [(4, 10), (5, 10), (5, 2), (6, 1), (8, 10)] {
            let expected = serde_json::to_string(&since(&tail, after, limit).unwrap()).unwrap();
            let encoded =
                serde_json::to_string(&tail.since_encoded(None, after, limit, true).unwrap());
            assert_eq!(encoded.unwrap(), expected, "{after} {limit}");
        }
        assert!(
            tail.since_encoded(None, 3, 10, true).is_none(),
            "message 4 is not held"
        );
    }

    #[test]
    fn repeats_of_earlier_posts_are_not_added_again() {
        let tail = tail_of(8, [], true);
        // A batch whose third post repeats the first (same nonce): it carries the first's id.
        tail.push(&[message(1), message(2), message(1)]);
        tail.push(&[message(2), message(3)]);
        assert_eq!(ids(since(&tail, 0, 10)), Some(vec![1, 2, 3]));
    }

    #[test]
    fn rooms_are_read_apart_and_their_newest_ids_kept() {
        // Room b's newest (2) is older than the tail, which holds 3..=6.
        let messages = [
            in_room(2, "b"),
            in_room(3, "a"),
            in_room(4, "c"),
            in_room(5, "a"),
            in_room(6, "c"),
        ];
        let mut by_room: HashMap<String, u64> = HashMap::new();
        for m in &messages {
            by_room.insert(m.room.clone(), m.id);
        }
        let tail = Tail::new(4, messages[1..].to_vec(), false, by_room).unwrap();
        let rooms = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let a_c = rooms(&["a", "c"]);
        assert_eq!(
            ids(tail.since(Some(&a_c), 3, 10, true)),
            Some(vec![4, 5, 6])
        );
        assert_eq!(
            ids(tail.since(Some(&rooms(&["a"])), 2, 10, true)),
            Some(vec![3, 5])
        );
        assert_eq!(
            ids(tail.since(Some(&rooms(&["b"])), 2, 10, true)),
            Some(vec![])
        );
        assert_eq!(tail.newest_of(&rooms(&["a", "b", "c", "d"])), [5, 2, 6, 0]);
        assert_eq!(ids(tail.history("a", u64::MAX, 2)), Some(vec![3, 5]));
        assert_eq!(ids(tail.history("c", 6, 1)), Some(vec![4]));
        assert_eq!(tail.history("a", u64::MAX, 3), None, "older ones may exist");
        assert_eq!(tail.count_after("c", 3, 10), Some(2));
        assert_eq!(tail.count_after("c", 3, 1), Some(1));
        assert_eq!(tail.count_after("c", 1, 10), None);
        tail.push(&[in_room(7, "b")]);
        assert_eq!(tail.newest_of(&rooms(&["b"])), [7]);
        assert_eq!(
            ids(tail.since(Some(&rooms(&["b"])), 3, 10, true)),
            Some(vec![7])
        );
    }

    #[test]
    fn edits_and_deletes_apply_to_what_is_held_and_only_rooms_readers_see_them() {
        let tail = tail_of(8, (1..=2).map(message), true);
        let event = |id, kind, target: u64, text: &str| ChatMessage {
            id,
            room: "general".into(),
            kind,
            target: Some(target),
            message: text.into(),
            edited_at: (kind == Kind::Edit).then(|| "2026-01-02T00:00:00Z".into()),
            ..ChatMessage::default()
        };
        tail.push(&[
            event(3, Kind::Edit, 1, "fixed"),
            event(4, Kind::Edit, 2, "two"),
        ]);
        let now = since(&tail, 0, 10).unwrap();
        assert_eq!(now[0].message, "fixed");
        assert_eq!(now[0].edited_at.as_deref(), Some("2026-01-02T00:00:00Z"));
        // The JSON a sync copies changed with it.
        let json = serde_json::to_string(&tail.since_encoded(None, 0, 1, true).unwrap()).unwrap();
        assert!(
            json.contains("fixed") && json.contains("edited_at"),
            "{json}"
        );
        assert_eq!(ids(tail.since(None, 0, 10, false)), Some(vec![1, 2]));
        tail.push(&[event(5, Kind::Delete, 2, "")]);
        // Message 2 and the edit that carried its text are gone; its delete event stays.
        assert_eq!(ids(since(&tail, 0, 10)), Some(vec![1, 3, 5]));
        assert_eq!(ids(tail.since(None, 0, 10, false)), Some(vec![1]));
        assert_eq!(ids(latest(&tail, 10)), Some(vec![1]));
        assert_eq!(tail.count_after("general", 0, 10), Some(1));
        assert_eq!(tail.newest(), 5);
    }
}
