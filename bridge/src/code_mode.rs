//! Code mode: instead of every tool, a model is offered a few of Harbor's — `search_tools`
//! (BM25 over the tools its caller may call), `describe_tools` (their input schemas as
//! TypeScript declarations) and `execute_code` (JavaScript in the [`crate::sandbox`] that calls
//! those tools), and `list_skills`/`get_skill` (the skills, SEP-2640, of the servers the caller
//! may use) when there are some to read.
//! The model then spends its context on the few tools it needs, and does multi-step work in one
//! round trip. Gateway clients (`codeMode`, [`crate::gateway::code_mode`]), the sidebar's chat
//! (its `codeMode` setting) and a site's `agent.run` (the site's `codeMode` limit) use it; the
//! last two through [`CodeRunner`], around the agent loop's own tool runner.
//!
//! Nothing about policy changes: a search shows only tools the caller may call, and each call the
//! code makes is the caller's own call through its [`Host`] — the gateway's or the chat's policy
//! pipeline, as a direct call would go — with a refusal thrown inside the code as an `Error`
//! whose `code` is the refusal's. A run may make at most [`CALLS_PER_RUN`] calls.

use harbor_protocol::ErrorObject;
use rmcp::model::JsonObject;
use serde_json::{json, Value};

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::chat::agent::ToolRunner;
use crate::chat::select::Selector;
use crate::host::pipeline::{Audit, Who};
use crate::mcp::client::{Inner, Progress, ProgressSink};
use crate::mcp::names;
use crate::mcp::registry::{Servers, ToolEntry};
use crate::sandbox::{Host, Limits, Sandbox, SandboxError};
use crate::store::Store;

pub const SEARCH_TOOLS: &str = "search_tools";
pub const DESCRIBE_TOOLS: &str = "describe_tools";
pub const EXECUTE_CODE: &str = "execute_code";
pub const LIST_SKILLS: &str = "list_skills";
pub const GET_SKILL: &str = "get_skill";

/// The most tool calls one `execute_code` run may make.
pub const CALLS_PER_RUN: usize = 50;

/// The most tools one search returns.
const MOST_FOUND: usize = 50;

/// Code mode's own tools, as a caller sees them (with the skills tools when there are skills).
pub fn meta_tools(with_skills: bool) -> Vec<ToolEntry> {
    let entry = |name: &str, description: &str, schema: Value| ToolEntry {
        name: names::namespaced("harbor", name),
        model_name: name.to_owned(),
        server_id: "harbor".to_owned(),
        title: None,
        description: description.to_owned(),
        input_schema: schema,
        annotations: None,
        imitates: None,
        page_origin: None,
        ui: None,
    };
    let mut tools = vec![
        entry(
            SEARCH_TOOLS,
            "Finds the tools you may call that fit a task, best first: each with its name (server/tool), its description \
             and how to call it from execute_code.",
            json!({"type": "object", "properties": {
                "query": {"type": "string", "description": "What the tool should do, in words."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MOST_FOUND, "description": "How many tools at most (10 if not given)."}
            }, "required": ["query"]}),
        ),
        entry(
            DESCRIBE_TOOLS,
            "Gives the TypeScript declarations of tools (their arguments), to call them correctly from execute_code.",
            json!({"type": "object", "properties": {
                "names": {"type": "array", "items": {"type": "string"}, "description": "Tool names as search_tools gives them (server/tool)."}
            }, "required": ["names"]}),
        ),
        entry(
            EXECUTE_CODE,
            "Runs JavaScript (the body of an async function) that calls tools as `await tools.<server>.<tool>(args)` \
             (a REST service's operations also as `await api.<service>.<operationId>(params)`) \
             or `await callTool(\"server/tool\", args)` and returns a JSON value. A tool's refusal or failure is thrown \
             as an Error with a `code`. console.log output is returned too. No network, files or timers beyond setTimeout.",
            json!({"type": "object", "properties": {
                "code": {"type": "string", "description": "The code: e.g. `const a = await tools.everything.echo({message: \"hi\"}); return a;`"}
            }, "required": ["code"]}),
        ),
    ];
    if with_skills {
        tools.push(entry(
            LIST_SKILLS,
            "Lists the skills (instructions) the servers you may use publish, to read before writing code.",
            json!({"type": "object", "properties": {}}),
        ));
        tools.push(entry(
            GET_SKILL,
            "Reads one skill's instructions (its SKILL.md) by its URI, as list_skills gives it.",
            json!({"type": "object", "properties": {"uri": {"type": "string"}}, "required": ["uri"]}),
        ));
    }
    tools
}

