//! The chat's own tool, `harbor/load_skill`: the model loads the instructions of a skill one of
//! the user's servers offers (the Skills extension, SEP-2640) when the question calls for it,
//! as the user can by loading one in the sidebar.
//!
//! It is offered only while some running server lists skills, with their names (`server/name`)
//! as the argument's choices and their descriptions in the tool's, so a small model picks from
//! what exists; its result is the skill's `SKILL.md`, read from the server that lists it.

use harbor_protocol::api::tools::views::Skill;
use harbor_protocol::ErrorObject;
use rmcp::model::JsonObject;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::mcp::names::{self, HARBOR};
use crate::mcp::registry::{Servers, ToolEntry};

/// The tool's own name under [`HARBOR`].
pub const LOAD_SKILL: &str = "load_skill";

/// The running servers' skills as `(server/name, server, SKILL.md's URI, description)`.
pub(crate) async fn listed(servers: &Servers) -> Vec<(String, String, String, String)> {
    let skills = servers.skills(None).await.unwrap_or_default();
    skills
        .iter()
        .map(|listed| {
            let skill: Skill = listed.view();
            let name = format!("{}/{}", listed.server_id, skill.frontmatter.name);
            (name, listed.server_id.clone(), skill.uri, skill.frontmatter.description)
        })
        .collect()
}

/// The tool, when some running server lists skills and no server of the user's holds the
/// [`HARBOR`] id from before it was Harbor's.
pub async fn tool(servers: &Servers) -> Option<ToolEntry> {
    if servers.get(HARBOR).is_ok() {
        return None;
    }
    let skills = listed(servers).await;
    if skills.is_empty() {
        return None;
    }
    let choices: Vec<&str> = skills.iter().map(|(name, ..)| name.as_str()).collect();
    let described: Vec<String> = skills.iter().map(|(name, _, _, about)| format!("{name}: {about}")).collect();
    Some(ToolEntry {
        name: names::namespaced(HARBOR, LOAD_SKILL),
        model_name: names::model_name(HARBOR, LOAD_SKILL),
        server_id: HARBOR.into(),
        title: Some("Load a skill".into()),
        description: format!(
            "Loads a skill's instructions (how to do a task with the user's tools). Load one before a task it \
             describes. Skills: {}",
            described.join("; ")
        ),
        input_schema: json!({
            "type": "object",
            "properties": { "skill": { "type": "string", "enum": choices, "description": "server/name of the skill" } },
            "required": ["skill"],
        }),
        annotations: Some(json!({ "readOnlyHint": true })),
        imitates: None,
        page_origin: None,
        ui: None,
    })
}

/// Runs the tool: the named skill's `SKILL.md`, as an MCP tool result.
pub async fn load(servers: &Servers, args: &JsonObject, cancel: &CancellationToken) -> Result<Value, ErrorObject> {
    let asked = args.get("skill").and_then(Value::as_str).unwrap_or_default();
    let skills = listed(servers).await;
    let Some((_, server, uri, _)) = skills.iter().find(|(name, ..)| name == asked) else {
        let known: Vec<&str> = skills.iter().map(|(name, ..)| name.as_str()).collect();
        return Err(ErrorObject::invalid(format!("there is no skill {asked:?}; the skills are: {}", known.join(", "))));
    };
    // Found among the skills just listed: read, not listed again.
    read(servers, server, uri, cancel).await
}

/// The `SKILL.md` at `uri` of `server` (one of the skills just listed), as an MCP tool result.
pub(crate) async fn read(
    servers: &Servers,
    server: &str,
    uri: &str,
    cancel: &CancellationToken,
) -> Result<Value, ErrorObject> {
    let text = servers.skill_file(server, uri, cancel).await.map_err(ErrorObject::from)?;
    Ok(json!({ "content": [{ "type": "text", "text": text }] }))
}
