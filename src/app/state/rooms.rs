//! Moving between rooms in the page (`history.pushState`, Back and Forward), loading a room's
//! history and older pages of it, and what the reader has seen (`chat.seen` in localStorage).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::ChatState;
use crate::app::model::log::merge;
use crate::app::model::page::PAGE_HISTORY;
use crate::app::model::poll::backoff_ms;
use crate::app::model::rooms::{self, Room, room_of_path, seen_marks};
use crate::app::platform::{self, Reply};
use crate::protocol::json::to_json;
use crate::protocol::{
    ClientEnvelope, HistoryRequest, RoomIds, RoomInfo, RoomsRequest, ServerEnvelope, direct_room,
};

/// localStorage: per room, the newest id the reader has seen.
const SEEN_KEY: &str = "chat.seen";
/// How many conversations' pages a page loads to learn who they are with, and how many of
/// their newest messages.
const NAMES_ASKED: usize = 10;
const NAMES_PAGE: u32 = 20;

impl ChatState {
    fn index(self, room: &str) -> Option<usize> {
        self.rooms
            .with_untracked(|rooms| rooms.iter().position(|r| r.name == room))
    }

    /// Marks the room shown as read up to its newest message shown, and remembers it.
    pub(super) fn mark_seen(self) {
        let (Some(index), Some(newest)) = (
            self.room.with_untracked(|room| self.index(room)),
            self.messages
                .with_untracked(|kept| kept.last().map(|m| m.id)),
        ) else {
            return;
        };
        self.rooms.update(|rooms| rooms[index].read_up_to(newest));
        self.save_seen();
    }

    /// Starts from what this browser saw before: the separator in the room shown, and the
    /// unread counts of the others, which the server counts. The direct rooms this browser
    /// followed are listed at once; the server adds those it did not know.
    pub(super) fn restore_seen(self) {
        let saved = platform::load(SEEN_KEY).and_then(|text| platform::read::<RoomIds>(&text));
        let first_visit = !matches!(saved, Some(Ok(_)));
        if let Some(Ok(saved)) = saved {
            // Direct rooms only with the key that reads them.
            let me = self.existing_key().and_then(|_| self.me.get_untracked());
            self.rooms.update(|rooms| {
                rooms::add_saved_direct(rooms, &saved, me.as_deref());
                rooms::restore_seen(rooms, &saved);
            });
            let shown = self.room.get_untracked();
            if let Some(seen) = saved.get(&shown) {
                let first = self
                    .messages
                    .with_untracked(|kept| kept.iter().find(|m| m.id > seen).map(|m| m.id));
                self.marker.set(first);
            }
        }
        // A first visit: everything that exists counts as seen.
        self.mark_seen();
        spawn_local(self.count_unread(first_visit));
    }

    /// Asks the server what is unread in each room, and which direct rooms this browser's key
    /// has (a first visit counts what they hold as seen; a later one, as news since then).
    /// Until this is done, direct messages that syncs bring are not counted (`follow_direct`).
    async fn count_unread(self, first_visit: bool) {
        let key = self.existing_key();
        let me = match key {
            Some(_) => self.known_print().await,
            None => None,
        };
        let key = key.filter(|_| me.is_some());
        let read = self
            .rooms
            .with_untracked(|rooms| rooms::marks_to_ask(&seen_marks(rooms), me.as_deref()));
        let Some(infos) = self.ask_rooms(read, key.clone()).await else {
            // Not now (offline?): the syncs follow the direct rooms anyway.
            return self.follow_direct();
        };
        let Some(added) = self
            .rooms
            .try_update(|rooms| rooms::add_direct(rooms, &infos, first_visit))
        else {
            return;
        };
        let shown = self.room.get_untracked();
        self.rooms
            .try_update(|rooms| rooms::counted_by_server(rooms, &infos, &shown));
        if !added.is_empty() {
            self.save_seen();
            if !first_visit {
                // New since this browser last looked: all of them is news.
                let read = RoomIds(added.iter().map(|room| (room.clone(), 0)).collect());
                if let Some(infos) = self.ask_rooms(read, key).await {
                    self.rooms
                        .try_update(|rooms| rooms::counted_by_server(rooms, &infos, &shown));
                }
            }
        }
        self.follow_direct();
        self.learn_direct_names().await;
    }

