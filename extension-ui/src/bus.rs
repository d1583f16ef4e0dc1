//! The bus: the sidebar's one link to the outside world, a runtime port to the background.
//!
//! [`Bus::connect`] opens the `harbor-ui` port. The background answers at once with the bridge's
//! connection status and sends every change after that; the bus keeps it in a signal that panels
//! read. It does not talk to the bridge directly and holds no state of its own beyond that.

use harbor_protocol::{BridgeStatus, ConnectionState};
use leptos::prelude::*;
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
}

/// The sidebar's port to the background. Cheap to copy into event handlers.
#[derive(Clone, Copy)]
pub struct Bus {
    port: StoredValue<Port, LocalStorage>,
    status: ReadSignal<BridgeStatus>,
}

impl Bus {
    pub fn connect() -> Bus {
        let (status, set_status) = signal(BridgeStatus::default());
        let info = js_sys::Object::new();
        js_sys::Reflect::set(&info, &"name".into(), &"harbor-ui".into()).expect("setting a property on a new object");
        let port = runtime_connect(&info);

        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
            let Some(value) = to_json(&message) else {
                return;
            };
            if let Some(status) = value.get("status") {
                match serde_json::from_value::<BridgeStatus>(status.clone()) {
                    Ok(status) => set_status.set(status),
                    Err(error) => web_log(&format!("harbor: unreadable status from the background: {error}")),
                }
            }
        });
        port.on_message().add_listener(on_message.as_ref().unchecked_ref());
        // The listener lives as long as the page, like the port itself.
        on_message.forget();

        let on_disconnect = Closure::<dyn FnMut(JsValue)>::new(move |_port: JsValue| {
            set_status.set(BridgeStatus {
                state: ConnectionState::Disconnected,
                info: None,
                message: Some("Harbor's background stopped; reopen the sidebar".into()),
            });
        });
        port.on_disconnect().add_listener(on_disconnect.as_ref().unchecked_ref());
        on_disconnect.forget();

        Bus { port: StoredValue::new_local(port), status }
    }

    pub fn status(&self) -> ReadSignal<BridgeStatus> {
        self.status
    }

    /// Asks the background to try the bridge again now instead of at its next backoff step.
    pub fn reconnect(&self) {
        let message = from_json(&serde_json::json!({ "control": "reconnect" }));
        self.port.with_value(|port| port.post_message(&message));
    }
}

fn to_json(value: &JsValue) -> Option<serde_json::Value> {
    let text = js_sys::JSON::stringify(value).ok()?.as_string()?;
    serde_json::from_str(&text).ok()
}

fn from_json(value: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).expect("serde_json writes valid JSON")
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn web_log(message: &str);
}
