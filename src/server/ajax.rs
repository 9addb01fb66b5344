//! `POST /ajax`: decodes one client envelope, acts on it, answers with one server envelope.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::AppState;
use super::connection::StayAwake;
use super::error::AjaxError;
use super::limit::ClientAddr;
use super::store::{Actor, Encoded, Outcome, Refusal, Write};
use crate::protocol::{
    ClientEnvelope, DeleteRequest, EditRequest, Limits, MAX_SEARCH_RESULTS, RoomsRequest,
    ServerEnvelope, Status, decode_client,
};

/// How soon a long-polling client is back with its next sync: the page's pause after news
/// (`NEWS_PAUSE_MS`, 500 ms) with room to spare. Its connection waits that long before parking.
const LONG_POLLER_RETURNS: Duration = Duration::from_secs(2);

/// The decoded body of an `/ajax` request; its rejection is our own error, so even a bad
/// content type or an oversized body is answered with a status envelope.
pub struct Envelope(pub ClientEnvelope);

/// How long a client has to send the whole body once its headers are in.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

impl<S> FromRequest<S> for Envelope
where
    Limits: FromRef<S>,
    BodyTimeout: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AjaxError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limits = Limits::from_ref(state);
        let BodyTimeout(body_timeout) = BodyTimeout::from_ref(state);
        if !is_json(req.headers()) {
            return Err(AjaxError::UnsupportedMediaType);
        }
        // The size limit is the `DefaultBodyLimit` layer that `app()` puts on this route.
        // A client that sends its body a byte at a time, or never, is cut off.
        let body = tokio::time::timeout(body_timeout, Bytes::from_request(req, state))
            .await
            .map_err(|_| AjaxError::BodyTimeout)?
            .map_err(|rejection: BytesRejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AjaxError::TooLarge(limits.max_body_bytes)
                } else {
                    AjaxError::BodyUnreadable
                }
            })?;
        Ok(Envelope(decode_client(&body)?))
    }
}

/// `application/json`, with or without parameters, or any `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

