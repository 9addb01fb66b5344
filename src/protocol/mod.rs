//! The wire protocol of `POST /ajax`: the `{"type", "data"}` envelopes of the seed design,
//! shared by the server and the browser client, the one definition of what goes over the wire.
//!
//! serde does the tagging (`#[serde(tag = "type", content = "data")]`) on the server; the
//! browser writes and reads the same types through [`json`], which property tests hold to
//! exactly what serde writes and reads. A client may send `message`, `sync`, `history`,
//! `rooms`, `search`, `edit`, `delete`, `react`, the operator's envelopes and `fingerprint`; the server
//! answers with `sync`, `history`, `rooms`, `search`, `bans` or `status`. Validation of what a
//! client sends lives here too.
//!
//! Rooms extend the seed without changing it: every field they add is optional and defaults
//! to the room `general`, so a client that knows only the seed's three envelopes keeps working.

use serde::{Deserialize, Serialize};

pub mod files;
pub mod json;

pub use files::{
    FileInfo, MAX_FILE_NAME_CHARS, MAX_FILES, check_file_name, declared_type, is_file_id,
    percent_decode, percent_encode, upload_name,
};

/// The room that always exists, and the one every seed-shaped envelope means.
pub const GENERAL: &str = "general";
/// Most rooms one `sync` may follow.
pub const MAX_SYNC_ROOMS: usize = 100;
/// Most messages one `history` reply may hold, and how many it holds when not told.
pub const MAX_HISTORY: u32 = 200;
pub const DEFAULT_HISTORY: u32 = 50;
/// The longest a `sync` may ask to be held, in milliseconds.
pub const MAX_WAIT_MS: u64 = 30_000;
/// `unread` counts stop here: "1000" reads as "1000 or more".
pub const MAX_UNREAD: u64 = 1000;

/// Whether `name` is a room name: 1 to 32 of `a-z`, `0-9` and `-`, not starting with `-`.
pub fn is_room_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=32).contains(&bytes.len())
        && bytes[0] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// How every direct room's name begins: `dm-<a>-<b>`, `a` and `b` the fingerprints of its two
/// members with `a <= b` (`a = b`: a note to oneself).
pub const DIRECT_PREFIX: &str = "dm-";

/// The two members of the direct room `name`, or `None` when it is not a well-formed direct
/// room's name.
pub fn direct_members(name: &str) -> Option<(&str, &str)> {
    let (a, b) = name.strip_prefix(DIRECT_PREFIX)?.split_once('-')?;
    (is_fingerprint(a) && is_fingerprint(b) && a <= b).then_some((a, b))
}

/// The direct room of the fingerprints `one` and `other`, in either order.
pub fn direct_room(one: &str, other: &str) -> String {
    let (a, b) = if one <= other {
        (one, other)
    } else {
        (other, one)
    };
    format!("{DIRECT_PREFIX}{a}-{b}")
}

/// Whether `reader` (a key's fingerprint, if any) may read the room `name`: any room not a
/// direct one (whether it is served is the server's to say), a direct room only its members.
pub fn may_read(name: &str, reader: Option<&str>) -> bool {
    match direct_members(name) {
        Some((a, b)) => reader.is_some_and(|me| me == a || me == b),
        None => !name.starts_with(DIRECT_PREFIX),
    }
}

/// The limits of the protocol. The defaults are the contract; a server may be configured
/// otherwise, and then tells its clients (the page reads them from the rendered HTML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most Unicode scalar values in a sender name, after trimming white space.
    pub max_sender_chars: usize,
    /// Most Unicode scalar values in a message text.
    pub max_message_chars: usize,
    /// Most messages in one `sync` reply; a full reply means "ask again".
    pub max_sync_batch: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest file a `POST /files` stores, in bytes.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sender_chars: 64,
            max_message_chars: 4096,
            max_sync_batch: 1000,
            max_body_bytes: 64 * 1024,
            max_file_bytes: 10 * 1024 * 1024,
        }
    }
}

