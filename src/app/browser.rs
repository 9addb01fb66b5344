//! The browser's side effects behind one small API: requests to `/ajax` (gloo-net), timers
//! (gloo-timers), page visibility, localStorage, the session history, the title and local time.
//!
//! Each function has one signature and two bodies: the real one in the browser builds
//! (`hydrate` and `csr`), and an inert one for server rendering, where components are built
//! but never polled, so they can call these without a `cfg` of their own.

use crate::protocol::{ClientEnvelope, RoomIds, ServerEnvelope};

#[cfg(feature = "browser")]
mod imp {
    use super::*;
    use gloo_timers::callback::{Interval, Timeout};
    use wasm_bindgen::JsValue;

    /// Sends `envelope`: the envelope that came back, or none (the network failed, or
    /// something other than our server answered, such as a proxy's error page).
    pub async fn post(envelope: &ClientEnvelope) -> Option<ServerEnvelope> {
        exchange(envelope).await.1
    }

    /// Sends `envelope`: the HTTP status (0 when the network failed) and the envelope that
    /// came back, if one did.
    pub async fn exchange(envelope: &ClientEnvelope) -> (u16, Option<ServerEnvelope>) {
        let Ok(request) = gloo_net::http::Request::post("/ajax")
            .header("Content-Type", "application/json")
            .body(crate::protocol::json::to_json(envelope))
        else {
            return (0, None);
        };
        let Ok(response) = request.send().await else {
            return (0, None);
        };
        // Errors come as status envelopes too, whatever the HTTP status: read the body first,
        // parsed by the browser straight into the objects `decode` reads.
        let status = response.status();
        let Ok(parsing) = web_sys::Response::from(response).json() else {
            return (status, None);
        };
        let parsed = wasm_bindgen_futures::JsFuture::from(parsing).await.ok();
        (status, parsed.as_ref().and_then(super::decode::envelope))
    }

    /// `navigator.onLine`: false when the browser knows it has no network.
    pub fn online() -> bool {
        leptos::prelude::window().navigator().on_line()
    }

    /// Rows of strings kept in localStorage as a JSON array of arrays.
    pub fn load_table(key: &str) -> Vec<Vec<String>> {
        let Some(value) = load(key).and_then(|text| super::decode::parse(&text)) else {
            return Vec::new();
        };
        if !js_sys::Array::is_array(&value) {
            return Vec::new();
        }
        js_sys::Array::from(&value)
            .iter()
            .filter(js_sys::Array::is_array)
            .map(|row| {
                js_sys::Array::from(&row)
                    .iter()
                    .map(|cell| cell.as_string().unwrap_or_default())
                    .collect()
            })
            .collect()
    }

