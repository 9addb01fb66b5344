//! The rooms of the navigation and what this page has not read of each, and what a sync's items
//! do to them.
//!
//! Unread: per room, the newest id the reader has seen is kept in localStorage. A first visit
//! counts everything that exists as seen. On load the page asks `rooms` how many messages are
//! newer than what was seen; after that each synced message of a room not shown (or of the room
//! shown, while the tab is hidden) counts one, unless the server's count already did.

use crate::protocol::{ChatMessage, GENERAL, Kind, RoomIds, RoomInfo, is_room_name};

use super::log::Reader;

/// A room of the navigation, as this page follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: String,
    pub unread: u64,
    /// How many of the unread messages this page received mention the reader.
    pub mentions: u64,
    /// The newest id the reader has seen.
    pub seen: u64,
    /// The newest id already counted in `unread`.
    pub counted: u64,
}

impl Room {
    /// A room as the page found it: until the browser says otherwise (a first visit), what
    /// exists counts as seen.
    pub fn new(info: &RoomInfo) -> Self {
        Self {
            name: info.name.clone(),
            unread: 0,
            mentions: 0,
            seen: info.newest,
            counted: info.newest,
        }
    }

    /// Read up to `newest`.
    pub fn read_up_to(&mut self, newest: u64) {
        self.unread = 0;
        self.mentions = 0;
        self.seen = self.seen.max(newest);
    }
}

/// The room a path shows, for the paths the page can show in place: `/` and `/r/<room>`.
pub fn room_of_path(path: &str) -> Option<&str> {
    match path {
        "/" => Some(GENERAL),
        _ => path.strip_prefix("/r/").filter(|room| is_room_name(room)),
    }
}

/// Per room, the newest id seen: what is remembered, and what `rooms` is asked to count from.
pub fn seen_marks(rooms: &[Room]) -> RoomIds {
    RoomIds(rooms.iter().map(|r| (r.name.clone(), r.seen)).collect())
}

/// Takes what this browser saw before; a room new since then starts as seen.
pub fn restore_seen(rooms: &mut [Room], saved: &RoomIds) {
    for room in rooms {
        room.seen = saved.get(&room.name).unwrap_or(room.seen);
    }
}

/// Takes the server's counts (a `rooms` reply) for every room but the one shown.
pub fn counted_by_server(rooms: &mut [Room], infos: &[RoomInfo], shown: &str) {
    for room in rooms.iter_mut().filter(|room| room.name != shown) {
        if let Some(info) = infos.iter().find(|info| info.name == room.name) {
            // What the server counted here, a sync must not count again.
            room.counted = room.counted.max(info.newest);
            room.unread = info.unread.unwrap_or(0);
        }
    }
}

/// Where the reader is: what decides whether a message counts as unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    /// The room shown.
    pub room: &'a str,
    /// Whether the room shown is at its newest messages (not a page of its past).
    pub live: bool,
    /// Whether the tab is hidden.
    pub hidden: bool,
}

impl Place<'_> {
    /// Whether a message of `room` is in front of the reader as it arrives.
    pub fn sees(&self, room: &str) -> bool {
        room == self.room && self.live && !self.hidden
    }
}

/// What a sync's items come to on this page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Received {
    /// Messages of the room shown, for its log (when it is live).
    pub shown: Vec<ChatMessage>,
    /// Edits and deletes, for the messages they are about.
    pub events: Vec<ChatMessage>,
    /// Messages that counted as unread here, each with whether it mentions the reader.
    pub unread: Vec<(ChatMessage, bool)>,
    /// Messages sent with this browser's key (the outbox matches them to its lines).
    pub mine: Vec<ChatMessage>,
}

