//! `POST /ajax`: decodes one client envelope, checks the client's rate, and hands the envelope
//! to its handler below (one function per envelope type), which answers with one server
//! envelope.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::bots;
use super::connection::StayAwake;
use super::error::AjaxError;
use super::limit::ClientAddr;
use super::state::{AppState, BodyTimeout};
use super::store::{Actor, Encoded, Outcome, Refusal, Write, member_bell, reaction_added};
use crate::protocol::{
    BOT_TOKEN_PREFIX, BanRequest, ClientEnvelope, DIRECT_PREFIX, DeleteRequest, EditRequest,
    FingerprintRequest, HistoryRequest, Invalid, Kind, Limits, MAX_REACTIONS, MAX_SEARCH_RESULTS,
    PostMessage, ReactRequest, RoomsRequest, SearchRequest, ServerEnvelope, Status, SyncRequest,
    ValidMessage, check_key, decode_client, direct_members, no_such_message,
};

/// How soon a long-polling client is back with its next sync: the page's pause after news
/// (`NEWS_PAUSE_MS`, 500 ms) with room to spare. Its connection waits that long before parking.
const LONG_POLLER_RETURNS: Duration = Duration::from_secs(2);

/// The decoded body of an `/ajax` request; its rejection is our own error, so even a bad
/// content type or an oversized body is answered with a status envelope.
pub struct Envelope(pub ClientEnvelope);

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
        let body = read_body(req, limits, body_timeout).await?;
        Ok(Envelope(decode_client(&body)?))
    }
}

/// The whole body of `req`. The size limit is the `DefaultBodyLimit` layer that `app()` puts
/// on the route (413 beyond it); a client that sends its body a byte at a time, or never, is
/// cut off after `timeout`.
pub(super) async fn read_body(
    req: Request,
    limits: Limits,
    timeout: Duration,
) -> Result<Bytes, AjaxError> {
    tokio::time::timeout(timeout, Bytes::from_request(req, &()))
        .await
        .map_err(|_| AjaxError::BodyTimeout)?
        .map_err(|rejection: BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AjaxError::TooLarge(limits.max_body_bytes)
            } else {
                AjaxError::BodyUnreadable
            }
        })
}

/// `application/json`, with or without parameters, or any `application/*+json`.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
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

/// Whether an envelope is a write: writes (posts, edits, deletes, and everything that takes the
/// admin token, so that guessing it costs the write budget) have their own rate budget; reads
/// of every kind share the sync budget.
fn is_write(envelope: &ClientEnvelope) -> bool {
    match envelope {
        ClientEnvelope::Message(_)
        | ClientEnvelope::Edit(_)
        | ClientEnvelope::Delete(_)
        | ClientEnvelope::React(_)
        | ClientEnvelope::Ban(_)
        | ClientEnvelope::Unban(_)
        | ClientEnvelope::Bans(_)
        | ClientEnvelope::Bot(_)
        | ClientEnvelope::Bots(_)
        | ClientEnvelope::BotDelete(_) => true,
        ClientEnvelope::Sync(_)
        | ClientEnvelope::History(_)
        | ClientEnvelope::Rooms(_)
        | ClientEnvelope::Search(_)
        | ClientEnvelope::Fingerprint(_) => false,
    }
}

/// `POST /ajax`: the envelope answered by its handler, counted in the metrics by its type and
/// the status it was answered with (`invalid` for a body that is not an envelope).
pub async fn ajax(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    envelope: Result<Envelope, AjaxError>,
) -> Response {
    let (kind, envelope) = match envelope {
        Ok(Envelope(envelope)) => (envelope.type_name(), Ok(envelope)),
        Err(refused) => ("invalid", Err(refused)),
    };
    let mut counted = Counted::new(&state, kind);
    let response = match envelope {
        Ok(envelope) => answer(&state, client, envelope).await,
        Err(refused) => Err(refused),
    }
    .unwrap_or_else(IntoResponse::into_response);
    counted.status = Some(response.status());
    response
}

