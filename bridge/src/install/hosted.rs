//! Servers Harbor runs itself from one file: an MCP server written in JavaScript (run by this
//! very binary's `js-server`, in its QuickJS sandbox, with no Node.js) and a REST API's OpenAPI
//! document (served by `openapi-server`, each operation a tool). The file is read from a path, or
//! downloaded and checked against its SHA-256, and kept in the server's own folder
//! (`servers/<id>/server.js`, `servers/<id>/openapi.yaml`), so removing the server removes it.
//!
//! A REST service may come with skills (SEP-2640): one `SKILL.md`-shaped Markdown file, or a
//! folder of skills (each a folder holding its `SKILL.md`). They are copied into
//! `servers/<id>/skills` and checked there as the server will serve them — skills given that
//! yield none are refused, so a user never installs instructions the model will not see.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{download, InstallError, Installed};

/// The largest script or document Harbor keeps.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// A server Harbor runs itself.
#[derive(Clone, Debug, PartialEq)]
pub enum Hosted {
    /// A JavaScript server's file, and the hosts its `fetch` may reach.
    Js { source: String, sha256: Option<String>, hosts: Vec<String> },
    /// A REST API's OpenAPI document, where the API answers, and its skills (a path).
    OpenApi { source: String, sha256: Option<String>, base_url: Option<String>, skills: Option<String> },
}

impl Hosted {
    pub fn source(&self) -> &str {
        match self {
            Hosted::Js { source, .. } | Hosted::OpenApi { source, .. } => source,
        }
    }

    /// A name for the server's id when the user gives none: the file's own name.
    pub fn stem(&self) -> String {
        let file = self.source().trim_end_matches('/').rsplit(['/', '\\']).next().unwrap_or("server");
        let stem = file.split(['?', '#']).next().unwrap_or(file);
        let stem = stem.split('.').next().filter(|s| !s.is_empty()).unwrap_or("server");
        stem.to_owned()
    }
}

/// Keeps `what` in `folder` and says how to run it.
pub async fn install(
    what: &Hosted,
    folder: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<Installed, InstallError> {
    tokio::fs::create_dir_all(folder).await.map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    // This very program runs them (`js-server`, `openapi-server`).
    let program = crate::paths::own_program().map_err(InstallError::Failed)?.display().to_string();
    match what {
        Hosted::Js { source, sha256, hosts } => {
            // The hosts first: a mistyped one fails before anything is downloaded.
            hosts.iter().try_for_each(|host| check_host(host))?;
            let file = folder.join("server.js");
            keep(source, sha256.as_deref(), &file, progress, cancel).await?;
            let mut args = vec!["js-server".to_owned(), file.display().to_string()];
            for host in hosts {
                args.extend(["--allow-host".to_owned(), host.clone()]);
            }
            Ok(installed(program, args, None, "1".into(), folder))
        }
        Hosted::OpenApi { source, sha256, base_url, skills } => {
            let file = folder.join("openapi.yaml");
            keep(source, sha256.as_deref(), &file, progress, cancel).await?;
            let text = tokio::fs::read_to_string(&file)
                .await
                .map_err(|_| InstallError::Invalid(format!("{source} is not text (UTF-8)")))?;
            let service =
                crate::openapi::parse(&text).map_err(|why| InstallError::Invalid(format!("{source}: {why}")))?;
            if let Some(base) = base_url {
                url::Url::parse(base).map_err(|e| InstallError::Invalid(format!("{base:?} is not a URL: {e}")))?;
            } else if service.base.is_none() {
                return Err(InstallError::Invalid(format!(
                    "{source} names no server URL: give the API's address (base URL)"
                )));
            }
            let _ = progress.send(format!("{} operations of \"{}\"", service.operations.len(), service.title));
            for skipped in &service.skipped {
                let _ = progress.send(format!("left out: {skipped}"));
            }
            let mut args = vec!["openapi-server".to_owned(), file.display().to_string()];
            if let Some(base) = base_url {
                args.extend(["--base-url".to_owned(), base.clone()]);
            }
            if let Some(skills) = skills {
                let kept = folder.join("skills");
                let names = copy_skills(Path::new(skills), &kept).await?;
                let _ = progress.send(format!("skills: {}", names.join(", ")));
                args.extend(["--skills".to_owned(), kept.display().to_string()]);
            }
            Ok(installed(program, args, Some(service.title), service_version(&text), folder))
        }
    }
}

fn installed(command: String, args: Vec<String>, name: Option<String>, version: String, folder: &Path) -> Installed {
    Installed {
        name,
        command,
        args,
        env: BTreeMap::new(),
        secrets: BTreeMap::new(),
        version,
        folder: folder.to_path_buf(),
        image: None,
    }
}

/// The document's `info.version`, or "unknown".
fn service_version(text: &str) -> String {
    let document: Option<serde_json::Value> =
        serde_json::from_str(text).ok().or_else(|| serde_norway::from_str(text).ok());
    document
        .and_then(|d| d.pointer("/info/version").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .unwrap_or_else(|| "unknown".into())
}

/// A host a JS server may fetch from (a name or an address, any port): nothing that could widen it.
fn check_host(host: &str) -> Result<(), InstallError> {
    let ipv6 = host.starts_with('[')
        && host.ends_with(']')
        && host[1..host.len() - 1].chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    let name = host.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
    let fine = !host.is_empty() && (ipv6 || name);
    match fine {
        true => Ok(()),
        false => Err(InstallError::Invalid(format!(
            "{host:?} is not a host: give one host name or address per entry (no port or path), like api.example.com"
        ))),
    }
}

/// Reads `source` (a path) or downloads it (a URL), checks it against `sha256` (required for a
/// URL) and writes it to `file`.
async fn keep(
    source: &str,
    sha256: Option<&str>,
    file: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<(), InstallError> {
    if source.starts_with("https://") || source.starts_with("http://") {
        let sha256 = sha256.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            InstallError::Invalid(format!("{source} is downloaded, so it needs its SHA-256 to be checked against"))
        })?;
        return download::fetch(&super::http()?, source, sha256, file, MAX_FILE_BYTES, progress, cancel).await;
    }
    let path = PathBuf::from(source);
    let size =
        tokio::fs::metadata(&path).await.map_err(|e| InstallError::NotFound(format!("cannot read {source}: {e}")))?;
    if size.len() > MAX_FILE_BYTES {
        return Err(InstallError::Rejected(format!(
            "{source} is larger than {} MiB, more than Harbor keeps",
            MAX_FILE_BYTES >> 20
        )));
    }
    let bytes =
        tokio::fs::read(&path).await.map_err(|e| InstallError::NotFound(format!("cannot read {source}: {e}")))?;
    if let Some(expected) = sha256.map(str::trim).filter(|s| !s.is_empty()) {
        let actual: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(InstallError::Rejected(format!(
                "the SHA-256 of {source} is {actual}, not the expected {expected}; nothing was installed"
            )));
        }
    }
    std::str::from_utf8(&bytes).map_err(|_| InstallError::Invalid(format!("{source} is not text (UTF-8)")))?;
    let _ = progress.send(format!("read {} bytes from {source}", bytes.len()));
    tokio::fs::write(file, &bytes)
        .await
        .map_err(|e| InstallError::Failed(format!("cannot write {}: {e}", file.display())))
}

