//! The bus: the sidebar's one link to the outside world, a runtime port to the background.
//!
//! [`Bus::connect`] opens the `harbor-ui` port. The background answers at once with the bridge's
//! connection status and sends every change after that; the bus keeps it in a signal. Requests
//! ([`Bus::request`]) carry an id and resolve with the bridge's reply; [`Bus::stream`] also hands
//! each of the request's stream events to a callback as it arrives, and [`Bus::cancel`] stops it.
//! Bridge notifications about
//! servers and tools bump [`Bus::revision`], which panels track to refetch: updates are pushed,
//! never polled. What servers ask the user arrives whole with each change ([`Bus::asks`]), and
//! so do the tasks running ([`Bus::tasks`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use futures_channel::oneshot;
use harbor_protocol::api::asks::{self, UserAsk};
use harbor_protocol::api::chat::PageContext;
use harbor_protocol::api::chat::{self as chat_api, SessionChanged};
use harbor_protocol::api::tasks::{self, TaskView};
use harbor_protocol::api::Method;
use harbor_protocol::{BridgeStatus, ConnectionState, ErrorCode, ErrorObject};
use leptos::prelude::*;
use serde_json::Value;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `runtime.Port`.
    type Port;

    #[wasm_bindgen(js_namespace = ["browser", "runtime"], js_name = connect)]
    fn runtime_connect(info: &JsValue) -> Port;

    #[wasm_bindgen(method, js_name = postMessage)]
    fn post_message(this: &Port, message: &JsValue);

    #[wasm_bindgen(method, getter = onMessage)]
    fn on_message(this: &Port) -> PortEvent;

    #[wasm_bindgen(method, getter = onDisconnect)]
    fn on_disconnect(this: &Port) -> PortEvent;

    /// `runtime.Port.onMessage` / `onDisconnect`.
    type PortEvent;

    #[wasm_bindgen(method, js_name = addListener)]
    fn add_listener(this: &PortEvent, listener: &js_sys::Function);

    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(message: &str);
}

type Reply = Result<Value, ErrorObject>;

/// What a streaming request does with each of its events.
type EventHandler = Box<dyn Fn(Value)>;

thread_local! {
    /// Requests waiting for their reply, by id. The sidebar runs on one thread.
    static PENDING: RefCell<HashMap<i64, oneshot::Sender<Reply>>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<i64> = const { Cell::new(1) };
    /// Stream-event handlers of requests in flight, by id.
    static ON_EVENT: RefCell<HashMap<i64, EventHandler>> = RefCell::new(HashMap::new());
    /// Page reads ("Ask about this page") waiting for the background, by id.
    static PAGE_READS: RefCell<HashMap<i64, oneshot::Sender<Result<PageContext, String>>>> = RefCell::new(HashMap::new());
}

/// The sidebar's port to the background. Cheap to copy into event handlers.
#[derive(Clone, Copy)]
pub struct Bus {
    port: StoredValue<Port, LocalStorage>,
    status: ReadSignal<BridgeStatus>,
    revision: ReadSignal<u64>,
    models: ReadSignal<u64>,
    logs: ReadSignal<u64>,
    active_tab: ReadSignal<Option<i64>>,
    asks: ReadSignal<Vec<UserAsk>>,
    tasks: ReadSignal<Vec<TaskView>>,
    chat_news: ReadSignal<Option<SessionChanged>>,
}

