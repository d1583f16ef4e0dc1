//! HTTP clients: the one place the bridge builds them.
//!
//! reqwest is built without a default TLS provider so that only one crypto stack (rustls with
//! ring) is compiled in; it must be installed before the first client is built, which
//! [`client_builder`] does. A second install finds it in place and changes nothing.

/// A reqwest client builder with the bridge's TLS provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
