//! The session loop: one connection from Firefox (or a test), from first frame to end-of-file.
//!
//! [`serve`] reads frames, decodes them, and runs each request in its own task so a slow
//! request never delays a fast one. It keeps a cancellation token per request in flight:
//! `{"cancel": id}` fires it, and so does the end of the session. Every request gets exactly one
//! final reply — its result, its error, `ERR_ABORTED` when cancelled, or an envelope error when
//! it could not be decoded.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harbor_protocol::{Caller, CallerKind, ErrorCode, ErrorObject, Message, Request, RequestId};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::envelope::{decode, sniff_id, Inbound, Undecodable};
use super::notifier::Notification;
use super::router::{Access, Call, EventSink, Router};
use crate::nm::{read_frame, spawn_writer, Frame, Outbox, MAX_INCOMING_FRAME};

/// How long requests still running at the end of a session get to send their final reply.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Cancellation tokens of the requests in flight, by id.
type InFlight = Arc<Mutex<HashMap<RequestId, CancellationToken>>>;

/// Serves one session until the reader ends or `shutdown` completes. Returns an error only for
/// an I/O failure of the reader; bad input never ends the session.
pub async fn serve<R, W, S>(
    mut reader: R,
    writer: W,
    router: Arc<Router>,
    notifications: Option<broadcast::Receiver<Notification>>,
    shutdown: S,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
    S: Future<Output = ()>,
{
    let (outbox, writer_task) = spawn_writer(writer);
    let forwarder = notifications.map(|mut notifications| {
        let outbox = outbox.clone();
        tokio::spawn(async move {
            loop {
                match notifications.recv().await {
                    Ok(Notification { method, params }) => {
                        if !outbox.send(Message::Notify { notify: method.to_owned(), params }).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "the extension fell behind; some notifications were skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    });
    let session = Session {
        router,
        outbox,
        in_flight: InFlight::default(),
        ended: CancellationToken::new(),
        tasks: TaskTracker::new(),
    };
    tokio::pin!(shutdown);
    let outcome = loop {
        let frame = tokio::select! {
            frame = read_frame(&mut reader, MAX_INCOMING_FRAME) => frame,
            () = &mut shutdown => break Ok(()),
        };
        match frame {
            Ok(Frame::Message(bytes)) => session.accept(&bytes).await,
            Ok(Frame::Oversized { len, prefix }) => {
                let error = ErrorObject::invalid(
                    format!("message of {len} bytes is over the bridge's limit of {MAX_INCOMING_FRAME} bytes; send large data in smaller pieces"),
                );
                session.reply(sniff_id(&prefix), Err(error)).await;
            }
            Ok(Frame::Truncated { prefix }) => {
                if let Some(id) = sniff_id(&prefix) {
                    let error = ErrorObject::invalid("message was cut off: the pipe closed before it was complete");
                    session.reply(Some(id), Err(error)).await;
                }
                break Ok(());
            }
            Ok(Frame::Eof) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    session.finish().await;
    if let Some(forwarder) = forwarder {
        forwarder.abort();
        let _ = forwarder.await;
    }
    let _ = writer_task.await;
    outcome
}

struct Session {
    router: Arc<Router>,
    outbox: Outbox,
    in_flight: InFlight,
    /// Fired when the session ends; every request's token is a child of it.
    ended: CancellationToken,
    tasks: TaskTracker,
}

impl Session {
    async fn accept(&self, bytes: &[u8]) {
        match decode(bytes) {
            Ok(Inbound::Request(request)) => self.start(request).await,
            Ok(Inbound::Cancel(id)) => {
                if let Some(token) = self.in_flight.lock().expect("in-flight table").get(&id) {
                    token.cancel();
                }
            }
            Err(Undecodable { id, error }) => self.reply(id, Err(error)).await,
        }
    }

    async fn start(&self, request: Request) {
        let Request { id, method, params, caller } = request;
        let caller = caller.unwrap_or_else(Caller::extension);
        let Some(route) = self.router.get(&method) else {
            let error = ErrorObject::invalid(format!(
                "unknown method {method:?}; see PROTOCOL.md for the methods this bridge answers"
            ));
            return self.reply(Some(id), Err(error)).await;
        };
        if route.access == Access::Extension && caller.kind == CallerKind::Page {
            let error = ErrorObject::new(
                ErrorCode::PermissionDenied,
                format!("{method} is only available to Harbor's own pages"),
            );
            return self.reply(Some(id), Err(error)).await;
        }
        let token = self.ended.child_token();
        let fresh = {
            let mut in_flight = self.in_flight.lock().expect("in-flight table");
            let fresh = !in_flight.contains_key(&id);
            if fresh {
                in_flight.insert(id.clone(), token.clone());
            }
            fresh
        };
        if !fresh {
            let error = ErrorObject::invalid(format!(
                "request id {id} is already in use by a request in flight; use a fresh id"
            ));
            return self.reply(Some(id), Err(error)).await;
        }
        let call =
            Call { params, caller, events: EventSink::new(id.clone(), self.outbox.clone()), cancel: token.clone() };
        let running = route.run(call);
        let outbox = self.outbox.clone();
        let in_flight = self.in_flight.clone();
        self.tasks.spawn(async move {
            let outcome = tokio::select! {
                biased;
                () = token.cancelled() => Err(ErrorObject::new(ErrorCode::Aborted, "the request was cancelled")),
                outcome = running => outcome,
            };
            in_flight.lock().expect("in-flight table").remove(&id);
            if let Err(error) = &outcome {
                tracing::debug!(%method, code = %error.code, "request failed");
            }
            outbox.send(Message::Reply { id: Some(id), outcome }).await;
        });
    }

    async fn reply(&self, id: Option<RequestId>, outcome: Result<serde_json::Value, ErrorObject>) {
        self.outbox.send(Message::Reply { id, outcome }).await;
    }

    /// Cancels whatever still runs and gives it a moment to send its final reply.
    async fn finish(self) {
        self.ended.cancel();
        self.tasks.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tasks.wait()).await.is_err() {
            tracing::warn!("requests still running {DRAIN_TIMEOUT:?} after the session ended");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    fn router() -> Arc<Router> {
        Arc::new(
            Router::new()
                .route("test.slow", Access::Page, |_call| async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok(json!("slow"))
                })
                .route("test.fast", Access::Page, |_call| async { Ok(json!("fast")) })
                .route("test.private", Access::Extension, |_call| async { Ok(json!("secret")) })
                .route("test.stream", Access::Page, |call: Call| async move {
                    for n in 0..3 {
                        call.events.send(json!({"n": n})).await;
                    }
                    Ok(json!("done"))
                })
                .route("test.wait", Access::Page, |call: Call| async move {
                    call.cancel.cancelled().await;
                    Ok(json!("never sent: the session answers ERR_ABORTED first"))
                }),
        )
    }

    struct Peer {
        to_bridge: DuplexStream,
        from_bridge: DuplexStream,
        session: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    impl Peer {
        fn start() -> Peer {
            let (to_bridge, bridge_in) = tokio::io::duplex(1 << 20);
            let (bridge_out, from_bridge) = tokio::io::duplex(1 << 20);
            let session = tokio::spawn(serve(bridge_in, bridge_out, router(), None, std::future::pending()));
            Peer { to_bridge, from_bridge, session }
        }

        async fn send(&mut self, value: Value) {
            self.send_raw(value.to_string().as_bytes()).await;
        }

        async fn send_raw(&mut self, bytes: &[u8]) {
            self.to_bridge.write_all(&(bytes.len() as u32).to_ne_bytes()).await.unwrap();
            self.to_bridge.write_all(bytes).await.unwrap();
        }

        async fn recv(&mut self) -> Value {
            let mut len = [0u8; 4];
            self.from_bridge.read_exact(&mut len).await.unwrap();
            let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
            self.from_bridge.read_exact(&mut body).await.unwrap();
            serde_json::from_slice(&body).unwrap()
        }
    }

    #[tokio::test]
    async fn a_slow_request_does_not_delay_a_fast_one() {
        let mut peer = Peer::start();
        let started = Instant::now();
        peer.send(json!({"id": 1, "method": "test.slow"})).await;
        peer.send(json!({"id": 2, "method": "test.fast"})).await;
        let first = peer.recv().await;
        assert_eq!(first, json!({"id": 2, "result": "fast"}));
        assert!(started.elapsed() < Duration::from_millis(500), "fast reply took {:?}", started.elapsed());
        assert_eq!(peer.recv().await, json!({"id": 1, "result": "slow"}));
    }

    #[tokio::test]
    async fn unknown_methods_garbage_and_pages_calling_private_methods_all_get_answers() {
        let mut peer = Peer::start();
        peer.send(json!({"id": 1, "method": "no.such"})).await;
        assert_eq!(peer.recv().await["error"]["code"], "ERR_INVALID_REQUEST");
        peer.send_raw(b"{not json").await;
        let reply = peer.recv().await;
        assert_eq!(reply["id"], Value::Null);
        assert_eq!(reply["error"]["code"], "ERR_INVALID_REQUEST");
        peer.send(
            json!({"id": 3, "method": "test.private", "caller": {"kind": "page", "origin": "https://evil.test"}}),
        )
        .await;
        let reply = peer.recv().await;
        assert_eq!(reply["id"], 3);
        assert_eq!(reply["error"]["code"], "ERR_PERMISSION_DENIED");
        peer.send(json!({"id": 4, "method": "test.private"})).await;
        assert_eq!(peer.recv().await, json!({"id": 4, "result": "secret"}));
    }

    #[tokio::test]
    async fn events_come_before_the_final_reply() {
        let mut peer = Peer::start();
        peer.send(json!({"id": "s", "method": "test.stream"})).await;
        for n in 0..3 {
            assert_eq!(peer.recv().await, json!({"id": "s", "event": {"n": n}}));
        }
        assert_eq!(peer.recv().await, json!({"id": "s", "result": "done"}));
    }

    #[tokio::test]
    async fn cancel_answers_aborted_and_frees_the_id() {
        let mut peer = Peer::start();
        peer.send(json!({"id": 9, "method": "test.wait"})).await;
        peer.send(json!({"id": 9, "method": "test.fast"})).await;
        let duplicate = peer.recv().await;
        assert_eq!(duplicate["error"]["code"], "ERR_INVALID_REQUEST", "{duplicate}");
        peer.send(json!({"cancel": 9})).await;
        assert_eq!(peer.recv().await["error"]["code"], "ERR_ABORTED");
        peer.send(json!({"id": 9, "method": "test.fast"})).await;
        assert_eq!(peer.recv().await, json!({"id": 9, "result": "fast"}));
    }

    #[tokio::test]
    async fn end_of_input_ends_the_session_and_aborts_what_runs() {
        let mut peer = Peer::start();
        peer.send(json!({"id": 1, "method": "test.wait"})).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let Peer { to_bridge, mut from_bridge, session } = peer;
        drop(to_bridge);
        session.await.unwrap().unwrap();
        let mut rest = Vec::new();
        from_bridge.read_to_end(&mut rest).await.unwrap();
        let text = String::from_utf8_lossy(&rest);
        assert!(text.contains("ERR_ABORTED"), "the running request still got its final reply: {text}");
    }
}