pub async fn ajax(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    Envelope(envelope): Envelope,
) -> Result<Response, AjaxError> {
    // Requests that came through the accept loop carry their client's address; those built
    // in-process (tests) do not, and are not limited.
    if let Some(Extension(ClientAddr(client))) = client {
        // Reads of every kind share the sync budget; writes (posts, edits, deletes, bans, and
        // wrong admin tokens with them) have their own.
        let limiter = match envelope {
            ClientEnvelope::Message(_)
            | ClientEnvelope::Edit(_)
            | ClientEnvelope::Delete(_)
            | ClientEnvelope::Ban(_)
            | ClientEnvelope::Unban(_) => &state.message_limit,
            // Searches share the reads' budget.
            _ => &state.sync_limit,
        };
        limiter.check(client).map_err(AjaxError::RateLimited)?;
    }
    // Kept with each message so that a ban of the address can purge them; canonical, so that
    // an IPv4 client seen as `::ffff:a.b.c.d` is banned as `a.b.c.d`.
    // Made only by the writes that keep it: not on the hot path of the idle sync.
    let address = || client.map(|Extension(ClientAddr(ip))| ip.to_canonical().to_string());
    match envelope {
        ClientEnvelope::Message(post) => {
            let mut valid = post.validate(&state.limits)?;
            state.rooms.check("data.room", &valid.room)?;
            valid.author = post
                .key
                .as_deref()
                .map(|key| state.identity.fingerprint(key));
            valid.address = address();
            let author = valid.author.clone();
            let stored = stored(state.store.write(Write::Post(valid)).await?, 0)?;
            tracing::debug!(id = stored.id, room = stored.room, "message stored");
            let status = Status {
                id: Some(stored.id),
                author,
                ..Status::ok(format!("message {} stored", stored.id))
            };
            Ok(Json(ServerEnvelope::Status(status)).into_response())
        }
        ClientEnvelope::Edit(edit) => {
            let write = edit_write(&state, edit, address())?;
            let Write::Edit { id, .. } = write else {
                unreachable!("edit_write makes edits")
            };
            let event = stored(state.store.write(write).await?, id)?;
            let status = Status {
                id: Some(event.id),
                ..Status::ok(format!("message {id} edited"))
            };
            Ok(Json(ServerEnvelope::Status(status)).into_response())
        }
        ClientEnvelope::Delete(delete) => {
            let id = delete.id;
            let write = delete_write(&state, delete, address())?;
            let event = stored(state.store.write(write).await?, id)?;
            let status = Status {
                id: Some(event.id),
                ..Status::ok(format!("message {id} deleted"))
            };
            Ok(Json(ServerEnvelope::Status(status)).into_response())
        }
        ClientEnvelope::Ban(request) => {
            let ban = request.target()?;
            operator(&state, &request.admin)?;
            let purge = request.purge;
            refused(state.store.write(Write::Ban { ban, purge }).await?, 0)?;
            let done = if purge {
                "banned, messages deleted"
            } else {
                "banned"
            };
            Ok(Json(ServerEnvelope::Status(Status::ok(done))).into_response())
        }
        ClientEnvelope::Unban(request) => {
            if request.purge {
                return Err(AjaxError::Invalid(crate::protocol::Invalid(
                    "data.purge: only a ban can purge".into(),
                )));
            }
            let ban = request.target()?;
            operator(&state, &request.admin)?;
            refused(state.store.write(Write::Unban(ban)).await?, 0)?;
            Ok(Json(ServerEnvelope::Status(Status::ok("unbanned"))).into_response())
        }
        ClientEnvelope::Bans(request) => {
            operator(&state, &request.admin)?;
            let bans = state.store.bans().await?;
            Ok(Json(ServerEnvelope::Bans(bans)).into_response())
        }
        ClientEnvelope::Search(request) => {
            let words = request.words()?;
            // One room, or every room served now (a room dropped from the list keeps its
            // messages in the database, but they are no longer shown).
            let rooms = match &request.room {
                Some(room) => {
                    state.rooms.check("data.room", room)?;
                    vec![room.clone()]
                }
                None => state.rooms.names().to_vec(),
            };
            let before = request.before.unwrap_or(u64::MAX);
            let found = state
                .store
                .search(&words, &rooms, before, MAX_SEARCH_RESULTS)
                .await?;
            Ok(Json(ServerEnvelope::Search(found)).into_response())
        }
        ClientEnvelope::Sync(request) => {
            let wait = request.wait()?;
            let rooms = state.rooms.select(request.rooms.as_deref())?;
            let last = request.last_message;
            // Clients that name rooms know events; the seed's clients get messages only.
            let events = request.rooms.is_some();
            let news = fresh(&state, &rooms, last, events).await?;
            if wait == 0 {
                return sync_reply(&news);
            }
            let mut reply = if news.is_empty() {
                hold(&state, &rooms, last, events, Duration::from_millis(wait)).await?
            } else {
                sync_reply(&news)?
            };
            // A long-polling client polls again at once, or a moment after news.
            reply
                .extensions_mut()
                .insert(StayAwake(LONG_POLLER_RETURNS));
            Ok(reply)
        }
        ClientEnvelope::History(request) => {
            let (before, limit) = request.bounds()?;
            state.rooms.check("data.room", &request.room)?;
            let page = state.store.history(&request.room, before, limit).await?;
            Ok(Json(ServerEnvelope::History(page)).into_response())
        }
        ClientEnvelope::Rooms(RoomsRequest { read }) => {
            let read = read.unwrap_or_default();
            for (room, _) in &read.0 {
                state.rooms.check("data.read", room)?;
            }
            let rooms = state.store.rooms(state.rooms.names(), &read).await?;
            Ok(Json(ServerEnvelope::Rooms(rooms)).into_response())
        }
    }
}

