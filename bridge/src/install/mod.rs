//! Installing servers: the curated [`catalog`], and packages from npm and PyPI installed once into
//! the server's own folder (`servers/<id>` in the data folder), version pinned, so that starting
//! the server later needs no network and runs exactly what was installed — never `npx -y` or
//! `uvx` at every start.
//!
//! npm packages go into their own prefix (`npm install --prefix`) and run as
//! `node <package>/<bin>`; PyPI packages get their own virtual environment (uv when it is there,
//! else `python3 -m venv` and pip) and run as the environment's console script. The installer's
//! output streams to the caller line by line. A failed install leaves nothing on disk and no
//! server behind.

pub mod catalog;
mod packages;
pub mod server_json;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::runtimes::locate;
use crate::store::servers::Source;

/// What to install: a package on a registry, at a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Package {
    Npm { package: String, version: Option<String> },
    Pypi { package: String, version: Option<String> },
}

impl Package {
    /// `npm:NAME[@VERSION]` or `pypi:NAME[==VERSION]`.
    pub fn parse(spec: &str) -> Result<Package, String> {
        if let Some(rest) = spec.strip_prefix("npm:") {
            // A scoped name starts with `@`; the version follows the last `@`.
            let (package, version) = match rest.rfind('@').filter(|at| *at > 0) {
                Some(at) => (&rest[..at], Some(rest[at + 1..].to_owned())),
                None => (rest, None),
            };
            return check(Package::Npm { package: package.to_owned(), version });
        }
        if let Some(rest) = spec.strip_prefix("pypi:") {
            let (package, version) = match rest.split_once("==") {
                Some((package, version)) => (package, Some(version.to_owned())),
                None => (rest, None),
            };
            return check(Package::Pypi { package: package.to_owned(), version });
        }
        Err(format!("{spec:?} is not a package: write npm:NAME[@VERSION] or pypi:NAME[==VERSION]"))
    }

    pub fn name(&self) -> &str {
        match self {
            Package::Npm { package, .. } | Package::Pypi { package, .. } => package,
        }
    }

    pub fn source(&self) -> Source {
        match self {
            Package::Npm { package, .. } => Source::Npm { package: package.clone() },
            Package::Pypi { package, .. } => Source::Pypi { package: package.clone() },
        }
    }
}

fn check(package: Package) -> Result<Package, String> {
    let name = package.name();
    let fine = |c: char| c.is_ascii_alphanumeric() || "@/._-".contains(c);
    let version_fine = match &package {
        Package::Npm { version, .. } | Package::Pypi { version, .. } => version
            .as_deref()
            .is_none_or(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))),
    };
    if name.is_empty() || !name.chars().all(fine) || name.starts_with('-') || !version_fine {
        return Err(format!("{name:?} is not a valid package name and version"));
    }
    Ok(package)
}

/// What an install produced: how to run it and what was installed.
#[derive(Clone, Debug, PartialEq)]
pub struct Installed {
    pub command: String,
    pub args: Vec<String>,
    pub version: String,
    pub folder: PathBuf,
}

/// Installs `package` into `folder` (which must not exist yet), sending each line of the
/// installers' output to `progress`. On failure or cancellation the folder is removed.
pub async fn install(
    package: &Package,
    folder: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<Installed, String> {
    if folder.exists() {
        return Err(format!("{} exists already; remove the server that owns it first", folder.display()));
    }
    let outcome = match package {
        Package::Npm { package, version } => packages::npm(package, version.as_deref(), folder, progress, cancel).await,
        Package::Pypi { package, version } => {
            packages::pypi(package, version.as_deref(), folder, progress, cancel).await
        }
    };
    if outcome.is_err() {
        let _ = tokio::fs::remove_dir_all(folder).await;
    }
    outcome
}

/// Runs `program` with `args`, streaming its output lines; fails with its last lines.
async fn run(
    program: &str,
    args: &[&str],
    cwd: Option<&Path>,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let path = if Path::new(program).is_absolute() {
        PathBuf::from(program)
    } else {
        locate::find(program).ok_or_else(|| format!("{program} is not installed: {}", locate::install_hint(program)))?
    };
    let mut command = Command::new(&path);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command.kill_on_drop(true);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    // The program's own folder first, so npm finds the node next to it.
    if let Some(dir) = path.parent() {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.to_path_buf()];
        paths.extend(std::env::split_paths(&rest));
        if let Ok(joined) = std::env::join_paths(paths) {
            command.env("PATH", joined);
        }
    }
    let mut child = command.spawn().map_err(|e| format!("cannot run {program}: {e}"))?;
    let (tx, mut lines) = mpsc::unbounded_channel::<String>();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut tail: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    let _ = progress.send(line.clone());
                    tail.push(line);
                    if tail.len() > 12 {
                        tail.remove(0);
                    }
                }
                None => break,
            },
            () = cancel.cancelled() => {
                let _ = child.kill().await;
                return Err("the install was cancelled".into());
            }
        }
    }
    let status = child.wait().await.map_err(|e| format!("{program} failed: {e}"))?;
    if !status.success() {
        return Err(format!("{program} {} failed ({status}):\n{}", args.join(" "), tail.join("\n")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_specs_read_scoped_names_and_pinned_versions() {
        assert_eq!(
            Package::parse("npm:@modelcontextprotocol/server-memory@2026.8.31").unwrap(),
            Package::Npm { package: "@modelcontextprotocol/server-memory".into(), version: Some("2026.8.31".into()) }
        );
        assert_eq!(Package::parse("npm:left-pad").unwrap(), Package::Npm { package: "left-pad".into(), version: None });
        assert_eq!(
            Package::parse("pypi:mcp-server-time==2026.10.19").unwrap(),
            Package::Pypi { package: "mcp-server-time".into(), version: Some("2026.10.19".into()) }
        );
        assert!(Package::parse("npm:--registry=evil").is_err());
        assert!(Package::parse("pypi:x==1;rm").is_err());
        assert!(Package::parse("cargo:ripgrep").is_err());
    }
}
