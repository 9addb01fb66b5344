//! The browser's side effects behind one small API: requests to `/ajax` (gloo-net), timers
//! (gloo-timers), storage, the page (visibility, history, title, focus, the clipboard),
//! randomness, notifications, and the other tabs of this browser (a `BroadcastChannel`, and Web
//! Locks to choose the one tab that polls). Nothing here knows what a message is; the state
//! layer above decides, this layer does.
//!
//! Two builds of one API: [`web`] in the browser (features `hydrate` and `csr`), [`inert`] when
//! the page is rendered on the server and under `cargo test`, where components are built but
//! no effect runs: its functions do nothing, or the pure thing (lower case, UTC).

#[cfg(feature = "browser")]
mod web;
#[cfg(feature = "browser")]
pub use web::*;

#[cfg(not(feature = "browser"))]
mod inert;
#[cfg(not(feature = "browser"))]
pub use inert::*;

use crate::protocol::ServerEnvelope;
use crate::protocol::json::Unreadable;

/// The response header that names the server's build (`X-Chat-Build`).
pub const BUILD_HEADER: &str = "x-chat-build";

/// What came of one request to `/ajax`.
#[derive(Debug)]
pub struct Exchange {
    /// The HTTP status; 0 when the network failed.
    pub status: u16,
    /// The server's build, as its reply named it.
    pub build: Option<String>,
    pub reply: Reply,
}

/// What a reply was.
#[derive(Debug)]
pub enum Reply {
    /// An envelope, and the JSON text it came as.
    Envelope(ServerEnvelope, String),
    /// No answer: the network failed.
    Network,
    /// An answer that is not JSON: not our server (a proxy's error page, a captive portal).
    NotJson,
    /// JSON this client cannot read: its `type`, and where it failed. A server of another
    /// build speaks a protocol this page does not know.
    Unreadable(String, Unreadable),
}

impl Exchange {
    /// The envelope, if one came.
    pub fn envelope(self) -> Option<ServerEnvelope> {
        match self.reply {
            Reply::Envelope(envelope, _) => Some(envelope),
            _ => None,
        }
    }
}

/// Bytes as unpadded base64url (RFC 4648 §5).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let bits = chunk.iter().enumerate().fold(0u32, |bits, (at, &byte)| {
            bits | u32::from(byte) << (16 - 8 * at)
        });
        for at in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(bits >> (18 - 6 * at)) as usize & 63]));
        }
    }
    out
}

/// A fresh secret key: 192 random bits from the browser's cryptographic generator as 32
/// characters of base64url; `None` where there is no such generator (no key is better than a
/// guessable one).
pub fn new_key() -> Option<String> {
    random_bytes::<24>().map(|bits| base64url(&bits))
}

/// A fresh idempotency key: 128 random bits as 32 hex digits. Not a secret: without a
/// cryptographic generator the time and `Math.random` still tell one message's retries from
/// another's.
pub fn new_nonce() -> String {
    let bits = random_bytes::<16>().unwrap_or_else(weak_random_bytes);
    bits.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64url_as_rfc_4648() {
        assert_eq!(super::base64url(b"f"), "Zg");
        assert_eq!(super::base64url(b"foob"), "Zm9vYg");
        assert_eq!(super::base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(super::base64url(&[7; 24]).len(), 32);
    }

    #[test]
    fn a_nonce_is_32_hex_digits_and_fresh() {
        let (one, two) = (super::new_nonce(), super::new_nonce());
        assert_eq!(one.len(), 32);
        assert!(one.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(one, two);
    }
}
