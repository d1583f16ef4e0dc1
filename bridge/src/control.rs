//! The control socket and the [`Link`] the command line talks through.
//!
//! A running bridge listens on `bridge.sock` in the data folder (a Unix socket only its user can
//! open) and serves each connection exactly like Firefox's pipe. [`Link::open`] connects to it
//! when a bridge runs, so `harbor-bridge servers stop ID` stops the server Firefox's bridge runs;
//! with no bridge running it opens the bridge in-process instead. Either way the caller speaks
//! the same protocol, and large replies are joined from their chunks.
//!
//! Windows has no control socket yet: there the command line always works in-process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use harbor_protocol::{ErrorObject, Message, RequestId};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::nm::frame::{read_frame, write_frame, Frame, MAX_INCOMING_FRAME};
use crate::Bridge;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("bridge.sock")
}

/// Serves the control socket until the returned task is aborted. Returns `None` when another
/// bridge already listens on it (a second Firefox profile on the same data folder).
#[cfg(unix)]
pub async fn listen(bridge: Arc<Bridge>) -> Option<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(&bridge.data_dir);
    if tokio::net::UnixStream::connect(&path).await.is_ok() {
        tracing::warn!(path = %path.display(), "another bridge owns the control socket; the command line will talk to it");
        return None;
    }
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot open the control socket; the command line will work in-process");
            return None;
        }
    };
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    Some(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let bridge = bridge.clone();
            tokio::spawn(async move {
                let (reader, writer) = stream.into_split();
                let _ = bridge.serve(reader, writer, std::future::pending()).await;
            });
        }
    }))
}

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
        let id = self.next_id;
        self.next_id += 1;
        write_frame(&mut self.writer, json!({"id": id, "method": method, "params": params}).to_string().as_bytes())
            .await?;
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
                Some(Message::Event { id: RequestId::Number(n), event }) if n == id => on_event(&event),
                Some(Message::Reply { id: Some(RequestId::Number(n)), outcome }) if n == id => return Ok(outcome),
                _ => {}
            }
        }
    }

    pub async fn call(&mut self, method: &str, params: Value) -> Result<Result<Value, ErrorObject>> {
        self.call_with(method, params, |_| {}).await
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
