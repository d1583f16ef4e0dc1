//! Harbor's curated directory: servers that exist on their registries, each pinned to a version,
//! with the inputs it needs (folders, a connection URL, a token). The list ships inside the
//! bridge (`directory.json`), so browsing it needs no network.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Package;

/// One server in the directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub description: String,
    pub source: Package,
    /// Arguments after the program; `{input}` is replaced by that input's value.
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub inputs: Vec<Input>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// What the server needs from the machine, when known: it then runs in the OS sandbox
    /// with exactly that (its path inputs as its folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Needs>,
    /// The provider account the server can work with instead of a pasted token: its endpoints,
    /// scope and variable (the client id is the user's, from the `clientId` input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<crate::store::servers::Account>,
}

pub use harbor_protocol::api::install::{Input, InputKind, Needs};

/// The directory.
pub fn entries() -> &'static [CatalogEntry] {
    static ENTRIES: OnceLock<Vec<CatalogEntry>> = OnceLock::new();
    ENTRIES.get_or_init(|| serde_json::from_str(include_str!("directory.json")).expect("the directory ships valid"))
}

pub fn get(id: &str) -> Option<&'static CatalogEntry> {
    entries().iter().find(|e| e.id == id)
}

/// Entries matching every word of `query` in their id, name, description or tags.
pub fn search(query: &str) -> Vec<&'static CatalogEntry> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    entries()
        .iter()
        .filter(|e| {
            let text = format!("{} {} {} {}", e.id, e.name, e.description, e.tags.join(" ")).to_lowercase();
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .collect()
}

/// An entry's arguments, environment and secrets with the user's `values` filled in.
pub struct Filled {
    /// The sandbox the entry runs in, with the folders the user gave it.
    pub sandbox: Option<crate::store::servers::Sandbox>,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Variable → value, for the secret store (never the database).
    pub secrets: BTreeMap<String, String>,
    /// The entry's account, with the user's client id, when one was given.
    pub account: Option<crate::store::servers::Account>,
}

/// Shows secret names, never their values.
impl std::fmt::Debug for Filled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filled")
            .field("args", &self.args)
            .field("env", &self.env)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

pub fn fill(entry: &CatalogEntry, values: &BTreeMap<String, Value>) -> Result<Filled, String> {
    let mut filled =
        Filled { sandbox: None, args: Vec::new(), env: BTreeMap::new(), secrets: BTreeMap::new(), account: None };
    let mut folders = Vec::new();
    let mut replacements: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for input in &entry.inputs {
        let value = values.get(&input.id);
        let given: Vec<String> = match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if input.kind == InputKind::Paths => {
                s.split('\n').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
            }
            Some(Value::String(s)) => vec![s.trim().to_owned()].into_iter().filter(|s| !s.is_empty()).collect(),
            Some(Value::Array(items)) if input.kind == InputKind::Paths => {
                items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            Some(other) => return Err(format!("{}: expected text, not {other}", input.label)),
        };
        if given.is_empty() {
            if input.required {
                return Err(format!("{} is needed to install {}", input.label, entry.name));
            }
            continue;
        }
        if matches!(input.kind, InputKind::Path | InputKind::Paths) {
            if let Some(relative) = given.iter().find(|p| !std::path::Path::new(p).is_absolute()) {
                return Err(format!("{}: {relative:?} is not an absolute path", input.label));
            }
            folders.extend(given.iter().cloned());
        }
        match input.kind {
            InputKind::Env => {
                filled.env.insert(input.id.clone(), given[0].clone());
            }
            InputKind::Secret => {
                filled.secrets.insert(input.id.clone(), given[0].clone());
            }
            InputKind::ClientId => {
                let preset =
                    entry.account.clone().ok_or_else(|| format!("{} names no account provider", entry.name))?;
                filled.account = Some(crate::store::servers::Account { client_id: given[0].clone(), ..preset });
            }
            _ => {
                replacements.insert(format!("{{{}}}", input.id), given);
            }
        }
    }
    // An entry that can work with an account needs that, or the token its variable would hold.
    if let Some(account) = &entry.account {
        if filled.account.is_none() && !filled.secrets.contains_key(&account.env) {
            return Err(format!(
                "{} needs a token: paste one, or give your OAuth app's client id to connect your account",
                entry.name
            ));
        }
    }
    // A file input (a database) is granted as its folder.
    let folders = folders
        .into_iter()
        .map(|p| {
            let path = std::path::Path::new(&p);
            match path.is_file() {
                true => path.parent().map_or(p.clone(), |d| d.display().to_string()),
                false => p,
            }
        })
        .collect();
    filled.sandbox = entry.sandbox.as_ref().map(|needs| crate::store::servers::Sandbox {
        enabled: crate::runtimes::sandbox::bwrap().is_some(),
        network: needs.network,
        folders,
    });
    for arg in &entry.args {
        match replacements.get(arg) {
            Some(values) => filled.args.extend(values.iter().cloned()),
            None => {
                let mut text = arg.clone();
                for (placeholder, values) in &replacements {
                    text = text.replace(placeholder, &values.join(" "));
                }
                if !(text.starts_with('{') && text.ends_with('}')) {
                    filled.args.push(text);
                }
            }
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_directory_has_a_dozen_pinned_entries_and_searches() {
        assert!(entries().len() >= 12);
        assert!(entries().iter().all(|e| match &e.source {
            Package::Npm { version, .. } | Package::Pypi { version, .. } => version.is_some(),
        }));
        let ids: Vec<&str> = search("time").iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["time"]);
        assert!(search("SQL database").iter().any(|e| e.id == "postgres"));
    }

    #[test]
    fn inputs_fill_arguments_env_and_secret_names() {
        let filesystem = get("filesystem").unwrap();
        let filled =
            fill(filesystem, &BTreeMap::from([("paths".into(), json!(["/home/ada/a", "/home/ada/b"]))])).unwrap();
        assert_eq!(filled.args, ["/home/ada/a", "/home/ada/b"]);
        assert!(fill(filesystem, &BTreeMap::new()).unwrap_err().contains("Folders it may use is needed"));
        assert!(fill(filesystem, &BTreeMap::from([("paths".into(), json!("docs"))])).unwrap_err().contains("absolute"));
        let slack = get("slack").unwrap();
        let values =
            BTreeMap::from([("SLACK_BOT_TOKEN".into(), json!("xoxb-1")), ("SLACK_TEAM_ID".into(), json!("T1"))]);
        let filled = fill(slack, &values).unwrap();
        assert_eq!(filled.secrets, BTreeMap::from([("SLACK_BOT_TOKEN".to_owned(), "xoxb-1".to_owned())]));
        assert!(!filled.env.contains_key("SLACK_BOT_TOKEN"), "a secret never lands in the plain environment");
        assert_eq!(filled.env.get("SLACK_TEAM_ID").map(String::as_str), Some("T1"));
        let git = fill(get("git").unwrap(), &BTreeMap::from([("repository".into(), json!("/src/harbor"))])).unwrap();
        assert_eq!(git.args, ["--repository", "/src/harbor"]);
    }

    #[test]
    fn github_takes_a_pasted_token_or_the_client_id_of_an_account_to_connect() {
        let github = get("github").unwrap();
        let pasted = fill(github, &BTreeMap::from([("GITHUB_PERSONAL_ACCESS_TOKEN".into(), json!("ghp_x"))])).unwrap();
        assert!(pasted.account.is_none() && pasted.secrets.contains_key("GITHUB_PERSONAL_ACCESS_TOKEN"));
        let connected = fill(github, &BTreeMap::from([("clientId".into(), json!(" Iv1.abc "))])).unwrap();
        let account = connected.account.expect("an account to connect");
        assert_eq!((account.client_id.as_str(), account.env.as_str()), ("Iv1.abc", "GITHUB_PERSONAL_ACCESS_TOKEN"));
        assert_eq!(account.device_authorization_endpoint.as_deref(), Some("https://github.com/login/device/code"));
        assert!(
            account.authorization_endpoint.is_none(),
            "GitHub's browser flow needs a client secret: the code it is"
        );
        assert!(connected.secrets.is_empty());
        assert!(fill(github, &BTreeMap::new()).unwrap_err().contains("client id"));
    }
}
