//! The control socket: a running bridge listens on `bridge.sock` in the data folder (a Unix
//! socket only its user can open) and serves each connection exactly like Firefox's pipe, so the
//! command line ([`crate::link::Link`]) reaches the servers Firefox's bridge runs.
//!
//! Windows has no control socket yet: there the command line always works in-process.

use std::future::Future;
use std::path::{Path, PathBuf};

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("bridge.sock")
}

/// Serves the control socket until the returned task is aborted. Returns `None` when another
/// bridge already listens on it (a second Firefox profile on the same data folder).
#[cfg(unix)]
pub async fn listen<F, Fut>(data_dir: &Path, serve: F) -> Option<tokio::task::JoinHandle<()>>
where
    F: Fn(tokio::net::unix::OwnedReadHalf, tokio::net::unix::OwnedWriteHalf) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(data_dir);
    if tokio::net::UnixStream::connect(&path).await.is_ok() {
        tracing::warn!(path = %path.display(), "another bridge owns the control socket; the command line will talk to it");
        return None;
    }
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot open the control socket; the command line will work in-process");
            return None;
        }
    };
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    Some(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (reader, writer) = stream.into_split();
            tokio::spawn(serve(reader, writer));
        }
    }))
}
