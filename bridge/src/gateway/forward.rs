//! Everything but tools through the gateway: resources (lists, templates, reads, subscriptions,
//! folders), prompts, completions and skills (the Skills extension, SEP-2640), from the running
//! servers a client may use.
//!
//! Who may see what: a client sees a server's resources and prompts when its allowlist names the
//! whole server (or `*`); an entry for single tools (`server/tool`) grants tools only, since a
//! server's resources and prompts are not tools the user picked.
//!
//! Names: prompts are offered like tools, as `serverId__prompt` (calls may also use
//! `serverId/prompt`), or under their own names for a client with plain names where no two of
//! its servers share one. Resource URIs are the servers' own and are never rewritten (contents and
//! links refer to them); a read goes to the server that lists the URI, else to the one whose
//! template matches it. When two servers claim a URI, the read is refused with both names,
//! rather than guessed.
//!
//! Skills keep their servers' URIs too: `skills/get`, a folder read and a read of a file that no
//! resource list names go to the server whose skill it is (two claiming it are refused by name).
//!
//! One server failing to list does not hide the others: its items are left out and it is named
//! in the gateway's log. Reads, prompt gets, completions, skill gets and subscriptions are
//! audited as their MCP method (the server, or `server/prompt`, as the target; never contents);
//! lists are not.

use std::sync::Arc;

use harbor_protocol::api::forward::{CompleteRequest, Forward, PromptRequest, Reference};
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::{
    ClientRequest, CompleteRequestParams, ReadResourceDirectoryRequestParams, Request, ServerCapabilities,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::Gateway;
use crate::host::pipeline::Audit;
use crate::mcp::lists::{self, Kind};
use crate::mcp::names;
use crate::mcp::server::Live;

impl Gateway {
    /// Answers one of MCP's other requests for `client`, as MCP's result JSON.
    pub async fn answer(
        &self,
        client: &str,
        request: Forward,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        let record = self.client(client)?;
        let visible: Vec<Visible> = self
            .whole_servers(&record)
            .into_iter()
            .map(|(server, live, capabilities)| Visible { id: server.id.clone(), live, capabilities })
            .collect();
        match request {
            Forward::ResourcesList => Ok(json!({ "resources": list(&visible, Kind::Resources).await })),
            Forward::ResourceTemplatesList => Ok(json!({ "resourceTemplates": list(&visible, Kind::Templates).await })),
            Forward::PromptsList => Ok(json!({ "prompts": prompts(&visible, record.plain_names).await })),
            Forward::SkillsList => {
                let skills: Vec<Value> = skills_by_server(&visible).await.into_iter().map(|(_, skill)| skill).collect();
                Ok(json!({ "skills": skills }))
            }
            other => {
                let mut audit = Audit::begin(&self.store, self.who(client), other.method(), None);
                let outcome = self.forward_one(&visible, record.plain_names, other, &mut audit, cancel).await;
                audit.finish(&outcome);
                outcome
            }
        }
    }

    async fn forward_one(
        &self,
        visible: &[Visible],
        plain: bool,
        request: Forward,
        audit: &mut Audit<'_>,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        let (server, upstream, what) = match request {
            Forward::ResourcesRead(r) => {
                let server = match owner(visible, &r.uri).await {
                    Ok(server) => server,
                    // A skill's file need not be listed: its skill's manifest names it.
                    Err(unlisted) => skill_owner(visible, &r.uri).await.map_err(|_| unlisted)?,
                };
                let params = rmcp::model::ReadResourceRequestParams::new(r.uri.clone());
                (server, ClientRequest::ReadResourceRequest(Request::new(params)), format!("resource {}", r.uri))
            }
            Forward::ResourcesSubscribe(r) => {
                let server = owner(visible, &r.uri).await?;
                let subscribes = visible
                    .iter()
                    .find(|v| v.id == server)
                    .and_then(|v| v.capabilities.resources.as_ref())
                    .and_then(|r| r.subscribe)
                    .unwrap_or(false);
                if !subscribes {
                    return Err(ErrorObject::invalid(format!(
                        "server {server:?} does not offer subscriptions to its resources"
                    )));
                }
                let params: SubscribeRequestParams = decode(json!({ "uri": r.uri }))?;
                (server, ClientRequest::SubscribeRequest(Request::new(params)), format!("resource {}", r.uri))
            }
            Forward::ResourcesUnsubscribe(r) => {
                let server = owner(visible, &r.uri).await?;
                let params: UnsubscribeRequestParams = decode(json!({ "uri": r.uri }))?;
                (server, ClientRequest::UnsubscribeRequest(Request::new(params)), format!("resource {}", r.uri))
            }
            Forward::PromptsGet(PromptRequest { name, arguments }) => {
                let (server, prompt) = prompt_named(visible, plain, &name).await?;
                audit.tool = Some(names::namespaced(&server, &prompt));
                let mut params = rmcp::model::GetPromptRequestParams::new(prompt.clone());
                params.arguments = arguments;
                (server, ClientRequest::GetPromptRequest(Request::new(params)), format!("prompt {name}"))
            }
            Forward::Complete(CompleteRequest { reference, argument, context }) => {
                let (server, reference) = match reference {
                    Reference::Prompt { name } => {
                        let (server, prompt) = prompt_named(visible, plain, &name).await?;
                        (server, json!({ "type": "ref/prompt", "name": prompt }))
                    }
                    Reference::Resource { uri } => {
                        (owner(visible, &uri).await?, json!({ "type": "ref/resource", "uri": uri }))
                    }
                };
                let completes = visible.iter().any(|v| v.id == server && v.capabilities.completions.is_some());
                if !completes {
                    // The spec's answer when nothing completes: no values.
                    return Ok(json!({ "completion": { "values": [], "hasMore": false } }));
                }
                let mut params = json!({ "ref": reference, "argument": argument });
                if let Some(context) = context {
                    params["context"] = Value::Object(context);
                }
                let params: CompleteRequestParams = decode(params)?;
                (server, ClientRequest::CompleteRequest(Request::new(params)), "a completion".to_owned())
            }
            Forward::SkillsGet(r) => {
                let server = skill_owner(visible, &r.uri).await?;
                let params = rmcp::model::GetSkillRequestParams::new(r.uri.clone());
                (server, ClientRequest::GetSkillRequest(Request::new(params)), format!("skill {}", r.uri))
            }
            Forward::ResourcesDirectoryRead(r) => {
                let server = match skill_owner(visible, &r.uri).await {
                    Ok(server) => server,
                    Err(_) => owner(visible, &r.uri).await?,
                };
                let reads = visible.iter().any(|v| v.id == server && v.capabilities.supports_directory_read());
                if !reads {
                    return Err(ErrorObject::invalid(format!("server {server:?} does not list its folders")));
                }
                let params: ReadResourceDirectoryRequestParams = decode(json!({ "uri": r.uri }))?;
                let request = ClientRequest::ReadResourceDirectoryRequest(Request::new(params));
                (server, request, format!("folder {}", r.uri))
            }
            Forward::ResourcesList | Forward::ResourceTemplatesList | Forward::PromptsList | Forward::SkillsList => {
                unreachable!("lists are answered by Gateway::answer")
            }
        };
        if audit.tool.is_none() {
            audit.tool = Some(server.clone());
        }
        self.servers.request(&server, upstream, &what, cancel).await.map_err(ErrorObject::from)
    }
}

