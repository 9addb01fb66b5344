//! The rooms this server serves: the operator's list (`--rooms` / `CHAT_ROOMS`), with `general`
//! always first, and the checks every envelope and page that names a room goes through: a name
//! that is not a room name is 400, a room that is not served is 404.
//!
//! Direct rooms (`dm-<a>-<b>`) are nobody's to configure: for their two members they always
//! exist, for everyone else they never do, and a reader who is not a member is answered exactly
//! as for a room that is not served ([`Rooms::check_for`]).
//!
//! A room left out of the list is not deleted: its messages stay in the database, and it is
//! served again once it is back in the list.

use std::borrow::Cow;

use super::error::AjaxError;
use crate::protocol::{
    BAD_ROOM, DIRECT_PREFIX, GENERAL, Invalid, MAX_SYNC_ROOMS, direct_members, is_room_name,
    may_read,
};

/// Why a `dm-` name was refused.
const BAD_DIRECT_ROOM: &str =
    "not a direct room's name (dm-<fingerprint>-<fingerprint>, the smaller first)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rooms {
    /// In configured order, `general` first, each once.
    names: Vec<String>,
}

/// A `--rooms` list that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRoom {
    #[error("{0:?} is {BAD_ROOM}")]
    Malformed(String),
    #[error("{0:?} is a direct room's name (dm-...): those are their two members', not served")]
    Direct(String),
}

impl Default for Rooms {
    fn default() -> Self {
        Self {
            names: vec![GENERAL.to_owned()],
        }
    }
}

impl Rooms {
    /// Parses a comma-separated list: names are trimmed, empty entries and repeats skipped,
    /// `general` added first when missing; a malformed name is refused.
    pub fn parse(list: &str) -> Result<Self, BadRoom> {
        let mut rooms = Self::default();
        for name in list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            if !is_room_name(name) {
                return Err(BadRoom::Malformed(name.to_owned()));
            }
            if name.starts_with(DIRECT_PREFIX) {
                return Err(BadRoom::Direct(name.to_owned()));
            }
            if !rooms.contains(name) {
                rooms.names.push(name.to_owned());
            }
        }
        Ok(rooms)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|served| served == name)
    }

    /// `name` if it is a served room: 400 for a malformed name, 404 for one not served.
    pub fn check(&self, field: &str, name: &str) -> Result<(), AjaxError> {
        self.check_for(field, name, None)
    }

    /// `name` if `reader` (a key's fingerprint, if any) may read it: a served room, or a direct
    /// room `reader` is a member of. 400 for a malformed name (a `dm-` name not of two
    /// fingerprints in order too), 404 for a room not served and for someone else's direct
    /// room alike, so that nobody learns whether a conversation exists.
    pub fn check_for(
        &self,
        field: &str,
        name: &str,
        reader: Option<&str>,
    ) -> Result<(), AjaxError> {
        if !is_room_name(name) {
            return Err(Invalid(format!("{field}: {name:?} is {BAD_ROOM}")).into());
        }
        if name.starts_with(DIRECT_PREFIX) && direct_members(name).is_none() {
            return Err(Invalid(format!("{field}: {name:?} is {BAD_DIRECT_ROOM}")).into());
        }
        let readable = if name.starts_with(DIRECT_PREFIX) {
            may_read(name, reader)
        } else {
            self.contains(name)
        };
        if !readable {
            return Err(AjaxError::NoSuchRoom(name.to_owned()));
        }
        Ok(())
    }

    /// The rooms a `sync` follows: `["general"]` when it names none, else its list, checked:
    /// 1 to [`MAX_SYNC_ROOMS`] distinct room names (else 400), each served (else 404).
    pub fn select<'a>(
        &'a self,
        rooms: Option<&'a [String]>,
        reader: Option<&str>,
    ) -> Result<Cow<'a, [String]>, AjaxError> {
        let Some(rooms) = rooms else {
            return Ok(Cow::Borrowed(&self.names[..1]));
        };
        if rooms.is_empty() || rooms.len() > MAX_SYNC_ROOMS {
            return Err(Invalid(format!(
                "data.rooms: {} names, 1 to {MAX_SYNC_ROOMS} allowed",
                rooms.len()
            ))
            .into());
        }
        for (index, name) in rooms.iter().enumerate() {
            if !is_room_name(name) {
                return Err(Invalid(format!("data.rooms[{index}]: {name:?} is {BAD_ROOM}")).into());
            }
            if name.starts_with(DIRECT_PREFIX) && direct_members(name).is_none() {
                return Err(Invalid(format!(
                    "data.rooms[{index}]: {name:?} is {BAD_DIRECT_ROOM}"
                ))
                .into());
            }
            if rooms[..index].contains(name) {
                return Err(
                    Invalid(format!("data.rooms[{index}]: {name:?} is named twice")).into(),
                );
            }
        }
        let readable = |name: &String| {
            if name.starts_with(DIRECT_PREFIX) {
                may_read(name, reader)
            } else {
                self.contains(name)
            }
        };
        if let Some(unknown) = rooms.iter().find(|name| !readable(name)) {
            return Err(AjaxError::NoSuchRoom(unknown.clone()));
        }
        Ok(Cow::Borrowed(rooms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(rooms: &Rooms) -> Vec<&str> {
        rooms.names().iter().map(String::as_str).collect()
    }

    #[test]
    fn general_comes_first_once_and_bad_names_are_refused() {
        assert_eq!(names(&Rooms::parse("general").unwrap()), ["general"]);
        assert_eq!(names(&Rooms::parse("").unwrap()), ["general"]);
        assert_eq!(
            names(&Rooms::parse(" dev, ops ,dev,,general").unwrap()),
            ["general", "dev", "ops"]
        );
        assert_eq!(
            names(&Rooms::parse("dev,general").unwrap()),
            ["general", "dev"]
        );
        assert!(Rooms::parse("dev,Ops").is_err());
        assert!(Rooms::parse("-dev").is_err());
    }

    #[test]
    fn a_sync_follows_general_unless_it_names_rooms() {
        let rooms = Rooms::parse("dev,ops").unwrap();
        assert_eq!(&*rooms.select(None, None).unwrap(), ["general".to_owned()]);
        let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let status = |names: &[&str]| {
            rooms
                .select(Some(&list(names)), None)
                .map(|_| 200)
                .unwrap_or_else(|err| err.status_code().as_u16())
        };
        assert_eq!(status(&["ops", "general"]), 200);
        assert_eq!(status(&[]), 400);
        assert_eq!(status(&["dev", "dev"]), 400);
        assert_eq!(status(&["Dev"]), 400);
        assert_eq!(status(&["nope"]), 404);
        assert_eq!(status(&["nope", "Bad"]), 400, "malformed before unknown");
        let many: Vec<String> = (0..101).map(|n| format!("r{n}")).collect();
        assert_eq!(
            rooms.select(Some(&many), None).unwrap_err().status_code(),
            400
        );
    }
}