/// Whether `tool` is one of code mode's own.
pub fn is_meta(tool: &str) -> bool {
    [SEARCH_TOOLS, DESCRIBE_TOOLS, EXECUTE_CODE, LIST_SKILLS, GET_SKILL].contains(&tool)
}

/// Where `search_tools` keeps its index between searches: a selector, and the key that names
/// the catalog searched (it changes whenever the catalog or the caller's share of it does).
#[derive(Clone, Copy)]
pub struct Kept<'a> {
    pub selector: &'a Selector,
    pub key: u64,
}

/// The key naming what `caller` searches: the registry's catalog revision, the caller, and how
/// many tools it may call (a tool suspended or approved changes the count).
pub fn catalog_key(revision: u64, caller: &str, count: usize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (revision, caller, count).hash(&mut hasher);
    hasher.finish()
}

/// Answers `search_tools`, `describe_tools` or `execute_code` over `tools` (what the caller
/// may call), the code's calls going to `host`; `None` for another tool.
pub async fn answer_meta(
    tool: &str,
    arguments: &JsonObject,
    tools: &[ToolEntry],
    kept: Kept<'_>,
    sandbox: &Sandbox,
    host: &dyn Host,
    calls: usize,
) -> Option<Result<Value, ErrorObject>> {
    let text = |key: &str| arguments.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(match tool {
        SEARCH_TOOLS => (|| {
            let query = text("query").ok_or_else(|| ErrorObject::invalid("search_tools needs a `query`"))?;
            let limit = arguments.get("limit").and_then(Value::as_u64).unwrap_or(10).clamp(1, MOST_FOUND as u64);
            let found: Vec<Value> = kept
                .selector
                .select(kept.key, tools, &query, limit as usize)
                .into_iter()
                .map(|i| {
                    let tool = &tools[i];
                    json!({ "name": tool.name, "description": tool.description, "call": call_expression(tool) })
                })
                .collect();
            Ok(answer(json!({ "tools": found })))
        })(),
        DESCRIBE_TOOLS => (|| {
            let wanted: Vec<&str> = arguments
                .get("names")
                .and_then(Value::as_array)
                .ok_or_else(|| ErrorObject::invalid("describe_tools needs `names`, a list of tool names"))?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let declarations: Vec<String> = wanted
                .iter()
                .map(|name| match tools.iter().find(|t| t.name == *name || t.model_name == *name) {
                    Some(tool) => declaration(tool),
                    None => format!("// {name}: no tool of that name that you may call"),
                })
                .collect();
            Ok(json!({ "content": [{ "type": "text", "text": declarations.join("\n\n") }] }))
        })(),
        EXECUTE_CODE => match text("code") {
            None => Err(ErrorObject::invalid("execute_code needs `code`")),
            Some(code) => {
                let limits = Limits { calls, ..Limits::default() };
                Ok(match sandbox.run(&code, host, limits).await {
                    Ok(ran) => answer(
                        json!({ "result": ran.value, "logs": ran.logs, "toolCalls": ran.calls, "calls": ran.made }),
                    ),
                    Err(error) => failed(&error),
                })
            }
        },
        _ => return None,
    })
}

