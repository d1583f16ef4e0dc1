//! A scripted model server: a stand-in for Ollama and OpenAI-compatible servers in Harbor's
//! tests and benchmarks. It is never shipped and never answers like a model would — it replays
//! the [`Turn`]s a test pushed, one per chat request, in the exact wire formats the providers
//! document:
//!
//! - Ollama: `GET /api/tags`, `POST /api/show`, `POST /api/chat` streaming NDJSON with
//!   `message.content` pieces, `message.tool_calls` (arguments as an object) and a final
//!   `done: true` line with `prompt_eval_count` / `eval_count`; errors as `{"error": "..."}`;
//! - OpenAI: `GET /v1/models`, `POST /v1/chat/completions` streaming server-sent events of
//!   `chat.completion.chunk`s with `delta.content`, `delta.tool_calls` (the id and name first,
//!   then the arguments string in two halves), a `finish_reason`, a usage chunk when
//!   `stream_options.include_usage` is set, and `data: [DONE]`; errors as
//!   `{"error": {"message": ...}}`.
//!
//! It records every request body (so tests can check what the bridge offered the model), when
//! each piece went out, and how many clients hung up on a stream (cancellation reaching the
//! provider). It speaks HTTP/1.1 with `Connection: close` on loopback only.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One piece of a scripted answer.
#[derive(Clone, Debug)]
pub enum Piece {
    /// A piece of text, sent as one chunk.
    Text(String),
    /// A native tool call.
    ToolCall { name: String, arguments: Value },
    /// Waits before the next piece.
    Pause(Duration),
    /// A line that is not valid for the wire format.
    Garbage(String),
    /// Sends nothing more and waits for the client to hang up.
    Hang,
    /// Closes the connection without finishing the answer.
    Cut,
}

/// One scripted answer to one chat request.
#[derive(Clone, Debug, Default)]
pub struct Turn {
    pieces: Vec<Piece>,
    /// An HTTP error instead of a stream: status and message.
    failure: Option<(u16, String)>,
}

impl Turn {
    pub fn new() -> Turn {
        Turn::default()
    }

    /// A turn that streams `text` split at spaces, each word (with its space) a token.
    pub fn words(text: &str) -> Turn {
        let mut turn = Turn::new();
        let mut start = 0;
        for (i, _) in text.match_indices(' ') {
            turn = turn.text(&text[start..=i]);
            start = i + 1;
        }
        if start < text.len() {
            turn = turn.text(&text[start..]);
        }
        turn
    }

    pub fn text(mut self, text: &str) -> Turn {
        self.pieces.push(Piece::Text(text.to_owned()));
        self
    }

    pub fn tool_call(mut self, name: &str, arguments: Value) -> Turn {
        self.pieces.push(Piece::ToolCall { name: name.to_owned(), arguments });
        self
    }

    pub fn pause(mut self, duration: Duration) -> Turn {
        self.pieces.push(Piece::Pause(duration));
        self
    }

    pub fn garbage(mut self, line: &str) -> Turn {
        self.pieces.push(Piece::Garbage(line.to_owned()));
        self
    }

    pub fn hang(mut self) -> Turn {
        self.pieces.push(Piece::Hang);
        self
    }

    pub fn cut(mut self) -> Turn {
        self.pieces.push(Piece::Cut);
        self
    }

    /// Answers with an HTTP error and the provider's error body.
    pub fn fail(status: u16, message: &str) -> Turn {
        Turn { pieces: Vec::new(), failure: Some((status, message.to_owned())) }
    }
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// A model the server lists.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    /// Whether the model accepts native `tools` (Ollama answers 400 otherwise).
    pub tools: bool,
    pub context_length: u64,
}

impl Model {
    pub fn new(name: &str) -> Model {
        Model { name: name.to_owned(), tools: true, context_length: 8192 }
    }

    pub fn without_tools(mut self) -> Model {
        self.tools = false;
        self
    }
}

#[derive(Default)]
struct State {
    models: Vec<Model>,
    turns: VecDeque<Turn>,
    requests: Vec<Recorded>,
    /// When each text piece went out, with its text.
    sent: Vec<(Instant, String)>,
    hangups: usize,
}