/// One request in the metrics, counted when it ends however it ends: answered (with its
/// status, set here when known), panicked (500, as `CatchPanicLayer` answers it) or given up by
/// its client before the answer (499, as nginx counts that).
pub(super) struct Counted<'a> {
    state: &'a AppState,
    kind: &'static str,
    started: std::time::Instant,
    pub status: Option<StatusCode>,
}

impl<'a> Counted<'a> {
    /// A request of `kind` (an envelope's type, or the bots' `bot_post`), starting now.
    pub fn new(state: &'a AppState, kind: &'static str) -> Self {
        Self {
            state,
            kind,
            started: std::time::Instant::now(),
            status: None,
        }
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        const GONE: u16 = 499;
        let status = self.status.map_or_else(
            || {
                if std::thread::panicking() {
                    StatusCode::INTERNAL_SERVER_ERROR.as_u16()
                } else {
                    GONE
                }
            },
            |status| status.as_u16(),
        );
        self.state
            .metrics
            .request(self.kind, status, self.started.elapsed());
    }
}

async fn answer(
    state: &AppState,
    client: Option<Extension<ClientAddr>>,
    envelope: ClientEnvelope,
) -> Result<Response, AjaxError> {
    let client = client.map(|Extension(ClientAddr(ip))| ip);
    // Requests that came through the accept loop carry their client's address; those built
    // in-process (tests) do not, and are not limited.
    if let Some(client) = client {
        let (limiter, bucket) = if is_write(&envelope) {
            (&state.message_limit, "message")
        } else {
            (&state.sync_limit, "sync")
        };
        limiter.check(client).map_err(|wait| {
            state.metrics.rate_limited(bucket);
            AjaxError::RateLimited(wait)
        })?;
    }
    match envelope {
        ClientEnvelope::Message(post) => message(state, post, client).await,
        ClientEnvelope::Edit(edit) => edit_message(state, edit, client).await,
        ClientEnvelope::Delete(delete) => delete_message(state, delete, client).await,
        ClientEnvelope::React(request) => react(state, request, client).await,
        ClientEnvelope::Ban(request) => ban(state, request).await,
        ClientEnvelope::Unban(request) => unban(state, request).await,
        ClientEnvelope::Bans(request) => {
            operator(state, &request.admin)?;
            let bans = state.store.bans().await?;
            Ok(Json(ServerEnvelope::Bans(bans)).into_response())
        }
        ClientEnvelope::Search(request) => search(state, request).await,
        ClientEnvelope::Sync(request) => sync(state, request).await,
        ClientEnvelope::History(request) => history(state, request).await,
        ClientEnvelope::Rooms(request) => rooms(state, request).await,
        ClientEnvelope::Fingerprint(request) => fingerprint(state, request),
        ClientEnvelope::Bot(request) => bots::create(state, request).await,
        ClientEnvelope::Bots(request) => bots::list(state, &request.admin).await,
        ClientEnvelope::BotDelete(request) => bots::revoke(state, request).await,
    }
}

/// Kept with each write so that a ban of the address can purge what it wrote; canonical, so
/// that an IPv4 client seen as `::ffff:a.b.c.d` is banned as `a.b.c.d`. Made only by the
/// writes that keep it: not on the hot path of the idle sync.
pub(super) fn address_of(client: Option<IpAddr>) -> Option<String> {
    client.map(|ip| ip.to_canonical().to_string())
}

/// A status-0 reply.
pub(super) fn done(status: Status) -> Result<Response, AjaxError> {
    Ok(Json(ServerEnvelope::Status(status)).into_response())
}