impl Bus {
    pub fn connect() -> Bus {
        let (status, set_status) = signal(BridgeStatus::default());
        let (revision, set_revision) = signal(0u64);
        let (models, set_models) = signal(0u64);
        let (logs, set_logs) = signal(0u64);
        let (active_tab, set_active_tab) = signal(None::<i64>);
        let (asks, set_asks) = signal(Vec::<UserAsk>::new());
        let (tasks, set_tasks) = signal(Vec::<TaskView>::new());
        let (chat_news, set_chat_news) = signal(None::<SessionChanged>);
        let info = js_sys::Object::new();
        js_sys::Reflect::set(&info, &"name".into(), &"harbor-ui".into()).expect("setting a property on a new object");
        let port = runtime_connect(&info);

        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
            let Some(value) = to_json(&message) else { return };
            if let Some(status) = value.get("status") {
                match serde_json::from_value::<BridgeStatus>(status.clone()) {
                    Ok(status) => {
                        if status.state == ConnectionState::Connected {
                            set_revision.update(|r| *r += 1);
                        }
                        set_status.set(status);
                    }
                    Err(error) => console_warn(&format!("harbor: unreadable status from the background: {error}")),
                }
                return;
            }
            // A page the user asked to read.
            if let Some(ask) = value.get("pageRead").and_then(Value::as_i64) {
                let read = match (value.get("page"), value.get("error")) {
                    (Some(page), _) => Ok(PageContext {
                        url: page.get("url").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        title: page.get("title").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        text: page.get("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    }),
                    (None, error) => {
                        Err(error.and_then(Value::as_str).unwrap_or("the page could not be read").to_owned())
                    }
                };
                if let Some(waiter) = PAGE_READS.with(|p| p.borrow_mut().remove(&ask)) {
                    let _ = waiter.send(read);
                }
                return;
            }
            // The background tells which tab is shown in the sidebar's window (for its page tools).
            if let Some(tab) = value.get("activeTab") {
                set_active_tab.set(tab.as_i64());
                return;
            }
            if let Some(notify) = value.get("notify").and_then(Value::as_str) {
                // What servers ask the user comes whole with each change (see `asks`).
                if notify == asks::CHANGED {
                    let listed = value.get("params").and_then(|p| p.get("asks")).cloned().unwrap_or_default();
                    match serde_json::from_value::<Vec<UserAsk>>(listed) {
                        Ok(list) => set_asks.set(list),
                        Err(error) => console_warn(&format!("harbor: unreadable asks from the bridge: {error}")),
                    }
                    return;
                }
                // The tasks running (and ended lately) come whole with each change too.
                if notify == tasks::CHANGED {
                    let listed = value.get("params").and_then(|p| p.get("tasks")).cloned().unwrap_or_default();
                    match serde_json::from_value::<Vec<TaskView>>(listed) {
                        Ok(list) => set_tasks.set(list),
                        Err(error) => console_warn(&format!("harbor: unreadable tasks from the bridge: {error}")),
                    }
                    return;
                }
                if notify == chat_api::CHANGED {
                    if let Some(news) = value.get("params").and_then(|p| serde_json::from_value(p.clone()).ok()) {
                        set_chat_news.set(Some(news));
                    }
                    return;
                }
                if notify == "llm.changed" {
                    set_models.update(|r| *r += 1);
                    return;
                }
                // A server's log line: only its log view reads again (every panel refetching
                // on each line would ask every server for its lists as often as it logs).
                if notify == "servers.message" {
                    set_logs.update(|r| *r += 1);
                    return;
                }
                if notify.starts_with("servers.")
                    || notify == "tools.changed"
                    || notify == "page.tools.changed"
                    || notify == "permissions.changed"
                    || notify == "gateway.changed"
                    || notify == "site.chat.changed"
                {
                    set_revision.update(|r| *r += 1);
                }
                return;
            }
            let Some(id) = value.get("id").and_then(Value::as_i64) else { return };
            if let Some(event) = value.get("event") {
                ON_EVENT.with(|handlers| {
                    if let Some(handler) = handlers.borrow().get(&id) {
                        handler(event.clone());
                    }
                });
                return;
            }
            ON_EVENT.with(|handlers| handlers.borrow_mut().remove(&id));
            let reply = match value.get("error") {
                Some(error) => Err(serde_json::from_value(error.clone())
                    .unwrap_or_else(|_| ErrorObject::new(ErrorCode::Internal, "an unreadable error from the bridge"))),
                None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
            };
            if let Some(waiter) = PENDING.with(|p| p.borrow_mut().remove(&id)) {
                let _ = waiter.send(reply);
            }
        });
        port.on_message().add_listener(on_message.as_ref().unchecked_ref());
        // The listener lives as long as the page, like the port itself.
        on_message.forget();

        let on_disconnect = Closure::<dyn FnMut(JsValue)>::new(move |_port: JsValue| {
            let gone = ErrorObject::new(ErrorCode::Internal, "Harbor's background stopped; reopen the sidebar");
            ON_EVENT.with(|handlers| handlers.borrow_mut().clear());
            for (_, waiter) in PENDING.with(|p| p.borrow_mut().drain().collect::<Vec<_>>()) {
                let _ = waiter.send(Err(gone.clone()));
            }
            set_status.set(BridgeStatus {
                state: ConnectionState::Disconnected,
                info: None,
                message: Some("Harbor's background stopped; reopen the sidebar".into()),
            });
        });
        port.on_disconnect().add_listener(on_disconnect.as_ref().unchecked_ref());
        on_disconnect.forget();

        let bus = Bus {
            port: StoredValue::new_local(port),
            status,
            revision,
            models,
            logs,
            active_tab,
            asks,
            tasks,
            chat_news,
        };
        // The asks already open and the tasks already running when the sidebar (or its bridge)
        // comes up: a sidebar closed and opened again shows them as they are.
        Effect::new(move |_| {
            if status.get().state == ConnectionState::Connected {
                leptos::task::spawn_local(async move {
                    if let Ok(list) = bus.call::<asks::AsksList>(harbor_protocol::api::Empty {}).await {
                        set_asks.set(list);
                    }
                    if let Ok(list) = bus.call::<tasks::TasksList>(harbor_protocol::api::Empty {}).await {
                        set_tasks.set(list);
                    }
                });
            }
        });
        bus
    }

    pub fn status(&self) -> ReadSignal<BridgeStatus> {
        self.status
    }

    /// Changes whenever the bridge reports a change to servers or tools (or reconnects).
    pub fn revision(&self) -> ReadSignal<u64> {
        self.revision
    }

    /// Changes whenever the model providers or the choice between them change (`llm.changed`).
    pub fn models(&self) -> ReadSignal<u64> {
        self.models
    }

    /// Changes with every log line a server sends over MCP (`servers.message`).
    pub fn logs(&self) -> ReadSignal<u64> {
        self.logs
    }

    /// What servers ask the user now, oldest first (kept current by `asks.changed`).
    pub fn asks(&self) -> ReadSignal<Vec<UserAsk>> {
        self.asks
    }

    /// The last turn that began or ended in any conversation (`chat.changed`).
    pub fn chat_news(&self) -> ReadSignal<Option<SessionChanged>> {
        self.chat_news
    }

    /// The tool calls running as MCP tasks, and those that ended lately (kept current by
    /// `tasks.changed`).
    pub fn tasks(&self) -> ReadSignal<Vec<TaskView>> {
        self.tasks
    }

    /// The tab shown in the sidebar's window, as the background last said.
    pub fn active_tab(&self) -> ReadSignal<Option<i64>> {
        self.active_tab
    }

    /// Calls method `M` of the contract and waits for its result.
    pub async fn call<M: Method>(&self, params: M::Params) -> Result<M::Result, ErrorObject> {
        self.call_streaming::<M>(params, |_| {}).1.await
    }

    /// Calls method `M`, handing each of its stream events to `on_event` as it arrives. Returns
    /// the request's id (for [`Bus::cancel`]) and its result.
    pub fn call_streaming<M: Method>(
        &self,
        params: M::Params,
        on_event: impl Fn(M::Event) + 'static,
    ) -> (i64, impl std::future::Future<Output = Result<M::Result, ErrorObject>>) {
        let params = serde_json::to_value(params).unwrap_or(Value::Null);
        let (id, reply) = self.stream(M::NAME, params, move |event| match serde_json::from_value(event) {
            Ok(event) => on_event(event),
            Err(error) => console_warn(&format!("harbor: an unreadable {} event: {error}", M::NAME)),
        });
        let result = async move {
            let value = reply.await?;
            serde_json::from_value(value).map_err(|e| {
                ErrorObject::new(
                    ErrorCode::Internal,
                    format!("the bridge's answer to {} is not readable: {e}", M::NAME),
                )
            })
        };
        (id, result)
    }

    /// Sends a request whose stream events go to `on_event` as they arrive.
    fn stream(
        &self,
        method: &str,
        params: Value,
        on_event: impl Fn(Value) + 'static,
    ) -> (i64, impl std::future::Future<Output = Reply>) {
        let id = next_id();
        let (tx, rx) = oneshot::channel();
        PENDING.with(|p| p.borrow_mut().insert(id, tx));
        ON_EVENT.with(|handlers| handlers.borrow_mut().insert(id, Box::new(on_event)));
        let message = from_json(&serde_json::json!({ "id": id, "method": method, "params": params }));
        self.port.with_value(|port| port.post_message(&message));
        let reply = async move {
            rx.await.unwrap_or_else(|_| Err(ErrorObject::new(ErrorCode::Internal, "the request was dropped")))
        };
        (id, reply)
    }

    /// Cancels request `id`; its reply will be `ERR_ABORTED`.
    pub fn cancel(&self, id: i64) {
        let message = from_json(&serde_json::json!({ "cancel": id }));
        self.port.with_value(|port| port.post_message(&message));
    }

    /// The readable text of the web page shown beside Harbor, read by the background at the
    /// user's request ("Ask about this page").
    pub async fn read_page(&self) -> Result<PageContext, String> {
        let ask = next_id();
        let (tx, rx) = oneshot::channel();
        PAGE_READS.with(|p| p.borrow_mut().insert(ask, tx));
        let message = from_json(&serde_json::json!({ "control": "readPage", "ask": ask }));
        self.port.with_value(|port| port.post_message(&message));
        rx.await.unwrap_or_else(|_| Err("Harbor's background stopped; reopen the sidebar".into()))
    }

    /// Asks the background to try the bridge again now instead of at its next backoff step.
    pub fn reconnect(&self) {
        let message = from_json(&serde_json::json!({ "control": "reconnect" }));
        self.port.with_value(|port| port.post_message(&message));
    }
}

/// A fresh id for a request or a page read.
fn next_id() -> i64 {
    NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

/// A JavaScript value as JSON (through `JSON.stringify`), if it is one.
pub fn to_json(value: &JsValue) -> Option<Value> {
    let text = js_sys::JSON::stringify(value).ok()?.as_string()?;
    serde_json::from_str(&text).ok()
}

fn from_json(value: &Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).expect("serde_json writes valid JSON")
}
