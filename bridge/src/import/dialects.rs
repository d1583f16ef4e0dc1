//! The config dialects of other MCP clients, each read into the same [`RawServer`]s.
//!
//! | dialect | servers under | remote URL key | notes |
//! |---|---|---|---|
//! | Claude Desktop | `mcpServers` | — | stdio only |
//! | Cursor | `mcpServers` | `url` | `envFile`, `${env:X}`, `${userHome}`, `${workspaceFolder}` |
//! | VS Code | `servers` (or `mcp.servers` in settings.json) | `url` with `type` http/sse | `inputs`, `${input:id}`, `envFile`; JSON with comments |
//! | Windsurf | `mcpServers` | `serverUrl` | |
//! | Claude Code | `mcpServers` (and `projects.*.mcpServers` in `~/.claude.json`) | `url` with `type` | `${VAR}`, `${VAR:-default}` |
//! | Zed | `context_servers` | `url` | `command` as a string or `{path, args, env}`; JSON with comments |

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub use harbor_protocol::api::import::Dialect;

/// The dialect a file's path suggests.
pub fn guess(path: &std::path::Path) -> Option<Dialect> {
    let text = path.to_string_lossy().replace('\\', "/");
    let file = path.file_name()?.to_string_lossy();
    Some(match () {
        _ if file == "claude_desktop_config.json" => Dialect::ClaudeDesktop,
        _ if text.contains("/.cursor/") => Dialect::Cursor,
        _ if text.contains("/.vscode/") || text.contains("/Code/User/") => Dialect::VsCode,
        _ if text.contains("/windsurf/") || file == "mcp_config.json" => Dialect::Windsurf,
        _ if file == ".mcp.json" || file == ".claude.json" => Dialect::ClaudeCode,
        _ if text.contains("/zed/") => Dialect::Zed,
        _ => return None,
    })
}

/// One server as a config file describes it, before variables are filled in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawServer {
    pub name: String,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub env_file: Option<String>,
    pub url: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub disabled: bool,
}

/// What a file holds: its servers, and VS Code's inputs that are passwords.
#[derive(Debug, Default)]
pub struct Parsed {
    pub servers: Vec<RawServer>,
    pub password_inputs: Vec<String>,
}

/// Reads `config` (already parsed JSON) as `dialect`. Any server that cannot be read fails the
/// whole file, naming the server and the problem.
pub fn read(dialect: Dialect, config: &Value) -> Result<Parsed, String> {
    let root = config.as_object().ok_or("the file is not a JSON object")?;
    let mut parsed = Parsed::default();
    match dialect {
        Dialect::VsCode => {
            let (servers, inputs) = match (root.get("servers"), root.get("mcp")) {
                (Some(servers), _) => (servers, root.get("inputs")),
                (None, Some(mcp)) => (mcp.get("servers").unwrap_or(&Value::Null), mcp.get("inputs")),
                (None, None) => return Err("no \"servers\" object (nor \"mcp.servers\")".into()),
            };
            parsed.servers = servers_of(servers, dialect)?;
            for input in inputs.and_then(Value::as_array).into_iter().flatten() {
                if input["password"] == true {
                    if let Some(id) = input["id"].as_str() {
                        parsed.password_inputs.push(id.to_owned());
                    }
                }
            }
        }
        Dialect::Zed => {
            parsed.servers = servers_of(root.get("context_servers").unwrap_or(&Value::Null), dialect)?;
        }
        Dialect::ClaudeCode => {
            if let Some(servers) = root.get("mcpServers") {
                parsed.servers = servers_of(servers, dialect)?;
            }
            // ~/.claude.json also keeps servers per project.
            for (_, project) in root.get("projects").and_then(Value::as_object).into_iter().flatten() {
                if let Some(servers) = project.get("mcpServers") {
                    parsed.servers.extend(servers_of(servers, dialect)?);
                }
            }
            if root.get("mcpServers").is_none() && root.get("projects").is_none() {
                return Err("no \"mcpServers\" object".into());
            }
        }
        Dialect::ClaudeDesktop | Dialect::Cursor | Dialect::Windsurf => {
            parsed.servers = servers_of(root.get("mcpServers").ok_or("no \"mcpServers\" object")?, dialect)?;
        }
    }
    Ok(parsed)
}

fn servers_of(servers: &Value, dialect: Dialect) -> Result<Vec<RawServer>, String> {
    if servers.is_null() {
        return Ok(Vec::new());
    }
    let servers = servers.as_object().ok_or("the servers are not an object of name → server")?;
    servers
        .iter()
        .map(|(name, server)| server_of(name, server, dialect).map_err(|e| format!("server {name:?}: {e}")))
        .collect()
}

fn server_of(name: &str, server: &Value, dialect: Dialect) -> Result<RawServer, String> {
    let object = server.as_object().ok_or("not an object")?;
    let mut raw = RawServer { name: name.to_owned(), ..RawServer::default() };
    raw.disabled =
        object.get("disabled") == Some(&Value::Bool(true)) || object.get("enabled") == Some(&Value::Bool(false));
    match object.get("command") {
        // Zed's older form: "command": {"path", "args", "env"}.
        Some(Value::Object(command)) if dialect == Dialect::Zed => {
            raw.command = Some(string(command.get("path"), "command.path")?.ok_or("command.path is missing")?);
            raw.args = strings(command.get("args"), "command.args")?;
            raw.env = string_map(command.get("env"), "command.env")?;
        }
        Some(command) => {
            raw.command = string(Some(command), "command")?;
            raw.args = strings(object.get("args"), "args")?;
            raw.env = string_map(object.get("env"), "env")?;
        }
        None => {}
    }
    raw.env_file = string(object.get("envFile"), "envFile")?;
    let url_key = if dialect == Dialect::Windsurf && object.contains_key("serverUrl") { "serverUrl" } else { "url" };
    raw.url = string(object.get(url_key), url_key)?;
    raw.headers = string_map(object.get("headers"), "headers")?;
    if raw.command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err("the command is empty".into());
    }
    match (&raw.command, &raw.url) {
        (None, None) => Err(format!("neither a \"command\" nor a \"{url_key}\"")),
        (Some(_), Some(_)) => Err(format!("both a \"command\" and a \"{url_key}\"; Harbor cannot tell which to run")),
        _ => Ok(raw),
    }
}

fn string(value: Option<&Value>, what: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{what} must be a string, not {other}")),
    }
}

fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                // Numbers in args are common ("--port", 8080) and mean their text.
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("{what} must hold strings, not {other}")),
            })
            .collect(),
        Some(other) => Err(format!("{what} must be a list, not {other}")),
    }
}

fn string_map(value: Option<&Value>, what: &str) -> Result<BTreeMap<String, String>, String> {
    let empty = Map::new();
    let object = match value {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(object)) => object,
        Some(other) => return Err(format!("{what} must be an object, not {other}")),
    };
    object
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            Value::Number(_) | Value::Bool(_) => Ok((key.clone(), value.to_string())),
            other => Err(format!("{what}.{key} must be a string, not {other}")),
        })
        .collect()
}
