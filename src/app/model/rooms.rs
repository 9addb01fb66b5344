//! The rooms of the navigation and what this page has not read of each, and what a sync's items
//! do to them.
//!
//! Unread: per room, the newest id the reader has seen is kept in localStorage. A first visit
//! counts everything that exists as seen. On load the page asks `rooms` how many messages are
//! newer than what was seen; after that each synced message of a room not shown (or of the room
//! shown, while the tab is hidden) counts one, unless the server's count already did.
//!
//! Direct rooms (`dm-<a>-<b>`, a conversation of two keys) are rooms of the list too, after the
//! served ones: a `rooms` reply with the key brings those that have messages, a sync's first
//! message of a new one adds it, and a message there from the other counts as a mention does.
//! Only the reader's own are asked about: after a switch of key, the old key's are left out.

use crate::protocol::{
    ChatMessage, GENERAL, Kind, RoomIds, RoomInfo, direct_members, is_room_name, may_read,
};

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
    /// A direct room the page had not listed: everything in it is news.
    pub fn direct(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            unread: 0,
            mentions: 0,
            seen: 0,
            counted: 0,
        }
    }

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

/// Whether `room` is a direct room: a conversation of two keys.
pub fn is_direct(room: &str) -> bool {
    direct_members(room).is_some()
}

/// The other member of the direct room `room` for the reader `me` (their own fingerprint for a
/// note to oneself); `None` for a room that is not direct or not the reader's.
pub fn other_member<'a>(room: &'a str, me: Option<&str>) -> Option<&'a str> {
    let (a, b) = direct_members(room)?;
    match me? {
        me if me == a => Some(b),
        me if me == b => Some(a),
        _ => None,
    }
}

/// How a room is named to the reader: `#dev`; a direct room by the other's latest known name
/// and fingerprint (`Ana · k7f3q9x2`), or its fingerprint alone while no name is known.
pub fn label(room: &str, me: Option<&str>, names: &Names) -> String {
    let Some((a, b)) = direct_members(room) else {
        return format!("#{room}");
    };
    // Not the reader's (or the reader not known yet): both of its members.
    let Some(other) = other_member(room, me) else {
        return format!("{a} and {b}");
    };
    // A note to oneself says so: it is no conversation with another of the same name.
    let you = if Some(other) == me { " (you)" } else { "" };
    match names.of(other) {
        Some(name) => format!("{name}{you} · {other}"),
        None => format!("{other}{you}"),
    }
}

/// Per room, the newest id seen: what is remembered.
pub fn seen_marks(rooms: &[Room]) -> RoomIds {
    RoomIds(rooms.iter().map(|r| (r.name.clone(), r.seen)).collect())
}

/// What `rooms` is asked to count from: the marks of the rooms `me` may read (a direct room of
/// another key, kept from before a switch of key, would make the server refuse the whole ask).
pub fn marks_to_ask(marks: &RoomIds, me: Option<&str>) -> RoomIds {
    RoomIds(
        marks
            .0
            .iter()
            .filter(|(room, _)| may_read(room, me))
            .cloned()
            .collect(),
    )
}

/// Adds the direct rooms of a `rooms` reply that the list does not have (in the reply's order,
/// newest first, after those it has): as seen up to their newest message (`seen`: a first
/// visit), or else with everything in them news. The names of those added.
pub fn add_direct(rooms: &mut Vec<Room>, infos: &[RoomInfo], seen: bool) -> Vec<String> {
    let mut added = Vec::new();
    for info in infos.iter().filter(|info| is_direct(&info.name)) {
        if !rooms.iter().any(|room| room.name == info.name) {
            rooms.push(if seen {
                Room::new(info)
            } else {
                Room::direct(&info.name)
            });
            added.push(info.name.clone());
        }
    }
    added
}

/// Lists the direct rooms this browser remembered having seen, of the key `me` (a direct room
/// of another key, from before a switch of key, is left out).
pub fn add_saved_direct(rooms: &mut Vec<Room>, saved: &RoomIds, me: Option<&str>) {
    for (name, _) in &saved.0 {
        let listed = rooms.iter().any(|room| room.name == *name);
        if !listed && other_member(name, me).is_some() {
            rooms.push(Room::direct(name));
        }
    }
}

/// The senders' latest known names, by fingerprint: what a direct room is called by. (A list:
/// a page meets tens of senders, and a hash map would add its code to the page's first load.)
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Names(Vec<Named>);

/// A sender's latest name, and the id of the message that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    author: String,
    id: u64,
    name: String,
}

