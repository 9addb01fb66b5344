//! What a page starts from ([`PageState`]): the server writes it into the page as JSON, and the
//! client reads it back before hydrating, so both sides start from identical state and the
//! first paint needs no extra request.

use serde::{Deserialize, Serialize};

use crate::app::platform;
use crate::protocol::json::{Decode, Fields, JsonValue, Unreadable};
use crate::protocol::{ChatMessage, GENERAL, Limits, RoomInfo};

/// How many messages a page of a room shows, and how many older ones scrolling back loads.
pub const PAGE_HISTORY: usize = 50;
/// How many messages a permalink page shows before and after its message.
pub const AROUND: usize = 25;

/// The id of the `<script type="application/json">` element that carries [`PageState`].
pub const STATE_ELEMENT_ID: &str = "chat-state";

/// Everything the page starts from: what it needs of the server's configuration, the rooms,
/// and the messages shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageState {
    /// How often to poll `sync`, in milliseconds; with long polling, the heartbeat that restarts
    /// a poll that failed or stalled.
    pub poll_interval_ms: u64,
    /// How long a `sync` may be held waiting for news (its `wait_ms`); 0: no long polling.
    pub long_poll_ms: u64,
    /// The most messages in a `sync` reply: a full one means "ask again".
    pub max_sync_batch: usize,
    /// The largest file an upload stores, in bytes: a larger one is refused before it is sent.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// The room shown.
    pub room: String,
    /// Every room served, with its newest id when the page was rendered.
    pub rooms: Vec<RoomInfo>,
    /// The messages shown, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether the room has messages older than the first shown.
    pub older: bool,
    /// Whether it has messages newer than the last shown (a page of the past, or a permalink).
    pub newer: bool,
    /// The message a permalink points at.
    pub focus: Option<u64>,
    /// The admin view (`/admin`): asks for the operator's token.
    #[serde(default)]
    pub admin: bool,
    /// The server's build of the client (its `X-Chat-Build` header): a reply naming another
    /// build means a deploy happened under this page.
    #[serde(default)]
    pub build: String,
}

impl Default for PageState {
    fn default() -> Self {
        Self {
            poll_interval_ms: 1000,
            long_poll_ms: 0,
            max_sync_batch: Limits::default().max_sync_batch,
            max_file_bytes: default_max_file_bytes(),
            room: GENERAL.to_owned(),
            rooms: vec![RoomInfo {
                name: GENERAL.to_owned(),
                newest: 0,
                unread: None,
                with: None,
            }],
            messages: Vec::new(),
            older: false,
            newer: false,
            focus: None,
            admin: false,
            build: String::new(),
        }
    }
}

fn default_max_file_bytes() -> u64 {
    Limits::default().max_file_bytes
}

/// Read by the browser as serde reads it (`PageState`'s test holds the two together).
impl Decode for PageState {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "PageState");
        Ok(PageState {
            poll_interval_ms: fields.need("poll_interval_ms")?,
            long_poll_ms: fields.need("long_poll_ms")?,
            max_sync_batch: fields.need("max_sync_batch")?,
            max_file_bytes: fields
                .maybe("max_file_bytes")?
                .unwrap_or_else(default_max_file_bytes),
            room: fields.need("room")?,
            rooms: fields.need("rooms")?,
            messages: fields.need("messages")?,
            older: fields.need("older")?,
            newer: fields.need("newer")?,
            focus: fields.maybe("focus")?,
            admin: fields.or_default("admin")?,
            build: fields.or_default("build")?,
        })
    }
}

impl PageState {
    /// JSON that is safe inside a `<script>` element: `<`, `>` and `&` are written as `\u003c`
    /// and so on, so a message containing `</script>` cannot end the element early.
    pub fn to_script_json(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        let mut safe = String::with_capacity(json.len());
        for ch in json.chars() {
            match ch {
                '<' => safe.push_str("\\u003c"),
                '>' => safe.push_str("\\u003e"),
                '&' => safe.push_str("\\u0026"),
                '\u{2028}' => safe.push_str("\\u2028"),
                '\u{2029}' => safe.push_str("\\u2029"),
                other => safe.push(other),
            }
        }
        safe
    }

    /// The state the server wrote into the page, read back in the browser: `None` (and the
    /// reason logged) when the page has none or it cannot be read.
    pub fn from_page(json: Option<String>) -> Option<Self> {
        let Some(json) = json else {
            leptos::logging::error!("the page has no state element #{STATE_ELEMENT_ID}");
            return None;
        };
        match platform::read::<PageState>(&json) {
            Some(Ok(page)) => Some(page),
            Some(Err(at)) => {
                leptos::logging::error!("the page's state is unreadable at {at}");
                None
            }
            None => {
                leptos::logging::error!("the page's state is not JSON");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::json::tests::{id, message, room_info, text, through_serde};
    use proptest::prelude::*;

    #[test]
    fn script_json_cannot_close_its_element_and_round_trips() {
        let page = PageState {
            messages: vec![ChatMessage {
                id: 1,
                room: "general".into(),
                sender: "<b>".into(),
                message: "</script><script>alert(1)</script> & \u{2028}".into(),
                sent_at: "2026-01-01T00:00:00Z".into(),
                ..ChatMessage::default()
            }],
            ..PageState::default()
        };
        let json = page.to_script_json();
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert_eq!(serde_json::from_str::<PageState>(&json).unwrap(), page);
        assert_eq!(PageState::from_page(Some(json)), Some(page));
        assert_eq!(PageState::from_page(Some("{}".into())), None);
    }

    fn page() -> impl Strategy<Value = PageState> {
        (
            (
                id(),
                id(),
                0..=crate::protocol::json::MAX_SAFE as usize,
                text(),
            ),
            (
                proptest::collection::vec(room_info(), 0..4),
                proptest::collection::vec(message(), 0..4),
            ),
            (
                any::<bool>(),
                any::<bool>(),
                proptest::option::of(id()),
                any::<bool>(),
                text(),
            ),
        )
            .prop_map(
                |(
                    (poll_interval_ms, long_poll_ms, max_sync_batch, room),
                    (rooms, messages),
                    (older, newer, focus, admin, build),
                )| PageState {
                    poll_interval_ms,
                    long_poll_ms,
                    max_sync_batch,
                    max_file_bytes: max_sync_batch as u64 / 3,
                    room,
                    rooms,
                    messages,
                    older,
                    newer,
                    focus,
                    admin,
                    build,
                },
            )
    }

    proptest! {
        #[test]
        fn the_page_state_is_read_as_serde_wrote_it(page in page()) {
            prop_assert_eq!(through_serde(&page), Ok(page));
        }
    }
}