/// The checked edit: its text like a message's, then its key. The operator's token does not
/// edit: it deletes, it does not put words in anyone's mouth.
fn edit_write(
    state: &AppState,
    edit: EditRequest,
    address: Option<String>,
) -> Result<Write, AjaxError> {
    edit.validate(&state.limits)?;
    if edit.admin.is_some() {
        return Err(AjaxError::Forbidden(
            "not allowed: the admin token deletes messages but does not edit them".into(),
        ));
    }
    let Some(key) = edit.key else {
        return Err(AjaxError::Forbidden(NOT_YOURS.into()));
    };
    Ok(Write::Edit {
        id: edit.id,
        message: edit.message,
        author: state.identity.fingerprint(&key),
        address,
        nonce: edit.nonce,
    })
}

/// The checked delete: by the key the message was sent with, or by the operator.
fn delete_write(
    state: &AppState,
    delete: DeleteRequest,
    address: Option<String>,
) -> Result<Write, AjaxError> {
    delete.validate()?;
    let by = match (delete.key, delete.admin) {
        (Some(_), Some(_)) => {
            return Err(AjaxError::Invalid(crate::protocol::Invalid(
                "data: give \"key\" or \"admin\", not both".into(),
            )));
        }
        (Some(key), None) => Actor::Author {
            fingerprint: state.identity.fingerprint(&key),
            address,
        },
        (None, Some(token)) => {
            operator(state, &token)?;
            Actor::Admin
        }
        (None, None) => return Err(AjaxError::Forbidden(NOT_YOURS.into())),
    };
    Ok(Write::Delete {
        id: delete.id,
        by,
        nonce: delete.nonce,
    })
}

const NOT_YOURS: &str =
    "not allowed: only the key a message was sent with can change it (data.key)";

/// Whether `token` is the operator's. (Never logged: the refusal does not repeat it.)
fn operator(state: &AppState, token: &str) -> Result<(), AjaxError> {
    if state.identity.is_admin(token) {
        Ok(())
    } else if state.identity.has_admin() {
        Err(AjaxError::Forbidden(
            "not allowed: wrong admin token".into(),
        ))
    } else {
        Err(AjaxError::Forbidden(
            "not allowed: this server has no admin (CHAT_ADMIN_TOKEN is not set)".into(),
        ))
    }
}

/// A write's refusal as the error the client gets; `id` is the message it was about.
fn refused(outcome: Outcome, id: u64) -> Result<Outcome, AjaxError> {
    match outcome {
        Outcome::Refused(Refusal::Banned) => Err(AjaxError::Forbidden(
            "not allowed: this author or address is banned".into(),
        )),
        Outcome::Refused(Refusal::NotYours) => Err(AjaxError::Forbidden(NOT_YOURS.into())),
        Outcome::Refused(Refusal::NoSuchMessage) => {
            Err(AjaxError::NotFound(format!("no such message: {id}")))
        }
        Outcome::Refused(Refusal::NotBanned) => Err(AjaxError::NotFound("not banned".into())),
        done => Ok(done),
    }
}

/// What a post, edit or delete stored, or why it was refused.
fn stored(outcome: Outcome, id: u64) -> Result<crate::protocol::ChatMessage, AjaxError> {
    match refused(outcome, id)? {
        Outcome::Stored(item) => Ok(item),
        _ => Err(AjaxError::NotFound(format!("no such message: {id}"))),
    }
}

/// The items of `rooms` above `last` (messages only unless `events`), from memory unless the
/// client is far behind.
async fn fresh(
    state: &AppState,
    rooms: &[String],
    last: u64,
    events: bool,
) -> Result<Vec<Encoded>, AjaxError> {
    // Most polls come from clients that are up to date: nothing to read. (The store answers
    // "nothing new in these rooms" from memory too.)
    if last >= state.store.newest_id() {
        return Ok(Vec::new());
    }
    let limit = state.limits.max_sync_batch;
    Ok(state
        .store
        .since_encoded(rooms, last, limit, events)
        .await?)
}

