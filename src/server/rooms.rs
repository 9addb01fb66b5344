//! The rooms this server serves: the operator's list (`--rooms` / `CHAT_ROOMS`), with `general`
//! always first, and the checks every envelope and page that names a room goes through: a name
//! that is not a room name is 400, a room that is not served is 404.
//!
//! A room left out of the list is not deleted: its messages stay in the database, and it is
//! served again once it is back in the list.

use std::borrow::Cow;

use super::error::AjaxError;
use crate::protocol::{BAD_ROOM, GENERAL, Invalid, MAX_SYNC_ROOMS, is_room_name};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rooms {
    /// In configured order, `general` first, each once.
    names: Vec<String>,
}

/// A `--rooms` list that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is {BAD_ROOM}")]
pub struct BadRoom(String);

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
                return Err(BadRoom(name.to_owned()));
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
        if !is_room_name(name) {
            return Err(Invalid(format!("{field}: {name:?} is {BAD_ROOM}")).into());
        }
        if !self.contains(name) {
            return Err(AjaxError::NoSuchRoom(name.to_owned()));
        }
        Ok(())
    }

    /// The rooms a `sync` follows: `["general"]` when it names none, else its list, checked:
    /// 1 to [`MAX_SYNC_ROOMS`] distinct room names (else 400), each served (else 404).
    pub fn select<'a>(
        &'a self,
        rooms: Option<&'a [String]>,
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
            if rooms[..index].contains(name) {
                return Err(
                    Invalid(format!("data.rooms[{index}]: {name:?} is named twice")).into(),
                );
            }
        }
        if let Some(unknown) = rooms.iter().find(|name| !self.contains(name)) {
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
        assert_eq!(&*rooms.select(None).unwrap(), ["general".to_owned()]);
        let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let status = |names: &[&str]| {
            rooms
                .select(Some(&list(names)))
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
        assert_eq!(rooms.select(Some(&many)).unwrap_err().status_code(), 400);
    }
}
