//! What the tabs of one browser tell each other (over a `BroadcastChannel`), so that one of
//! them, the leader, long-polls for all: a browser opens at most six HTTP/1.1 connections to a
//! host, and a held poll per tab would leave none for sending once six tabs are open.
//!
//! The leader passes on every sync reply as it came (`Synced`), and every failure (`Failing`):
//! both are its heartbeat. Each tab takes a reply in as if it had polled itself, and counts its
//! own unread. Tabs say where they are (`Presence`: the room shown, and whether someone looks at
//! it), again with each reply they take in, so that the leader notifies once per browser, only
//! of what no tab shows, and forgets a tab that has stopped saying so (it crashed, or slept).

use crate::protocol::json::{Decode, Encode, Fields, JsonValue, JsonWriter, Unreadable};

/// One tab's message to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TabMessage {
    /// The leader's sync asked for what is newer than `from` and was answered with `reply`
    /// (the reply's JSON text, as the server wrote it) by the server's `build`.
    Synced {
        from: u64,
        reply: String,
        build: Option<String>,
    },
    /// The leader's sync failed; it tries again in `next_ms`.
    Failing { next_ms: u32 },
    /// Sync now: a tab has just sent something, or came back into view.
    Wake,
    /// Where a tab is.
    Presence(Presence),
    /// A tab is closing.
    Gone { tab: String },
    /// A new leader asks every tab where it is.
    Hello,
}

/// Where a tab is: the room it shows, and whether it is looking at that room's newest messages
/// in a visible tab (then that room's news needs no notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub tab: String,
    pub room: String,
    pub looking: bool,
}

/// The tabs a leader knows of, each with when it last said where it is (ms since the epoch).
/// A tab unheard of for `fresh_ms` no longer counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tabs {
    known: Vec<(Presence, u64)>,
}

impl Tabs {
    pub fn update(&mut self, presence: Presence, now: u64) {
        self.gone(&presence.tab);
        self.known.push((presence, now));
    }

    pub fn gone(&mut self, tab: &str) {
        self.known.retain(|(known, _)| known.tab != tab);
    }

    /// The tabs heard from within `fresh_ms` of `now` that are looking.
    fn looking(&self, now: u64, fresh_ms: u64) -> impl Iterator<Item = &Presence> {
        self.known
            .iter()
            .filter(move |(tab, at)| tab.looking && now.saturating_sub(*at) <= fresh_ms)
            .map(|(tab, _)| tab)
    }

    /// Whether some tab is looking at `room`.
    pub fn looking_at(&self, room: &str, now: u64, fresh_ms: u64) -> bool {
        self.looking(now, fresh_ms).any(|tab| tab.room == room)
    }

    /// Whether some tab is looking at all (else a leader without long polling may rest).
    pub fn anyone_looking(&self, now: u64, fresh_ms: u64) -> bool {
        self.looking(now, fresh_ms).next().is_some()
    }
}

impl Encode for TabMessage {
    fn encode(&self, json: &mut JsonWriter) {
        json.object(|json| match self {
            TabMessage::Synced { from, reply, build } => {
                json.field("kind", "synced");
                json.field("from", from);
                json.field("reply", reply);
                json.maybe("build", build);
            }
            TabMessage::Failing { next_ms } => {
                json.field("kind", "failing");
                json.field("next_ms", next_ms);
            }
            TabMessage::Wake => json.field("kind", "wake"),
            TabMessage::Presence(presence) => {
                json.field("kind", "presence");
                json.field("tab", &presence.tab);
                json.field("room", &presence.room);
                json.field("looking", &presence.looking);
            }
            TabMessage::Gone { tab } => {
                json.field("kind", "gone");
                json.field("tab", tab);
            }
            TabMessage::Hello => json.field("kind", "hello"),
        });
    }
}

impl Decode for TabMessage {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "TabMessage");
        let kind: String = fields.need("kind")?;
        Ok(match kind.as_str() {
            "synced" => TabMessage::Synced {
                from: fields.need("from")?,
                reply: fields.need("reply")?,
                build: fields.maybe("build")?,
            },
            "failing" => TabMessage::Failing {
                next_ms: fields
                    .need::<u64>("next_ms")?
                    .try_into()
                    .unwrap_or(u32::MAX),
            },
            "wake" => TabMessage::Wake,
            "presence" => TabMessage::Presence(Presence {
                tab: fields.need("tab")?,
                room: fields.need("room")?,
                looking: fields.need("looking")?,
            }),
            "gone" => TabMessage::Gone {
                tab: fields.need("tab")?,
            },
            "hello" => TabMessage::Hello,
            _ => return Err(fields.unreadable("kind")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::json::tests::{id, text};
    use crate::protocol::json::to_json;
    use proptest::prelude::*;

    fn message() -> impl Strategy<Value = TabMessage> {
        prop_oneof![
            (id(), text(), proptest::option::of(text()))
                .prop_map(|(from, reply, build)| TabMessage::Synced { from, reply, build }),
            any::<u32>().prop_map(|next_ms| TabMessage::Failing { next_ms }),
            Just(TabMessage::Wake),
            (text(), text(), any::<bool>()).prop_map(|(tab, room, looking)| {
                TabMessage::Presence(Presence { tab, room, looking })
            }),
            text().prop_map(|tab| TabMessage::Gone { tab }),
            Just(TabMessage::Hello),
        ]
    }

    proptest! {
        #[test]
        fn every_message_reads_back_as_written(message in message()) {
            let json: serde_json::Value = serde_json::from_str(&to_json(&message)).unwrap();
            prop_assert_eq!(TabMessage::decode(&json), Ok(message));
        }
    }

    #[test]
    fn the_leader_knows_who_looks_where_until_a_tab_falls_silent() {
        let mut tabs = Tabs::default();
        let at = |tab: &str, room: &str, looking| Presence {
            tab: tab.into(),
            room: room.into(),
            looking,
        };
        let fresh = 35_000;
        tabs.update(at("a", "dev", true), 1_000);
        tabs.update(at("b", "general", false), 1_000);
        assert!(tabs.looking_at("dev", 1_000, fresh) && !tabs.looking_at("general", 1_000, fresh));
        tabs.update(at("a", "general", true), 2_000);
        assert!(!tabs.looking_at("dev", 2_000, fresh) && tabs.looking_at("general", 2_000, fresh));
        // Not heard from since: it crashed, or sleeps.
        assert!(!tabs.anyone_looking(2_000 + fresh + 1, fresh));
        tabs.update(at("a", "general", true), 40_000);
        tabs.gone("a");
        assert!(!tabs.anyone_looking(40_000, fresh));
    }
}
