//! Secrets: API keys and tokens, kept in the OS keychain and nowhere else.
//!
//! A secret has an id (`<server>/<VARIABLE>` for a server's settings, `oauth:…` for sign-ins)
//! and a value. The value goes only to the [`keychain`]; the database records which ids are set
//! (so the sidebar can show "set" without reading anything back), and nothing here logs a value.
//! Servers name the secrets they need in `secretEnv` (variable → id); the supervisor asks for
//! the values when the server starts ([`Secrets::fill`]), so they live in memory only as long as
//! it takes to start the process.
//!
//! The keychain is opened on first use, on the blocking pool, with a time limit: a Secret
//! Service that is being activated over D-Bus can otherwise hang for two minutes.

pub mod keychain;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::secrets::SecretRecord;
use crate::store::Store;
use keychain::{Keychain, KeychainError};

/// How long opening the keychain may take before Harbor gives up on it (and retries next time).
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest secret Harbor keeps (a long JWT or a PEM key fits).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub enum SecretError {
    /// The keychain cannot be reached or refused the operation.
    Unavailable(String),
    /// The id or the value is not acceptable.
    Invalid(String),
    /// The database failed.
    Store(anyhow::Error),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::Unavailable(why) => write!(f, "the OS keychain is not available: {why}"),
            SecretError::Invalid(why) => f.write_str(why),
            SecretError::Store(error) => write!(f, "the database failed: {error:#}"),
        }
    }
}

/// Every keychain failure is the environment's, never the request's: the secret store is
/// unavailable, with the keychain's reason (unlock it, install one, fix `HARBOR_SECRET_STORE`).
impl From<KeychainError> for SecretError {
    fn from(error: KeychainError) -> Self {
        SecretError::Unavailable(error.to_string())
    }
}

/// Which keychain is in use, as `secrets.status` reports it.
pub use harbor_protocol::api::secrets::StoreStatus as Status;

/// The secret store. One per bridge.
pub struct Secrets {
    store: Store,
    service: String,
    keychain: Mutex<Option<Arc<Keychain>>>,
}

impl Drop for Secrets {
    /// The Secret Service connection blocks on its own executor while it closes, which panics
    /// on a tokio thread: it is dropped on a thread of its own.
    fn drop(&mut self) {
        if let Some(keychain) = self.keychain.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = std::thread::Builder::new().name("keychain-close".into()).spawn(move || drop(keychain));
        }
    }
}

/// Whether `id` can name a secret: printable ASCII without spaces, at most 300 bytes.
pub fn check_id(id: &str) -> Result<(), SecretError> {
    if id.is_empty() || id.len() > 300 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SecretError::Invalid(format!(
            "{id:?} is not a secret id: use up to 300 letters, digits and punctuation, without spaces"
        )));
    }
    Ok(())
}

/// The keychain service that holds the entries of the data folder `data_dir`.
pub fn service(data_dir: &std::path::Path) -> String {
    format!("harbor {}", data_dir.display())
}

/// The id under which a server's variable is kept unless its spec names another.
pub fn server_secret_id(server: &str, variable: &str) -> String {
    format!("{server}/{variable}")
}

impl Secrets {
    /// `data_dir` tells this bridge's entries apart from another data folder's in the same
    /// keychain (tests run many bridges side by side).
    pub fn new(store: Store, data_dir: &std::path::Path) -> Secrets {
        Secrets { store, service: service(data_dir), keychain: Mutex::new(None) }
    }

