//! Reactions as the page shows them: the emoji the menu offers, and what a reaction's button
//! says (`👍 3: Ana, Ben and you`), from the fingerprints that reacted and the names those
//! fingerprints were last seen writing under.

use crate::protocol::{ChatMessage, Reaction};

/// What `Add reaction` offers, in its order.
pub const CHOICES: [&str; 8] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

/// Whether `me` (this browser's fingerprint) is among the reaction's authors.
pub fn is_mine(reaction: &Reaction, me: Option<&str>) -> bool {
    me.is_some_and(|me| reaction.authors.iter().any(|author| author == me))
}

/// The name `author` last wrote under among `kept` (oldest first), if any.
pub fn name_of(kept: &[ChatMessage], author: &str) -> Option<String> {
    kept.iter()
        .rev()
        .find(|message| message.author.as_deref() == Some(author))
        .map(|message| message.sender.clone())
}

/// The button's accessible name: the emoji, the count, and who: others in the order they
/// reacted (by name, else by fingerprint), then `you`.
pub fn label(
    reaction: &Reaction,
    me: Option<&str>,
    name_of: impl Fn(&str) -> Option<String>,
) -> String {
    let mut who: Vec<String> = reaction
        .authors
        .iter()
        .filter(|author| Some(author.as_str()) != me)
        .map(|author| name_of(author).unwrap_or_else(|| author.clone()))
        .collect();
    if is_mine(reaction, me) {
        who.push("you".to_owned());
    }
    let listed = match who.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, others)) => format!("{} and {last}", others.join(", ")),
    };
    format!("{} {}: {listed}", reaction.emoji, reaction.authors.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reaction(emoji: &str, authors: &[&str]) -> Reaction {
        Reaction {
            emoji: emoji.into(),
            authors: authors.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn a_reaction_says_who_with_you_last() {
        let names = |author: &str| match author {
            "aaaaaaaa" => Some("Ana".to_owned()),
            "bbbbbbbb" => Some("Ben".to_owned()),
            _ => None,
        };
        let all = reaction("👍", &["mmmmmmmm", "aaaaaaaa", "bbbbbbbb"]);
        assert_eq!(
            label(&all, Some("mmmmmmmm"), names),
            "👍 3: Ana, Ben and you"
        );
        assert!(is_mine(&all, Some("mmmmmmmm")));
        assert!(!is_mine(&all, None));
        assert_eq!(label(&all, None, names), "👍 3: mmmmmmmm, Ana and Ben");
        assert_eq!(
            label(&reaction("🎉", &["aaaaaaaa"]), Some("mmmmmmmm"), names),
            "🎉 1: Ana"
        );
        assert_eq!(
            label(&reaction("🎉", &["mmmmmmmm"]), Some("mmmmmmmm"), names),
            "🎉 1: you"
        );
        assert_eq!(
            label(&reaction("🎉", &["aaaaaaaa", "zzzzzzzz"]), None, names),
            "🎉 2: Ana and zzzzzzzz"
        );
    }

    #[test]
    fn a_fingerprint_goes_by_its_newest_name() {
        let said = |sender: &str, author: Option<&str>| ChatMessage {
            sender: sender.into(),
            author: author.map(str::to_owned),
            ..ChatMessage::default()
        };
        let kept = [
            said("Ana", Some("aaaaaaaa")),
            said("Anonymous", None),
            said("Ana L.", Some("aaaaaaaa")),
        ];
        assert_eq!(name_of(&kept, "aaaaaaaa").as_deref(), Some("Ana L."));
        assert_eq!(name_of(&kept, "bbbbbbbb"), None);
    }
}
