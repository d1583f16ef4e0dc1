//! The stdio face's framing guard: MCP over stdio is one JSON-RPC message a line, and a line that
//! is not JSON must be answered with a parse error (`-32700`, `id: null`), as JSON-RPC asks,
//! rather than dropped so that the app waits on nothing. [`guard`] sits between the app's pipes
//! and rmcp: valid lines pass to rmcp unchanged, and rmcp's output and the parse errors go out
//! through one writer, a whole line at a time, so they never interleave. It also holds MCP's
//! rule for cancellation: once the app cancels a request (`notifications/cancelled`), it gets no
//! response to it — whatever the handler still answers is dropped here. Only requests still open
//! can be cancelled, so an id the app uses again later is answered as usual.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

/// JSON-RPC's "parse error".
pub const PARSE_ERROR: i32 = -32700;

/// How many parse errors may wait to be written before reading stops for them.
const PENDING_ERRORS: usize = 16;

/// The answer to a line that is not JSON.
pub fn parse_error(why: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": PARSE_ERROR, "message": format!("the message is not JSON ({why}); send one JSON-RPC message a line")},
    })
}

/// The app's requests still waiting for their response, and those of them it cancelled, by id
/// (as JSON text, so `1` and `"1"` stay apart).
#[derive(Default)]
struct InFlight {
    open: HashSet<String>,
    cancelled: HashSet<String>,
}

impl InFlight {
    /// Notes what an incoming message means for the requests in flight.
    fn incoming(&mut self, message: &Value) {
        let method = message.get("method").and_then(Value::as_str);
        match (method, message.get("id")) {
            (Some("notifications/cancelled"), _) => {
                if let Some(id) = message.pointer("/params/requestId").map(Value::to_string) {
                    if self.open.contains(&id) {
                        self.cancelled.insert(id);
                    }
                }
            }
            (Some(_), Some(id)) => {
                self.open.insert(id.to_string());
            }
            _ => {}
        }
    }

    /// Whether an outgoing line may go to the app: not a response to a cancelled request.
    fn outgoing(&mut self, line: &str) -> bool {
        let Ok(message) = serde_json::from_str::<HashMap<String, Value>>(line) else { return true };
        if message.contains_key("method") {
            return true;
        }
        let Some(id) = message.get("id").map(Value::to_string) else { return true };
        self.open.remove(&id);
        !self.cancelled.remove(&id)
    }
}

/// The transport rmcp serves on: what the app sends on `input`, less the lines that are not JSON
/// (each answered on `output`), and rmcp's answers to `output`.
pub fn guard<R, W>(input: R, output: W) -> (ReadHalf<DuplexStream>, WriteHalf<DuplexStream>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (from_rmcp, mut to_rmcp) = tokio::io::split(ours);
    let (errors, mut pending) = mpsc::channel::<String>(PENDING_ERRORS);
    let in_flight = Arc::new(Mutex::new(InFlight::default()));
    let seen = in_flight.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(input).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(message) => {
                    seen.lock().unwrap_or_else(|p| p.into_inner()).incoming(&message);
                    if to_rmcp.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
                Err(error) => {
                    if errors.send(parse_error(&error.to_string()).to_string()).await.is_err() {
                        break;
                    }
                }
            }
        }
        // The app closed its end: rmcp sees the end too, and stops.
        let _ = to_rmcp.shutdown().await;
    });
    tokio::spawn(async move {
        let mut output = output;
        let mut answers = BufReader::new(from_rmcp).lines();
        let mut errors_open = true;
        loop {
            let line = tokio::select! {
                answer = answers.next_line() => match answer {
                    Ok(Some(line)) if in_flight.lock().unwrap_or_else(|p| p.into_inner()).outgoing(&line) => line,
                    Ok(Some(_)) => continue,
                    _ => break,
                },
                error = pending.recv(), if errors_open => match error {
                    Some(line) => line,
                    None => { errors_open = false; continue; }
                },
            };
            let written = output.write_all(format!("{line}\n").as_bytes()).await;
            if written.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    tokio::io::split(theirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_that_is_not_json_is_answered_and_the_good_ones_pass() {
        let (app_in, guarded_in) = tokio::io::duplex(4096);
        let (guarded_out, app_out) = tokio::io::duplex(4096);
        let (mut rmcp_reads, mut rmcp_writes) = guard(guarded_in, guarded_out);
        let (mut app_reader, mut app_writer) = (BufReader::new(app_out).lines(), app_in);
        app_writer.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\nnot json at all\n\n").await.unwrap();
        let error: Value = serde_json::from_str(&app_reader.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!((error["error"]["code"].as_i64(), &error["id"]), (Some(-32700), &Value::Null), "{error}");
        let mut passed = BufReader::new(&mut rmcp_reads).lines();
        assert_eq!(passed.next_line().await.unwrap().unwrap(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
        rmcp_writes.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n").await.unwrap();
        assert_eq!(app_reader.next_line().await.unwrap().unwrap(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
        drop(app_writer);
        assert_eq!(passed.next_line().await.unwrap(), None, "the app's end reaches rmcp");
    }

    #[tokio::test]
    async fn a_cancelled_request_gets_no_response_and_its_id_may_be_used_again() {
        let (app_in, guarded_in) = tokio::io::duplex(4096);
        let (guarded_out, app_out) = tokio::io::duplex(4096);
        let (rmcp_reads, mut rmcp_writes) = guard(guarded_in, guarded_out);
        let (mut app_reader, mut app_writer) = (BufReader::new(app_out).lines(), app_in);
        let mut passed = BufReader::new(rmcp_reads).lines();
        let call =
            |id: &str| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{}}}}\n");
        let answer = |id: &str| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{}}}}\n");
        // Two calls, 7 and "7"; the app cancels 7.
        app_writer.write_all(call("7").as_bytes()).await.unwrap();
        app_writer.write_all(call("\"7\"").as_bytes()).await.unwrap();
        app_writer
            .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":7}}\n")
            .await
            .unwrap();
        for _ in 0..3 {
            passed.next_line().await.unwrap().unwrap();
        }
        rmcp_writes.write_all(answer("7").as_bytes()).await.unwrap();
        rmcp_writes.write_all(answer("\"7\"").as_bytes()).await.unwrap();
        let first: Value = serde_json::from_str(&app_reader.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(first["id"], "7", "only the string id's answer comes, not the cancelled number's: {first}");
        // The id 7 used again after the cancel: answered as usual.
        app_writer.write_all(call("7").as_bytes()).await.unwrap();
        passed.next_line().await.unwrap().unwrap();
        rmcp_writes.write_all(answer("7").as_bytes()).await.unwrap();
        let again: Value = serde_json::from_str(&app_reader.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(again["id"], 7, "{again}");
        // A cancel that comes after the answer marks nothing: the next 7 is answered too.
        let cancel = b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":7}}\n";
        app_writer.write_all(cancel).await.unwrap();
        app_writer.write_all(call("7").as_bytes()).await.unwrap();
        for _ in 0..2 {
            passed.next_line().await.unwrap().unwrap();
        }
        rmcp_writes.write_all(answer("7").as_bytes()).await.unwrap();
        let late: Value = serde_json::from_str(&app_reader.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(late["id"], 7, "{late}");
    }
}
