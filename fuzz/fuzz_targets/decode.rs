//! Fuzz target: any bytes through the server's envelope decoding and validation. Nothing may
//! panic; whatever decodes must re-encode and decode to the same envelope; whatever validates
//! must keep the text exactly and the sender trimmed within its limits.

#![no_main]

use ajax_chat::protocol::{ClientEnvelope, Limits, NONCE_CHARS, decode_client};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = decode_client(data) else {
        return;
    };
    let encoded = serde_json::to_vec(&envelope).expect("an envelope always encodes");
    assert_eq!(decode_client(&encoded).expect("re-decodes"), envelope);
    if let ClientEnvelope::Message(post) = &envelope
        && let Ok(valid) = post.validate(&Limits::default())
    {
        assert_eq!(valid.message, post.message);
        assert_eq!(valid.sender, post.sender.trim());
        let sender_chars = valid.sender.chars().count();
        assert!((1..=64).contains(&sender_chars));
        assert!(!valid.message.trim().is_empty() && valid.message.chars().count() <= 4096);
        if let Some(nonce) = &valid.nonce {
            assert!(NONCE_CHARS.contains(&nonce.chars().count()));
        }
    }
});
