//! `import.*` and `export.*`: other MCP clients' config files — finding them, previewing what
//! importing one would create, importing the confirmed entries, and writing Harbor's servers
//! into an app's file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::servers::Launch;

crate::methods! {
    /// The config files of every known client that exist for this user.
    ImportDetect = "import.detect", Extension, super::Empty => Vec<Found>;
    /// What importing a file would create; nothing runs and nothing is stored.
    ImportPreview = "import.preview", Extension, PreviewParams => Preview;
    /// Imports the entries the user confirmed; the rest of the file is left alone.
    ImportApply = "import.apply", Extension, ApplyParams => Imported;
    ExportPreview = "export.preview", Extension, ExportParams => ExportPlan;
    /// Writes the servers into the app's file, keeping its other keys and a backup.
    ExportApply = "export.apply", Extension, ExportParams => Exported;
}

/// Which client wrote a config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    ClaudeDesktop,
    Cursor,
    VsCode,
    Windsurf,
    ClaudeCode,
    Zed,
}

impl Dialect {
    /// The client's name as its users know it.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::ClaudeDesktop => "Claude Desktop",
            Dialect::Cursor => "Cursor",
            Dialect::VsCode => "VS Code",
            Dialect::Windsurf => "Windsurf",
            Dialect::ClaudeCode => "Claude Code",
            Dialect::Zed => "Zed",
        }
    }
}

/// The apps Harbor can write servers into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum App {
    ClaudeDesktop,
    Cursor,
    VsCode,
}

impl App {
    pub fn dialect(self) -> Dialect {
        match self {
            App::ClaudeDesktop => Dialect::ClaudeDesktop,
            App::Cursor => Dialect::Cursor,
            App::VsCode => Dialect::VsCode,
        }
    }
}

/// A config file found on this machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    pub dialect: Dialect,
    pub client: String,
    pub path: String,
    pub exists: bool,
    /// How many servers it holds, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<usize>,
    /// Why it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    pub path: String,
    /// Guessed from the path (or the file's shape) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<Dialect>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyParams {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<Dialect>,
    /// The entries (by their name in the file) the user confirmed.
    pub names: Vec<String>,
}

/// What the user must still provide for an entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Needs {
    /// VS Code inputs the entry refers to.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Variables it refers to that have no value here.
    #[serde(default)]
    pub env: Vec<String>,
    /// It refers to a project folder (`${workspaceFolder}`).
    #[serde(default)]
    pub workspace: bool,
    /// Its `envFile` could not be read: why, and what to do. It imports without the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<String>,
}

/// One server of a previewed file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Its name in the file.
    pub name: String,
    /// The id Harbor would give it.
    pub id: String,
    /// How it would run; secret values are not in here.
    pub launch: Launch,
    /// Variables (or headers) whose values go to the keychain.
    pub secrets: Vec<String>,
    pub needs: Needs,
    /// Off in the client's config.
    pub disabled: bool,
    /// Harbor has this server already, under this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

/// What one file gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub path: String,
    pub dialect: Dialect,
    pub client: String,
    pub entries: Vec<Entry>,
}

/// An entry left out of an import, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub name: String,
    pub id: String,
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// The ids of the servers added.
    pub added: Vec<String>,
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    pub target: App,
    /// The config file; the app's usual one for this user when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub ids: Vec<String>,
}

/// What exporting a server would write, or why it cannot be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    pub id: String,
    /// The entry in the app's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Value>,
    /// Secret variables left out.
    #[serde(default)]
    pub left_out: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The file has an entry of that name already (it is replaced).
    #[serde(default)]
    pub replaces: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportPlan {
    pub path: String,
    pub servers: Vec<Planned>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    pub path: String,
    pub written: Vec<String>,
    /// The copy of the file as it was, when there was one.
    pub backup: Option<String>,
}
