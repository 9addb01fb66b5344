//! The client's model: the rules of the chat page as plain Rust, no signals and no browser
//! (it calls the platform only for pure functions: lower case, the reader's time zone), so that
//! `cargo test` runs all of it on the host.
//!
//! - [`log`]: the room's messages and the lines the view draws; [`rooms`]: unread counting;
//!   [`outbox`]: the queue of what was written and its record in localStorage; [`poll`]: when
//!   to poll; [`tabs`]: what the tabs of one browser tell each other; [`notify`]: what
//!   notifies; [`identity`]: the key link; [`files`]: attachments and uploads; [`reactions`]: what a reaction says; [`markup`]
//!   (with [`links`]), [`mentions`], [`search`]: text; [`page`]: what a page starts from.

pub mod files;
pub mod identity;
pub mod links;
pub mod log;
pub mod markup;
pub mod mentions;
pub mod notify;
pub mod outbox;
pub mod page;
pub mod poll;
pub mod reactions;
pub mod rooms;
pub mod search;
pub mod tabs;
