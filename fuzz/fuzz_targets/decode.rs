//! Fuzz target: any bytes through the server's envelope decoding and validation. Nothing may
//! panic; whatever decodes must re-encode and decode to the same envelope; whatever validates
//! must keep the text exactly and the sender trimmed within its limits, in a well-formed room;
//! a `history` whose bounds pass asks for 1 to 200 messages below an id of at least 1; a key
//! that passes is 22 to 128 of `A-Za-z0-9_-`; a message's files are 1 to 10 distinct ids (and
//! only with files may its text be empty); a ban's target is exactly one well-formed
//! fingerprint or IP address.

#![no_main]

use ajax_chat::protocol::{
    ClientEnvelope, KEY_CHARS, Limits, MAX_HISTORY, NONCE_CHARS, decode_client, is_file_id,
    is_fingerprint, is_room_name,
};

fn well_formed_key(key: &str) -> bool {
    KEY_CHARS.contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
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
        // Text, or files with no text at all: 1 to 10 distinct well-formed ids.
        let files_alone = !valid.files.is_empty() && valid.message.is_empty();
        assert!(
            files_alone
                || (!valid.message.trim().is_empty() && valid.message.chars().count() <= 4096)
        );
        assert!(valid.files.len() <= 10);
        assert!(valid.files.iter().all(|id| is_file_id(id)));
        for (at, id) in valid.files.iter().enumerate() {
            assert!(!valid.files[..at].contains(id));
        }
        if let Some(nonce) = &valid.nonce {
            assert!(NONCE_CHARS.contains(&nonce.chars().count()));
        }
        assert!(is_room_name(&valid.room));
        assert_eq!(post.room.as_deref().unwrap_or("general"), valid.room);
        assert!(post.key.as_deref().is_none_or(well_formed_key));
    }
    if let ClientEnvelope::Edit(edit) = &envelope
        && edit.validate(&Limits::default()).is_ok()
    {
        assert!(!edit.message.trim().is_empty() && edit.message.chars().count() <= 4096);
        assert!(edit.key.as_deref().is_none_or(well_formed_key));
    }
    if let ClientEnvelope::Ban(ban) | ClientEnvelope::Unban(ban) = &envelope
        && let Ok(target) = ban.target()
    {
        match (&target.author, &target.address) {
            (Some(author), None) => assert!(is_fingerprint(author)),
            (None, Some(address)) => {
                assert!(address.parse::<std::net::IpAddr>().is_ok());
            }
            _ => panic!("a ban of exactly one target"),
        }
    }
    if let ClientEnvelope::History(history) = &envelope
        && let Ok((before, limit)) = history.bounds()
    {
        assert!(before >= 1 && (1..=MAX_HISTORY as usize).contains(&limit));
        assert_eq!(history.before.unwrap_or(u64::MAX), before);
    }
});