/// An envelope a client sends to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum ClientEnvelope {
    /// A message the user wants to post.
    Message(#[serde(deserialize_with = "object")] PostMessage),
    /// A request for every message newer than the one the client has.
    Sync(#[serde(deserialize_with = "object")] SyncRequest),
    /// A page of a room's older messages (scroll-back).
    History(#[serde(deserialize_with = "object")] HistoryRequest),
    /// The rooms, their newest ids and, for those the client names, how many it has not read.
    Rooms(#[serde(deserialize_with = "object")] RoomsRequest),
    /// Replaces the text of one's own message.
    Edit(#[serde(deserialize_with = "object")] EditRequest),
    /// Deletes one's own message, or (with the admin token) anyone's.
    Delete(#[serde(deserialize_with = "object")] DeleteRequest),
    /// Toggles the key's reaction with an emoji on a message.
    React(#[serde(deserialize_with = "object")] ReactRequest),
    /// Operator: refuses an author's or an address's messages from now on.
    Ban(#[serde(deserialize_with = "object")] BanRequest),
    /// Operator: lifts a ban.
    Unban(#[serde(deserialize_with = "object")] BanRequest),
    /// Operator: the bans in force.
    Bans(#[serde(deserialize_with = "object")] AdminRequest),
    /// Full-text search of the messages.
    Search(#[serde(deserialize_with = "object")] SearchRequest),
    /// The fingerprint of a key, without posting: what a page shows before it takes another
    /// browser's key.
    Fingerprint(#[serde(deserialize_with = "object")] FingerprintRequest),
    /// Operator: makes a bot, answered once with the token it posts with.
    Bot(#[serde(deserialize_with = "object")] BotRequest),
    /// Operator: the bots (never their tokens).
    Bots(#[serde(deserialize_with = "object")] AdminRequest),
    /// Operator: revokes a bot's token; its messages stay.
    #[serde(rename = "bot_delete")]
    BotDelete(#[serde(deserialize_with = "object")] BotDeleteRequest),
}

impl ClientEnvelope {
    /// The envelope's `type`, as on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientEnvelope::Message(_) => "message",
            ClientEnvelope::Sync(_) => "sync",
            ClientEnvelope::History(_) => "history",
            ClientEnvelope::Rooms(_) => "rooms",
            ClientEnvelope::Edit(_) => "edit",
            ClientEnvelope::Delete(_) => "delete",
            ClientEnvelope::React(_) => "react",
            ClientEnvelope::Ban(_) => "ban",
            ClientEnvelope::Unban(_) => "unban",
            ClientEnvelope::Bans(_) => "bans",
            ClientEnvelope::Search(_) => "search",
            ClientEnvelope::Fingerprint(_) => "fingerprint",
            ClientEnvelope::Bot(_) => "bot",
            ClientEnvelope::Bots(_) => "bots",
            ClientEnvelope::BotDelete(_) => "bot_delete",
        }
    }
}

/// The `data` of a client's `fingerprint` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintRequest {
    pub key: String,
}

/// Most results of one `search`, newest first.
pub const MAX_SEARCH_RESULTS: usize = 50;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The `data` of a client's `search` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The words to find: a message matches when it has every one as a word (the last one also
    /// as the start of a word), in any case.
    pub q: String,
    /// Only this room's messages; every room's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Only messages older than this id (the next page of results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// The reader's key: needed for a direct room, and without `room` it adds the key's direct
    /// rooms to those searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl SearchRequest {
    /// The query's words, lowercased: runs of letters and digits (what the search indexes
    /// split text into), checked: 1 to [`MAX_QUERY_CHARS`] characters with at least one word,
    /// and `before` at least 1.
    pub fn words(&self) -> Result<Vec<String>, Invalid> {
        let chars = self.q.chars().count();
        if !(1..=MAX_QUERY_CHARS).contains(&chars) {
            return Err(Invalid(format!(
                "data.q: {chars} characters, 1 to {MAX_QUERY_CHARS} allowed"
            )));
        }
        if self.before == Some(0) {
            return Err(Invalid("data.before: must be at least 1".into()));
        }
        let words: Vec<String> = self
            .q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return Err(Invalid(
                "data.q: must contain at least one letter or digit".into(),
            ));
        }
        Ok(words)
    }
}

/// Deserializes `T` from a JSON object only. serde's derived structs also accept a list of
/// field values (`["ann", "hi"]`), which is not a shape this protocol has.
fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectOnly<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(ObjectOnly(std::marker::PhantomData))
}

/// The `data` of a client's `message` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostMessage {
    /// Required (an absent one is refused as empty), except from a bot, whose messages are
    /// sent by its name.
    #[serde(default)]
    pub sender: String,
    /// Required; with `files` it may be empty.
    pub message: String,
    /// Optional idempotency key, 8 to 64 characters, made afresh by the client for each
    /// message and reused when it retries that message: a repeat is answered like the first
    /// time and stores nothing new. An extension of the seed's protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The room to post to; `general` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The browser's secret key ([`KEY_CHARS`] of `A-Za-z0-9_-`): the message carries the
    /// fingerprint the server derives from it, and only that key can edit or delete it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The earlier message of the same room this one answers: its items then quote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// Files uploaded with the same key (`POST /files`) and not attached yet, 1 to
    /// [`MAX_FILES`] distinct ids, in the order the message shows them. With files the text may
    /// be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
}

/// The `data` of a client's `edit` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditRequest {
    pub id: u64,
    /// The new text, checked like a message's.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Refused: the operator deletes, but does not put words in anyone's mouth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
    /// As a message's: a retry with the same nonce is answered like the first try.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The `data` of a client's `delete` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The `data` of a client's `react` envelope: adds the key's reaction `emoji` to message `id`,
/// or takes it back if the key has reacted so already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactRequest {
    pub id: u64,
    pub emoji: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// As a message's: a retry with the same nonce is answered like the first try and toggles
    /// nothing again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// Most Unicode scalar values in one reaction's emoji (a flag is two, a family with skin tones
/// up to seven).
pub const MAX_EMOJI_CHARS: usize = 8;
/// Most distinct emoji on one message at a time.
pub const MAX_REACTIONS: usize = 20;

impl ReactRequest {
    /// Checks the emoji ([`check_emoji`]), the nonce and the key's form.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_emoji(&self.emoji)?;
        check_nonce(self.nonce.as_deref())?;
        self.key.as_deref().map_or(Ok(()), check_key)
    }
}

/// An emoji as a reaction: 1 to [`MAX_EMOJI_CHARS`] scalar values, none of them a letter or a
/// number (Unicode's general categories L and N), white space or a control character (Cc).
/// `👍`, `❤️` (with its variation selector), `🇫🇷` and `🅿️` are reactions; `+1`, `ok` and `é`
/// are not.
pub fn check_emoji(emoji: &str) -> Result<(), Invalid> {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
    let chars = emoji.chars().count();
    if !(1..=MAX_EMOJI_CHARS).contains(&chars) {
        return Err(Invalid(format!(
            "data.emoji: {chars} characters, 1 to {MAX_EMOJI_CHARS} allowed"
        )));
    }
    let refused = |c: char| {
        matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
        ) || c.is_whitespace()
            || c.is_control()
    };
    if emoji.chars().any(refused) {
        return Err(Invalid(
            "data.emoji: an emoji, not letters, digits, white space or control characters".into(),
        ));
    }
    Ok(())
}

/// The `data` of `ban` and `unban`: the admin token and exactly one of `author` (a
/// fingerprint) or `address` (an IP address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanRequest {
    pub admin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `ban` only: also delete every message of the author or address.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purge: bool,
}

/// The `data` of operator requests that carry nothing but the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRequest {
    pub admin: String,
}

/// The `data` of the operator's `bot`: a bot named `name` (a name as a message's sender) that
/// may post to `rooms` (1 to [`MAX_SYNC_ROOMS`] distinct rooms the server serves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotRequest {
    pub admin: String,
    pub name: String,
    pub rooms: Vec<String>,
}

impl BotRequest {
    /// The name, trimmed, and the rooms, checked for their form (whether they are served is
    /// the server's to say).
    pub fn validate(&self, limits: &Limits) -> Result<String, Invalid> {
        let name = sender_name("data.name", &self.name, limits)?;
        if !(1..=MAX_SYNC_ROOMS).contains(&self.rooms.len()) {
            return Err(Invalid(format!(
                "data.rooms: {} rooms, 1 to {MAX_SYNC_ROOMS} allowed",
                self.rooms.len()
            )));
        }
        for (at, room) in self.rooms.iter().enumerate() {
            if !is_room_name(room) {
                return Err(Invalid(format!("data.rooms: {BAD_ROOM}")));
            }
            if self.rooms[..at].contains(room) {
                return Err(Invalid(format!("data.rooms: {room} is named twice")));
            }
        }
        Ok(name.to_owned())
    }
}

/// The `data` of the operator's `bot_delete`: the bot's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotDeleteRequest {
    pub admin: String,
    pub author: String,
}

/// The server's answer to `bot`: the only time the bot's token is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotToken {
    pub name: String,
    /// The bot's secret: `Authorization: Bearer <token>` on `/bots/<room>/messages`, and its
    /// key on `/ajax`.
    pub token: String,
    /// Its fingerprint, derived from the token as a key's.
    pub author: String,
}

