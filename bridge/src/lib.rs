//! harbor-bridge: Harbor's native-messaging host.
//!
//! Firefox starts the bridge and talks to it over stdio in length-prefixed JSON frames. The
//! bridge answers requests from Harbor's background script on behalf of web pages and of
//! Harbor's own sidebar.
//!
//! The crate reads like its layers, from the pipe inward:
//! - [`nm`] — native-messaging framing and chunking; the only writer of stdout;
//! - [`rpc`] — the envelope, the method table ([`rpc::Router`]) and the session loop;
//! - [`system`] — the `system.*` methods;
//! - [`native_manifest`], [`doctor`], [`paths`], [`logging`], [`runtimes`] — installing the
//!   bridge into Firefox, checking the machine, and where files live.
//!
//! [`run`] serves one session over any reader and writer, so tests drive the bridge over
//! in-memory pipes exactly as Firefox drives it over stdio.

pub mod doctor;
pub mod logging;
pub mod native_manifest;
pub mod nm;
pub mod paths;
pub mod rpc;
pub mod runtimes;
pub mod system;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

/// Every method the bridge answers.
pub fn router(data_dir: &Path) -> rpc::Router {
    system::routes(rpc::Router::new(), data_dir)
}

/// Serves one session: reads requests from `reader`, writes replies to `writer`, and returns at
/// end-of-input or when `shutdown` completes.
pub async fn run<R, W, S>(reader: R, writer: W, data_dir: &Path, shutdown: S) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
    S: Future<Output = ()>,
{
    rpc::serve(reader, writer, Arc::new(router(data_dir)), shutdown).await
}
