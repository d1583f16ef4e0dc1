//! The end-to-end harness: real headless Firefox ESR with Harbor loaded as a temporary add-on,
//! driven over WebDriver, talking to the real `harbor-bridge` binary through native messaging.
//!
//! - [`webdriver`] — a small W3C WebDriver client (plus Firefox's add-on and context commands);
//! - [`firefox`] — launches geckodriver and Firefox with a hermetic `HOME` and `HARBOR_HOME`,
//!   with or without the bridge installed, and finds the bridge processes it starts;
//! - [`site`] — a loopback HTTP server for the test pages;
//! - [`registries`] — the local npm registry and PyPI index the install tests use;
//! - [`provider_pages`] — a user at the loopback OpenID Provider's pages (a device code typed);
//! - [`paths`] — where the repository, the built bridge and the test artifacts are;
//! - [`ports`] — free ports for tests' servers.
//!
//! Every missing piece (Firefox, geckodriver, the built bridge or sidebar) is a loud failure that
//! says how to get it, never a skipped test.

pub mod firefox;
pub mod paths;
pub mod ports;
pub mod provider_pages;
pub mod registries;
pub mod site;
pub mod webdriver;
