//! The gateway's MCP server face: rmcp's `ServerHandler` over a [`Backend`], for clients on
//! 2026-07-28 (stateless: `server/discover`, `subscriptions/listen`) and on 2025-11-25 or
//! 2025-06-18 (the `initialize` handshake and a session) alike — rmcp negotiates, and drops what
//! an older revision does not have (`resultType`) from the answers.
//!
//! Tools are offered under their model-safe names (`serverId__toolName`, which every client
//! accepts); calls may use either form. Over stdio the client is fixed by `--client`; over HTTP
//! the key decides, and the `http` layer hands the client's name (and whether it already counted
//! the call against the rate limit) to the handler in the request's extensions. Resources,
//! prompts and completions come from the servers the client may use (see [`super::forward`]);
//! a call's progress reports reach the client under its own progress token. A 2026-07-28 app
//! that declares the Tasks extension gets a task for a call still running after a second
//! (see [`super::tasks`]). When what a client
//! may see changes, it gets `list_changed` (on a 2026-07-28 `subscriptions/listen` stream, or
//! on its session), and `resources/updated` for the resources it subscribed to.
//!
//! Errors: an unknown or disallowed tool is a JSON-RPC `invalid params` error (the spec's "unknown
//! tool"); an unknown resource is MCP's -32002; a rate-limited call is error [`RATE_LIMITED`]
//! with `retryAfterSeconds`; a tool that fails, times out or whose server is down gives an
//! `isError` result naming the cause, so the model reading it learns what happened.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use harbor_protocol::api::forward::{CompleteRequest, Forward, PromptRequest, ResourceUri};
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams, GetSkillResult, GetTaskParams,
    GetTaskResult, Implementation, InputRequest, InputRequests, InputRequiredResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ProtocolVersion, ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult,
    ReadResourceRequestParams, ReadResourceResponse, ResultType, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext, SubscriptionSendError};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::rounds::{Outcome, Rounds};
use super::tasks::{AppTasks, TASK_AFTER};
use super::{Backend, Event, Reach};
use crate::mcp::askers::{self, Asker, ServerAsk};
use crate::mcp::client::{relaying, Progress, PROGRESS_QUEUE};
use crate::mcp::registry::ToolEntry;

/// The JSON-RPC error code of a call refused by the client's rate limit: HTTP's 429, outside
/// every band JSON-RPC and MCP reserve (-32768..-32000), as application errors must be.
pub const RATE_LIMITED: i32 = 429;

/// MCP's code for a resource that is not there.
const RESOURCE_NOT_FOUND: i32 = -32002;

/// Who is calling, put into an HTTP request's extensions by the `http` layer.
#[derive(Clone, Debug)]
pub struct Caller {
    pub client: String,
    /// The HTTP layer counted this request against the rate limit already.
    pub admitted: bool,
    /// The HTTP request's span, when traces are exported.
    pub trace: Option<crate::telemetry::SpanContext>,
}

impl Caller {
    /// The span a call's spans go under: the request's own `_meta.traceparent` (SEP-414; rmcp
    /// hands a request's `_meta` over as the context's), else the HTTP request's.
    fn trace_of(&self, context: &RequestContext<RoleServer>) -> Option<crate::telemetry::SpanContext> {
        context.meta.get_traceparent().and_then(crate::telemetry::SpanContext::parse).or(self.trace)
    }
}

/// One MCP session's handler.
pub struct Face<B> {
    backend: Arc<B>,
    /// The client, when the transport fixes it (stdio).
    client: Option<String>,
    /// What this 2025-era session asked to hear (2026-07-28 clients say it per stream or request).
    session: Arc<Session>,
    /// 2026-07-28 calls waiting for their apps' answers, shared by every session of the face.
    rounds: Arc<Rounds>,
    /// The apps' tasks, shared likewise.
    tasks: Arc<AppTasks>,
}

/// A 2025-era session's own state.
#[derive(Default)]
struct Session {
    /// The resources it subscribed to with `resources/subscribe`.
    subscribed: Mutex<HashSet<String>>,
    /// The least severe log level it wants (`logging/setLevel`); every message until it sets one.
    level: Mutex<Option<u8>>,
}

