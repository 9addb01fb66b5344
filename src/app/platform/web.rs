//! The platform in the browser.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use js_sys::{Array, Object, Reflect};
use leptos::prelude::{document, window};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::{BUILD_HEADER, Exchange, Reply};
use crate::protocol::json::{Decode, JsonValue, MAX_SAFE, Unreadable, to_json};
use crate::protocol::{ClientEnvelope, FileInfo, ServerEnvelope};

// ---- Requests ----------------------------------------------------------------------------

/// Sends `envelope` to `/ajax`, and reads what came back (errors come as status envelopes too,
/// whatever the HTTP status: the body is read first).
pub async fn post(envelope: &ClientEnvelope) -> Exchange {
    let network = Exchange {
        status: 0,
        build: None,
        reply: Reply::Network,
    };
    let Ok(request) = gloo_net::http::Request::post("/ajax")
        .header("Content-Type", "application/json")
        .body(to_json(envelope))
    else {
        return network;
    };
    let Ok(response) = request.send().await else {
        return network;
    };
    let status = response.status();
    let build = response.headers().get(BUILD_HEADER);
    let reply = match response.text().await {
        Err(_) => Reply::Network,
        Ok(text) => match parse(&text) {
            None => Reply::NotJson,
            Some(value) => match ServerEnvelope::decode(&value) {
                Ok(envelope) => Reply::Envelope(envelope, text),
                Err(at) => {
                    let kind = value.get("type").and_then(|kind| kind.text());
                    let kind = kind.unwrap_or_default();
                    leptos::logging::warn!("a reply of type \"{kind}\" is unreadable at {at}");
                    Reply::Unreadable(kind, at)
                }
            },
        },
    };
    Exchange {
        status,
        build,
        reply,
    }
}

// ---- Files ---------------------------------------------------------------------------------

/// A file the person picked, pasted or dropped, as the browser holds it (its bytes are read
/// only when it is sent).
#[derive(Clone)]
pub struct PickedFile(web_sys::File);

impl PickedFile {
    pub fn name(&self) -> String {
        self.0.name()
    }

    pub fn size(&self) -> u64 {
        self.0.size() as u64
    }

    /// Its type as the browser guessed it (empty when it could not).
    pub fn kind(&self) -> String {
        self.0.type_()
    }
}

fn files_of(list: Option<web_sys::FileList>) -> Vec<PickedFile> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|at| list.get(at))
        .map(PickedFile)
        .collect()
}

/// The files chosen in a file input (its `change` event); the input is emptied, so that the
/// same file can be chosen again.
pub fn files_of_input(ev: &leptos::ev::Event) -> Vec<PickedFile> {
    let Some(input) = ev
        .target()
        .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return Vec::new();
    };
    let files = files_of(input.files());
    input.set_value("");
    files
}

/// The files a drag carries (its `drop` event).
pub fn files_of_drop(ev: &leptos::ev::DragEvent) -> Vec<PickedFile> {
    files_of(ev.data_transfer().and_then(|data| data.files()))
}

/// Whether a drag carries files (not text or a link dragged within the page).
pub fn drags_files(ev: &leptos::ev::DragEvent) -> bool {
    ev.data_transfer()
        .is_some_and(|data| data.types().includes(&JsValue::from_str("Files"), 0))
}

/// The files a paste carries (an image copied from a screenshot tool, a file copied in the
/// file manager); none when it carries text too (a spreadsheet's or a word processor's copy
/// comes with a picture of itself: the text is what was meant).
pub fn files_of_paste(ev: &leptos::ev::ClipboardEvent) -> Vec<PickedFile> {
    let Some(data) = ev.clipboard_data() else {
        return Vec::new();
    };
    if data
        .get_data("text/plain")
        .is_ok_and(|text| !text.is_empty())
    {
        return Vec::new();
    }
    files_of(data.files())
}

thread_local! {
    /// Whether leaving the page now would lose something (and the listener that says so is
    /// registered).
    static LEAVE_WARNING: std::cell::Cell<(bool, bool)> = const { std::cell::Cell::new((false, false)) };
}