    async fn keychain(&self) -> Result<Arc<Keychain>, SecretError> {
        if let Some(open) = self.keychain.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(open);
        }
        let service = self.service.clone();
        let opening = tokio::task::spawn_blocking(move || Keychain::open(service));
        let opened = match tokio::time::timeout(OPEN_TIMEOUT, opening).await {
            Ok(Ok(Ok(keychain))) => Arc::new(keychain),
            Ok(Ok(Err(why))) => return Err(why.into()),
            Ok(Err(panic)) => return Err(SecretError::Unavailable(format!("opening it failed: {panic}"))),
            Err(_) => {
                return Err(SecretError::Unavailable(format!(
                    "it did not answer within {} s; unlock your keyring and try again",
                    OPEN_TIMEOUT.as_secs()
                )))
            }
        };
        if let Some(note) = &opened.note {
            tracing::warn!("{note}");
        }
        Ok(self.keychain.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(opened).clone())
    }

    /// Runs one blocking keychain call on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Keychain) -> Result<T, KeychainError> + Send + 'static,
    ) -> Result<T, SecretError> {
        let keychain = self.keychain().await?;
        tokio::task::spawn_blocking(move || call(&keychain))
            .await
            .map_err(|e| SecretError::Unavailable(e.to_string()))?
            .map_err(SecretError::from)
    }

    pub async fn status(&self) -> Status {
        match self.keychain().await {
            Ok(keychain) => Status {
                available: true,
                backend: Some(keychain.backend.name().to_owned()),
                persistent: keychain.backend.persistent(),
                note: keychain.note.clone(),
            },
            Err(error) => Status { available: false, backend: None, persistent: false, note: Some(error.to_string()) },
        }
    }

    /// Sets or replaces a secret. The keychain is written first: once this returns, the value
    /// is kept and the database knows it is set.
    pub async fn set(&self, id: &str, value: &str) -> Result<(), SecretError> {
        check_id(id)?;
        if value.is_empty() {
            return Err(SecretError::Invalid("a secret cannot be empty; delete it instead".into()));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(SecretError::Invalid(format!("a secret can hold at most {} KiB", MAX_VALUE_BYTES / 1024)));
        }
        let (owned_id, owned_value) = (id.to_owned(), value.to_owned());
        self.blocking(move |k| k.set(&owned_id, &owned_value)).await?;
        self.store.record_secret(id).map_err(SecretError::Store)
    }

    /// Reads a secret, for Harbor's own use (starting a server, refreshing a token). Never
    /// served to the sidebar or a page.
    pub async fn get(&self, id: &str) -> Result<Option<String>, SecretError> {
        check_id(id)?;
        let owned = id.to_owned();
        self.blocking(move |k| k.get(&owned)).await
    }

    /// Deletes a secret; false when it was not set.
    pub async fn delete(&self, id: &str) -> Result<bool, SecretError> {
        check_id(id)?;
        let owned = id.to_owned();
        let removed = self.blocking(move |k| k.delete(&owned)).await?;
        let recorded = self.store.forget_secret(id).map_err(SecretError::Store)?;
        Ok(removed || recorded)
    }

    /// The ids that are set, without values.
    pub fn list(&self) -> Result<Vec<SecretRecord>, SecretError> {
        self.store.secret_records().map_err(SecretError::Store)
    }

    /// Keeps a server's secret values (variable → value) under the server's own ids and returns
    /// the `secretEnv` map (variable → id) to record in its spec.
    pub async fn set_for_server(
        &self,
        server: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SecretError> {
        let mut ids = BTreeMap::new();
        for (variable, value) in values {
            let id = server_secret_id(server, variable);
            self.set(&id, value).await?;
            ids.insert(variable.clone(), id);
        }
        Ok(ids)
    }

    /// The values for a server's `secretEnv` (variable → id). A secret that is not set is an
    /// error that names it and says how to set it.
    pub async fn fill(
        &self,
        server: &str,
        wanted: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SecretError> {
        let mut values = BTreeMap::new();
        for (variable, id) in wanted {
            match self.get(id).await? {
                Some(value) => {
                    values.insert(variable.clone(), value);
                }
                None => {
                    return Err(SecretError::Invalid(format!(
                        "{server} needs the secret {variable}, which is not set; set it in the sidebar (Servers → {server} → Settings) or with `harbor-bridge secrets set {id}`"
                    )))
                }
            }
        }
        Ok(values)
    }
}

/// The code for each secret-store error.
impl From<SecretError> for harbor_protocol::ErrorObject {
    fn from(error: SecretError) -> Self {
        use harbor_protocol::ErrorCode;
        let code = match &error {
            SecretError::Unavailable(_) => ErrorCode::SecretStoreUnavailable,
            SecretError::Invalid(_) => ErrorCode::InvalidRequest,
            SecretError::Store(_) => ErrorCode::Internal,
        };
        harbor_protocol::ErrorObject::new(code, error.to_string())
    }
}
