//! The log of the room shown: its messages in id order, kept to [`MAX_KEPT`], with edits and
//! deletes applied; and its [`Line`]s, what the view draws: every stored message and, after
//! them, the outbox's messages of the room, each with how it looks in its place (a day heading,
//! grouped under the previous sender, the `New messages` marker, yours, mentioning you).

use crate::app::platform;
use crate::protocol::{ChatMessage, Kind};

use super::mentions::mentions;
use super::outbox::Pending;

/// The most messages a page keeps; older ones leave the page (not the server) so a tab left
/// open for weeks does not grow without bound.
pub const MAX_KEPT: usize = 2000;
/// Messages by one sender this close together, in seconds, are grouped.
const GROUP_SECS: i64 = 300;

/// Adds `incoming` to `kept`, which stays in ascending id order without duplicates. Past
/// [`MAX_KEPT`], the oldest leave (`from_top`) or, while scrolling back, the newest; returns
/// whether any left.
pub fn merge(kept: &mut Vec<ChatMessage>, incoming: Vec<ChatMessage>, from_top: bool) -> bool {
    for message in incoming {
        match kept.last() {
            // The usual case: everything new is newer than what is kept.
            Some(last) if last.id >= message.id => {
                if let Err(at) = kept.binary_search_by_key(&message.id, |m| m.id) {
                    kept.insert(at, message);
                }
            }
            _ => kept.push(message),
        }
    }
    let excess = kept.len().saturating_sub(MAX_KEPT);
    if from_top {
        kept.drain(..excess);
    } else {
        kept.truncate(MAX_KEPT);
    }
    excess > 0
}

/// Applies edit, delete and reactions events to the messages they are about, where those are
/// kept, and to the quotes of the kept replies to them.
pub fn apply(kept: &mut Vec<ChatMessage>, events: Vec<ChatMessage>) {
    for event in events {
        if matches!(event.kind, Kind::Edit | Kind::Delete) {
            for quote in kept
                .iter_mut()
                .filter_map(|message| message.reply_to.as_mut())
            {
                quote.follow(&event);
            }
        }
        let Some(at) = event
            .target
            .and_then(|target| kept.binary_search_by_key(&target, |m| m.id).ok())
        else {
            continue;
        };
        match event.kind {
            Kind::Delete => {
                kept.remove(at);
            }
            Kind::Reactions => {
                kept[at].reactions = event.reactions.filter(|set| !set.is_empty());
            }
            Kind::Edit => {
                kept[at].message = event.message;
                kept[at].edited_at = event.edited_at;
            }
            Kind::Message => {}
        }
    }
}

/// The message with `id`, if kept.
pub fn find(kept: &[ChatMessage], id: u64) -> Option<&ChatMessage> {
    kept.binary_search_by_key(&id, |m| m.id)
        .ok()
        .map(|at| &kept[at])
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time (`2026-01-01T12:30:00.123Z`).
pub fn epoch_secs(rfc3339: &str) -> Option<i64> {
    let number =
        |range: std::ops::Range<usize>| -> Option<i64> { rfc3339.get(range)?.parse().ok() };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Which line of the log: a stored message by its id, or one of the outbox's by its nonce. A
/// line keeps its key for as long as it is shown, whatever changes in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LineKey {
    Stored(u64),
    Pending(String),
}

/// What a line shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Stored(ChatMessage),
    Pending(Pending),
}

/// How a line looks, besides what it shows: from its place in the log and who reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// The day heading before it: the first message of a day.
    pub day: Option<String>,
    /// Under the previous message's name and time.
    pub grouped: bool,
    /// The first unread message: `New messages` before it.
    pub marker: bool,
    /// Its times in the reader's time zone (once the page runs in the browser), not UTC.
    pub local: bool,
    /// Sent with this browser's key (an outbox line always is).
    pub mine: bool,
    /// Mentions the reader (and is not theirs).
    pub mention: bool,
    /// Shown as a textbox to edit it.
    pub editing: bool,
}

