//! The envelope: requests in, and replies, stream events, notifications and chunks out.
//!
//! Requests are plain serde structs. Outgoing messages are a [`Message`] enum whose JSON form
//! is decided by which key is present (`result`, `error`, `event`, `notify`, `chunk`), so it is
//! written and read by hand with [`Message::to_json`] and [`Message::from_json`].

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ErrorObject;

/// A request id: whatever integer or string the caller chose.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Number(i64),
    Text(String),
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// `{"id", "method", "params", "caller"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    pub method: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
    /// Who is asking. The background fills it from `port.sender`; absent means the extension
    /// itself (a direct stdio client such as the CLI or a test counts as one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
}

/// Which kind of context sent a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerKind {
    /// One of Harbor's own extension pages (sidebar, prompt) or the background itself.
    Extension,
    /// A web page, through the content-script relay.
    Page,
}

/// The caller context, built by the background from `port.sender` — never from page data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Caller {
    pub kind: CallerKind,
    /// The origin of the frame that asks (pages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tab_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_id: Option<i64>,
    /// The origin of the tab's top-level page, which differs from `origin` in an iframe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_origin: Option<String>,
    /// Whether the frame had transient user activation (a click or key press moments before)
    /// when it made this call, as the content relay saw it. Pages only; a prompt needs it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user_activation: bool,
}

impl Caller {
    /// Harbor's own extension pages and direct stdio clients.
    pub fn extension() -> Self {
        Caller {
            kind: CallerKind::Extension,
            origin: None,
            tab_id: None,
            frame_id: None,
            top_origin: None,
            user_activation: false,
        }
    }
}

/// One slice of a message too large for a single host → extension frame.
/// Joining `data` of parts `0..parts` of one `seq` gives the message's JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub seq: u64,
    pub part: u32,
    pub parts: u32,
    pub data: String,
}

/// Everything the bridge sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// The final reply to a request. `id` is `None` only when a malformed message had no
    /// readable id.
    Reply { id: Option<RequestId>, outcome: Result<Value, ErrorObject> },
    /// A stream event for a request that is still running; its final reply follows.
    Event { id: RequestId, event: Value },
    /// A bridge-initiated notification.
    Notify { notify: String, params: Value },
    /// One slice of a large message.
    Chunk(Chunk),
}

impl Message {
    pub fn to_json(&self) -> Value {
        match self {
            Message::Reply { id, outcome } => match outcome {
                Ok(result) => json!({ "id": id, "result": result }),
                Err(error) => json!({ "id": id, "error": error }),
            },
            Message::Event { id, event } => json!({ "id": id, "event": event }),
            Message::Notify { notify, params } => json!({ "notify": notify, "params": params }),
            Message::Chunk(chunk) => json!({ "chunk": chunk }),
        }
    }

    /// The message's JSON text, written straight from the message (its result is not copied
    /// into a new value first, as [`Message::to_json`] does); the same JSON as `to_json`.
    pub fn to_text(&self) -> String {
        #[derive(Serialize)]
        struct Reply<'a> {
            id: &'a Option<RequestId>,
            #[serde(skip_serializing_if = "Option::is_none")]
            result: Option<&'a Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a ErrorObject>,
        }
        #[derive(Serialize)]
        struct Event<'a> {
            id: &'a RequestId,
            event: &'a Value,
        }
        #[derive(Serialize)]
        struct Notify<'a> {
            notify: &'a str,
            params: &'a Value,
        }
        #[derive(Serialize)]
        struct Chunked<'a> {
            chunk: &'a Chunk,
        }
        let written = match self {
            Message::Reply { id, outcome } => {
                serde_json::to_string(&Reply { id, result: outcome.as_ref().ok(), error: outcome.as_ref().err() })
            }
            Message::Event { id, event } => serde_json::to_string(&Event { id, event }),
            Message::Notify { notify, params } => serde_json::to_string(&Notify { notify, params }),
            Message::Chunk(chunk) => serde_json::to_string(&Chunked { chunk }),
        };
        // JSON values and these structs always serialize; the fallback is never taken.
        written.unwrap_or_else(|_| self.to_json().to_string())
    }

    /// Reads a message back from its JSON form; `None` when it is none of the known shapes.
    pub fn from_json(value: Value) -> Option<Message> {
        let Value::Object(mut map) = value else {
            return None;
        };
        if let Some(chunk) = map.remove("chunk") {
            return serde_json::from_value(chunk).ok().map(Message::Chunk);
        }
        if let Some(Value::String(notify)) = map.remove("notify") {
            let params = map.remove("params").unwrap_or(Value::Null);
            return Some(Message::Notify { notify, params });
        }
        let id = take_id(&mut map)?;
        if let Some(event) = map.remove("event") {
            return Some(Message::Event { id: id?, event });
        }
        if let Some(error) = map.remove("error") {
            let error = serde_json::from_value(error).ok()?;
            return Some(Message::Reply { id, outcome: Err(error) });
        }
        let result = map.remove("result")?;
        Some(Message::Reply { id, outcome: Ok(result) })
    }
}

/// `Some(None)` for an explicit `null` id, `None` when the id is missing or of a wrong type.
fn take_id(map: &mut Map<String, Value>) -> Option<Option<RequestId>> {
    match map.remove("id")? {
        Value::Null => Some(None),
        other => serde_json::from_value(other).ok().map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn to_text_writes_what_to_json_does() {
        let messages = [
            Message::Reply { id: Some(RequestId::Number(7)), outcome: Ok(json!({"a": [1, "é\n"]})) },
            Message::Reply { id: None, outcome: Err(ErrorObject::new(ErrorCode::Internal, "x")) },
            Message::Event { id: RequestId::Text("s".into()), event: json!({"type": "token"}) },
            Message::Notify { notify: "tools.changed".into(), params: json!({"serverId": "t"}) },
            Message::Chunk(Chunk { seq: 1, part: 0, parts: 2, data: "{\"id\"".into() }),
        ];
        for message in messages {
            let text: Value = serde_json::from_str(&message.to_text()).unwrap();
            assert_eq!(text, message.to_json(), "{message:?}");
        }
    }

    #[test]
    fn every_message_shape_round_trips() {
        let messages = [
            Message::Reply { id: Some(RequestId::Number(7)), outcome: Ok(json!({"a": 1})) },
            Message::Reply { id: Some(RequestId::Text("x".into())), outcome: Ok(Value::Null) },
            Message::Reply { id: None, outcome: Err(ErrorObject::new(ErrorCode::InvalidRequest, "bad")) },
            Message::Event { id: RequestId::Number(1), event: json!({"type": "token"}) },
            Message::Notify { notify: "servers.changed".into(), params: json!({}) },
            Message::Chunk(Chunk { seq: 3, part: 0, parts: 2, data: "{\"id\"".into() }),
        ];
        for message in messages {
            let back = Message::from_json(message.to_json());
            assert_eq!(back.as_ref(), Some(&message), "{message:?}");
        }
    }

    #[test]
    fn request_caller_is_camel_case_and_optional() {
        let request: Request = serde_json::from_value(json!({
            "id": 1, "method": "system.info",
            "caller": {"kind": "page", "origin": "https://a.test", "tabId": 4, "frameId": 0}
        }))
        .unwrap();
        let caller = request.caller.unwrap();
        assert_eq!(caller.kind, CallerKind::Page);
        assert_eq!(caller.tab_id, Some(4));
        let bare: Request = serde_json::from_value(json!({"id": "a", "method": "m"})).unwrap();
        assert_eq!(bare.caller, None);
        assert_eq!(bare.params, Value::Null);
    }
}
