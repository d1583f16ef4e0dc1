//! `tools.*`, `resources.*` and `prompts.*`: the namespaced catalog of every running server,
//! and calls into it from Harbor's own pages.
//!
//! Tool results, resource contents and prompt messages are MCP's own shapes and pass through
//! as JSON values; [`views`] reads the parts Harbor's pages show.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

crate::methods! {
    /// Every running tool, or one server's.
    ToolsList = "tools.list", Extension, ServerFilter => Vec<ToolEntry>;
    /// Calls a tool by its namespaced name; progress reports (and, for a caller that said it
    /// `answers` them, the server's requests) stream first.
    ToolsCall = "tools.call", Extension, CallTool => Value, ToolEvent;
    /// The caller's answer to a server's request that a `tools.call` relayed as an `ask` event.
    ToolsAnswer = "tools.answer", Extension, AskAnswer => super::Empty;
    ResourcesList = "resources.list", Extension, ServerFilter => Vec<Listed>;
    /// MCP's `ReadResourceResult`.
    ResourcesRead = "resources.read", Extension, ReadResource => Value;
    PromptsList = "prompts.list", Extension, ServerFilter => Vec<Listed>;
    /// MCP's `GetPromptResult`.
    PromptsGet = "prompts.get", Extension, GetPrompt => Value;
    /// The skills of every running server that serves them (the Skills extension, SEP-2640), or
    /// one server's: each `Skill` as its server listed it (`uri` of its `SKILL.md`,
    /// `frontmatter` with `name` and `description`), with the server's id.
    SkillsList = "skills.list", Extension, ServerFilter => Vec<Listed>;
}

/// A tool in the namespaced catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolEntry {
    /// `serverId/toolName`.
    pub name: String,
    /// The model-safe form, `serverId__toolName`.
    pub model_name: String,
    pub server_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    /// The tool's JSON Schema, as its server gave it.
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// Another server's tool whose name looks the same but is not (see [`crate::shown`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imitates: Option<String>,
    /// A page's own tool (WebMCP): the origin of the page it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_origin: Option<String>,
    /// Its MCP App view and who may call it (`_meta.ui`), when its server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<super::apps::ToolUi>,
}

/// `{"serverId"?: "…"}`: one server's items, or every running server's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
}

impl ServerFilter {
    pub fn server(id: impl Into<String>) -> ServerFilter {
        ServerFilter { server_id: Some(id.into()) }
    }
}

/// `tools.call`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallTool {
    /// `serverId/toolName`.
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Map<String, Value>>,
    /// Overrides the server's timeout for this call (at most 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The server requests the caller answers itself while the call runs
    /// (`elicitation/create`, `sampling/createMessage`): they come as `ask` events, and the
    /// answer goes back with `tools.answer`. Others go to the user in the sidebar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
}

/// What a tool call (`tools.call`, `gateway.call`) streams before its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToolEvent {
    Progress {
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    },
    /// The server asks the caller something (MCP's request, as the server sent it); answer
    /// with `tools.answer` (`gateway.answer` for a `gateway.call`).
    Ask {
        #[serde(rename = "askId")]
        ask_id: u64,
        method: String,
        params: Value,
    },
}

/// A caller's answer to an `ask` event: MCP's result, or its JSON-RPC error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskAnswer {
    #[serde(rename = "askId")]
    pub ask_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AskError>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AskError {
    pub code: i32,
    pub message: String,
}

/// A resource or prompt as its server listed it (MCP's shape), with the server's id added.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub server_id: String,
    #[serde(flatten)]
    pub item: Map<String, Value>,
}

impl Listed {
    /// The item as the view `T` reads it (see [`views`]).
    pub fn view<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        T::deserialize(&Value::Object(self.item.clone())).unwrap_or_default()
    }
}

/// `resources.read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadResource {
    pub server_id: String,
    pub uri: String,
}

/// `prompts.get`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetPrompt {
    pub server_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Map<String, Value>>,
}

/// Typed views of MCP's open shapes, for what Harbor's pages show of them. Each reads what it
/// knows and ignores the rest; reading never fails on a field it does not know.
pub mod views {
    use serde::Deserialize;
    use serde_json::Value;

    /// Reads `value` as `T`, or `T::default()` when it does not have the shape.
    pub fn read<T: for<'de> Deserialize<'de> + Default>(value: &Value) -> T {
        T::deserialize(value).unwrap_or_default()
    }

    /// A listed skill (SEP-2640).
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct Skill {
        /// Its `SKILL.md`.
        pub uri: String,
        pub frontmatter: SkillFrontmatter,
    }

    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct SkillFrontmatter {
        pub name: String,
        pub description: String,
    }

    /// A listed resource.
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct Resource {
        pub uri: String,
        pub name: Option<String>,
        pub description: Option<String>,
        pub mime_type: Option<String>,
    }

    /// A listed prompt.
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct Prompt {
        pub name: String,
        pub description: Option<String>,
        pub arguments: Vec<PromptArgument>,
    }

    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct PromptArgument {
        pub name: String,
        pub description: Option<String>,
        pub required: bool,
    }

    /// `ReadResourceResult`.
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct ResourceRead {
        pub contents: Vec<ResourceContents>,
    }

    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ResourceContents {
        pub uri: String,
        pub mime_type: Option<String>,
        pub text: Option<String>,
        pub blob: Option<String>,
    }

    /// `GetPromptResult`.
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct PromptGot {
        pub description: Option<String>,
        pub messages: Vec<PromptMessage>,
    }

    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct PromptMessage {
        pub role: String,
        pub content: Content,
    }

    /// One content block of a tool result or prompt message.
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct Content {
        #[serde(rename = "type")]
        pub kind: String,
        pub text: Option<String>,
        pub mime_type: Option<String>,
        pub uri: Option<String>,
        pub resource: Option<ResourceContents>,
        /// An image's or audio's base64 bytes.
        pub data: Option<String>,
        /// A resource link's name and description.
        pub name: Option<String>,
        pub description: Option<String>,
    }

    /// A tool's input schema, as far as a form for it needs.
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct Schema {
        pub properties: serde_json::Map<String, Value>,
        pub required: Vec<String>,
    }

    /// One property of a [`Schema`].
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default)]
    pub struct Property {
        #[serde(rename = "type")]
        pub kind: Option<String>,
        pub default: Option<Value>,
        pub description: Option<String>,
    }

    /// `CallToolResult`.
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ToolResult {
        pub content: Vec<Content>,
        pub structured_content: Option<Value>,
        pub is_error: bool,
    }
}