/// A run that failed, as a tool error the model reads: the code, the message naming the limit,
/// and what it logged.
fn failed(error: &SandboxError) -> Value {
    let logs = match error {
        SandboxError::Threw { logs, .. } => logs.clone(),
        _ => Vec::new(),
    };
    let said = json!({ "error": { "code": error.code(), "message": error.to_string() }, "logs": logs });
    json!({ "content": [{ "type": "text", "text": said.to_string() }], "isError": true })
}

/// A caller's answer to one of the code's calls, as the code sees it: the result, or a refusal
/// or a tool error (an `isError` result) as `(code, message)` to throw.
pub fn as_thrown(called: Result<Value, ErrorObject>) -> Result<Value, (String, String)> {
    match called {
        Ok(result) if result.get("isError") == Some(&Value::Bool(true)) => {
            let text = result["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n");
            Err(("ERR_TOOL_FAILED".into(), text))
        }
        Ok(result) => Ok(result),
        Err(error) => Err((error.code.as_str().to_owned(), error.message)),
    }
}

/// The `(server, tool)` pairs the code gets as `tools.<server>.<tool>`.
pub fn code_tools(tools: &[ToolEntry]) -> Vec<(String, String)> {
    tools
        .iter()
        .map(|t| {
            let own = names::split_namespaced(&t.name).map_or(t.name.as_str(), |(_, tool)| tool);
            (t.server_id.clone(), own.to_owned())
        })
        .collect()
}

/// Its arguments as a call takes them: an object, or none.
pub fn arguments_of(tool: &str, arguments: Value) -> Result<Option<JsonObject>, (String, String)> {
    match arguments {
        Value::Object(arguments) => Ok(Some(arguments)),
        Value::Null => Ok(None),
        _ => Err(("ERR_INVALID_REQUEST".into(), format!("{tool}'s arguments must be an object"))),
    }
}

/// The agent loop's runner in code mode: code mode's own tools answered here (over `tools`, each
/// call the code makes going to `inner`, as the model's own call would), the rest passed on.
pub struct CodeRunner<'a> {
    pub inner: &'a dyn ToolRunner,
    /// What the code may call.
    pub tools: Vec<ToolEntry>,
    pub sandbox: &'a Sandbox,
    /// The calls one run may make.
    pub calls: usize,
    /// Where `search_tools` keeps its index.
    pub kept: Kept<'a>,
    /// Where code mode's own calls are audited, as whom, under which method.
    pub audit: (Store, Who, &'static str),
    /// Where `list_skills` and `get_skill` read, when they are offered.
    pub skills: Option<Shelf<'a>>,
}

/// The skills a run may read: the running servers', only those of `servers` when given (the
/// servers whose tools the run may call — a site's, never the user's others).
#[derive(Clone, Copy)]
pub struct Shelf<'a> {
    pub registry: &'a Servers,
    pub servers: Option<&'a [String]>,
}

impl Shelf<'_> {
    /// The skills as `(server/name, server, SKILL.md's URI, description)`.
    async fn skills(&self) -> Vec<(String, String, String, String)> {
        let mut all = crate::chat::skills::listed(self.registry).await;
        if let Some(servers) = self.servers {
            all.retain(|(_, server, ..)| servers.contains(server));
        }
        all
    }

    /// Whether there is any skill to read.
    pub async fn has_any(&self) -> bool {
        !self.skills().await.is_empty()
    }

    /// Answers `list_skills` or `get_skill`; `None` for another tool.
    async fn answer(
        &self,
        tool: &str,
        arguments: &JsonObject,
        cancel: &CancellationToken,
    ) -> Option<Result<Value, ErrorObject>> {
        let skills = self.skills().await;
        Some(match tool {
            LIST_SKILLS => {
                let listed: Vec<Value> = skills
                    .iter()
                    .map(|(name, _, uri, description)| json!({ "name": name, "description": description, "uri": uri }))
                    .collect();
                Ok(answer(json!({ "skills": listed })))
            }
            GET_SKILL => {
                let uri = arguments.get("uri").and_then(Value::as_str).unwrap_or_default();
                match skills.iter().find(|(name, _, listed, _)| listed == uri || name == uri) {
                    None => Err(ErrorObject::invalid(format!("no skill you may read is at {uri:?}; see list_skills"))),
                    Some((_, server, uri, _)) => crate::chat::skills::read(self.registry, server, uri, cancel).await,
                }
            }
            _ => return None,
        })
    }
}

