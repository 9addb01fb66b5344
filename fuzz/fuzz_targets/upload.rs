//! Fuzz target: an upload's query string and `Content-Type` header as the server reads them
//! (`upload_name`, `declared_type`). Nothing may panic; a name that passes is 1 to 255
//! characters with no `/`, `\\`, control or bidirectional control character, and comes back
//! the same through the download's encoding; a declared type that passes is printable ASCII
//! with a `/`, and says nothing the server would serve as a page (it is never served: only
//! stored and shown).
//!
//! The input is split at its first newline: the query before it, the header after it.

#![no_main]

use ajax_chat::protocol::{MAX_FILE_NAME_CHARS, declared_type, percent_decode, percent_encode, upload_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (query, content_type) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(name) = upload_name(Some(query)) {
        let chars = name.chars().count();
        assert!((1..=MAX_FILE_NAME_CHARS).contains(&chars));
        assert!(!name.chars().any(|c| c == '/' || c == '\\' || c.is_control()));
        assert!(!name.chars().any(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')));
        let encoded = percent_encode(&name);
        assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(percent_decode(&encoded).as_deref(), Some(name.as_str()));
    }
    if let Some(kind) = declared_type(content_type) {
        assert!(kind.contains('/'));
        assert!(kind.bytes().all(|b| (0x20..0x7f).contains(&b)));
        assert_eq!(kind, kind.trim());
    }
});
