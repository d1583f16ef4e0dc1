//! `harbor-bridge servers …`, `tools` and `call`: the MCP host from a terminal.
//!
//! Every command goes through a [`Link`]: to the running bridge when there is one (so `stop`
//! stops what Firefox's bridge runs), else to a bridge opened in this process, whose servers
//! live only as long as the command. `--json` prints the bridge's answers as they are.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use harbor_bridge::link::Link;
use harbor_protocol::api::install::{
    Asset, Extras, InstallBinary, InstallBinaryParams, InstallBundle, InstallBundleParams, InstallCatalog,
    InstallFromCatalog, InstallGit, InstallGitParams, InstallJsServer, InstallJsServerParams, InstallPackage,
    InstallPackageParams, InstallRegistriesGet, InstallRegistriesSet, InstallRestService, InstallRestServiceParams,
    InstallServerJson, Registries, ServerJson,
};
use harbor_protocol::api::secrets::{Enterprise, Grant, OauthSignOut, SignInParams};
use harbor_protocol::api::servers::{
    Account, AddServer, Launch, Mount, Runtime, ServerEntry, ServerState, ServersAdd, ServersGet, ServersList,
    ServersRemove, ServersRuntime, ServersStart, ServersStop, ServersUpdate, SetRuntime, UpdateServer,
};
use harbor_protocol::api::tools::views::{self, ToolResult};
use harbor_protocol::api::tools::{CallTool, ServerFilter, ToolEvent, ToolsAnswer, ToolsCall, ToolsList};
use harbor_protocol::api::{Empty, Id, Method};
use serde::Serialize;
use serde_json::{Map, Value};

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
        /// An MCP server written in JavaScript (a file or an https URL), run by Harbor itself
        /// with no Node.js: the file is checked against --sha256 and kept in Harbor's data folder.
        #[arg(long, conflicts_with_all = ["url", "image", "command", "openapi"])]
        js: Option<String>,
        /// A REST API as a server: its OpenAPI 3.x document (a file or an https URL), each
        /// operation a tool; kept in Harbor's data folder, run by Harbor itself. Its credentials:
        /// `--secret HARBOR_API_TOKEN=ID` (or HARBOR_API_KEY, HARBOR_API_CLIENT_ID and _SECRET, …).
        #[arg(long, conflicts_with_all = ["url", "image", "command"])]
        openapi: Option<String>,
        /// The service's address, when the document names none (or another one).
        #[arg(long, requires = "openapi")]
        base_url: Option<String>,
        /// The JavaScript server's or OpenAPI document's SHA-256 (hex); required for a URL.
        #[arg(long)]
        sha256: Option<String>,
        /// The REST service's skills: a SKILL.md-shaped Markdown file, or a folder of skills.
        #[arg(long, requires = "openapi")]
        skills: Option<String>,
        /// A host the JavaScript server may fetch from (repeatable; its manifest's network hosts).
        #[arg(long = "allow-host", requires = "js")]
        allow_hosts: Vec<String>,
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
        runtime: RuntimeArg,
        #[arg(long)]
        image: Option<String>,
        /// Let the container use the network.
        #[arg(long)]
        network: bool,
    },
    /// Give a local server an account at an OAuth provider whose access token fills one of its
    /// variables (`--env GITHUB_TOKEN --client-id ID --issuer URL`, or the provider's endpoints
    /// when it publishes no metadata); then connect it with `servers sign-in ID`.
    Account {
        id: String,
        /// The variable the access token fills.
        #[arg(long, required_unless_present = "remove")]
        env: Option<String>,
        /// The client id the provider issued for Harbor.
        #[arg(long, required_unless_present = "remove")]
        client_id: Option<String>,
        /// The provider's issuer (its endpoints are read from its metadata).
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        authorization_endpoint: Option<String>,
        #[arg(long)]
        token_endpoint: Option<String>,
        #[arg(long)]
        device_endpoint: Option<String>,
        #[arg(long)]
        scope: Option<String>,
        /// Remove the account (its tokens stay until `servers sign-out`).
        #[arg(long, conflicts_with_all = ["env", "client_id"])]
        remove: bool,
    },
    /// Sign in to a remote server that requires authorization, or connect a local server's
    /// account (opens the browser: `$BROWSER` when set, else the desktop's).
    SignIn {
        id: String,
        /// Connect a local server's account with a code typed at the provider (the device flow).
        #[arg(long, conflicts_with_all = ["client_id", "client_credentials"])]
        device: bool,
        /// A client id the provider issued, when it does not let Harbor register itself.
        #[arg(long)]
        client_id: Option<String>,
        /// Read that client's secret from standard input (it goes to the keychain).
        #[arg(long, requires = "client_id", conflicts_with = "private_key_stdin")]
        client_secret_stdin: bool,
        /// Read that client's private key (PKCS#8 PEM) from standard input, for
        /// `private_key_jwt`.
        #[arg(long, requires = "client_id")]
        private_key_stdin: bool,
        /// Machine to machine: get tokens with the client's own credentials (no browser).
        #[arg(long, requires = "client_id")]
        client_credentials: bool,
        /// Enterprise-managed (SEP-990): trade your ID token from the organization's identity
        /// provider, at this token endpoint of it, for the server's tokens (no browser). The ID
        /// token is read from standard input (after the client secret, on its own line).
        #[arg(long, requires_all = ["client_id", "idp_client_id"], conflicts_with_all = ["client_credentials", "device"])]
        idp_token_endpoint: Option<String>,
        /// Harbor's client id at the organization's identity provider.
        #[arg(long, requires = "idp_token_endpoint")]
        idp_client_id: Option<String>,
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

/// Where `servers runtime` moves a server.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RuntimeArg {
    Docker,
    Native,
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
    if let ServersCommand::Add { id, js: Some(source), name, env, secrets, sha256, allow_hosts, .. } = command {
        let source = local_or_url(&source)?;
        let params = InstallJsServerParams {
            source,
            sha256,
            id: Some(id),
            name,
            allow_hosts,
            env: pairs(&env)?,
            secrets: BTreeMap::new(),
            secret_env: pairs(&secrets)?,
        };
        return added(installing::<InstallJsServer>(link, params, |line| eprintln!("  {line}")).await?, json);
    }
    if let ServersCommand::Add { id, openapi: Some(source), name, secrets, sha256, base_url, skills, .. } = command {
        let params = InstallRestServiceParams {
            source: local_or_url(&source)?,
            sha256,
            id: Some(id),
            name,
            base_url,
            skills: skills.map(|s| local_or_url(&s)).transpose()?,
            secrets: BTreeMap::new(),
            secret_env: pairs(&secrets)?,
        };
        return added(installing::<InstallRestService>(link, params, |line| eprintln!("  {line}")).await?, json);
    }
    match command {
        ServersCommand::List => {
            let servers = ask::<ServersList>(link, Empty {}).await?;
            if json {
                return print_json(&servers);
            }
            if servers.is_empty() {
                println!("No servers yet. Add one with `harbor-bridge servers add ID -- COMMAND [ARGS…]`.");
            }
            for server in servers {
                println!(
                    "{:<20} {:<9} {:>3} tools  {}",
                    server.spec.id,
                    server.status.state.name(),
                    server.tool_count,
                    server.spec.launch.summary()
                );
                if let Some(error) = &server.status.error {
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
            ..
        } => {
            let launch = match (url, image, command.split_first()) {
                (Some(url), _, _) => Launch::Remote { url, headers: pairs(&headers)? },
                (None, Some(image), _) => {
                    let mounts = mounts
                        .iter()
                        .map(|m| {
                            let parts: Vec<&str> = m.split(':').collect();
                            let mount = |host: &str, container: &str, write| Mount {
                                host: host.to_owned(),
                                container: container.to_owned(),
                                write,
                            };
                            match parts.as_slice() {
                                [host, container] => Ok(mount(host, container, false)),
                                [host, container, "rw"] => Ok(mount(host, container, true)),
                                _ => Err(anyhow!("{m:?} is not HOST:CONTAINER or HOST:CONTAINER:rw")),
                            }
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Launch::Docker {
                        image,
                        args: command.clone(),
                        env: pairs(&env)?,
                        network,
                        mounts,
                        limits: Default::default(),
                        user: None,
                        entrypoint: None,
                        wraps: None,
                    }
                }
                (None, None, Some((program, args))) => {
                    Launch::Process { command: program.clone(), args: args.to_vec(), env: pairs(&env)?, cwd: None }
                }
                (None, None, None) => bail!("give the server's command after `--`, or --url for a remote server"),
            };
            let params = AddServer {
                id: id.clone(),
                name,
                launch,
                source: None,
                secret_env: pairs(&secrets)?,
                auto_start,
                tool_timeout_ms,
                sandbox: None,
                account: None,
            };
            let added = ask::<ServersAdd>(link, params).await?;
            if json {
                return print_json(&added);
            }
            println!("Added {id}: {}", added.spec.launch.summary());
            Ok(())
        }
        ServersCommand::Runtime { id, runtime, image, network } => {
            let runtime = match runtime {
                RuntimeArg::Docker => Runtime::Docker,
                RuntimeArg::Native => Runtime::Native,
            };
            let moved = ask::<ServersRuntime>(link, SetRuntime { id: id.clone(), runtime, image, network }).await?;
            if json {
                return print_json(&moved);
            }
            println!("{id}: {}", moved.spec.launch.summary());
            Ok(())
        }
        ServersCommand::Account {
            id,
            env,
            client_id,
            issuer,
            authorization_endpoint,
            token_endpoint,
            device_endpoint,
            scope,
            remove,
        } => {
            let account = match (env, client_id, remove) {
                (Some(env), Some(client_id), false) => Some(Account {
                    issuer,
                    authorization_endpoint,
                    token_endpoint,
                    device_authorization_endpoint: device_endpoint,
                    client_id,
                    scope,
                    env,
                }),
                _ => None,
            };
            let params = UpdateServer { id: id.clone(), account: Some(account), ..UpdateServer::default() };
            let updated = ask::<ServersUpdate>(link, params).await?;
            if json {
                return print_json(&updated);
            }
            match &updated.spec.account {
                Some(account) => println!(
                    "{id} gets its account's token in {}; connect it with `harbor-bridge servers sign-in {id}`.",
                    account.env
                ),
                None => println!("{id} has no account now."),
            }
            Ok(())
        }
        ServersCommand::SignIn {
            id,
            device,
            client_id,
            client_secret_stdin,
            private_key_stdin,
            client_credentials,
            idp_token_endpoint,
            idp_client_id,
        } => {
            let stdin = (client_secret_stdin || private_key_stdin || idp_token_endpoint.is_some())
                .then(super::secrets::read_value)
                .transpose()?;
            // The client's secret or key first; an enterprise sign-in's ID token on the last line.
            let (secret, id_token) = match (&stdin, &idp_token_endpoint) {
                (Some(read), Some(_)) if client_secret_stdin || private_key_stdin => match read.rsplit_once('\n') {
                    Some((secret, token)) => (Some(secret.trim_end_matches('\r').to_owned()), Some(token.to_owned())),
                    None => anyhow::bail!("standard input holds one line; put the client's secret first and the ID token on the next line"),
                },
                (Some(read), Some(_)) => (None, Some(read.clone())),
                (read, _) => (read.clone(), None),
            };
            let grant = match (device, client_credentials, &idp_token_endpoint) {
                (true, ..) => Some(Grant::DeviceCode),
                (_, true, _) => Some(Grant::ClientCredentials),
                (_, _, Some(_)) => Some(Grant::Enterprise),
                _ => None,
            };
            let enterprise = match (idp_token_endpoint, idp_client_id, id_token) {
                (Some(idp_token_endpoint), Some(idp_client_id), Some(id_token)) => {
                    Some(Enterprise { idp_token_endpoint, idp_client_id, id_token: id_token.trim().to_owned() })
                }
                _ => None,
            };
            let params = SignInParams {
                id: id.clone(),
                client_id,
                client_secret: secret.clone().filter(|_| client_secret_stdin),
                private_key: secret.filter(|_| private_key_stdin),
                grant,
                enterprise,
            };
            super::secrets::sign_in(link, params, json).await
        }
        ServersCommand::SignOut { id } => {
            let answer = ask::<OauthSignOut>(link, Id::new(id)).await?;
            if json {
                return print_json(&answer);
            }
            println!("{}", if answer.signed_out { "Signed out." } else { "It was not signed in." });
            Ok(())
        }
        ServersCommand::Remove { id } => {
            ask::<ServersRemove>(link, Id::new(&id)).await?;
            println!("Removed {id}.");
            Ok(())
        }
        ServersCommand::Start { id } => {
            let started = ask::<ServersStart>(link, Id::new(&id)).await?;
            if json {
                print_json(&started)?;
            } else {
                println!("{id} is running ({} tools).", started.tool_count);
            }
            if !link.is_shared() {
                eprintln!("No Harbor bridge is running, so {id} runs in this terminal; press Ctrl-C to stop it.");
                tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
                ask::<ServersStop>(link, Id::new(&id)).await?;
            }
            Ok(())
        }
        ServersCommand::Stop { id } => {
            if !link.is_shared() {
                let entry = ask::<ServersGet>(link, Id::new(&id)).await?;
                println!("{id} is not running: no Harbor bridge is running ({}).", entry.status.state.name());
                return Ok(());
            }
            let stopped = ask::<ServersStop>(link, Id::new(&id)).await?;
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
        let servers: Vec<ServerEntry> = ask::<ServersList>(&mut link, Empty {}).await?;
        let mut idle = Vec::new();
        for server in servers {
            let server_id = server.spec.id;
            if id.as_ref().is_some_and(|wanted| *wanted != server_id) || server.status.state == ServerState::Running {
                continue;
            }
            if link.is_shared() {
                idle.push(server_id);
            } else {
                ask::<ServersStart>(&mut link, Id::new(server_id)).await?;
            }
        }
        let tools = ask::<ToolsList>(&mut link, ServerFilter { server_id: id.clone() }).await?;
        if json {
            return print_json(&tools);
        }
        for tool in tools {
            let description = tool.description.lines().next().unwrap_or("");
            println!("{:<40} {description}", tool.name);
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
    let args: Map<String, Value> = match args {
        Some(text) => serde_json::from_str(text)
            .context("the tool's arguments must be a JSON object, for example '{\"timezone\": \"UTC\"}'")?,
        None => Map::new(),
    };
    let mut link = Link::open(data_dir).await?;
    let outcome = async {
        ask::<ServersStart>(&mut link, Id::new(server)).await?;
        let answers = super::answer::ANSWERS.map(str::to_owned).to_vec();
        let params = CallTool { tool: tool.to_owned(), args: Some(args), timeout_ms, answers };
        let params = serde_json::to_value(params)?;
        // The user at this terminal answers the server's forms (see `answer`); reading the
        // answer blocks this command's one thread, which only waits for it meanwhile.
        let result = link
            .call_answering(<ToolsCall as Method>::NAME, params, |event| {
                match serde_json::from_value::<ToolEvent>(event.clone()).ok()? {
                    ToolEvent::Progress { progress, total, .. } => {
                        eprintln!("progress {progress}{}", total.map(|t| format!(" of {t}")).unwrap_or_default());
                        None
                    }
                    ToolEvent::Ask { ask_id, method, params } => {
                        let (stdin, stderr) = (std::io::stdin(), std::io::stderr());
                        let answer =
                            super::answer::ask(ask_id, &method, &params, &mut stdin.lock(), &mut stderr.lock());
                        Some((<ToolsAnswer as Method>::NAME, serde_json::to_value(answer).ok()?))
                    }
                }
            })
            .await?
            .map_err(|e| anyhow!("{}: {}{}", e.code, e.message, pages_to_visit(&e)))?;
        let read: ToolResult = views::read(&result);
        if json {
            print_json(&result)?;
        } else {
            for item in &read.content {
                match &item.text {
                    Some(text) => println!("{text}"),
                    None => println!("[{}]", item.kind),
                }
            }
        }
        if read.is_error {
            bail!("the tool reported an error");
        }
        Ok(())
    }
    .await;
    link.close().await;
    outcome
}

/// The pages a server wants the user to visit before the call can go through (an
/// `ERR_URL_ELICITATION_REQUIRED`), one a line.
fn pages_to_visit(error: &harbor_protocol::ErrorObject) -> String {
    let pages = error.data.as_ref().and_then(|d| d.get("elicitations")).and_then(Value::as_array);
    pages
        .into_iter()
        .flatten()
        .filter_map(|page| {
            let url = page.get("url")?.as_str()?;
            let why = page.get("message").and_then(Value::as_str).unwrap_or_default();
            Some(format!("\n  open {url}  {why}"))
        })
        .collect()
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
    let on_line = |line: String| eprintln!("  {line}");
    let entry = if spec.starts_with("npm:") || spec.starts_with("pypi:") {
        let params = InstallPackageParams { spec: spec.to_owned(), id, extras: Extras::default() };
        installing::<InstallPackage>(&mut link, params, on_line).await
    } else if spec.ends_with(".mcpb") {
        let (url, path) = if is_url {
            (Some(spec.to_owned()), None)
        } else {
            (None, Some(std::path::absolute(spec)?.display().to_string()))
        };
        let params = InstallBundleParams { url, path, sha256, id, user_config: pairs(inputs)? };
        installing::<InstallBundle>(&mut link, params, on_line).await
    } else if is_git {
        let params =
            InstallGitParams { url: spec.to_owned(), branch: None, subfolder: None, id, extras: Extras::default() };
        installing::<InstallGit>(&mut link, params, on_line).await
    } else if is_url {
        let sha256 = sha256.ok_or_else(|| anyhow!("a program downloaded from a URL needs --sha256"))?;
        let name = id.clone().ok_or_else(|| anyhow!("name the server with --id"))?;
        let asset = Asset { url: spec.to_owned(), sha256, os: None, arch: None };
        let params =
            InstallBinaryParams { id: name, name: None, version: None, assets: vec![asset], extras: Extras::default() };
        installing::<InstallBinary>(&mut link, params, on_line).await
    } else if spec.ends_with(".json") && Path::new(spec).is_file() {
        // An MCP Registry server.json: its first way of running, with --input KEY=VALUE values.
        let path = std::path::absolute(spec)?.display().to_string();
        let params = ServerJson { path: Some(path), values: pairs(inputs)?, id, ..ServerJson::default() };
        installing::<InstallServerJson>(&mut link, params, on_line).await
    } else {
        let inputs = pairs(inputs)?.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let params = InstallFromCatalog { entry: spec.to_owned(), id, inputs };
        installing::<InstallCatalog>(&mut link, params, on_line).await
    }?;
    println!(
        "installed {} {} as {}: {}",
        entry.spec.name,
        entry.spec.version.as_deref().unwrap_or_default(),
        entry.spec.id,
        entry.spec.launch.summary()
    );
    Ok(())
}

/// `registries`: shows where packages install from, or sets it (both at once; `public` clears).
pub async fn registries(
    data_dir: &Path,
    npm: Option<String>,
    pypi: Option<String>,
    public: bool,
    json: bool,
) -> Result<()> {
    let mut link = Link::open(data_dir).await?;
    let registries = if public || npm.is_some() || pypi.is_some() {
        ask::<InstallRegistriesSet>(&mut link, Registries { npm, pypi }).await?
    } else {
        ask::<InstallRegistriesGet>(&mut link, Empty {}).await?
    };
    if json {
        return print_json(&registries);
    }
    println!("npm:  {}", registries.npm.as_deref().unwrap_or("the public registry (registry.npmjs.org)"));
    println!("PyPI: {}", registries.pypi.as_deref().unwrap_or("the public index (pypi.org)"));
    Ok(())
}

/// A path made absolute (the bridge may run elsewhere), or a URL as it is.
fn local_or_url(source: &str) -> Result<String> {
    match source.starts_with("https://") || source.starts_with("http://") {
        true => Ok(source.to_owned()),
        false => Ok(std::path::absolute(source)?.display().to_string()),
    }
}

/// Says what was added (or prints it as JSON).
fn added(entry: ServerEntry, json: bool) -> Result<()> {
    if json {
        return print_json(&entry);
    }
    println!("added {} ({}): {}", entry.spec.id, entry.spec.name, entry.spec.launch.summary());
    Ok(())
}

/// One install, its output lines to `on_line`.
async fn installing<M>(link: &mut Link, params: M::Params, on_line: impl Fn(String)) -> Result<ServerEntry>
where
    M: Method<Result = ServerEntry, Event = harbor_protocol::api::install::InstallEvent>,
{
    use harbor_protocol::api::install::InstallEvent;
    let outcome = link
        .request_with::<M>(params, |event| match event {
            InstallEvent::Progress { line, .. } => on_line(line),
        })
        .await?;
    outcome.map_err(|e| anyhow!("{}", e.message))
}

/// Calls method `M`; a refusal becomes the error, in the bridge's words.
pub(super) async fn ask<M: Method>(link: &mut Link, params: M::Params) -> Result<M::Result> {
    link.request::<M>(params).await?.map_err(|e| anyhow!("{}", e.message))
}

pub(super) fn pairs(items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| anyhow!("{item:?} is not KEY=VALUE"))
        })
        .collect()
}

pub(super) fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
