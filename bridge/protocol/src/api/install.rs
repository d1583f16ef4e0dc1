//! `catalog.list` and `install.*`: Harbor's curated directory, and installs from it, from a
//! package name, a binary release, a git repository, an MCP Registry `server.json` or an
//! `.mcpb` bundle. Every install streams the installers' output as [`InstallEvent`]s and ends
//! with the new server, stopped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::servers::ServerEntry;

crate::methods! {
    /// The directory's entries matching every word of `query`.
    CatalogList = "catalog.list", Extension, CatalogQuery => Vec<CatalogEntry>;
    InstallCatalog = "install.catalog", Extension, InstallFromCatalog => ServerEntry, InstallEvent;
    /// What a `server.json` offers, to ask the user for its fields.
    InstallServerJsonDescribe = "install.serverJson.describe", Extension, ServerJson => Described;
    InstallServerJson = "install.serverJson", Extension, ServerJson => ServerEntry, InstallEvent;
    InstallBinary = "install.binary", Extension, InstallBinaryParams => ServerEntry, InstallEvent;
    InstallGit = "install.git", Extension, InstallGitParams => ServerEntry, InstallEvent;
    InstallBundle = "install.bundle", Extension, InstallBundleParams => ServerEntry, InstallEvent;
    /// `npm:NAME[@VERSION]` or `pypi:NAME[==VERSION]`.
    InstallPackage = "install.package", Extension, InstallPackageParams => ServerEntry, InstallEvent;
    /// An MCP server written in JavaScript (one file), run by Harbor's own sandbox, no Node.js.
    InstallJsServer = "install.jsServer", Extension, InstallJsServerParams => ServerEntry, InstallEvent;
    /// A REST API as a server: its OpenAPI 3.x document, each operation a tool.
    InstallRestService = "install.restService", Extension, InstallRestServiceParams => ServerEntry, InstallEvent;
    /// Where npm and PyPI packages come from.
    InstallRegistriesGet = "install.registries.get", Extension, super::Empty => Registries;
    /// Sets both registries (absent: the public one).
    InstallRegistriesSet = "install.registries.set", Extension, Registries => Registries;
}

/// Where packages come from, when not the public registries: a company mirror, or a local
/// registry on loopback.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Registries {
    /// npm's registry URL (`npm install --registry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub npm: Option<String>,
    /// A PyPI simple index URL (`pip install --index-url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pypi: Option<String>,
}

/// A package on a registry, at a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PackageRef {
    Npm { package: String, version: Option<String> },
    Pypi { package: String, version: Option<String> },
}

/// What a directory server needs beyond its own folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Needs {
    /// It reaches the network (a web fetcher, a hosted API).
    pub network: bool,
}

/// Something the user provides when installing a directory server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    pub id: String,
    pub label: String,
    pub kind: InputKind,
    #[serde(default)]
    pub required: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// One folder or file, into the arguments.
    Path,
    /// Several folders, each its own argument.
    Paths,
    /// Text into the arguments.
    Text,
    /// A non-secret environment variable named by the input's id.
    Env,
    /// A secret environment variable named by the input's id, for the keychain.
    Secret,
    /// The client id of the user's OAuth app at the entry's account provider: given, the server
    /// gets its token from the account the user connects (see `Account`).
    ClientId,
}

/// One server of the directory, as the sidebar lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub description: String,
    pub source: PackageRef,
    #[serde(default)]
    pub inputs: Vec<Input>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Needs>,
    /// The provider account the server can work with (its client id comes from the
    /// `clientId` input), instead of a token pasted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<super::servers::Account>,
    /// The id of the server already installed from the same package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// `install.catalog`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallFromCatalog {
    /// The directory entry's id.
    pub entry: String,
    /// The new server's id (the entry's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Input id → value: a string, or a list of strings for `paths`.
    #[serde(default)]
    pub inputs: BTreeMap<String, Value>,
}

/// `install.serverJson` and its `describe`: a `server.json` from a file or as a document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Value>,
    /// Which of the described options to install (the first when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Field key → value.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// A release asset: where it is, its digest, and which system it is for (any when unset).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub url: String,
    pub sha256: String,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub arch: Option<String>,
}

/// What the user adds to what an install finds: arguments, variables, secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extras {
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variable → value, kept in the OS keychain.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallBinaryParams {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub assets: Vec<Asset>,
    #[serde(flatten)]
    pub extras: Extras,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallGitParams {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subfolder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extras: Extras,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallBundleParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Required for a URL; checked for a file when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The bundle's `user_config` values.
    #[serde(default)]
    pub user_config: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallPackageParams {
    pub spec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extras: Extras,
}

/// `install.jsServer`: a JavaScript server's file (a path, or an https URL with its SHA-256).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallJsServerParams {
    pub source: String,
    /// Required for a URL; checked for a file when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The id (from the file's name when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The hosts its `fetch` may reach (none: no network at all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Variable → value, kept in the OS keychain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Variable → the id of a secret already in the keychain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_env: BTreeMap<String, String>,
}

/// `install.restService`: a REST API's OpenAPI 3.x document (a path, or an https URL with its
/// SHA-256), where the API answers, and the skills that say how to use it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallRestServiceParams {
    pub source: String,
    /// Required for a URL; checked for a file when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The id (from the document's title when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The API's address, when the document names none (or another one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// A skill's Markdown file (`SKILL.md`-shaped) or a folder of skills (each a folder with
    /// its `SKILL.md`), offered as the service's skills (SEP-2640).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<String>,
    /// Variable → value, kept in the OS keychain: `HARBOR_API_TOKEN`, `HARBOR_API_KEY`,
    /// `HARBOR_API_USERNAME`/`_PASSWORD`, `HARBOR_API_CLIENT_ID`/`_SECRET`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Variable → the id of a secret already in the keychain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_env: BTreeMap<String, String>,
}

/// What an install is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Installing,
    /// Pulling a container image.
    Pulling,
}

/// What an install streams before its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InstallEvent {
    /// A line of the installers' output.
    Progress { phase: Phase, line: String },
}

/// Something the user gives for one way of running a `server.json` server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    /// How the value is given back: `arg:<n>`, `env:<NAME>`, `header:<Name>`, `var:<name>`.
    pub key: String,
    pub label: String,
    pub required: bool,
    pub secret: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

/// One way to run the server, as `server.json` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOption {
    pub index: usize,
    /// `npm`, `pypi`, `oci`, `mcpb`, `streamable-http`, `sse`, …
    pub kind: String,
    /// The package identifier or the URL.
    pub target: String,
    pub fields: Vec<Field>,
    /// Why Harbor cannot run this option yet, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
}

/// What a `server.json` says about its server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Described {
    pub name: String,
    pub description: String,
    pub version: String,
    pub options: Vec<RunOption>,
}