/// The running server; it stops when dropped.
pub struct ScriptedModel {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedModel {
    /// Starts on a free loopback port, listing `models`.
    pub async fn start(models: Vec<Model>) -> ScriptedModel {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State { models, ..State::default() }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        ScriptedModel { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the answer to the next chat request.
    pub fn push(&self, turn: Turn) {
        self.state.lock().unwrap().turns.push_back(turn);
    }

    /// How many queued turns no request has used yet.
    pub fn turns_left(&self) -> usize {
        self.state.lock().unwrap().turns.len()
    }

    /// Every chat request received, oldest first.
    pub fn chat_requests(&self) -> Vec<Recorded> {
        let state = self.state.lock().unwrap();
        state.requests.iter().filter(|r| r.path == "/api/chat" || r.path == "/v1/chat/completions").cloned().collect()
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// When each text piece was written, with its text.
    pub fn sent(&self) -> Vec<(Instant, String)> {
        self.state.lock().unwrap().sent.clone()
    }

    /// How many clients hung up on a stream that was still going.
    pub fn hangups(&self) -> usize {
        self.state.lock().unwrap().hangups
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let Some(request) = read_request(&mut stream).await else { return };
    state.lock().unwrap().requests.push(request.clone());
    let _ = match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/tags") => {
            let models: Vec<Value> = state.lock().unwrap().models.iter().map(ollama_tag).collect();
            respond_json(&mut stream, 200, &json!({ "models": models })).await
        }
        ("POST", "/api/show") => {
            let name = request.body["model"].as_str().unwrap_or_default().to_owned();
            let model = state.lock().unwrap().models.iter().find(|m| m.name == name).cloned();
            match model {
                Some(model) => respond_json(&mut stream, 200, &ollama_show(&model)).await,
                None => respond_json(&mut stream, 404, &json!({"error": format!("model '{name}' not found")})).await,
            }
        }
        ("GET", "/v1/models") => {
            let data: Vec<Value> = state
                .lock()
                .unwrap()
                .models
                .iter()
                .map(|m| json!({"id": m.name, "object": "model", "created": 1_763_769_600, "owned_by": "scripted"}))
                .collect();
            respond_json(&mut stream, 200, &json!({ "object": "list", "data": data })).await
        }
        ("POST", "/api/chat") => chat(&mut stream, &state, &request, Wire::Ollama).await,
        ("POST", "/v1/chat/completions") => chat(&mut stream, &state, &request, Wire::OpenAi).await,
        _ => respond_json(&mut stream, 404, &json!({"error": "404 page not found"})).await,
    };
}

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    Ollama,
    OpenAi,
}

async fn chat(stream: &mut TcpStream, state: &Mutex<State>, request: &Recorded, wire: Wire) -> std::io::Result<()> {
    let model_name = request.body["model"].as_str().unwrap_or_default().to_owned();
    let model = state.lock().unwrap().models.iter().find(|m| m.name == model_name).cloned();
    let error = |message: String| match wire {
        Wire::Ollama => json!({ "error": message }),
        Wire::OpenAi => {
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}})
        }
    };
    let Some(model) = model else {
        let message = format!("model \"{model_name}\" not found, try pulling it first");
        return respond_json(stream, 404, &error(message)).await;
    };
    let offers_tools = request.body["tools"].as_array().is_some_and(|t| !t.is_empty());
    if offers_tools && !model.tools {
        let message = format!("registry.ollama.ai/library/{model_name} does not support tools");
        return respond_json(stream, 400, &error(message)).await;
    }
    let Some(turn) = state.lock().unwrap().turns.pop_front() else {
        return respond_json(stream, 500, &error("the scripted model has no turn left".into())).await;
    };
    if let Some((status, message)) = turn.failure {
        return respond_json(stream, status, &error(message)).await;
    }
    let content_type = if wire == Wire::Ollama { "application/x-ndjson" } else { "text/event-stream" };
    stream.write_all(head(200, content_type).as_bytes()).await?;
    let include_usage = request.body["stream_options"]["include_usage"] == true;
    let mut writer = ChunkWriter { wire, model: model_name, tool_index: 0, tokens: 0, called_tools: false };
    if wire == Wire::OpenAi {
        stream.write_all(writer.openai_chunk(json!({"role": "assistant", "content": ""}), None).as_bytes()).await?;
    }
    for piece in turn.pieces {
        match piece {
            Piece::Text(text) => {
                stream.write_all(writer.text(&text).as_bytes()).await?;
                stream.flush().await?;
                state.lock().unwrap().sent.push((Instant::now(), text));
            }
            Piece::ToolCall { name, arguments } => {
                for line in writer.tool_call(&name, &arguments) {
                    stream.write_all(line.as_bytes()).await?;
                }
            }
            Piece::Pause(duration) => tokio::time::sleep(duration).await,
            Piece::Garbage(line) => {
                // For server-sent events, a line that is not a `data:` field is ignored by the
                // format itself; garbage has to come as data to be garbage.
                let line = if wire == Wire::OpenAi { format!("data: {line}\n\n") } else { format!("{line}\n") };
                stream.write_all(line.as_bytes()).await?
            }
            Piece::Hang => {
                stream.flush().await?;
                let mut byte = [0u8; 1];
                let hung_up = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut byte)).await;
                if matches!(hung_up, Ok(Ok(0)) | Ok(Err(_))) {
                    state.lock().unwrap().hangups += 1;
                }
                return Ok(());
            }
            Piece::Cut => return Ok(()),
        }
    }
    for line in writer.finish(include_usage) {
        stream.write_all(line.as_bytes()).await?;
    }
    stream.shutdown().await
}