impl Names {
    /// Learns from `messages` (in any order: the newest message of a key names it); whether a
    /// name changed.
    pub fn learn<'a>(&mut self, messages: impl IntoIterator<Item = &'a ChatMessage>) -> bool {
        let mut changed = false;
        for message in messages {
            let Some(author) = message
                .author
                .as_ref()
                .filter(|_| message.kind == Kind::Message)
            else {
                continue;
            };
            match self.0.iter_mut().find(|known| known.author == *author) {
                Some(known) if known.id < message.id => {
                    changed |= known.name != message.sender;
                    known.id = message.id;
                    known.name.clone_from(&message.sender);
                }
                Some(_) => {}
                None => {
                    changed = true;
                    self.0.push(Named {
                        author: author.clone(),
                        id: message.id,
                        name: message.sender.clone(),
                    });
                }
            }
        }
        changed
    }

    /// The latest name known for the fingerprint `author`.
    pub fn of(&self, author: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|known| known.author == author)
            .map(|known| known.name.as_str())
    }
}

/// Takes what this browser saw before; a room new since then starts as seen.
pub fn restore_seen(rooms: &mut [Room], saved: &RoomIds) {
    for room in rooms {
        room.seen = saved.get(&room.name).unwrap_or(room.seen);
    }
}

/// Takes the server's counts (a `rooms` reply) for every room but the one shown; a room the
/// ask did not name (no count in the reply) keeps its own.
pub fn counted_by_server(rooms: &mut [Room], infos: &[RoomInfo], shown: &str) {
    for room in rooms.iter_mut().filter(|room| room.name != shown) {
        let counted = infos
            .iter()
            .find(|info| info.name == room.name)
            .and_then(|info| Some((info.newest, info.unread?)));
        if let Some((newest, unread)) = counted {
            // What the server counted here, a sync must not count again.
            room.counted = room.counted.max(newest);
            room.unread = unread;
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
    /// Whether the key's direct rooms are known (the first `rooms` reply is in): until then
    /// their messages are not counted here, that reply counts them.
    pub direct_known: bool,
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
    rooms: &mut Vec<Room>,
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
        let mine = reader.me.is_some() && item.author == reader.me;
        if is_direct(&item.room) && !place.direct_known {
            // The `rooms` reply on its way counts them (the page's first sync may bring
            // direct messages older than the page: no news, not to be notified again).
            if mine {
                received.mine.push(item.clone());
            }
            if item.room == place.room && place.live {
                received.shown.push(item);
            }
            continue;
        }
        // The first message of a conversation this page did not list (a sync that follows the
        // reader's direct rooms brings only theirs).
        if is_direct(&item.room) && !rooms.iter().any(|r| r.name == item.room) {
            rooms.push(Room::direct(&item.room));
        }
        let Some(room) = rooms.iter_mut().find(|r| r.name == item.room) else {
            continue;
        };
        if !place.sees(&item.room) && item.id > room.counted.max(room.seen) {
            room.counted = item.id;
            room.unread += 1;
            // Written to the reader alone: as a mention.
            let mentioned = reader.is_mentioned(&item) || (is_direct(&item.room) && !mine);
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

    /// Ana (her key's fingerprint `ANA`) reading `general` live, in a tab that is shown.
    fn ana_in_general() -> (Reader, Place<'static>) {
        let reader = Reader {
            name: "Ana".into(),
            me: Some(ANA.into()),
            ..Reader::default()
        };
        let place = Place {
            room: "general",
            live: true,
            hidden: false,
            direct_known: true,
        };
        (reader, place)
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
        let (reader, place) = ana_in_general();
        let mut mine = message(13, "dev", "by me");
        mine.author = Some(ANA.into());
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
            direct_known: true,
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
    const ANA: &str = "anaaaaaa";
    const BEN: &str = "benbbbbb";

    #[test]
    fn a_direct_room_is_named_by_the_other_member_for_its_members_only() {
        let room = crate::protocol::direct_room(BEN, ANA);
        assert_eq!(room, "dm-anaaaaaa-benbbbbb");
        assert!(is_direct(&room) && !is_direct("general") && !is_direct("dm-x"));
        assert_eq!(other_member(&room, Some(ANA)), Some(BEN));
        assert_eq!(other_member(&room, Some(BEN)), Some(ANA));
        assert_eq!(other_member(&room, Some("evevevev")), None);
        assert_eq!(other_member(&room, None), None);
        let note = crate::protocol::direct_room(ANA, ANA);
        assert_eq!(other_member(&note, Some(ANA)), Some(ANA));
        assert_eq!(label(&note, Some(ANA), &Names::default()), "anaaaaaa (you)");
        let mut names = Names::default();
        assert_eq!(label(&room, Some(ANA), &names), BEN);
        assert_eq!(label("dev", Some(ANA), &names), "#dev");
        let mut older = message(3, "general", "hi");
        older.author = Some(BEN.into());
        older.sender = "Benjamin".into();
        let mut newer = message(7, &room, "hello");
        newer.author = Some(BEN.into());
        assert!(names.learn([&newer, &older]), "learnt in any order");
        assert_eq!(label(&room, Some(ANA), &names), "Ben · benbbbbb");
        // An older message (a page of the past) does not rename anyone.
        assert!(!names.learn([&older]));
        assert_eq!(names.of(BEN), Some("Ben"));
        assert_eq!(
            label(&room, Some("evevevev"), &names),
            "anaaaaaa and benbbbbb"
        );
    }

    #[test]
    fn a_first_direct_message_adds_its_room_and_counts_as_a_mention() {
        let mut rooms = rooms();
        let mut cursor = 10;
        let (reader, place) = ana_in_general();
        let room = crate::protocol::direct_room(ANA, BEN);
        let mut first = message(11, &room, "just between us");
        first.author = Some(BEN.into());
        // Before the first `rooms` reply: neither listed nor counted (the reply counts it).
        let (mut early, mut early_cursor) = (rooms.clone(), cursor);
        let before = Place {
            direct_known: false,
            ..place
        };
        let taken = receive(
            &mut early,
            &mut early_cursor,
            vec![first.clone()],
            before,
            &reader,
        );
        assert_eq!((early.len(), early_cursor), (2, 11));
        assert!(taken.unread.is_empty());
        let received = receive(&mut rooms, &mut cursor, vec![first], place, &reader);
        assert_eq!(rooms.len(), 3);
        assert_eq!(
            (rooms[2].name.as_str(), rooms[2].unread, rooms[2].mentions),
            (room.as_str(), 1, 1)
        );
        assert_eq!(received.unread.len(), 1);
        assert!(received.unread[0].1, "notifies as a mention");
        // The same room from a `rooms` reply is not added twice; a new one is.
        let infos = [
            RoomInfo {
                name: "general".into(),
                newest: 11,
                unread: None,
                with: None,
            },
            RoomInfo {
                name: room.clone(),
                newest: 11,
                unread: None,
                with: Some(BEN.into()),
            },
            RoomInfo {
                name: crate::protocol::direct_room(ANA, ANA),
                newest: 5,
                unread: None,
                with: Some(ANA.into()),
            },
        ];
        // A reply that has no count for it (the ask did not name it) leaves what was counted.
        counted_by_server(&mut rooms, &infos, "general");
        assert_eq!((rooms[2].unread, rooms[2].mentions), (1, 1));
        assert_eq!(
            add_direct(&mut rooms, &infos, false),
            ["dm-anaaaaaa-anaaaaaa"]
        );
        assert_eq!(rooms.len(), 4);
        assert_eq!((rooms[3].seen, rooms[3].counted), (0, 0), "all of it news");
        let mut first_visit = self::rooms();
        add_direct(&mut first_visit, &infos, true);
        assert_eq!(
            (first_visit[2].seen, first_visit[3].seen),
            (11, 5),
            "a first visit has seen what exists"
        );
        // What this browser remembered: its own key's direct rooms only.
        let mut again = self::rooms();
        let saved = RoomIds(vec![
            (room.clone(), 9),
            ("dm-evevevev-zzzzzzzz".into(), 2),
            ("gone".into(), 1),
        ]);
        add_saved_direct(&mut again, &saved, Some(ANA));
        restore_seen(&mut again, &saved);
        assert_eq!(again.len(), 3);
        assert_eq!((again[2].name.as_str(), again[2].seen), (room.as_str(), 9));
        // Asking for counts names only the rooms of the reader's key.
        let marks = RoomIds(vec![
            ("general".into(), 3),
            (room.clone(), 11),
            ("dm-evevevev-zzzzzzzz".into(), 2),
        ]);
        let asked = marks_to_ask(&marks, Some(ANA));
        assert_eq!(asked.0.len(), 2);
        assert_eq!(asked.get("dm-evevevev-zzzzzzzz"), None);
        assert_eq!(marks_to_ask(&marks, None).0.len(), 1);
    }
}