impl ToolRunner for CodeRunner<'_> {
    fn call<'b>(
        &'b self,
        tool: &'b ToolEntry,
        args: JsonObject,
        cancel: &'b CancellationToken,
        progress: ProgressSink,
    ) -> BoxFuture<'b, Result<Value, ErrorObject>> {
        Box::pin(async move {
            if tool.server_id != names::HARBOR || !is_meta(&tool.model_name) {
                return self.inner.call(tool, args, cancel, progress).await;
            }
            let (store, who, method) = &self.audit;
            let audit = Audit::begin(store, who.clone(), method, Some(&tool.name));
            if let Some(read) = match &self.skills {
                Some(shelf) => shelf.answer(&tool.model_name, &args, cancel).await,
                None => None,
            } {
                audit.finish(&read);
                return read;
            }
            let host =
                RunnerHost { runner: self.inner, tools: &self.tools, cancel, progress, made: Default::default() };
            let answered =
                answer_meta(&tool.model_name, &args, &self.tools, self.kept, self.sandbox, &host, self.calls).await;
            let outcome =
                answered.unwrap_or_else(|| Err(ErrorObject::invalid(format!("{} is not offered here", tool.name))));
            audit.finish(&outcome);
            outcome
        })
    }
}

/// The sandbox's way to an agent loop's tools: each call the code makes is the loop's own call,
/// reported as the `execute_code` card's progress as it is made.
struct RunnerHost<'a> {
    runner: &'a dyn ToolRunner,
    tools: &'a [ToolEntry],
    cancel: &'a CancellationToken,
    progress: ProgressSink,
    made: std::sync::atomic::AtomicU32,
}

impl Host for RunnerHost<'_> {
    fn tools(&self) -> Vec<(String, String)> {
        code_tools(self.tools)
    }

    fn call<'b>(&'b self, tool: String, arguments: Value) -> BoxFuture<'b, Result<Value, (String, String)>> {
        Box::pin(async move {
            let arguments = arguments_of(&tool, arguments)?.unwrap_or_default();
            // Only the run's own tools: a site's allowlist, the chat turn's choice.
            let Some(entry) = self.tools.iter().find(|t| t.name == tool || t.model_name == tool) else {
                return Err(("ERR_TOOL_NOT_ALLOWED".into(), format!("{tool} is not among the tools this run may use")));
            };
            // The tool's own progress has nowhere to go inside code: it is let go. The call
            // itself is reported, begun and ended, as a call inside the `execute_code` card.
            let number = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let report = |args, outcome| Progress {
                progress: f64::from(number),
                total: None,
                message: None,
                inner: Some(Inner { number, tool: entry.name.clone(), args, outcome }),
            };
            let _ = self.progress.send(report(Value::Object(arguments.clone()), None)).await;
            let (progress, _) = tokio::sync::mpsc::channel(1);
            let called = self.runner.call(entry, arguments, self.cancel, progress).await;
            let _ = self.progress.send(report(Value::Null, Some(called.clone()))).await;
            as_thrown(called)
        })
    }
}

/// A result a model reads as text and an app as `structuredContent`.
pub fn answer(value: Value) -> Value {
    json!({ "content": [{ "type": "text", "text": value.to_string() }], "structuredContent": value })
}

