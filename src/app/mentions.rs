//! Mentions: a message mentions you when it has `@` followed by your current name, in any case,
//! and then the end of the text or a character that is not a letter, digit, `_` or `-`.

use super::browser::lowercase;

/// Whether `text` mentions `name` (trimmed; an empty name is never mentioned).
pub fn mentions(text: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() {
        return false;
    }
    if !text.contains('@') {
        return false;
    }
    // Both in lower case (the browser's mapping in the browser): then, at each `@`, a prefix
    // comparison (a substring search would bring its two-way searcher into the WASM bundle).
    let wanted = lowercase(name);
    let text = lowercase(text);
    text.match_indices('@').any(|(at, _)| {
        text[at + 1..]
            .strip_prefix(wanted.as_str())
            .is_some_and(|after| {
                after
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

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
}
