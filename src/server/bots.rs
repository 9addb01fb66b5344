//! Bots: how CI jobs, alerts and scripts post. The operator makes one with `bot` (its token is
//! shown once), lists them with `bots` and revokes one with `bot_delete`; a bot posts with
//! `POST /bots/<room>/messages` and `Authorization: Bearer <token>`, and its token is also its
//! key on `/ajax`. Every message a bot sends, either way, is sent by the bot's name, carries
//! `"bot": true`, may go only to the bot's rooms and counts against the bot's own rate.
//!
//! Storage keeps a bot's fingerprint, name, rooms and its token's verifier, never the token.
//! A key is taken for a bot's by its prefix ([`BOT_TOKEN_PREFIX`]), then checked in the
//! database every time, so that a revocation holds at once on every instance; a browser's key
//! costs no lookup.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ajax::{Counted, address_of, done, is_json, operator, read_body, refused, store_post};
use super::error::AjaxError;
use super::identity::new_bot_token;
use super::limit::ClientAddr;
use super::state::AppState;
use super::store::{Bot, Outcome, Refusal, StoreError, Write, now_micros};
use crate::protocol::{
    BOT_TOKEN_PREFIX, BotDeleteRequest, BotRequest, BotToken, Invalid, PostMessage, ServerEnvelope,
    Status, ValidMessage, check_key, decode_bot_message, is_fingerprint, is_room_name,
};

/// `bot`: a new bot, answered with its token (once: storage keeps only its verifier). Refused,
/// in this order: a malformed name or rooms (400), a wrong admin token (403), a room not served
/// (404), the name of a bot not revoked (409).
pub(super) async fn create(state: &AppState, request: BotRequest) -> Result<Response, AjaxError> {
    let name = request.validate(&state.limits)?;
    operator(state, &request.admin)?;
    for room in &request.rooms {
        state.rooms.check("data.rooms", room)?;
    }
    let token = new_bot_token().ok_or(AjaxError::NoRandomness)?;
    let author = state.identity.fingerprint(&token);
    let bot = Bot {
        author: author.clone(),
        name: name.clone(),
        rooms: request.rooms,
        verifier: state.identity.verifier(&token),
        created: now_micros(),
        revoked: false,
    };
    refused(state.store.write(Write::AddBot(bot)).await?, 0)?;
    tracing::info!(bot = %author, "bot created");
    let mut reply = Json(ServerEnvelope::Bot(BotToken {
        name,
        token,
        author,
    }))
    .into_response();
    // The one reply that carries a secret: no cache keeps it.
    reply
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(reply)
}

/// `bots`: the bots not revoked, oldest first, without their tokens.
pub(super) async fn list(state: &AppState, admin: &str) -> Result<Response, AjaxError> {
    operator(state, admin)?;
    let bots = state.store.bots().await?;
    Ok(Json(ServerEnvelope::Bots(bots.iter().map(Bot::info).collect())).into_response())
}

/// `bot_delete`: revokes a bot's token (404 for an unknown or revoked one); its messages stay.
pub(super) async fn revoke(
    state: &AppState,
    request: BotDeleteRequest,
) -> Result<Response, AjaxError> {
    if !is_fingerprint(&request.author) {
        return Err(Invalid("data.author: not a fingerprint (8 of a-z and 2-7)".into()).into());
    }
    operator(state, &request.admin)?;
    let author = request.author;
    let write = Write::RevokeBot {
        author: author.clone(),
    };
    match state.store.write(write).await? {
        Outcome::Refused(Refusal::NoSuchBot) => {
            Err(AjaxError::NotFound(format!("no such bot: {author}")))
        }
        outcome => {
            refused(outcome, 0)?;
            tracing::info!(bot = %author, "bot deleted");
            done(Status::ok(format!(
                "bot {author} deleted: its token opens nothing any more, its messages stay"
            )))
        }
    }
}

/// The live bot whose token `token` is, if it is one: a bot token's form, a bot with its
/// fingerprint, not revoked, and the whole token matching that bot's verifier.
async fn authenticate(state: &AppState, token: &str) -> Result<Option<Bot>, StoreError> {
    if !token.starts_with(BOT_TOKEN_PREFIX) || check_key(token).is_err() {
        return Ok(None);
    }
    let author = state.identity.fingerprint(token);
    Ok(state
        .store
        .bot(&author)
        .await?
        .filter(|bot| !bot.revoked && state.identity.is_token_of(token, &bot.verifier)))
}

/// What a key sent to `/ajax` is: a browser's (`None`: no lookup, it lacks a bot token's
/// prefix), or a live bot's token. A key with the prefix that is no live bot's token (a revoked
/// one) is refused (403): it must not pass for a browser's key with the bot's fingerprint.
pub(super) async fn bot_of_key(state: &AppState, key: &str) -> Result<Option<Bot>, AjaxError> {
    if !key.starts_with(BOT_TOKEN_PREFIX) {
        return Ok(None);
    }
    match authenticate(state, key).await? {
        Some(bot) => Ok(Some(bot)),
        None => Err(AjaxError::Forbidden(
            "not allowed: this bot token is not valid (the bot was deleted?)".into(),
        )),
    }
}

/// Makes `message` the bot's ([`may_post`]): sent by the bot's name and marked as a bot's.
pub(super) fn post_as(
    state: &AppState,
    bot: &Bot,
    message: &mut ValidMessage,
) -> Result<(), AjaxError> {
    may_post(state, bot, &message.room)?;
    message.sender.clone_from(&bot.name);
    message.bot = true;
    Ok(())
}