    /// A `rooms` reply, counting from `read`.
    async fn ask_rooms(self, read: RoomIds, key: Option<String>) -> Option<Vec<RoomInfo>> {
        let ask = ClientEnvelope::Rooms(RoomsRequest {
            read: Some(read),
            key,
        });
        let exchange = platform::post(&ask).await;
        self.check_build(exchange.build.as_deref());
        match exchange.envelope() {
            Some(ServerEnvelope::Rooms(infos)) => Some(infos),
            _ => None,
        }
    }

    /// The names of the people of direct rooms this page knows only by fingerprint, from the
    /// newest page of each conversation (of the most recent few: the others are named as their
    /// messages come).
    async fn learn_direct_names(self) {
        let Some(key) = self.existing_key() else {
            return;
        };
        let unnamed: Vec<String> = self.rooms.with_untracked(|rooms| {
            let me = self.me.get_untracked();
            self.names.with_untracked(|names| {
                rooms
                    .iter()
                    .filter(|room| {
                        rooms::other_member(&room.name, me.as_deref())
                            .is_some_and(|other| names.of(other).is_none())
                    })
                    .map(|room| room.name.clone())
                    .take(NAMES_ASKED)
                    .collect()
            })
        });
        for room in unnamed {
            let ask = ClientEnvelope::History(HistoryRequest {
                room,
                before: None,
                limit: Some(NAMES_PAGE),
                key: Some(key.clone()),
            });
            if let Some(ServerEnvelope::History(page)) = platform::post(&ask).await.envelope() {
                self.learn_names(&page);
            }
        }
    }

    /// Remembers what the reader has seen of each room.
    fn save_seen(self) {
        let seen = self.rooms.with_untracked(|rooms| seen_marks(rooms));
        platform::save(SEEN_KEY, &to_json(&seen));
    }

    /// Opens the direct room of this browser's key and the key of `other` (its fingerprint),
    /// listing it if it was not (a first message will make it a conversation). Makes this
    /// browser's key if it has none. Whether it could (not without the server, which says
    /// what a key's fingerprint is).
    pub async fn message_to(self, other: String) -> bool {
        if self.key().is_none() {
            return false;
        }
        let Some(me) = self.known_print().await else {
            return false;
        };
        let room = direct_room(&me, &other);
        let listed = self.rooms.try_update(|rooms| {
            if !rooms.iter().any(|listed| listed.name == room) {
                rooms.push(Room::direct(&room));
            }
        });
        // None: the page is gone meanwhile.
        if listed.is_none() {
            return false;
        }
        self.enter(room, true);
        true
    }

    /// A direct room's page came without its messages (the server cannot know who reads
    /// it): they load with the key, the newest page with the `New messages` marker after
    /// what was seen. A permalink's message is marked there, or else (an older one) shown
    /// with those before it, as a page of the past.
    pub(super) fn open_direct_page(self) {
        let room = self.room.get_untracked();
        let seen = self.index(&room).map_or(0, |index| {
            self.rooms.with_untracked(|rooms| rooms[index].seen)
        });
        self.load(None, (seen > 0).then_some(seen), 1);
    }

    /// Shows `room` with its newest messages; `push` adds it to the session history.
    pub fn enter(self, room: String, push: bool) {
        let Some(index) = self.index(&room) else {
            return;
        };
        if push {
            platform::push_url(&format!("/r/{room}"));
        }
        let (seen, had_unread) = self
            .rooms
            .with_untracked(|rooms| (rooms[index].seen, rooms[index].unread > 0));
        self.room.set(room);
        self.messages.set(Vec::new());
        self.older.set(false);
        self.newer.set(false);
        self.focus.set(None);
        self.marker.set(None);
        self.editing.set(None);
        // A reply answers a message of its own room.
        self.replying.set(None);
        self.loaded.set(false);
        self.load(None, had_unread.then_some(seen), 1);
    }

    /// Shows message `id` if it is on the page: scrolled to and marked, as a permalink marks
    /// it, with the keyboard focus on it. Whether it was there.
    pub fn show_message(self, id: u64) -> bool {
        let here = self
            .messages
            .with_untracked(|kept| crate::app::model::log::find(kept, id).is_some());
        if here {
            self.focus.set(Some(id));
            platform::scroll_to(&format!("m{id}"));
            platform::focus(&format!("m{id}"));
        }
        here
    }