impl<B> Clone for Face<B> {
    fn clone(&self) -> Self {
        Face {
            backend: self.backend.clone(),
            client: self.client.clone(),
            session: self.session.clone(),
            rounds: self.rounds.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

impl<B: Backend> Face<B> {
    pub fn new(backend: Arc<B>, client: Option<String>) -> Face<B> {
        Face { backend, client, session: Arc::default(), rounds: Arc::default(), tasks: Arc::default() }
    }

    /// Keeps 2026-07-28 calls between rounds in `rounds`, and tasks in `tasks` (one of each for
    /// every session of an endpoint: a stateless app's next request may come on any).
    pub fn sharing(mut self, rounds: Arc<Rounds>, tasks: Arc<AppTasks>) -> Face<B> {
        self.rounds = rounds;
        self.tasks = tasks;
        self
    }

    fn caller(&self, extensions: &rmcp::model::Extensions) -> Result<Caller, ErrorData> {
        if let Some(client) = &self.client {
            return Ok(Caller { client: client.clone(), admitted: false, trace: None });
        }
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| ErrorData::invalid_request("no gateway client: send your key as a bearer token", None))
    }

    /// One forwarded request, decoded into its MCP result type.
    async fn forward<T: serde::de::DeserializeOwned>(
        &self,
        request: Forward,
        context: &RequestContext<RoleServer>,
    ) -> Result<T, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let mut value =
            self.backend.forward(&caller.client, request, context.ct.clone()).await.map_err(protocol_error)?;
        // Servers on older revisions send no `resultType`; 2026-07-28 clients need it, and rmcp
        // drops it again for clients on older revisions.
        if let Some(result) = value.as_object_mut() {
            result.entry("resultType").or_insert_with(|| json!("complete"));
        }
        serde_json::from_value(value)
            .map_err(|e| ErrorData::internal_error(format!("the server's answer did not decode: {e}"), None))
    }
}

/// What the gateway serves, and so advertises: exactly these.
fn capabilities() -> ServerCapabilities {
    serde_json::from_value(json!({
        "tools": { "listChanged": true },
        "resources": { "listChanged": true, "subscribe": true },
        "prompts": { "listChanged": true },
        "completions": {},
        "logging": {},
        "extensions": {
            // The Skills extension (SEP-2640): the skills of the servers an app may use whole,
            // and their folders.
            "io.modelcontextprotocol/skills": { "directoryRead": true },
            // The Tasks extension (SEP-2663): long calls of the 2026-07-28 apps that declare it.
            "io.modelcontextprotocol/tasks": {},
        },
    }))
    .expect("the gateway's capabilities are MCP's shape")
}

impl<B: Backend> ServerHandler for Face<B> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(capabilities())
            .with_server_info(Implementation::new("harbor", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Harbor's MCP servers through one endpoint. Tool and prompt names are \
                 serverId__name; the user chooses in Harbor which servers and tools this app may use.",
            )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(caller) = self.caller(&context.extensions) else { return };
        let told =
            Told { backend: self.backend.clone(), client: caller.client, session: self.session.clone(), servers: None };
        tokio::spawn(told.run(self.backend.events(), context.peer.clone()));
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // The level is this session's filter: the servers behind are shared with other callers.
        *self.session.level.lock().unwrap_or_else(|p| p.into_inner()) = Some(request.level as u8);
        Ok(())
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        // rmcp keeps what was asked for and advertised; resource URIs are taken as asked.
        Some(requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut events = self.backend.events();
        // The servers behind are subscribed to what the client named (and allowed).
        let uris = context.accepted().resource_subscriptions.clone().unwrap_or_default();
        for uri in uris {
            self.forward::<Value>(Forward::ResourcesSubscribe(ResourceUri { uri }), context.request_context()).await?;
        }
        loop {
            let event = tokio::select! {
                () = context.cancelled() => return Ok(()),
                event = events.recv() => event,
            };
            let sink = context.sink();
            let sent = match event {
                Ok(Event::Tools) | Err(broadcast::error::RecvError::Lagged(_)) => sink.notify_tool_list_changed().await,
                Ok(Event::Resources) => sink.notify_resource_list_changed().await,
                Ok(Event::Prompts) => sink.notify_prompt_list_changed().await,
                Ok(Event::ResourceUpdated(uri)) => sink.notify_resource_updated(uri).await,
                // Log messages reach 2026-07-28 clients on the requests that opt in, not here.
                Ok(Event::Message { .. }) => continue,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            };
            if matches!(sent, Err(SubscriptionSendError::SubscriptionClosed | SubscriptionSendError::Service(_))) {
                return Ok(());
            }
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let tools = self.backend.tools(&caller.client).await.map_err(protocol_error)?;
        Ok(ListToolsResult::with_all_items(tools.iter().filter_map(tool).collect()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        if context.protocol_version().is_some_and(|v| v >= ProtocolVersion::V_2026_07_28) {
            return self.call_in_rounds(caller, request, context).await;
        }
        let token = context.meta.get_progress_token();
        let (progress, reports) = mpsc::channel(PROGRESS_QUEUE);
        let trace = caller.trace_of(&context);
        let running = crate::telemetry::within(
            trace,
            self.backend.call(
                &caller.client,
                &request.name,
                request.arguments,
                caller.admitted,
                context.ct.clone(),
                Reach { progress: token.is_some().then_some(progress), asker: SessionAsker::of(&context.peer) },
            ),
        );
        let called = relaying(running, reports, |report| notify_progress(&context, report)).await;
        call_outcome(called)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.forward(Forward::ResourcesList, &context).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.forward(Forward::ResourceTemplatesList, &context).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let read = Forward::ResourcesRead(ResourceUri { uri: request.uri });
        Ok(ReadResourceResponse::Complete(self.forward(read, &context).await?))
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let uri = request.uri;
        self.forward::<Value>(Forward::ResourcesSubscribe(ResourceUri { uri: uri.clone() }), &context).await?;
        self.session.subscribed.lock().unwrap_or_else(|p| p.into_inner()).insert(uri);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // The server stays subscribed for the others who may be; this session hears no more.
        self.session.subscribed.lock().unwrap_or_else(|p| p.into_inner()).remove(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.forward(Forward::PromptsList, &context).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let get = Forward::PromptsGet(PromptRequest { name: request.name, arguments: request.arguments });
        Ok(GetPromptResponse::Complete(self.forward(get, &context).await?))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        // The same MCP params, with a reference the gateway can route.
        let complete: CompleteRequest = serde_json::to_value(&request)
            .and_then(serde_json::from_value)
            .map_err(|e| ErrorData::invalid_params(format!("the completion's params: {e}"), None))?;
        self.forward(Forward::Complete(complete), &context).await
    }

    async fn list_skills(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        self.forward(Forward::SkillsList, &context).await
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        self.forward(Forward::SkillsGet(ResourceUri { uri: request.uri }), &context).await
    }

    async fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        self.forward(Forward::ResourcesDirectoryRead(ResourceUri { uri: request.uri }), &context).await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let task = self.tasks.get(&caller.client, &request.task_id).map_err(protocol_error)?;
        Ok(GetTaskResult::new(task))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&context.extensions)?;
        self.tasks.update(&caller.client, &request.task_id, request.input_responses).map_err(protocol_error)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&context.extensions)?;
        self.tasks.cancel(&caller.client, &request.task_id).map_err(protocol_error)
    }
}

impl<B: Backend> Face<B> {
    /// A 2026-07-28 app's `tools/call`: the call runs, and a server's request to the app (when
    /// the app declared it takes such requests) makes the answer an input-required result;
    /// the app's retry with `requestState` resumes the same call (see `rounds`).
    async fn call_in_rounds(
        &self,
        caller: Caller,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let emit = |report| notify_progress(&context, report);
        // An app that takes tasks gets one for a call still running after a while.
        let tasks = context.client_capabilities().is_some_and(|c| c.supports_tasks());
        let window = (tasks && self.tasks.has_room(&caller.client)).then_some(TASK_AFTER);
        let outcome = match request.request_state.as_deref() {
            Some(state) => {
                let answers = request.input_responses.clone().unwrap_or_default();
                self.rounds.resume(&caller.client, state, answers, &context.ct, window, emit).await
            }
            None => {
                let capabilities = context.client_capabilities().unwrap_or_default();
                let answers: Vec<&'static str> = [
                    (askers::SAMPLING, capabilities.sampling.is_some()),
                    (askers::ELICITATION, capabilities.elicitation.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, declared)| declared.then_some(method))
                .collect();
                let (backend, client, admitted) = (self.backend.clone(), caller.client.clone(), caller.admitted);
                let trace = caller.trace_of(&context);
                let (name, arguments) = (request.name.to_string(), request.arguments);
                // The call runs in a task of its own between rounds: the span goes with it.
                let call = move |asker, progress, stop| async move {
                    let reach = Reach { progress: Some(progress), asker: Some(asker) };
                    crate::telemetry::within(trace, backend.call(&client, &name, arguments, admitted, stop, reach))
                        .await
                };
                self.rounds.start(&caller.client, answers, &context.ct, window, call, emit).await
            }
        };
        match outcome {
            Outcome::Done(called) => call_outcome(called),
            Outcome::Running(running) => Ok(self.tasks.adopt(&caller.client, running, call_outcome).into()),
            Outcome::Input { requests, state } => {
                let requests: InputRequests = requests
                    .into_iter()
                    .map(|(key, asked)| serde_json::from_value::<InputRequest>(asked).map(|asked| (key, asked)))
                    .collect::<Result<_, _>>()
                    .map_err(|e| ErrorData::internal_error(format!("the server's request does not fit: {e}"), None))?;
                Ok(InputRequiredResult::new(Some(requests), Some(state)).into())
            }
        }
    }
}

/// A call's result as the app gets it: `resultType` added (a server on an older revision sends
/// none; a 2026-07-28 app needs it, and rmcp drops it again for an older one), and a failure of
/// the server or the tool as a tool error the model can read; the rest as protocol errors.
fn call_outcome(called: Result<Value, ErrorObject>) -> Result<CallToolResponse, ErrorData> {
    match called {
        Ok(value) => serde_json::from_value::<CallToolResult>(value)
            .map(|mut result| {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                result.into()
            })
            .map_err(|e| ErrorData::internal_error(format!("the server's answer did not decode: {e}"), None)),
        Err(error) => match error.code {
            ErrorCode::ServerUnavailable | ErrorCode::ToolTimeout | ErrorCode::ToolFailed => {
                Ok(CallToolResult::error(vec![ContentBlock::text(format!("{}: {}", error.code, error.message))]).into())
            }
            _ => Err(protocol_error(error)),
        },
    }
}

/// A server's progress report, to the app under the token of its request (none without one).
async fn notify_progress(context: &RequestContext<RoleServer>, report: Progress) {
    let Some(token) = context.meta.get_progress_token() else { return };
    let mut params = json!({ "progressToken": token, "progress": report.progress });
    if let Some(total) = report.total {
        params["total"] = json!(total);
    }
    if let Some(message) = report.message {
        params["message"] = json!(message);
    }
    if let Ok(params) = serde_json::from_value::<ProgressNotificationParam>(params) {
        let _ = context.peer.notify_progress(params).await;
    }
}

/// A 2025-era session's app, answering the sampling and elicitation requests of the server its
/// call waits on (2026-07-28 has no server-to-client requests: its peers get none).
struct SessionAsker {
    peer: rmcp::service::Peer<RoleServer>,
    sampling: bool,
    elicitation: bool,
}

impl SessionAsker {
    fn of(peer: &rmcp::service::Peer<RoleServer>) -> Option<Arc<dyn Asker>> {
        let info = peer.peer_info()?;
        let capabilities = &info.capabilities;
        let (sampling, elicitation) = (capabilities.sampling.is_some(), capabilities.elicitation.is_some());
        (sampling || elicitation).then(|| Arc::new(SessionAsker { peer: peer.clone(), sampling, elicitation }) as _)
    }
}

impl Asker for SessionAsker {
    fn answers(&self, method: &str) -> bool {
        match method {
            askers::SAMPLING => self.sampling,
            askers::ELICITATION => self.elicitation,
            _ => false,
        }
    }

