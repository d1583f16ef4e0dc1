//! `asks.*`: what a server asks Harbor's user while one of its tools runs for a caller that
//! cannot answer itself — a form or a page to visit (MCP elicitation), or leave to let the
//! user's model answer it (MCP sampling) — shown in the sidebar until the user answers, the
//! server gives up, or [`ASK_TIMEOUT_MS`] passes.
//!
//! The bridge publishes [`CHANGED`] with every ask still open whenever one opens or closes, so
//! every sidebar shows the same ones and an answer in one closes it in all.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

crate::methods! {
    /// The asks waiting for the user, oldest first.
    AsksList = "asks.list", Extension, super::Empty => Vec<UserAsk>;
    /// The user's answer to one. A form's content that does not fit the form is refused
    /// (`ERR_INVALID_REQUEST`, naming the field) and the ask stays open.
    AsksAnswer = "asks.answer", Extension, UserAnswer => super::Empty;
    /// Held open by a place the user answers in besides the sidebar (`harbor-bridge asks` at a
    /// terminal): while it is, the user counts as there to be asked, and the open asks stream
    /// as events — now, and after every change.
    AsksWatch = "asks.watch", Extension, super::Empty => super::Empty, OpenAsks;
}

/// The asks open now (`asks.watch`'s events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenAsks {
    pub asks: Vec<UserAsk>,
}

/// The notification sent whenever an ask opens or closes: `{"asks": [UserAsk…]}`.
pub const CHANGED: &str = "asks.changed";

/// How long an ask waits for the user: a form's is then cancelled, a sampling request refused.
pub const ASK_TIMEOUT_MS: u64 = 600_000;

/// One request of a server, waiting for the user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAsk {
    pub ask_id: u64,
    pub server_id: String,
    /// Who the call it belongs to runs for: `you` (a tool the user ran in Harbor), `Harbor's
    /// chat`, an app's name, a site's origin.
    /// More than one when calls of several wait on the server (a server's request does not say
    /// whose it is).
    pub callers: Vec<String>,
    #[serde(flatten)]
    pub asked: Asked,
    /// When it stops waiting (Unix milliseconds).
    pub expires_at: u64,
}

/// What the server asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Asked {
    /// Fill in a form (`elicitation/create`, form mode); read it with [`crate::form::fields`].
    #[serde(rename_all = "camelCase")]
    Form { message: String, requested_schema: Value },
    /// Visit a page of the server's (`elicitation/create`, URL mode): the user's consent to
    /// open it is the answer; what happens there stays between the user and the server.
    #[serde(rename_all = "camelCase")]
    Url { message: String, url: String, elicitation_id: String },
    /// Let the user's model answer the server's messages (`sampling/createMessage`); asked
    /// twice: before the model runs, and with the model's `answer`, before the server gets it.
    #[serde(rename_all = "camelCase")]
    Sampling {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system_prompt: Option<String>,
        messages: Vec<SampledMessage>,
        max_tokens: u64,
        /// The model's answer, for the user to send to the server or not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
    },
}

/// One message of a sampling request, as the user reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampledMessage {
    pub role: String,
    /// The text content; other content as `[image]`, `[audio]`, ….
    pub text: String,
}

/// The user's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserAnswer {
    pub ask_id: u64,
    pub action: Action,
    /// A form's fields, with `accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Map<String, Value>>,
}

/// MCP's elicitation actions; for sampling, `accept` lets the model answer (then sends its
/// answer) and the others refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Accept,
    Decline,
    Cancel,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Decline => "decline",
            Action::Cancel => "cancel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_ask_reads_flat_with_its_kind() {
        let ask = UserAsk {
            ask_id: 3,
            server_id: "everything".into(),
            callers: vec!["Harbor's chat".into()],
            asked: Asked::Url {
                message: "Sign in".into(),
                url: "https://x.test/a".into(),
                elicitation_id: "e1".into(),
            },
            expires_at: 9,
        };
        let wire = serde_json::to_value(&ask).unwrap();
        assert_eq!(
            wire,
            json!({"askId": 3, "serverId": "everything", "callers": ["Harbor's chat"], "kind": "url",
                   "message": "Sign in", "url": "https://x.test/a", "elicitationId": "e1", "expiresAt": 9})
        );
        assert_eq!(serde_json::from_value::<UserAsk>(wire).unwrap(), ask);
        assert!(serde_json::from_value::<UserAnswer>(json!({"askId": 1, "action": "accept", "as": 1})).is_err());
    }
}