/// Sorts a sync's `items` (ascending, each once: those at or below `cursor` were taken in
/// before) and counts the unread into `rooms`; moves `cursor` past them.
pub fn receive(
    rooms: &mut [Room],
    cursor: &mut u64,
    items: Vec<ChatMessage>,
    place: Place<'_>,
    reader: &Reader,
) -> Received {
    let mut received = Received::default();
    for item in items {
        if item.id <= *cursor {
            continue;
        }
        *cursor = item.id;
        if item.kind != Kind::Message {
            received.events.push(item);
            continue;
        }
        let Some(room) = rooms.iter_mut().find(|r| r.name == item.room) else {
            continue;
        };
        let mine = reader.me.is_some() && item.author == reader.me;
        if !place.sees(&item.room) && item.id > room.counted.max(room.seen) {
            room.counted = item.id;
            room.unread += 1;
            let mentioned = reader.is_mentioned(&item);
            if mentioned {
                room.mentions += 1;
            }
            if !mine {
                received.unread.push((item.clone(), mentioned));
            }
        }
        if mine {
            received.mine.push(item.clone());
        }
        if item.room == place.room && place.live {
            received.shown.push(item);
        }
    }
    received
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms() -> Vec<Room> {
        ["general", "dev"]
            .iter()
            .map(|name| {
                Room::new(&RoomInfo {
                    name: (*name).into(),
                    newest: 10,
                    unread: None,
                    with: None,
                })
            })
            .collect()
    }

    fn message(id: u64, room: &str, text: &str) -> ChatMessage {
        ChatMessage {
            id,
            room: room.into(),
            sender: "Ben".into(),
            message: text.into(),
            ..ChatMessage::default()
        }
    }

    #[test]
    fn paths_shown_in_place() {
        assert_eq!(room_of_path("/"), Some("general"));
        assert_eq!(room_of_path("/r/dev"), Some("dev"));
        assert_eq!(room_of_path("/r/dev/12"), None);
        assert_eq!(room_of_path("/r/dev?before=3"), None);
        assert_eq!(room_of_path("/other"), None);
    }

    #[test]
    fn messages_elsewhere_count_once_and_mentions_with_them() {
        let mut rooms = rooms();
        let mut cursor = 10;
        let reader = Reader {
            name: "Ana".into(),
            me: Some("aaaaaaaa".into()),
            ..Reader::default()
        };
        let place = Place {
            room: "general",
            live: true,
            hidden: false,
        };
        let mut mine = message(13, "dev", "by me");
        mine.author = Some("aaaaaaaa".into());
        let edit = ChatMessage {
            id: 14,
            room: "general".into(),
            kind: Kind::Edit,
            target: Some(11),
            ..ChatMessage::default()
        };
        let received = receive(
            &mut rooms,
            &mut cursor,
            vec![
                message(9, "dev", "taken in before"),
                message(11, "general", "here"),
                message(12, "dev", "hi @ana"),
                mine,
                edit,
            ],
            place,
            &reader,
        );
        assert_eq!(cursor, 14);
        assert_eq!(received.shown.len(), 1);
        assert_eq!(received.events.len(), 1);
        assert_eq!(
            (rooms[0].unread, rooms[1].unread, rooms[1].mentions),
            (0, 2, 1)
        );
        // One's own messages count (they are newer than what was seen) but notify nobody.
        assert_eq!(received.unread.len(), 1);
        assert!(received.unread[0].1, "mentions the reader");
        assert_eq!(received.mine.len(), 1);
        // The same items again (another tab passed them on): nothing counts twice.
        let again = receive(
            &mut rooms,
            &mut cursor,
            vec![message(12, "dev", "hi @ana")],
            place,
            &reader,
        );
        assert_eq!(again, Received::default());
        assert_eq!(rooms[1].unread, 2);
    }

    #[test]
    fn a_hidden_tab_counts_the_room_shown_and_the_server_s_counts_are_not_counted_again() {
        let mut rooms = rooms();
        let mut cursor = 10;
        let hidden = Place {
            room: "general",
            live: true,
            hidden: true,
        };
        counted_by_server(
            &mut rooms,
            &[RoomInfo {
                name: "dev".into(),
                newest: 12,
                unread: Some(2),
                with: None,
            }],
            "general",
        );
        let received = receive(
            &mut rooms,
            &mut cursor,
            vec![message(11, "general", "a"), message(12, "dev", "b")],
            hidden,
            &Reader::default(),
        );
        assert_eq!(received.shown.len(), 1, "still joins the log");
        assert_eq!((rooms[0].unread, rooms[1].unread), (1, 2));
        rooms[0].read_up_to(11);
        assert_eq!((rooms[0].unread, rooms[0].seen), (0, 11));
        let marks = seen_marks(&rooms);
        assert_eq!(marks.get("general"), Some(11));
        let mut fresh = self::rooms();
        restore_seen(&mut fresh, &RoomIds(vec![("dev".into(), 4)]));
        assert_eq!((fresh[0].seen, fresh[1].seen), (10, 4));
    }
}