/// One bot, as `bots` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotInfo {
    pub name: String,
    pub author: String,
    pub rooms: Vec<String>,
    /// When it was made: RFC 3339, UTC.
    pub created: String,
}

/// The first characters of every bot token: they tell a bot's key from a browser's without
/// a lookup, and let secret scanners recognise a token that leaked into a repository or a log.
pub const BOT_TOKEN_PREFIX: &str = "chatbot_";

/// One ban: of an author (fingerprint) or of an address, as `bans` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ban {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl BanRequest {
    /// Who is (un)banned, checked: exactly one of a fingerprint or an IP address (written back
    /// in its canonical form, so `::FFFF:1.2.3.4`-style spellings cannot dodge a ban).
    pub fn target(&self) -> Result<Ban, Invalid> {
        match (&self.author, &self.address) {
            (Some(author), None) if is_fingerprint(author) => Ok(Ban {
                author: Some(author.clone()),
                address: None,
            }),
            (Some(_), None) => Err(Invalid(
                "data.author: not a fingerprint (8 of a-z and 2-7)".into(),
            )),
            (None, Some(address)) => match address.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(Ban {
                    author: None,
                    address: Some(ip.to_canonical().to_string()),
                }),
                Err(_) => Err(Invalid("data.address: not an IP address".into())),
            },
            _ => Err(Invalid(
                "data: give exactly one of \"author\" and \"address\"".into(),
            )),
        }
    }
}

/// Shortest and longest secret key, in characters (22 of base64url is 132 bits).
pub const KEY_CHARS: std::ops::RangeInclusive<usize> = 22..=128;

/// Checks a secret key's form: [`KEY_CHARS`] characters of `A-Za-z0-9_-`.
pub fn check_key(key: &str) -> Result<(), Invalid> {
    let form = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if form && KEY_CHARS.contains(&key.len()) {
        Ok(())
    } else {
        Err(Invalid(format!(
            "data.key: {} to {} of A-Z, a-z, 0-9, _ and - required",
            KEY_CHARS.start(),
            KEY_CHARS.end()
        )))
    }
}

/// The refusal (404) of an envelope about a message that does not exist or no longer does: a
/// page tells by it that a reply's message was deleted before the reply went out.
pub fn no_such_message(id: u64) -> String {
    format!("no such message: {id}")
}

