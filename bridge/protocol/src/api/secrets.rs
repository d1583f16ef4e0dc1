//! `secrets.*`, `servers.secrets.*` and `oauth.*`: setting, replacing and deleting secrets (never
//! reading them back), and signing in to remote servers. Values travel only inward.

use serde::{Deserialize, Serialize};

use super::servers::ServerEntry;
use super::Id;

crate::methods! {
    /// Whether the keychain works, and which secrets are set (ids only).
    SecretsStatus = "secrets.status", Extension, super::Empty => SecretsOverview;
    SecretsSet = "secrets.set", Extension, SetSecret => SecretId;
    SecretsDelete = "secrets.delete", Extension, Id => SecretDeleted;
    /// Sets the secret behind one of a server's variables (or headers).
    ServersSecretsSet = "servers.secrets.set", Extension, ServerSecret => ServerEntry;
    ServersSecretsDelete = "servers.secrets.delete", Extension, ServerSecret => ServerEntry;
    /// What Harbor remembers of signing in to a server (`null`: not signed in).
    OauthStatus = "oauth.status", Extension, Id => Option<SignIn>;
    /// Streams one `authorize` event with the URL to open; ends once the tokens are kept.
    OauthSignIn = "oauth.signIn", Extension, SignInParams => SignIn, AuthEvent;
    OauthSignOut = "oauth.signOut", Extension, Id => SignedOut;
}

/// The keychain as Harbor found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStatus {
    pub available: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Whether secrets survive a reboot.
    pub persistent: bool,
    /// What the user should know: a fallback, or why there is no keychain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A secret that is set (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRecord {
    pub id: String,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsOverview {
    pub store: StoreStatus,
    pub secrets: Vec<SecretRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    pub id: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretId {
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretDeleted {
    /// Whether there was one.
    pub deleted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSecret {
    /// The server.
    pub id: String,
    /// The environment variable (or, for a remote server, the header).
    pub name: String,
    /// For `set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// What Harbor remembers about signing in to a protected resource (tokens are in the keychain).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    pub resource: String,
    pub issuer: String,
    pub client_id: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub scope: Option<String>,
    /// Unix seconds when the access token expires, if the provider said.
    pub expires_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInParams {
    pub id: String,
    /// A client id the provider issued to the user, when it does not allow registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// What a sign-in streams.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AuthEvent {
    /// Open this URL for the user to approve.
    Authorize { url: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedOut {
    pub signed_out: bool,
}
