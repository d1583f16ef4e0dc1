//! The method → handler table.
//!
//! A [`Router`] maps each method name to an async handler and its [`Access`]. Handlers get a
//! [`Call`]: the params, the caller context, an [`EventSink`] for stream events and a
//! cancellation token (set when the caller cancels or the connection ends). They return the
//! result value or an [`ErrorObject`]; the session turns either into the final reply.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use harbor_protocol::api::Method;
use harbor_protocol::{Caller, ErrorCode, ErrorObject, Message, RequestId};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::nm::Outbox;

pub use harbor_protocol::api::Access;

/// One running request, as its handler sees it.
pub struct Call {
    pub params: Value,
    pub caller: Caller,
    pub events: EventSink,
    pub cancel: CancellationToken,
}

/// Sends stream events for one request. Events always reach the extension before the request's
/// final reply, because both go through the same ordered outbox.
#[derive(Clone)]
pub struct EventSink {
    id: RequestId,
    outbox: Outbox,
}

impl EventSink {
    pub(crate) fn new(id: RequestId, outbox: Outbox) -> Self {
        EventSink { id, outbox }
    }

    /// Sends one event; `false` when the extension is gone.
    pub async fn send(&self, event: Value) -> bool {
        self.outbox.send(Message::Event { id: self.id.clone(), event }).await
    }

    /// Sends one of a method's typed events.
    pub async fn emit<T: serde::Serialize>(&self, event: &T) -> bool {
        match serde_json::to_value(event) {
            Ok(event) => self.send(event).await,
            Err(error) => {
                tracing::error!("an event did not encode: {error}");
                false
            }
        }
    }
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, ErrorObject>> + Send>>;
type Handler = Arc<dyn Fn(Call) -> HandlerFuture + Send + Sync>;

#[derive(Clone)]
pub struct Route {
    pub access: Access,
    handler: Handler,
}

impl Route {
    pub fn run(&self, call: Call) -> HandlerFuture {
        (self.handler)(call)
    }
}

/// The table of every method the bridge answers.
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<&'static str, Route>,
}

impl Router {
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds a method. Registering the same name twice is a programming error.
    pub fn route<F, Fut>(mut self, method: &'static str, access: Access, handler: F) -> Self
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |call| Box::pin(handler(call)));
        let previous = self.routes.insert(method, Route { access, handler });
        assert!(previous.is_none(), "method {method} registered twice");
        self
    }

    /// Adds method `M` of the contract: its params are decoded (or refused with
    /// `ERR_INVALID_REQUEST` saying what is wrong) before `handler` runs, and its result encoded.
    /// Written `.method::<M, _>(handler)`.
    pub fn method<M, Fut>(self, handler: impl Fn(M::Params, Call) -> Fut + Send + Sync + 'static) -> Self
    where
        M: Method,
        Fut: Future<Output = Result<M::Result, ErrorObject>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.route(M::NAME, M::ACCESS, move |mut call: Call| {
            let handler = handler.clone();
            async move {
                let params = decode::<M::Params>(M::NAME, std::mem::take(&mut call.params))?;
                let result = handler(params, call).await?;
                serde_json::to_value(result)
                    .map_err(|e| ErrorObject::new(ErrorCode::Internal, format!("cannot encode the answer: {e}")))
            }
        })
    }

    pub fn get(&self, method: &str) -> Option<&Route> {
        self.routes.get(method)
    }

    /// Every method name, sorted: for documentation checks and `doctor`.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.routes.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

/// Decodes a method's params (absent params read as `{}`), or says what is wrong with them.
pub fn decode<T: serde::de::DeserializeOwned>(method: &str, params: Value) -> Result<T, ErrorObject> {
    let params = if params.is_null() { Value::Object(Default::default()) } else { params };
    serde_json::from_value(params).map_err(|e| ErrorObject::invalid(format!("invalid params for {method}: {e}")))
}
