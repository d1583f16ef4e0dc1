//! An MCP App's view (ext-apps 2026-01-26) in the sidebar: the host side of the Apps protocol.
//!
//! [`AppView`] asks the bridge to open the tool's view (`apps.open`), which serves the App's HTML
//! on loopback with the policy its resource declares, and loads it in an `<iframe
//! sandbox="allow-scripts">`: an opaque origin with no way to the extension, its storage or the
//! page. The view talks JSON-RPC over `postMessage`; only messages whose `source` is this frame's
//! own window are read, so another frame (or another view) cannot speak for it.
//!
//! What the host answers: `ui/initialize` (host info, capabilities, and the host context: the
//! tool, the theme, the locale, the inline display and the container's width), then the tool's
//! input and result once the view says `ui/notifications/initialized`; `tools/call` and
//! `resources/read` go to the bridge (`apps.call`, `apps.read`), which lets them reach only the
//! view's own server, through the policy pipeline; `ui/message` becomes the user's next chat
//! message (`on_message`); `ui/open-link` asks the user first, showing the address, and opens
//! only http(s) links, in a new tab; `ui/notifications/size-changed` sets the frame's height
//! (within bounds); the view's log lines are kept under the frame. Unknown requests get
//! JSON-RPC's "method not found". When the card goes away the view is told
//! (`ui/resource-teardown`) and closed in the bridge.

use harbor_protocol::api::apps::{
    AppCall, AppRead, AppView as OpenedView, AppsCall, AppsClose, AppsOpen, AppsRead, CloseApp, OpenApp,
    PROTOCOL_VERSION,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::web_sys;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::bus::{to_json, Bus};

/// The frame's height before the view says its own, and the bounds of what it may ask for.
const START_HEIGHT: u32 = 160;
const MIN_HEIGHT: u32 = 40;
const MAX_HEIGHT: u32 = 800;
/// JSON-RPC's "method not found".
const METHOD_NOT_FOUND: i64 = -32601;
/// The error a refused or failed host request answers with.
const REQUEST_FAILED: i64 = -32000;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["browser", "tabs"], js_name = create)]
    fn tabs_create(properties: &JsValue) -> js_sys::Promise;

    #[wasm_bindgen(js_name = matchMedia)]
    fn match_media(query: &str) -> JsValue;
}

/// A link the view asked to open, waiting for the user.
#[derive(Clone, Debug, PartialEq)]
struct LinkAsk {
    id: Value,
    url: String,
}

