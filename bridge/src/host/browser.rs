//! What a page may do to the browser: read its tab (`browser:activeTab.read`), act in it
//! (interaction: elements, clicks, typing, choosing, scrolling, screenshots) and beyond it
//! (control: tabs, navigation, fetching other sites).
//!
//! The bridge decides each call here — the switch in Settings, then the scope, then the frame
//! and the input — and answers with the [`Act`] the background carries out on the caller's own
//! tab, where it checks once more that the tab is the one shown (see PROTOCOL.md). Acts on the
//! caller's page are for the page's own top-level document: a frame of another origin inside it
//! may not drive the page that embeds it. `fetch` goes out without the user's cookies, follows no
//! redirects, and from a public site never reaches loopback or private addresses.

use std::net::IpAddr;

use harbor_protocol::api::browser::{Act, BrowserAct, BrowserSettings, Features, Switch};
use harbor_protocol::{ErrorCode, ErrorObject};
use serde_json::json;

use super::policy::PolicyError;
use super::{internal, Host, Site};

/// The longest text a page reads from the active tab.
pub const ACTIVE_TAB_MAX_CHARS: usize = 50_000;
/// The most elements `getElements` lists.
pub const MAX_ELEMENTS: usize = 200;
/// The longest value `fill` and `select` take, in characters.
pub const MAX_VALUE_CHARS: usize = 100_000;
/// The most of a fetched body a page gets.
pub const FETCH_MAX_BYTES: usize = 5 * 1024 * 1024;
/// How long a fetch may take.
pub const FETCH_TIMEOUT_MS: u64 = 30_000;
/// The largest request body a page may send.
const FETCH_MAX_BODY: usize = 1024 * 1024;
const FETCH_MAX_HEADERS: usize = 32;
const FETCH_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const SETTINGS_KEY: &str = "browser";

impl Host {
    pub fn browser_settings(&self) -> Result<BrowserSettings, ErrorObject> {
        Ok(self.store.setting::<BrowserSettings>(SETTINGS_KEY).map_err(internal)?.unwrap_or_default())
    }

    pub fn set_browser_settings(&self, settings: BrowserSettings) -> Result<BrowserSettings, ErrorObject> {
        self.store.set_setting(SETTINGS_KEY, &settings).map_err(internal)?;
        Ok(settings)
    }

    /// The features pages see, with the switches as the user set them.
    pub fn features(&self) -> Result<Features, ErrorObject> {
        let switches = self.browser_settings()?;
        Ok(Features {
            text_generation: true,
            language_model: true,
            tool_access: true,
            tool_calling: true,
            browser_read: true,
            browser_interaction: switches.interaction,
            browser_control: switches.control,
            multi_agent: false,
            webmcp: true,
            bring_your_own_chatbot: true,
        })
    }

    /// Decides `act` for `site` and answers what the background is to do; audited as `method`.
    pub async fn browser_act(&self, site: &Site, method: &str, act: Act) -> Result<BrowserAct, ErrorObject> {
        let decide = async {
            let switches = self.browser_settings()?;
            let (on, name) = match act.switch() {
                Switch::Always => (true, ""),
                Switch::Interaction => (switches.interaction, "Let sites act in their pages"),
                Switch::Control => (switches.control, "Let sites open tabs, navigate and fetch"),
            };
            if !on {
                return Err(PolicyError::FeatureDisabled { switch: name }.into());
            }
            self.require(site, act.scope())?;
            if act.on_callers_page() {
                site.own_page()?;
            }
            check(&act, site)?;
            Ok(BrowserAct { act })
        };
        self.audited(site, method, None, decide).await
    }
}

/// The act's own input, before anything is done with it.
fn check(act: &Act, site: &Site) -> Result<(), ErrorObject> {
    match act {
        Act::Click { element } => check_ref(element),
        Act::Fill { element, value } | Act::Select { element, value } => {
            check_ref(element)?;
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(ErrorObject::invalid(format!("a value may be at most {MAX_VALUE_CHARS} characters")));
            }
            Ok(())
        }
        Act::TabsCreate { url } | Act::Navigate { url } => web_url(url).map(drop),
        Act::Fetch { url, method, headers, body, .. } => {
            let target = web_url(url)?;
            if !FETCH_METHODS.contains(&method.as_str()) {
                return Err(ErrorObject::invalid(format!(
                    "fetch's method {method:?} is not one Harbor sends; use one of {}",
                    FETCH_METHODS.join(", ")
                )));
            }
            if headers.len() > FETCH_MAX_HEADERS || body.as_ref().is_some_and(|b| b.len() > FETCH_MAX_BODY) {
                return Err(ErrorObject::invalid(format!(
                    "a fetch may carry at most {FETCH_MAX_HEADERS} headers and a body of {FETCH_MAX_BODY} bytes"
                )));
            }
            if is_private(&target) && !site_is_private(site) {
                return Err(ErrorObject::new(
                    ErrorCode::PermissionDenied,
                    format!(
                        "{} may not fetch {}: a site on the internet may not reach this computer or its local network \
                         through Harbor",
                        site.origin,
                        target.host_str().unwrap_or_default()
                    ),
                )
                .with_data(json!({ "reason": "private_network" })));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_ref(element: &str) -> Result<(), ErrorObject> {
    let ok = (2..=16).contains(&element.len())
        && element.starts_with('e')
        && element[1..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ErrorObject::invalid(format!(
            "{element:?} is not an element ref; refs look like \"e12\" and come from agent.browser.activeTab.getElements()"
        )))
    }
}

/// An `http:` or `https:` URL with a host.
fn web_url(text: &str) -> Result<url::Url, ErrorObject> {
    let url = url::Url::parse(text).map_err(|e| ErrorObject::invalid(format!("{text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ErrorObject::invalid(format!("{text:?} is not a web address; only http and https are allowed")));
    }
    Ok(url)
}

/// Loopback, private, link-local or unspecified addresses, and `localhost` names — judged by
/// the URL alone (a public name that resolves to a private address is not caught here).
pub(super) fn is_private(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => private_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => private_ip(IpAddr::V6(ip)),
        None => true,
    }
}

fn private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_ip(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A site served from this computer or the local network may fetch there too.
pub(super) fn site_is_private(site: &Site) -> bool {
    url::Url::parse(&site.origin).is_ok_and(|origin| is_private(&origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    #[test]
    fn private_addresses_are_told_apart_from_public_ones() {
        for private in [
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://app.localhost/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://172.16.5.4/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(is_private(&url(private)), "{private}");
        }
        for public in ["https://example.com/", "http://8.8.8.8/", "http://[2001:db8::1]/", "http://172.32.0.1/"] {
            assert!(!is_private(&url(public)), "{public}");
        }
    }

    #[test]
    fn element_refs_are_short_and_numbered() {
        assert!(check_ref("e1").is_ok());
        assert!(check_ref("e123456").is_ok());
        for bad in ["", "e", "1", "e1x", "button", "e12345678901234567"] {
            assert!(check_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_web_addresses_are_followed() {
        assert!(web_url("https://example.com/a").is_ok());
        for bad in ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,hi", "about:blank", "nonsense"] {
            assert!(web_url(bad).is_err(), "{bad}");
        }
    }
}
