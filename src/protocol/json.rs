//! The wire format's JSON in the browser, without serde: [`Encode`] writes what a client sends,
//! [`Decode`] reads what it gets, over the protocol's own types. The server encodes and decodes
//! those types with serde; serde's derived code compiled into the WASM client would cost it
//! about 30 KB (gzip) for decoding alone, so the browser has these instead.
//!
//! There is still one definition of the format: the types of [`super`] and their serde
//! attributes. The property tests at the bottom hold this module to it over arbitrary values of
//! every type that crosses the wire: [`Encode`] writes byte for byte what `serde_json` writes,
//! and [`Decode`] reads back exactly what `serde_json` wrote. A field added to a type without
//! its encoding or decoding here fails them (their generators build every field).
//!
//! [`Decode`] reads any [`JsonValue`]: in the browser the object `JSON.parse` made (see the
//! client's platform layer), under `cargo test` a `serde_json::Value`.

use super::{
    Ban, BotInfo, BotToken, ChatMessage, ClientEnvelope, FileInfo, Kind, Outcome, Quote, Reaction,
    RoomIds, RoomInfo, ServerEnvelope, Status,
};

/// The largest whole number a JSON number holds exactly in a browser (2^53 - 1): ids and
/// counts above it would be read wrong there, so they are refused on both sides of the tests.
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// JSON text being written, as `serde_json` writes it: no white space, fields in the order of
/// the type's declaration, absent optional fields left out.
#[derive(Debug, Default)]
pub struct JsonWriter(String);

impl JsonWriter {
    pub fn finish(self) -> String {
        self.0
    }

    /// A JSON string, escaped as `serde_json` escapes it.
    fn string(&mut self, text: &str) {
        self.0.push('"');
        for c in text.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\u{8}' => self.0.push_str("\\b"),
                '\u{c}' => self.0.push_str("\\f"),
                c if u32::from(c) < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.0.push_str("\\u00");
                    self.0.push(char::from(HEX[(u32::from(c) >> 4) as usize]));
                    self.0.push(char::from(HEX[(u32::from(c) & 15) as usize]));
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    /// An object: `fields` writes its members.
    pub fn object(&mut self, fields: impl FnOnce(&mut Self)) {
        self.0.push('{');
        fields(self);
        self.0.push('}');
    }

    /// `"key":` and the value, after a comma unless it is the object's first member.
    pub fn field<T: Encode + ?Sized>(&mut self, key: &str, value: &T) {
        if !self.0.ends_with('{') {
            self.0.push(',');
        }
        self.string(key);
        self.0.push(':');
        value.encode(self);
    }

    /// A field that serde skips when absent (`skip_serializing_if = "Option::is_none"`).
    pub fn maybe<T: Encode>(&mut self, key: &str, value: &Option<T>) {
        if let Some(value) = value {
            self.field(key, value);
        }
    }
}

/// A value that writes itself as JSON.
pub trait Encode {
    fn encode(&self, json: &mut JsonWriter);
}

/// `value` as JSON text.
pub fn to_json<T: Encode + ?Sized>(value: &T) -> String {
    let mut json = JsonWriter::default();
    value.encode(&mut json);
    json.finish()
}

impl Encode for str {
    fn encode(&self, json: &mut JsonWriter) {
        json.string(self);
    }
}

impl Encode for String {
    fn encode(&self, json: &mut JsonWriter) {
        json.string(self);
    }
}

impl Encode for u64 {
    fn encode(&self, json: &mut JsonWriter) {
        json.0.push_str(&self.to_string());
    }
}

impl Encode for u32 {
    fn encode(&self, json: &mut JsonWriter) {
        u64::from(*self).encode(json);
    }
}

impl Encode for bool {
    fn encode(&self, json: &mut JsonWriter) {
        json.0.push_str(if *self { "true" } else { "false" });
    }
}

impl<T: Encode> Encode for [T] {
    fn encode(&self, json: &mut JsonWriter) {
        json.0.push('[');
        for (at, item) in self.iter().enumerate() {
            if at > 0 {
                json.0.push(',');
            }
            item.encode(json);
        }
        json.0.push(']');
    }
}

impl Encode for Quote {
    /// As its `Serialize` writes it (the outbox keeps the quote of a reply it has not sent).
    fn encode(&self, json: &mut JsonWriter) {
        json.object(|json| {
            json.field("id", &self.id);
            if !self.sender.is_empty() {
                json.field("sender", &self.sender);
            }
            json.maybe("author", &self.author);
            if !self.message.is_empty() {
                json.field("message", &self.message);
            }
            if self.deleted {
                json.field("deleted", &true);
            }
        });
    }
}

impl Encode for FileInfo {
    /// As serde writes it (the outbox keeps a message's files so).
    fn encode(&self, json: &mut JsonWriter) {
        json.object(|json| {
            json.field("id", &self.id);
            json.field("name", &self.name);
            json.field("size", &self.size);
            json.field("content_type", &self.content_type);
            json.maybe("width", &self.width);
            json.maybe("height", &self.height);
        });
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, json: &mut JsonWriter) {
        self.as_slice().encode(json);
    }
}

impl Encode for RoomIds {
    /// As its `Serialize` writes it: `{"room":id,...}`.
    fn encode(&self, json: &mut JsonWriter) {
        json.object(|json| {
            for (room, id) in &self.0 {
                json.field(room, id);
            }
        });
    }
}

impl Encode for ClientEnvelope {
    fn encode(&self, json: &mut JsonWriter) {
        let kind = self.type_name();
        json.object(|json| {
            json.field("type", kind);
            json.field("data", &Data(self));
        });
    }
}

/// The `data` of a client envelope.
struct Data<'a>(&'a ClientEnvelope);

