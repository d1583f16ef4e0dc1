//! Installing servers: the curated [`catalog`], and packages from npm and PyPI installed once into
//! the server's own folder (`servers/<id>` in the data folder), version pinned, so that starting
//! the server later needs no network and runs exactly what was installed — never `npx -y` or
//! `uvx` at every start.
//!
//! npm packages go into their own prefix (`npm install --prefix`) and run as
//! `node <package>/<bin>`; PyPI packages get their own virtual environment (uv when it is there,
//! else `python3 -m venv` and pip) and run as the environment's console script. Binaries are
//! downloaded (the asset for this system, from a release list) and must match their SHA-256;
//! `.mcpb` bundles are unpacked and run as their manifest says ([`mcpb`]); git repositories are
//! cloned and built as their project files say ([`git`]). The installer's
//! output streams to the caller line by line. A failed install leaves nothing on disk and no
//! server behind.

pub mod catalog;
pub mod download;
pub mod error;
pub mod git;
pub mod hosted;
pub mod mcpb;
mod packages;
pub mod server_json;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use error::InstallError;

use crate::runtimes::locate;
use crate::store::servers::Source;

pub use harbor_protocol::api::install::Registries;

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

/// Anything Harbor installs.
#[derive(Clone, Debug, PartialEq)]
pub enum Installable {
    Package(Package),
    /// A program downloaded from one of `assets` (the one for this system), named `name`.
    Binary {
        assets: Vec<download::Asset>,
        name: String,
        version: Option<String>,
    },
    /// A git repository, built as its project files say.
    Git(git::GitSource),
    /// An `.mcpb` bundle from a URL or a local file, with the user's settings.
    Bundle {
        url: Option<String>,
        path: Option<PathBuf>,
        sha256: Option<String>,
        values: BTreeMap<String, String>,
    },
    /// A JavaScript server or a REST API's document, run by Harbor itself.
    Hosted(hosted::Hosted),
}

impl Installable {
    pub fn source(&self) -> Source {
        match self {
            Installable::Package(package) => package.source(),
            Installable::Binary { assets, .. } => {
                let picked = download::pick(assets).ok().or(assets.first());
                Source::Binary { url: picked.map(|a| a.url.clone()).unwrap_or_default() }
            }
            Installable::Git(source) => Source::Git { url: source.url.clone() },
            Installable::Bundle { url, path, .. } => Source::Bundle {
                from: url.clone().or_else(|| path.as_ref().map(|p| p.display().to_string())).unwrap_or_default(),
            },
            Installable::Hosted(hosted::Hosted::Js { source, .. }) => Source::Js { from: source.clone() },
            Installable::Hosted(hosted::Hosted::OpenApi { source, .. }) => Source::OpenApi { from: source.clone() },
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Installable::Package(package) => package.name().to_owned(),
            Installable::Binary { name, .. } => name.clone(),
            Installable::Git(source) => source.url.clone(),
            Installable::Bundle { url, path, .. } => {
                url.clone().or_else(|| path.as_ref().map(|p| p.display().to_string())).unwrap_or_default()
            }
            Installable::Hosted(what) => what.source().to_owned(),
        }
    }
}

/// What an install produced: how to run it and what was installed.
#[derive(Clone, Debug, PartialEq)]
pub struct Installed {
    pub name: Option<String>,
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Variable → value of the settings the server needs kept secret.
    pub secrets: BTreeMap<String, String>,
    pub version: String,
    pub folder: PathBuf,
    /// An image built from the project's Dockerfile: the server runs it with the Docker runtime
    /// (`command` is then empty).
    pub image: Option<String>,
}

/// The installers' client for downloads, built on the first one.
fn http() -> Result<reqwest::Client, InstallError> {
    static CLIENT: crate::http::Lazy =
        crate::http::Lazy::new(|builder| builder.connect_timeout(std::time::Duration::from_secs(15)));
    CLIENT.get().map_err(InstallError::Network)
}

