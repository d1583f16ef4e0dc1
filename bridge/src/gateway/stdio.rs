//! The stdio face's framing guard: MCP over stdio is one JSON-RPC message a line, and a line that
//! is not JSON must be answered with a parse error (`-32700`, `id: null`), as JSON-RPC asks,
//! rather than dropped so that the app waits on nothing. [`guard`] sits between the app's pipes
//! and rmcp: valid lines pass to rmcp unchanged, and rmcp's output and the parse errors go out
//! through one writer, a whole line at a time, so they never interleave.

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
    tokio::spawn(async move {
        let mut lines = BufReader::new(input).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(_) => {
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
                    Ok(Some(line)) => line,
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
}
