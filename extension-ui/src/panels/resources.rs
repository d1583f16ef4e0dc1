//! A running server's skills and resources (read one and see its contents) and prompts (fill in a prompt's
//! arguments and see the messages it gives), shown inside its row of the servers panel.
//!
//! Resources and prompts are MCP's own shapes; the panel reads them through the contract's
//! typed views (`harbor_protocol::api::tools::views`).

use harbor_protocol::api::tools::views::{self, Prompt, PromptGot, Resource, ResourceRead, Skill};
use harbor_protocol::api::tools::{
    GetPrompt, PromptsGet, PromptsList as ListPrompts, ReadResource, ResourcesList as ListResources, ResourcesRead,
    ServerFilter, SkillsList,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value};

use crate::bus::Bus;

#[component]
pub fn ResourcesList(bus: Bus, server: String) -> impl IntoView {
    let list_server = server.clone();
    let resources = LocalResource::new(move || {
        let server = list_server.clone();
        async move { bus.call::<ListResources>(ServerFilter::server(server)).await }
    });
    let skills_server = server.clone();
    let skills = LocalResource::new(move || {
        let server = skills_server.clone();
        async move { bus.call::<SkillsList>(ServerFilter::server(server)).await.unwrap_or_default() }
    });
    let skill_server = server.clone();
    view! {
        // Its skills (SEP-2640) first, when it has any: each one's SKILL.md can be read here and
        // loaded into a conversation in the chat.
        <Transition fallback=|| ()>
            {move || skills.get().filter(|list| !list.is_empty()).map(|list| view! {
                <div class="skills">
                    <h4>"Skills"</h4>
                    {list.iter().map(|listed| {
                        let skill: Skill = listed.view();
                        let resource = Resource {
                            uri: skill.uri,
                            name: Some(skill.frontmatter.name),
                            description: Some(skill.frontmatter.description),
                            mime_type: None,
                        };
                        view! { <ResourceItem bus=bus server=skill_server.clone() resource=resource/> }
                    }).collect_view()}
                </div>
            })}
        </Transition>
        <div class="resources">
            <Transition fallback=|| view! { <p class="help">"Loading resources…"</p> }>
                {move || resources.get().map(|listed| match listed {
                    Ok(list) if list.is_empty() => view! { <p class="help">"This server offers no resources."</p> }.into_any(),
                    Ok(list) => list.iter().take(50).map(|listed| {
                        let resource: Resource = listed.view();
                        view! { <ResourceItem bus=bus server=server.clone() resource=resource/> }
                    }).collect_view().into_any(),
                    Err(error) => view! { <p class="error">{error.message}</p> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

#[component]
fn ResourceItem(bus: Bus, server: String, resource: Resource) -> impl IntoView {
    let uri = resource.uri.clone();
    let label = resource.name.clone().unwrap_or_else(|| uri.clone());
    let contents = RwSignal::new(None::<Result<String, String>>);
    let read_uri = uri.clone();
    let shown_uri = uri.clone();
    let read = move || {
        let (server_id, uri) = (server.clone(), read_uri.clone());
        spawn_local(async move {
            let answer = bus.call::<ResourcesRead>(ReadResource { server_id, uri }).await;
            contents.set(Some(answer.map(|r| contents_text(&views::read(&r))).map_err(|e| e.message)));
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
fn contents_text(read: &ResourceRead) -> String {
    read.contents
        .iter()
        .map(|c| match (&c.text, &c.blob) {
            (Some(text), _) => text.clone(),
            (None, Some(blob)) => format!(
                "[{} — {} bytes of binary data]",
                c.mime_type.as_deref().unwrap_or("binary"),
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
        async move { bus.call::<ListPrompts>(ServerFilter::server(server)).await }
    });
    view! {
        <div class="prompts">
            <Transition fallback=|| view! { <p class="help">"Loading prompts…"</p> }>
                {move || prompts.get().map(|listed| match listed {
                    Ok(list) if list.is_empty() => view! { <p class="help">"This server offers no prompts."</p> }.into_any(),
                    Ok(list) => list.iter().map(|listed| {
                        let prompt: Prompt = listed.view();
                        view! { <PromptItem bus=bus server=server.clone() prompt=prompt/> }
                    }).collect_view().into_any(),
                    Err(error) => view! { <p class="error">{error.message}</p> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

#[component]
fn PromptItem(bus: Bus, server: String, prompt: Prompt) -> impl IntoView {
    let name = prompt.name.clone();
    let arguments: Vec<(String, String, bool, RwSignal<String>)> = prompt
        .arguments
        .iter()
        .map(|a| {
            let label = a.description.clone().unwrap_or_else(|| a.name.clone());
            (a.name.clone(), label, a.required, RwSignal::new(String::new()))
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
        let params = GetPrompt { server_id: server.clone(), name: get_name.clone(), arguments: Some(args) };
        spawn_local(async move {
            let answer = bus.call::<PromptsGet>(params).await;
            messages.set(Some(answer.map(|r| messages_text(&views::read(&r))).map_err(|e| e.message)));
        });
    };
    let field_prefix = name.clone();
    view! {
        <form class="prompt" data-prompt=name.clone() on:submit=move |ev| { ev.prevent_default(); get(); }>
            <strong>{name.clone()}</strong>
            <p class="help">{prompt.description.clone().unwrap_or_default()}</p>
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
fn messages_text(got: &PromptGot) -> String {
    got.messages
        .iter()
        .map(|m| {
            let text = match m.content.kind.as_str() {
                "text" => m.content.text.clone().unwrap_or_default(),
                "" => String::new(),
                kind => format!("[{kind}]"),
            };
            let role = if m.role.is_empty() { "?" } else { m.role.as_str() };
            format!("{role}: {text}")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}
