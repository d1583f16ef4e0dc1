//! `harbor-bridge doctor`: checks what Harbor needs on this machine and says how to fix each gap.
//!
//! Each [`Check`] has a status and, unless it passed, a fix in plain words. Checks only look:
//! they install nothing and change no file.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::native_manifest::{self, Scope};
use crate::runtimes::locate;

/// Where Harbor looks for Ollama unless told otherwise.
pub const DEFAULT_OLLAMA_URL: &str = "http://127.0.0.1:11434";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Missing, but only some servers or features need it.
    Warn,
    /// Harbor cannot work until this is fixed.
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

pub fn run(data_dir: &Path) -> Vec<Check> {
    let mut checks = vec![manifest(data_dir)];
    for (program, needed_for) in [
        ("node", "npm servers"),
        ("npx", "npm servers"),
        ("python3", "PyPI servers"),
        ("uv", "PyPI servers (faster installs; Harbor falls back to python -m venv)"),
        ("docker", "Docker servers"),
    ] {
        checks.push(program_check(program, needed_for));
    }
    #[cfg(target_os = "linux")]
    checks.push(program_check(
        "bwrap",
        "the OS sandbox of native servers (a sandboxed server does not start without it)",
    ));
    checks.push(docker_engine());
    checks.push(keychain(data_dir));
    checks.push(ollama(DEFAULT_OLLAMA_URL));
    checks
}

/// Whether a Docker engine answers (servers that run in containers need one).
fn docker_engine() -> Check {
    let name = "docker engine";
    let answer = within(15, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let docker = runtime.block_on(crate::runtimes::docker::connect()).map_err(|e| e.to_string())?;
        Ok(docker.client_version().to_string())
    });
    let socket = crate::runtimes::docker::socket();
    match answer {
        Some(Ok(version)) => {
            Check { name, status: Status::Ok, detail: format!("answering at {socket} (API {version})"), fix: None }
        }
        Some(Err(why)) => Check {
            name,
            status: Status::Warn,
            detail: why,
            fix: Some(format!(
                "only servers that run in Docker need it: install Docker and start it (or set DOCKER_HOST); Harbor looks at {socket}"
            )),
        },
        None => Check {
            name,
            status: Status::Warn,
            detail: format!("the engine at {socket} did not answer within 15 s"),
            fix: Some("restart Docker".into()),
        },
    }
}

/// Which keychain secrets go to; a warning when they would not survive a reboot, a failure when
/// there is none.
fn keychain(data_dir: &Path) -> Check {
    let name = "keychain";
    let service = crate::secrets::service(data_dir);
    // Opening can hang while D-Bus activates a keyring daemon; the check does not wait forever.
    match within(10, move || crate::secrets::keychain::Keychain::open(service).map(|k| (k.backend, k.note.clone()))) {
        Some(Ok((backend, None))) => Check { name, status: Status::Ok, detail: backend.name().into(), fix: None },
        Some(Ok((backend, Some(note)))) => Check {
            name,
            status: if backend.persistent() { Status::Ok } else { Status::Warn },
            detail: format!("{}: {note}", backend.name()),
            fix: Some(
                "install GNOME Keyring (or KWallet) and unlock it at login to keep secrets across reboots".into(),
            ),
        },
        Some(Err(why)) => Check {
            name,
            status: Status::Fail,
            detail: why.to_string(),
            fix: Some("servers that need API keys cannot start until a keychain is available".into()),
        },
        None => Check {
            name,
            status: Status::Warn,
            detail: "the keychain did not answer within 10 s".into(),
            fix: Some("unlock your keyring (GNOME Keyring, KWallet) and run doctor again".into()),
        },
    }
}

/// Runs `work` on a thread of its own and waits at most `seconds` for it; `None` when it took
/// longer (the thread is left to finish on its own).
fn within<T: Send + 'static>(seconds: u64, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tell, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tell.send(work());
    });
    told.recv_timeout(std::time::Duration::from_secs(seconds)).ok()
}

fn manifest(data_dir: &Path) -> Check {
    let name = "native messaging";
    let fail = |detail: String| Check {
        name,
        status: Status::Fail,
        detail,
        fix: Some("run `harbor-bridge install` so Firefox can start the bridge".into()),
    };
    match native_manifest::installed_bridge(Scope::User, data_dir) {
        Ok(Some(bridge)) if bridge.is_file() => {
            Check { name, status: Status::Ok, detail: format!("Firefox starts {}", bridge.display()), fix: None }
        }
        Ok(Some(bridge)) => fail(format!("the manifest points at {}, which does not exist", bridge.display())),
        Ok(None) => fail("no native-messaging manifest is installed for this user".into()),
        Err(error) => fail(format!("{error:#}")),
    }
}

fn program_check(program: &'static str, needed_for: &str) -> Check {
    match locate::find(program) {
        Some(path) => Check { name: program, status: Status::Ok, detail: path.display().to_string(), fix: None },
        None => Check {
            name: program,
            status: Status::Warn,
            detail: format!("not found; needed for {needed_for}"),
            fix: Some(locate::install_hint(program).into()),
        },
    }
}

/// Asks Ollama for its version with a bare HTTP/1.0 request: enough to tell "running" from
/// "not running" without an HTTP client.
fn ollama(url: &str) -> Check {
    let name = "ollama";
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let answer = (|| -> std::io::Result<String> {
        let addr = host
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(stream, "GET /api/version HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
        let mut reply = String::new();
        stream.take(4096).read_to_string(&mut reply)?;
        Ok(reply)
    })();
    match answer {
        Ok(reply) if reply.starts_with("HTTP/1.") && reply.contains(" 200 ") => {
            Check { name, status: Status::Ok, detail: format!("answering at {url}"), fix: None }
        }
        Ok(reply) => Check {
            name,
            status: Status::Warn,
            detail: format!("{url} answered, but not like Ollama: {}", reply.lines().next().unwrap_or("")),
            fix: Some("check that Ollama, not another program, listens on that port".into()),
        },
        Err(error) => Check {
            name,
            status: Status::Warn,
            detail: format!("not reachable at {url} ({error})"),
            fix: Some("start Ollama (`ollama serve`) to chat with a local model".into()),
        },
    }
}
