//! Names that cannot be faked without accounts: each browser keeps a random secret key and
//! sends it with what it posts; the server shows, instead of the key, a **fingerprint**: the
//! first 40 bits of HMAC-SHA256(server secret, key) as 8 characters of lowercase base32. The key
//! is never stored, logged or returned; the secret is made at first start and kept in the
//! database (every instance over one PostgreSQL database derives the same fingerprints).
//!
//! A fingerprint proves that two messages were sent with the same key, nothing about who holds
//! it (see docs/security.md). 40 bits: finding another key with a given fingerprint takes about
//! 2^40 HMACs *with the server's secret*, which only the server has, so it cannot be done
//! offline.
//!
//! The operator's token (`CHAT_ADMIN_TOKEN`) is checked here too, in constant time, and so are
//! bots' tokens: a bot's token is its key, made here ([`new_bot_token`]); storage keeps the
//! whole HMAC tag of it (its [`Identity::verifier`]), never the token.

use hmac::{KeyInit, Mac};

use crate::protocol::BOT_TOKEN_PREFIX;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The shortest admin token accepted: 32 characters.
pub const MIN_ADMIN_TOKEN: usize = 32;

pub struct Identity {
    secret: Vec<u8>,
    /// The HMAC tag of the admin token, when there is one: a token is compared by its tag, so
    /// the comparison takes the same time whatever its length or its first wrong character.
    admin: Option<Vec<u8>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity { .. }")
    }
}

impl Identity {
    /// `admin` must be at least [`MIN_ADMIN_TOKEN`] characters (the configuration checks it).
    pub fn new(secret: &[u8], admin: Option<&str>) -> Self {
        let mut identity = Self {
            secret: secret.to_vec(),
            admin: None,
        };
        identity.admin = admin.map(|token| identity.tag(b"admin:", token).to_vec());
        identity
    }

    fn mac(&self, domain: &[u8], text: &str) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(domain);
        mac.update(text.as_bytes());
        mac
    }

    fn tag(&self, domain: &[u8], text: &str) -> [u8; 32] {
        self.mac(domain, text).finalize().into_bytes().into()
    }

    /// The fingerprint of `key`: 8 characters of `a-z2-7`.
    pub fn fingerprint(&self, key: &str) -> String {
        base32_40(&self.tag(b"key:", key)[..5])
    }

    /// What storage keeps of a bot's token: the whole tag its fingerprint is the first 40 bits
    /// of, in hex. A token is checked against all 256 bits ([`Identity::is_token_of`]), so a
    /// key that only shares a bot's fingerprint is not that bot.
    pub fn verifier(&self, token: &str) -> String {
        self.tag(b"key:", token)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// Whether `token` is the one `verifier` was made of, compared in constant time.
    pub fn is_token_of(&self, token: &str, verifier: &str) -> bool {
        let Some(tag) = unhex(verifier) else {
            return false;
        };
        self.mac(b"key:", token).verify_slice(&tag).is_ok()
    }

    /// Whether an admin token is configured.
    pub fn has_admin(&self) -> bool {
        self.admin.is_some()
    }

    /// Whether `token` is the admin token (false when there is none).
    pub fn is_admin(&self, token: &str) -> bool {
        match &self.admin {
            Some(tag) => self.mac(b"admin:", token).verify_slice(tag).is_ok(),
            None => false,
        }
    }
}

/// A new bot token: [`BOT_TOKEN_PREFIX`] and 256 random bits in base64url (51 characters, a
/// key's form). `None` if the system has no randomness to give.
pub fn new_bot_token() -> Option<String> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).ok()?;
    Some(format!("{BOT_TOKEN_PREFIX}{}", base64url(&random)))
}

/// A new file's id: 192 random bits in base64url (32 characters). Not derived from the file:
/// its URL is the capability to read it, and must not be guessed from a copy of the file.
pub fn new_file_id() -> Option<String> {
    let mut random = [0u8; 24];
    getrandom::fill(&mut random).ok()?;
    Some(base64url(&random))
}

/// `bytes` in base64url without padding.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    // 6 bits a character (the last one may hold fewer).
    let mut bits = 0u32;
    let mut held = 0;
    for &byte in bytes {
        bits = bits << 8 | u32::from(byte);
        held += 8;
        while held >= 6 {
            held -= 6;
            text.push(char::from(ALPHABET[(bits >> held) as usize & 63]));
        }
    }
    if held > 0 {
        text.push(char::from(ALPHABET[(bits << (6 - held)) as usize & 63]));
    }
    text
}

/// Hex digits as bytes; `None` for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// Five bytes as eight characters of RFC 4648 base32, lowercase.
fn base32_40(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bits = bytes
        .iter()
        .take(5)
        .fold(0u64, |bits, &byte| bits << 8 | u64::from(byte));
    (0..8)
        .rev()
        .map(|at| char::from(ALPHABET[(bits >> (at * 5)) as usize & 31]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::is_fingerprint;

    #[test]
    fn fingerprints_depend_on_the_key_and_the_secret() {
        let one = Identity::new(&[1; 32], None);
        let key = "k".repeat(22);
        let print = one.fingerprint(&key);
        assert!(is_fingerprint(&print), "{print}");
        assert_eq!(one.fingerprint(&key), print, "same key, same fingerprint");
        assert_ne!(one.fingerprint(&"j".repeat(22)), print);
        assert_ne!(Identity::new(&[2; 32], None).fingerprint(&key), print);
    }

    #[test]
    fn base32_of_known_bytes() {
        // RFC 4648's test vector "fooba" is MZXW6YTB.
        assert_eq!(base32_40(b"fooba"), "mzxw6ytb");
        assert_eq!(base32_40(&[0; 5]), "aaaaaaaa");
        assert_eq!(base32_40(&[255; 5]), "77777777");
    }

    #[test]
    fn a_bot_token_is_a_key_and_only_it_matches_its_verifier() {
        let identity = Identity::new(&[4; 32], None);
        let token = new_bot_token().unwrap();
        assert!(token.starts_with(BOT_TOKEN_PREFIX));
        assert_eq!(token.len(), BOT_TOKEN_PREFIX.len() + 43);
        assert_eq!(crate::protocol::check_key(&token), Ok(()));
        assert_ne!(new_bot_token().unwrap(), token, "random");
        let verifier = identity.verifier(&token);
        assert_eq!(verifier.len(), 64);
        assert_eq!(
            base32_40(&unhex(&verifier).unwrap()[..5]),
            identity.fingerprint(&token),
            "the fingerprint is the tag's first 40 bits"
        );
        assert!(identity.is_token_of(&token, &verifier));
        assert!(!identity.is_token_of(&format!("{token}x"), &verifier));
        assert!(!identity.is_token_of(&token, &verifier[..62]));
        assert!(!identity.is_token_of(&token, "zz"));
        assert!(!Identity::new(&[5; 32], None).is_token_of(&token, &verifier));
    }

    #[test]
    fn the_admin_token_must_match_exactly() {
        let token = "t".repeat(32);
        let identity = Identity::new(&[3; 32], Some(&token));
        assert!(identity.is_admin(&token));
        assert!(!identity.is_admin(&"t".repeat(31)));
        assert!(!identity.is_admin(&format!("{token}x")));
        assert!(!identity.is_admin(""));
        assert!(!Identity::new(&[3; 32], None).is_admin(&token));
    }
}