    /// The room shown at its newest messages (`Jump to newest`).
    pub fn jump_to_newest(self) {
        self.enter(self.room.get_untracked(), true);
    }

    /// Back or Forward: a room's newest page is shown in place, any other is loaded.
    pub(super) fn went_back(self) {
        match room_of_path(&platform::location()) {
            Some(room) if self.index(room).is_some() => self.enter(room.to_owned(), false),
            _ => platform::reload(),
        }
    }

    /// Loads the page of messages older than the first shown, above them.
    pub fn load_older(self) {
        if self.loading.get_value() || !self.older.get_untracked() {
            return;
        }
        if let Some(first) = self
            .messages
            .with_untracked(|kept| kept.first().map(|m| m.id))
        {
            self.load(Some(first), None, 1);
        }
    }

    /// Loads a page of the room shown: its newest messages, or those `before` an id. Entering a
    /// room with unread messages, `marker_after` is the newest it had seen. A room the server
    /// does not serve (404) is its page to explain: the page loads it. Anything else that
    /// fails (offline, 429, 503) keeps the page and tries again, as a sync does.
    fn load(self, before: Option<u64>, marker_after: Option<u64>, attempt: u32) {
        let room = self.room.get_untracked();
        self.loading.set_value(true);
        spawn_local(async move {
            // One more than a page: whether there are older ones.
            let ask = ClientEnvelope::History(HistoryRequest {
                room: room.clone(),
                before,
                limit: Some(PAGE_HISTORY as u32 + 1),
                // Only a direct room needs it (and only its members get its messages).
                key: rooms::is_direct(&room)
                    .then(|| self.existing_key())
                    .flatten(),
            });
            let exchange = platform::post(&ask).await;
            if self.loading.try_set_value(false).is_some() || self.room.get_untracked() != room {
                return;
            }
            self.check_build(exchange.build.as_deref());
            let status = exchange.status;
            let mut page = match exchange.reply {
                Reply::Envelope(ServerEnvelope::History(page), _) => page,
                // Not this key's conversation: the page says whose it is, and stays empty.
                Reply::Envelope(..) if status == 404 && rooms::is_direct(&room) => {
                    return self.loaded.set(true);
                }
                Reply::Envelope(..) if status == 404 => return platform::reload(),
                Reply::Unreadable(..) => return self.new_version(),
                _ => return self.retry_load(before, marker_after, attempt),
            };
            self.loaded.set(true);
            self.learn_names(&page);
            let older = page.len() > PAGE_HISTORY;
            if older {
                page.remove(0);
            }
            self.older.set(older);
            let mut dropped = false;
            self.messages
                .update(|kept| dropped = merge(kept, page, before.is_none()));
            if dropped {
                self.newer.set(true);
            }
            if let Some(seen) = marker_after {
                let first = self
                    .messages
                    .with_untracked(|kept| kept.iter().find(|m| m.id > seen).map(|m| m.id));
                self.marker.set(first);
            }
            if before.is_none() {
                // A direct room's permalink whose message is older than this page: the page
                // before it instead.
                let older_focus = self.focus.get_untracked().filter(|id| {
                    rooms::is_direct(&room)
                        && self
                            .messages
                            .with_untracked(|kept| kept.first().is_some_and(|first| first.id > *id))
                });
                if let Some(id) = older_focus {
                    self.messages.set(Vec::new());
                    self.newer.set(true);
                    return self.load(Some(id.saturating_add(1)), None, 1);
                }
                self.mark_seen();
            }
        });
    }

    /// A history load failed for now: tried again after a back-off, as a sync is (unless the
    /// reader has moved to another room meanwhile).
    fn retry_load(self, before: Option<u64>, marker_after: Option<u64>, attempt: u32) {
        let room = self.room.get_untracked();
        let delay = backoff_ms(self.settings.poll_interval_ms, attempt);
        let timer = platform::after(delay, move || {
            if self.room.try_get_untracked().as_deref() == Some(room.as_str()) {
                self.load(before, marker_after, attempt + 1);
            }
        });
        self.retry_history.try_set_value(Some(timer));
    }
}
