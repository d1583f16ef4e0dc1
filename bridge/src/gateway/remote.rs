//! The [`Backend`] of `harbor-bridge mcp`: a running bridge's gateway, reached over its control
//! socket, so an app's stdio entry uses the servers Firefox's bridge already runs.
//!
//! Unlike the command line's sequential `Link`, calls here overlap: a reader task matches replies
//! to requests by id (joining chunked ones by `seq`), hands a call's progress events to its
//! caller and its `ask` events (a server's request) to the app, answering with
//! `gateway.answer`, turns the bridge's notifications into [`Backend::events`], and fails every
//! open call when the bridge goes away — then [`Remote::closed`] fires and the stdio face ends,
//! so the app sees its server exit and can start it again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use harbor_protocol::api::tools::{AskAnswer, AskError, ToolEvent};
use harbor_protocol::{ErrorCode, ErrorObject, Message, RequestId};
use rmcp::model::JsonObject;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Backend, Event, Forward, Reach};
use crate::mcp::askers::{self, Asker, ServerAsk};
use crate::mcp::client::{Progress, ProgressSink};
use crate::mcp::registry::ToolEntry;
use crate::nm::frame::{read_frame, write_frame, Frame, MAX_INCOMING_FRAME};

/// A request waiting for its reply, and where its progress events go.
struct Waiter {
    reply: oneshot::Sender<Result<Value, ErrorObject>>,
    progress: Option<ProgressSink>,
    asker: Option<Arc<dyn Asker>>,
}

type Waiting = Arc<Mutex<HashMap<i64, Waiter>>>;

pub struct Remote {
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Unpin + Send>>,
    waiting: Waiting,
    next_id: AtomicI64,
    events: broadcast::Sender<Event>,
    closed: CancellationToken,
}

impl Remote {
    /// Connects to the bridge that serves `data_dir`'s control socket, if one runs.
    #[cfg(unix)]
    pub async fn connect(data_dir: &Path) -> Option<Arc<Remote>> {
        let stream = tokio::net::UnixStream::connect(crate::control::socket_path(data_dir)).await.ok()?;
        let (reader, writer) = stream.into_split();
        Some(Remote::over(reader, writer))
    }

    #[cfg(not(unix))]
    pub async fn connect(_data_dir: &Path) -> Option<Arc<Remote>> {
        None
    }

    pub fn over(
        reader: impl AsyncRead + Unpin + Send + 'static,
        writer: impl AsyncWrite + Unpin + Send + 'static,
    ) -> Arc<Remote> {
        let remote = Arc::new(Remote {
            writer: tokio::sync::Mutex::new(Box::new(writer)),
            waiting: Waiting::default(),
            next_id: AtomicI64::new(1),
            events: broadcast::channel(64).0,
            closed: CancellationToken::new(),
        });
        tokio::spawn(read(
            reader,
            Arc::downgrade(&remote),
            remote.waiting.clone(),
            remote.events.clone(),
            remote.closed.clone(),
        ));
        remote
    }

    /// Fires when the bridge has gone away.
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    async fn request(
        &self,
        method: &str,
        params: Value,
        cancel: &CancellationToken,
        Reach { progress, asker }: Reach,
    ) -> Result<Value, ErrorObject> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Waiter { reply, progress, asker });
        let gone = || {
            ErrorObject::new(
                ErrorCode::ServerUnavailable,
                "Harbor's bridge went away; start Firefox or `harbor-bridge gateway serve` again",
            )
        };
        if self.send(&json!({ "id": id, "method": method, "params": params })).await.is_err() {
            self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            return Err(gone());
        }
        tokio::select! {
            outcome = rx => outcome.unwrap_or_else(|_| Err(gone())),
            () = cancel.cancelled() => {
                let _ = self.send(&json!({ "cancel": id })).await;
                self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                Err(ErrorObject::new(ErrorCode::Aborted, "the client cancelled the call"))
            }
        }
    }

    async fn send(&self, message: &Value) -> std::io::Result<()> {
        write_frame(&mut *self.writer.lock().await, message.to_string().as_bytes()).await
    }
}