async fn message(
    state: &AppState,
    post: PostMessage,
    client: Option<IpAddr>,
) -> Result<Response, AjaxError> {
    let mut post = post;
    let with_bot_token = post
        .key
        .as_deref()
        .is_some_and(|key| key.starts_with(BOT_TOKEN_PREFIX));
    if with_bot_token {
        // A bot's messages are sent by its name, whatever `sender` says (checked below).
        post.sender = "bot".into();
    }
    let mut valid = post.validate(&state.limits)?;
    if !valid.files.is_empty() && post.key.is_none() {
        return Err(AjaxError::Forbidden(
            "not allowed: files are attached with the key they were uploaded with".into(),
        ));
    }
    let reader = reader_of(state, post.key.as_deref()).await?;
    state
        .rooms
        .check_for("data.room", &valid.room, reader.as_deref())?;
    if let Some(key) = post.key.as_deref() {
        // A bot's token as the key: the message is the bot's, as if posted on its endpoint.
        if let Some(bot) = bots::bot_of_key(state, key).await? {
            bots::post_as(state, &bot, &mut valid)?;
        }
        valid.author = Some(state.identity.fingerprint(key));
    }
    valid.address = address_of(client);
    let author = valid.author.clone();
    let stored = store_post(state, valid).await?;
    tracing::debug!(id = stored.id, room = stored.room, "message stored");
    done(Status {
        id: Some(stored.id),
        author,
        ..Status::ok(format!("message {} stored", stored.id))
    })
}

/// Stores a checked post: the message stored, or the first copy of a retry. A nonce that
/// found another message (someone else's, in another room) is refused, never answered as if
/// this post were stored.
pub(super) async fn store_post(
    state: &AppState,
    post: ValidMessage,
) -> Result<crate::protocol::ChatMessage, AjaxError> {
    // The only message a post can miss is the one it replies to.
    let answered = post.reply_to.unwrap_or_default();
    let (room, author, sender, bot) = (
        post.room.clone(),
        post.author.clone(),
        post.sender.clone(),
        post.bot,
    );
    let stored = stored(state.store.write(Write::Post(post)).await?, answered)?;
    let deleted_since = stored.message.is_empty();
    let first_try = stored.kind == Kind::Message
        && stored.room == room
        && if deleted_since {
            // Nothing is left to compare: a page's retry is answered as its first try was.
            // Not a bot's, whose nonces may be guessed (a build number).
            !bot
        } else {
            stored.author == author && (author.is_some() || stored.sender == sender)
        };
    if !first_try {
        return Err(Invalid("data.nonce: already used for another message".into()).into());
    }
    Ok(stored)
}

async fn edit_message(
    state: &AppState,
    edit: EditRequest,
    client: Option<IpAddr>,
) -> Result<Response, AjaxError> {
    let id = edit.id;
    let key = edit.key.clone();
    let write = edit_write(state, edit, address_of(client))?;
    let text = match &write {
        Write::Edit { message, .. } => message.clone(),
        _ => String::new(),
    };
    if let Some(key) = key.as_deref() {
        bots::bot_of_key(state, key).await?;
    }
    let event = stored(state.store.write(write).await?, id)?;
    // A nonce that stored something else (another text too) is not this edit's retry.
    if event.kind != Kind::Edit || event.target != Some(id) || event.message != text {
        return Err(Invalid("data.nonce: already used for another change".into()).into());
    }
    done(Status {
        id: Some(event.id),
        ..Status::ok(format!("message {id} edited"))
    })
}

async fn delete_message(
    state: &AppState,
    delete: DeleteRequest,
    client: Option<IpAddr>,
) -> Result<Response, AjaxError> {
    let id = delete.id;
    let key = delete.key.clone();
    let write = delete_write(state, delete, address_of(client))?;
    if let Some(key) = key.as_deref() {
        bots::bot_of_key(state, key).await?;
    }
    let event = stored(state.store.write(write).await?, id)?;
    // A nonce that stored something else is not this delete's retry.
    if event.kind != Kind::Delete || event.target != Some(id) {
        return Err(Invalid("data.nonce: already used for another change".into()).into());
    }
    done(Status {
        id: Some(event.id),
        ..Status::ok(format!("message {id} deleted"))
    })
}

