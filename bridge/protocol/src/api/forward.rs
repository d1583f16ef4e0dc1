//! The MCP requests besides tool calls that the gateway passes to the servers behind it, in
//! MCP's own names and shapes: `{"method": "resources/read", "params": {"uri": …}}`. The
//! gateway's faces decode them from their clients, and `harbor-bridge mcp` sends them to a
//! running bridge as `gateway.forward`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One forwarded request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params")]
pub enum Forward {
    #[serde(rename = "resources/list")]
    ResourcesList,
    #[serde(rename = "resources/templates/list")]
    ResourceTemplatesList,
    #[serde(rename = "resources/read")]
    ResourcesRead(ResourceUri),
    #[serde(rename = "resources/subscribe")]
    ResourcesSubscribe(ResourceUri),
    #[serde(rename = "resources/unsubscribe")]
    ResourcesUnsubscribe(ResourceUri),
    #[serde(rename = "prompts/list")]
    PromptsList,
    #[serde(rename = "prompts/get")]
    PromptsGet(PromptRequest),
    #[serde(rename = "completion/complete")]
    Complete(CompleteRequest),
    /// The Skills extension (SEP-2640): every skill of the servers the client may use whole.
    #[serde(rename = "skills/list")]
    SkillsList,
    /// One skill, by the URI of its `SKILL.md`.
    #[serde(rename = "skills/get")]
    SkillsGet(ResourceUri),
    /// A folder resource's children (a skill's files, SEP-2640).
    #[serde(rename = "resources/directory/read")]
    ResourcesDirectoryRead(ResourceUri),
}

impl Forward {
    /// The MCP method, as audited.
    pub fn method(&self) -> &'static str {
        match self {
            Forward::ResourcesList => "resources/list",
            Forward::ResourceTemplatesList => "resources/templates/list",
            Forward::ResourcesRead(_) => "resources/read",
            Forward::ResourcesSubscribe(_) => "resources/subscribe",
            Forward::ResourcesUnsubscribe(_) => "resources/unsubscribe",
            Forward::PromptsList => "prompts/list",
            Forward::PromptsGet(_) => "prompts/get",
            Forward::Complete(_) => "completion/complete",
            Forward::SkillsList => "skills/list",
            Forward::SkillsGet(_) => "skills/get",
            Forward::ResourcesDirectoryRead(_) => "resources/directory/read",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceUri {
    pub uri: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptRequest {
    /// The prompt's name as the gateway lists it (`serverId__prompt`, or `serverId/prompt`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Map<String, Value>>,
}

/// `completion/complete`'s params: what is completed, and the argument so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompleteRequest {
    #[serde(rename = "ref")]
    pub reference: Reference,
    pub argument: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
}

/// What a completion is for: a prompt (by its gateway name) or a resource template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Reference {
    #[serde(rename = "ref/prompt")]
    Prompt { name: String },
    #[serde(rename = "ref/resource")]
    Resource { uri: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forwarded_requests_are_mcp_requests() {
        let read: Forward =
            serde_json::from_value(json!({"method": "resources/read", "params": {"uri": "test://a"}})).unwrap();
        assert_eq!(read, Forward::ResourcesRead(ResourceUri { uri: "test://a".into() }));
        let list: Forward = serde_json::from_value(json!({"method": "prompts/list"})).unwrap();
        assert_eq!(list, Forward::PromptsList);
        let complete: Forward = serde_json::from_value(json!({"method": "completion/complete", "params": {
            "ref": {"type": "ref/prompt", "name": "everything__args"}, "argument": {"name": "city", "value": "Pa"}}}))
        .unwrap();
        let Forward::Complete(complete) = complete else { panic!("{complete:?}") };
        assert_eq!(complete.reference, Reference::Prompt { name: "everything__args".into() });
        assert_eq!(serde_json::to_value(Forward::ResourcesList).unwrap(), json!({"method": "resources/list"}));
    }
}