    /// Keeps `rows` under `key` (see [`load_table`]); no rows removes the key.
    pub fn save_table(key: &str, rows: &[Vec<String>]) {
        if rows.is_empty() {
            return save(key, "");
        }
        let table: js_sys::Array = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|cell| JsValue::from_str(cell))
                    .collect::<js_sys::Array>()
            })
            .collect();
        if let Ok(json) = js_sys::JSON::stringify(&table) {
            save(key, &String::from(json));
        }
    }

    /// A [`RoomIds`] kept in localStorage as JSON.
    pub fn load_ids(key: &str) -> Option<RoomIds> {
        super::decode::room_ids(&super::decode::parse(&load(key)?)?)
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

    /// 24 random bytes from `crypto.getRandomValues` (192 bits) as 32 characters of base64url:
    /// the browser's secret key, made once.
    pub fn new_key() -> String {
        let mut bits = [0u8; 24];
        let _ = leptos::prelude::window()
            .crypto()
            .and_then(|crypto| crypto.get_random_values_with_u8_array(&mut bits));
        base64url(&bits)
    }

    fn storage(session: bool) -> Option<web_sys::Storage> {
        let window = leptos::prelude::window();
        if session {
            window.session_storage().ok().flatten()
        } else {
            window.local_storage().ok().flatten()
        }
    }

    pub fn load(key: &str) -> Option<String> {
        storage(key.starts_with("session."))?
            .get_item(key)
            .ok()
            .flatten()
    }

    /// Kept in localStorage, or in sessionStorage for keys named `session.*`; an empty value
    /// removes the key.
    pub fn save(key: &str, value: &str) {
        if let Some(storage) = storage(key.starts_with("session.")) {
            // Private mode or a full quota: remembering is a convenience, not a requirement.
            let _ = if value.is_empty() {
                storage.remove_item(key)
            } else {
                storage.set_item(key, value)
            };
        }
    }

    /// The URL's fragment (without `#`), then removed from the address bar and the history
    /// entry: what it carries (a key) should not stay on screen.
    pub fn take_fragment() -> String {
        let window = leptos::prelude::window();
        let hash = window.location().hash().unwrap_or_default();
        if !hash.is_empty()
            && let Ok(history) = window.history()
        {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&location()));
        }
        hash.trim_start_matches('#').to_owned()
    }

    /// The action of the button (or editor) an event came from, by its `data-action`, and the
    /// id of the message whose row holds it.
    pub fn action_of(ev: &leptos::web_sys::Event) -> Option<(String, u64)> {
        use wasm_bindgen::JsCast;
        let target = ev.target()?.dyn_into::<web_sys::Element>().ok()?;
        let action = target
            .closest("[data-action]")
            .ok()??
            .get_attribute("data-action")?;
        let row = target.closest("li[data-id]").ok()??;
        Some((action, row.get_attribute("data-id")?.parse().ok()?))
    }

    /// The value of `attribute` on the element an event came from, or the nearest one around it
    /// that has it.
    pub fn data_of(ev: &leptos::web_sys::Event, attribute: &str) -> Option<String> {
        use wasm_bindgen::JsCast;
        let target = ev.target()?.dyn_into::<web_sys::Element>().ok()?;
        target
            .closest(&format!("[{attribute}]"))
            .ok()??
            .get_attribute(attribute)
    }

    /// Shows `names` as the options of the listbox `list` (hidden when there are none), the
    /// `active` one selected and named as the active descendant of the box `owner`.
    pub fn show_options(list: &str, owner: &str, names: &[String], active: usize) {
        let document = leptos::prelude::document();
        let (Some(list), Some(owner)) = (
            document.get_element_by_id(list),
            document.get_element_by_id(owner),
        ) else {
            return;
        };
        list.set_text_content(None);
        for (index, name) in names.iter().enumerate() {
            let id = format!("mention-{index}");
            let attributes = [
                ("role", "option"),
                ("id", id.as_str()),
                (
                    "aria-selected",
                    if index == active { "true" } else { "false" },
                ),
                ("data-index", &index.to_string()),
            ];
            if let Some(option) = element("li", &attributes, Some(name)) {
                let _ = list.append_child(&option);
            }
        }
        let _ = if names.is_empty() {
            let _ = owner.remove_attribute("aria-activedescendant");
            list.set_attribute("hidden", "")
        } else {
            let _ = owner.set_attribute("aria-activedescendant", &format!("mention-{active}"));
            list.remove_attribute("hidden")
        };
    }

    fn text_area(id: &str) -> Option<web_sys::HtmlTextAreaElement> {
        use wasm_bindgen::JsCast;
        leptos::prelude::document()
            .get_element_by_id(id)?
            .dyn_into::<web_sys::HtmlTextAreaElement>()
            .ok()
    }

    /// Where the caret is in the textarea with this id, in UTF-16 units (as the browser counts).
    pub fn caret(id: &str) -> Option<usize> {
        text_area(id)?.selection_start().ok()?.map(|at| at as usize)
    }

    /// Puts the caret of the textarea with this id at `at` UTF-16 units, once its new text is
    /// in (the next frame).
    pub fn set_caret(id: &str, at: usize) {
        let id = id.to_owned();
        leptos::prelude::request_animation_frame(move || {
            if let Some(area) = text_area(&id) {
                let at = u32::try_from(at).unwrap_or(u32::MAX);
                let _ = area.set_selection_range(at, at);
            }
        });
    }

    /// Moves the keyboard focus to the element with this id.
    pub fn focus(id: &str) {
        use wasm_bindgen::JsCast;
        let element = leptos::prelude::document().get_element_by_id(id);
        if let Some(element) = element.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = element.focus();
        }
    }

    /// The text in the textarea with this id.
    pub fn text_of(id: &str) -> String {
        use wasm_bindgen::JsCast;
        leptos::prelude::document()
            .get_element_by_id(id)
            .and_then(|e| e.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
            .map(|area| area.value())
            .unwrap_or_default()
    }

    /// An element `<tag>` with `attributes` and, if given, one text node.
    fn element(
        tag: &str,
        attributes: &[(&str, &str)],
        text: Option<&str>,
    ) -> Option<web_sys::Element> {
        let element = leptos::prelude::document().create_element(tag).ok()?;
        for (name, value) in attributes {
            element.set_attribute(name, value).ok()?;
        }
        element.set_text_content(text);
        Some(element)
    }

    /// Appends an [`element`] to `parent`, and returns it.
    fn add(
        parent: &web_sys::Element,
        tag: &str,
        attributes: &[(&str, &str)],
        text: Option<&str>,
    ) -> Option<web_sys::Element> {
        let child = element(tag, attributes, text)?;
        parent.append_child(&child).ok()?;
        Some(child)
    }

    /// The list with this id, emptied.
    fn emptied(id: &str) -> Option<web_sys::Element> {
        let list = leptos::prelude::document().get_element_by_id(id)?;
        list.set_text_content(None);
        Some(list)
    }

    /// Replaces the items of the list with this id by `rows`, built with `createElement` and
    /// text nodes (never HTML): cheaper for the bundle than a reactive view of them.
    pub fn fill_list(id: &str, rows: Vec<super::ListRow>) {
        let Some(list) = emptied(id) else {
            return;
        };
        for row in rows {
            let built = (|| {
                let item = add(&list, "li", &[], None)?;
                let link = add(&item, "a", &[("href", &row.href)], None)?;
                add(&link, "span", &[("class", "where")], Some(&row.place))?;
                let text = add(&link, "span", &[("class", "found")], None)?;
                for (marked, piece) in &row.pieces {
                    if *marked {
                        add(&text, "mark", &[], Some(piece))?;
                    } else {
                        text.append_with_str_1(piece).ok()?;
                    }
                }
                Some(())
            })();
            if built.is_none() {
                return;
            }
        }
    }

    /// Replaces the items of the list with this id by the outbox's `rows`, built like
    /// [`fill_list`]'s: text nodes and the same links as the log's (never HTML).
    pub fn fill_outbox(id: &str, rows: &[&crate::app::outbox::Pending], me: Option<&str>) {
        use crate::app::links::{Piece, pieces};
        let Some(list) = emptied(id) else {
            return;
        };
        for row in rows {
            let (state, refusal) = row.shown();
            let built = (|| {
                let item = add(
                    &list,
                    "li",
                    &[
                        ("class", "message mine pending"),
                        ("data-nonce", &row.nonce),
                    ],
                    None,
                )?;
                let bubble = add(&item, "div", &[("class", "bubble")], None)?;
                let meta = add(&bubble, "div", &[("class", "meta")], None)?;
                add(&meta, "span", &[("class", "sender")], Some(&row.sender))?;
                if let Some(author) = me {
                    add(&meta, "span", &[("class", "author")], Some(author))?;
                }
                add(&meta, "span", &[("class", "state")], Some(state))?;
                let text = add(&bubble, "p", &[("class", "text")], None)?;
                for piece in pieces(&row.message) {
                    match piece {
                        Piece::Text(plain) => text.append_with_str_1(plain).ok()?,
                        Piece::Link(url) => {
                            let rel = "noopener noreferrer nofollow ugc";
                            let link = [("href", url), ("rel", rel), ("target", "_blank")];
                            add(&text, "a", &link, Some(url))?;
                        }
                    }
                }
                if let Some(reason) = refusal {
                    add(&bubble, "p", &[("class", "refusal")], Some(reason))?;
                    let actions = add(&bubble, "div", &[("class", "actions")], None)?;
                    for (action, label) in [("retry", "Retry"), ("discard", "Discard")] {
                        let button = [("type", "button"), ("data-action", action)];
                        add(&actions, "button", &button, Some(label))?;
                    }
                }
                Some(())
            })();
            if built.is_none() {
                return;
            }
        }
    }

    /// Whether this browser has notifications at all (not every context does).
    fn notifications_supported() -> bool {
        js_sys::Reflect::has(
            &leptos::prelude::window(),
            &JsValue::from_str("Notification"),
        )
        .unwrap_or(false)
    }

    /// Whether this site may show notifications.
    pub fn notifications_allowed() -> bool {
        notifications_supported()
            && web_sys::Notification::permission() == web_sys::NotificationPermission::Granted
    }

    /// Asks the browser's permission to notify (once; later the browser answers by itself), and
    /// tells `done` whether it was given.
    pub fn ask_notifications(done: impl FnOnce(bool) + 'static) {
        if !notifications_supported() {
            return done(false);
        }
        if notifications_allowed() {
            return done(true);
        }
        let Ok(asked) = web_sys::Notification::request_permission() else {
            return done(false);
        };
        let answered = wasm_bindgen::closure::Closure::once(move |answer: JsValue| {
            done(answer.as_string().as_deref() == Some("granted"));
        });
        let _ = asked.then(&answered);
        // Called once by the promise; kept alive until then.
        answered.forget();
    }

    /// Shows a notification; one with the same `tag` replaces it. A click on it brings this
    /// tab forward and opens `href` in it.
    pub fn notify(title: &str, body: &str, tag: &str, href: &str) {
        use wasm_bindgen::JsCast;
        if !notifications_allowed() {
            return;
        }
        let options = web_sys::NotificationOptions::new();
        options.set_body(body);
        options.set_tag(tag);
        if let Ok(shown) = web_sys::Notification::new_with_options(title, &options) {
            let href = href.to_owned();
            let click = wasm_bindgen::closure::Closure::once_into_js(move || {
                let window = leptos::prelude::window();
                let _ = window.focus();
                let _ = window.location().assign(&href);
            });
            shown.set_onclick(Some(click.unchecked_ref()));
        }
    }

    /// Sets (or with an empty value, for `hidden`, removes) an attribute of the element with
    /// this id.
    pub fn set_attribute(id: &str, name: &str, value: &str) {
        if let Some(element) = leptos::prelude::document().get_element_by_id(id) {
            let _ = if value.is_empty() {
                element.remove_attribute(name)
            } else {
                element.set_attribute(name, value)
            };
        }
    }

    /// Sets the `value` property of the form control with this id.
    pub fn set_value(id: &str, value: &str) {
        if let Some(element) = leptos::prelude::document().get_element_by_id(id) {
            let _ = js_sys::Reflect::set(
                &element,
                &JsValue::from_str("value"),
                &JsValue::from_str(value),
            );
        }
    }

    /// The tab's icon: with a dot while something is unread.
    pub fn set_favicon(unread: bool) {
        let icon = leptos::prelude::document().query_selector("link[rel=icon]");
        if let Ok(Some(icon)) = icon {
            let href = if unread {
                "/favicon-unread.svg"
            } else {
                "/favicon.svg"
            };
            let _ = icon.set_attribute("href", href);
        }
    }

    /// `text` in lower case, by the browser's `toLowerCase`: Unicode's full case mapping,
    /// without Rust's tables in the bundle (about 4 KB gzip).
    pub fn lowercase(text: &str) -> String {
        String::from(js_sys::JsString::from(text).to_lower_case())
    }

    /// The browser's own "OK / Cancel" dialog.
    pub fn confirm(question: &str) -> bool {
        leptos::prelude::window()
            .confirm_with_message(question)
            .unwrap_or(false)
    }

    pub fn alert(text: &str) {
        let _ = leptos::prelude::window().alert_with_message(text);
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

    pub async fn post(_envelope: &ClientEnvelope) -> Option<ServerEnvelope> {
        None
    }

    pub async fn exchange(_envelope: &ClientEnvelope) -> (u16, Option<ServerEnvelope>) {
        (0, None)
    }

    pub fn online() -> bool {
        true
    }

    pub fn load_table(_key: &str) -> Vec<Vec<String>> {
        Vec::new()
    }

    pub fn save_table(_key: &str, _rows: &[Vec<String>]) {}

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

    pub fn new_key() -> String {
        base64url(&[0; 24])
    }

    pub fn load(_key: &str) -> Option<String> {
        None
    }

    pub fn load_ids(_key: &str) -> Option<RoomIds> {
        None
    }

    pub fn save(_key: &str, _value: &str) {}

    pub fn take_fragment() -> String {
        String::new()
    }

    pub fn action_of(_ev: &leptos::web_sys::Event) -> Option<(String, u64)> {
        None
    }

    pub fn focus(_id: &str) {}

    pub fn data_of(_ev: &leptos::web_sys::Event, _attribute: &str) -> Option<String> {
        None
    }

    pub fn show_options(_list: &str, _owner: &str, _names: &[String], _active: usize) {}

    pub fn caret(_id: &str) -> Option<usize> {
        None
    }

    pub fn set_caret(_id: &str, _at: usize) {}

    pub fn text_of(_id: &str) -> String {
        String::new()
    }

    pub fn lowercase(text: &str) -> String {
        text.to_lowercase()
    }

    pub fn fill_list(_id: &str, _rows: Vec<super::ListRow>) {}

    pub fn fill_outbox(_id: &str, _rows: &[&crate::app::outbox::Pending], _me: Option<&str>) {}

    pub fn notifications_allowed() -> bool {
        false
    }

    pub fn ask_notifications(done: impl FnOnce(bool) + 'static) {
        done(false);
    }

    pub fn notify(_title: &str, _body: &str, _tag: &str, _href: &str) {}

    pub fn set_favicon(_unread: bool) {}

    pub fn set_attribute(_id: &str, _name: &str, _value: &str) {}

    pub fn set_value(_id: &str, _value: &str) {}

    pub fn confirm(_question: &str) -> bool {
        false
    }

    pub fn alert(_text: &str) {}

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

/// Decoding what the server sends, in the browser: `JSON.parse`, then the fields read one by
/// one. serde_json's decoder with its error messages (and the float formatting they pull in)
/// cost the WASM bundle about 29 KB gzip more than this (measured: 150,862 B against 121,542 B
/// of WASM). The fields and their meaning are `crate::protocol`'s; the server and the Rust
/// tests decode with serde, the browser tests drive this decoder over every envelope.
#[cfg(feature = "browser")]
pub mod decode {
    use js_sys::{Array, JSON, Object, Reflect};
    use wasm_bindgen::JsValue;

    use crate::app::PageState;
    use crate::protocol::{ChatMessage, Kind, Outcome, RoomIds, RoomInfo, ServerEnvelope, Status};

    pub fn parse(text: &str) -> Option<JsValue> {
        JSON::parse(text).ok()
    }

    fn get(value: &JsValue, key: &str) -> JsValue {
        Reflect::get(value, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    }

    fn text(value: &JsValue, key: &str) -> Option<String> {
        get(value, key).as_string()
    }

    /// A whole number that a `u64` holds exactly (JSON numbers are doubles in the browser).
    fn number(value: &JsValue) -> Option<u64> {
        value
            .as_f64()
            .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n < 9_007_199_254_740_992.0)
            .map(|n| n as u64)
    }

    fn count(value: &JsValue, key: &str) -> Option<u64> {
        number(&get(value, key))
    }

    fn list<T>(value: &JsValue, item: fn(&JsValue) -> Option<T>) -> Option<Vec<T>> {
        if !Array::is_array(value) {
            return None;
        }
        Array::from(value).iter().map(|one| item(&one)).collect()
    }

    fn message(value: &JsValue) -> Option<ChatMessage> {
        Some(ChatMessage {
            id: count(value, "id")?,
            room: text(value, "room")?,
            kind: match text(value, "kind").as_deref() {
                None | Some("message") => Kind::Message,
                Some("edit") => Kind::Edit,
                Some("delete") => Kind::Delete,
                Some(_) => return None,
            },
            target: count(value, "target"),
            sender: text(value, "sender").unwrap_or_default(),
            message: text(value, "message").unwrap_or_default(),
            sent_at: text(value, "sent_at").unwrap_or_default(),
            author: text(value, "author"),
            edited_at: text(value, "edited_at"),
        })
    }

    fn room(value: &JsValue) -> Option<RoomInfo> {
        Some(RoomInfo {
            name: text(value, "name")?,
            newest: count(value, "newest")?,
            unread: count(value, "unread"),
        })
    }

    pub fn envelope(value: &JsValue) -> Option<ServerEnvelope> {
        let data = get(value, "data");
        Some(match text(value, "type")?.as_str() {
            "sync" => ServerEnvelope::Sync(list(&data, message)?),
            "history" => ServerEnvelope::History(list(&data, message)?),
            "rooms" => ServerEnvelope::Rooms(list(&data, room)?),
            "search" => ServerEnvelope::Search(list(&data, message)?),
            "status" => ServerEnvelope::Status(Status {
                status: match count(&data, "status")? {
                    0 => Outcome::Succeeded,
                    1 => Outcome::Failed,
                    _ => return None,
                },
                message: text(&data, "message")?,
                id: count(&data, "id"),
                author: text(&data, "author"),
            }),
            _ => return None,
        })
    }

    pub fn page(value: &JsValue) -> Option<PageState> {
        let flag = |key| get(value, key).as_bool();
        Some(PageState {
            poll_interval_ms: count(value, "poll_interval_ms")?,
            long_poll_ms: count(value, "long_poll_ms")?,
            max_sync_batch: count(value, "max_sync_batch")? as usize,
            room: text(value, "room")?,
            rooms: list(&get(value, "rooms"), room)?,
            messages: list(&get(value, "messages"), message)?,
            older: flag("older")?,
            newer: flag("newer")?,
            focus: count(value, "focus"),
            admin: flag("admin").unwrap_or(false),
            build: text(value, "build").unwrap_or_default(),
        })
    }

    pub fn room_ids(value: &JsValue) -> Option<RoomIds> {
        let object = value.dyn_ref::<Object>()?;
        let entries = Object::entries(object);
        let ids = entries.iter().map(|entry| {
            let entry = Array::from(&entry);
            Some((entry.get(0).as_string()?, number(&entry.get(1))?))
        });
        Some(RoomIds(ids.collect::<Option<_>>()?))
    }

    use wasm_bindgen::JsCast;
}

/// One item of a list [`fill_list`] builds: a link with a muted line and a text of plain and
/// marked pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    pub href: String,
    pub place: String,
    pub pieces: Vec<(bool, String)>,
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
}