/// Toggles a reaction: refused, in this order, when malformed (400), without a key or banned
/// (403), about no live message (404), or a 21st emoji (409).
async fn react(
    state: &AppState,
    react: ReactRequest,
    client: Option<IpAddr>,
) -> Result<Response, AjaxError> {
    react.validate()?;
    let Some(key) = react.key else {
        return Err(AjaxError::Forbidden(
            "not allowed: a reaction needs the browser's key (data.key)".into(),
        ));
    };
    // A bot reacts only in its rooms.
    let rooms = bots::bot_of_key(state, &key).await?.map(|bot| bot.rooms);
    let (id, author) = (react.id, state.identity.fingerprint(&key));
    let write = Write::React {
        id,
        emoji: react.emoji.clone(),
        author: author.clone(),
        address: address_of(client),
        nonce: react.nonce,
        rooms,
    };
    let event = stored(state.store.write(write).await?, id)?;
    // A nonce that stored something else is not this reaction's retry.
    if event.kind != Kind::Reactions || event.target != Some(id) {
        return Err(Invalid("data.nonce: already used for another change".into()).into());
    }
    let done_with = if reaction_added(&event, &react.emoji, &author) {
        "added"
    } else {
        "removed"
    };
    // The fingerprint, as a post's reply has it: a page that has only reacted learns its own.
    done(Status {
        id: Some(event.id),
        author: Some(author),
        ..Status::ok(format!("reaction on {id} {done_with}"))
    })
}

async fn ban(state: &AppState, request: BanRequest) -> Result<Response, AjaxError> {
    let ban = request.target()?;
    operator(state, &request.admin)?;
    let purge = request.purge;
    refused(state.store.write(Write::Ban { ban, purge }).await?, 0)?;
    done(Status::ok(if purge {
        "banned, messages deleted"
    } else {
        "banned"
    }))
}

async fn unban(state: &AppState, request: BanRequest) -> Result<Response, AjaxError> {
    if request.purge {
        return Err(Invalid("data.purge: only a ban can purge".into()).into());
    }
    let ban = request.target()?;
    operator(state, &request.admin)?;
    refused(state.store.write(Write::Unban(ban)).await?, 0)?;
    done(Status::ok("unbanned"))
}

/// The fingerprint of the reader's key, if the request has one (400 for a malformed key): what
/// lets it read its direct rooms. A bot's token reads no direct room (bots have none), and a
/// revoked one is refused (403), as everywhere.
async fn reader_of(state: &AppState, key: Option<&str>) -> Result<Option<String>, AjaxError> {
    let Some(key) = key else {
        return Ok(None);
    };
    check_key(key)?;
    if bots::bot_of_key(state, key).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(state.identity.fingerprint(key)))
}

async fn search(state: &AppState, request: SearchRequest) -> Result<Response, AjaxError> {
    let words = request.words()?;
    let reader = reader_of(state, request.key.as_deref()).await?;
    // One room, or every room served now (a room dropped from the list keeps its messages in
    // the database, but they are no longer shown) and the reader's direct rooms.
    let rooms = match &request.room {
        Some(room) => {
            state
                .rooms
                .check_for("data.room", room, reader.as_deref())?;
            vec![room.clone()]
        }
        None => {
            let mut rooms = state.rooms.names().to_vec();
            if let Some(me) = &reader {
                rooms.extend(
                    state
                        .store
                        .direct_rooms(me)
                        .into_iter()
                        .map(|(room, _)| room),
                );
            }
            rooms
        }
    };
    let before = request.before.unwrap_or(u64::MAX);
    let found = state
        .store
        .search(&words, &rooms, before, MAX_SEARCH_RESULTS)
        .await?;
    Ok(Json(ServerEnvelope::Search(found)).into_response())
}

/// What a sync follows: the rooms it names and, with `direct`, every direct room of its reader.
struct Follow<'a> {
    named: Cow<'a, [String]>,
    /// The reader (its key's fingerprint), if the sync has a key.
    reader: Option<String>,
    /// Whether every direct room of the reader is followed too.
    direct: bool,
}