/// A running server a client may use, with what it serves.
#[derive(Clone)]
struct Visible {
    id: String,
    live: Arc<Live>,
    capabilities: ServerCapabilities,
}

/// Every visible server's items of one kind, in server order.
async fn list(visible: &[Visible], kind: Kind) -> Vec<Value> {
    let mut all = Vec::new();
    for server in visible {
        all.extend(items(server, kind).await.iter().cloned());
    }
    all
}

/// Every visible server's prompts with each server's id, as the servers named them.
async fn prompts_by_server(visible: &[Visible]) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for server in visible {
        all.extend(items(server, Kind::Prompts).await.iter().map(|p| (server.id.clone(), p.clone())));
    }
    all
}

/// The prompts a client sees, under its names for them.
async fn prompts(visible: &[Visible], plain: bool) -> Vec<Value> {
    let all = prompts_by_server(visible).await;
    let names = gateway_names(&all, plain);
    all.into_iter()
        .zip(names)
        .map(|((_, mut prompt), name)| {
            prompt["name"] = Value::String(name);
            prompt
        })
        .collect()
}

/// Each prompt's name for the client: `serverId__prompt`, or its own where plain and unique.
fn gateway_names(all: &[(String, Value)], plain: bool) -> Vec<String> {
    let own = |prompt: &Value| prompt["name"].as_str().unwrap_or_default().to_owned();
    let pairs: Vec<(String, String)> = all.iter().map(|(server, prompt)| (server.clone(), own(prompt))).collect();
    let plain_names = match plain {
        true => names::plain_where_unique(pairs.iter().map(|(s, n)| (s.as_str(), n.as_str()))),
        false => vec![None; pairs.len()],
    };
    pairs
        .iter()
        .zip(plain_names)
        .map(|((server, name), plain)| plain.unwrap_or_else(|| names::model_name(server, name)))
        .collect()
}

/// One server's items of one kind (none when it does not serve them or fails to list: it is
/// left out, and logged), kept for its session while it says when they change.
async fn items(server: &Visible, kind: Kind) -> Arc<Vec<Value>> {
    lists::list(&server.live, &server.id, kind).await.unwrap_or_else(|error| {
        tracing::warn!(server = %server.id, "the gateway leaves a server's list out: {error}");
        Arc::default()
    })
}

/// Every visible server's skills (the Skills extension, SEP-2640) with each server's id; a
/// server that fails to list is left out, as with the other lists.
async fn skills_by_server(visible: &[Visible]) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for server in visible.iter().filter(|v| v.capabilities.supports_skills()) {
        all.extend(items(server, Kind::Skills).await.iter().map(|skill| (server.id.clone(), skill.clone())));
    }
    all
}

