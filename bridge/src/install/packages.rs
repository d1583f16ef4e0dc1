//! npm and PyPI installs into one server's folder.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{run, InstallError, Installed};

/// `npm install` into `folder` as its own prefix; runs as `node <package>/<bin>`.
pub async fn npm(
    package: &str,
    version: Option<&str>,
    folder: &Path,
    registry: Option<&str>,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<Installed, InstallError> {
    tokio::fs::create_dir_all(folder).await.map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    // A package.json of its own, so npm installs here and not into a parent project.
    let manifest = r#"{"name": "harbor-server", "private": true}"#;
    tokio::fs::write(folder.join("package.json"), manifest)
        .await
        .map_err(|e| format!("cannot write in {}: {e}", folder.display()))?;
    let spec = match version {
        Some(version) => format!("{package}@{version}"),
        None => package.to_owned(),
    };
    let prefix = folder.to_string_lossy().into_owned();
    let mut args = vec![
        "install",
        "--prefix",
        prefix.as_str(),
        "--no-audit",
        "--no-fund",
        "--omit=dev",
        "--save-exact",
        "--loglevel=http",
        // A registry that does not answer fails in seconds, not after npm's minute of retries.
        "--fetch-retries=1",
        "--fetch-retry-mintimeout=1000",
        "--fetch-retry-maxtimeout=2000",
    ];
    let registry_flag = registry.map(|url| format!("--registry={url}"));
    args.extend(registry_flag.as_deref());
    args.push(spec.as_str());
    run("npm", &args, Some(folder), progress, cancel).await?;
    let root = folder.join("node_modules").join(package);
    let text = tokio::fs::read_to_string(root.join("package.json"))
        .await
        .map_err(|e| format!("npm installed no {package} ({e})"))?;
    let manifest: Value =
        serde_json::from_str(&text).map_err(|e| format!("{package}'s package.json is not JSON: {e}"))?;
    let short = package.rsplit('/').next().unwrap_or(package);
    let bin = match &manifest["bin"] {
        Value::String(bin) => bin.clone(),
        Value::Object(bins) => bins
            .get(short)
            .or_else(|| bins.values().next())
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| InstallError::Invalid(format!("{package} names no program to run")))?,
        _ => {
            return Err(InstallError::Invalid(format!(
                "{package} has no program to run (no \"bin\" in its package.json); it may not be an MCP server"
            )))
        }
    };
    Ok(Installed {
        name: None,
        command: "node".into(),
        args: vec![root.join(bin).to_string_lossy().into_owned()],
        env: Default::default(),
        secrets: std::collections::BTreeMap::new(),
        version: manifest["version"].as_str().unwrap_or("unknown").to_owned(),
        folder: folder.to_path_buf(),
        image: None,
    })
}

/// A virtual environment in `folder/venv` with the package; runs as its console script.
pub async fn pypi(
    package: &str,
    version: Option<&str>,
    folder: &Path,
    index: Option<&str>,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<Installed, InstallError> {
    tokio::fs::create_dir_all(folder).await.map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let venv = folder.join("venv");
    let venv_text = venv.to_string_lossy().into_owned();
    let python = scripts_dir(&venv).join(if cfg!(windows) { "python.exe" } else { "python" });
    let python_text = python.to_string_lossy().into_owned();
    let spec = match version {
        Some(version) => format!("{package}=={version}"),
        None => package.to_owned(),
    };
    let index: Vec<&str> = index.map(|url| vec!["--index-url", url]).unwrap_or_default();
    if crate::runtimes::locate::find("uv").is_some() {
        run("uv", &["venv", "--quiet", venv_text.as_str()], None, progress, cancel).await?;
        let mut install = vec!["pip", "install", "--python", python_text.as_str()];
        install.extend(&index);
        install.push(spec.as_str());
        run("uv", &install, None, progress, cancel).await?;
    } else {
        run("python3", &["-m", "venv", venv_text.as_str()], None, progress, cancel).await?;
        let mut pip = vec![
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--retries",
            "1",
            "--timeout",
            "5",
        ];
        pip.extend(&index);
        pip.push(spec.as_str());
        run(&python_text, &pip, None, progress, cancel).await?;
    }
    let (script, installed) = console_script(&venv, package).await?;
    Ok(Installed {
        name: None,
        command: scripts_dir(&venv).join(script).to_string_lossy().into_owned(),
        args: Vec::new(),
        env: Default::default(),
        secrets: std::collections::BTreeMap::new(),
        version: installed,
        folder: folder.to_path_buf(),
        image: None,
    })
}

fn scripts_dir(venv: &Path) -> PathBuf {
    venv.join(if cfg!(windows) { "Scripts" } else { "bin" })
}

/// The package's console script (the one named like it, else its first) and its version, from
/// its `.dist-info`.
async fn console_script(venv: &Path, package: &str) -> Result<(String, String), String> {
    let wanted = normalize(package);
    let lib = if cfg!(windows) { venv.join("Lib") } else { venv.join("lib") };
    let mut site_packages = Vec::new();
    if cfg!(windows) {
        site_packages.push(lib.join("site-packages"));
    } else if let Ok(entries) = std::fs::read_dir(&lib) {
        site_packages.extend(entries.flatten().map(|e| e.path().join("site-packages")));
    }
    for dir in site_packages {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".dist-info") else { continue };
            let Some((dist, version)) = stem.rsplit_once('-') else { continue };
            if normalize(dist) != wanted {
                continue;
            }
            let points = std::fs::read_to_string(entry.path().join("entry_points.txt")).unwrap_or_default();
            let scripts = console_scripts(&points);
            let script =
                scripts.iter().find(|s| normalize(s) == wanted).or_else(|| scripts.first()).cloned().ok_or_else(
                    || format!("{package} installs no program to run (no console script); it may not be an MCP server"),
                )?;
            return Ok((script, version.to_owned()));
        }
    }
    Err(format!("{package} was not found in its environment after installing"))
}

/// The names in the `[console_scripts]` section of an `entry_points.txt`.
fn console_scripts(text: &str) -> Vec<String> {
    let mut in_section = false;
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[console_scripts]";
            continue;
        }
        if in_section {
            if let Some((name, _)) = line.split_once('=') {
                names.push(name.trim().to_owned());
            }
        }
    }
    names
}

/// A distribution name as PEP 503 compares them.
fn normalize(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut out = String::new();
    for c in lower.chars() {
        let c = if matches!(c, '_' | '.') { '-' } else { c };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_scripts_and_names_read_like_pip_reads_them() {
        let points = "[console_scripts]\nmcp-server-time = mcp_server_time:main\n\n[other]\nx = y:z\n";
        assert_eq!(console_scripts(points), ["mcp-server-time"]);
        assert_eq!(normalize("MCP_Server.Time"), "mcp-server-time");
    }
}
