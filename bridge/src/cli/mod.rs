//! The command line: host mode (what Firefox runs), `serve`, `install`, `registries`, `uninstall`,
//! `doctor`,
//! the MCP host's `servers`, `tools` and `call` (in [`servers`]), `import` (in [`import`]), and
//! `mcp` / `gateway` (in [`gateway`]).
//!
//! Firefox starts a native host with two arguments, the manifest path and the extension id, so
//! those positionals mean host mode. Outside host mode the commands print to stdout as any CLI
//! does; in host mode stdout belongs to native messaging alone.

mod answer;
mod gateway;
mod import;
mod secrets;
mod servers;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use harbor_bridge::doctor::{self, Status};
use harbor_bridge::native_manifest::{self, Scope};
use harbor_bridge::{logging, paths};

#[derive(Parser)]
#[command(name = "harbor-bridge", version, about = "Harbor's bridge between Firefox and MCP servers")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Set by Firefox: the path of the native-messaging manifest.
    #[arg(hide = true)]
    manifest: Option<String>,
    /// Set by Firefox: the id of the extension that connects.
    #[arg(hide = true)]
    extension_id: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve native messaging on stdin/stdout (what Firefox runs).
    Serve,
    /// Without SPEC: register the bridge with Firefox for this user (or all users with --system).
    /// With SPEC: install an MCP server — a directory id (`time`), `npm:NAME[@VERSION]`,
    /// `pypi:NAME[==VERSION]`, the path of an MCP Registry `server.json`, a `.mcpb` bundle (path or
    /// URL), a git repository URL, or a program's URL (with --sha256 and --id).
    Install {
        spec: Option<String>,
        /// The new server's id (default: from the directory entry or the package name).
        #[arg(long)]
        id: Option<String>,
        /// A directory entry's input: `--input paths=/home/me/docs` (repeatable).
        #[arg(long = "input")]
        inputs: Vec<String>,
        /// The SHA-256 a downloaded program or bundle must have.
        #[arg(long)]
        sha256: Option<String>,
        /// Install for every user of this machine (needs root).
        #[arg(long)]
        system: bool,
        /// Point Firefox at this binary where it is, instead of a copy in Harbor's data folder.
        #[arg(long)]
        in_place: bool,
    },
    /// Show where npm and PyPI packages install from, or set it: `registries --npm URL --pypi URL`
    /// (a mirror, or a registry on loopback; a registry not given goes back to the public one).
    Registries {
        /// npm's registry URL.
        #[arg(long)]
        npm: Option<String>,
        /// A PyPI simple index URL.
        #[arg(long)]
        pypi: Option<String>,
        /// Set both back to the public registries.
        #[arg(long, conflicts_with_all = ["npm", "pypi"])]
        public: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove the bridge's registration with Firefox.
    Uninstall {
        #[arg(long)]
        system: bool,
    },
    /// Print Harbor's data folder (HARBOR_HOME, or this OS's usual place).
    DataDir,
    /// Add, list, start, stop and remove MCP servers, and read their logs.
    Servers {
        #[command(subcommand)]
        command: Box<servers::ServersCommand>,
        /// Print the bridge's answers as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Show (--dry-run) or import the MCP servers another app is configured with: Claude
    /// Desktop, Cursor, VS Code, Windsurf, Claude Code or Zed.
    Import {
        file: PathBuf,
        /// claude-desktop, cursor, vs-code, windsurf, claude-code or zed (guessed from the path).
        #[arg(long)]
        dialect: Option<String>,
        /// Only show what would be imported: each exact command, args, env names and secrets.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write Harbor's servers (all, or the ids given) into Claude Desktop's or Cursor's config,
    /// keeping everything else in the file and a backup of it.
    Export {
        /// claude-desktop or cursor.
        #[arg(long = "to")]
        target: String,
        /// The config file (default: the app's usual one for this user).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Only show what would be written.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
        ids: Vec<String>,
    },
    /// Answer, at this terminal, what servers ask the user (forms, pages to visit, leave for the
    /// model) while a running bridge has no sidebar to show them in — for example under
    /// `gateway serve`. Runs until Ctrl-C.
    Asks,
    /// List the namespaced tools of one server or of all of them.
    Tools {
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Call a tool: `call SERVER/TOOL '{"arg": "value"}'` (starts the server if needed).
    Call {
        tool: String,
        args: Option<String>,
        #[arg(long)]
        timeout_ms: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Set and delete secrets (values from standard input, never shown back).
    Secrets {
        #[command(subcommand)]
        command: secrets::SecretsCommand,
        /// Print the bridge's answers as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Serve MCP on stdin/stdout for one app (what an app's `harbor` entry runs): the tools of
    /// the servers that app may use, from the running bridge.
    Mcp {
        /// The gateway client this app is (`harbor-bridge gateway clients add NAME`).
        #[arg(long)]
        client: String,
    },
    /// Harbor's servers for other AI apps: serve without Firefox, the HTTP endpoint, clients,
    /// and connecting apps.
    Gateway {
        #[command(subcommand)]
        command: gateway::GatewayCommand,
        #[arg(long, global = true)]
        json: bool,
    },
    /// Run an MCP server written in JavaScript on stdin/stdout, with no Node.js (Harbor's
    /// launch for such a server): `MCP.readLine`/`MCP.writeLine`, `process.env`, and `fetch` to
    /// the declared hosts only.
    JsServer {
        /// The server's file.
        file: PathBuf,
        /// A host the server may fetch from (repeatable); none: no network.
        #[arg(long = "allow-host")]
        allow_host: Vec<String>,
    },
    /// Serve a REST API as an MCP server on stdin/stdout (Harbor's launch for a service added
    /// with `servers add ID --openapi`): one tool per operation of its OpenAPI document.
    OpenapiServer {
        /// The OpenAPI 3.x document (JSON or YAML).
        file: PathBuf,
        /// The service's address, when the document names none (or another one).
        #[arg(long)]
        base_url: Option<String>,
        /// A folder of skills (each a folder with its SKILL.md) to serve as the service's own.
        #[arg(long)]
        skills: Option<PathBuf>,
    },
    /// Check what Harbor needs on this machine and say how to fix what is missing.
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        None if cli.manifest.is_none() && std::io::stdin().is_terminal() => {
            eprintln!("harbor-bridge is started by Firefox. Run `harbor-bridge install` to register it, or `harbor-bridge --help`.");
            return ExitCode::from(2);
        }
        // Firefox always passes the path of the manifest it read; anything else is a mistyped
        // command, which must not sit waiting for native messages on a terminal.
        None if cli.manifest.as_deref().is_some_and(|m| !m.ends_with(".json")) => {
            eprintln!(
                "harbor-bridge: unknown command {:?}; see `harbor-bridge --help`",
                cli.manifest.unwrap_or_default()
            );
            return ExitCode::from(2);
        }
        None | Some(Command::Serve) => host(cli.extension_id.as_deref()),
        Some(Command::Install { spec: Some(spec), id, inputs, sha256, .. }) => {
            with_runtime(|dir| async move { servers::install(dir, &spec, id, &inputs, sha256).await })
        }
        Some(Command::Install { spec: None, system, in_place, .. }) => install(scope(system), in_place),
        Some(Command::Registries { npm, pypi, public, json }) => {
            with_runtime(|dir| async move { servers::registries(dir, npm, pypi, public, json).await })
        }
        Some(Command::Uninstall { system }) => uninstall(scope(system)),
        Some(Command::DataDir) => paths::data_dir().map(|dir| println!("{}", dir.display())),
        Some(Command::Servers { command, json }) => with_runtime(|dir| servers::servers(dir, *command, json)),
        Some(Command::Tools { id, json }) => with_runtime(|dir| servers::tools(dir, id, json)),
        Some(Command::Asks) => with_runtime(answer::watch),
        Some(Command::Call { tool, args, timeout_ms, json }) => {
            with_runtime(|dir| async move { servers::call(dir, &tool, args.as_deref(), timeout_ms, json).await })
        }
        Some(Command::Import { file, dialect, dry_run, json }) => {
            with_runtime(|dir| async move { import::import(dir, &file, dialect.as_deref(), dry_run, json).await })
        }
        Some(Command::Export { target, file, dry_run, json, ids }) => {
            with_runtime(|dir| async move { import::export(dir, &target, file.as_deref(), ids, dry_run, json).await })
        }
        Some(Command::Secrets { command, json }) => with_runtime(|dir| secrets::secrets(dir, command, json)),
        Some(Command::Mcp { client }) => with_runtime(|dir| async move { gateway::mcp(dir, &client).await }),
        Some(Command::Gateway { command: gateway::GatewayCommand::Serve { port, config }, .. }) => {
            with_runtime(|dir| gateway::serve(dir, port, config, shutdown_signal()))
        }
        Some(Command::Gateway { command: gateway::GatewayCommand::Check { config }, .. }) => gateway::check(&config),
        Some(Command::Gateway { command, json }) => with_runtime(|dir| gateway::gateway(dir, command, json)),
        Some(Command::Doctor { json }) => return doctor(json),
        Some(Command::OpenapiServer { file, base_url, skills }) => std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the OpenAPI document {}", file.display()))
            .and_then(|document| harbor_bridge::openapi::server::serve(&document, base_url, skills)),
        Some(Command::JsServer { file, allow_host }) => std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the server's file {}", file.display()))
            .and_then(|code| harbor_bridge::js_server::serve(&code, allow_host)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("harbor-bridge: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command that talks to a bridge: logging to the file only (stdout is the command's),
/// on one thread, like host mode (see `host`): also because on one thread a server's progress
/// reports, which rmcp hands to tasks of their own, run before the answer that follows them, so
/// `gateway serve` and `mcp` relay every report before the result (`mcp::client::relaying`).
fn with_runtime<'a, F, Fut>(command: F) -> Result<()>
where
    F: FnOnce(&'a Path) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + 'a,
{
    let data_dir: &'a Path = Box::leak(paths::data_dir()?.into_boxed_path());
    logging::init(&paths::log_dir(data_dir));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let outcome = runtime.block_on(command(data_dir));
    runtime.shutdown_timeout(Duration::from_secs(3));
    outcome
}

fn scope(system: bool) -> Scope {
    if system {
        Scope::System
    } else {
        Scope::User
    }
}

/// Host mode: serve native messaging until Firefox closes the pipe or a signal arrives.
fn host(extension_id: Option<&str>) -> Result<()> {
    let data_dir = paths::data_dir()?;
    logging::init(&paths::log_dir(&data_dir));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), extension = extension_id.unwrap_or("-"), "bridge started");
    // One thread. Requests still run concurrently (each is a task), but on small machines waking
    // a second worker thread costs more than the work: measured through the real binary on two
    // cores, system.echo took 365 µs on two workers and 22 µs on one; tools.call 1363 → 717 µs.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    let served = runtime.block_on(async {
        match stdio_pipes() {
            Some((stdin, stdout)) => harbor_bridge::run(stdin, stdout, &data_dir, shutdown_signal()).await,
            None => harbor_bridge::run(tokio::io::stdin(), tokio::io::stdout(), &data_dir, shutdown_signal()).await,
        }
    });
    // The stdin reader blocks a thread until the next byte; do not wait on it after a signal.
    runtime.shutdown_timeout(Duration::from_millis(200));
    tracing::info!("bridge stopped");
    served
}

/// Firefox connects the host through pipes. tokio's `stdin()`/`stdout()` wake a blocking-pool
/// thread for every read and write; pipes can be driven by the reactor directly instead.
/// Anything else (a file, a terminal) gets `None` and the portable path.
#[cfg(unix)]
fn stdio_pipes() -> Option<(tokio::net::unix::pipe::Receiver, tokio::net::unix::pipe::Sender)> {
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;
    let stdin = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let stdout = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    // Converting makes the descriptor non-blocking, which would break the portable path's
    // blocking reads: check both ends are pipes before converting either.
    let is_pipe = |fd: &OwnedFd| {
        fd.try_clone()
            .ok()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.file_type().is_fifo())
    };
    if !is_pipe(&stdin) || !is_pipe(&stdout) {
        return None;
    }
    // A chunk frame is up to 1 MiB; through the default 64 KiB pipe it goes in sixteen writes,
    // each waking the reader: a 5 MiB answer measured 43.4 → 30.5 ms (`cargo bench --bench dispatch`) with the pipe widened
    // to 1 MiB (the most an unprivileged process may ask for; less is fine, and so is a refusal).
    // The kernel takes the pages only as data waits in the pipe.
    #[cfg(target_os = "linux")]
    for fd in [&stdin, &stdout] {
        use std::os::fd::AsRawFd;
        // SAFETY: F_SETPIPE_SZ on a descriptor this function owns, known to be a pipe.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    }
    let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(stdin).ok()?;
    let sender = tokio::net::unix::pipe::Sender::from_owned_fd(stdout).ok()?;
    Some((receiver, sender))
}

#[cfg(not(unix))]
fn stdio_pipes() -> Option<(tokio::io::Stdin, tokio::io::Stdout)> {
    None
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn install(scope: Scope, in_place: bool) -> Result<()> {
    let data_dir = paths::data_dir()?;
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot tell where this harbor-bridge binary is")?;
    let bridge = if in_place { exe } else { copy_binary(&exe, &paths::bin_dir(&data_dir, scope == Scope::System))? };
    let manifest = native_manifest::install(scope, &data_dir, &bridge)?;
    println!("Installed the Harbor bridge for Firefox.");
    println!("  bridge:   {}", bridge.display());
    println!("  manifest: {}", manifest.display());
    println!("  data:     {}", data_dir.display());
    Ok(())
}

/// Copies the running binary into Harbor's own `bin/`, so rebuilding or deleting a checkout does
/// not break Firefox's link to the bridge. Copy-then-rename keeps a running bridge intact.
fn copy_binary(exe: &Path, bin_dir: &Path) -> Result<PathBuf> {
    let target = bin_dir.join(exe.file_name().context("the binary has no file name")?);
    if target == exe {
        return Ok(target);
    }
    std::fs::create_dir_all(bin_dir).with_context(|| format!("cannot create {}", bin_dir.display()))?;
    let staging = target.with_extension("new");
    std::fs::copy(exe, &staging).with_context(|| format!("cannot copy the bridge to {}", staging.display()))?;
    std::fs::rename(&staging, &target).with_context(|| format!("cannot move the bridge to {}", target.display()))?;
    Ok(target)
}

fn uninstall(scope: Scope) -> Result<()> {
    let data_dir = paths::data_dir()?;
    match native_manifest::uninstall(scope, &data_dir)? {
        Some(path) => println!("Removed {}", path.display()),
        None => println!("The bridge was not registered with Firefox."),
    }
    let copy = paths::bin_dir(&data_dir, scope == Scope::System).join(if cfg!(windows) {
        "harbor-bridge.exe"
    } else {
        "harbor-bridge"
    });
    if std::fs::remove_file(&copy).is_ok() {
        println!("Removed {}", copy.display());
    }
    println!("Harbor's data stays in {} (delete it to remove servers and settings too).", data_dir.display());
    Ok(())
}

fn doctor(json: bool) -> ExitCode {
    let data_dir = match paths::data_dir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("harbor-bridge: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let checks = doctor::run(&data_dir);
    if json {
        println!("{}", serde_json::to_string_pretty(&checks).expect("checks serialize"));
    } else {
        for check in &checks {
            let mark = match check.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            println!("{mark}  {:<17} {}", check.name, check.detail);
            if let Some(fix) = &check.fix {
                println!("      {:<17} fix: {fix}", "");
            }
        }
    }
    if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
