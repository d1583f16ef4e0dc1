//! Downloads that must match a checksum: binaries and `.mcpb` bundles.
//!
//! The body streams to a file while its SHA-256 is computed; a mismatch deletes the file and
//! says both digests. Progress goes out as lines (every megabyte).

use std::path::Path;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::InstallError;

pub use harbor_protocol::api::install::Asset;

/// The asset for this system: one whose `os` and `arch` match (under their common names), else
/// the one that names neither.
pub fn pick(assets: &[Asset]) -> Result<&Asset, String> {
    let os = std::env::consts::OS;
    let arch = std::env::consts::ARCH;
    let os_names: Vec<&str> = match os {
        "macos" => vec!["macos", "darwin", "osx", "apple"],
        "windows" => vec!["windows", "win32", "win"],
        other => vec![other],
    };
    let arch_names: Vec<&str> = match arch {
        "x86_64" => vec!["x86_64", "amd64", "x64"],
        "aarch64" => vec!["aarch64", "arm64"],
        other => vec![other],
    };
    let fits = |wanted: &Option<String>, names: &[&str]| {
        wanted.as_deref().is_none_or(|w| names.iter().any(|n| n.eq_ignore_ascii_case(w)))
    };
    assets
        .iter()
        .filter(|a| fits(&a.os, &os_names) && fits(&a.arch, &arch_names))
        .max_by_key(|a| usize::from(a.os.is_some()) + usize::from(a.arch.is_some()))
        .ok_or_else(|| format!("none of the {} assets is for {os}/{arch}", assets.len()))
}

/// The largest file Harbor downloads for a server (a binary or a bundle).
pub const MAX_DOWNLOAD_BYTES: u64 = 512 << 20;

/// Downloads `url` to `file`, checking its SHA-256 against `expected` (hex), refusing more than
/// `max_bytes`.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    expected: &str,
    file: &Path,
    max_bytes: u64,
    progress: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Result<(), InstallError> {
    let expected = expected.trim().to_ascii_lowercase();
    if expected.len() != 64 || !expected.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(InstallError::Invalid(format!(
            "{expected:?} is not a SHA-256 digest (64 hex characters); a download without one is refused"
        )));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(InstallError::Invalid(format!("{url:?} is not an http(s) URL")));
    }
    let response =
        http.get(url).send().await.map_err(|e| InstallError::Network(format!("cannot download {url}: {e}")))?;
    match response.status() {
        status if status.is_success() => {}
        status @ (reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE) => {
            return Err(InstallError::NotFound(format!("{url} is not there ({status}); check the address")))
        }
        status if status.is_server_error() => {
            return Err(InstallError::Network(format!("downloading {url} failed: {status}")))
        }
        status => return Err(InstallError::Failed(format!("downloading {url} failed: {status}"))),
    }
    if response.content_length().is_some_and(|length| length > max_bytes) {
        return Err(too_large(url, max_bytes));
    }
    let _ = progress.send(format!("downloading {url}"));
    let mut out = tokio::fs::File::create(file).await.map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let mut hasher = Sha256::new();
    let mut body = response.bytes_stream();
    let mut written = 0u64;
    loop {
        let chunk = tokio::select! {
            chunk = body.next() => chunk,
            () = cancel.cancelled() => return Err(InstallError::Cancelled),
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk.map_err(|e| InstallError::Network(format!("the download of {url} broke off: {e}")))?;
        if written + chunk.len() as u64 > max_bytes {
            return Err(too_large(url, max_bytes));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let before = written / (1 << 20);
        written += chunk.len() as u64;
        if written / (1 << 20) > before {
            let _ = progress.send(format!("{} MiB", written / (1 << 20)));
        }
    }
    out.flush().await.map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    drop(out);
    let actual: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if actual != expected {
        let _ = tokio::fs::remove_file(file).await;
        return Err(InstallError::Rejected(format!(
            "the SHA-256 of {url} is {actual}, not the expected {expected}; the file was deleted"
        )));
    }
    let _ = progress.send(format!("downloaded {written} bytes, SHA-256 verified"));
    Ok(())
}

fn too_large(url: &str, max_bytes: u64) -> InstallError {
    InstallError::Rejected(format!("{url} is larger than {} MiB, more than Harbor installs", max_bytes >> 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(os: Option<&str>, arch: Option<&str>) -> Asset {
        Asset {
            url: format!("https://x/{os:?}-{arch:?}"),
            sha256: "0".repeat(64),
            os: os.map(Into::into),
            arch: arch.map(Into::into),
        }
    }

    #[test]
    fn the_asset_for_this_system_is_picked_by_its_common_names() {
        let here = std::env::consts::OS;
        let arch = if std::env::consts::ARCH == "x86_64" { "amd64" } else { "arm64" };
        let assets = [asset(Some("plan9"), Some("mips")), asset(Some(here), Some(arch)), asset(None, None)];
        assert_eq!(pick(&assets).unwrap().os.as_deref(), Some(here));
        assert_eq!(pick(&assets[2..]).unwrap().os, None, "an asset for any system fits");
        assert!(pick(&assets[..1]).unwrap_err().contains("none of the 1 assets"));
    }
}
