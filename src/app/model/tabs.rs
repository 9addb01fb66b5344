//! What the tabs of one browser tell each other (over a `BroadcastChannel`), so that one of
//! them, the leader, long-polls for all: a browser opens at most six HTTP/1.1 connections to a
//! host, and a held poll per tab would leave none for sending once six tabs are open.
//!
//! The leader passes on every sync reply as it came (`Synced`, which doubles as its heartbeat);
//! each tab takes it in as if it had polled itself, and counts its own unread. Tabs say where
//! they are (`Presence`: the room shown, and whether someone looks at it), so that the leader
//! notifies once per browser, and only of what no tab shows.

use crate::protocol::json::{Decode, Encode, Fields, JsonValue, JsonWriter, Unreadable};

/// One tab's message to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TabMessage {
    /// The leader's sync asked for what is newer than `from` and was answered with `reply`
    /// (the reply's JSON text, as the server wrote it).
    Synced { from: u64, reply: String },
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

/// The tabs a leader knows of.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tabs(Vec<Presence>);

impl Tabs {
    pub fn update(&mut self, presence: Presence) {
        self.gone(&presence.tab);
        self.0.push(presence);
    }

    pub fn gone(&mut self, tab: &str) {
        self.0.retain(|known| known.tab != tab);
    }

    /// Whether some tab is looking at `room`.
    pub fn looking_at(&self, room: &str) -> bool {
        self.0.iter().any(|tab| tab.looking && tab.room == room)
    }

    /// Whether some tab is looking at all (else a leader without long polling may rest).
    pub fn anyone_looking(&self) -> bool {
        self.0.iter().any(|tab| tab.looking)
    }
}

impl Encode for TabMessage {
    fn encode(&self, json: &mut JsonWriter) {
        json.object(|json| match self {
            TabMessage::Synced { from, reply } => {
                json.field("kind", "synced");
                json.field("from", from);
                json.field("reply", reply);
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
            (id(), text()).prop_map(|(from, reply)| TabMessage::Synced { from, reply }),
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
    fn the_leader_knows_who_looks_where() {
        let mut tabs = Tabs::default();
        let at = |tab: &str, room: &str, looking| Presence {
            tab: tab.into(),
            room: room.into(),
            looking,
        };
        tabs.update(at("a", "dev", true));
        tabs.update(at("b", "general", false));
        assert!(tabs.looking_at("dev") && !tabs.looking_at("general"));
        tabs.update(at("a", "general", true));
        assert!(!tabs.looking_at("dev") && tabs.looking_at("general"));
        tabs.gone("a");
        assert!(!tabs.anyone_looking());
    }
}
