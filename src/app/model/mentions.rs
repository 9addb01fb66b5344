//! Mentions: a message mentions you when it has `@` followed by your current name, in any case,
//! and then the end of the text or a character that is not a letter, digit, `_` or `-`, outside
//! code (an `@ana` in a pasted log or a code block mentions nobody: [`markup::prose`]). And
//! the names the composer offers after an `@`, and what picking one does to the draft.

use super::markup;
use crate::app::platform::lowercase;

/// The most names `@` offers.
pub const MAX_OFFERED: usize = 8;

/// Whether `text` mentions `name` (trimmed; an empty name is never mentioned).
pub fn mentions(text: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() || !text.contains('@') {
        return false;
    }
    // Both in lower case, then a prefix comparison at each `@`.
    let wanted = lowercase(name);
    markup::prose(text).any(|prose| mentioned(&lowercase(prose), &wanted))
}

/// Whether lowercase `text` has `@` and then lowercase `wanted` as a whole name.
fn mentioned(text: &str, wanted: &str) -> bool {
    text.match_indices('@').any(|(at, _)| {
        text[at + 1..].strip_prefix(wanted).is_some_and(|after| {
            after
                .chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
        })
    })
}

/// Names offered for the `@` before the caret: where it is (a byte offset into the draft they
/// were offered for), where the name typed after it ends (the caret), the names, and the one
/// chosen with the arrow keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggest {
    pub draft: String,
    pub at: usize,
    pub end: usize,
    pub names: Vec<String>,
    pub active: usize,
}

/// The senders of `senders` (the room's messages, oldest first), newest first, once each, but
/// not `me`.
pub fn recent_names<'a>(
    senders: impl DoubleEndedIterator<Item = &'a str>,
    me: &str,
) -> Vec<String> {
    let me = me.trim();
    let mut names: Vec<String> = Vec::new();
    for sender in senders.rev().take(200) {
        if sender != me && !names.iter().any(|name| name == sender) {
            names.push(sender.to_owned());
        }
    }
    names
}

/// What to offer for `text` with the caret at `caret_utf16` (the browser counts UTF-16 units):
/// the `@` before it starts a word, nothing but the name's start lies between them, and some of
/// `names` begin with it (in any case).
pub fn offer(text: &str, caret_utf16: usize, names: &[String]) -> Option<Suggest> {
    let mut units = 0;
    let caret = text
        .char_indices()
        .find_map(|(at, c)| {
            let here = (units >= caret_utf16).then_some(at);
            units += c.len_utf16();
            here
        })
        .unwrap_or(text.len());
    let before = &text[..caret];
    let at = before.rfind('@')?;
    let typed = &before[at + 1..];
    let starts_word = before[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric());
    if !starts_word || typed.chars().any(char::is_whitespace) {
        return None;
    }
    let typed = lowercase(typed);
    let names: Vec<String> = names
        .iter()
        .filter(|name| lowercase(name).starts_with(&typed))
        .take(MAX_OFFERED)
        .cloned()
        .collect();
    (!names.is_empty()).then_some(Suggest {
        draft: text.to_owned(),
        at,
        end: caret,
        names,
        active: 0,
    })
}

impl Suggest {
    /// The draft with the name at `index` put in for what was typed after the `@`, and the
    /// caret after it (in UTF-16 units); `None` if the draft is no longer the one the names
    /// were offered for, or there is no such name.
    pub fn pick(&self, draft: &str, index: usize) -> Option<(String, usize)> {
        if draft != self.draft {
            return None;
        }
        let picked = self.names.get(index)?;
        let head = draft.get(..self.at)?;
        let tail = draft.get(self.end..)?;
        let inserted = format!("{head}@{picked} ");
        let caret = inserted.encode_utf16().count();
        Some((format!("{inserted}{tail}"), caret))
    }

    /// The suggestion with the next (`by` 1) or previous (`by` -1) name chosen, round.
    pub fn moved(&self, by: isize) -> Self {
        let count = self.names.len() as isize;
        let active = (self.active as isize + by).rem_euclid(count.max(1)) as usize;
        Self {
            active,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_name_then_a_boundary() {
        assert!(mentions("hi @ana", "Ana"));
        assert!(mentions("@ANA, look", "ana"));
        assert!(!mentions("@Ana-", "Ana"));
        assert!(mentions("cc @Ana.", " Ana "));
        assert!(mentions("@Zoë!", "zoë"));
        assert!(mentions("@Ana Lee: hi", "Ana Lee"));
        assert!(!mentions("@Anabel", "Ana"));
        assert!(!mentions("@Ana_b", "Ana"));
        assert!(!mentions("Ana", "Ana"));
        assert!(!mentions("@ana", ""));
        assert!(mentions("mail x@y @ana", "ana"));
    }

    #[test]
    fn code_mentions_nobody() {
        assert!(!mentions("grep `@ana` log", "ana"));
        assert!(!mentions("log:\n```\n12:00 @ana joined\n```", "ana"));
        assert!(mentions("`x` @ana", "ana"));
        assert!(mentions("```\nx\n```\n@ana see above", "ana"));
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn names_are_offered_after_an_at_that_starts_a_word() {
        let known = names(&["Ana", "Ben", "anatole"]);
        let offered = offer("hi @an", 6, &known).unwrap();
        assert_eq!(offered.names, ["Ana", "anatole"]);
        assert_eq!((offered.at, offered.end), (3, 6));
        assert!(
            offer("mail x@an", 9, &known).is_none(),
            "not a word's start"
        );
        assert!(
            offer("@an x", 5, &known).is_none(),
            "a space after the name"
        );
        assert!(offer("@zz", 3, &known).is_none(), "nobody by that name");
        // The caret counts UTF-16 units: 😀 is two.
        let offered = offer("😀 @b", 5, &known).unwrap();
        assert_eq!(offered.names, ["Ben"]);
        assert_eq!(
            recent_names(["Ana", "Ben", "Ana", "Me"].into_iter(), " Me "),
            ["Ana", "Ben"]
        );
    }

    #[test]
    fn picking_puts_the_name_in_and_a_stale_suggestion_does_nothing() {
        let offered = offer("hi @an and more", 6, &names(&["Ana"])).unwrap();
        assert_eq!(
            offered.pick("hi @an and more", 0),
            Some(("hi @Ana  and more".to_owned(), 8))
        );
        // The draft changed since (it was sent, or cut short): no slicing of another text.
        assert_eq!(offered.pick("h", 0), None);
        assert_eq!(offered.pick("", 0), None);
        assert_eq!(offered.pick("hi @an and more", 5), None);
        let two = offer("@a", 2, &names(&["Ana", "Al"])).unwrap();
        assert_eq!(two.moved(1).active, 1);
        assert_eq!(two.moved(1).moved(1).active, 0);
        assert_eq!(two.moved(-1).active, 1);
    }
}