/// One line of the log as the view draws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub key: LineKey,
    pub look: Look,
    pub body: Body,
}

/// Who reads the log, and what they have chosen: what lines' looks depend on besides the
/// messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reader {
    /// Days and times in the reader's time zone (else UTC, as the server renders).
    pub local: bool,
    /// Now, in seconds since the epoch: which day is `Today`.
    pub now_secs: i64,
    /// The first unread message's id.
    pub marker: Option<u64>,
    /// The fingerprint of this browser's key.
    pub me: Option<String>,
    /// The message being edited.
    pub editing: Option<u64>,
    /// The reader's name, trimmed: `@` and it mentions them.
    pub name: String,
}

impl Reader {
    fn is_mine(&self, message: &ChatMessage) -> bool {
        self.me.is_some() && message.author == self.me
    }

    /// Whether `message` mentions the reader: `@` and their name, by someone else.
    pub fn is_mentioned(&self, message: &ChatMessage) -> bool {
        !self.is_mine(message) && mentions(&message.message, &self.name)
    }

    /// The day number of `secs`, in the reader's time zone or UTC.
    fn day_of(&self, secs: i64) -> i64 {
        let offset = if self.local {
            platform::utc_offset_secs(secs)
        } else {
            0
        };
        (secs + offset).div_euclid(86_400)
    }
}

/// The lines of the log: `messages` (ascending), then `pending` (the outbox's, in order).
pub fn lines(messages: &[ChatMessage], pending: &[&Pending], reader: &Reader) -> Vec<Line> {
    let today = reader.day_of(reader.now_secs);
    // The previous message's sender and fingerprint, time and day.
    let mut previous: Option<(&str, Option<&str>, i64, i64)> = None;
    let stored = messages.iter().map(|message| {
        let secs = epoch_secs(&message.sent_at).unwrap_or(0);
        let day = reader.day_of(secs);
        let new_day = previous.is_none_or(|(_, _, _, last)| last != day);
        let marker = reader.marker == Some(message.id);
        // One sender is a name and a fingerprint: another key under the same name is not
        // grouped under it (its fingerprint would be hidden with the name).
        let grouped = !new_day
            && !marker
            && previous.is_some_and(|(sender, author, at, _)| {
                sender == message.sender
                    && author == message.author.as_deref()
                    && secs - at < GROUP_SECS
            });
        previous = Some((&message.sender, message.author.as_deref(), secs, day));
        let look = Look {
            day: new_day.then(|| match today - day {
                0 => "Today".to_owned(),
                1 => "Yesterday".to_owned(),
                _ if reader.local => platform::date_label(secs),
                _ => message.sent_at.get(..10).unwrap_or_default().to_owned(),
            }),
            grouped,
            marker,
            local: reader.local,
            mine: reader.is_mine(message),
            mention: reader.is_mentioned(message),
            editing: reader.editing == Some(message.id),
        };
        Line {
            key: LineKey::Stored(message.id),
            look,
            body: Body::Stored(message.clone()),
        }
    });
    let waiting = pending.iter().map(|pending| Line {
        key: LineKey::Pending(pending.nonce.clone()),
        look: Look {
            local: reader.local,
            mine: true,
            ..Look::default()
        },
        body: Body::Pending((*pending).clone()),
    });
    stored.chain(waiting).collect()
}

