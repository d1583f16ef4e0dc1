//! `harbor-bridge secrets …` and `servers sign-in / sign-out`: secrets from a terminal.
//!
//! A value is read from standard input (`printf %s "$TOKEN" | harbor-bridge secrets set ID`),
//! never from the command line, where any process could read it. Nothing prints a value back.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use harbor_bridge::control::Link;
use serde_json::{json, Value};

use super::servers::{ask, print_json};

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Which keychain holds the secrets, and which secrets are set (never their values).
    Status,
    /// Set or replace a secret, reading its value from standard input. With --server, ID is the
    /// server's environment variable (or header) and the server gets the value when it starts.
    Set {
        id: String,
        #[arg(long)]
        server: Option<String>,
    },
    /// Delete a secret (with --server: the server's variable ID).
    Delete {
        id: String,
        #[arg(long)]
        server: Option<String>,
    },
}

pub async fn secrets(data_dir: &Path, command: SecretsCommand, json: bool) -> Result<()> {
    let mut link = Link::open(data_dir).await?;
    let outcome = over(&mut link, command, json).await;
    link.close().await;
    outcome
}

async fn over(link: &mut Link, command: SecretsCommand, json: bool) -> Result<()> {
    match command {
        SecretsCommand::Status => {
            let status = ask(link, "secrets.status", json!({})).await?;
            if json {
                return print_json(&status);
            }
            let store = &status["store"];
            match store["backend"].as_str() {
                Some(backend) => println!(
                    "Keychain: {backend}{}",
                    if store["persistent"] == true { "" } else { " (secrets do not survive a reboot)" }
                ),
                None => println!("Keychain: not available"),
            }
            if let Some(note) = store["note"].as_str() {
                println!("  {note}");
            }
            let set = status["secrets"].as_array().cloned().unwrap_or_default();
            if set.is_empty() {
                println!("No secrets are set.");
            }
            for secret in set {
                println!("  {}", secret["id"].as_str().unwrap_or("?"));
            }
            Ok(())
        }
        SecretsCommand::Set { id, server } => {
            let value = read_value()?;
            let answer = match &server {
                Some(server) => {
                    ask(link, "servers.secrets.set", json!({"id": server, "name": id, "value": value})).await?
                }
                None => ask(link, "secrets.set", json!({"id": id, "value": value})).await?,
            };
            if json {
                return print_json(&answer);
            }
            match server {
                Some(server) => println!("Set {id} for {server}; it gets the value at its next start."),
                None => println!("Set {id}."),
            }
            Ok(())
        }
        SecretsCommand::Delete { id, server } => {
            let answer = match &server {
                Some(server) => ask(link, "servers.secrets.delete", json!({"id": server, "name": id})).await?,
                None => ask(link, "secrets.delete", json!({"id": id})).await?,
            };
            if json {
                return print_json(&answer);
            }
            println!("Deleted {id}.");
            Ok(())
        }
    }
}

/// The value on standard input, without the line break a shell adds.
fn read_value() -> Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprintln!("Type the secret, then press Enter and Ctrl-D:");
    }
    let mut value = String::new();
    std::io::stdin().read_to_string(&mut value).context("cannot read the secret from standard input")?;
    let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value).to_owned();
    if value.is_empty() {
        bail!(
            "standard input was empty; pipe the secret in, e.g. `printf %s \"$TOKEN\" | harbor-bridge secrets set ID`"
        );
    }
    Ok(value)
}

/// `servers sign-in ID`: prints the URL to visit (and tries to open it), then waits.
pub async fn sign_in(link: &mut Link, id: &str, client_id: Option<String>, json: bool) -> Result<()> {
    let mut params = json!({"id": id});
    if let Some(client_id) = client_id {
        params["clientId"] = json!(client_id);
    }
    let answer = link
        .call_with("oauth.signIn", params, |event: &Value| {
            if let Some(url) = event["url"].as_str() {
                eprintln!("Open this address to sign in (waiting up to 5 minutes):\n  {url}");
                let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
                let _ = std::process::Command::new(opener)
                    .arg(url)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }
        })
        .await?
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if json {
        return print_json(&answer);
    }
    println!("Signed in to {} for {id}.", answer["issuer"].as_str().unwrap_or("the provider"));
    Ok(())
}
