//! The single writer of stdout.
//!
//! [`spawn_writer`] starts the task that owns the output pipe and returns an [`Outbox`]: every
//! part of the bridge that answers Firefox sends a [`Message`] into it. The task serializes each
//! message, splits it into chunk frames when it is too large, and writes the frames of one
//! message back to back, so chunks of different messages never interleave.

use harbor_protocol::{Message, HOST_MESSAGE_LIMIT};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::chunk;
use super::frame::write_frame;

/// The sending side of the writer task. Cloned into every request task; the writer stops once
/// every clone is dropped and the queue is drained.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Message>,
}

impl Outbox {
    /// Queues a message. Returns `false` when the writer has stopped (the pipe is gone), in
    /// which case nobody is left to read it.
    pub async fn send(&self, message: Message) -> bool {
        self.tx.send(message).await.is_ok()
    }
}

/// Starts the writer task over `out`. The task ends when all [`Outbox`] clones are dropped, or
/// at the first write error (Firefox closed the pipe).
pub fn spawn_writer<W>(mut out: W) -> (Outbox, JoinHandle<()>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Message>(1024);
    let task = tokio::spawn(async move {
        let mut seq = 0u64;
        while let Some(message) = rx.recv().await {
            let text = message.to_json().to_string();
            let frames = chunk::frames(text, HOST_MESSAGE_LIMIT, seq);
            if frames.len() > 1 {
                seq += 1;
            }
            for frame in frames {
                if let Err(error) = write_frame(&mut out, frame.as_bytes()).await {
                    tracing::warn!(%error, "output pipe closed; dropping outgoing messages");
                    return;
                }
            }
        }
    });
    (Outbox { tx }, task)
}
