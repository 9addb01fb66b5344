//! The wire protocol of `POST /ajax`: the `{"type", "data"}` envelopes of the seed design,
//! shared by the server and the browser client so that neither side builds JSON by hand.
//!
//! serde does the tagging (`#[serde(tag = "type", content = "data")]`). A client may send
//! `message` and `sync`; the server answers with `sync` or `status`. Validation of what a
//! client sends lives here too, so the page can refuse bad input with the server's own rules.

use serde::{Deserialize, Serialize};

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sender_chars: 64,
            max_message_chars: 4096,
            max_sync_batch: 1000,
            max_body_bytes: 64 * 1024,
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
    pub sender: String,
    pub message: String,
    /// Optional idempotency key, 8 to 64 characters, made afresh by the client for each
    /// message and reused when it retries that message: a repeat is answered like the first
    /// time and stores nothing new. An extension of the seed's protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The `data` of a client's `sync` envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Id of the newest message the client has; 0 when it has none.
    pub last_message: u64,
}

/// An envelope the server sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum ServerEnvelope {
    /// The messages newer than the client's `last_message`, oldest first.
    Sync(Vec<ChatMessage>),
    /// Whether the action the server took for the client succeeded.
    Status(Status),
}

/// One stored message, as the server hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Positive, strictly increasing in commit order, never reused.
    pub id: u64,
    pub sender: String,
    pub message: String,
    /// When the server stored it: RFC 3339, UTC.
    pub sent_at: String,
}

/// The `data` of a `status` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub status: Outcome,
    /// Where and why it failed, or what succeeded.
    pub message: String,
}

impl Status {
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            status: Outcome::Succeeded,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            status: Outcome::Failed,
            message: message.into(),
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMessage {
    pub sender: String,
    pub message: String,
    pub nonce: Option<String>,
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
    pub fn validate(&self, limits: &Limits) -> Result<ValidMessage, Invalid> {
        let sender = self.sender.trim();
        let sender_chars = sender.chars().count();
        if sender_chars == 0 {
            return Err(Invalid("data.sender: must not be empty".into()));
        }
        if sender_chars > limits.max_sender_chars {
            return Err(Invalid(format!(
                "data.sender: {sender_chars} characters, at most {} allowed",
                limits.max_sender_chars
            )));
        }
        if sender.contains('\0') {
            return Err(Invalid("data.sender: must not contain NUL".into()));
        }
        if self.message.trim().is_empty() {
            return Err(Invalid(
                "data.message: must not be empty or only white space".into(),
            ));
        }
        let message_chars = self.message.chars().count();
        if message_chars > limits.max_message_chars {
            return Err(Invalid(format!(
                "data.message: {message_chars} characters, at most {} allowed",
                limits.max_message_chars
            )));
        }
        if self.message.contains('\0') {
            return Err(Invalid("data.message: must not contain NUL".into()));
        }
        if let Some(nonce) = &self.nonce {
            let nonce_chars = nonce.chars().count();
            if !NONCE_CHARS.contains(&nonce_chars) || nonce.contains('\0') {
                return Err(Invalid(format!(
                    "data.nonce: {nonce_chars} characters, {} to {} allowed",
                    NONCE_CHARS.start(),
                    NONCE_CHARS.end()
                )));
            }
        }
        Ok(ValidMessage {
            sender: sender.to_owned(),
            message: self.message.clone(),
            nonce: self.nonce.clone(),
        })
    }
}

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
            sender: "ann".into(),
            message: "hi".into(),
            sent_at: "2026-01-01T00:00:00Z".into(),
        }]);
        assert_eq!(
            serde_json::to_value(&sync).unwrap(),
            json!({"type": "sync", "data": [
                {"id": 3, "sender": "ann", "message": "hi", "sent_at": "2026-01-01T00:00:00Z"}
            ]})
        );
        assert_eq!(
            serde_json::to_value(ServerEnvelope::Status(Status::failed("no"))).unwrap(),
            json!({"type": "status", "data": {"status": 1, "message": "no"}})
        );
        assert_eq!(
            serde_json::to_value(ClientEnvelope::Sync(SyncRequest { last_message: 7 })).unwrap(),
            json!({"type": "sync", "data": {"last_message": 7}})
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
            ClientEnvelope::Sync(SyncRequest { last_message: 5 }),
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
    }
}
