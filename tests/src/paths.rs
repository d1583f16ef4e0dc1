//! Where things are: the repository, the built bridge, the extension, and the artifacts folder.

use std::path::PathBuf;

use anyhow::{ensure, Result};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the repository").to_path_buf()
}

/// The bridge binary: `HARBOR_BRIDGE_BIN`, else the debug build in the target folder.
pub fn bridge_binary() -> Result<PathBuf> {
    let path = match std::env::var_os("HARBOR_BRIDGE_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
            target.join("debug/harbor-bridge")
        }
    };
    ensure!(
        path.is_file(),
        "no bridge binary at {}: run scripts/build (or cargo build -p harbor-bridge)",
        path.display()
    );
    Ok(path)
}

/// The unpacked extension, checked to hold the built sidebar.
pub fn extension_dir() -> Result<PathBuf> {
    let dir = repo_root().join("extension");
    let wasm = dir.join("sidebar/pkg/harbor_sidebar_bg.wasm");
    ensure!(wasm.is_file(), "the sidebar is not built ({} is missing): run scripts/build", wasm.display());
    Ok(dir)
}

/// Where tests save screenshots and other artifacts (created if missing).
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("HARBOR_ARTIFACTS").map(PathBuf::from).unwrap_or_else(|| repo_root().join("artifacts"));
    std::fs::create_dir_all(&dir).expect("the artifacts folder can be created");
    dir
}

/// Where `scripts/setup --test` put the real MCP servers the tests run (HARBOR_TEST_SERVERS).
pub fn test_servers() -> Result<PathBuf> {
    let dir = std::env::var_os("HARBOR_TEST_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/test-servers"));
    ensure!(
        dir.join("venv/bin/python").is_file(),
        "the test servers are not installed in {}: run scripts/setup --test",
        dir.display()
    );
    Ok(dir)
}

/// server-everything's entry point (npm), as `scripts/setup --test` installs it.
pub fn everything() -> Result<PathBuf> {
    let entry = test_servers()?.join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    ensure!(entry.is_file(), "server-everything is not installed in {}: run scripts/setup --test", entry.display());
    Ok(entry)
}
