//! `harbor-bridge secrets …` and `servers sign-in / sign-out`: secrets from a terminal.
//!
//! A value is read from standard input (`printf %s "$TOKEN" | harbor-bridge secrets set ID`),
//! never from the command line, where any process could read it. Nothing prints a value back.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use harbor_bridge::link::Link;
use harbor_protocol::api::secrets::{
    AuthEvent, OauthSignIn, SecretsDelete, SecretsSet, SecretsStatus, ServerSecret, ServersSecretsDelete,
    ServersSecretsSet, SetSecret, SignInParams,
};
use harbor_protocol::api::{Empty, Id};

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
            let status = ask::<SecretsStatus>(link, Empty {}).await?;
            if json {
                return print_json(&status);
            }
            let store = &status.store;
            match &store.backend {
                Some(backend) => println!(
                    "Keychain: {backend}{}",
                    if store.persistent { "" } else { " (secrets do not survive a reboot)" }
                ),
                None => println!("Keychain: not available"),
            }
            if let Some(note) = &store.note {
                println!("  {note}");
            }
            if status.secrets.is_empty() {
                println!("No secrets are set.");
            }
            for secret in &status.secrets {
                println!("  {}", secret.id);
            }
            Ok(())
        }
        SecretsCommand::Set { id, server } => {
            let value = read_value()?;
            if let Some(server) = &server {
                let params = ServerSecret { id: server.clone(), name: id.clone(), value: Some(value) };
                let answer = ask::<ServersSecretsSet>(link, params).await?;
                if json {
                    return print_json(&answer);
                }
            } else {
                let answer = ask::<SecretsSet>(link, SetSecret { id: id.clone(), value }).await?;
                if json {
                    return print_json(&answer);
                }
            }
            match server {
                Some(server) => println!("Set {id} for {server}; it gets the value at its next start."),
                None => println!("Set {id}."),
            }
            Ok(())
        }
        SecretsCommand::Delete { id, server } => {
            if let Some(server) = &server {
                let params = ServerSecret { id: server.clone(), name: id.clone(), value: None };
                let answer = ask::<ServersSecretsDelete>(link, params).await?;
                if json {
                    return print_json(&answer);
                }
            } else {
                let answer = ask::<SecretsDelete>(link, Id::new(&id)).await?;
                if json {
                    return print_json(&answer);
                }
            }
            println!("Deleted {id}.");
            Ok(())
        }
    }
}

/// The value on standard input, without the line break a shell adds.
pub(super) fn read_value() -> Result<String> {
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

/// `servers sign-in ID`: prints the URL to visit and opens it — with `$BROWSER` when set (the
/// convention terminals and tools share), else the desktop's opener — then waits.
pub async fn sign_in(link: &mut Link, params: SignInParams, json: bool) -> Result<()> {
    let id = params.id.clone();
    let answer = link
        .request_with::<OauthSignIn>(params, |event| {
            let url = match event {
                AuthEvent::Authorize { url } => {
                    eprintln!("Open this address to sign in (waiting up to 5 minutes):\n  {url}");
                    url
                }
                AuthEvent::Device { user_code, verification_uri, verification_uri_complete, expires_in } => {
                    eprintln!(
                        "Open {verification_uri} and enter the code {user_code} (within {} minutes).",
                        expires_in.div_ceil(60)
                    );
                    verification_uri_complete.unwrap_or(verification_uri)
                }
            };
            let opener = std::env::var("BROWSER")
                .ok()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| if cfg!(target_os = "macos") { "open" } else { "xdg-open" }.to_owned());
            let _ = std::process::Command::new(opener)
                .arg(&url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
        })
        .await?
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if json {
        return print_json(&answer);
    }
    println!("Signed in to {} for {id}.", answer.issuer);
    Ok(())
}
