//! A tool result as a person reads it: its text together, images shown, resource links and
//! embedded resources as cards, audio playable, and the structured content when there is
//! nothing else. Used by the chat's tool cards and the Servers panel's try-it.
//!
//! Images and audio come from the tool itself as base64 and are shown from `data:` addresses,
//! only for `image/*` and `audio/*` types; nothing is fetched from an address a result names.

use harbor_protocol::api::tools::views::{self, Content, ToolResult};
use leptos::prelude::*;
use serde_json::Value;

/// The content blocks of `result` (MCP's `CallToolResult`).
#[component]
pub fn ResultContent(result: Value) -> impl IntoView {
    let read: ToolResult = views::read(&result);
    let text = text_of(&read, &result);
    let cards: Vec<Content> = read.content.into_iter().filter(|c| c.kind != "text").collect();
    view! {
        {(!text.is_empty()).then(|| view! { <pre class="tool-result">{text}</pre> })}
        {cards.into_iter().map(card).collect_view()}
    }
}

/// The text blocks, one after another; the structured content when there is no content at all.
pub fn text_of(read: &ToolResult, raw: &Value) -> String {
    let texts: Vec<&str> = read.content.iter().filter(|c| c.kind == "text").filter_map(|c| c.text.as_deref()).collect();
    if !texts.is_empty() {
        return texts.join("\n");
    }
    if read.content.is_empty() {
        let structured = raw.get("structuredContent").filter(|v| !v.is_null()).unwrap_or(raw);
        return serde_json::to_string_pretty(structured).unwrap_or_default();
    }
    String::new()
}

fn card(content: Content) -> AnyView {
    let mime = content.mime_type.clone().unwrap_or_default();
    match content.kind.as_str() {
        "image" if mime.starts_with("image/") && content.data.is_some() => {
            let source = format!("data:{mime};base64,{}", content.data.unwrap_or_default());
            view! { <img class="result-image" src=source alt=format!("An image from the tool ({mime})")/> }.into_any()
        }
        "audio" if mime.starts_with("audio/") && content.data.is_some() => {
            let source = format!("data:{mime};base64,{}", content.data.unwrap_or_default());
            view! { <audio class="result-audio" controls=true src=source aria-label="Audio from the tool"></audio> }
                .into_any()
        }
        "resource_link" => {
            let uri = content.uri.unwrap_or_default();
            let title = content.name.unwrap_or_else(|| uri.clone());
            view! {
                <div class="resource-card" data-uri=uri.clone()>
                    <strong>{title}</strong>
                    <code>{uri.clone()}</code>
                    {content.description.map(|d| view! { <p class="help">{d}</p> })}
                </div>
            }
            .into_any()
        }
        "resource" => {
            let embedded = content.resource.unwrap_or_default();
            let body = embedded.text.unwrap_or_else(|| match embedded.blob {
                Some(blob) => {
                    format!("({} bytes of {})", blob.len() * 3 / 4, embedded.mime_type.clone().unwrap_or("data".into()))
                }
                None => String::new(),
            });
            view! {
                <div class="resource-card embedded" data-uri=embedded.uri.clone()>
                    <code>{embedded.uri.clone()}</code>
                    <pre>{body}</pre>
                </div>
            }
            .into_any()
        }
        kind => view! { <p class="help">{format!("[{kind} content]")}</p> }.into_any(),
    }
}
