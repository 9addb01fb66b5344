//! The browser's side effects behind one small API: requests to `/ajax` (gloo-net), timers
//! (gloo-timers), page visibility, localStorage, the session history, the title and local time.
//!
//! Each function has one signature and two bodies: the real one in the browser builds
//! (`hydrate` and `csr`), and an inert one for server rendering, where components are built
//! but never polled, so they can call these without a `cfg` of their own.

use crate::protocol::{ClientEnvelope, ServerEnvelope};

/// A request that got no envelope back: the network failed, or something other than our
/// server answered (a proxy's error page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoReply(pub String);

#[cfg(feature = "browser")]
mod imp {
    use super::*;
    use gloo_timers::callback::{Interval, Timeout};
    use wasm_bindgen::JsValue;

    pub async fn post(envelope: &ClientEnvelope) -> Result<ServerEnvelope, NoReply> {
        let request = gloo_net::http::Request::post("/ajax")
            .json(envelope)
            .map_err(|err| NoReply(err.to_string()))?;
        let response = request
            .send()
            .await
            .map_err(|err| NoReply(err.to_string()))?;
        // Errors come as status envelopes too, whatever the HTTP status: read the body first.
        let status = response.status();
        response
            .json::<ServerEnvelope>()
            .await
            .map_err(|_| NoReply(format!("unexpected reply (HTTP {status})")))
    }

    /// A running timer; dropping it cancels it.
    pub enum Timer {
        Every(#[allow(dead_code)] Interval),
        Once(#[allow(dead_code)] Timeout),
    }

    pub fn every(millis: u32, tick: impl FnMut() + 'static) -> Timer {
        Timer::Every(Interval::new(millis, tick))
    }

    pub fn after(millis: u32, fire: impl FnOnce() + 'static) -> Timer {
        Timer::Once(Timeout::new(millis, fire))
    }

    pub fn page_hidden() -> bool {
        leptos::prelude::document().hidden()
    }

    /// A fresh idempotency key: 128 random bits from the browser's cryptographic generator
    /// (`crypto.getRandomValues`), as 32 hex digits.
    pub fn new_nonce() -> String {
        let mut bits = [0u8; 16];
        let filled = leptos::prelude::window()
            .crypto()
            .and_then(|crypto| crypto.get_random_values_with_u8_array(&mut bits));
        if filled.is_err() {
            // Every browser that runs WASM has it; should one not, a key of the time and
            // `Math.random` still tells one message's retries from another's.
            let now = js_sys::Date::now().to_bits().to_le_bytes();
            let random = js_sys::Math::random().to_bits().to_le_bytes();
            bits = [now, random].concat().try_into().unwrap_or(bits);
        }
        bits.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn local_storage() -> Option<web_sys::Storage> {
        leptos::prelude::window().local_storage().ok().flatten()
    }

    pub fn load(key: &str) -> Option<String> {
        local_storage()?.get_item(key).ok().flatten()
    }

    pub fn save(key: &str, value: &str) {
        if let Some(storage) = local_storage() {
            // Private mode or a full quota: remembering is a convenience, not a requirement.
            let _ = storage.set_item(key, value);
        }
    }

    /// `sent_at` (RFC 3339) as the user's local time of day, e.g. "14:05".
    pub fn local_time(rfc3339: &str) -> String {
        let date = js_sys::Date::new(&JsValue::from_str(rfc3339));
        if date.get_time().is_nan() {
            return rfc3339.to_owned();
        }
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }

    /// Adds `path` to the session history and shows it in the address bar, without loading it.
    pub fn push_url(path: &str) {
        if let Ok(history) = leptos::prelude::window().history() {
            let _ = history.push_state_with_url(&JsValue::NULL, "", Some(path));
        }
    }

    /// The path of the page's URL with its query, e.g. `/r/dev?before=9`.
    pub fn location() -> String {
        let location = leptos::prelude::window().location();
        location.pathname().unwrap_or_default() + &location.search().unwrap_or_default()
    }

    /// Loads the page's URL afresh (for a history entry the page cannot show in place).
    pub fn reload() {
        let _ = leptos::prelude::window().location().reload();
    }

    pub fn set_title(title: &str) {
        leptos::prelude::document().set_title(title);
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms() -> u64 {
        js_sys::Date::now() as u64
    }

    /// How far the reader's clock was ahead of UTC at `secs`, in seconds (summer time included).
    pub fn utc_offset_secs(secs: i64) -> i64 {
        let date = js_sys::Date::new(&JsValue::from_f64(secs as f64 * 1000.0));
        -(date.get_timezone_offset() as i64) * 60
    }

    /// The date of `secs` as the reader's locale writes it.
    pub fn date_label(secs: i64) -> String {
        let date = js_sys::Date::new(&JsValue::from_f64(secs as f64 * 1000.0));
        String::from(date.to_locale_date_string("default", &JsValue::UNDEFINED))
    }

    /// Scrolls the element with this id into view.
    pub fn scroll_to(id: &str) {
        if let Some(element) = leptos::prelude::document().get_element_by_id(id) {
            element.scroll_into_view();
        }
    }

    /// `sent_at` as the user's local date and time, for the tooltip.
    pub fn local_date_time(rfc3339: &str) -> String {
        let date = js_sys::Date::new(&JsValue::from_str(rfc3339));
        if date.get_time().is_nan() {
            return rfc3339.to_owned();
        }
        String::from(date.to_locale_string("default", &JsValue::UNDEFINED))
    }
}

#[cfg(not(feature = "browser"))]
mod imp {
    use super::*;

    pub async fn post(_envelope: &ClientEnvelope) -> Result<ServerEnvelope, NoReply> {
        Err(NoReply("requests are only sent from the browser".into()))
    }

    pub struct Timer;

    pub fn every(_millis: u32, _tick: impl FnMut() + 'static) -> Timer {
        Timer
    }

    pub fn after(_millis: u32, _fire: impl FnOnce() + 'static) -> Timer {
        Timer
    }

    pub fn page_hidden() -> bool {
        false
    }

    /// Never called outside the browser (nothing is sent from the server's render).
    pub fn new_nonce() -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        format!("{nanos:032x}")
    }

    pub fn load(_key: &str) -> Option<String> {
        None
    }

    pub fn save(_key: &str, _value: &str) {}

    pub fn local_time(rfc3339: &str) -> String {
        rfc3339.to_owned()
    }

    pub fn push_url(_path: &str) {}

    pub fn location() -> String {
        String::new()
    }

    pub fn reload() {}

    pub fn set_title(_title: &str) {}

    pub fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64)
    }

    pub fn utc_offset_secs(_secs: i64) -> i64 {
        0
    }

    pub fn date_label(secs: i64) -> String {
        secs.to_string()
    }

    pub fn scroll_to(_id: &str) {}

    pub fn local_date_time(rfc3339: &str) -> String {
        rfc3339.to_owned()
    }
}

pub use imp::*;
