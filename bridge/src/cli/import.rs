//! `harbor-bridge import FILE`: preview (`--dry-run`) or import the servers another MCP client
//! is configured with, through the running bridge when there is one.

use std::path::Path;

use anyhow::{bail, Result};
use harbor_bridge::control::Link;
use serde_json::{json, Value};

use super::servers::{ask, describe, print_json};

pub async fn import(data_dir: &Path, file: &Path, dialect: Option<&str>, dry_run: bool, json: bool) -> Result<()> {
    let path = std::path::absolute(file)?;
    let mut link = Link::open(data_dir).await?;
    let mut params = json!({ "path": path });
    if let Some(dialect) = dialect {
        params["dialect"] = json!(dialect);
    }
    let preview = ask(&mut link, "import.preview", params.clone()).await?;
    if dry_run {
        return if json { print_json(&preview) } else { print_preview(&preview) };
    }
    let entries = preview["entries"].as_array().cloned().unwrap_or_default();
    let importable: Vec<&Value> = entries.iter().filter(|e| e["disabled"] != true).collect();
    if importable.is_empty() {
        bail!("nothing to import from {}: every entry is disabled (see --dry-run)", path.display());
    }
    params["names"] = json!(importable.iter().map(|e| e["name"].clone()).collect::<Vec<_>>());
    let outcome = ask(&mut link, "import.apply", params).await?;
    if json {
        return print_json(&outcome);
    }
    for id in outcome["added"].as_array().into_iter().flatten() {
        let id = id.as_str().unwrap_or_default();
        let secrets = importable
            .iter()
            .find(|e| e["id"] == id)
            .and_then(|e| e["secrets"].as_array())
            .map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        if secrets.is_empty() {
            println!("added {id}");
        } else {
            println!("added {id} (secrets kept in the keychain: {secrets})");
        }
    }
    for skipped in outcome["skipped"].as_array().into_iter().flatten() {
        println!(
            "skipped {}: {} ({})",
            skipped["name"].as_str().unwrap_or_default(),
            skipped["why"].as_str().unwrap_or_default(),
            skipped["id"].as_str().unwrap_or_default()
        );
    }
    for entry in entries.iter().filter(|e| !importable.contains(e)) {
        println!("not imported {}: disabled in the file", entry["name"].as_str().unwrap_or_default());
    }
    Ok(())
}

fn print_preview(preview: &Value) -> Result<()> {
    println!("{} ({})", preview["path"].as_str().unwrap_or_default(), preview["client"].as_str().unwrap_or_default());
    for entry in preview["entries"].as_array().into_iter().flatten() {
        let mut notes = Vec::new();
        let names = |key: &str| {
            entry[key].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
        };
        if let Some(env) = entry["launch"]["env"].as_object().filter(|e| !e.is_empty()) {
            notes.push(format!("env: {}", env.keys().cloned().collect::<Vec<_>>().join(", ")));
        }
        if !names("secrets").is_empty() {
            notes.push(format!("secrets: {}", names("secrets")));
        }
        for (key, label) in [("inputs", "asks for"), ("env", "unset variables")] {
            let list: Vec<&str> =
                entry["needs"][key].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if !list.is_empty() {
                notes.push(format!("{label}: {}", list.join(", ")));
            }
        }
        if let Some(why) = entry["needs"]["envFile"].as_str() {
            notes.push(format!("imported without its env file: {why}"));
        }
        if entry["disabled"] == true {
            notes.push("disabled".into());
        }
        if let Some(id) = entry["duplicateOf"].as_str() {
            notes.push(format!("already in Harbor as {id}"));
        }
        let notes = if notes.is_empty() { String::new() } else { format!("  [{}]", notes.join("; ")) };
        println!(
            "  {} → {}: {}{notes}",
            entry["name"].as_str().unwrap_or_default(),
            entry["id"].as_str().unwrap_or_default(),
            describe(&entry["launch"])
        );
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
    let mut link = Link::open(data_dir).await?;
    let ids = if ids.is_empty() {
        let servers = ask(&mut link, "servers.list", json!({})).await?;
        servers.as_array().into_iter().flatten().filter_map(|s| s["id"].as_str().map(str::to_owned)).collect()
    } else {
        ids
    };
    if ids.is_empty() {
        bail!("Harbor has no servers to export yet");
    }
    let mut params = json!({ "target": target, "ids": ids });
    if let Some(file) = file {
        params["path"] = json!(std::path::absolute(file)?);
    }
    let preview = ask(&mut link, "export.preview", params.clone()).await?;
    if json && dry_run {
        return print_json(&preview);
    }
    println!("{}", preview["path"].as_str().unwrap_or_default());
    for server in preview["servers"].as_array().into_iter().flatten() {
        let id = server["id"].as_str().unwrap_or_default();
        match server["refused"].as_str() {
            Some(why) => println!("  {id}: not written ({why})"),
            None => {
                let left_out: Vec<&str> =
                    server["leftOut"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let replaces = if server["replaces"] == true { " (replaces the entry there)" } else { "" };
                let secrets = if left_out.is_empty() {
                    String::new()
                } else {
                    format!(" — left out, set them in that app: {}", left_out.join(", "))
                };
                println!("  {id}{replaces}{secrets}");
            }
        }
    }
    if dry_run {
        return Ok(());
    }
    let written = ask(&mut link, "export.apply", params).await?;
    link.close().await;
    if json {
        return print_json(&written);
    }
    if let Some(backup) = written["backup"].as_str() {
        println!("Written; the previous file is kept as {backup}");
    } else {
        println!("Written.");
    }
    Ok(())
}