/// Whether `bot` may post to `room` now: refused in a room it may not post to (403), or over
/// its rate (429: this counts one post against it).
fn may_post(state: &AppState, bot: &Bot, room: &str) -> Result<(), AjaxError> {
    if !bot.rooms.iter().any(|allowed| allowed == room) {
        return Err(AjaxError::Forbidden(format!(
            "not allowed: this bot may not post to {room} (its rooms: {})",
            bot.rooms.join(", ")
        )));
    }
    state.bot_limit.check_key(&bot.author).map_err(|wait| {
        state.metrics.rate_limited("bot");
        AjaxError::RateLimited(wait)
    })
}

/// `POST /bots/<room>/messages`, counted in the metrics as `bot_post`.
pub async fn post_message(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    client: Option<axum::Extension<ClientAddr>>,
    request: Request,
) -> Response {
    let mut counted = Counted::new(&state, "bot_post");
    let client = client.map(|axum::Extension(ClientAddr(ip))| ip);
    let response = bot_post(&state, room, client, request)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    counted.status = Some(response.status());
    response
}

/// Anything but POST on a bot's endpoint.
pub async fn method_not_allowed() -> AjaxError {
    AjaxError::MethodNotAllowed("/bots/<room>/messages")
}

/// A bot's post: 201 with the message's id and the bot's fingerprint. Refused, in this order:
/// no token or a wrong or revoked one (401), a room not served (404), a room the bot may not
/// post to (403), over the bot's rate (429), then as `message` (415, 413, 400; a ban 403).
async fn bot_post(
    state: &AppState,
    room: String,
    client: Option<IpAddr>,
    request: Request,
) -> Result<Response, AjaxError> {
    let bot = match bearer(request.headers()) {
        Some(token) => authenticate(state, token).await?,
        None => None,
    };
    let Some(bot) = bot else {
        // Wrong tokens cost the address's write budget, as wrong admin tokens do: each one is a
        // database read.
        if let Some(client) = client {
            state.message_limit.check(client).map_err(|wait| {
                state.metrics.rate_limited("message");
                AjaxError::RateLimited(wait)
            })?;
        }
        return Err(AjaxError::Unauthorized(
            if bearer(request.headers()).is_some() {
                "wrong or revoked bot token"
            } else {
                "send the bot's token as Authorization: Bearer <token>"
            },
        ));
    };
    if !is_room_name(&room) || !state.rooms.contains(&room) {
        return Err(AjaxError::NoSuchRoom(room));
    }
    may_post(state, &bot, &room)?;
    let text = if is_text(request.headers()) {
        true
    } else if is_json(request.headers()) {
        false
    } else {
        return Err(AjaxError::NotTextOrJson);
    };
    let body = read_body(request, state.limits, state.body_timeout).await?;
    let mut post = if text {
        let text =
            String::from_utf8(body.to_vec()).map_err(|_| Invalid("body: not UTF-8 text".into()))?;
        PostMessage {
            sender: String::new(),
            // What `echo` and most files end with is not part of the message, nor is the byte
            // order mark some editors begin a file with.
            message: text
                .strip_prefix('\u{feff}')
                .unwrap_or(&text)
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            nonce: None,
            room: None,
            key: None,
            reply_to: None,
            files: None,
        }
    } else {
        let post = decode_bot_message(&body)?;
        if post.room.as_ref().is_some_and(|named| *named != room) {
            return Err(Invalid(format!(
                "data.room: this request posts to {room} (its path); leave data.room out"
            ))
            .into());
        }
        if post.key.is_some() {
            return Err(Invalid(
                "data.key: a bot is known by its token (Authorization); leave data.key out".into(),
            )
            .into());
        }
        post
    };
    // A bot's messages are sent by its name, whatever `sender` says.
    post.sender.clone_from(&bot.name);
    post.room = Some(room);
    let mut valid = post.validate(&state.limits)?;
    valid.bot = true;
    valid.author = Some(bot.author.clone());
    valid.address = address_of(client);
    let stored = store_post(state, valid).await?;
    tracing::debug!(id = stored.id, room = stored.room, "bot message stored");
    let status = Status {
        id: Some(stored.id),
        author: Some(bot.author),
        ..Status::ok(format!("message {} stored", stored.id))
    };
    Ok((StatusCode::CREATED, Json(ServerEnvelope::Status(status))).into_response())
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case, RFC 9110).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// `text/plain`, with or without parameters.
fn is_text(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/plain"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_token_is_read_from_a_bearer_authorization() {
        let auth = |value| with(header::AUTHORIZATION, value);
        assert_eq!(bearer(&auth("Bearer chatbot_x")), Some("chatbot_x"));
        assert_eq!(bearer(&auth("bearer  chatbot_x ")), Some("chatbot_x"));
        assert_eq!(bearer(&auth("Basic dXNlcjpwYXNz")), None);
        assert_eq!(bearer(&auth("Bearer")), None);
        assert_eq!(bearer(&auth("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn plain_text_with_or_without_a_charset() {
        let kind = |value| with(header::CONTENT_TYPE, value);
        assert!(is_text(&kind("text/plain")));
        assert!(is_text(&kind("Text/Plain; charset=utf-8")));
        assert!(!is_text(&kind("text/html")));
        assert!(!is_text(&kind("text/plainer")));
        assert!(!is_text(&HeaderMap::new()));
    }
}
