//! Who this browser is: its secret key, kept in localStorage, and the link that carries it to
//! another device. The link keeps the key in the URL's fragment (`/#key=…`), which browsers do
//! not send to servers; the page takes it out of the address bar and the history as soon as it
//! is read, and switches to it only when the person confirms (see `state::identity`).

use crate::protocol::{BOT_TOKEN_PREFIX, check_key};

/// The key a link's fragment (without `#`) carries, if it carries a well-formed one.
pub fn key_of_link(fragment: &str) -> Option<&str> {
    fragment
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        // A bot's token is no browser's key: it reads no direct room, and a deleted one is
        // refused everywhere.
        .filter(|key| check_key(key).is_ok() && !key.starts_with(BOT_TOKEN_PREFIX))
}

/// The link that carries `key` to another device of `origin` (`https://chat.example`).
pub fn link_of_key(origin: &str, key: &str) -> String {
    format!("{origin}/#key={key}")
}

/// A key from another browser, waiting for the person to keep theirs or switch: the two
/// fingerprints the dialog shows (as the server computes them), and the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub key: String,
    pub theirs: String,
    pub mine: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_carries_a_well_formed_key_and_nothing_else_counts() {
        let key = "A".repeat(32);
        let link = link_of_key("https://chat.example", &key);
        assert_eq!(link, format!("https://chat.example/#key={key}"));
        let fragment = link.split_once('#').unwrap().1;
        assert_eq!(key_of_link(fragment), Some(key.as_str()));
        // An older link's `me` is ignored: the fingerprint comes from the server.
        assert_eq!(
            key_of_link(&format!("key={key}&me=aaaaaaaa")),
            Some(key.as_str())
        );
        assert_eq!(key_of_link("key=short"), None);
        // A bot's token is not taken for a browser's key.
        let token = format!("chatbot_{}", "A".repeat(43));
        assert_eq!(key_of_link(&format!("key={token}")), None);
        assert_eq!(key_of_link("me=aaaaaaaa"), None);
        assert_eq!(key_of_link(""), None);
    }
}