/// The line with `key` among `lines` (stored ones in id order, then the outbox's).
pub fn line<'a>(lines: &'a [Line], key: &LineKey) -> Option<&'a Line> {
    match key {
        LineKey::Stored(id) => {
            let stored = lines.partition_point(|line| matches!(line.key, LineKey::Stored(_)));
            let stored = &lines[..stored];
            stored
                .binary_search_by_key(id, |line| match line.key {
                    LineKey::Stored(id) => id,
                    LineKey::Pending(_) => u64::MAX,
                })
                .ok()
                .map(|at| &stored[at])
        }
        LineKey::Pending(_) => lines.iter().rev().find(|line| line.key == *key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::model::outbox::State;

    fn message(id: u64) -> ChatMessage {
        at(id, "a", "2026-01-01T00:00:00Z")
    }

    fn at(id: u64, sender: &str, sent_at: &str) -> ChatMessage {
        ChatMessage {
            id,
            room: "general".into(),
            sender: sender.into(),
            message: format!("m{id}"),
            sent_at: sent_at.into(),
            ..ChatMessage::default()
        }
    }

    fn ids(kept: &[ChatMessage]) -> Vec<u64> {
        kept.iter().map(|m| m.id).collect()
    }

    #[test]
    fn merge_keeps_id_order_without_duplicates() {
        let mut kept = vec![message(1), message(3)];
        merge(&mut kept, vec![message(3), message(4), message(5)], true);
        assert_eq!(ids(&kept), [1, 3, 4, 5]);
        merge(&mut kept, vec![message(2), message(5), message(1)], true);
        assert_eq!(ids(&kept), [1, 2, 3, 4, 5]);
        assert!(!merge(&mut kept, Vec::new(), true));
        assert_eq!(ids(&kept), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn merge_drops_the_oldest_past_the_cap_or_the_newest_when_scrolling_back() {
        let mut kept = Vec::new();
        assert!(merge(
            &mut kept,
            (1..=MAX_KEPT as u64 + 10).map(message).collect(),
            true
        ));
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!(kept[0].id, 11);
        assert!(merge(&mut kept, (1..=10).map(message).collect(), false));
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!((kept[0].id, kept[MAX_KEPT - 1].id), (1, MAX_KEPT as u64));
    }

    #[test]
    fn edits_and_deletes_change_the_messages_they_are_about() {
        let mut kept = vec![message(1), message(2), message(3)];
        let event = |id, kind, target, text: &str| ChatMessage {
            id,
            kind,
            target: Some(target),
            message: text.into(),
            edited_at: Some("2026-01-01T00:01:00Z".into()),
            ..ChatMessage::default()
        };
        apply(
            &mut kept,
            vec![
                event(4, Kind::Edit, 2, "better"),
                event(5, Kind::Delete, 1, ""),
                event(6, Kind::Edit, 99, "not kept here"),
            ],
        );
        assert_eq!(ids(&kept), [2, 3]);
        assert_eq!(kept[0].message, "better");
        assert!(kept[0].edited_at.is_some());
    }

    #[test]
    fn reactions_replace_the_set_and_replies_follow_what_they_quote() {
        let quoting = |id, of: &ChatMessage| ChatMessage {
            reply_to: Some(crate::protocol::Quote::of(of)),
            ..message(id)
        };
        let mut kept = vec![message(1), message(2)];
        kept.push(quoting(3, &kept[0]));
        kept.push(quoting(4, &kept[1]));
        let reactions = Some(vec![crate::protocol::Reaction {
            emoji: "👍".into(),
            authors: vec!["aaaaaaaa".into()],
        }]);
        let event = |id, kind, target, text: &str| ChatMessage {
            id,
            kind,
            target: Some(target),
            message: text.into(),
            reactions: (kind == Kind::Reactions).then(|| reactions.clone().unwrap_or_default()),
            ..ChatMessage::default()
        };
        apply(
            &mut kept,
            vec![
                event(5, Kind::Edit, 1, "edited"),
                event(6, Kind::Delete, 2, ""),
                event(7, Kind::Reactions, 3, ""),
            ],
        );
        assert_eq!(ids(&kept), [1, 3, 4]);
        assert_eq!(kept[1].reply_to.as_ref().unwrap().message, "edited");
        assert_eq!(kept[1].reactions, reactions);
        assert_eq!(
            kept[2].reply_to,
            Some(crate::protocol::Quote::deleted(2)),
            "a reply to a deleted message says so"
        );
    }

    #[test]
    fn epoch_seconds_of_rfc3339() {
        assert_eq!(epoch_secs("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_secs("2000-03-01T00:00:01.5Z"), Some(951_868_801));
        assert_eq!(
            epoch_secs("2026-11-29T17:12:04.632433Z"),
            Some(1_795_972_324)
        );
        assert_eq!(epoch_secs("garbage"), None);
    }

    #[test]
    fn days_groups_and_the_marker() {
        let messages = [
            at(1, "ann", "2020-01-01T10:00:00Z"),
            at(2, "ann", "2020-01-01T10:04:59Z"),
            at(3, "bob", "2020-01-01T10:05:00Z"),
            at(4, "bob", "2020-01-01T10:11:00Z"),
            at(5, "bob", "2020-01-02T00:00:00Z"),
            at(6, "bob", "2020-01-02T00:01:00Z"),
        ];
        let reader = Reader {
            marker: Some(6),
            now_secs: epoch_secs("2020-01-02T12:00:00Z").unwrap(),
            ..Reader::default()
        };
        let lines = lines(&messages, &[], &reader);
        let days: Vec<Option<&str>> = lines.iter().map(|l| l.look.day.as_deref()).collect();
        assert_eq!(
            days,
            [Some("Yesterday"), None, None, None, Some("Today"), None]
        );
        let grouped: Vec<bool> = lines.iter().map(|l| l.look.grouped).collect();
        assert_eq!(
            grouped,
            [false, true, false, false, false, false],
            "a new day, the marker"
        );
        assert!(lines[5].look.marker);
        // The same name from another key is another sender.
        let mut impostor = at(2, "ann", "2020-01-01T10:01:00Z");
        impostor.author = Some("evevevev".into());
        let lines = super::lines(&[messages[0].clone(), impostor], &[], &reader);
        assert!(!lines[1].look.grouped);
    }

    #[test]
    fn mine_and_mentions_by_fingerprint_and_name() {
        let mut mine = at(1, "ann", "2020-01-01T10:00:00Z");
        mine.author = Some("aaaaaaaa".into());
        mine.message = "hi @Bob".into();
        let mut theirs = at(2, "carl", "2020-01-01T10:00:00Z");
        theirs.message = "@bob look".into();
        let reader = Reader {
            me: Some("aaaaaaaa".into()),
            name: "Bob".into(),
            editing: Some(2),
            ..Reader::default()
        };
        let lines = lines(&[mine, theirs], &[], &reader);
        assert!(
            lines[0].look.mine && !lines[0].look.mention,
            "not by oneself"
        );
        assert!(!lines[1].look.mine && lines[1].look.mention);
        assert!(lines[1].look.editing);
    }

    #[test]
    fn the_outbox_follows_the_stored_lines_and_each_line_is_found_by_key() {
        let messages: Vec<ChatMessage> = (1..=5).map(|id| message(id * 2)).collect();
        let waiting = Pending {
            nonce: "n-1".into(),
            room: "general".into(),
            sender: "ann".into(),
            message: "on its way".into(),
            reply_to: None,
            files: Vec::new(),
            state: State::Sending,
        };
        let lines = lines(&messages, &[&waiting], &Reader::default());
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[5].key, LineKey::Pending("n-1".into()));
        assert!(lines[5].look.mine);
        for id in [2, 4, 6, 8, 10] {
            assert_eq!(
                line(&lines, &LineKey::Stored(id)).map(|l| &l.key),
                Some(&LineKey::Stored(id))
            );
        }
        assert!(line(&lines, &LineKey::Stored(3)).is_none());
        assert_eq!(
            line(&lines, &LineKey::Pending("n-1".into())).map(|l| &l.body),
            Some(&Body::Pending(waiting))
        );
    }
}
