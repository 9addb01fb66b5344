//! Search, as rules: the words of a query as the server reads them, and a result's text cut
//! into pieces with the matched words marked.

use crate::app::platform::lowercase;

/// The query's words as the server reads them (runs of letters and digits), in lower case:
/// what is marked in the results.
pub fn words(query: &str) -> Vec<String> {
    lowercase(query)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `text` cut into runs of letters and digits and runs of anything else; each with whether it
/// matches: a word of the query, or (the last word) the start of one.
pub fn marks<'a>(text: &'a str, words: &[String]) -> Vec<(bool, &'a str)> {
    let matches = |run: &str| {
        let run = lowercase(run);
        let last = words.len().saturating_sub(1);
        words
            .iter()
            .enumerate()
            .any(|(at, word)| run == *word || (at == last && run.starts_with(word.as_str())))
    };
    // Runs of letters and digits, and of anything else: (is a word, start, end).
    let mut runs = Vec::new();
    let mut start = 0;
    let mut kind = None;
    for (at, c) in text.char_indices() {
        let word = c.is_alphanumeric();
        if kind != Some(word) {
            if let Some(kind) = kind {
                runs.push((kind, start, at));
            }
            start = at;
            kind = Some(word);
        }
    }
    if let Some(kind) = kind {
        runs.push((kind, start, text.len()));
    }
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    for (word, start, end) in runs {
        let hit = word && matches(&text[start..end]);
        // Plain runs side by side become one piece (one text node).
        match pieces.last_mut() {
            Some((false, plain)) if !hit => *plain = &text[end - plain.len() - (end - start)..end],
            _ => pieces.push((hit, &text[start..end])),
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_of(list: &[&str]) -> Vec<String> {
        list.iter().map(|word| word.to_string()).collect()
    }

    #[test]
    fn the_query_s_words_in_lower_case() {
        assert_eq!(words("The deploy, FRID!"), ["the", "deploy", "frid"]);
        assert!(words(" -- ").is_empty());
    }

    #[test]
    fn matched_words_are_marked_the_last_as_a_prefix() {
        assert_eq!(
            marks(
                "The quick, QUICKER brownie!",
                &words_of(&["quick", "brown"])
            ),
            [
                (false, "The "),
                (true, "quick"),
                (false, ", QUICKER "),
                (true, "brownie"),
                (false, "!")
            ]
        );
        assert_eq!(marks("", &words_of(&["a"])), []);
        assert_eq!(
            marks("<b>x</b>", &words_of(&["b"])),
            [
                (false, "<"),
                (true, "b"),
                (false, ">x</"),
                (true, "b"),
                (false, ">")
            ]
        );
    }
}
