//! A server's requests to a caller in another process that answers them itself — an app behind
//! `harbor-bridge mcp`, or the command line's `call`: the running bridge relays each as an `ask`
//! event of the `gateway.call` or `tools.call` that waits, and the answer comes back as
//! `gateway.answer` or `tools.answer`. An answer that does not come within [`ASK_TIMEOUT`], or a
//! caller that goes away, fails the server's request; an answer for no open ask is refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use harbor_protocol::api::tools::{AskAnswer, ToolEvent};
use harbor_protocol::ErrorObject;
use rmcp::model::ErrorCode;
use rmcp::ErrorData;
use serde_json::Value;
use tokio::sync::oneshot;

use super::askers::{Asker, ServerAsk};
use crate::rpc::EventSink;

/// How long a caller has to answer a server's request (a person may be filling in a form).
pub const ASK_TIMEOUT: Duration = Duration::from_secs(600);

type Pending = Mutex<HashMap<u64, oneshot::Sender<Result<Value, ErrorData>>>>;

/// The asks relayed and not answered yet.
#[derive(Default)]
pub struct Relay {
    pending: Pending,
    next: AtomicU64,
}

impl Relay {
    /// An asker that relays to the caller behind one `gateway.call` or `tools.call`.
    pub fn asker(self: &Arc<Self>, events: EventSink, answers: Vec<String>) -> Arc<dyn Asker> {
        Arc::new(Relayed { relay: self.clone(), events, answers })
    }

    /// The caller's answer to ask `answer.ask_id`.
    pub fn answer(&self, answer: AskAnswer) -> Result<(), ErrorObject> {
        let waiting = self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&answer.ask_id);
        let Some(waiting) = waiting else {
            return Err(ErrorObject::invalid(format!("no server request {} waits for an answer", answer.ask_id)));
        };
        let outcome = match (answer.result, answer.error) {
            (_, Some(error)) => Err(ErrorData::new(ErrorCode(error.code), error.message, None)),
            (Some(result), None) => Ok(result),
            (None, None) => {
                Err(ErrorData::internal_error("the caller answered with neither a result nor an error", None))
            }
        };
        let _ = waiting.send(outcome);
        Ok(())
    }
}

struct Relayed {
    relay: Arc<Relay>,
    events: EventSink,
    answers: Vec<String>,
}

impl Asker for Relayed {
    fn answers(&self, method: &str) -> bool {
        self.answers.iter().any(|m| m == method)
    }

    fn ask(&self, ask: ServerAsk) -> BoxFuture<'static, Result<Value, ErrorData>> {
        let (relay, events) = (self.relay.clone(), self.events.clone());
        Box::pin(async move {
            let ask_id = relay.next.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            relay.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(ask_id, tx);
            let method = ask.method;
            events.emit(&ToolEvent::Ask { ask_id, method: method.to_owned(), params: ask.params }).await;
            let outcome = tokio::time::timeout(ASK_TIMEOUT, rx).await;
            relay.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&ask_id);
            match outcome {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(ErrorData::internal_error(format!("{method}: the caller went away"), None)),
                Err(_) => Err(ErrorData::internal_error(
                    format!("{method}: the caller did not answer within {} s", ASK_TIMEOUT.as_secs()),
                    None,
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_for_no_open_ask_is_refused() {
        let relay = Relay::default();
        let stray = AskAnswer { ask_id: 7, result: Some(Value::Null), error: None };
        let refused = relay.answer(stray).unwrap_err();
        assert!(refused.message.contains("no server request 7"), "{refused:?}");
    }
}