impl Encode for Data<'_> {
    fn encode(&self, json: &mut JsonWriter) {
        json.object(|json| match self.0 {
            ClientEnvelope::Message(post) => {
                json.field("sender", &post.sender);
                json.field("message", &post.message);
                json.maybe("nonce", &post.nonce);
                json.maybe("room", &post.room);
                json.maybe("key", &post.key);
                json.maybe("reply_to", &post.reply_to);
                json.maybe("files", &post.files);
            }
            ClientEnvelope::Sync(sync) => {
                json.field("last_message", &sync.last_message);
                json.maybe("rooms", &sync.rooms);
                json.maybe("wait_ms", &sync.wait_ms);
                json.maybe("key", &sync.key);
                // serde skips it when false.
                if sync.direct {
                    json.field("direct", &true);
                }
            }
            ClientEnvelope::History(history) => {
                json.field("room", &history.room);
                json.maybe("before", &history.before);
                json.maybe("limit", &history.limit);
                json.maybe("key", &history.key);
            }
            ClientEnvelope::Rooms(rooms) => {
                json.maybe("read", &rooms.read);
                json.maybe("key", &rooms.key);
            }
            ClientEnvelope::Edit(edit) => {
                json.field("id", &edit.id);
                json.field("message", &edit.message);
                json.maybe("key", &edit.key);
                json.maybe("admin", &edit.admin);
                json.maybe("nonce", &edit.nonce);
            }
            ClientEnvelope::Delete(delete) => {
                json.field("id", &delete.id);
                json.maybe("key", &delete.key);
                json.maybe("admin", &delete.admin);
                json.maybe("nonce", &delete.nonce);
            }
            ClientEnvelope::React(react) => {
                json.field("id", &react.id);
                json.field("emoji", &react.emoji);
                json.maybe("key", &react.key);
                json.maybe("nonce", &react.nonce);
            }
            ClientEnvelope::Ban(ban) | ClientEnvelope::Unban(ban) => {
                json.field("admin", &ban.admin);
                json.maybe("author", &ban.author);
                json.maybe("address", &ban.address);
                // serde skips it when false.
                if ban.purge {
                    json.field("purge", &true);
                }
            }
            ClientEnvelope::Bans(request) => json.field("admin", &request.admin),
            ClientEnvelope::Search(search) => {
                json.field("q", &search.q);
                json.maybe("room", &search.room);
                json.maybe("before", &search.before);
                json.maybe("key", &search.key);
            }
            ClientEnvelope::Fingerprint(request) => json.field("key", &request.key),
            ClientEnvelope::Bot(request) => {
                json.field("admin", &request.admin);
                json.field("name", &request.name);
                json.field("rooms", &request.rooms);
            }
            ClientEnvelope::Bots(request) => json.field("admin", &request.admin),
            ClientEnvelope::BotDelete(request) => {
                json.field("admin", &request.admin);
                json.field("author", &request.author);
            }
        });
    }
}

