//! Servers from git repositories: clone (a branch and a sub-folder may be named, or given as a
//! GitHub `/tree/<branch>/<folder>` link), find how the project builds, build it in the server's
//! folder, and run what it built.
//!
//! | the project has | build | run |
//! |---|---|---|
//! | `package.json` | `npm install`, then `npm run build` when it has one | `node` + its `bin` (or `main`) |
//! | `pyproject.toml` | a virtual environment with the project installed | its first `[project.scripts]` entry |
//! | `Cargo.toml` | `cargo build --release` | `target/release/<bin>` |
//! | `go.mod` | `go build` | the built program |
//! | only a `Dockerfile` | the image built on the Docker engine (`harbor-local/<id>:<commit>`) | run with the Docker runtime |

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{run, InstallError, Installed};

/// Where the code is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitSource {
    pub url: String,
    pub branch: Option<String>,
    pub subfolder: Option<String>,
}

impl GitSource {
    /// A clone URL, or a GitHub link to a branch and folder
    /// (`https://github.com/OWNER/REPO/tree/BRANCH/sub/folder`).
    pub fn parse(link: &str, branch: Option<String>, subfolder: Option<String>) -> Result<GitSource, String> {
        let link = link.trim();
        let allowed = ["https://", "http://", "git://", "ssh://", "file://", "git@"];
        if !allowed.iter().any(|p| link.starts_with(p)) || link.contains(char::is_whitespace) {
            return Err(format!("{link:?} is not a git URL (https://, git://, ssh://, file:// or git@…)"));
        }
        if let Some(rest) = link.strip_prefix("https://github.com/") {
            let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
            if parts.len() >= 4 && parts[2] == "tree" {
                let folder = parts[4..].join("/");
                return Ok(GitSource {
                    url: format!("https://github.com/{}/{}.git", parts[0], parts[1].trim_end_matches(".git")),
                    branch: branch.or(Some(parts[3].to_owned())),
                    subfolder: subfolder.or((!folder.is_empty()).then_some(folder)),
                });
            }
        }
        if subfolder.as_deref().is_some_and(|s| s.split('/').any(|part| part == "..")) {
            return Err("the sub-folder may not leave the repository".into());
        }
        Ok(GitSource { url: link.to_owned(), branch, subfolder })
    }
}

pub async fn install(
    source: &GitSource,
    folder: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<Installed, InstallError> {
    tokio::fs::create_dir_all(folder).await.map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let repo = folder.join("repo");
    let repo_text = repo.to_string_lossy().into_owned();
    let mut clone = vec!["clone", "--depth", "1"];
    if let Some(branch) = &source.branch {
        clone.extend(["--branch", branch.as_str()]);
    }
    clone.extend(["--", source.url.as_str(), repo_text.as_str()]);
    run("git", &clone, None, progress, cancel).await?;
    let dir = match &source.subfolder {
        Some(sub) => repo.join(sub.trim_matches('/')),
        None => repo.clone(),
    };
    if !dir.is_dir() {
        return Err(InstallError::NotFound(format!(
            "the repository has no folder {}; check the subfolder",
            source.subfolder.as_deref().unwrap_or_default()
        )));
    }
    let version = commit(&repo).unwrap_or_else(|| "unknown".into());
    let mut image = None;
    let (command, args) = if dir.join("package.json").is_file() {
        node(&dir, progress, cancel).await?
    } else if dir.join("pyproject.toml").is_file() {
        python(&dir, folder, progress, cancel).await?
    } else if dir.join("Cargo.toml").is_file() {
        rust(&dir, progress, cancel).await?
    } else if dir.join("go.mod").is_file() {
        go(&dir, folder, progress, cancel).await?
    } else if dir.join("Dockerfile").is_file() {
        // Only a Dockerfile: the image is built on the engine and the server runs it.
        let server = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "server".into());
        let tag = format!("harbor-local/{server}:{}", &version[..version.len().min(12)]);
        let lines = progress.clone();
        crate::runtimes::docker::build_image(&dir, &tag, move |line| {
            let _ = lines.send(line);
        })
        .await
        .map_err(|e| e.to_string())?;
        image = Some(tag);
        (String::new(), Vec::new())
    } else {
        return Err("the project has none of package.json, pyproject.toml, Cargo.toml, go.mod or a Dockerfile; Harbor cannot tell how to build it".into());
    };
    Ok(Installed {
        name: None,
        command,
        args,
        env: Default::default(),
        secrets: std::collections::BTreeMap::new(),
        version,
        folder: folder.to_path_buf(),
        image,
    })
}

/// The checked-out commit, short, read from `.git` (no `git` run needed).
fn commit(repo: &Path) -> Option<String> {
    let head = std::fs::read_to_string(repo.join(".git/HEAD")).ok()?;
    let reference = head.trim().strip_prefix("ref: ").map(str::to_owned);
    let hash = match reference {
        Some(reference) => std::fs::read_to_string(repo.join(".git").join(&reference)).ok().or_else(|| {
            let packed = std::fs::read_to_string(repo.join(".git/packed-refs")).ok()?;
            packed.lines().find(|l| l.ends_with(&reference)).map(|l| l.split(' ').next().unwrap_or_default().to_owned())
        })?,
        None => head,
    };
    Some(hash.trim().chars().take(12).collect())
}