/// A long poll: holds the sync until a commit brings news to its rooms (answered with it), its
/// wait ends or the server shuts down (both answered with an empty list). A commit in a room it
/// does not follow does not wake it.
async fn hold(
    state: &AppState,
    rooms: &[String],
    last: u64,
    events: bool,
    wait: Duration,
) -> Result<Response, AjaxError> {
    let deadline = tokio::time::Instant::now() + wait;
    let closed = state.closing.closed();
    tokio::pin!(closed);
    loop {
        // Registered before looking, so a commit in between still wakes this wait.
        let news = state.store.news_in(rooms);
        // (An edit or delete wakes a seed client's hold too; it finds nothing and waits on.)
        let found = fresh(state, rooms, last, events).await?;
        if !found.is_empty() {
            return sync_reply(&found);
        }
        tokio::select! {
            () = news => {}
            () = tokio::time::sleep_until(deadline) => break,
            () = &mut closed => break,
        }
    }
    sync_reply(&[])
}

/// `ServerEnvelope::Sync` over messages the store has already encoded: serde writes the
/// envelope and copies each message's JSON into it as it is.
#[derive(serde::Serialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
enum EncodedSync<'a> {
    Sync(&'a [Encoded]),
}

/// The reply to a sync from a client that has every message, as serde writes it.
static EMPTY_SYNC: LazyLock<Vec<u8>> = LazyLock::new(|| {
    serde_json::to_vec(&EncodedSync::Sync(&[]))
        .unwrap_or_else(|_| br#"{"type":"sync","data":[]}"#.to_vec())
});

/// The sync reply over `messages`. Written into a buffer of its final size (the messages'
/// lengths are known), where `Json` would grow one from 128 bytes, copying a 20-message reply
/// five times over. An empty one is the same bytes every time, made once.
fn sync_reply(messages: &[Encoded]) -> Result<Response, AjaxError> {
    if messages.is_empty() {
        return Ok(json_reply(Bytes::from_static(EMPTY_SYNC.as_slice())));
    }
    let size = EMPTY_SYNC.len() + messages.iter().map(|m| m.get().len() + 1).sum::<usize>();
    let mut body = Vec::with_capacity(size);
    serde_json::to_writer(&mut body, &EncodedSync::Sync(messages)).map_err(AjaxError::Encode)?;
    Ok(json_reply(body.into()))
}

/// `body`, already JSON, with the headers `Json` would give it.
fn json_reply(body: Bytes) -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], body).into_response()
}

pub async fn method_not_allowed() -> AjaxError {
    AjaxError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[tokio::test]
    async fn a_sync_reply_is_the_envelope_serde_makes() {
        let messages = vec![
            crate::protocol::ChatMessage {
                id: 3,
                room: "general".into(),
                sender: "a\"b".into(),
                message: "</script>\u{7}é\u{2028}".into(),
                sent_at: "2026-01-01T00:00:00Z".into(),
                author: Some("abcdefgh".into()),
                ..Default::default()
            };
            2
        ];
        let body = |response: Response| axum::body::to_bytes(response.into_body(), usize::MAX);
        for messages in [vec![], messages] {
            let encoded: Vec<Encoded> = messages
                .iter()
                .map(|message| crate::server::store::encode(message).unwrap())
                .collect();
            let reply = sync_reply(&encoded).unwrap();
            let expected = Json(ServerEnvelope::Sync(messages)).into_response();
            assert_eq!(reply.headers(), expected.headers());
            assert_eq!(body(reply).await.unwrap(), body(expected).await.unwrap());
        }
        // The up-to-date reply, made once: the same headers and bytes as well.
        let idle = json_reply(Bytes::from_static(EMPTY_SYNC.as_slice()));
        let expected = Json(ServerEnvelope::Sync(vec![])).into_response();
        assert_eq!(idle.headers(), expected.headers());
        assert_eq!(body(idle).await.unwrap(), body(expected).await.unwrap());
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(&with_type("application/json")));
        assert!(is_json(&with_type("Application/JSON; charset=utf-8")));
        assert!(is_json(&with_type("application/vnd.api+json")));
        assert!(!is_json(&with_type("text/plain")));
        assert!(!is_json(&with_type("application/x-www-form-urlencoded")));
        assert!(!is_json(&with_type("application/jsonp")));
        assert!(!is_json(&HeaderMap::new()));
    }
}
