//! `harbor-bridge import FILE`: preview (`--dry-run`) or import the servers another MCP client
//! is configured with, through the running bridge when there is one; `export`: the other way.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use harbor_bridge::link::Link;
use harbor_protocol::api::import::{
    App, ApplyParams, Dialect, ExportApply, ExportParams, ExportPreview, ImportApply, ImportPreview, Preview,
    PreviewParams,
};
use harbor_protocol::api::servers::{Launch, ServersList};
use harbor_protocol::api::Empty;
use serde::de::DeserializeOwned;

use super::servers::{ask, print_json};

/// A name on the command line as the contract spells it (`claude-desktop`, `vs-code`, …).
fn named<T: DeserializeOwned>(what: &str, name: &str, known: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| anyhow!("{name:?} is not {what}; use one of {known}"))
}

pub async fn import(data_dir: &Path, file: &Path, dialect: Option<&str>, dry_run: bool, json: bool) -> Result<()> {
    let path = std::path::absolute(file)?.display().to_string();
    let known = "claude-desktop, cursor, vs-code, windsurf, claude-code, zed";
    let dialect: Option<Dialect> = dialect.map(|d| named("a client", d, known)).transpose()?;
    let mut link = Link::open(data_dir).await?;
    let preview = ask::<ImportPreview>(&mut link, PreviewParams { path: path.clone(), dialect }).await?;
    if dry_run {
        return if json { print_json(&preview) } else { print_preview(&preview) };
    }
    let (importable, disabled): (Vec<_>, Vec<_>) = preview.entries.iter().partition(|e| !e.disabled);
    if importable.is_empty() {
        bail!("nothing to import from {path}: every entry is disabled (see --dry-run)");
    }
    let names = importable.iter().map(|e| e.name.clone()).collect();
    let outcome = ask::<ImportApply>(&mut link, ApplyParams { path, dialect, names }).await?;
    if json {
        return print_json(&outcome);
    }
    for id in &outcome.added {
        let secrets = importable.iter().find(|e| &e.id == id).map(|e| e.secrets.join(", ")).unwrap_or_default();
        if secrets.is_empty() {
            println!("added {id}");
        } else {
            println!("added {id} (secrets kept in the keychain: {secrets})");
        }
    }
    for skipped in &outcome.skipped {
        println!("skipped {}: {} ({})", skipped.name, skipped.why, skipped.id);
    }
    for entry in disabled {
        println!("not imported {}: disabled in the file", entry.name);
    }
    Ok(())
}

fn print_preview(preview: &Preview) -> Result<()> {
    println!("{} ({})", preview.path, preview.client);
    for entry in &preview.entries {
        let mut notes = Vec::new();
        if let Launch::Process { env, .. } | Launch::Docker { env, .. } = &entry.launch {
            if !env.is_empty() {
                notes.push(format!("env: {}", env.keys().cloned().collect::<Vec<_>>().join(", ")));
            }
        }
        if !entry.secrets.is_empty() {
            notes.push(format!("secrets: {}", entry.secrets.join(", ")));
        }
        for (list, label) in [(&entry.needs.inputs, "asks for"), (&entry.needs.env, "unset variables")] {
            if !list.is_empty() {
                notes.push(format!("{label}: {}", list.join(", ")));
            }
        }
        if let Some(why) = &entry.needs.env_file {
            notes.push(format!("imported without its env file: {why}"));
        }
        if entry.disabled {
            notes.push("disabled".into());
        }
        if let Some(id) = &entry.duplicate_of {
            notes.push(format!("already in Harbor as {id}"));
        }
        let notes = if notes.is_empty() { String::new() } else { format!("  [{}]", notes.join("; ")) };
        println!("  {} → {}: {}{notes}", entry.name, entry.id, entry.launch.summary());
    }
    Ok(())
}

/// `harbor-bridge export --to claude-desktop|cursor [--file F] [--dry-run] [ID…]`: writes Harbor's
/// servers (all, or the ids given) into another client's config, keeping the file's other keys.
pub async fn export(
    data_dir: &Path,
    target: &str,
    file: Option<&Path>,
    ids: Vec<String>,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let target: App = named("an app Harbor writes to", target, "claude-desktop, cursor, vs-code")?;
    let mut link = Link::open(data_dir).await?;
    let ids = if ids.is_empty() {
        ask::<ServersList>(&mut link, Empty {}).await?.into_iter().map(|s| s.spec.id).collect()
    } else {
        ids
    };
    if ids.is_empty() {
        bail!("Harbor has no servers to export yet");
    }
    let path = file.map(std::path::absolute).transpose()?.map(|p| p.display().to_string());
    let params = ExportParams { target, path, ids };
    let preview = ask::<ExportPreview>(&mut link, params.clone()).await?;
    if json && dry_run {
        return print_json(&preview);
    }
    println!("{}", preview.path);
    for server in &preview.servers {
        let id = &server.id;
        match &server.refused {
            Some(why) => println!("  {id}: not written ({why})"),
            None => {
                let replaces = if server.replaces { " (replaces the entry there)" } else { "" };
                let secrets = if server.left_out.is_empty() {
                    String::new()
                } else {
                    format!(" — left out, set them in that app: {}", server.left_out.join(", "))
                };
                println!("  {id}{replaces}{secrets}");
            }
        }
    }
    if dry_run {
        return Ok(());
    }
    let written = ask::<ExportApply>(&mut link, params).await?;
    link.close().await;
    if json {
        return print_json(&written);
    }
    match &written.backup {
        Some(backup) => println!("Written; the previous file is kept as {backup}"),
        None => println!("Written."),
    }
    Ok(())
}
