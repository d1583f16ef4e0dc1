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
    /// How Harbor proves its identity at the token endpoint.
    #[serde(default)]
    pub token_auth: TokenAuth,
    /// How the tokens were granted: by the user in the browser, or to Harbor itself.
    #[serde(default)]
    pub grant: Grant,
}

/// How a client authenticates at the token endpoint, by its name in OAuth metadata
/// (`token_endpoint_auth_method`, RFC 7591 §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// A public client: no secret, PKCE protects the code.
    None,
    /// The client id and secret in an HTTP Basic `Authorization` header.
    #[default]
    ClientSecretBasic,
    /// The client id and secret in the request body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl TokenAuth {
    pub fn name(self) -> &'static str {
        match self {
            TokenAuth::None => "none",
            TokenAuth::ClientSecretBasic => "client_secret_basic",
            TokenAuth::ClientSecretPost => "client_secret_post",
            TokenAuth::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(name: &str) -> Option<TokenAuth> {
        [TokenAuth::None, TokenAuth::ClientSecretBasic, TokenAuth::ClientSecretPost, TokenAuth::PrivateKeyJwt]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// The OAuth grant a sign-in uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// The user approves in the browser (authorization code with PKCE).
    #[default]
    AuthorizationCode,
    /// A machine-to-machine server: Harbor's own client credentials, no user, no browser.
    ClientCredentials,
    /// The user types a code at the provider's page (RFC 8628: a local server's account where
    /// the provider offers it); no redirect back to Harbor.
    DeviceCode,
    /// Enterprise-managed (SEP-990): the user's identity assertion from the organization's
    /// identity provider, exchanged there for an ID-JAG, and that for tokens; no browser.
    Enterprise,
}

impl Grant {
    pub fn name(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::DeviceCode => "device_code",
            Grant::Enterprise => "enterprise",
        }
    }

    pub fn parse(name: &str) -> Option<Grant> {
        [Grant::AuthorizationCode, Grant::ClientCredentials, Grant::DeviceCode, Grant::Enterprise]
            .into_iter()
            .find(|g| g.name() == name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInParams {
    pub id: String,
    /// A client id the provider issued to the user, when it does not allow registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// That pre-registered client's secret (kept in the keychain, never in the database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// That client's private key (PKCS#8 PEM, EC P-256 or RSA) for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// `client_credentials` for a machine-to-machine server (needs `clientId` and a secret or
    /// key); the browser sign-in otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
    /// For `enterprise`: the organization's identity provider and the user's assertion from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise: Option<Enterprise>,
}

/// The organization's identity provider as its administrator configured it, and the user's
/// identity assertion from it (SEP-990). The assertion is kept in the keychain, never in the
/// database.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Enterprise {
    /// The IdP's token endpoint, where the assertion is exchanged.
    pub idp_token_endpoint: String,
    /// Harbor's client id at the IdP.
    pub idp_client_id: String,
    /// The user's OpenID ID token from the IdP.
    pub id_token: String,
}

/// What a sign-in streams.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AuthEvent {
    /// Open this URL for the user to approve.
    Authorize { url: String },
    /// The device flow: the user opens `verificationUri` and types `userCode` there (or opens
    /// `verificationUriComplete`, which carries it), within `expiresIn` seconds.
    #[serde(rename_all = "camelCase")]
    Device {
        user_code: String,
        verification_uri: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verification_uri_complete: Option<String>,
        expires_in: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedOut {
    pub signed_out: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the database and OAuth metadata use are the wire's, and read back.
    #[test]
    fn token_auth_and_grant_names_are_their_wire_names() {
        for auth in
            [TokenAuth::None, TokenAuth::ClientSecretBasic, TokenAuth::ClientSecretPost, TokenAuth::PrivateKeyJwt]
        {
            assert_eq!(serde_json::to_value(auth).unwrap(), auth.name());
            assert_eq!(TokenAuth::parse(auth.name()), Some(auth));
        }
        for grant in [Grant::AuthorizationCode, Grant::ClientCredentials, Grant::DeviceCode] {
            assert_eq!(serde_json::to_value(grant).unwrap(), grant.name());
            assert_eq!(Grant::parse(grant.name()), Some(grant));
        }
        assert_eq!(TokenAuth::parse("tls_client_auth"), None);
    }
}