/// The visible server whose skill `uri` is, or is a file or folder of (the skill's folder is
/// its `SKILL.md`'s). Two servers claiming it are named, never guessed between.
async fn skill_owner(visible: &[Visible], uri: &str) -> Result<String, ErrorObject> {
    let mut claimants: Vec<String> = Vec::new();
    for (server, skill) in skills_by_server(visible).await {
        let entry = skill["uri"].as_str().unwrap_or_default();
        let folder = entry.strip_suffix("SKILL.md").unwrap_or(entry);
        if (entry == uri || (!folder.is_empty() && uri.starts_with(folder))) && !claimants.contains(&server) {
            claimants.push(server);
        }
    }
    match claimants.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ErrorObject::invalid(format!("no skill of the servers this app may use is at {uri}"))),
        several => Err(ErrorObject::invalid(format!(
            "{uri} is a skill of several servers ({}); Harbor will not guess which",
            several.join(", ")
        ))),
    }
}

/// The visible server that serves `uri`: the one listing it, else the one whose template matches.
async fn owner(visible: &[Visible], uri: &str) -> Result<String, ErrorObject> {
    let mut listing = Vec::new();
    let mut templated = Vec::new();
    for server in visible {
        if items(server, Kind::Resources).await.iter().any(|r| r["uri"] == uri) {
            listing.push(server.id.clone());
        } else if items(server, Kind::Templates)
            .await
            .iter()
            .filter_map(|t| t["uriTemplate"].as_str())
            .any(|template| template_matches(template, uri))
        {
            templated.push(server.id.clone());
        }
    }
    let claimants = if listing.is_empty() { templated } else { listing };
    match claimants.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ErrorObject::new(
            ErrorCode::ToolNotFound,
            format!("no server this app may use serves the resource {uri:?}"),
        )
        .with_data(json!({ "uri": uri }))),
        several => Err(ErrorObject::invalid(format!(
            "servers {} all serve {uri:?}; allow only one of them for this app in Harbor's Gateway panel",
            several.join(", ")
        ))),
    }
}

/// The server and its own name of the prompt a client names `serverId__prompt`,
/// `serverId/prompt`, or (with plain names) its own name.
async fn prompt_named(visible: &[Visible], plain: bool, asked: &str) -> Result<(String, String), ErrorObject> {
    let not_found =
        || ErrorObject::new(ErrorCode::ToolNotFound, format!("no prompt {asked:?} among the ones this app may use"));
    if let Some((server, prompt)) = names::split_namespaced(asked) {
        return visible
            .iter()
            .any(|v| v.id == server && v.capabilities.prompts.is_some())
            .then(|| (server.to_owned(), prompt.to_owned()))
            .ok_or_else(not_found);
    }
    // Only the servers the name can belong to are asked for their lists.
    let server = asked.split_once("__").map(|(server, _)| server);
    let candidates: Vec<Visible> = visible.iter().filter(|v| plain || server == Some(v.id.as_str())).cloned().collect();
    let all = prompts_by_server(&candidates).await;
    let names = gateway_names(&all, plain);
    all.into_iter()
        .zip(names)
        .find(|(_, name)| name == asked)
        .and_then(|((server, prompt), _)| Some((server, prompt["name"].as_str()?.to_owned())))
        .ok_or_else(not_found)
}

/// Whether `uri` fits RFC 6570 `template`: `{var}` stands for one path segment or more of
/// anything but `/`, `?` and `#`; `{+var}`, `{#var}` and `{/var}` for anything.
pub fn template_matches(template: &str, uri: &str) -> bool {
    match template.find('{') {
        None => template == uri,
        Some(open) => {
            let Some(close) = template[open..].find('}').map(|c| open + c) else { return template == uri };
            let (literal, expression, rest) = (&template[..open], &template[open + 1..close], &template[close + 1..]);
            let Some(tail) = uri.strip_prefix(literal) else { return false };
            let any = expression.starts_with(['+', '#', '/']);
            (1..=tail.len()).filter(|&end| tail.is_char_boundary(end)).any(|end| {
                let value = &tail[..end];
                (any || !value.contains(['/', '?', '#'])) && template_matches(rest, &tail[end..])
            })
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ErrorObject> {
    serde_json::from_value(value).map_err(|e| ErrorObject::invalid(format!("the request's params do not fit: {e}")))
}

#[cfg(test)]
mod tests {
    use super::template_matches;

    #[test]
    fn templates_match_what_they_describe_and_nothing_else() {
        assert!(template_matches("test://template/{id}/data", "test://template/42/data"));
        assert!(!template_matches("test://template/{id}/data", "test://template/4/2/data"));
        assert!(!template_matches("test://template/{id}/data", "test://template//data"));
        assert!(template_matches("demo://resource/dynamic/text/{index}", "demo://resource/dynamic/text/7"));
        assert!(template_matches("file:///{+path}", "file:///home/me/notes.md"));
        assert!(!template_matches("file:///{path}", "file:///home/me/notes.md"));
        assert!(template_matches("static://exact", "static://exact"));
        assert!(!template_matches("static://exact", "static://exactly"));
        assert!(!template_matches("a://{x}", "b://y"));
    }
}