/// Whether `text` is a fingerprint: 8 characters of lowercase base32 (`a-z`, `2-7`).
pub fn is_fingerprint(text: &str) -> bool {
    text.len() == 8
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// The `data` of a client's `sync` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Id of the newest message the client has; 0 when it has none.
    pub last_message: u64,
    /// The rooms to follow, 1 to [`MAX_SYNC_ROOMS`] distinct names; `["general"]` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<String>>,
    /// Long polling: when nothing is newer, how long the server may hold the request until
    /// something is, in milliseconds, 0 to [`MAX_WAIT_MS`]. Absent or 0: answer at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// The reader's key: needed to follow a direct room, which only its two members read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Also follow every direct room of the key (needs `key` and `rooms`), also one whose first
    /// message is written while the sync is held.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct: bool,
}

impl SyncRequest {
    /// How long the request may be held, checked: at most [`MAX_WAIT_MS`].
    pub fn wait(&self) -> Result<u64, Invalid> {
        match self.wait_ms {
            Some(wait) if wait > MAX_WAIT_MS => Err(Invalid(format!(
                "data.wait_ms: {wait}, 0 to {MAX_WAIT_MS} allowed"
            ))),
            wait => Ok(wait.unwrap_or(0)),
        }
    }
}

/// The `data` of a client's `history` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRequest {
    pub room: String,
    /// Only messages with a smaller id; every message when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// How many, 1 to [`MAX_HISTORY`]; [`DEFAULT_HISTORY`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The reader's key: needed for a direct room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl HistoryRequest {
    /// The id bound and the count, checked: `before` at least 1, `limit` in range.
    pub fn bounds(&self) -> Result<(u64, usize), Invalid> {
        let before = match self.before {
            Some(0) => return Err(Invalid("data.before: must be at least 1".into())),
            Some(before) => before,
            None => u64::MAX,
        };
        let limit = self.limit.unwrap_or(DEFAULT_HISTORY);
        if !(1..=MAX_HISTORY).contains(&limit) {
            return Err(Invalid(format!(
                "data.limit: {limit}, 1 to {MAX_HISTORY} allowed"
            )));
        }
        Ok((before, limit as usize))
    }
}

/// The `data` of a client's `rooms` envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomsRequest {
    /// Per room, the newest id the client has read: the reply counts what is newer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<RoomIds>,
    /// The reader's key: the reply then also lists its direct rooms that have a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Per room, an id: on the wire a JSON object `{"<room>": <id>, ...}`, held as a list because a
/// map type would cost the WASM client its tree and sorting code (about 20 KB). A room named
/// twice keeps its last id, as JSON parsers do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomIds(pub Vec<(String, u64)>);

impl RoomIds {
    pub fn get(&self, room: &str) -> Option<u64> {
        self.0
            .iter()
            .find(|(name, _)| name == room)
            .map(|&(_, id)| id)
    }

    /// Sets `room`'s id, replacing the one it had.
    pub fn set(&mut self, room: &str, id: u64) {
        match self.0.iter_mut().find(|(name, _)| name == room) {
            Some(entry) => entry.1 = id,
            None => self.0.push((room.to_owned(), id)),
        }
    }
}

impl Serialize for RoomIds {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, id)| (name, id)))
    }
}

impl<'de> Deserialize<'de> for RoomIds {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RoomIds;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of room names and ids")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RoomIds, A::Error> {
                let mut ids = RoomIds::default();
                while let Some((room, id)) = map.next_entry::<String, u64>()? {
                    ids.set(&room, id);
                }
                Ok(ids)
            }
        }

        deserializer.deserialize_map(Visitor)
    }
}

/// One room in a `rooms` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    /// The id of the room's newest message; 0 when it has none.
    pub newest: u64,
    /// Messages newer than the id the client said it read (at most [`MAX_UNREAD`]); only for
    /// rooms the request named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<u64>,
    /// A direct room's: the other member's fingerprint (the reader's own, for a note to
    /// oneself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
}

/// An envelope the server sends back. (Encoded with serde; the browser decodes it with
/// [`json::Decode`].)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum ServerEnvelope {
    /// The messages newer than the client's `last_message`, oldest first.
    Sync(Vec<ChatMessage>),
    /// Whether the action the server took for the client succeeded.
    Status(Status),
    /// A page of a room's messages, oldest first.
    History(Vec<ChatMessage>),
    /// Every room the server serves, in its configured order.
    Rooms(Vec<RoomInfo>),
    /// The bans in force (operator only).
    Bans(Vec<Ban>),
    /// Messages matching a `search`, newest first.
    Search(Vec<ChatMessage>),
    /// A new bot and its token (operator only).
    Bot(BotToken),
    /// The bots, oldest first (operator only).
    Bots(Vec<BotInfo>),
    /// A file stored by `POST /files`, to attach to a message.
    File(FileInfo),
}