/// A parsed JSON value, as [`Decode`] reads it.
pub trait JsonValue: Sized {
    /// The member `key` of an object; `None` when it is absent or null, or this is no object.
    fn get(&self, key: &str) -> Option<Self>;
    fn text(&self) -> Option<String>;
    /// A whole number from 0 to [`MAX_SAFE`].
    fn whole(&self) -> Option<u64>;
    fn flag(&self) -> Option<bool>;
    /// The items of an array.
    fn items(&self) -> Option<Vec<Self>>;
    /// The members of an object, in order.
    fn entries(&self) -> Option<Vec<(String, Self)>>;
}

impl JsonValue for serde_json::Value {
    fn get(&self, key: &str) -> Option<Self> {
        self.as_object()?.get(key).filter(|v| !v.is_null()).cloned()
    }

    fn text(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }

    fn whole(&self) -> Option<u64> {
        self.as_u64().filter(|n| *n <= MAX_SAFE)
    }

    fn flag(&self) -> Option<bool> {
        self.as_bool()
    }

    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }

    fn entries(&self) -> Option<Vec<(String, Self)>> {
        Some(
            self.as_object()?
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        )
    }
}

/// Where a value could not be read: the type and its field (`ChatMessage.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable {
    pub of: &'static str,
    pub field: &'static str,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.of, self.field)
    }
}

/// A value that reads itself from JSON.
pub trait Decode: Sized {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable>;
}

/// An object's members, read by name; a failure names the type (`of`) and the member.
pub struct Fields<'a, J> {
    value: &'a J,
    of: &'static str,
}

impl<'a, J: JsonValue> Fields<'a, J> {
    pub fn of(value: &'a J, of: &'static str) -> Self {
        Self { value, of }
    }

    pub fn unreadable(&self, field: &'static str) -> Unreadable {
        Unreadable { of: self.of, field }
    }

    /// A member that must be there.
    pub fn need<T: Decode>(&self, key: &'static str) -> Result<T, Unreadable> {
        self.maybe(key)?.ok_or(self.unreadable(key))
    }

    /// A member that may be absent (or null), but is read if it is there.
    pub fn maybe<T: Decode>(&self, key: &'static str) -> Result<Option<T>, Unreadable> {
        match self.value.get(key) {
            None => Ok(None),
            Some(member) => match T::decode(&member) {
                Ok(read) => Ok(Some(read)),
                // Inside a member of its own kind the inner failure says more; a plain value
                // (a string, a number) is named by this member.
                Err(inner) if inner.of.is_empty() => Err(self.unreadable(key)),
                Err(inner) => Err(inner),
            },
        }
    }

    /// A member that serde fills with its default when absent (`#[serde(default)]`).
    pub fn or_default<T: Decode + Default>(&self, key: &'static str) -> Result<T, Unreadable> {
        Ok(self.maybe(key)?.unwrap_or_default())
    }
}

/// The failure of a plain value, which its member names (see [`Fields::maybe`]).
const PLAIN: Unreadable = Unreadable { of: "", field: "" };

impl Decode for String {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        value.text().ok_or(PLAIN)
    }
}

impl Decode for u64 {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        value.whole().ok_or(PLAIN)
    }
}

impl Decode for u32 {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        value
            .whole()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(PLAIN)
    }
}

impl Decode for usize {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        value
            .whole()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(PLAIN)
    }
}

impl Decode for bool {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        value.flag().ok_or(PLAIN)
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let items = value.items().ok_or(PLAIN)?;
        let mut decoded = Vec::with_capacity(items.len());
        for item in &items {
            decoded.push(T::decode(item)?);
        }
        Ok(decoded)
    }
}

impl Decode for RoomIds {
    /// As its `Deserialize` reads it: a room named twice keeps its last id.
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let mut ids = RoomIds::default();
        for (room, id) in value.entries().ok_or(PLAIN)? {
            let id = id.whole().ok_or(Unreadable {
                of: "RoomIds",
                field: "id",
            })?;
            ids.set(&room, id);
        }
        Ok(ids)
    }
}

