//! The platform outside the browser: the page rendered on the server, and `cargo test`. No
//! effect runs there, so nothing here is called but the pure functions (lower case, UTC
//! dates, reading JSON), which behave as in the browser.

use super::{Exchange, Reply};
use crate::protocol::ClientEnvelope;
use crate::protocol::json::{Decode, Unreadable};

pub async fn post(_envelope: &ClientEnvelope) -> Exchange {
    Exchange {
        status: 0,
        build: None,
        reply: Reply::Network,
    }
}

/// A file picked in the browser: none are, here.
#[derive(Clone)]
pub struct PickedFile;

impl PickedFile {
    pub fn name(&self) -> String {
        String::new()
    }

    pub fn size(&self) -> u64 {
        0
    }

    pub fn kind(&self) -> String {
        String::new()
    }
}

pub fn files_of_input(_ev: &leptos::ev::Event) -> Vec<PickedFile> {
    Vec::new()
}

pub fn files_of_drop(_ev: &leptos::ev::DragEvent) -> Vec<PickedFile> {
    Vec::new()
}

pub fn drags_files(_ev: &leptos::ev::DragEvent) -> bool {
    false
}

pub fn files_of_paste(_ev: &leptos::ev::ClipboardEvent) -> Vec<PickedFile> {
    Vec::new()
}

pub fn keep_stray_drops() {}

pub fn warn_on_leave(_active: bool) {}

pub async fn upload(
    _file: &PickedFile,
    _name: &str,
    _key: &str,
) -> Result<crate::protocol::FileInfo, (String, bool)> {
    Err(("Upload failed: no browser".into(), false))
}

/// `text` read as a `T` (by `serde_json`'s parser here): `None` when it is not JSON at all.
pub fn read<T: Decode>(text: &str) -> Option<Result<T, Unreadable>> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .map(|value| T::decode(&value))
}

pub fn load(_key: &str) -> Option<String> {
    None
}

pub fn save(_key: &str, _value: &str) {}

pub struct Timer;

pub fn every(_millis: u32, _tick: impl FnMut() + 'static) -> Timer {
    Timer
}

pub fn after(_millis: u32, _fire: impl FnOnce() + 'static) -> Timer {
    Timer
}

pub async fn sleep(_millis: u32) {}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// The server renders UTC: it does not know the reader's time zone.
pub fn utc_offset_secs(_secs: i64) -> i64 {
    0
}

pub fn date_label(secs: i64) -> String {
    secs.to_string()
}

pub fn local_time(rfc3339: &str) -> String {
    rfc3339.to_owned()
}

pub fn local_date_time(rfc3339: &str) -> String {
    rfc3339.to_owned()
}

pub fn lowercase(text: &str) -> String {
    text.to_lowercase()
}

/// Randomness from the clock: for tests only (nothing here makes a key).
pub fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    None
}

pub fn weak_random_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    let mut bits = [0u8; 16];
    bits[..8].copy_from_slice(&nanos.to_le_bytes());
    bits[8..].copy_from_slice(&count.to_le_bytes());
    bits
}

pub fn hidden() -> bool {
    false
}

pub fn online() -> bool {
    true
}

pub fn push_url(_path: &str) {}

pub fn location() -> String {
    String::new()
}

pub fn take_key_fragment() -> Option<String> {
    None
}

pub fn origin() -> String {
    String::new()
}

pub fn reload() {}

pub fn set_title(_title: &str) {}

pub fn set_favicon(_unread: bool) {}

pub fn scroll_to(_id: &str) {}

pub fn focus(_id: &str) {}

pub fn caret(_id: &str) -> Option<usize> {
    None
}

pub fn set_caret(_id: &str, _at: usize) {}

pub fn confirm(_question: &str) -> bool {
    false
}

pub fn alert(_text: &str) {}

pub async fn copy(_text: &str) -> bool {
    false
}

pub fn update_service_worker() {}

pub struct Listener;

pub fn on_document(_event: &'static str, _handler: impl FnMut() + 'static) -> Listener {
    Listener
}

pub fn notifications_allowed() -> bool {
    false
}

pub fn ask_notifications(done: impl FnOnce(bool) + 'static) {
    done(false);
}

pub fn notify(_title: &str, _body: &str, _tag: &str, _href: &str) {}

pub struct Channel;

impl Channel {
    pub fn open(_name: &str, _heard: impl FnMut(String) + 'static) -> Option<Self> {
        None
    }

    pub fn post(&self, _text: &str) {}
}

pub struct Claim;

pub fn claim(
    _name: &str,
    _steal: bool,
    _granted: impl FnOnce() + 'static,
    _lost: impl FnOnce() + 'static,
) -> Option<Claim> {
    None
}

impl Claim {
    pub fn release(&self) {}
}
