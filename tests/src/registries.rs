//! The local npm registry and PyPI index the install tests use instead of the live ones:
//! `scripts/setup --test` filled them with the pinned packages and their dependencies
//! (`scripts/registries.py fill`, into `HARBOR_TEST_SERVERS/registries`); the first test that
//! installs starts `scripts/registries.py serve` on loopback, one for the whole test binary. The
//! server stops when this process ends (its standard input closes), however it ends.
//!
//! One file for both test harnesses: the e2e crate has it as a module, and the bridge's
//! integration tests include it by path (they cannot depend on this crate, which runs the bridge).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The base URL of the local registries, started on first use; a loud failure when
/// `scripts/setup --test` has not filled them.
pub fn url() -> &'static str {
    static SERVER: OnceLock<(String, Child)> = OnceLock::new();
    &SERVER
        .get_or_init(|| {
            let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("a crate of the workspace");
            let folder = std::env::var_os("HARBOR_TEST_SERVERS")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo.join("target/test-servers"))
                .join("registries");
            let mut child = Command::new("python3")
                .arg(repo.join("scripts/registries.py"))
                .arg("serve")
                .arg(&folder)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs scripts/registries.py");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("its first line");
            assert!(
                line.starts_with("http://"),
                "the local registries in {} did not start: run scripts/setup --test",
                folder.display()
            );
            (line.trim().to_owned(), child)
        })
        .0
}

/// npm's registry URL on the local registries (`--registry`).
pub fn npm() -> String {
    format!("{}/npm/", url())
}

/// The PyPI simple index URL on the local registries (`--index-url`).
pub fn pypi() -> String {
    format!("{}/pypi/simple", url())
}
