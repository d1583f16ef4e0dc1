//! HTTP clients: the one place the bridge builds them.
//!
//! reqwest is built without a default TLS provider so that only one crypto stack (rustls with
//! ring) is compiled in; it must be installed before the first client is built, which
//! [`client_builder`] does. A second install finds it in place and changes nothing.
//!
//! Every client is [`Lazy`]: built on the first request that needs one, never at start. Building
//! one loads the system's certificate store — which took 44 % of the bridge's time from start to
//! its first reply — and can fail (`SSL_CERT_FILE` naming a missing file): that failure is then
//! an error for that request, saying what to check, and the bridge itself stays up.

use std::sync::OnceLock;

/// A reqwest client builder with the bridge's TLS provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A client built on its first use with `configure`, then shared. One that cannot be built is
/// tried again by the next request.
pub struct Lazy {
    client: OnceLock<reqwest::Client>,
    configure: fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
}

impl Lazy {
    pub const fn new(configure: fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder) -> Lazy {
        Lazy { client: OnceLock::new(), configure }
    }

    /// A client with no settings of its own.
    pub const fn plain() -> Lazy {
        Lazy::new(|builder| builder)
    }

    /// The client, built now if it was not yet; why not, if it cannot be.
    pub fn get(&self) -> Result<reqwest::Client, String> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let built = (self.configure)(client_builder()).build().map_err(|e| {
            format!(
                "cannot set up HTTPS ({e}); if SSL_CERT_FILE or SSL_CERT_DIR is set, check that it names readable \
                 certificates"
            )
        })?;
        Ok(self.client.get_or_init(|| built).clone())
    }
}

impl Default for Lazy {
    fn default() -> Self {
        Lazy::plain()
    }
}

/// At most `max` bytes of `response`'s body, read as it comes (never more held), and whether
/// there was more.
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}