/// The view of `tool`'s UI for one call: its `args` and `result` are delivered to it.
#[component]
pub fn AppView(
    bus: Bus,
    /// `serverId/toolName`.
    tool: String,
    args: Value,
    result: Value,
    /// Adds a message to the chat as the user's (`ui/message`); without a chat, the view is told
    /// its message was not taken.
    on_message: Option<Callback<String>>,
) -> impl IntoView {
    let opened = RwSignal::new(None::<Result<OpenedView, String>>);
    let height = RwSignal::new(START_HEIGHT);
    let link = RwSignal::new(None::<LinkAsk>);
    let log = RwSignal::new(Vec::<String>::new());
    let frame = NodeRef::<leptos::html::Iframe>::new();
    let started = js_sys::Date::now();
    let painted = RwSignal::new(None::<f64>);

    let asked = OpenApp { tool: tool.clone() };
    spawn_local(async move {
        opened.set(Some(bus.call::<AppsOpen>(asked).await.map_err(|e| e.message)));
    });

    let post = move |message: Value| {
        let Some(window) = frame.get_untracked().and_then(|f| f.content_window()) else { return };
        if let Ok(message) = js_sys::JSON::parse(&message.to_string()) {
            let _ = window.post_message(&message, "*");
        }
    };
    let reply = move |id: Value, outcome: Result<Value, String>| {
        post(match outcome {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err(message) => {
                json!({ "jsonrpc": "2.0", "id": id, "error": { "code": REQUEST_FAILED, "message": message } })
            }
        })
    };

    let handle = window_event_listener(leptos::ev::message, move |event: web_sys::MessageEvent| {
        // Only this frame's own document speaks for this view.
        let Some(own) = frame.get_untracked().and_then(|f| f.content_window()) else { return };
        let from_own = event.source().is_some_and(|source| js_sys::Object::is(&source, own.as_ref()));
        if !from_own {
            return;
        }
        let Some(message) = to_json(&event.data()) else { return };
        if message.get("jsonrpc") != Some(&json!("2.0")) {
            return;
        }
        let Some(Ok(view)) = opened.get_untracked() else { return };
        let method = message.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let Some(id) = message.get("id").cloned() else {
            // A notification.
            match method.as_str() {
                "ui/notifications/initialized" => {
                    painted.set(Some(js_sys::Date::now() - started));
                    post(
                        json!({ "jsonrpc": "2.0", "method": "ui/notifications/tool-input", "params": { "arguments": args.clone() } }),
                    );
                    post(
                        json!({ "jsonrpc": "2.0", "method": "ui/notifications/tool-result", "params": result.clone() }),
                    );
                }
                "ui/notifications/size-changed" => {
                    if let Some(asked) = params.get("height").and_then(Value::as_f64) {
                        height.set((asked.max(0.0) as u32).clamp(MIN_HEIGHT, MAX_HEIGHT));
                    }
                }
                "notifications/message" => {
                    let level = params.get("level").and_then(Value::as_str).unwrap_or("info");
                    let data = match params.get("data") {
                        Some(Value::String(text)) => text.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    log.update(|lines| {
                        lines.push(format!("{level}: {}", data.chars().take(500).collect::<String>()));
                        if lines.len() > 50 {
                            lines.remove(0);
                        }
                    });
                }
                _ => {}
            }
            return;
        };
        match method.as_str() {
            "ui/initialize" => reply(id, Ok(initialize(&view, frame.get_untracked()))),
            "ping" => reply(id, Ok(json!({}))),
            "tools/call" => {
                let call = AppCall {
                    view_id: view.view_id.clone(),
                    name: params.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    arguments: params.get("arguments").and_then(Value::as_object).cloned(),
                };
                spawn_local(async move { reply(id, bus.call::<AppsCall>(call).await.map_err(|e| e.message)) });
            }
            "resources/read" => {
                let read = AppRead {
                    view_id: view.view_id.clone(),
                    uri: params.get("uri").and_then(Value::as_str).unwrap_or_default().to_owned(),
                };
                spawn_local(async move { reply(id, bus.call::<AppsRead>(read).await.map_err(|e| e.message)) });
            }
            "ui/message" => {
                let text = message_text(&params);
                match on_message {
                    Some(chat) if !text.trim().is_empty() => {
                        chat.run(text);
                        reply(id, Ok(json!({})));
                    }
                    _ => reply(id, Ok(json!({ "isError": true }))),
                }
            }
            "ui/open-link" => {
                let url = params.get("url").and_then(Value::as_str).unwrap_or_default().to_owned();
                if url.starts_with("https://") || url.starts_with("http://") {
                    link.set(Some(LinkAsk { id, url }));
                } else {
                    reply(id, Ok(json!({ "isError": true })));
                }
            }
            "ui/request-display-mode" => reply(id, Ok(json!({ "mode": "inline" }))),
            _ => post(json!({
                "jsonrpc": "2.0", "id": id,
                "error": { "code": METHOD_NOT_FOUND, "message": format!("Harbor's sidebar does not answer {method}") },
            })),
        }
    });
    on_cleanup(move || {
        handle.remove();
        if let Some(Ok(view)) = opened.get_untracked() {
            post(json!({ "jsonrpc": "2.0", "id": "teardown", "method": "ui/resource-teardown", "params": {} }));
            spawn_local(async move {
                let _ = bus.call::<AppsClose>(CloseApp { view_id: view.view_id }).await;
            });
        }
    });

    let answer_link = move |open: bool| {
        let Some(asked) = link.get_untracked() else { return };
        link.set(None);
        if open {
            let properties = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&properties, &"url".into(), &asked.url.clone().into());
            let _ = tabs_create(&properties);
        }
        reply(asked.id, Ok(if open { json!({}) } else { json!({ "isError": true }) }));
    };

    view! {
        {move || match opened.get() {
            None => view! { <p class="help">"Opening the app…"</p> }.into_any(),
            Some(Err(error)) => view! { <p class="error" role="alert">{format!("The app cannot be shown: {error}")}</p> }.into_any(),
            Some(Ok(view)) => {
                let title = format!("{}'s app", view.server_id);
                let bordered = view.prefers_border != Some(false);
                view! {
                    <div class="app-view" class:bordered=bordered data-server=view.server_id.clone()
                         data-painted=move || painted.get().map(|ms| format!("{ms:.0}"))>
                        <iframe
                            node_ref=frame
                            src=view.url.clone()
                            sandbox="allow-scripts"
                            referrerpolicy="no-referrer"
                            title=title
                            style=move || format!("height: {}px", height.get())
                        ></iframe>
                    </div>
                }.into_any()
            }
        }}
        {move || link.get().map(|asked| view! {
            <div class="app-link" role="alertdialog" aria-label="The app wants to open a link">
                <p>"The app wants to open " <code>{asked.url.clone()}</code></p>
                <div class="actions">
                    <button type="button" class="open-link" on:click=move |_| answer_link(true)>"Open in a new tab"</button>
                    <button type="button" on:click=move |_| answer_link(false)>"Don't open"</button>
                </div>
            </div>
        })}
        {move || (!log.get().is_empty()).then(|| view! {
            <details class="app-log">
                <summary>{move || format!("The app's log ({})", log.get().len())}</summary>
                <pre>{move || log.get().join("\n")}</pre>
            </details>
        })}
    }
}

/// The result of `ui/initialize`.
fn initialize(view: &OpenedView, frame: Option<web_sys::HtmlIFrameElement>) -> Value {
    let dark = js_sys::Reflect::get(&match_media("(prefers-color-scheme: dark)"), &"matches".into())
        .ok()
        .and_then(|m| m.as_bool())
        .unwrap_or(false);
    let width = frame.map(|f| f.client_width()).unwrap_or(320);
    let navigator = js_sys::Reflect::get(&window(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let locale = js_sys::Reflect::get(&navigator, &"language".into()).ok().and_then(|l| l.as_string());
    let zone = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
        .resolved_options()
        .unchecked_into::<js_sys::Object>();
    let zone = js_sys::Reflect::get(&zone, &"timeZone".into()).ok().and_then(|z| z.as_string());
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "hostInfo": { "name": "Harbor", "version": env!("CARGO_PKG_VERSION") },
        "hostCapabilities": {
            "openLinks": {},
            "serverTools": {},
            "serverResources": {},
            "logging": {},
            "message": { "text": {} },
        },
        "hostContext": {
            "toolInfo": { "tool": view.tool },
            "theme": if dark { "dark" } else { "light" },
            "displayMode": "inline",
            "availableDisplayModes": ["inline"],
            "containerDimensions": { "width": width, "maxHeight": MAX_HEIGHT },
            "locale": locale,
            "timeZone": zone,
            "userAgent": "Harbor (Firefox sidebar)",
            "platform": "desktop",
        },
    })
}

/// The text of a `ui/message`'s content blocks.
fn message_text(params: &Value) -> String {
    params
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        })
        .unwrap_or_default()
}
