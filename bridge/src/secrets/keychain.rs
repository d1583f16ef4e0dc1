//! Which OS keychain holds Harbor's secrets, and the blocking calls into it.
//!
//! On Linux the Secret Service (GNOME Keyring, KWallet) is used when a session bus answers for
//! it; without one, the kernel's keyutils store, whose secrets last only until the next reboot
//! (the status says so). macOS uses the login keychain and Windows the Credential Manager.
//! `HARBOR_SECRET_STORE` (`secret-service` or `keyutils`) forces a choice on Linux.
//!
//! Every call here blocks (D-Bus round trips, system calls): [`super::Secrets`] runs them on
//! tokio's blocking pool.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error};

/// Why the keychain could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeychainError {
    /// `HARBOR_SECRET_STORE` names no keychain.
    Misconfigured(String),
    /// No keychain answers on this machine (no Secret Service, no keyutils, no platform store).
    Unavailable(String),
    /// The keychain is there but refused access: it is locked, or the user said no.
    Locked(String),
    /// The keychain failed the call for a reason of its own.
    Failed(String),
}

impl std::fmt::Display for KeychainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeychainError::Misconfigured(why) | KeychainError::Unavailable(why) | KeychainError::Failed(why) => {
                f.write_str(why)
            }
            KeychainError::Locked(why) => write!(f, "the keychain refused access ({why}); unlock it and try again"),
        }
    }
}

impl std::error::Error for KeychainError {}

/// A keychain Harbor can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    SecretService,
    Keyutils,
    MacosKeychain,
    WindowsCredentials,
}

impl Backend {
    /// The name the status and the CLI show.
    pub fn name(self) -> &'static str {
        match self {
            Backend::SecretService => "secret-service",
            Backend::Keyutils => "keyutils",
            Backend::MacosKeychain => "macos-keychain",
            Backend::WindowsCredentials => "windows-credentials",
        }
    }

    /// Whether secrets survive a reboot.
    pub fn persistent(self) -> bool {
        self != Backend::Keyutils
    }
}

/// An open keychain: entries are `(service, secret id)`.
pub struct Keychain {
    store: Arc<CredentialStore>,
    pub backend: Backend,
    /// Why the first choice was not used, when it was not.
    pub note: Option<String>,
    service: String,
}

impl Keychain {
    /// Opens the platform's keychain. `service` names Harbor's entries in it.
    pub fn open(service: String) -> Result<Keychain, KeychainError> {
        let forced = std::env::var("HARBOR_SECRET_STORE").ok().filter(|v| !v.is_empty());
        let (store, backend, note) = platform::open(forced.as_deref())?;
        Ok(Keychain { store, backend, note, service })
    }

    fn entry(&self, id: &str) -> Result<Entry, KeychainError> {
        self.store.build(&self.service, id, None).map_err(describe)
    }

    pub fn set(&self, id: &str, value: &str) -> Result<(), KeychainError> {
        self.entry(id)?.set_password(value).map_err(describe)
    }

    pub fn get(&self, id: &str) -> Result<Option<String>, KeychainError> {
        match self.entry(id)?.get_password() {
            Ok(value) => Ok(Some(value)),
            Err(Error::NoEntry) => Ok(None),
            Err(error) => Err(describe(error)),
        }
    }

    /// Removes a secret; false when there was none.
    pub fn delete(&self, id: &str) -> Result<bool, KeychainError> {
        match self.entry(id)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(error) => Err(describe(error)),
        }
    }
}

fn describe(error: Error) -> KeychainError {
    match error {
        Error::NoStorageAccess(why) => KeychainError::Locked(why.to_string()),
        Error::PlatformFailure(why) => KeychainError::Unavailable(why.to_string()),
        other => KeychainError::Failed(other.to_string()),
    }
}

#[cfg(target_os = "linux")]
mod platform {
    use super::*;

    pub fn open(forced: Option<&str>) -> Result<(Arc<CredentialStore>, Backend, Option<String>), KeychainError> {
        let keyutils = || -> Result<Arc<CredentialStore>, KeychainError> {
            let store: Arc<CredentialStore> = linux_keyutils_keyring_store::Store::new()
                .map_err(|e| KeychainError::Unavailable(format!("the kernel keyring (keyutils) failed: {e}")))?;
            Ok(store)
        };
        match forced {
            Some("keyutils") => return Ok((keyutils()?, Backend::Keyutils, None)),
            Some("secret-service") => {
                return secret_service()
                    .map(|store| (store, Backend::SecretService, None))
                    .map_err(|why| KeychainError::Unavailable(format!("the Secret Service is not available: {why}")));
            }
            Some(other) => {
                return Err(KeychainError::Misconfigured(format!(
                    "HARBOR_SECRET_STORE={other:?} is not a keychain; use secret-service or keyutils"
                )))
            }
            None => {}
        }
        let why = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
            "there is no D-Bus session bus".to_owned()
        } else {
            match secret_service() {
                Ok(store) => return Ok((store, Backend::SecretService, None)),
                Err(why) => format!("the Secret Service did not answer ({why})"),
            }
        };
        let note = format!(
            "{why}, so secrets are kept in the kernel keyring (keyutils) and do not survive a reboot; \
             install and unlock a Secret Service keyring (GNOME Keyring or KWallet) to keep them"
        );
        Ok((keyutils()?, Backend::Keyutils, Some(note)))
    }

    fn secret_service() -> Result<Arc<CredentialStore>, String> {
        let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new().map_err(|e| e.to_string())?;
        Ok(store)
    }
}

#[cfg(target_os = "macos")]
mod platform {
    use super::*;

    pub fn open(_forced: Option<&str>) -> Result<(Arc<CredentialStore>, Backend, Option<String>), KeychainError> {
        let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()
            .map_err(|e| KeychainError::Unavailable(e.to_string()))?;
        Ok((store, Backend::MacosKeychain, None))
    }
}

#[cfg(target_os = "windows")]
mod platform {
    use super::*;

    pub fn open(_forced: Option<&str>) -> Result<(Arc<CredentialStore>, Backend, Option<String>), KeychainError> {
        let store: Arc<CredentialStore> =
            windows_native_keyring_store::Store::new().map_err(|e| KeychainError::Unavailable(e.to_string()))?;
        Ok((store, Backend::WindowsCredentials, None))
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
mod platform {
    use super::*;

    pub fn open(_forced: Option<&str>) -> Result<(Arc<CredentialStore>, Backend, Option<String>), KeychainError> {
        Err(KeychainError::Unavailable("Harbor has no keychain for this operating system".into()))
    }
}