/// Whether the browser asks before the page is left (closed, reloaded, navigated away): while
/// something would be lost with it.
pub fn warn_on_leave(active: bool) {
    let (_, registered) = LEAVE_WARNING.get();
    LEAVE_WARNING.set((active, true));
    if registered {
        return;
    }
    let ask = Closure::<dyn FnMut(web_sys::Event)>::new(|ev: web_sys::Event| {
        if LEAVE_WARNING.get().0 {
            ev.prevent_default();
            // What older Chromium needs to ask.
            let _ = Reflect::set(
                &ev,
                &JsValue::from_str("returnValue"),
                &JsValue::from_str(""),
            );
        }
    });
    let _ = window().add_event_listener_with_callback("beforeunload", ask.as_ref().unchecked_ref());
    ask.forget();
}

/// Files dropped anywhere on the page but on its drop zone are not opened by the browser in
/// place of the chat (losing what is typed and what waits to be sent). For the page's life.
pub fn keep_stray_drops() {
    for event in ["dragover", "drop"] {
        let stop = Closure::<dyn FnMut(web_sys::DragEvent)>::new(|ev: web_sys::DragEvent| {
            if drags_files(&ev) {
                ev.prevent_default();
            }
        });
        let _ = window().add_event_listener_with_callback(event, stop.as_ref().unchecked_ref());
        stop.forget();
    }
}

/// Uploads `file` as `name` with `key` (`POST /files`): what the server stored, or why not,
/// as a sentence to show, and whether trying again may help (the network, 408, 429, 5xx: not
/// a refusal of the file itself).
pub async fn upload(file: &PickedFile, name: &str, key: &str) -> Result<FileInfo, (String, bool)> {
    let network = || {
        (
            "Upload failed: the server could not be reached".to_owned(),
            true,
        )
    };
    let url = format!("/files?name={}", js_sys::encode_uri_component(name));
    let kind = match file.kind() {
        kind if kind.is_empty() => "application/octet-stream".to_owned(),
        kind => kind,
    };
    let request = gloo_net::http::Request::post(&url)
        .header("Content-Type", &kind)
        .header("X-Chat-Key", key)
        .body(JsValue::from(file.0.clone()))
        .map_err(|_| network())?;
    let response = request.send().await.map_err(|_| network())?;
    let text = response.text().await.map_err(|_| network())?;
    let code = response.status();
    let again = matches!(code, 408 | 429) || code >= 500;
    match parse(&text).map(|value| ServerEnvelope::decode(&value)) {
        Some(Ok(ServerEnvelope::File(stored))) => Ok(stored),
        Some(Ok(ServerEnvelope::Status(status))) => {
            Err((format!("Upload failed: {}", status.message), again))
        }
        _ => Err((format!("Upload failed (HTTP {code})"), true)),
    }
}

// ---- JSON ----------------------------------------------------------------------------------

/// `text` parsed by the browser's `JSON.parse`.
fn parse(text: &str) -> Option<JsValue> {
    js_sys::JSON::parse(text).ok()
}

/// `text` parsed by the browser and read as a `T`: `None` when it is not JSON at all.
pub fn read<T: Decode>(text: &str) -> Option<Result<T, Unreadable>> {
    parse(text).map(|value| T::decode(&value))
}

/// What `JSON.parse` made, read by the one decoder of the wire format.
impl JsonValue for JsValue {
    fn get(&self, key: &str) -> Option<Self> {
        if !self.is_object() {
            return None;
        }
        let member = Reflect::get(self, &JsValue::from_str(key)).ok()?;
        (!member.is_undefined() && !member.is_null()).then_some(member)
    }

    fn text(&self) -> Option<String> {
        self.as_string()
    }

    fn whole(&self) -> Option<u64> {
        self.as_f64()
            .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= MAX_SAFE as f64)
            .map(|n| n as u64)
    }

    fn flag(&self) -> Option<bool> {
        self.as_bool()
    }

    fn items(&self) -> Option<Vec<Self>> {
        Array::is_array(self).then(|| Array::from(self).iter().collect())
    }

    fn entries(&self) -> Option<Vec<(String, Self)>> {
        let object = self
            .dyn_ref::<Object>()
            .filter(|_| !Array::is_array(self))?;
        Object::entries(object)
            .iter()
            .map(|entry| {
                let entry = Array::from(&entry);
                Some((entry.get(0).as_string()?, entry.get(1)))
            })
            .collect()
    }
}

// ---- Storage -------------------------------------------------------------------------------

