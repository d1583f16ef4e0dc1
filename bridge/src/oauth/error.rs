//! Why a sign-in failed, by whose move it is: the user's request ([`AuthError::Invalid`]), the
//! network ([`AuthError::Network`]: try again), the provider's answer ([`AuthError::Provider`]),
//! the user's approval that did not come ([`AuthError::Unapproved`]), or the keychain. One
//! `From` gives each its wire code (PROTOCOL.md, "Secrets and sign-in").

use crate::secrets::SecretError;

#[derive(Debug)]
pub enum AuthError {
    /// What was asked cannot be signed in to: not a remote server, one that asks for no
    /// sign-in, a URL that is not HTTPS.
    Invalid(String),
    /// The server or its authorization server did not answer.
    Network(String),
    /// The provider answered, but refused, or published what Harbor will not use.
    Provider(String),
    /// The user did not approve in the browser: denied there, or did not answer in time.
    Unapproved(String),
    /// The keychain that holds the tokens.
    Secrets(SecretError),
    /// Harbor's own database.
    Store(anyhow::Error),
}

impl AuthError {
    /// A request to `url` that got no answer.
    pub fn unanswered(url: impl std::fmt::Display, error: &reqwest::Error) -> AuthError {
        // reqwest's own text ends in the innermost cause ("connection refused", "timed out").
        let mut why = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            why = cause.to_string();
            source = cause.source();
        }
        AuthError::Network(format!("{url} did not answer ({why})"))
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Network(why) => write!(f, "{why}; check the connection and try again"),
            AuthError::Invalid(why) | AuthError::Provider(why) | AuthError::Unapproved(why) => f.write_str(why),
            AuthError::Secrets(error) => write!(f, "{error}"),
            AuthError::Store(error) => write!(f, "cannot record the sign-in: {error:#}"),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<SecretError> for AuthError {
    fn from(error: SecretError) -> Self {
        AuthError::Secrets(error)
    }
}

/// The code for each sign-in failure.
impl From<AuthError> for harbor_protocol::ErrorObject {
    fn from(error: AuthError) -> Self {
        use harbor_protocol::ErrorCode;
        let code = match error {
            AuthError::Secrets(secret) => return secret.into(),
            AuthError::Invalid(_) => ErrorCode::InvalidRequest,
            AuthError::Network(_) => ErrorCode::Network,
            AuthError::Provider(_) | AuthError::Unapproved(_) => ErrorCode::AuthFailed,
            AuthError::Store(_) => ErrorCode::Internal,
        };
        harbor_protocol::ErrorObject::new(code, error.to_string())
    }
}