async fn node(
    dir: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<(String, Vec<String>), InstallError> {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).map_err(|e| e.to_string())?)
            .map_err(|e| format!("package.json is not JSON: {e}"))?;
    run("npm", &["install", "--no-audit", "--no-fund"], Some(dir), progress, cancel).await?;
    if manifest["scripts"]["build"].is_string() {
        run("npm", &["run", "build"], Some(dir), progress, cancel).await?;
    }
    let entry = match &manifest["bin"] {
        Value::String(bin) => Some(bin.clone()),
        Value::Object(bins) => bins.values().next().and_then(Value::as_str).map(str::to_owned),
        _ => manifest["main"].as_str().map(str::to_owned),
    }
    .ok_or("package.json names no program to run (no \"bin\" or \"main\")")?;
    Ok(("node".into(), vec![dir.join(entry).to_string_lossy().into_owned()]))
}

async fn python(
    dir: &Path,
    folder: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<(String, Vec<String>), InstallError> {
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).map_err(|e| e.to_string())?;
    let script =
        project_scripts(&text).into_iter().next().ok_or("pyproject.toml has no [project.scripts] entry to run")?;
    let venv = folder.join("venv");
    let bin = venv.join(if cfg!(windows) { "Scripts" } else { "bin" });
    let python = bin.join(if cfg!(windows) { "python.exe" } else { "python" });
    let (venv_text, python_text, dir_text) = (
        venv.to_string_lossy().into_owned(),
        python.to_string_lossy().into_owned(),
        dir.to_string_lossy().into_owned(),
    );
    if crate::runtimes::locate::find("uv").is_some() {
        run("uv", &["venv", "--quiet", &venv_text], None, progress, cancel).await?;
        run("uv", &["pip", "install", "--python", &python_text, &dir_text], None, progress, cancel).await?;
    } else {
        run("python3", &["-m", "venv", &venv_text], None, progress, cancel).await?;
        run(
            &python_text,
            &["-m", "pip", "install", "--disable-pip-version-check", "--no-input", &dir_text],
            None,
            progress,
            cancel,
        )
        .await?;
    }
    Ok((bin.join(script).to_string_lossy().into_owned(), Vec::new()))
}

async fn rust(
    dir: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<(String, Vec<String>), InstallError> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).map_err(|e| e.to_string())?;
    let name = toml_value(&text, "[[bin]]", "name")
        .or_else(|| toml_value(&text, "[package]", "name"))
        .ok_or("Cargo.toml names no package")?;
    run("cargo", &["build", "--release", "--quiet"], Some(dir), progress, cancel).await?;
    Ok((dir.join("target/release").join(name).to_string_lossy().into_owned(), Vec::new()))
}

async fn go(
    dir: &Path,
    folder: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<(String, Vec<String>), InstallError> {
    let out: PathBuf = folder.join("bin/server");
    let out_text = out.to_string_lossy().into_owned();
    run("go", &["build", "-o", &out_text, "."], Some(dir), progress, cancel).await?;
    Ok((out_text, Vec::new()))
}

/// The names under `[project.scripts]` in a `pyproject.toml`.
fn project_scripts(text: &str) -> Vec<String> {
    let mut inside = false;
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[project.scripts]";
            continue;
        }
        if inside {
            if let Some((name, _)) = line.split_once('=') {
                names.push(name.trim().trim_matches('"').to_owned());
            }
        }
    }
    names
}

/// The string `key` in the first `section` of a TOML file (enough for a name).
fn toml_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            if inside {
                return None;
            }
            inside = line == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().trim_matches('"').to_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_tree_links_give_the_clone_url_branch_and_folder() {
        let source = GitSource::parse("https://github.com/acme/tools/tree/dev/servers/notes", None, None).unwrap();
        assert_eq!(source.url, "https://github.com/acme/tools.git");
        assert_eq!(source.branch.as_deref(), Some("dev"));
        assert_eq!(source.subfolder.as_deref(), Some("servers/notes"));
        let plain = GitSource::parse("https://example.org/x.git", Some("main".into()), None).unwrap();
        assert_eq!(plain.branch.as_deref(), Some("main"));
        assert!(GitSource::parse("--upload-pack=evil", None, None).is_err());
        assert!(GitSource::parse("https://example.org/x.git", None, Some("../etc".into())).is_err());
    }

    #[test]
    fn project_files_name_what_to_run() {
        let pyproject = "[project]\nname = \"notes\"\n[project.scripts]\nnotes-mcp = \"notes:main\"\n";
        assert_eq!(project_scripts(pyproject), ["notes-mcp"]);
        let cargo = "[package]\nname = \"notes\"\nversion = \"1.0.0\"\n[dependencies]\nname = \"no\"\n";
        assert_eq!(toml_value(cargo, "[package]", "name").as_deref(), Some("notes"));
        assert_eq!(toml_value(cargo, "[[bin]]", "name"), None);
    }
}
