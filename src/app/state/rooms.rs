//! Moving between rooms in the page (`history.pushState`, Back and Forward), loading a room's
//! history and older pages of it, and what the reader has seen (`chat.seen` in localStorage).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::ChatState;
use crate::app::model::log::merge;
use crate::app::model::page::PAGE_HISTORY;
use crate::app::model::poll::backoff_ms;
use crate::app::model::rooms::{self, room_of_path, seen_marks};
use crate::app::platform::{self, Reply};
use crate::protocol::json::to_json;
use crate::protocol::{ClientEnvelope, HistoryRequest, RoomIds, RoomsRequest, ServerEnvelope};

/// localStorage: per room, the newest id the reader has seen.
const SEEN_KEY: &str = "chat.seen";

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
        let seen = self.rooms.with_untracked(|rooms| seen_marks(rooms));
        platform::save(SEEN_KEY, &to_json(&seen));
    }

    /// Starts from what this browser saw before: the separator in the room shown, and the
    /// unread counts of the others, which the server counts.
    pub(super) fn restore_seen(self) {
        let saved = platform::load(SEEN_KEY).and_then(|text| platform::read::<RoomIds>(&text));
        let Some(Ok(saved)) = saved else {
            // A first visit: everything that exists counts as seen.
            self.mark_seen();
            return;
        };
        self.rooms
            .update(|rooms| rooms::restore_seen(rooms, &saved));
        let read = self.rooms.with_untracked(|rooms| seen_marks(rooms));
        let shown = self.room.get_untracked();
        if let Some(seen) = read.get(&shown) {
            let first = self
                .messages
                .with_untracked(|kept| kept.iter().find(|m| m.id > seen).map(|m| m.id));
            self.marker.set(first);
        }
        self.mark_seen();
        spawn_local(async move {
            let ask = ClientEnvelope::Rooms(RoomsRequest {
                read: Some(read),
                key: None,
            });
            let exchange = platform::post(&ask).await;
            self.check_build(exchange.build.as_deref());
            if let Some(ServerEnvelope::Rooms(infos)) = exchange.envelope() {
                let shown = self.room.get_untracked();
                self.rooms
                    .try_update(|rooms| rooms::counted_by_server(rooms, &infos, &shown));
            }
        });
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
                key: None,
            });
            let exchange = platform::post(&ask).await;
            if self.loading.try_set_value(false).is_some() || self.room.get_untracked() != room {
                return;
            }
            self.check_build(exchange.build.as_deref());
            let status = exchange.status;
            let mut page = match exchange.reply {
                Reply::Envelope(ServerEnvelope::History(page), _) => page,
                Reply::Envelope(..) if status == 404 => return platform::reload(),
                Reply::Unreadable(..) => return self.new_version(),
                _ => return self.retry_load(before, marker_after, attempt),
            };
            self.loaded.set(true);
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