/// Formats the pieces of one streamed answer in one provider's wire format.
struct ChunkWriter {
    wire: Wire,
    model: String,
    tool_index: usize,
    tokens: u64,
    called_tools: bool,
}

const CREATED_AT: &str = "2026-11-22T10:00:00.000000Z";

impl ChunkWriter {
    fn text(&mut self, text: &str) -> String {
        self.tokens += 1;
        match self.wire {
            Wire::Ollama => self.ollama_line(json!({"role": "assistant", "content": text}), false),
            Wire::OpenAi => self.openai_chunk(json!({ "content": text }), None),
        }
    }

    fn tool_call(&mut self, name: &str, arguments: &Value) -> Vec<String> {
        let index = self.tool_index;
        self.tool_index += 1;
        self.called_tools = true;
        match self.wire {
            Wire::Ollama => {
                let call = json!({"function": {"index": index, "name": name, "arguments": arguments}});
                vec![self.ollama_line(json!({"role": "assistant", "content": "", "tool_calls": [call]}), false)]
            }
            Wire::OpenAi => {
                let args = arguments.to_string();
                let (first, second) = args.split_at(args.len() / 2);
                let open = json!({"index": index, "id": format!("call_{index}"), "type": "function", "function": {"name": name, "arguments": ""}});
                let part = |s: &str| json!({"index": index, "function": {"arguments": s}});
                vec![
                    self.openai_chunk(json!({ "tool_calls": [open] }), None),
                    self.openai_chunk(json!({ "tool_calls": [part(first)] }), None),
                    self.openai_chunk(json!({ "tool_calls": [part(second)] }), None),
                ]
            }
        }
    }

    fn finish(&mut self, include_usage: bool) -> Vec<String> {
        match self.wire {
            Wire::Ollama => {
                let mut line = json!({
                    "model": self.model, "created_at": CREATED_AT,
                    "message": {"role": "assistant", "content": ""},
                    "done": true, "done_reason": "stop",
                    "total_duration": 1_000_000, "load_duration": 1000,
                    "prompt_eval_count": 10, "prompt_eval_duration": 1000,
                    "eval_count": self.tokens, "eval_duration": 1000
                });
                if self.tokens == 0 && !self.called_tools {
                    line["eval_count"] = json!(1);
                }
                vec![format!("{line}\n")]
            }
            Wire::OpenAi => {
                let reason = if self.called_tools { "tool_calls" } else { "stop" };
                let mut lines = vec![self.openai_chunk(json!({}), Some(reason))];
                if include_usage {
                    let usage = json!({"prompt_tokens": 10, "completion_tokens": self.tokens, "total_tokens": 10 + self.tokens});
                    let chunk = json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1_763_805_600, "model": self.model, "choices": [], "usage": usage});
                    lines.push(format!("data: {chunk}\n\n"));
                }
                lines.push("data: [DONE]\n\n".into());
                lines
            }
        }
    }

    fn ollama_line(&self, message: Value, done: bool) -> String {
        let line = json!({"model": self.model, "created_at": CREATED_AT, "message": message, "done": done});
        format!("{line}\n")
    }

    fn openai_chunk(&self, delta: Value, finish_reason: Option<&str>) -> String {
        let chunk = json!({
            "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1_763_805_600,
            "model": self.model, "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
        });
        format!("data: {chunk}\n\n")
    }
}

fn ollama_tag(model: &Model) -> Value {
    json!({
        "name": model.name, "model": model.name, "modified_at": "2026-11-01T10:00:00Z",
        "size": 2_019_393_189u64, "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                    "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
    })
}

fn ollama_show(model: &Model) -> Value {
    let mut capabilities = vec!["completion"];
    if model.tools {
        capabilities.push("tools");
    }
    json!({
        "modelfile": "", "parameters": "", "template": "",
        "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": "llama", "llama.context_length": model.context_length},
        "capabilities": capabilities
    })
}

fn head(status: u16, content_type: &str) -> String {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n")
}

async fn respond_json(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let head = head(status, "application/json; charset=utf-8");
    let head = head.replace("\r\n\r\n", &format!("\r\nContent-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buffer[header_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Recorded { method, path, headers, body })
}