impl Decode for Kind {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        match value.text().as_deref() {
            Some("message") => Ok(Kind::Message),
            Some("edit") => Ok(Kind::Edit),
            Some("delete") => Ok(Kind::Delete),
            Some("reactions") => Ok(Kind::Reactions),
            _ => Err(PLAIN),
        }
    }
}

impl Decode for ChatMessage {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "ChatMessage");
        Ok(ChatMessage {
            id: fields.need("id")?,
            room: fields.need("room")?,
            kind: fields.or_default("kind")?,
            target: fields.maybe("target")?,
            sender: fields.or_default("sender")?,
            message: fields.or_default("message")?,
            sent_at: fields.or_default("sent_at")?,
            author: fields.maybe("author")?,
            bot: fields.or_default("bot")?,
            edited_at: fields.maybe("edited_at")?,
            reply_to: fields.maybe("reply_to")?,
            reactions: fields.maybe("reactions")?,
            files: fields.maybe("files")?,
        })
    }
}

impl Decode for FileInfo {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "FileInfo");
        Ok(FileInfo {
            id: fields.need("id")?,
            name: fields.need("name")?,
            size: fields.need("size")?,
            content_type: fields.need("content_type")?,
            width: fields.maybe("width")?,
            height: fields.maybe("height")?,
        })
    }
}

impl Decode for Quote {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "Quote");
        Ok(Quote {
            id: fields.need("id")?,
            sender: fields.or_default("sender")?,
            author: fields.maybe("author")?,
            message: fields.or_default("message")?,
            deleted: fields.or_default("deleted")?,
        })
    }
}

impl Decode for Reaction {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "Reaction");
        Ok(Reaction {
            emoji: fields.need("emoji")?,
            authors: fields.need("authors")?,
        })
    }
}

impl Decode for RoomInfo {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "RoomInfo");
        Ok(RoomInfo {
            name: fields.need("name")?,
            newest: fields.need("newest")?,
            unread: fields.maybe("unread")?,
            with: fields.maybe("with")?,
        })
    }
}

impl Decode for Outcome {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        match value.whole() {
            Some(0) => Ok(Outcome::Succeeded),
            Some(1) => Ok(Outcome::Failed),
            _ => Err(PLAIN),
        }
    }
}

impl Decode for Status {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "Status");
        Ok(Status {
            status: fields.need("status")?,
            message: fields.need("message")?,
            id: fields.maybe("id")?,
            author: fields.maybe("author")?,
        })
    }
}

impl Decode for Ban {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "Ban");
        Ok(Ban {
            author: fields.maybe("author")?,
            address: fields.maybe("address")?,
        })
    }
}

impl Decode for BotToken {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "BotToken");
        Ok(BotToken {
            name: fields.need("name")?,
            token: fields.need("token")?,
            author: fields.need("author")?,
        })
    }
}

impl Decode for BotInfo {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "BotInfo");
        Ok(BotInfo {
            name: fields.need("name")?,
            author: fields.need("author")?,
            rooms: fields.need("rooms")?,
            created: fields.need("created")?,
        })
    }
}

impl Decode for ServerEnvelope {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "envelope");
        let kind: String = fields.need("type")?;
        Ok(match kind.as_str() {
            "sync" => ServerEnvelope::Sync(fields.need("data")?),
            "status" => ServerEnvelope::Status(fields.need("data")?),
            "history" => ServerEnvelope::History(fields.need("data")?),
            "rooms" => ServerEnvelope::Rooms(fields.need("data")?),
            "bans" => ServerEnvelope::Bans(fields.need("data")?),
            "search" => ServerEnvelope::Search(fields.need("data")?),
            "bot" => ServerEnvelope::Bot(fields.need("data")?),
            "bots" => ServerEnvelope::Bots(fields.need("data")?),
            "file" => ServerEnvelope::File(fields.need("data")?),
            _ => return Err(fields.unreadable("type")),
        })
    }
}

#[cfg(test)]
pub mod tests {
    //! The property tests: this module against serde, over arbitrary values. The generators
    //! are public so that the client's own records (its outbox, its tabs' messages) are tested
    //! the same way.
    use super::*;
    use crate::protocol::{
        AdminRequest, BanRequest, BotDeleteRequest, BotRequest, DeleteRequest, EditRequest,
        FingerprintRequest, HistoryRequest, PostMessage, ReactRequest, RoomsRequest, SearchRequest,
        SyncRequest,
    };
    use proptest::prelude::*;

