//! The `system.*` methods: what the bridge is, and an echo for testing the pipe.
//!
//! `system.info` answers the handshake the background sends on every connect; a web page gets
//! only `{name, version, protocol}` (the data folder names the user's home). `system.echo`
//! returns its params; with `delayMs` it waits first (at most 10 s, cancellable), which the
//! tests use to have a call in flight when the bridge is killed or a call is cancelled. A page's
//! echo is capped at [`PAGE_ECHO_LIMIT`]: it is for checking the pipe, not for moving data.
//! `system.doctor` runs the same checks as `harbor-bridge doctor`, for the sidebar's settings.

use std::path::Path;
use std::time::Duration;

use harbor_protocol::api::system::{Check, CheckStatus, SystemDoctor, SystemEcho, SystemInfoGet};
use harbor_protocol::{CallerKind, ErrorCode, ErrorObject, SystemInfo, PROTOCOL_VERSION};
use serde_json::Value;

use crate::rpc::{Call, Router};

/// The longest `system.echo` will wait before answering.
const MAX_ECHO_DELAY_MS: u64 = 10_000;

/// The most a web page may echo, as JSON text.
pub const PAGE_ECHO_LIMIT: usize = 64 * 1024;

pub fn info(data_dir: &Path) -> SystemInfo {
    SystemInfo {
        name: "harbor-bridge".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: PROTOCOL_VERSION,
        data_dir: Some(data_dir.display().to_string()),
    }
}

pub fn routes(router: Router, data_dir: &Path) -> Router {
    let info = info(data_dir);
    let data_dir = data_dir.to_path_buf();
    router
        .method::<SystemInfoGet, _>(move |_, call: Call| {
            let mut info = info.clone();
            if call.caller.kind == CallerKind::Page {
                info.data_dir = None;
            }
            async move { Ok::<_, ErrorObject>(info) }
        })
        .method::<SystemEcho, _>(echo)
        .method::<SystemDoctor, _>(move |_, _| {
            let data_dir = data_dir.clone();
            async move {
                // The checks run programs and probe ports: off the bridge's one thread.
                let checks = tokio::task::spawn_blocking(move || crate::doctor::run(&data_dir))
                    .await
                    .map_err(|e| ErrorObject::new(ErrorCode::Internal, format!("the checks failed: {e}")))?;
                Ok::<_, ErrorObject>(checks.into_iter().map(wire_check).collect::<Vec<Check>>())
            }
        })
}

fn wire_check(check: crate::doctor::Check) -> Check {
    let status = match check.status {
        crate::doctor::Status::Ok => CheckStatus::Ok,
        crate::doctor::Status::Warn => CheckStatus::Warn,
        crate::doctor::Status::Fail => CheckStatus::Fail,
    };
    Check { name: check.name.to_owned(), status, detail: check.detail, fix: check.fix }
}

async fn echo(params: Value, call: Call) -> Result<Value, ErrorObject> {
    if call.caller.kind == CallerKind::Page {
        let size = serde_json::to_string(&params).map_or(usize::MAX, |text| text.len());
        if size > PAGE_ECHO_LIMIT {
            return Err(ErrorObject::invalid(format!("a page may echo at most {} KiB", PAGE_ECHO_LIMIT / 1024)));
        }
    }
    let delay = match params.get("delayMs") {
        None => 0,
        Some(v) => v.as_u64().filter(|ms| *ms <= MAX_ECHO_DELAY_MS).ok_or_else(|| {
            ErrorObject::invalid(format!(
                "delayMs must be a whole number of milliseconds from 0 to {MAX_ECHO_DELAY_MS}"
            ))
        })?,
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    Ok(params)
}
