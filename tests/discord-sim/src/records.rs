//! What the simulator records and hands back to tests: requests and interaction answers.

use std::fmt;
use std::time::Instant;

use serde_json::Value;

/// One REST request as the simulator received and answered it.
#[derive(Clone)]
pub struct RecordedRequest {
    /// Order of arrival, from 0.
    pub seq: u64,
    /// HTTP method, upper case.
    pub method: String,
    /// Path after `/api/v10` (the full path for requests outside the API).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The JSON body, if there was one.
    pub body: Option<Value>,
    /// Request headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// When the request arrived.
    pub received_at: Instant,
    /// When the answer was sent (after any simulated latency).
    pub answered_at: Instant,
    /// The status the simulator answered.
    pub status: u16,
}

impl RecordedRequest {
    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Replaces the interaction/webhook token segment of a path so it can be shown.
pub(crate) fn redact_path(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    let token_at = match segs.get(1) {
        Some(&"interactions") | Some(&"webhooks") => Some(3),
        _ => None,
    };
    segs.iter()
        .enumerate()
        .map(|(i, s)| if Some(i) == token_at { "<token>" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("seq", &self.seq)
            .field("method", &self.method)
            .field("path", &redact_path(&self.path))
            .field("query", &self.query)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What kind of answer the bot gave to an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `POST /interactions/{id}/{token}/callback`.
    Callback,
    /// `PATCH /webhooks/{app}/{token}/messages/@original`.
    EditOriginal,
    /// `DELETE /webhooks/{app}/{token}/messages/@original`.
    DeleteOriginal,
    /// `POST /webhooks/{app}/{token}`.
    FollowUp,
    /// `PATCH /webhooks/{app}/{token}/messages/{id}`.
    EditFollowUp,
    /// `DELETE /webhooks/{app}/{token}/messages/{id}`.
    DeleteFollowUp,
}

/// One accepted answer to an interaction, with the body the bot sent.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionResponse {
    /// Which endpoint it went to.
    pub kind: ResponseKind,
    /// The JSON body (`null` for deletions).
    pub body: Value,
}

/// A dispatched interaction, as a test refers to it afterwards.
#[derive(Clone, PartialEq, Eq)]
pub struct Interaction {
    /// The interaction id.
    pub id: u64,
    /// The interaction token (also the webhook token for follow-ups).
    pub token: String,
    /// Interaction type: 2 command, 3 component, 4 autocomplete.
    pub kind: u8,
}

impl fmt::Debug for Interaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interaction")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("kind", &self.kind)
            .finish()
    }
}