    /// Any text, control characters, quotes, `</script>` and astral planes included.
    pub fn text() -> impl Strategy<Value = String> {
        let tricky = prop_oneof![
            proptest::char::range('\u{0}', '\u{1f}'),
            proptest::sample::select(vec![
                '"', '\\', '\u{7f}', '<', '/', 'é', '😀', '\u{2028}', ' '
            ]),
            proptest::char::range('a', 'z'),
        ];
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(tricky, 0..12).prop_map(|chars| chars.into_iter().collect()),
        ]
    }

    pub fn maybe_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    pub fn id() -> impl Strategy<Value = u64> {
        prop_oneof![0..=MAX_SAFE, Just(MAX_SAFE), Just(0)]
    }

    pub fn reactions() -> impl Strategy<Value = Vec<Reaction>> {
        let reaction = (text(), proptest::collection::vec(text(), 0..3))
            .prop_map(|(emoji, authors)| Reaction { emoji, authors });
        proptest::collection::vec(reaction, 0..3)
    }

    pub fn quote() -> impl Strategy<Value = Quote> {
        (id(), text(), maybe_text(), text(), any::<bool>()).prop_map(
            |(id, sender, author, message, deleted)| Quote {
                id,
                sender,
                author,
                message,
                deleted,
            },
        )
    }

    pub fn file_info() -> impl Strategy<Value = FileInfo> {
        (
            (text(), text(), id(), text()),
            proptest::option::of((any::<u32>(), any::<u32>())),
        )
            .prop_map(|((id, name, size, content_type), pixels)| FileInfo {
                id,
                name,
                size,
                content_type,
                width: pixels.map(|(width, _)| width),
                height: pixels.map(|(_, height)| height),
            })
    }

    pub fn message() -> impl Strategy<Value = ChatMessage> {
        (
            (
                id(),
                text(),
                prop_oneof![
                    Just(Kind::Message),
                    Just(Kind::Edit),
                    Just(Kind::Delete),
                    Just(Kind::Reactions)
                ],
            ),
            (proptest::option::of(id()), text(), text(), text()),
            (
                maybe_text(),
                any::<bool>(),
                maybe_text(),
                proptest::option::of(quote()),
                proptest::option::of(reactions()),
            ),
            proptest::option::of(proptest::collection::vec(file_info(), 0..3)),
        )
            .prop_map(
                |(
                    (id, room, kind),
                    (target, sender, message, sent_at),
                    (author, bot, edited_at, reply_to, reactions),
                    files,
                )| {
                    ChatMessage {
                        id,
                        room,
                        kind,
                        target,
                        sender,
                        message,
                        sent_at,
                        author,
                        bot,
                        edited_at,
                        reply_to,
                        reactions,
                        files,
                    }
                },
            )
    }

    pub fn room_info() -> impl Strategy<Value = RoomInfo> {
        (text(), id(), proptest::option::of(id()), maybe_text()).prop_map(
            |(name, newest, unread, with)| RoomInfo {
                name,
                newest,
                unread,
                with,
            },
        )
    }

    fn status() -> impl Strategy<Value = Status> {
        (
            prop_oneof![Just(Outcome::Succeeded), Just(Outcome::Failed)],
            text(),
            proptest::option::of(id()),
            maybe_text(),
        )
            .prop_map(|(status, message, id, author)| Status {
                status,
                message,
                id,
                author,
            })
    }

    fn ban() -> impl Strategy<Value = Ban> {
        (maybe_text(), maybe_text()).prop_map(|(author, address)| Ban { author, address })
    }

    fn bot_info() -> impl Strategy<Value = BotInfo> {
        (
            text(),
            text(),
            proptest::collection::vec(text(), 0..3),
            text(),
        )
            .prop_map(|(name, author, rooms, created)| BotInfo {
                name,
                author,
                rooms,
                created,
            })
    }

    pub fn server_envelope() -> impl Strategy<Value = ServerEnvelope> {
        let messages = || proptest::collection::vec(message(), 0..4);
        prop_oneof![
            messages().prop_map(ServerEnvelope::Sync),
            status().prop_map(ServerEnvelope::Status),
            messages().prop_map(ServerEnvelope::History),
            proptest::collection::vec(room_info(), 0..4).prop_map(ServerEnvelope::Rooms),
            proptest::collection::vec(ban(), 0..4).prop_map(ServerEnvelope::Bans),
            messages().prop_map(ServerEnvelope::Search),
            (text(), text(), text()).prop_map(|(name, token, author)| ServerEnvelope::Bot(
                BotToken {
                    name,
                    token,
                    author
                }
            )),
            proptest::collection::vec(bot_info(), 0..3).prop_map(ServerEnvelope::Bots),
            file_info().prop_map(ServerEnvelope::File),
        ]
    }

    /// Room ids with distinct names (a JSON object cannot hold a name twice).
    pub fn room_ids() -> impl Strategy<Value = RoomIds> {
        proptest::collection::btree_map(text(), id(), 0..5)
            .prop_map(|map| RoomIds(map.into_iter().collect()))
    }

    fn maybe_id() -> impl Strategy<Value = Option<u64>> {
        proptest::option::of(id())
    }

    fn ban_request() -> impl Strategy<Value = BanRequest> {
        (text(), maybe_text(), maybe_text(), any::<bool>()).prop_map(
            |(admin, author, address, purge)| BanRequest {
                admin,
                author,
                address,
                purge,
            },
        )
    }

    pub fn client_envelope() -> impl Strategy<Value = ClientEnvelope> {
        prop_oneof![
            (
                (text(), text(), maybe_text()),
                (maybe_text(), maybe_text(), maybe_id()),
                proptest::option::of(proptest::collection::vec(text(), 0..3)),
            )
                .prop_map(
                    |((sender, message, nonce), (room, key, reply_to), files)| {
                        ClientEnvelope::Message(PostMessage {
                            sender,
                            message,
                            nonce,
                            room,
                            key,
                            reply_to,
                            files,
                        })
                    }
                ),
            (
                id(),
                proptest::option::of(proptest::collection::vec(text(), 0..4)),
                maybe_id(),
                maybe_text(),
                any::<bool>(),
            )
                .prop_map(|(last_message, rooms, wait_ms, key, direct)| {
                    ClientEnvelope::Sync(SyncRequest {
                        last_message,
                        rooms,
                        wait_ms,
                        key,
                        direct,
                    })
                }),
            (
                text(),
                maybe_id(),
                proptest::option::of(any::<u32>()),
                maybe_text()
            )
                .prop_map(|(room, before, limit, key)| ClientEnvelope::History(
                    HistoryRequest {
                        room,
                        before,
                        limit,
                        key,
                    }
                )),
            (proptest::option::of(room_ids()), maybe_text())
                .prop_map(|(read, key)| ClientEnvelope::Rooms(RoomsRequest { read, key })),
            (id(), text(), maybe_text(), maybe_text(), maybe_text()).prop_map(
                |(id, message, key, admin, nonce)| ClientEnvelope::Edit(EditRequest {
                    id,
                    message,
                    key,
                    admin,
                    nonce,
                })
            ),
            (id(), maybe_text(), maybe_text(), maybe_text()).prop_map(|(id, key, admin, nonce)| {
                ClientEnvelope::Delete(DeleteRequest {
                    id,
                    key,
                    admin,
                    nonce,
                })
            }),
            (id(), text(), maybe_text(), maybe_text()).prop_map(|(id, emoji, key, nonce)| {
                ClientEnvelope::React(ReactRequest {
                    id,
                    emoji,
                    key,
                    nonce,
                })
            }),
            ban_request().prop_map(ClientEnvelope::Ban),
            ban_request().prop_map(ClientEnvelope::Unban),
            text().prop_map(|admin| ClientEnvelope::Bans(AdminRequest { admin })),
            (text(), maybe_text(), maybe_id(), maybe_text()).prop_map(|(q, room, before, key)| {
                ClientEnvelope::Search(SearchRequest {
                    q,
                    room,
                    before,
                    key,
                })
            }),
            text().prop_map(|key| ClientEnvelope::Fingerprint(FingerprintRequest { key })),
            (text(), text(), proptest::collection::vec(text(), 0..3)).prop_map(
                |(admin, name, rooms)| ClientEnvelope::Bot(BotRequest { admin, name, rooms })
            ),
            text().prop_map(|admin| ClientEnvelope::Bots(AdminRequest { admin })),
            (text(), text()).prop_map(|(admin, author)| ClientEnvelope::BotDelete(
                BotDeleteRequest { admin, author }
            )),
        ]
    }

    /// The generators above must make every variant: these stop compiling when one is added,
    /// until it is generated (and encoded or decoded) too.
    #[allow(dead_code)]
    fn every_variant_is_generated(server: &ServerEnvelope, client: &ClientEnvelope, kind: Kind) {
        match server {
            ServerEnvelope::Sync(_)
            | ServerEnvelope::Status(_)
            | ServerEnvelope::History(_)
            | ServerEnvelope::Rooms(_)
            | ServerEnvelope::Bans(_)
            | ServerEnvelope::Search(_)
            | ServerEnvelope::Bot(_)
            | ServerEnvelope::Bots(_)
            | ServerEnvelope::File(_) => {}
        }
        match client {
            ClientEnvelope::Message(_)
            | ClientEnvelope::Sync(_)
            | ClientEnvelope::History(_)
            | ClientEnvelope::Rooms(_)
            | ClientEnvelope::Edit(_)
            | ClientEnvelope::Delete(_)
            | ClientEnvelope::React(_)
            | ClientEnvelope::Ban(_)
            | ClientEnvelope::Unban(_)
            | ClientEnvelope::Bans(_)
            | ClientEnvelope::Search(_)
            | ClientEnvelope::Fingerprint(_)
            | ClientEnvelope::Bot(_)
            | ClientEnvelope::Bots(_)
            | ClientEnvelope::BotDelete(_) => {}
        }
        match kind {
            Kind::Message | Kind::Edit | Kind::Delete | Kind::Reactions => {}
        }
    }

    /// `value` written by serde and read back by [`Decode`].
    pub fn through_serde<T: serde::Serialize + Decode>(value: &T) -> Result<T, Unreadable> {
        T::decode(&serde_json::to_value(value).expect("serde writes it"))
    }

    proptest! {
        #[test]
        fn client_envelopes_are_written_as_serde_writes_them(envelope in client_envelope()) {
            prop_assert_eq!(to_json(&envelope), serde_json::to_string(&envelope).unwrap());
        }

        #[test]
        fn room_ids_are_written_and_read_as_serde_does(ids in room_ids()) {
            prop_assert_eq!(to_json(&ids), serde_json::to_string(&ids).unwrap());
            prop_assert_eq!(through_serde(&ids), Ok(ids));
        }

        #[test]
        fn quotes_are_written_and_read_as_serde_does(quote in quote()) {
            prop_assert_eq!(to_json(&quote), serde_json::to_string(&quote).unwrap());
            prop_assert_eq!(through_serde(&quote), Ok(quote));
        }

        #[test]
        fn server_envelopes_are_read_as_serde_wrote_them(envelope in server_envelope()) {
            prop_assert_eq!(through_serde(&envelope), Ok(envelope));
        }
    }

    #[test]
    fn what_cannot_be_read_says_where() {
        let read = |json: serde_json::Value| ServerEnvelope::decode(&json);
        use serde_json::json;
        assert_eq!(
            read(json!({"type": "sync", "data": [{"id": 1, "room": "general"}, {"room": "x"}]})),
            Err(Unreadable {
                of: "ChatMessage",
                field: "id"
            })
        );
        assert_eq!(
            read(json!({"type": "sync", "data": [{"id": 1.5, "room": "general"}]})),
            Err(Unreadable {
                of: "ChatMessage",
                field: "id"
            })
        );
        assert_eq!(
            read(json!({"type": "reactions", "data": []})),
            Err(Unreadable {
                of: "envelope",
                field: "type"
            })
        );
        assert_eq!(
            read(json!({"type": "status", "data": {"status": 2, "message": "?"}})),
            Err(Unreadable {
                of: "Status",
                field: "status"
            })
        );
        assert_eq!(
            read(json!({"type": "sync", "data": [{"id": MAX_SAFE + 1, "room": "g"}]})),
            Err(Unreadable {
                of: "ChatMessage",
                field: "id"
            }),
            "beyond what a browser's number holds"
        );
        // Members it does not know are skipped, as serde skips them.
        assert_eq!(
            read(json!({"type": "sync", "data": [], "later": {"x": 1}})),
            Ok(ServerEnvelope::Sync(vec![]))
        );
    }
}