/// One item of the event log, as the server hands it out: a message (`kind` "message", with its
/// current text and reactions), or an event about an earlier message (`kind` "edit", "delete"
/// or "reactions", with its `target`; only for clients whose `sync` names `rooms`). Fields an item does not have are
/// left out of its JSON: a message has no `target`, an edit no `sender`, a delete no text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Positive, strictly increasing in commit order across all rooms, never reused.
    pub id: u64,
    pub room: String,
    #[serde(default)]
    pub kind: Kind,
    /// The message an edit or delete is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sender: String,
    /// The text: a message's current one, or the one an edit put in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the server stored the message: RFC 3339, UTC.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sent_at: String,
    /// The fingerprint of the key it was sent with, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Sent by a bot (with its token, on `/bots` or `/ajax`): its sender is the bot's name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bot: bool,
    /// When it was last edited (a message), or when this edit was made (an edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// The message a reply answers, as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Quote>,
    /// A message's reactions, each emoji in the order it was first added, with its authors in
    /// the order they reacted: absent when it has none. A `reactions` event always carries the
    /// whole new set, empty when the last reaction was taken back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactions: Option<Vec<Reaction>>,
    /// A message's files, in the order they were attached: absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileInfo>>,
}

/// Most Unicode scalar values of a message's text that a reply quotes.
pub const QUOTE_CHARS: usize = 140;

/// What a reply carries of the message it answers, as that message is now: its id, sender,
/// author and the first [`QUOTE_CHARS`] of its current text (no ellipsis); once it is deleted,
/// exactly its id and `"deleted": true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub id: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sender: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Quote {
    /// The quote of `message` as it is now.
    pub fn of(message: &ChatMessage) -> Self {
        Self {
            id: message.id,
            sender: message.sender.clone(),
            author: message.author.clone(),
            message: quoted(&message.message),
            deleted: false,
        }
    }

    /// The quote of message `id` once it is deleted.
    pub fn deleted(id: u64) -> Self {
        Self {
            id,
            deleted: true,
            ..Self::default()
        }
    }

    /// What an event about the quoted message does to this quote: an edit puts in its new text,
    /// a delete leaves only the id.
    pub fn follow(&mut self, event: &ChatMessage) {
        if event.target != Some(self.id) || self.deleted {
            return;
        }
        match event.kind {
            Kind::Edit => self.message = quoted(&event.message),
            Kind::Delete => *self = Self::deleted(self.id),
            Kind::Message | Kind::Reactions => {}
        }
    }
}

/// The first [`QUOTE_CHARS`] scalar values of `text`.
pub fn quoted(text: &str) -> String {
    text.chars().take(QUOTE_CHARS).collect()
}

/// One emoji on a message, and the fingerprints that reacted with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub authors: Vec<String>,
}

/// A reaction with a new emoji on a message that has [`MAX_REACTIONS`] already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyReactions;

/// Toggles `author`'s reaction `emoji` in `set`: `Ok(true)` when it was added, `Ok(false)` when
/// taken back (an emoji nobody has any more leaves the set), refused when it would be a new
/// emoji beyond [`MAX_REACTIONS`].
pub fn toggle_reaction(
    set: &mut Vec<Reaction>,
    emoji: &str,
    author: &str,
) -> Result<bool, TooManyReactions> {
    match set.iter().position(|reaction| reaction.emoji == emoji) {
        Some(at) => {
            let authors = &mut set[at].authors;
            if let Some(mine) = authors.iter().position(|who| who == author) {
                authors.remove(mine);
                if authors.is_empty() {
                    set.remove(at);
                }
                Ok(false)
            } else {
                authors.push(author.to_owned());
                Ok(true)
            }
        }
        None if set.len() >= MAX_REACTIONS => Err(TooManyReactions),
        None => {
            set.push(Reaction {
                emoji: emoji.to_owned(),
                authors: vec![author.to_owned()],
            });
            Ok(true)
        }
    }
}

/// What an item of the log is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Message,
    Edit,
    Delete,
    /// A message's reactions changed: the event carries the whole new set.
    Reactions,
}

/// The `data` of a `status` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub status: Outcome,
    /// Where and why it failed, or what succeeded.
    pub message: String,
    /// A stored message's (or edit's, or delete's) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// A message sent with a key: its fingerprint, so the page learns its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl Status {
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            status: Outcome::Succeeded,
            message: message.into(),
            id: None,
            author: None,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            status: Outcome::Failed,
            message: message.into(),
            id: None,
            author: None,
        }
    }
}

/// The seed's `status` value: 0 for success, 1 for failure, on the wire as that integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Outcome {
    Succeeded,
    Failed,
}

impl From<Outcome> for u8 {
    fn from(outcome: Outcome) -> u8 {
        match outcome {
            Outcome::Succeeded => 0,
            Outcome::Failed => 1,
        }
    }
}

impl TryFrom<u8> for Outcome {
    type Error = String;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(Outcome::Succeeded),
            1 => Ok(Outcome::Failed),
            other => Err(format!("status must be 0 or 1, not {other}")),
        }
    }
}

/// A `message` that passed validation: the sender trimmed, the text exactly as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidMessage {
    pub room: String,
    pub sender: String,
    pub message: String,
    pub nonce: Option<String>,
    /// The fingerprint of its key; the server fills it in (the key itself goes no further).
    pub author: Option<String>,
    /// The client's address, kept so that a ban of it can purge its messages; the server
    /// fills it in.
    pub address: Option<String>,
    /// The message it answers (checked by storage: a live message of the same room).
    pub reply_to: Option<u64>,
    /// Sent with a bot's token; the server fills it in (and the sender with the bot's name).
    pub bot: bool,
    /// The ids of its files (checked by storage: uploaded with its key, not attached yet).
    pub files: Vec<String>,
}

