//! Importing the servers other MCP clients are configured with: Claude Desktop, Cursor, VS Code,
//! Windsurf, Claude Code and Zed.
//!
//! Import is pure: [`preview`] reads a file and returns [`Entry`]s — the exact command, arguments,
//! environment variable names or URL Harbor would register, with variables filled in where they
//! can be — and nothing runs or is stored until the user confirms. Values that look secret (by
//! name, like `GITHUB_TOKEN`, or by shape, like `ghp_…`) are kept apart from the launch, for the
//! secret store; they are never written to the database. An entry that cannot be read in full says
//! what is missing while the others import; a file that cannot be read at all is an
//! [`ImportError`] naming it, the user's to fix or the file system's. Ids are stable: the same file gives the same ids,
//! and a server Harbor already has (same command and arguments, or same URL) is marked as such
//! instead of being added twice. [`export`] writes Harbor's servers the other way, into Claude
//! Desktop's or Cursor's file.

pub mod dialects;
mod error;
pub mod export;
pub mod jsonc;
pub mod locations;
pub mod vars;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::mcp::names::suggest_server_id;
use crate::store::servers::{Launch, ServerSpec};
pub use dialects::Dialect;
use dialects::RawServer;
pub use error::ImportError;
use vars::{Context, Missing};

/// One server a file would import.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Its name in the file.
    pub name: String,
    /// The id Harbor would give it.
    pub id: String,
    /// How it would run; secret values are not in here.
    pub launch: Launch,
    /// Names of environment variables (or headers) whose values go to the secret store.
    pub secrets: Vec<String>,
    /// What the user must still provide: VS Code inputs, unset variables, a project folder.
    pub needs: Needs,
    /// Off in the client's config.
    pub disabled: bool,
    /// Harbor has this server already, under this id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// The secret values themselves: never serialized.
    #[serde(skip)]
    pub secret_values: BTreeMap<String, String>,
}

pub use harbor_protocol::api::import::Needs;

/// What one file gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub path: PathBuf,
    pub dialect: Dialect,
    pub client: &'static str,
    pub entries: Vec<Entry>,
}

/// Reads `path` as `dialect` (guessed from the path when `None`) and returns what importing it
/// would create, next to the servers Harbor has (`existing`).
pub fn preview(
    path: &Path,
    dialect: Option<Dialect>,
    context: &Context,
    existing: &[ServerSpec],
) -> Result<Preview, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ImportError::io(path, "cannot read it", &e))?;
    let json: serde_json::Value = serde_json::from_str(&jsonc::strip(&text)).map_err(|e| {
        ImportError::Invalid(format!("{}: not valid JSON ({e}); nothing was imported from it", path.display()))
    })?;
    // A file in the shape most apps share (`mcpServers`) is read in that shape wherever it lives;
    // Cursor's reading of it understands the most variables.
    let shared_shape = || json.get("mcpServers").is_some_and(serde_json::Value::is_object).then_some(Dialect::Cursor);
    let dialect = dialect.or_else(|| dialects::guess(path)).or_else(shared_shape).ok_or_else(|| {
        ImportError::Invalid(format!("{}: cannot tell which app wrote this file; name the dialect (claude-desktop, cursor, vs-code, windsurf, claude-code, zed)", path.display()))
    })?;
    let parsed = dialects::read(dialect, &json)
        .map_err(|e| ImportError::Invalid(format!("{}: {e}; nothing was imported from it", path.display())))?;
    let mut context = context.clone();
    if context.workspace.is_none() {
        context.workspace = project_folder(path);
    }
    let mut taken: BTreeSet<String> = existing.iter().map(|s| s.id.clone()).collect();
    let mut servers = parsed.servers;
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut entries = Vec::new();
    // Each entry stands alone: one that cannot be read in full says what is missing, and the
    // others import as they are.
    for raw in servers {
        entries.push(entry(raw, &context, &parsed.password_inputs, path));
    }
    for entry in &mut entries {
        if let Some(same) = existing.iter().find(|s| same_launch(&s.launch, &entry.launch)) {
            entry.duplicate_of = Some(same.id.clone());
            entry.id = same.id.clone();
            continue;
        }
        entry.id = unique(&entry.id, &taken);
        taken.insert(entry.id.clone());
    }
    Ok(Preview { path: path.to_path_buf(), dialect, client: dialect.name(), entries })
}