/// How code calls `tool`: `tools.<server>.<tool>`, bracketed where the name is no identifier.
fn call_expression(tool: &ToolEntry) -> String {
    let own = names::split_namespaced(&tool.name).map_or(tool.name.as_str(), |(_, t)| t);
    let part = |name: &str| match is_identifier(name) {
        true => format!(".{name}"),
        false => format!("[{}]", Value::String(name.to_owned())),
    };
    format!("tools{}{}", part(&tool.server_id), part(own))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `tool` as a TypeScript declaration: its description as a comment, its arguments as a type.
pub fn declaration(tool: &ToolEntry) -> String {
    let comment = match tool.description.trim() {
        "" => String::new(),
        text => format!("/** {} */\n", text.replace("*/", "* /")),
    };
    format!("{comment}{}(args: {}): Promise<ToolResult>", call_expression(tool), typescript(&tool.input_schema, 0))
}

/// A JSON Schema as a TypeScript type (what TypeScript can say; `unknown` for the rest).
pub fn typescript(schema: &Value, depth: usize) -> String {
    if depth > 6 {
        return "unknown".into();
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(Value::to_string).collect::<Vec<_>>().join(" | ");
    }
    if let Some(value) = schema.get("const") {
        return value.to_string();
    }
    for union in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(union).and_then(Value::as_array) {
            return options.iter().map(|o| typescript(o, depth + 1)).collect::<Vec<_>>().join(" | ");
        }
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => {
            return kinds
                .iter()
                .map(|k| {
                    typescript(
                        &json!({ "type": k, "items": schema.get("items"), "properties": schema.get("properties") }),
                        depth + 1,
                    )
                })
                .collect::<Vec<_>>()
                .join(" | ")
        }
        Some(Value::String(kind)) => kind.as_str(),
        _ if schema.get("properties").is_some() => "object",
        _ => return "unknown".into(),
    };
    match kind {
        "string" => "string".into(),
        "integer" | "number" => "number".into(),
        "boolean" => "boolean".into(),
        "null" => "null".into(),
        "array" => {
            let items =
                schema.get("items").filter(|i| !i.is_null()).map_or("unknown".into(), |i| typescript(i, depth + 1));
            format!("Array<{items}>")
        }
        "object" => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return "Record<string, unknown>".into();
            };
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let fields: Vec<String> = properties
                .iter()
                .map(|(name, property)| {
                    let key = if is_identifier(name) { name.clone() } else { Value::String(name.clone()).to_string() };
                    let optional = if required.contains(&name.as_str()) { "" } else { "?" };
                    let about = property
                        .get("description")
                        .and_then(Value::as_str)
                        .map(|d| format!(" /** {} */", d.replace("*/", "* /")))
                        .unwrap_or_default();
                    format!("{key}{optional}: {};{about}", typescript(property, depth + 1))
                })
                .collect();
            format!("{{ {} }}", fields.join(" "))
        }
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_reads_as_a_typescript_type() {
        let schema = json!({"type": "object", "properties": {
            "message": {"type": "string", "description": "What to say"},
            "times": {"type": "integer"},
            "mode": {"enum": ["loud", "soft"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "odd-name": {"type": ["string", "null"]}
        }, "required": ["message"]});
        let ts = typescript(&schema, 0);
        assert!(ts.contains("message: string; /** What to say */"), "{ts}");
        assert!(ts.contains("times?: number;"), "{ts}");
        assert!(ts.contains(r#"mode?: "loud" | "soft";"#), "{ts}");
        assert!(ts.contains("tags?: Array<string>;"), "{ts}");
        assert!(ts.contains(r#""odd-name"?: string | null;"#), "{ts}");
        assert_eq!(typescript(&json!({}), 0), "unknown");
        let deep = (0..20).fold(json!({"type": "string"}), |inner, _| json!({"type": "array", "items": inner}));
        assert!(typescript(&deep, 0).contains("unknown"), "deep schemas end");
    }

    #[test]
    fn a_tool_is_called_by_an_expression_code_can_write() {
        let mut tool = meta_tools(false).remove(0);
        (tool.server_id, tool.name) = ("everything".into(), "everything/get-sum".into());
        assert_eq!(call_expression(&tool), r#"tools.everything["get-sum"]"#);
        tool.name = "everything/echo".into();
        assert_eq!(call_expression(&tool), "tools.everything.echo");
    }
}