/// Shortest and longest idempotency key, in characters.
pub const NONCE_CHARS: std::ops::RangeInclusive<usize> = 8..=64;

/// Why a client's input was refused; the text is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

impl PostMessage {
    /// Checks the message against `limits`. The sender is trimmed of surrounding white space
    /// (Unicode White_Space, as `str::trim`); the text is kept byte for byte. NUL is refused in
    /// both because PostgreSQL cannot store it in text, and every backend must accept the same.
    /// The room is checked for its form only; whether it is served is the server's to say.
    pub fn validate(&self, limits: &Limits) -> Result<ValidMessage, Invalid> {
        let room = self.room.as_deref().unwrap_or(GENERAL);
        if !is_room_name(room) {
            return Err(Invalid(format!("data.room: {BAD_ROOM}")));
        }
        let sender = sender_name("data.sender", &self.sender, limits)?;
        let files = check_files(self.files.as_deref())?;
        if files.is_empty() || !self.message.is_empty() {
            check_text(&self.message, limits)?;
        }
        check_nonce(self.nonce.as_deref())?;
        if let Some(key) = &self.key {
            check_key(key)?;
        }
        if self.reply_to == Some(0) {
            return Err(Invalid("data.reply_to: must be at least 1".into()));
        }
        Ok(ValidMessage {
            room: room.to_owned(),
            sender: sender.to_owned(),
            message: self.message.clone(),
            nonce: self.nonce.clone(),
            author: None,
            address: None,
            reply_to: self.reply_to,
            bot: false,
            files,
        })
    }
}

/// A message's `files`: absent, or 1 to [`MAX_FILES`] distinct file ids.
fn check_files(files: Option<&[String]>) -> Result<Vec<String>, Invalid> {
    let Some(files) = files else {
        return Ok(Vec::new());
    };
    if files.is_empty() || files.len() > MAX_FILES {
        return Err(Invalid(format!(
            "data.files: 1 to {MAX_FILES} file ids required, not {}",
            files.len()
        )));
    }
    if let Some(bad) = files.iter().find(|id| !is_file_id(id)) {
        return Err(Invalid(format!("data.files: {bad:?} is not a file id")));
    }
    for (at, id) in files.iter().enumerate() {
        if files[..at].contains(id) {
            return Err(Invalid(format!("data.files: {id} is named twice")));
        }
    }
    Ok(files.to_vec())
}

/// A name as shown beside a message (a sender's, a bot's): trimmed of surrounding white space
/// (Unicode White_Space, as `str::trim`), 1 to the limit's characters, no NUL (PostgreSQL
/// cannot store it in text, and every backend must accept the same).
fn sender_name<'a>(field: &str, name: &'a str, limits: &Limits) -> Result<&'a str, Invalid> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Invalid(format!("{field}: must not be empty")));
    }
    if chars > limits.max_sender_chars {
        return Err(Invalid(format!(
            "{field}: {chars} characters, at most {} allowed",
            limits.max_sender_chars
        )));
    }
    if name.contains('\0') {
        return Err(Invalid(format!("{field}: must not contain NUL")));
    }
    Ok(name)
}

impl EditRequest {
    /// Checks the new text like a message's, and the nonce and key.
    pub fn validate(&self, limits: &Limits) -> Result<(), Invalid> {
        check_text(&self.message, limits)?;
        check_nonce(self.nonce.as_deref())?;
        self.key.as_deref().map_or(Ok(()), check_key)
    }
}

impl DeleteRequest {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_nonce(self.nonce.as_deref())?;
        self.key.as_deref().map_or(Ok(()), check_key)
    }
}

/// A message's text: not blank, at most the limit's characters, no NUL.
fn check_text(text: &str, limits: &Limits) -> Result<(), Invalid> {
    if text.trim().is_empty() {
        return Err(Invalid(
            "data.message: must not be empty or only white space".into(),
        ));
    }
    let message_chars = text.chars().count();
    if message_chars > limits.max_message_chars {
        return Err(Invalid(format!(
            "data.message: {message_chars} characters, at most {} allowed",
            limits.max_message_chars
        )));
    }
    if text.contains('\0') {
        return Err(Invalid("data.message: must not contain NUL".into()));
    }
    Ok(())
}

fn check_nonce(nonce: Option<&str>) -> Result<(), Invalid> {
    if let Some(nonce) = nonce {
        let nonce_chars = nonce.chars().count();
        if !NONCE_CHARS.contains(&nonce_chars) || nonce.contains('\0') {
            return Err(Invalid(format!(
                "data.nonce: {nonce_chars} characters, {} to {} allowed",
                NONCE_CHARS.start(),
                NONCE_CHARS.end()
            )));
        }
    }
    Ok(())
}