impl Follow<'_> {
    /// The rooms followed now: a direct room's first message may have come since the last look.
    fn rooms(&self, state: &AppState) -> Cow<'_, [String]> {
        let Some(me) = self.reader.as_ref().filter(|_| self.direct) else {
            return Cow::Borrowed(&self.named);
        };
        let mut rooms = self.named.to_vec();
        for (room, _) in state.store.direct_rooms(me) {
            if !rooms.contains(&room) {
                rooms.push(room);
            }
        }
        Cow::Owned(rooms)
    }

    /// What a held sync waits on, the same for as long as it is held: the served rooms it
    /// names, and for direct rooms (named, or all of them) the reader's bell, which rings for
    /// each of them, one that had no message when the sync began too. A bell per direct room
    /// would let anyone make bells without end (any `dm-<own>-<anyone>` is a name a key may
    /// follow).
    fn bells(&self) -> Cow<'_, [String]> {
        let direct = self.direct
            || self
                .named
                .iter()
                .any(|room| room.starts_with(DIRECT_PREFIX));
        match self.reader.as_ref().filter(|_| direct) {
            None => Cow::Borrowed(&self.named),
            Some(me) => {
                let mut bells: Vec<String> = self
                    .named
                    .iter()
                    .filter(|room| !room.starts_with(DIRECT_PREFIX))
                    .cloned()
                    .collect();
                bells.push(member_bell(me));
                Cow::Owned(bells)
            }
        }
    }
}

async fn sync(state: &AppState, request: SyncRequest) -> Result<Response, AjaxError> {
    let wait = request.wait()?;
    let reader = reader_of(state, request.key.as_deref()).await?;
    if request.direct && (request.key.is_none() || request.rooms.is_none()) {
        return Err(Invalid("data.direct: needs data.key and data.rooms".into()).into());
    }
    let follow = Follow {
        named: state
            .rooms
            .select(request.rooms.as_deref(), reader.as_deref())?,
        reader,
        direct: request.direct,
    };
    let last = request.last_message;
    // Clients that name rooms know events; the seed's clients get messages only.
    let events = request.rooms.is_some();
    let news = fresh(state, &follow.rooms(state), last, events).await?;
    if wait == 0 {
        return sync_reply(&news);
    }
    let mut reply = if news.is_empty() {
        hold(state, &follow, last, events, Duration::from_millis(wait)).await?
    } else {
        sync_reply(&news)?
    };
    // A long-polling client polls again at once, or a moment after news.
    reply
        .extensions_mut()
        .insert(StayAwake(LONG_POLLER_RETURNS));
    Ok(reply)
}

async fn history(state: &AppState, request: HistoryRequest) -> Result<Response, AjaxError> {
    let (before, limit) = request.bounds()?;
    let reader = reader_of(state, request.key.as_deref()).await?;
    state
        .rooms
        .check_for("data.room", &request.room, reader.as_deref())?;
    let page = state.store.history(&request.room, before, limit).await?;
    Ok(Json(ServerEnvelope::History(page)).into_response())
}

/// The served rooms and, for a reader, its direct rooms that hold anything, newest first, each
/// with whom it is.
async fn rooms(
    state: &AppState,
    RoomsRequest { read, key }: RoomsRequest,
) -> Result<Response, AjaxError> {
    let reader = reader_of(state, key.as_deref()).await?;
    let read = read.unwrap_or_default();
    for (room, _) in &read.0 {
        state
            .rooms
            .check_for("data.read", room, reader.as_deref())?;
    }
    let mut rooms = state.store.rooms(state.rooms.names(), &read).await?;
    if let Some(me) = &reader {
        let direct: Vec<String> = state
            .store
            .direct_rooms(me)
            .into_iter()
            .map(|(room, _)| room)
            .collect();
        let mut infos = state.store.rooms(&direct, &read).await?;
        for info in &mut infos {
            info.with =
                direct_members(&info.name).map(|(a, b)| if a == me { b } else { a }.to_owned());
        }
        rooms.extend(infos);
    }
    Ok(Json(ServerEnvelope::Rooms(rooms)).into_response())
}