fn storage(key: &str) -> Option<web_sys::Storage> {
    let window = window();
    if key.starts_with("session.") {
        window.session_storage().ok().flatten()
    } else {
        window.local_storage().ok().flatten()
    }
}

/// What is kept under `key`: in localStorage, or in sessionStorage for keys named `session.*`.
pub fn load(key: &str) -> Option<String> {
    storage(key)?.get_item(key).ok().flatten()
}

/// Keeps `value` under `key` (see [`load`]); an empty value removes the key.
pub fn save(key: &str, value: &str) {
    if let Some(storage) = storage(key) {
        // Private mode or a full quota: remembering is a convenience, not a requirement.
        let _ = if value.is_empty() {
            storage.remove_item(key)
        } else {
            storage.set_item(key, value)
        };
    }
}

// ---- Time ----------------------------------------------------------------------------------

/// A running timer (gloo-timers); dropping it cancels it.
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

/// Resolves after `millis` (a gloo-timers timeout).
pub async fn sleep(millis: u32) {
    gloo_timers::future::TimeoutFuture::new(millis).await;
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn date_at(secs: i64) -> js_sys::Date {
    js_sys::Date::new(&JsValue::from_f64(secs as f64 * 1000.0))
}

/// How far the reader's clock was ahead of UTC at `secs`, in seconds (summer time included).
pub fn utc_offset_secs(secs: i64) -> i64 {
    -(date_at(secs).get_timezone_offset() as i64) * 60
}

/// The date of `secs` as the reader's locale writes it.
pub fn date_label(secs: i64) -> String {
    String::from(date_at(secs).to_locale_date_string("default", &JsValue::UNDEFINED))
}

fn parsed(rfc3339: &str) -> Option<js_sys::Date> {
    let date = js_sys::Date::new(&JsValue::from_str(rfc3339));
    (!date.get_time().is_nan()).then_some(date)
}

/// `rfc3339` as the reader's local time of day, e.g. "14:05".
pub fn local_time(rfc3339: &str) -> String {
    parsed(rfc3339).map_or_else(
        || rfc3339.to_owned(),
        |date| format!("{:02}:{:02}", date.get_hours(), date.get_minutes()),
    )
}

/// `rfc3339` as the reader's local date and time, as their locale writes it.
pub fn local_date_time(rfc3339: &str) -> String {
    parsed(rfc3339).map_or_else(
        || rfc3339.to_owned(),
        |date| String::from(date.to_locale_string("default", &JsValue::UNDEFINED)),
    )
}

// ---- Text ----------------------------------------------------------------------------------

/// `text` in lower case, by the browser's `toLowerCase`: Unicode's full case mapping, the
/// same as Rust's, without a second copy of its tables in the bundle.
pub fn lowercase(text: &str) -> String {
    String::from(js_sys::JsString::from(text).to_lower_case())
}

// ---- Randomness ----------------------------------------------------------------------------

/// `N` bytes from `crypto.getRandomValues`; `None` where the browser has no such generator.
pub fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut bits = [0u8; N];
    let crypto = window().crypto().ok()?;
    crypto.get_random_values_with_u8_array(&mut bits).ok()?;
    Some(bits)
}

/// 16 bytes of the time and `Math.random`: unique enough for a nonce, not for a secret.
pub fn weak_random_bytes() -> [u8; 16] {
    let now = js_sys::Date::now().to_bits().to_le_bytes();
    let random = js_sys::Math::random().to_bits().to_le_bytes();
    let mut bits = [0u8; 16];
    bits[..8].copy_from_slice(&now);
    bits[8..].copy_from_slice(&random);
    bits
}

// ---- The page ------------------------------------------------------------------------------

/// Whether the tab is hidden.
pub fn hidden() -> bool {
    document().hidden()
}

/// `navigator.onLine`: false when the browser knows it has no network.
pub fn online() -> bool {
    window().navigator().on_line()
}

/// Adds `path` to the session history and shows it in the address bar, without loading it.
pub fn push_url(path: &str) {
    if let Ok(history) = window().history() {
        let _ = history.push_state_with_url(&JsValue::NULL, "", Some(path));
    }
}

/// The path of the page's URL with its query, e.g. `/r/dev?before=9`.
pub fn location() -> String {
    let location = window().location();
    location.pathname().unwrap_or_default() + &location.search().unwrap_or_default()
}