async fn read(
    mut reader: impl AsyncRead + Unpin,
    remote: Weak<Remote>,
    waiting: Waiting,
    events: broadcast::Sender<Event>,
    closed: CancellationToken,
) {
    let mut chunks: HashMap<u64, String> = HashMap::new();
    let mut meaning = super::News::default();
    while let Ok(Frame::Message(body)) = read_frame(&mut reader, MAX_INCOMING_FRAME).await {
        let Ok(mut value) = serde_json::from_slice::<Value>(&body) else { continue };
        if let Some(Message::Chunk(chunk)) = Message::from_json(value.clone()) {
            let joined = chunks.entry(chunk.seq).or_default();
            joined.push_str(&chunk.data);
            if chunk.part + 1 < chunk.parts {
                continue;
            }
            let Some(text) = chunks.remove(&chunk.seq) else { continue };
            let Ok(whole) = serde_json::from_str(&text) else { continue };
            value = whole;
        }
        match Message::from_json(value) {
            Some(Message::Reply { id: Some(RequestId::Number(id)), outcome }) => {
                if let Some(waiter) = waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
                    let _ = waiter.reply.send(outcome);
                }
            }
            Some(Message::Event { id: RequestId::Number(id), event }) => match serde_json::from_value(event) {
                Ok(ToolEvent::Progress { progress, total, message }) => {
                    let waiting = waiting.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(sink) = waiting.get(&id).and_then(|w| w.progress.as_ref()) {
                        let _ = sink.try_send(Progress::report(progress, total, message));
                    }
                }
                Ok(ToolEvent::Ask { ask_id, method, params }) => {
                    let asker =
                        waiting.lock().unwrap_or_else(|p| p.into_inner()).get(&id).and_then(|w| w.asker.clone());
                    if let (Some(asker), Some(remote)) = (asker, remote.upgrade()) {
                        tokio::spawn(answer(remote, asker, ask_id, method, params));
                    }
                }
                Err(_) => {}
            },
            Some(Message::Notify { notify, params }) => {
                for event in meaning.events(&notify, &params) {
                    let _ = events.send(event);
                }
            }
            _ => {}
        }
    }
    // Every open call learns the bridge is gone (dropping its sender).
    waiting.lock().unwrap_or_else(|p| p.into_inner()).clear();
    closed.cancel();
}

/// Asks the app what the server asked, and tells the bridge its answer.
async fn answer(remote: Arc<Remote>, asker: Arc<dyn Asker>, ask_id: u64, method: String, params: Value) {
    let Some(method) = askers::asked(&method) else { return };
    let answered = asker.ask(ServerAsk::new(method, params)).await;
    let answer = match answered {
        Ok(result) => AskAnswer { ask_id, result: Some(result), error: None },
        Err(error) => AskAnswer {
            ask_id,
            result: None,
            error: Some(AskError { code: error.code.0, message: error.message.into() }),
        },
    };
    let never = CancellationToken::new();
    let params = serde_json::to_value(answer).unwrap_or_default();
    let _ = remote.request("gateway.answer", params, &never, Reach::default()).await;
}

impl Backend for Remote {
    async fn tools(&self, client: &str) -> Result<Vec<ToolEntry>, ErrorObject> {
        let never = CancellationToken::new();
        let value = self.request("gateway.tools", json!({ "client": client }), &never, Reach::default()).await?;
        serde_json::from_value(value["tools"].clone())
            .map_err(|e| ErrorObject::new(ErrorCode::Internal, format!("the bridge's tool list did not decode: {e}")))
    }

    async fn call(
        &self,
        client: &str,
        tool: &str,
        arguments: Option<JsonObject>,
        _admitted: bool,
        cancel: CancellationToken,
        reach: Reach,
    ) -> Result<Value, ErrorObject> {
        let answers: Vec<&str> = askers::ASKED
            .into_iter()
            .filter(|method| reach.asker.as_ref().is_some_and(|asker| asker.answers(method)))
            .collect();
        let params = json!({ "client": client, "tool": tool, "args": arguments, "answers": answers });
        self.request("gateway.call", params, &cancel, reach).await
    }

    async fn forward(&self, client: &str, request: Forward, cancel: CancellationToken) -> Result<Value, ErrorObject> {
        let params = json!({ "client": client, "request": request });
        self.request("gateway.forward", params, &cancel, Reach::default()).await
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn servers(&self, client: &str) -> Result<Vec<String>, ErrorObject> {
        let never = CancellationToken::new();
        let value = self.request("gateway.tools", json!({ "client": client }), &never, Reach::default()).await?;
        serde_json::from_value(value["servers"].clone())
            .map_err(|e| ErrorObject::new(ErrorCode::Internal, format!("the bridge's server list did not decode: {e}")))
    }
}