/// The fingerprint of a key, as a message sent with it would carry.
fn fingerprint(state: &AppState, request: FingerprintRequest) -> Result<Response, AjaxError> {
    check_key(&request.key)?;
    done(Status {
        author: Some(state.identity.fingerprint(&request.key)),
        ..Status::ok("the fingerprint of this key")
    })
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
            return Err(Invalid("data: give \"key\" or \"admin\", not both".into()).into());
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
pub(super) fn operator(state: &AppState, token: &str) -> Result<(), AjaxError> {
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
pub(super) fn refused(outcome: Outcome, id: u64) -> Result<Outcome, AjaxError> {
    match outcome {
        Outcome::Refused(Refusal::Banned) => Err(AjaxError::Forbidden(
            "not allowed: this author or address is banned".into(),
        )),
        Outcome::Refused(Refusal::NotYours) => Err(AjaxError::Forbidden(NOT_YOURS.into())),
        Outcome::Refused(Refusal::NoSuchMessage) => Err(AjaxError::NotFound(no_such_message(id))),
        Outcome::Refused(Refusal::NotBanned) => Err(AjaxError::NotFound("not banned".into())),
        Outcome::Refused(Refusal::TooManyReactions) => Err(AjaxError::Conflict(format!(
            "message {id} has {MAX_REACTIONS} different reactions already: add one of those"
        ))),
        Outcome::Refused(Refusal::BotTaken) => Err(AjaxError::Conflict(
            "a bot with this name exists already: choose another name, or delete that bot first"
                .into(),
        )),
        Outcome::Refused(Refusal::NoSuchBot) => Err(AjaxError::NotFound("no such bot".into())),
        Outcome::Refused(Refusal::NonceTaken) => {
            Err(Invalid("data.nonce: already used for another change".into()).into())
        }
        Outcome::Refused(Refusal::NotInRooms) => Err(AjaxError::Forbidden(
            "not allowed: a bot reacts only in the rooms it may post to".into(),
        )),
        Outcome::Refused(Refusal::NotYourFile) => Err(AjaxError::Forbidden(
            "not allowed: a file is attached only with the key it was uploaded with".into(),
        )),
        Outcome::Refused(Refusal::NoSuchFile) => Err(AjaxError::NotFound(
            "no such file: it was never uploaded, or was removed".into(),
        )),
        Outcome::Refused(Refusal::FileAttached) => Err(AjaxError::Conflict(
            "a file is attached to another message already: upload it again".into(),
        )),
        done => Ok(done),
    }
}

/// What a post, edit or delete stored, or why it was refused.
pub(super) fn stored(outcome: Outcome, id: u64) -> Result<crate::protocol::ChatMessage, AjaxError> {
    match refused(outcome, id)? {
        Outcome::Stored(item) => Ok(item),
        _ => Err(AjaxError::NotFound(no_such_message(id))),
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
    follow: &Follow<'_>,
    last: u64,
    events: bool,
    wait: Duration,
) -> Result<Response, AjaxError> {
    let deadline = tokio::time::Instant::now() + wait;
    let _held = state.held.hold();
    let closed = state.closing.closed();
    tokio::pin!(closed);
    let bells = follow.bells();
    loop {
        // Registered before looking (at the rooms too: a direct room's first message may come
        // in between), so a commit in between still wakes this wait.
        let news = state.store.news_in(&bells);
        let rooms = follow.rooms(state);
        // (An edit or delete wakes a seed client's hold too; it finds nothing and waits on.)
        let found = fresh(state, &rooms, last, events).await?;
        if !found.is_empty() {
            return sync_reply(&found);
        }
        tokio::select! {
            () = news => {}
            () = tokio::time::sleep_until(deadline) => break,
            () = &mut closed => break,
        }
        // Woken: there is news, most likely. Looking before registering again spares every
        // page a commit wakes a registration (and the bell's lock) it would drop at once. (A
        // commit that lands now, between this look and the next registration, is found by the
        // look after that registration.)
        let found = fresh(state, &follow.rooms(state), last, events).await?;
        if !found.is_empty() {
            return sync_reply(&found);
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
    AjaxError::MethodNotAllowed("/ajax")
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
