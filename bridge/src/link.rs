//! The [`Link`] the command line talks through: to the running bridge over its control socket
//! (see [`crate::control`]), so `harbor-bridge servers stop ID` stops the server Firefox's bridge
//! runs, or, with no bridge running, to a bridge opened in-process. Either way it speaks the same
//! protocol, large replies are joined from their chunks, and [`Link::request`] speaks the
//! contract's types.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use harbor_protocol::api::Method;
use harbor_protocol::{ErrorCode, ErrorObject, Message, RequestId};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::control::socket_path;
use crate::nm::frame::{read_frame, write_frame, Frame, MAX_INCOMING_FRAME};
use crate::Bridge;

/// The command line's connection to a bridge.
pub struct Link {
    reader: Box<dyn AsyncRead + Unpin + Send>,
    writer: Box<dyn AsyncWrite + Unpin + Send>,
    /// The in-process bridge and its session, when no bridge was running.
    local: Option<(Arc<Bridge>, tokio::task::JoinHandle<std::io::Result<()>>)>,
    next_id: i64,
}

impl Link {
    pub async fn open(data_dir: &Path) -> Result<Link> {
        #[cfg(unix)]
        if let Ok(stream) = tokio::net::UnixStream::connect(socket_path(data_dir)).await {
            let (reader, writer) = stream.into_split();
            return Ok(Link { reader: Box::new(reader), writer: Box::new(writer), local: None, next_id: 1 });
        }
        let bridge = Arc::new(Bridge::open(data_dir)?);
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (their_read, their_write) = tokio::io::split(theirs);
        let (reader, writer) = tokio::io::split(ours);
        let serving = bridge.clone();
        let session = tokio::spawn(async move { serving.serve(their_read, their_write, std::future::pending()).await });
        Ok(Link { reader: Box::new(reader), writer: Box::new(writer), local: Some((bridge, session)), next_id: 1 })
    }

    /// Whether this link reaches a bridge that keeps running after the command ends.
    pub fn is_shared(&self) -> bool {
        self.local.is_none()
    }

    /// One request; its stream events go to `on_event`.
    pub async fn call_with(
        &mut self,
        method: &str,
        params: Value,
        mut on_event: impl FnMut(&Value),
    ) -> Result<Result<Value, ErrorObject>> {
        self.call_answering(method, params, |event| {
            on_event(event);
            None
        })
        .await
    }

    /// One request; each of its stream events goes to `on_event`, which may answer it with a
    /// request of its own (`tools.answer` to an `ask`), sent while the first one still runs.
    pub async fn call_answering(
        &mut self,
        method: &str,
        params: Value,
        mut on_event: impl FnMut(&Value) -> Option<(&'static str, Value)>,
    ) -> Result<Result<Value, ErrorObject>> {
        let id = self.send(method, params).await?;
        let mut chunks = String::new();
        loop {
            let mut value = self.frame().await?;
            if let Some(Message::Chunk(chunk)) = Message::from_json(value.clone()) {
                chunks.push_str(&chunk.data);
                if chunk.part + 1 < chunk.parts {
                    continue;
                }
                value = serde_json::from_str(&std::mem::take(&mut chunks)).context("a chunked reply did not join")?;
            }
            match Message::from_json(value) {
                Some(Message::Event { id: RequestId::Number(n), event }) if n == id => {
                    if let Some((method, params)) = on_event(&event) {
                        self.send(method, params).await?;
                    }
                }
                Some(Message::Reply { id: Some(RequestId::Number(n)), outcome }) if n == id => return Ok(outcome),
                // An answer the bridge refused (the ask had closed) is said, not fatal.
                Some(Message::Reply { outcome: Err(error), .. }) => eprintln!("harbor: {}", error.message),
                _ => {}
            }
        }
    }

    /// Writes one request and returns its id.
    async fn send(&mut self, method: &str, params: Value) -> Result<i64> {
        let id = self.next_id;
        self.next_id += 1;
        write_frame(&mut self.writer, json!({"id": id, "method": method, "params": params}).to_string().as_bytes())
            .await?;
        Ok(id)
    }

    pub async fn call(&mut self, method: &str, params: Value) -> Result<Result<Value, ErrorObject>> {
        self.call_with(method, params, |_| {}).await
    }

    /// Calls method `M` of the contract; its events go to `on_event`.
    pub async fn request_with<M: Method>(
        &mut self,
        params: M::Params,
        mut on_event: impl FnMut(M::Event),
    ) -> Result<Result<M::Result, ErrorObject>> {
        let params = serde_json::to_value(params)?;
        let outcome = self
            .call_with(M::NAME, params, |event| {
                if let Ok(event) = M::Event::deserialize(event) {
                    on_event(event);
                }
            })
            .await?;
        Ok(outcome.and_then(|value| {
            serde_json::from_value(value).map_err(|e| {
                ErrorObject::new(
                    ErrorCode::Internal,
                    format!("the bridge's answer to {} is not readable: {e}", M::NAME),
                )
            })
        }))
    }

    /// Calls method `M` of the contract.
    pub async fn request<M: Method>(&mut self, params: M::Params) -> Result<Result<M::Result, ErrorObject>> {
        self.request_with::<M>(params, |_| {}).await
    }

    async fn frame(&mut self) -> Result<Value> {
        match read_frame(&mut self.reader, MAX_INCOMING_FRAME).await? {
            Frame::Message(body) => Ok(serde_json::from_slice(&body)?),
            _ => bail!("the bridge closed the connection"),
        }
    }

    /// Ends the link; an in-process bridge stops its servers.
    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
        if let Some((bridge, session)) = self.local.take() {
            let _ = session.await;
            bridge.shutdown().await;
        }
    }
}
