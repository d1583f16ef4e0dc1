//! An OS sandbox for natively launched servers (Linux, with bubblewrap).
//!
//! A server whose [`Sandbox`] is on runs inside `bwrap`: the whole file system read-only; the
//! user's home folder and Harbor's data folder replaced by empty, private folders — so no
//! `~/.ssh`, no browser profiles, no keyrings, no `harbor.db` — with only the program's own
//! installation shown back read-only; its own folder (`servers/<id>`) and the folders the user
//! granted it writable; a private `/tmp`; its own process, IPC and host-name namespaces; and no
//! network but a private loopback unless the user allows the network. It dies with the bridge.
//!
//! bubblewrap is a program (Debian `bubblewrap`), found like the others even with a minimal
//! `PATH`. A server that asks for the sandbox where bwrap is missing does not start: it is never
//! run unconfined instead. `doctor` reports whether the sandbox is available.

use std::path::{Path, PathBuf};

use crate::store::servers::Sandbox;

/// A sandbox made concrete for one start of one server.
#[derive(Clone, Debug, PartialEq)]
pub struct Jail {
    pub network: bool,
    /// Folders the server may write (its own, then those the user granted).
    pub writable: Vec<PathBuf>,
    /// Folders replaced by empty private ones (home, Harbor's data folder).
    pub hidden: Vec<PathBuf>,
    /// Folders inside hidden ones shown back read-only (the program's installation).
    pub readable: Vec<PathBuf>,
}

impl Jail {
    /// The jail for a server whose own folder is `own`, run from `program`, with the user's
    /// `home` and Harbor's `data_dir` hidden.
    pub fn new(policy: &Sandbox, own: &Path, program: &Path, home: Option<&Path>, data_dir: &Path) -> Jail {
        let mut hidden: Vec<PathBuf> = home.into_iter().map(Path::to_path_buf).collect();
        hidden.push(data_dir.to_path_buf());
        let mut readable = Vec::new();
        // The program's installation (for `…/bin/node` or a venv's real interpreter, the folder
        // above `bin`), if it lives inside a hidden folder.
        for path in programs(program) {
            let prefix = match path.parent() {
                Some(bin) if bin.file_name().is_some_and(|n| n == "bin") => bin.parent().map(Path::to_path_buf),
                parent => parent.map(Path::to_path_buf),
            };
            if let Some(prefix) = prefix.filter(|p| hidden.iter().any(|h| p.starts_with(h)) && !p.starts_with(own)) {
                if !readable.contains(&prefix) {
                    readable.push(prefix);
                }
            }
        }
        let mut writable = vec![own.to_path_buf()];
        writable.extend(policy.folders.iter().map(PathBuf::from));
        Jail { network: policy.network, writable, hidden, readable }
    }

    /// bwrap's arguments that run `program args…` in this jail.
    pub fn arguments(&self, program: &Path, args: &[String]) -> Vec<String> {
        let mut out: Vec<String> = [
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
        ]
        .map(str::to_owned)
        .to_vec();
        if !self.network {
            out.push("--unshare-net".into());
        }
        let mut push = |flag: &str, path: &Path| {
            let path = path.display().to_string();
            out.extend([flag.to_owned(), path.clone()]);
            if flag != "--tmpfs" {
                out.push(path);
            }
        };
        for hidden in self.hidden.iter().filter(|p| p.exists()) {
            push("--tmpfs", hidden);
        }
        for readable in self.readable.iter().filter(|p| p.exists()) {
            push("--ro-bind", readable);
        }
        for writable in &self.writable {
            push("--bind", writable);
        }
        out.push("--".into());
        out.push(program.display().to_string());
        out.extend(args.iter().cloned());
        out
    }
}

/// The files that run when `program` runs: itself, the interpreter its `#!` line names (a
/// virtual environment's `python`), and the real files behind their symbolic links.
fn programs(program: &Path) -> Vec<PathBuf> {
    let mut found = vec![program.to_path_buf()];
    if let Some(interpreter) = shebang(program) {
        found.push(interpreter);
    }
    let real: Vec<PathBuf> = found.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    found.extend(real);
    found
}

/// The interpreter a script's first line names, if it is one.
fn shebang(script: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let read = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..read]).ok()?.strip_prefix("#!")?.lines().next()?;
    let interpreter = line.split_whitespace().next()?;
    Some(PathBuf::from(interpreter)).filter(|p| p.is_absolute())
}

/// Where bubblewrap is, if it is installed.
pub fn bwrap() -> Option<PathBuf> {
    super::locate::find("bwrap")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_and_data_are_hidden_the_program_shown_and_only_granted_folders_writable() {
        let policy = Sandbox { enabled: true, network: false, folders: vec!["/srv/notes".into()] };
        let jail = Jail::new(
            &policy,
            Path::new("/data/servers/fs"),
            Path::new("/home/ann/.nvm/versions/node/v22/bin/node"),
            Some(Path::new("/home/ann")),
            Path::new("/data"),
        );
        assert_eq!(jail.hidden, [PathBuf::from("/home/ann"), PathBuf::from("/data")]);
        assert_eq!(jail.readable, [PathBuf::from("/home/ann/.nvm/versions/node/v22")]);
        assert_eq!(jail.writable, [PathBuf::from("/data/servers/fs"), PathBuf::from("/srv/notes")]);
        let args = jail.arguments(Path::new("/usr/bin/node"), &["server.js".into()]);
        let joined = args.join(" ");
        assert!(joined.contains("--ro-bind / / "), "{joined}");
        assert!(joined.contains("--unshare-net"));
        assert!(joined.contains("--bind /srv/notes /srv/notes"));
        assert!(joined.ends_with("-- /usr/bin/node server.js"));
        let open = Jail { network: true, ..jail };
        assert!(!open.arguments(Path::new("/usr/bin/node"), &[]).contains(&"--unshare-net".to_owned()));
    }
}
