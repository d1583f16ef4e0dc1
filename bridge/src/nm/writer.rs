//! The single writer of stdout.
//!
//! [`spawn_writer`] starts the task that owns the output pipe and returns an [`Outbox`]: every
//! part of the bridge that answers Firefox sends a [`Message`] into it. The task serializes each
//! message and splits it into chunk frames when it is too large.
//!
//! Chunks of different messages interleave, one frame of each large message in turn, and a small
//! message goes out between two frames, so one large reply (a 40 MiB result) cannot hold up
//! every small answer behind it. Messages of one request (its events, then its final reply) and
//! notifications keep their order: a message waits behind any large message of its own stream
//! that is still going out. The background joins chunks by their `seq`, so interleaving is safe.

use std::collections::VecDeque;

use harbor_protocol::{Message, RequestId, HOST_MESSAGE_LIMIT};
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

/// Which messages must keep their order among themselves.
#[derive(Clone, Debug, PartialEq)]
enum Stream {
    Request(RequestId),
    Notifications,
    /// A reply without a readable id: ordered with nothing.
    Alone,
}

fn stream_of(message: &Message) -> Stream {
    match message {
        Message::Reply { id: Some(id), .. } | Message::Event { id, .. } => Stream::Request(id.clone()),
        Message::Notify { .. } => Stream::Notifications,
        Message::Reply { id: None, .. } | Message::Chunk(_) => Stream::Alone,
    }
}

/// Frames still to write, per stream, taken in turn.
#[derive(Default)]
struct Queue {
    streams: VecDeque<(Stream, VecDeque<String>)>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, message: Message) {
        let stream = stream_of(&message);
        let frames = chunk::frames(message.to_text(), HOST_MESSAGE_LIMIT, self.seq);
        if frames.len() > 1 {
            self.seq += 1;
        }
        match self.streams.iter_mut().find(|(s, _)| *s == stream && stream != Stream::Alone) {
            Some((_, waiting)) => waiting.extend(frames),
            // A small message of a stream with nothing pending goes ahead of the large ones.
            None if frames.len() == 1 => self.streams.push_front((stream, frames.into())),
            None => self.streams.push_back((stream, frames.into())),
        }
    }

    /// The next frame: one from the stream at the front, which then goes to the back.
    fn next(&mut self) -> Option<String> {
        let (stream, mut frames) = self.streams.pop_front()?;
        let frame = frames.pop_front();
        if !frames.is_empty() {
            self.streams.push_back((stream, frames));
        }
        frame
    }

    fn is_empty(&self) -> bool {
        self.streams.is_empty()
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
        let mut queue = Queue::default();
        loop {
            if queue.is_empty() {
                match rx.recv().await {
                    Some(message) => queue.push(message),
                    None => return,
                }
            }
            // Whatever else has arrived takes its turn before the next frame goes out.
            while let Ok(message) = rx.try_recv() {
                queue.push(message);
            }
            let Some(frame) = queue.next() else { continue };
            if let Err(error) = write_frame(&mut out, frame.as_bytes()).await {
                tracing::warn!(%error, "output pipe closed; dropping outgoing messages");
                return;
            }
        }
    });
    (Outbox { tx }, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn reply(id: i64, result: Value) -> Message {
        Message::Reply { id: Some(RequestId::Number(id)), outcome: Ok(result) }
    }

    fn event(id: i64, event: Value) -> Message {
        Message::Event { id: RequestId::Number(id), event }
    }

    /// What each frame is: ("chunk", seq) or ("id", id).
    fn drain(queue: &mut Queue) -> Vec<(String, i64)> {
        std::iter::from_fn(|| queue.next())
            .map(|frame| {
                let v: Value = serde_json::from_str(&frame).unwrap();
                match v.get("chunk") {
                    Some(chunk) => ("chunk".to_owned(), chunk["seq"].as_i64().unwrap()),
                    None => ("id".to_owned(), v["id"].as_i64().unwrap()),
                }
            })
            .collect()
    }

    #[test]
    fn a_small_reply_overtakes_a_large_one_and_large_ones_interleave() {
        let big = "x".repeat(3 * HOST_MESSAGE_LIMIT);
        let mut queue = Queue::default();
        queue.push(reply(1, json!(big)));
        queue.push(reply(2, json!(big)));
        queue.next(); // the first frame of 1 is on its way
        queue.push(reply(3, json!("small")));
        let order = drain(&mut queue);
        assert_eq!(order[0], ("id".into(), 3), "the small reply goes next: {order:?}");
        let seqs: Vec<i64> = order[1..].iter().map(|(_, seq)| *seq).collect();
        assert_eq!(&seqs[..4], &[1, 0, 1, 0], "chunks of the two large replies take turns: {seqs:?}");
    }

    #[test]
    fn one_requests_messages_keep_their_order() {
        let big = "y".repeat(2 * HOST_MESSAGE_LIMIT);
        let mut queue = Queue::default();
        queue.push(event(7, json!({"token": big})));
        queue.push(reply(7, json!("done")));
        let order = drain(&mut queue);
        assert_eq!(order.last().unwrap(), &("id".to_owned(), 7), "the reply comes after its event: {order:?}");
        assert!(order[..order.len() - 1].iter().all(|(kind, _)| kind == "chunk"));
    }
}
