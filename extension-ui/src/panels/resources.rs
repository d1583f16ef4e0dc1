//! A running server's resources (read one and see its contents) and prompts (fill in a prompt's
//! arguments and see the messages it gives), shown inside its row of the servers panel.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Map, Value};

use crate::bus::Bus;

#[component]
pub fn ResourcesList(bus: Bus, server: String) -> impl IntoView {
    let list_server = server.clone();
    let resources = LocalResource::new(move || {
        let server = list_server.clone();
        async move { bus.request("resources.list", json!({ "serverId": server })).await }
    });
    view! {
        <div class="resources">
            <Transition fallback=|| view! { <p class="help">"Loading resources…"</p> }>
                {move || resources.get().map(|listed| match listed {
                    Ok(list) if list.as_array().is_none_or(|l| l.is_empty()) => view! { <p class="help">"This server offers no resources."</p> }.into_any(),
                    Ok(list) => list.as_array().cloned().unwrap_or_default().into_iter().take(50).map(|resource| {
                        view! { <ResourceItem bus=bus server=server.clone() resource=resource/> }
                    }).collect_view().into_any(),
                    Err(error) => view! { <p class="error">{error.message}</p> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

#[component]
fn ResourceItem(bus: Bus, server: String, resource: Value) -> impl IntoView {
    let uri = resource["uri"].as_str().unwrap_or_default().to_owned();
    let label = resource["name"].as_str().unwrap_or(&uri).to_owned();
    let contents = RwSignal::new(None::<Result<String, String>>);
    let read_uri = uri.clone();
    let shown_uri = uri.clone();
    let read = move || {
        let (server, uri) = (server.clone(), read_uri.clone());
        spawn_local(async move {
            let answer = bus.request("resources.read", json!({ "serverId": server, "uri": uri })).await;
            contents.set(Some(answer.map(|r| contents_text(&r["contents"])).map_err(|e| e.message)));
        });
    };
    view! {
        <div class="resource" data-resource=uri.clone()>
            <div class="resource-head">
                <span>{label}</span>
                <code class="launch">{shown_uri}</code>
                <button type="button" on:click=move |_| read()>"Read"</button>
            </div>
            {move || contents.get().map(|c| match c {
                Ok(text) => view! { <pre class="resource-contents">{text}</pre> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            })}
        </div>
    }
}

/// Resource contents as a person reads them: text as it is, binary as its size.
fn contents_text(contents: &Value) -> String {
    contents
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| match (c["text"].as_str(), c["blob"].as_str()) {
            (Some(text), _) => text.to_owned(),
            (None, Some(blob)) => format!(
                "[{} — {} bytes of binary data]",
                c["mimeType"].as_str().unwrap_or("binary"),
                blob.len() * 3 / 4
            ),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[component]
pub fn PromptsList(bus: Bus, server: String) -> impl IntoView {
    let list_server = server.clone();
    let prompts = LocalResource::new(move || {
        let server = list_server.clone();
        async move { bus.request("prompts.list", json!({ "serverId": server })).await }
    });
    view! {
        <div class="prompts">
            <Transition fallback=|| view! { <p class="help">"Loading prompts…"</p> }>
                {move || prompts.get().map(|listed| match listed {
                    Ok(list) if list.as_array().is_none_or(|l| l.is_empty()) => view! { <p class="help">"This server offers no prompts."</p> }.into_any(),
                    Ok(list) => list.as_array().cloned().unwrap_or_default().into_iter().map(|prompt| {
                        view! { <PromptItem bus=bus server=server.clone() prompt=prompt/> }
                    }).collect_view().into_any(),
                    Err(error) => view! { <p class="error">{error.message}</p> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

#[component]
fn PromptItem(bus: Bus, server: String, prompt: Value) -> impl IntoView {
    let name = prompt["name"].as_str().unwrap_or_default().to_owned();
    let arguments: Vec<(String, String, bool, RwSignal<String>)> = prompt["arguments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let arg = a["name"].as_str().unwrap_or_default().to_owned();
            let label = a["description"].as_str().unwrap_or(&arg).to_owned();
            (arg, label, a["required"] == true, RwSignal::new(String::new()))
        })
        .collect();
    let messages = RwSignal::new(None::<Result<String, String>>);
    let inputs = arguments.clone();
    let get_name = name.clone();
    let get = move || {
        let mut args = Map::new();
        for (arg, label, required, value) in &inputs {
            let text = value.get_untracked();
            if text.is_empty() {
                if *required {
                    messages.set(Some(Err(format!("{label} is needed"))));
                    return;
                }
                continue;
            }
            args.insert(arg.clone(), Value::String(text));
        }
        let params = json!({ "serverId": server, "name": get_name, "arguments": args });
        spawn_local(async move {
            let answer = bus.request("prompts.get", params).await;
            messages.set(Some(answer.map(|r| messages_text(&r["messages"])).map_err(|e| e.message)));
        });
    };
    let field_prefix = name.clone();
    view! {
        <form class="prompt" data-prompt=name.clone() on:submit=move |ev| { ev.prevent_default(); get(); }>
            <strong>{name.clone()}</strong>
            <p class="help">{prompt["description"].as_str().unwrap_or_default().to_owned()}</p>
            {arguments.into_iter().map(|(arg, label, required, value)| {
                let id = format!("prompt-{field_prefix}-{arg}");
                view! {
                    <label for=id.clone()>{if required { format!("{label} (required)") } else { label }}</label>
                    <input id=id type="text" on:input=move |ev| value.set(event_target_value(&ev))/>
                }
            }).collect_view()}
            <button type="submit">"Get"</button>
            {move || messages.get().map(|m| match m {
                Ok(text) => view! { <pre class="prompt-messages">{text}</pre> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            })}
        </form>
    }
}

/// A prompt's messages, one per paragraph, with who says it.
fn messages_text(messages: &Value) -> String {
    messages
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let text = match m["content"]["type"].as_str() {
                Some("text") => m["content"]["text"].as_str().unwrap_or_default().to_owned(),
                Some(kind) => format!("[{kind}]"),
                None => String::new(),
            };
            format!("{}: {text}", m["role"].as_str().unwrap_or("?"))
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}
