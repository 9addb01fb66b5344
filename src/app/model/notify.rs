//! Desktop notifications, as rules: each room's choice (`All`, `Mentions`, the default, or
//! `Off`, kept in localStorage as `room:all,other:off`), which message a choice covers, and
//! how several close together collapse into one per room.

use crate::protocol::ChatMessage;

/// Messages of one room this close together share a notification.
pub const COLLAPSE_MS: u64 = 5_000;
/// The most characters of a message a notification shows.
const BODY_CHARS: usize = 200;

/// What a room notifies of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    All,
    #[default]
    Mentions,
    Off,
}

impl Choice {
    pub fn name(self) -> &'static str {
        match self {
            Choice::All => "all",
            Choice::Mentions => "mentions",
            Choice::Off => "off",
        }
    }

    pub fn from_name(name: &str) -> Self {
        match name {
            "all" => Choice::All,
            "off" => Choice::Off,
            _ => Choice::Mentions,
        }
    }

    /// Whether a message (`mentioned`: it mentions the reader) is one to notify of.
    pub fn covers(self, mentioned: bool) -> bool {
        match self {
            Choice::All => true,
            Choice::Mentions => mentioned,
            Choice::Off => false,
        }
    }
}

/// `room`'s choice in the stored list (`Mentions` when it has none).
pub fn choice_of(choices: &str, room: &str) -> Choice {
    choices
        .split(',')
        .filter_map(|entry| entry.split_once(':'))
        .find(|(name, _)| *name == room)
        .map_or(Choice::Mentions, |(_, choice)| Choice::from_name(choice))
}

/// The stored list with `room` set to `choice`.
pub fn with_choice(choices: &str, room: &str, choice: Choice) -> String {
    choices
        .split(',')
        .filter(|entry| entry.split_once(':').is_some_and(|(name, _)| name != room))
        .map(str::to_owned)
        .chain((choice != Choice::Mentions).then(|| format!("{room}:{}", choice.name())))
        .collect::<Vec<_>>()
        .join(",")
}

/// A notification to show: replaces the one of the same `tag` (its room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
    pub tag: String,
    /// Where a click on it goes: the message's permalink.
    pub href: String,
}

/// When each room last notified, and how many it has collapsed since.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recent(Vec<(String, u64, u32)>);

impl Recent {
    /// The notification for `message` arriving at `now_ms`: `#room · sender`, or once several
    /// came within [`COLLAPSE_MS`] of each other, `#room · N new messages`.
    pub fn note(&mut self, message: &ChatMessage, now_ms: u64) -> Note {
        let count = match self.0.iter_mut().find(|(room, ..)| *room == message.room) {
            Some((_, at, seen)) => {
                *seen = if now_ms.saturating_sub(*at) < COLLAPSE_MS {
                    *seen + 1
                } else {
                    1
                };
                *at = now_ms;
                *seen
            }
            None => {
                self.0.push((message.room.clone(), now_ms, 1));
                1
            }
        };
        // A direct room is named by who wrote, not by its name of fingerprints.
        let (room, sender) = (&message.room, &message.sender);
        let title = match (super::rooms::is_direct(room), count) {
            (false, 1) => format!("#{room} · {sender}"),
            (false, _) => format!("#{room} · {count} new messages"),
            (true, 1) => format!("{sender} (direct)"),
            (true, _) => format!("{sender} (direct) · {count} new messages"),
        };
        Note {
            title,
            body: message.message.chars().take(BODY_CHARS).collect(),
            tag: message.room.clone(),
            href: format!("/r/{}/{}", message.room, message.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_kept_per_room_with_mentions_the_default() {
        assert_eq!(choice_of("", "dev"), Choice::Mentions);
        let list = with_choice("", "dev", Choice::All);
        let list = with_choice(&list, "ops", Choice::Off);
        assert_eq!(list, "dev:all,ops:off");
        assert_eq!(choice_of(&list, "dev"), Choice::All);
        assert_eq!(choice_of(&list, "ops"), Choice::Off);
        assert_eq!(choice_of(&list, "general"), Choice::Mentions);
        assert_eq!(with_choice(&list, "dev", Choice::Mentions), "ops:off");
        assert!(Choice::All.covers(false) && !Choice::Mentions.covers(false));
        assert!(Choice::Mentions.covers(true) && !Choice::Off.covers(true));
    }

    #[test]
    fn several_close_together_collapse_per_room() {
        let message = |id: u64, room: &str| ChatMessage {
            id,
            room: room.into(),
            sender: "Ben".into(),
            message: "x".repeat(300),
            ..ChatMessage::default()
        };
        let mut recent = Recent::default();
        let first = recent.note(&message(1, "dev"), 1_000);
        assert_eq!(first.title, "#dev · Ben");
        assert_eq!(first.body.chars().count(), 200);
        assert_eq!(
            (first.tag.as_str(), first.href.as_str()),
            ("dev", "/r/dev/1")
        );
        assert_eq!(
            recent.note(&message(2, "dev"), 3_000).title,
            "#dev · 2 new messages"
        );
        assert_eq!(recent.note(&message(3, "ops"), 3_500).title, "#ops · Ben");
        assert_eq!(recent.note(&message(4, "dev"), 9_000).title, "#dev · Ben");
        let direct = "dm-anaaaaaa-benbbbbb";
        assert_eq!(
            recent.note(&message(5, direct), 9_100).title,
            "Ben (direct)"
        );
        assert_eq!(
            recent.note(&message(6, direct), 9_200).title,
            "Ben (direct) · 2 new messages"
        );
    }
}
