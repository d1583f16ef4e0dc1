//! `harbor-bridge servers …`, `tools` and `call`: the MCP host from a terminal.
//!
//! Every command goes through a [`Link`]: to the running bridge when there is one (so `stop`
//! stops what Firefox's bridge runs), else to a bridge opened in this process, whose servers
//! live only as long as the command. `--json` prints the bridge's answers as they are.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use harbor_bridge::control::Link;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum ServersCommand {
    /// List the servers with their state.
    List,
    /// Add a server: `servers add ID -- COMMAND [ARGS…]` or `servers add ID --url URL`.
    Add {
        id: String,
        /// A remote server's Streamable HTTP URL.
        #[arg(long, conflicts_with = "command")]
        url: Option<String>,
        /// Run this image in a hardened container (the arguments after `--` follow its entrypoint).
        #[arg(long, conflicts_with = "url")]
        image: Option<String>,
        /// Let the container use the network (it has none by default).
        #[arg(long, requires = "image")]
        network: bool,
        /// HOST:CONTAINER[:rw] folder for the container, read-only unless `:rw` (repeatable).
        #[arg(long = "mount", value_name = "HOST:CONTAINER[:rw]", requires = "image")]
        mounts: Vec<String>,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// KEY=VALUE environment variable for the server (repeatable; not for secrets).
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// NAME=VALUE header for a remote server (repeatable).
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// NAME=SECRET_ID: fill variable (or header) NAME from a secret at start (repeatable; set
        /// the secret with `harbor-bridge secrets set SECRET_ID`).
        #[arg(long = "secret", value_name = "NAME=SECRET_ID")]
        secrets: Vec<String>,
        /// Start it whenever the bridge starts.
        #[arg(long)]
        auto_start: bool,
        /// Tool-call timeout for this server, in milliseconds.
        #[arg(long)]
        tool_timeout_ms: Option<u64>,
        /// The program and its arguments, after `--`.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Remove a server (stopping it first).
    Remove { id: String },
    /// Start a server. Without a running bridge it runs here until Ctrl-C.
    Start { id: String },
    /// Stop a server that a running bridge runs.
    Stop { id: String },
    /// Move a server into a container of a base image (`docker --image node:22-slim`), or back
    /// (`native`); a running server restarts where it now runs.
    Runtime {
        id: String,
        /// docker or native.
        runtime: String,
        #[arg(long)]
        image: Option<String>,
        /// Let the container use the network.
        #[arg(long)]
        network: bool,
    },
    /// Sign in to a remote server that requires authorization (opens the browser).
    SignIn {
        id: String,
        /// A client id the provider issued, when it does not let Harbor register itself.
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Sign out of a remote server: revoke and forget its tokens.
    SignOut { id: String },
    /// Print a server's log (its stderr and Harbor's lines about it).
    Logs {
        id: String,
        #[arg(long, default_value_t = 100)]
        lines: usize,
    },
}

pub async fn servers(data_dir: &Path, command: ServersCommand, json: bool) -> Result<()> {
    if let ServersCommand::Logs { id, lines } = &command {
        return logs(data_dir, id, *lines);
    }
    let mut link = Link::open(data_dir).await?;
    let outcome = servers_over(&mut link, command, json).await;
    link.close().await;
    outcome
}

async fn servers_over(link: &mut Link, command: ServersCommand, json: bool) -> Result<()> {
    match command {
        ServersCommand::List => {
            let list = ask(link, "servers.list", json!({})).await?;
            if json {
                return print_json(&list);
            }
            let servers = list.as_array().cloned().unwrap_or_default();
            if servers.is_empty() {
                println!("No servers yet. Add one with `harbor-bridge servers add ID -- COMMAND [ARGS…]`.");
            }
            for server in servers {
                let state = server["status"]["state"].as_str().unwrap_or("?");
                println!(
                    "{:<20} {:<9} {:>3} tools  {}",
                    server["id"].as_str().unwrap_or("?"),
                    state,
                    server["toolCount"],
                    describe(&server["launch"])
                );
                if let Some(error) = server["status"]["error"].as_str() {
                    println!("{:<20} {}", "", error.lines().next().unwrap_or(""));
                }
            }
            Ok(())
        }
        ServersCommand::Add {
            id,
            url,
            image,
            network,
            mounts,
            name,
            env,
            headers,
            secrets,
            auto_start,
            tool_timeout_ms,
            command,
        } => {
            let launch = match (url, command.split_first()) {
                (Some(url), _) => json!({"kind": "remote", "url": url, "headers": pairs(&headers)?}),
                (None, _) if image.is_some() => {
                    let mounts = mounts
                        .iter()
                        .map(|m| {
                            let parts: Vec<&str> = m.split(':').collect();
                            match parts.as_slice() {
                                [host, container] => Ok(json!({"host": host, "container": container})),
                                [host, container, "rw"] => {
                                    Ok(json!({"host": host, "container": container, "write": true}))
                                }
                                _ => Err(anyhow!("{m:?} is not HOST:CONTAINER or HOST:CONTAINER:rw")),
                            }
                        })
                        .collect::<Result<Vec<_>>>()?;
                    json!({"kind": "docker", "image": image, "args": command, "env": pairs(&env)?, "network": network, "mounts": mounts})
                }
                (None, Some((program, args))) => {
                    json!({"kind": "process", "command": program, "args": args, "env": pairs(&env)?})
                }
                (None, None) => bail!("give the server's command after `--`, or --url for a remote server"),
            };
            let mut params =
                json!({"id": id, "launch": launch, "autoStart": auto_start, "secretEnv": pairs(&secrets)?});
            if let Some(name) = name {
                params["name"] = json!(name);
            }
            if let Some(ms) = tool_timeout_ms {
                params["toolTimeoutMs"] = json!(ms);
            }
            let added = ask(link, "servers.add", params).await?;
            if json {
                return print_json(&added);
            }
            println!("Added {id}: {}", describe(&added["launch"]));
            Ok(())
        }
        ServersCommand::Runtime { id, runtime, image, network } => {
            let mut params = json!({"id": id, "runtime": runtime, "network": network});
            if let Some(image) = image {
                params["image"] = json!(image);
            }
            let moved = ask(link, "servers.runtime", params).await?;
            if json {
                return print_json(&moved);
            }
            println!("{id}: {}", describe(&moved["launch"]));
            Ok(())
        }
        ServersCommand::SignIn { id, client_id } => super::secrets::sign_in(link, &id, client_id, json).await,
        ServersCommand::SignOut { id } => {
            let answer = ask(link, "oauth.signOut", json!({"id": id})).await?;
            if json {
                return print_json(&answer);
            }
            println!("{}", if answer["signedOut"] == true { "Signed out." } else { "It was not signed in." });
            Ok(())
        }
        ServersCommand::Remove { id } => {
            ask(link, "servers.remove", json!({"id": id})).await?;
            println!("Removed {id}.");
            Ok(())
        }
        ServersCommand::Start { id } => {
            let started = ask(link, "servers.start", json!({"id": id})).await?;
            if json {
                print_json(&started)?;
            } else {
                println!("{id} is running ({} tools).", started["toolCount"]);
            }
            if !link.is_shared() {
                eprintln!("No Harbor bridge is running, so {id} runs in this terminal; press Ctrl-C to stop it.");
                tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
                ask(link, "servers.stop", json!({"id": id})).await?;
            }
            Ok(())
        }
        ServersCommand::Stop { id } => {
            if !link.is_shared() {
                let entry = ask(link, "servers.get", json!({"id": id})).await?;
                println!(
                    "{id} is not running: no Harbor bridge is running ({}).",
                    entry["status"]["state"].as_str().unwrap_or("stopped")
                );
                return Ok(());
            }
            let stopped = ask(link, "servers.stop", json!({"id": id})).await?;
            if json {
                return print_json(&stopped);
            }
            println!("Stopped {id}.");
            Ok(())
        }
        ServersCommand::Logs { .. } => unreachable!("logs reads the log file"),
    }
}

/// `harbor-bridge tools [ID]`: the namespaced tools. Servers that are not running are started
/// for the listing when no bridge is running, and named otherwise.
pub async fn tools(data_dir: &Path, id: Option<String>, json: bool) -> Result<()> {
    let mut link = Link::open(data_dir).await?;
    let outcome = async {
        let servers = ask(&mut link, "servers.list", json!({})).await?;
        let mut idle = Vec::new();
        for server in servers.as_array().cloned().unwrap_or_default() {
            let server_id = server["id"].as_str().unwrap_or_default().to_owned();
            if id.as_ref().is_some_and(|wanted| *wanted != server_id) || server["status"]["state"] == "running" {
                continue;
            }
            if link.is_shared() {
                idle.push(server_id);
            } else {
                ask(&mut link, "servers.start", json!({"id": server_id})).await?;
            }
        }
        let params = match &id {
            Some(id) => json!({"serverId": id}),
            None => json!({}),
        };
        let tools = ask(&mut link, "tools.list", params).await?;
        if json {
            return print_json(&tools);
        }
        for tool in tools.as_array().cloned().unwrap_or_default() {
            let description = tool["description"].as_str().unwrap_or("").lines().next().unwrap_or("");
            println!("{:<40} {description}", tool["name"].as_str().unwrap_or("?"));
        }
        for server in idle {
            println!("({server} is not running: `harbor-bridge servers start {server}`)");
        }
        Ok(())
    }
    .await;
    link.close().await;
    outcome
}

/// `harbor-bridge call ID/TOOL 'JSON'`: starts the server if needed and prints the result.
pub async fn call(data_dir: &Path, tool: &str, args: Option<&str>, timeout_ms: Option<u64>, json: bool) -> Result<()> {
    let (server, _) = tool
        .split_once('/')
        .ok_or_else(|| anyhow!("name the tool as SERVER/TOOL, for example time/get_current_time"))?;
    let args: Value = match args {
        Some(text) => serde_json::from_str(text)
            .context("the tool's arguments must be a JSON object, for example '{\"timezone\": \"UTC\"}'")?,
        None => json!({}),
    };
    if !args.is_object() {
        bail!("the tool's arguments must be a JSON object");
    }
    let mut link = Link::open(data_dir).await?;
    let outcome = async {
        ask(&mut link, "servers.start", json!({"id": server})).await?;
        let mut params = json!({"tool": tool, "args": args});
        if let Some(ms) = timeout_ms {
            params["timeoutMs"] = json!(ms);
        }
        let result = link
            .call_with("tools.call", params, |event| {
                if event["type"] == "progress" {
                    eprintln!(
                        "progress {}{}",
                        event["progress"],
                        event["total"].as_f64().map(|t| format!(" of {t}")).unwrap_or_default()
                    );
                }
            })
            .await?
            .map_err(|e| anyhow!("{}: {}", e.code, e.message))?;
        if json {
            print_json(&result)?;
        } else {
            for item in result["content"].as_array().cloned().unwrap_or_default() {
                match item["text"].as_str() {
                    Some(text) => println!("{text}"),
                    None => println!("{item}"),
                }
            }
        }
        if result["isError"] == true {
            bail!("the tool reported an error");
        }
        Ok(())
    }
    .await;
    link.close().await;
    outcome
}

/// Prints the last lines of `logs/servers/ID.log`, which every bridge appends to.
fn logs(data_dir: &Path, id: &str, lines: usize) -> Result<()> {
    let path = harbor_bridge::paths::log_dir(data_dir).join("servers").join(format!("{id}.log"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("{id} has no log yet (it has not been started).");
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let all: Vec<&str> = text.lines().collect();
    for line in &all[all.len().saturating_sub(lines)..] {
        // Lines are "<ms since epoch> <stream> <text>"; show the time of day (UTC).
        let mut parts = line.splitn(3, ' ');
        match (parts.next().and_then(|ms| ms.parse::<u64>().ok()), parts.next(), parts.next()) {
            (Some(ms), Some(stream), text) => {
                let secs = ms / 1000 % 86_400;
                println!(
                    "{:02}:{:02}:{:02}.{:03} {stream:<6} {}",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60,
                    ms % 1000,
                    text.unwrap_or("")
                );
            }
            _ => println!("{line}"),
        }
    }
    Ok(())
}

/// `install SPEC`: a directory entry or a package, with the installers' output as it comes.
pub async fn install(
    data_dir: &Path,
    spec: &str,
    id: Option<String>,
    inputs: &[String],
    sha256: Option<String>,
) -> Result<()> {
    let mut link = Link::open(data_dir).await?;
    let is_url = spec.starts_with("https://") || spec.starts_with("http://");
    let is_git = spec.ends_with(".git")
        || spec.starts_with("git://")
        || spec.starts_with("git@")
        || spec.starts_with("https://github.com/");
    let (method, mut params) = if spec.starts_with("npm:") || spec.starts_with("pypi:") {
        ("install.package", json!({ "spec": spec }))
    } else if spec.ends_with(".mcpb") {
        let mut params = json!({ "sha256": sha256, "userConfig": pairs(inputs)? });
        if is_url {
            params["url"] = json!(spec);
        } else {
            params["path"] = json!(std::path::absolute(spec)?);
        }
        ("install.bundle", params)
    } else if is_git {
        ("install.git", json!({ "url": spec }))
    } else if is_url {
        let sha256 = sha256.ok_or_else(|| anyhow!("a program downloaded from a URL needs --sha256"))?;
        let name = id.clone().ok_or_else(|| anyhow!("name the server with --id"))?;
        ("install.binary", json!({ "id": name, "assets": [{ "url": spec, "sha256": sha256 }] }))
    } else if spec.ends_with(".json") && Path::new(spec).is_file() {
        // An MCP Registry server.json: its first way of running, with --input KEY=VALUE values.
        let path = std::path::absolute(spec)?;
        ("install.serverJson", json!({ "path": path, "values": pairs(inputs)? }))
    } else {
        ("install.catalog", json!({ "entry": spec, "inputs": pairs(inputs)? }))
    };
    if let Some(id) = id {
        params["id"] = json!(id);
    }
    let outcome = link
        .call_with(method, params, |event| {
            if let Some(line) = event["line"].as_str() {
                eprintln!("  {line}");
            }
        })
        .await?;
    let entry = outcome.map_err(|e| anyhow!("{}", e.message))?;
    println!(
        "installed {} {} as {}: {}",
        entry["name"].as_str().unwrap_or_default(),
        entry["version"].as_str().unwrap_or_default(),
        entry["id"].as_str().unwrap_or_default(),
        describe(&entry["launch"])
    );
    Ok(())
}

pub(super) async fn ask(link: &mut Link, method: &str, params: Value) -> Result<Value> {
    link.call(method, params).await?.map_err(|e| anyhow!("{}", e.message))
}

fn pairs(items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| anyhow!("{item:?} is not KEY=VALUE"))
        })
        .collect()
}

pub(super) fn describe(launch: &Value) -> String {
    match launch["kind"].as_str() {
        Some("remote") => launch["url"].as_str().unwrap_or("").to_owned(),
        Some("docker") => {
            let mut words = vec!["docker:".to_owned(), launch["image"].as_str().unwrap_or("").to_owned()];
            words.extend(launch["args"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)));
            words.join(" ")
        }
        _ => {
            let mut words = vec![launch["command"].as_str().unwrap_or("").to_owned()];
            words.extend(launch["args"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)));
            words.join(" ")
        }
    }
}

pub(super) fn print_json(value: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