/// Decodes the JSON body of a bot's post: a `message` envelope's `data` (an object; its
/// `sender` may be left out, the bot's name replaces it).
pub fn decode_bot_message(body: &[u8]) -> Result<PostMessage, Invalid> {
    let mut json = serde_json::Deserializer::from_slice(body);
    object(&mut json)
        .and_then(|post| json.end().map(|()| post))
        .map_err(|err| {
            let why = match err.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "body is not valid JSON"
                }
                serde_json::error::Category::Io | serde_json::error::Category::Data => {
                    "not a valid message (the data of a message envelope)"
                }
            };
            // A whole envelope sent where its data belongs: say so.
            let whole = serde_json::from_slice::<serde_json::Value>(body)
                .is_ok_and(|value| value.get("type").is_some() && value.get("data").is_some());
            if whole {
                return Invalid(
                    "body: send the data of a message envelope ({\"message\": ...}), not the envelope"
                        .into(),
                );
            }
            Invalid(format!("{why}: {err}"))
        })
}

/// Why a room name was refused.
pub const BAD_ROOM: &str = "not a room name (1 to 32 of a-z, 0-9 and -, not starting with -)";

/// Decodes one client envelope from a request body; the error says where and why.
pub fn decode_client(body: &[u8]) -> Result<ClientEnvelope, Invalid> {
    serde_json::from_slice(body).map_err(|err| {
        let why = match err.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "body is not valid JSON"
            }
            serde_json::error::Category::Io | serde_json::error::Category::Data => {
                "not a valid client envelope"
            }
        };
        Invalid(format!("{why}: {err}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_use_the_seed_shape() {
        let sync = ServerEnvelope::Sync(vec![ChatMessage {
            id: 3,
            room: "general".into(),
            sender: "ann".into(),
            message: "hi".into(),
            sent_at: "2026-01-01T00:00:00Z".into(),
            ..ChatMessage::default()
        }]);
        assert_eq!(
            serde_json::to_value(&sync).unwrap(),
            json!({"type": "sync", "data": [
                {"id": 3, "room": "general", "kind": "message", "sender": "ann", "message": "hi", "sent_at": "2026-01-01T00:00:00Z"}
            ]})
        );
        assert_eq!(
            serde_json::to_value(ServerEnvelope::Status(Status::failed("no"))).unwrap(),
            json!({"type": "status", "data": {"status": 1, "message": "no"}})
        );
        assert_eq!(
            serde_json::to_value(ClientEnvelope::Sync(SyncRequest {
                last_message: 7,
                rooms: None,
                wait_ms: None,
                key: None,
                direct: false,
            }))
            .unwrap(),
            json!({"type": "sync", "data": {"last_message": 7}})
        );
        assert_eq!(
            serde_json::to_value(ServerEnvelope::Rooms(vec![RoomInfo {
                name: "dev".into(),
                newest: 9,
                unread: None,
                with: None,
            }]))
            .unwrap(),
            json!({"type": "rooms", "data": [{"name": "dev", "newest": 9}]})
        );
    }

    #[test]
    fn clients_cannot_send_server_shapes() {
        let err =
            decode_client(br#"{"type":"status","data":{"status":0,"message":"x"}}"#).unwrap_err();
        assert!(err.0.contains("status"), "{err}");
        assert!(decode_client(br#"{"type":"sync","data":{"last_message":-1}}"#).is_err());
        assert!(decode_client(br#"{"type":"sync","data":{"last_message":1.5}}"#).is_err());
        assert!(decode_client(br#"{"type":"sync"}"#).is_err());
        assert!(decode_client(br#"{"type":"sync","data":[5]}"#).is_err());
        assert!(decode_client(br#"{"type":"message","data":["a","b"]}"#).is_err());
        assert_eq!(
            decode_client(br#"{"data":{"last_message":5},"type":"sync"}"#).unwrap(),
            ClientEnvelope::Sync(SyncRequest {
                last_message: 5,
                rooms: None,
                wait_ms: None,
                key: None,
                direct: false,
            }),
            "keys in any order"
        );
        assert!(decode_client(b"[1]").is_err());
        assert!(
            decode_client(b"{")
                .unwrap_err()
                .0
                .starts_with("body is not valid JSON")
        );
    }

    #[test]
    fn validation_counts_scalar_values_and_trims_the_sender() {
        let limits = Limits::default();
        let post = |sender: &str, message: &str| PostMessage {
            sender: sender.into(),
            message: message.into(),
            nonce: None,
            room: None,
            key: None,
            reply_to: None,
            files: None,
        };
        let ok = post("  \u{2003}ann\n", " hi ").validate(&limits).unwrap();
        assert_eq!(ok.sender, "ann");
        assert_eq!(ok.message, " hi ");
        assert!(post(&"😀".repeat(64), "x").validate(&limits).is_ok());
        assert!(post(&"😀".repeat(65), "x").validate(&limits).is_err());
        assert!(post("a", &"😀".repeat(4096)).validate(&limits).is_ok());
        assert!(post("a", &"😀".repeat(4097)).validate(&limits).is_err());
        assert!(post(" \t", "x").validate(&limits).is_err());
        assert!(post("a", "\u{3000}\n").validate(&limits).is_err());
        assert!(post("a", "x\0y").validate(&limits).is_err());
        let with_nonce = |nonce: &str| PostMessage {
            nonce: Some(nonce.into()),
            ..post("a", "b")
        };
        assert!(with_nonce("1234567").validate(&limits).is_err());
        assert!(with_nonce("12345678").validate(&limits).is_ok());
        assert!(with_nonce(&"😀".repeat(64)).validate(&limits).is_ok());
        assert!(with_nonce(&"n".repeat(65)).validate(&limits).is_err());
        assert_eq!(ok.room, GENERAL, "no room is general");
        let in_room = |room: &str| PostMessage {
            room: Some(room.into()),
            ..post("a", "b")
        };
        assert_eq!(in_room("dev-2").validate(&limits).unwrap().room, "dev-2");
        for bad in ["", "-dev", "Dev", "dev_2", "dév", &"a".repeat(33)] {
            assert!(in_room(bad).validate(&limits).is_err(), "{bad:?}");
        }
        assert!(in_room(&"a".repeat(32)).validate(&limits).is_ok());
    }

    #[test]
    fn history_bounds() {
        let history = |before, limit| HistoryRequest {
            room: GENERAL.into(),
            before,
            limit,
            key: None,
        };
        assert_eq!(history(None, None).bounds(), Ok((u64::MAX, 50)));
        assert_eq!(history(Some(9), Some(200)).bounds(), Ok((9, 200)));
        assert!(history(Some(0), None).bounds().is_err());
        assert!(history(None, Some(0)).bounds().is_err());
        assert!(history(None, Some(201)).bounds().is_err());
    }

    #[test]
    fn emoji_are_reactions_and_words_are_not() {
        for emoji in ["👍", "❤️", "🇫🇷", "👩‍👩‍👧‍👦", "🎉", "🙏🏽", "✔", "🅿️", "Ⓜ️", "🅰"]
        {
            assert_eq!(check_emoji(emoji), Ok(()), "{emoji}");
        }
        for not in [
            "+1",
            "ok",
            "é",
            "",
            "👍👍👍👍👍👍👍👍👍",
            "👍 ",
            "\u{7}",
            "1️⃣",
            "x👍",
        ] {
            assert!(check_emoji(not).is_err(), "{not:?}");
        }
        assert_eq!(check_emoji(&"👍".repeat(8)), Ok(()));
    }

    #[test]
    fn a_reaction_toggles_and_the_set_keeps_its_order() {
        let mut set = Vec::new();
        assert_eq!(toggle_reaction(&mut set, "👍", "ana"), Ok(true));
        assert_eq!(toggle_reaction(&mut set, "🎉", "ben"), Ok(true));
        assert_eq!(toggle_reaction(&mut set, "👍", "ben"), Ok(true));
        let emoji = |set: &[Reaction]| set.iter().map(|r| r.emoji.clone()).collect::<Vec<_>>();
        assert_eq!(emoji(&set), ["👍", "🎉"]);
        assert_eq!(set[0].authors, ["ana", "ben"]);
        assert_eq!(toggle_reaction(&mut set, "👍", "ana"), Ok(false));
        assert_eq!(set[0].authors, ["ben"]);
        assert_eq!(toggle_reaction(&mut set, "👍", "ben"), Ok(false));
        assert_eq!(emoji(&set), ["🎉"], "nobody has 👍 any more: it is gone");
        // Twenty distinct emoji: a 21st is refused, one already there is always allowed.
        let mut full = Vec::new();
        for n in 0..MAX_REACTIONS {
            let emoji = char::from_u32(0x1F600 + n as u32).unwrap().to_string();
            assert_eq!(toggle_reaction(&mut full, &emoji, "ana"), Ok(true));
        }
        assert_eq!(
            toggle_reaction(&mut full, "🎉", "ana"),
            Err(TooManyReactions)
        );
        assert_eq!(toggle_reaction(&mut full, "😀", "ben"), Ok(true));
        assert_eq!(toggle_reaction(&mut full, "😁", "ana"), Ok(false));
        assert_eq!(
            toggle_reaction(&mut full, "🎉", "ana"),
            Ok(true),
            "a place came free"
        );
    }

    #[test]
    fn a_quote_follows_the_quoted_message() {
        let text = format!("{}é tail", "a".repeat(QUOTE_CHARS - 1));
        let quoted_message = ChatMessage {
            id: 42,
            sender: "Ana".into(),
            author: Some("aaaaaaaa".into()),
            message: text,
            ..ChatMessage::default()
        };
        let mut quote = Quote::of(&quoted_message);
        assert_eq!(quote.message.chars().count(), QUOTE_CHARS);
        assert!(quote.message.ends_with('é'), "scalar values, no ellipsis");
        let event = |kind, target, message: &str| ChatMessage {
            kind,
            target: Some(target),
            message: message.into(),
            ..ChatMessage::default()
        };
        quote.follow(&event(Kind::Edit, 41, "not this one"));
        quote.follow(&event(Kind::Edit, 42, "fixed"));
        assert_eq!(quote.message, "fixed");
        assert_eq!(
            serde_json::to_value(&quote).unwrap(),
            json!({"id": 42, "sender": "Ana", "author": "aaaaaaaa", "message": "fixed"})
        );
        quote.follow(&event(Kind::Delete, 42, ""));
        assert_eq!(
            serde_json::to_value(&quote).unwrap(),
            json!({"id": 42, "deleted": true})
        );
        quote.follow(&event(Kind::Edit, 42, "after the delete"));
        assert_eq!(quote, Quote::deleted(42));
    }
}
