//! Search: every room's messages with the words of a query, newest first (with this browser's
//! key, its direct rooms' too).

use super::ChatState;
use crate::app::platform;
use crate::protocol::{ChatMessage, ClientEnvelope, SearchRequest, ServerEnvelope};

impl ChatState {
    /// The messages of every room that `q` finds (this browser's direct rooms too), newest
    /// first; or why there are none to show.
    pub async fn search(self, q: String) -> Result<Vec<ChatMessage>, String> {
        let ask = ClientEnvelope::Search(SearchRequest {
            q,
            room: None,
            before: None,
            key: self.existing_key(),
        });
        let exchange = platform::post(&ask).await;
        self.check_build(exchange.build.as_deref());
        match exchange.envelope() {
            Some(ServerEnvelope::Search(found)) => Ok(found),
            Some(ServerEnvelope::Status(refused)) => Err(refused.message),
            _ => Err("the server could not be reached".to_owned()),
        }
    }
}
