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
//! The operator's token (`CHAT_ADMIN_TOKEN`) is checked here too, in constant time.

use hmac::{KeyInit, Mac};

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
