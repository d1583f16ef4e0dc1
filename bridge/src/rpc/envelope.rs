//! Decoding incoming frames into requests and cancels.

use harbor_protocol::{ErrorObject, Request, RequestId};
use serde_json::Value;

/// A decoded incoming message.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    Request(Request),
    /// `{"cancel": id}`: stop that request; it still gets its one final reply (`ERR_ABORTED`).
    Cancel(RequestId),
}

/// A frame that could not be decoded: the error to answer with and, when it could be read, the
/// id of the request it was meant to be.
#[derive(Debug, PartialEq)]
pub struct Undecodable {
    pub id: Option<RequestId>,
    pub error: ErrorObject,
}

pub fn decode(bytes: &[u8]) -> Result<Inbound, Undecodable> {
    let invalid = |id: Option<RequestId>, message: String| Undecodable { id, error: ErrorObject::invalid(message) };
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => {
            return Err(invalid(
                sniff_id(bytes),
                format!("message is not valid JSON ({e}); send one UTF-8 JSON object per frame"),
            ))
        }
    };
    let Value::Object(mut map) = value else {
        return Err(invalid(None, "message must be a JSON object with \"id\" and \"method\"".into()));
    };
    if let Some(target) = map.remove("cancel") {
        return serde_json::from_value(target)
            .map(Inbound::Cancel)
            .map_err(|_| invalid(None, "\"cancel\" must name a request id (an integer or a string)".into()));
    }
    let id = match map.get("id") {
        Some(raw) => match serde_json::from_value::<RequestId>(raw.clone()) {
            Ok(id) => id,
            Err(_) => return Err(invalid(None, "\"id\" must be an integer or a string".into())),
        },
        None => return Err(invalid(None, "message has no \"id\"; every request needs one".into())),
    };
    match map.get("method") {
        Some(Value::String(_)) => {}
        _ => return Err(invalid(Some(id), "message has no \"method\" string".into())),
    }
    match map.get("params") {
        None | Some(Value::Null) | Some(Value::Object(_)) | Some(Value::Array(_)) => {}
        Some(_) => return Err(invalid(Some(id), "\"params\" must be an object or an array".into())),
    }
    serde_json::from_value(Value::Object(map))
        .map(Inbound::Request)
        .map_err(|e| invalid(Some(id), format!("malformed request: {e}")))
}

/// Finds the request id in the start of a message that could not be parsed whole (cut off,
/// oversized, or broken later on). Firefox serializes `{id, method, params}` in that order, so
/// the id leads the object.
pub fn sniff_id(bytes: &[u8]) -> Option<RequestId> {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let after_key = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix("\"id\"")?;
    let rest = after_key.trim_start().strip_prefix(':')?.trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        let end = quoted.find('"')?;
        let raw = &quoted[..end];
        return (!raw.contains('\\')).then(|| RequestId::Text(raw.to_owned()));
    }
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
    digits.parse().ok().map(RequestId::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbor_protocol::ErrorCode;
    use serde_json::json;

    fn code_and_id(bytes: &[u8]) -> (ErrorCode, Option<RequestId>) {
        let err = decode(bytes).unwrap_err();
        (err.error.code, err.id)
    }

    #[test]
    fn decodes_requests_and_cancels() {
        let request = decode(br#"{"id":5,"method":"system.info","params":{}}"#).unwrap();
        assert!(matches!(request, Inbound::Request(r) if r.method == "system.info" && r.id == RequestId::Number(5)));
        assert_eq!(decode(br#"{"cancel":"abc"}"#).unwrap(), Inbound::Cancel(RequestId::Text("abc".into())));
    }

    #[test]
    fn garbage_gets_invalid_request_with_the_id_when_readable() {
        assert_eq!(code_and_id(b"\xff\xfe"), (ErrorCode::InvalidRequest, None));
        assert_eq!(
            code_and_id(br#"{"id": 12, "method": "x", "params": {"#),
            (ErrorCode::InvalidRequest, Some(RequestId::Number(12)))
        );
        assert_eq!(
            code_and_id(br#"{"id":"r-1","method":"#),
            (ErrorCode::InvalidRequest, Some(RequestId::Text("r-1".into())))
        );
        assert_eq!(code_and_id(b"[1,2]"), (ErrorCode::InvalidRequest, None));
        assert_eq!(code_and_id(br#"{"method":"x"}"#), (ErrorCode::InvalidRequest, None));
        assert_eq!(code_and_id(br#"{"id":true,"method":"x"}"#), (ErrorCode::InvalidRequest, None));
        assert_eq!(code_and_id(br#"{"id":3}"#), (ErrorCode::InvalidRequest, Some(RequestId::Number(3))));
        assert_eq!(
            code_and_id(br#"{"id":3,"method":"m","params":7}"#),
            (ErrorCode::InvalidRequest, Some(RequestId::Number(3)))
        );
        assert_eq!(code_and_id(br#"{"cancel":{}}"#), (ErrorCode::InvalidRequest, None));
    }

    #[test]
    fn caller_is_carried_through() {
        let raw = json!({"id": 1, "method": "m", "caller": {"kind": "page", "origin": "http://a.test"}});
        let Inbound::Request(request) = decode(raw.to_string().as_bytes()).unwrap() else { panic!() };
        assert_eq!(request.caller.unwrap().origin.as_deref(), Some("http://a.test"));
    }
}