/// Installs `what` into `folder` (which must not exist yet), sending each line of the
/// installers' output to `progress`. On failure or cancellation the folder is removed.
pub async fn install(
    what: &Installable,
    folder: &Path,
    registries: &Registries,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<Installed, InstallError> {
    if folder.exists() {
        return Err(InstallError::Invalid(format!(
            "{} exists already; remove the server that owns it first",
            folder.display()
        )));
    }
    // Removes the folder unless the install succeeds — also when this future is dropped midway,
    // which no code after an `.await` would see.
    let mut guard = FolderGuard { folder: folder.to_path_buf(), keep: false };
    let outcome = match what {
        Installable::Package(Package::Npm { package, version }) => {
            packages::npm(package, version.as_deref(), folder, registries.npm.as_deref(), progress, cancel).await
        }
        Installable::Package(Package::Pypi { package, version }) => {
            packages::pypi(package, version.as_deref(), folder, registries.pypi.as_deref(), progress, cancel).await
        }
        Installable::Binary { assets, name, version } => {
            binary(assets, name, version.clone(), folder, progress, cancel).await
        }
        Installable::Git(source) => git::install(source, folder, progress, cancel).await,
        Installable::Bundle { url, path, sha256, values } => {
            bundle(url.as_deref(), path.as_deref(), sha256.as_deref(), values, folder, progress, cancel).await
        }
        Installable::Hosted(what) => hosted::install(what, folder, progress, cancel).await,
    };
    // A failed install's folder is gone before the caller hears of the failure; the guard is
    // for a cancelled one (this future dropped), which cannot wait.
    if outcome.is_err() {
        let _ = tokio::fs::remove_dir_all(folder).await;
    }
    guard.keep = true;
    outcome
}

async fn binary(
    assets: &[download::Asset],
    name: &str,
    version: Option<String>,
    folder: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<Installed, InstallError> {
    let asset = download::pick(assets).map_err(InstallError::Invalid)?;
    let file_name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    let bin = folder.join("bin");
    tokio::fs::create_dir_all(&bin).await.map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    let file = bin.join(if file_name.is_empty() { "server".into() } else { file_name });
    download::fetch(&http()?, &asset.url, &asset.sha256, &file, download::MAX_DOWNLOAD_BYTES, progress, cancel).await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make {} executable: {e}", file.display()))?;
    }
    Ok(Installed {
        name: None,
        command: file.to_string_lossy().into_owned(),
        args: Vec::new(),
        env: BTreeMap::new(),
        secrets: BTreeMap::new(),
        version: version.unwrap_or_else(|| "unknown".into()),
        folder: folder.to_path_buf(),
        image: None,
    })
}

async fn bundle(
    url: Option<&str>,
    path: Option<&Path>,
    sha256: Option<&str>,
    values: &BTreeMap<String, String>,
    folder: &Path,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<Installed, InstallError> {
    tokio::fs::create_dir_all(folder).await.map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let archive = match (url, path) {
        (Some(url), _) => {
            let archive = folder.join("bundle.mcpb");
            let sha256 = sha256
                .ok_or_else(|| InstallError::Invalid("a bundle downloaded from a URL needs its sha256".into()))?;
            download::fetch(&http()?, url, sha256, &archive, mcpb::MAX_BUNDLE_BYTES, progress, cancel).await?;
            archive
        }
        (None, Some(path)) => {
            if let Some(expected) = sha256 {
                let actual = hash_file(path).await?;
                if actual != expected.trim().to_ascii_lowercase() {
                    return Err(InstallError::Rejected(format!(
                        "the SHA-256 of {} is {actual}, not the expected {expected}",
                        path.display()
                    )));
                }
            }
            path.to_path_buf()
        }
        (None, None) => return Err(InstallError::Invalid("give the bundle's url or path".into())),
    };
    let unpacked = folder.join("bundle");
    let _ = progress.send(format!("unpacking {}", archive.display()));
    let values = values.clone();
    // Unzipping is blocking work: it runs on the blocking pool, never on the bridge's thread.
    let bundle = tokio::task::spawn_blocking(move || mcpb::unpack(&archive, &unpacked, &values))
        .await
        .map_err(|e| InstallError::Failed(format!("unpacking failed: {e}")))??;
    Ok(Installed {
        name: Some(bundle.name),
        command: bundle.command,
        args: bundle.args,
        env: bundle.env,
        secrets: bundle.secrets,
        version: bundle.version,
        folder: folder.to_path_buf(),
        image: None,
    })
}

/// The SHA-256 of a file, in hex, read in pieces on the blocking pool.
async fn hash_file(path: &Path) -> Result<String, InstallError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)
            .map_err(|e| InstallError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) > mcpb::MAX_BUNDLE_BYTES {
            return Err(InstallError::Rejected(format!(
                "{} is larger than the {} MiB a bundle may be",
                path.display(),
                mcpb::MAX_BUNDLE_BYTES >> 20
            )));
        }
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let read = file.read(&mut buffer).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
    })
    .await
    .map_err(|e| InstallError::Failed(format!("hashing failed: {e}")))?
}

struct FolderGuard {
    folder: PathBuf,
    keep: bool,
}

impl Drop for FolderGuard {
    /// Deleting a `node_modules` can take seconds: on the blocking pool when there is a runtime.
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let folder = std::mem::take(&mut self.folder);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || std::fs::remove_dir_all(folder))),
            Err(_) => drop(std::fs::remove_dir_all(folder)),
        }
    }
}

/// Runs `program` with `args`, streaming its output lines; fails with its last lines.
async fn run(
    program: &str,
    args: &[&str],
    cwd: Option<&Path>,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<(), InstallError> {
    let path = if Path::new(program).is_absolute() {
        PathBuf::from(program)
    } else {
        locate::find(program).ok_or_else(|| {
            InstallError::Missing(format!("{program} is not installed: {}", locate::install_hint(program)))
        })?
    };
    let mut command = Command::new(&path);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command.kill_on_drop(true);
    crate::runtimes::process::die_with_bridge(command.as_std_mut());
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
    let mut child = command.spawn().map_err(|e| InstallError::Missing(format!("cannot run {program}: {e}")))?;
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
                return Err(InstallError::Cancelled);
            }
        }
    }
    let status = child.wait().await.map_err(|e| format!("{program} failed: {e}"))?;
    if !status.success() {
        let summary = format!("{program} {} failed ({status}):\n{}", args.join(" "), tail.join("\n"));
        return Err(error::classify(program, summary, &tail));
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