/// A key link's fragment (`#key=…`, returned without `#`) if the address bar shows one, which
/// is then removed from the address bar and from this history entry. (The shell's first script
/// does the same on load; this is for a link opened in a page already loaded, where only the
/// fragment changes.)
pub fn take_key_fragment() -> Option<String> {
    let window = window();
    let hash = window.location().hash().ok()?;
    let fragment = hash.strip_prefix("#key=").map(|_| hash[1..].to_owned())?;
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&location()));
    }
    Some(fragment)
}

/// The page's origin, e.g. `https://chat.example`.
pub fn origin() -> String {
    window().location().origin().unwrap_or_default()
}

/// Loads the page's URL afresh.
pub fn reload() {
    let _ = window().location().reload();
}

pub fn set_title(title: &str) {
    document().set_title(title);
}

/// The tab's icon: with a dot while something is unread.
pub fn set_favicon(unread: bool) {
    if let Ok(Some(icon)) = document().query_selector("link[rel=icon]") {
        let href = if unread {
            "/favicon-unread.svg"
        } else {
            "/favicon.svg"
        };
        let _ = icon.set_attribute("href", href);
    }
}

fn element<T: JsCast>(id: &str) -> Option<T> {
    document().get_element_by_id(id)?.dyn_into::<T>().ok()
}

/// Scrolls the element with this id into view.
pub fn scroll_to(id: &str) {
    if let Some(element) = element::<web_sys::Element>(id) {
        element.scroll_into_view();
    }
}

/// Moves the keyboard focus to the element with this id (one that takes it).
pub fn focus(id: &str) {
    if let Some(element) = element::<web_sys::HtmlElement>(id) {
        let _ = element.focus();
    }
}

/// Where the caret is in the textarea with this id, in UTF-16 units (as the browser counts).
pub fn caret(id: &str) -> Option<usize> {
    let area = element::<web_sys::HtmlTextAreaElement>(id)?;
    area.selection_start().ok()?.map(|at| at as usize)
}

/// Puts the caret of the textarea with this id at `at` UTF-16 units, once its new text is in
/// (the next frame).
pub fn set_caret(id: &str, at: usize) {
    let id = id.to_owned();
    leptos::prelude::request_animation_frame(move || {
        if let Some(area) = element::<web_sys::HtmlTextAreaElement>(&id) {
            let at = u32::try_from(at).unwrap_or(u32::MAX);
            let _ = area.set_selection_range(at, at);
        }
    });
}