/// Copies the skills at `from` (a Markdown file, or a folder of skills) to `to`, and checks them
/// as the server will serve them; their names.
async fn copy_skills(from: &Path, to: &Path) -> Result<Vec<String>, InstallError> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, InstallError> {
        let shown = from.display().to_string();
        let meta = std::fs::metadata(&from).map_err(|e| InstallError::NotFound(format!("cannot read {shown}: {e}")))?;
        if meta.is_dir() {
            copy_folder(&from, &to, 0)?;
        } else {
            let text = std::fs::read_to_string(&from)
                .map_err(|e| InstallError::Invalid(format!("cannot read {shown} as text: {e}")))?;
            let name = frontmatter_name(&text).ok_or_else(|| {
                InstallError::Invalid(format!(
                    "{shown} has no frontmatter naming the skill: start it with ---, `name: …`, `description: …`, ---"
                ))
            })?;
            let folder = to.join(&name);
            std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
            std::fs::write(folder.join(rmcp::model::SKILL_MD), text)
                .map_err(|e| format!("cannot write {}: {e}", folder.display()))?;
        }
        let catalog = rmcp::handler::server::skill_catalog::SkillCatalog::from_dir(&to)
            .map_err(|e| InstallError::Invalid(format!("the skills at {shown}: {e}")))?;
        let names: Vec<String> = catalog.skills().iter().map(|s| s.name().to_owned()).collect();
        if names.is_empty() {
            return Err(InstallError::Invalid(format!(
                "no skill in {shown}: each is a folder holding a SKILL.md whose frontmatter gives its `name` (the \
                 folder's) and `description`"
            )));
        }
        Ok(names)
    })
    .await
    .map_err(|e| InstallError::Failed(format!("copying the skills failed: {e}")))?
}

/// Copies a folder of skills, leaving out hidden entries and links; at most 8 levels deep.
fn copy_folder(from: &Path, to: &Path, depth: usize) -> Result<(), InstallError> {
    if depth > 8 {
        return Err(InstallError::Rejected(format!("{} nests deeper than skills do", from.display())));
    }
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            copy_folder(&entry.path(), &to.join(&name), depth + 1)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))
                .map_err(|e| format!("cannot copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The `name:` of a Markdown file's YAML frontmatter.
fn frontmatter_name(text: &str) -> Option<String> {
    let rest = text.strip_prefix("---")?;
    let (head, _) = rest.split_once("\n---")?;
    let head: serde_json::Value = serde_norway::from_str(head).ok()?;
    let name = head.get("name")?.as_str()?.trim();
    let plain = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '-');
    plain.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_comes_from_the_files_name() {
        let js = |source: &str| Hosted::Js { source: source.into(), sha256: None, hosts: Vec::new() };
        assert_eq!(js("/tmp/weather.js").stem(), "weather");
        assert_eq!(js("https://example.com/a/notes.min.js?v=2").stem(), "notes");
        assert_eq!(js("https://example.com/").stem(), "example");
    }

    #[test]
    fn a_skills_frontmatter_names_it_and_nothing_else_does() {
        assert_eq!(
            frontmatter_name("---\nname: pets-howto\ndescription: x\n---\n# Pets").as_deref(),
            Some("pets-howto")
        );
        assert_eq!(frontmatter_name("# Pets\nname: x"), None);
        // A name that would be a path is no name.
        assert_eq!(frontmatter_name("---\nname: ../../etc\ndescription: x\n---\n"), None);
    }

    #[test]
    fn a_host_is_one_host() {
        assert!(check_host("api.example.com").is_ok());
        assert!(check_host("127.0.0.1").is_ok());
        assert!(check_host("[::1]").is_ok());
        assert!(check_host("127.0.0.1:8080").is_err(), "any port of the host is reached; a port names none");
        assert!(check_host("*.example.com").is_err());
        assert!(check_host("example.com/path").is_err());
        assert!(check_host("").is_err());
    }
}
