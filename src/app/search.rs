//! Search: a `search` landmark with the box `Search messages`; the results (newest first, from
//! every room) in the list `Search results`, each with its room, sender and time, its text with
//! the words that matched marked (`<mark>`, built as text nodes, never HTML), and a link to its
//! permalink.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::{self, ListRow};
use crate::protocol::{ClientEnvelope, SearchRequest, ServerEnvelope};

/// The id of the results list, which [`browser::fill_list`] fills.
const RESULTS_ID: &str = "search-results";

/// `text` cut into runs of letters and digits and runs of anything else; each with whether it
/// matches: a word of the query, or (the last word) the start of one.
pub fn marks<'a>(text: &'a str, words: &[String]) -> Vec<(bool, &'a str)> {
    let matches = |run: &str| {
        let run = browser::lowercase(run);
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

#[component]
pub fn Search() -> impl IntoView {
    let query = RwSignal::new(String::new());
    // How many were found, once a search is shown.
    let results = RwSignal::new(None::<usize>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = SearchRequest {
            q: query.get_untracked(),
            room: None,
            before: None,
        };
        // The query's words as the server reads them (runs of letters and digits), in lower
        // case: what is marked in the results. The server checks the query itself.
        let words: Vec<String> = browser::lowercase(&request.q)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_owned)
            .collect();
        if words.is_empty() {
            results.set(None);
            return;
        }
        spawn_local(async move {
            if let Some(ServerEnvelope::Search(found)) =
                browser::post(&ClientEnvelope::Search(request)).await
            {
                let rows = found
                    .iter()
                    .map(|message| ListRow {
                        href: format!("/r/{}/{}", message.room, message.id),
                        place: format!(
                            "#{} · {} · {}",
                            message.room,
                            message.sender,
                            browser::local_date_time(&message.sent_at)
                        ),
                        pieces: marks(&message.message, &words)
                            .into_iter()
                            .map(|(marked, piece)| (marked, piece.to_owned()))
                            .collect(),
                    })
                    .collect();
                browser::fill_list(RESULTS_ID, rows);
                results.try_set(Some(found.len()));
            }
        });
    };
    let count = move || match results.get() {
        Some(0) => "No messages found".to_owned(),
        Some(found) => format!("{found} found, newest first"),
        None => String::new(),
    };
    view! {
        <form role="search" class="search" on:submit=submit>
            <input
                type="search"
                aria-label="Search messages"
                placeholder="Search messages"
                maxlength="200"
                on:input=move |ev| query.set(event_target_value(&ev))
            />
        </form>
        <section class="results" aria-label="Search" hidden=move || results.with(Option::is_none)>
            <p role="status">{count}</p>
            <ul id=RESULTS_ID aria-label="Search results"></ul>
            <button type="button" on:click=move |_| results.set(None)>"Close search"</button>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|word| word.to_string()).collect()
    }

    #[test]
    fn matched_words_are_marked_the_last_as_a_prefix() {
        assert_eq!(
            marks("The quick, QUICKER brownie!", &words(&["quick", "brown"])),
            [
                (false, "The "),
                (true, "quick"),
                (false, ", QUICKER "),
                (true, "brownie"),
                (false, "!")
            ]
        );
        assert_eq!(marks("", &words(&["a"])), []);
        assert_eq!(
            marks("<b>x</b>", &words(&["b"])),
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