fn entry(raw: RawServer, context: &Context, password_inputs: &[String], path: &Path) -> Entry {
    let mut missing = Missing::default();
    let mut secrets = Vec::new();
    let mut secret_values = BTreeMap::new();
    let expand = |text: &str, missing: &mut Missing| vars::expand(text, context, missing);
    let mut file_env = BTreeMap::new();
    let mut env_file_problem = None;
    if let Some(env_file) = &raw.env_file {
        let mut file_missing = Missing::default();
        let env_path = resolve_path(&expand(env_file, &mut file_missing), context, path);
        match std::fs::read_to_string(&env_path) {
            Ok(text) => file_env = dotenv(&text),
            Err(_) if file_missing.workspace => {
                env_file_problem = Some(format!(
                    "its envFile {env_file} names the project folder, which has no value outside a project: import \
                     from the project's own config, or set the variables it needs in the server's settings"
                ));
            }
            Err(e) => {
                env_file_problem = Some(format!(
                    "its envFile {} cannot be read ({e}): set the variables it holds in the server's settings",
                    env_path.display()
                ));
            }
        }
        missing.inputs.extend(file_missing.inputs);
        missing.env.extend(file_missing.env);
    }
    let mut keep = |name: &str, value: String, plain: &mut BTreeMap<String, String>| {
        let asks_password = password_inputs.iter().any(|id| value.contains(&format!("${{input:{id}}}")));
        if looks_secret(name, &value) || asks_password {
            secrets.push(name.to_owned());
            if !value.contains("${") {
                secret_values.insert(name.to_owned(), value);
            }
        } else {
            plain.insert(name.to_owned(), value);
        }
    };
    let launch = match (&raw.command, &raw.url) {
        (Some(command), _) => {
            let command = expand(command, &mut missing);
            let args = raw.args.iter().map(|a| expand(a, &mut missing)).collect();
            let mut env = BTreeMap::new();
            for (name, value) in file_env.into_iter().chain(raw.env.clone()) {
                let value = expand(&value, &mut missing);
                keep(&name, value, &mut env);
            }
            Launch::Process { command, args, env, cwd: None }
        }
        (None, Some(url)) => {
            let url = expand(url, &mut missing);
            let mut headers = BTreeMap::new();
            for (name, value) in &raw.headers {
                let value = expand(value, &mut missing);
                keep(name, value, &mut headers);
            }
            Launch::Remote { url, headers }
        }
        (None, None) => unreachable!("dialects::read refuses servers without a command or URL"),
    };
    secrets.sort();
    Entry {
        id: suggest_server_id(&raw.name),
        name: raw.name,
        launch,
        secrets,
        needs: Needs {
            inputs: missing.inputs,
            env: missing.env,
            workspace: missing.workspace,
            env_file: env_file_problem,
        },
        disabled: raw.disabled,
        duplicate_of: None,
        secret_values,
    }
}

/// Whether a value (named `name`) should go to the secret store.
pub fn looks_secret(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let by_name = upper.split(|c: char| !c.is_ascii_alphanumeric()).any(|part| {
        ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE"].iter().any(|w| part.contains(w))
            || part.ends_with("KEY")
            || part == "PAT"
    });
    let by_shape = ["ghp_", "gho_", "ghs_", "github_pat_", "sk-", "xoxb-", "xoxp-", "AKIA", "glpat-", "Bearer "]
        .iter()
        .any(|prefix| value.starts_with(prefix));
    !value.is_empty() && (by_name || by_shape)
}

/// Two launches that run the same thing.
fn same_launch(a: &Launch, b: &Launch) -> bool {
    match (a, b) {
        (Launch::Process { command: c1, args: a1, .. }, Launch::Process { command: c2, args: a2, .. }) => {
            c1 == c2 && a1 == a2
        }
        (Launch::Remote { url: u1, .. }, Launch::Remote { url: u2, .. }) => {
            u1.trim_end_matches('/') == u2.trim_end_matches('/')
        }
        _ => false,
    }
}

/// `id`, or `id-2`, `id-3`, … — the first not taken.
fn unique(id: &str, taken: &BTreeSet<String>) -> String {
    if !taken.contains(id) {
        return id.to_owned();
    }
    (2..)
        .map(|n| format!("{}-{n}", id.chars().take(28).collect::<String>()))
        .find(|c| !taken.contains(c))
        .expect("a free id")
}

/// The project folder of a project-level config (`.cursor/mcp.json`, `.vscode/mcp.json`,
/// `.mcp.json`).
fn project_folder(path: &Path) -> Option<PathBuf> {
    let parent = path.parent()?;
    let name = parent.file_name()?.to_string_lossy();
    if name == ".cursor" || name == ".vscode" {
        return parent.parent().map(Path::to_path_buf);
    }
    (path.file_name()? == ".mcp.json").then(|| parent.to_path_buf())
}

fn resolve_path(path: &str, context: &Context, config: &Path) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        return path;
    }
    let base = context.workspace.clone().or_else(|| config.parent().map(Path::to_path_buf)).unwrap_or_default();
    base.join(path)
}

/// `KEY=value` lines; `#` comments, `export`, and quotes allowed.
fn dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (key, value) = l.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((key.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_told_by_name_or_shape() {
        assert!(looks_secret("GITHUB_PERSONAL_ACCESS_TOKEN", "abc"));
        assert!(looks_secret("Authorization", "Bearer x"));
        assert!(looks_secret("SOMETHING", "ghp_1234567890"));
        assert!(!looks_secret("LOG_LEVEL", "debug"));
        assert!(!looks_secret("PATH_PREFIX", "/usr"), "PATH is not a PAT");
        assert!(!looks_secret("API_KEY", ""));
    }

    #[test]
    fn dotenv_files_read_like_shells_write_them() {
        let env = dotenv("# comment\nexport A=1\nB = \"two words\"\nC='x'\n\nnot a line");
        assert_eq!(env.get("A").map(String::as_str), Some("1"));
        assert_eq!(env.get("B").map(String::as_str), Some("two words"));
        assert_eq!(env.get("C").map(String::as_str), Some("x"));
        assert_eq!(env.len(), 3);
    }
}
