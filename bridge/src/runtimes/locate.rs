//! Finding executables the way a user's shell would, without the user's shell.
//!
//! Firefox launched from a desktop menu hands its children a minimal `PATH` (often just
//! `/usr/bin:/bin`), so `node` installed by nvm, Homebrew or Volta is invisible and every
//! `spawn npx ENOENT` follows. [`find`] searches `PATH` first, then the folders version managers
//! and package managers install into, newest Node first for nvm.

use std::path::{Path, PathBuf};

/// The first executable named `program` in `PATH` or a well-known folder.
pub fn find(program: &str) -> Option<PathBuf> {
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    search_dirs(std::env::var_os("PATH").as_deref(), home.as_deref())
        .into_iter()
        .flat_map(|dir| candidates(&dir, program))
        .find(|path| is_executable(path))
}

/// What to tell a user who lacks `program`.
pub fn install_hint(program: &str) -> &'static str {
    match program {
        "node" | "npx" | "npm" => "install Node.js 18 or newer (https://nodejs.org or your package manager)",
        "python" | "python3" => "install Python 3.10 or newer",
        "uv" | "uvx" => "install uv with `pip install uv` (or see https://docs.astral.sh/uv)",
        "docker" => "install Docker Engine or Docker Desktop and start it",
        "bwrap" => "install bubblewrap (`sudo apt install bubblewrap`, or your package manager's bubblewrap)",
        _ => "install it, or give its full path in the server's command",
    }
}

/// The folders to search, in order.
fn search_dirs(path_var: Option<&std::ffi::OsStr>, home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path_var.map(|p| std::env::split_paths(p).collect()).unwrap_or_default();
    if let Some(home) = home {
        for sub in [".local/bin", ".cargo/bin", ".volta/bin", ".pyenv/shims", ".bun/bin", ".deno/bin", "bin"] {
            dirs.push(home.join(sub));
        }
        dirs.extend(nvm_bins(&home.join(".nvm/versions/node")));
    }
    for fixed in ["/opt/homebrew/bin", "/usr/local/bin", "/usr/bin", "/bin", "/snap/bin"] {
        dirs.push(PathBuf::from(fixed));
    }
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// nvm's `bin` folders, newest version first.
fn nvm_bins(versions: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(versions) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u64>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.trim_start_matches('v').split('.').filter_map(|n| n.parse().ok()).collect();
            (version, e.path().join("bin"))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

fn candidates(dir: &Path, program: &str) -> Vec<PathBuf> {
    if cfg!(windows) {
        ["exe", "cmd", "bat"].iter().map(|ext| dir.join(format!("{program}.{ext}"))).collect()
    } else {
        vec![dir.join(program)]
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvm_versions_are_searched_newest_first_after_path() {
        let home = std::env::temp_dir().join(format!("harbor-locate-{}", std::process::id()));
        for v in ["v18.2.0", "v20.11.1", "v9.0.0"] {
            std::fs::create_dir_all(home.join(".nvm/versions/node").join(v).join("bin")).unwrap();
        }
        let dirs = search_dirs(Some(std::ffi::OsStr::new("/custom/bin")), Some(&home));
        assert_eq!(dirs[0], PathBuf::from("/custom/bin"));
        let nvm: Vec<_> = dirs.iter().filter(|d| d.starts_with(home.join(".nvm"))).collect();
        assert!(nvm[0].ends_with("v20.11.1/bin") && nvm[2].ends_with("v9.0.0/bin"), "{nvm:?}");
        std::fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn finds_a_program_with_an_empty_path() {
        // `sh` lives in /bin or /usr/bin on every Unix, which are searched even with no PATH.
        #[cfg(unix)]
        assert!(search_dirs(None, None).into_iter().flat_map(|d| candidates(&d, "sh")).any(|p| is_executable(&p)));
    }
}