/// The browser's own "OK / Cancel" dialog.
pub fn confirm(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

pub fn alert(text: &str) {
    let _ = window().alert_with_message(text);
}

/// Writes `text` to the clipboard; whether the browser allowed it.
pub async fn copy(text: &str) -> bool {
    let written = window().navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(written).await.is_ok()
}

/// Asks the service worker to look for a new version of itself (a new build's).
pub fn update_service_worker() {
    let registration = window().navigator().service_worker().get_registration();
    let update = Closure::once(|registration: JsValue| {
        if let Ok(registration) = registration.dyn_into::<web_sys::ServiceWorkerRegistration>() {
            let _ = registration.update();
        }
    });
    let _ = registration.then(&update);
    // Called once by the promise; kept alive until then.
    update.forget();
}

/// A listener of `event` on the document (`freeze`, `resume`: the page lifecycle), removed
/// when dropped.
pub struct Listener {
    event: &'static str,
    callback: Closure<dyn FnMut()>,
}

pub fn on_document(event: &'static str, handler: impl FnMut() + 'static) -> Listener {
    let callback = Closure::<dyn FnMut()>::new(handler);
    let _ = document().add_event_listener_with_callback(event, callback.as_ref().unchecked_ref());
    Listener { event, callback }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = document().remove_event_listener_with_callback(
            self.event,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}

// ---- Notifications -------------------------------------------------------------------------

/// Whether this browser has notifications at all (not every context does).
fn notifications_supported() -> bool {
    Reflect::has(&window(), &JsValue::from_str("Notification")).unwrap_or(false)
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
    let answered = Closure::once(move |answer: JsValue| {
        done(answer.as_string().as_deref() == Some("granted"));
    });
    let _ = asked.then(&answered);
    // Called once by the promise; kept alive until then.
    answered.forget();
}

/// Shows a notification; one with the same `tag` replaces it. A click on it brings this tab
/// forward and opens `href` in it.
pub fn notify(title: &str, body: &str, tag: &str, href: &str) {
    if !notifications_allowed() {
        return;
    }
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    if let Ok(shown) = web_sys::Notification::new_with_options(title, &options) {
        let href = href.to_owned();
        let click = Closure::once_into_js(move || {
            let window = window();
            let _ = window.focus();
            let _ = window.location().assign(&href);
        });
        shown.set_onclick(Some(click.unchecked_ref()));
    }
}

// ---- The other tabs of this browser --------------------------------------------------------

/// A `BroadcastChannel`: text to and from the other tabs of this browser (of this origin).
pub struct Channel {
    channel: web_sys::BroadcastChannel,
    _listener: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Channel {
    pub fn open(name: &str, mut heard: impl FnMut(String) + 'static) -> Option<Self> {
        let channel = web_sys::BroadcastChannel::new(name).ok()?;
        let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(text) = event.data().as_string() {
                    heard(text);
                }
            },
        );
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        Some(Self {
            channel,
            _listener: listener,
        })
    }

    /// Sends `text` to every other tab (not to this one).
    pub fn post(&self, text: &str) {
        let _ = self.channel.post_message(&JsValue::from_str(text));
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (Web Locks; web-sys has it only behind its unstable-API flag).
    type LockManager;

    #[wasm_bindgen(method, catch)]
    fn request(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &js_sys::Function,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// A claim on a Web Lock that one tab of the browser holds at a time: `granted` runs when this
/// tab gets it (at once, after the holder lets go, or, with `steal`, taken from the holder),
/// `lost` when another tab steals it. `None` where the browser has no Web Locks (they need a
/// secure context).
pub struct Claim {
    /// Whether this tab still wants the lock.
    wanted: Rc<std::cell::Cell<bool>>,
    /// Resolves the promise that holds the lock, once it is held.
    release: Rc<RefCell<Option<js_sys::Function>>>,
    /// Takes a request that still waits out of the queue (a frozen tab must not be handed the
    /// lock it cannot use).
    abort: Option<web_sys::AbortController>,
}

pub fn claim(
    name: &str,
    steal: bool,
    granted: impl FnOnce() + 'static,
    lost: impl FnOnce() + 'static,
) -> Option<Claim> {
    let locks = Reflect::get(&window().navigator(), &JsValue::from_str("locks")).ok()?;
    if locks.is_undefined() || locks.is_null() {
        return None;
    }
    let locks: LockManager = locks.unchecked_into();
    let wanted = Rc::new(std::cell::Cell::new(true));
    let release = Rc::new(RefCell::new(None::<js_sys::Function>));
    let (still_wanted, held) = (Rc::clone(&wanted), Rc::clone(&release));
    // Called with the lock: it is held until the promise it returns settles.
    let callback = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
        if !still_wanted.get() {
            return js_sys::Promise::resolve(&JsValue::UNDEFINED);
        }
        granted();
        js_sys::Promise::new(&mut |resolve, _reject| *held.borrow_mut() = Some(resolve))
    });
    let options = Object::new();
    // A stealing request is granted at once; only one that waits can be taken back.
    let abort = if steal {
        let _ = Reflect::set(&options, &JsValue::from_str("steal"), &JsValue::TRUE);
        None
    } else {
        let abort = web_sys::AbortController::new().ok();
        if let Some(abort) = &abort {
            let _ = Reflect::set(&options, &JsValue::from_str("signal"), &abort.signal());
        }
        abort
    };
    let done = locks
        .request(name, &options, callback.unchecked_ref())
        .ok()?;
    // The request's promise is rejected when another tab steals the lock (or when this tab
    // takes its waiting request back, which is no loss).
    let still_wanted = Rc::clone(&wanted);
    let stolen = Closure::once(move |_: JsValue| {
        if still_wanted.get() {
            lost();
        }
    });
    let _ = done.catch(&stolen);
    // Called at most once; kept alive for the tab's life.
    stolen.forget();
    Some(Claim {
        wanted,
        release,
        abort,
    })
}

impl Claim {
    /// Lets go of the lock, or takes back the request that waits for it.
    pub fn release(&self) {
        self.wanted.set(false);
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        } else if let Some(abort) = &self.abort {
            abort.abort();
        }
    }
}