    fn ask(&self, ask: ServerAsk) -> futures::future::BoxFuture<'static, Result<Value, ErrorData>> {
        let peer = self.peer.clone();
        Box::pin(async move {
            let request: rmcp::model::ServerRequest =
                serde_json::from_value(json!({ "method": ask.method, "params": ask.params }))
                    .map_err(|e| ErrorData::invalid_params(format!("{}: {e}", ask.method), None))?;
            match peer.send_request(request).await {
                Ok(answer) => Ok(serde_json::to_value(answer).unwrap_or_default()),
                Err(rmcp::ServiceError::McpError(error)) => Err(error),
                Err(other) => {
                    Err(ErrorData::internal_error(format!("{}: the app did not answer: {other}", ask.method), None))
                }
            }
        })
    }
}

/// What a 2025-era session hears, for as long as it is there.
struct Told<B> {
    backend: Arc<B>,
    client: String,
    session: Arc<Session>,
    /// The servers whose messages it may hear, asked for once and again after any change to the
    /// catalog or the client's allowlist (over `harbor-bridge mcp` each ask is a round trip).
    servers: Option<Vec<String>>,
}

impl<B: Backend> Told<B> {
    /// Tells the session what changed, the updates of what it subscribed to, and the log
    /// messages of the servers it may use at its level, until it goes away. (MCP 2026-07-28
    /// deprecates logging, SEP-2577; 2025-era sessions still have it.)
    #[allow(deprecated)]
    async fn run(mut self, mut events: broadcast::Receiver<Event>, peer: rmcp::service::Peer<RoleServer>) {
        loop {
            let event = events.recv().await;
            if !matches!(event, Ok(Event::Message { .. } | Event::ResourceUpdated(_))) {
                self.servers = None;
            }
            let sent = match event {
                Ok(Event::Tools) | Err(broadcast::error::RecvError::Lagged(_)) => peer.notify_tool_list_changed().await,
                Ok(Event::Resources) => peer.notify_resource_list_changed().await,
                Ok(Event::Prompts) => peer.notify_prompt_list_changed().await,
                Ok(Event::ResourceUpdated(uri)) => {
                    if !self.session.subscribed.lock().unwrap_or_else(|p| p.into_inner()).contains(&uri) {
                        continue;
                    }
                    match serde_json::from_value(json!({ "uri": uri })) {
                        Ok(params) => peer.notify_resource_updated(params).await,
                        Err(_) => continue,
                    }
                }
                Ok(Event::Message { server, message }) => match self.message(&server, message).await {
                    Some(params) => peer.notify_logging_message(params).await,
                    None => continue,
                },
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if sent.is_err() {
                return;
            }
        }
    }

    /// `server`'s log message, if this session may hear that server and wants its level.
    #[allow(deprecated)]
    async fn message(&mut self, server: &str, message: Value) -> Option<rmcp::model::LoggingMessageNotificationParam> {
        let params: rmcp::model::LoggingMessageNotificationParam = serde_json::from_value(message).ok()?;
        let wanted = *self.session.level.lock().unwrap_or_else(|p| p.into_inner());
        if wanted.is_some_and(|least| (params.level as u8) < least) {
            return None;
        }
        if self.servers.is_none() {
            self.servers = Some(self.backend.servers(&self.client).await.ok()?);
        }
        self.servers.as_ref()?.iter().any(|s| s == server).then_some(params)
    }
}

/// A catalog entry as an MCP tool, under its model-safe name.
fn tool(entry: &ToolEntry) -> Option<Tool> {
    let mut value = json!({
        "name": entry.model_name,
        "description": entry.description,
        "inputSchema": entry.input_schema,
    });
    if let Some(title) = &entry.title {
        value["title"] = Value::String(title.clone());
    }
    if let Some(annotations) = &entry.annotations {
        value["annotations"] = annotations.clone();
    }
    serde_json::from_value(value).ok()
}

/// A bridge error's `data` for a JSON-RPC error: its own, with its Harbor code as `code`.
pub fn error_data(error: &ErrorObject) -> Value {
    let mut data = error.data.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
    data["code"] = json!(error.code.as_str());
    data
}

/// A bridge error as a JSON-RPC error, its Harbor code in `data.code`.
fn protocol_error(error: ErrorObject) -> ErrorData {
    let code = match error.code {
        ErrorCode::RateLimited => rmcp::model::ErrorCode(RATE_LIMITED),
        ErrorCode::ToolNotFound if error.data.as_ref().is_some_and(|d| d.get("uri").is_some()) => {
            rmcp::model::ErrorCode(RESOURCE_NOT_FOUND)
        }
        ErrorCode::ToolNotFound | ErrorCode::ToolNotAllowed | ErrorCode::InvalidRequest => {
            rmcp::model::ErrorCode::INVALID_PARAMS
        }
        ErrorCode::PermissionDenied => rmcp::model::ErrorCode::INVALID_REQUEST,
        // MCP's own code, with its `elicitations` in `data`, for an app that shows the pages.
        ErrorCode::UrlElicitationRequired => rmcp::model::ErrorCode(crate::mcp::registry::URL_ELICITATION_REQUIRED),
        _ => rmcp::model::ErrorCode::INTERNAL_ERROR,
    };
    let data = error_data(&error);
    ErrorData::new(code, error.message, Some(data))
}
