//! `agent.browser.*`, `agent.capabilities` and `browser.settings.*`: each page call becomes the
//! [`Act`] it asks for and goes to the host, which decides it (see `host::browser`).

use std::sync::Arc;

use harbor_protocol::api::browser::{self as api, Act};

use super::Area;
use crate::host::browser::{ACTIVE_TAB_MAX_CHARS, FETCH_MAX_BYTES, FETCH_TIMEOUT_MS, MAX_ELEMENTS};
use crate::host::{Host, Site};
use crate::rpc::{Call, Router};

/// Decides `act` for the calling page, audited as method `M`.
async fn act<M: harbor_protocol::api::Method>(
    host: Arc<Host>,
    call: Call,
    act: Act,
) -> Result<api::BrowserAct, harbor_protocol::ErrorObject> {
    let site = Site::of(&call.caller)?;
    host.browser_act(&site, M::NAME, act).await
}

/// Registers `agent.browser.*`, `agent.capabilities` and `browser.settings.*`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    Area::new(router, host)
        .on::<api::AgentCapabilities, _>(|host, _, _| async move { host.features() })
        .on::<api::ActiveTabReadability, _>(|host, _, call| {
            act::<api::ActiveTabReadability>(host, call, Act::Readability { max_chars: ACTIVE_TAB_MAX_CHARS })
        })
        .on::<api::ActiveTabGetElements, _>(|host, _, call| {
            act::<api::ActiveTabGetElements>(host, call, Act::GetElements { max: MAX_ELEMENTS })
        })
        .on::<api::ActiveTabClick, _>(|host, p, call| {
            act::<api::ActiveTabClick>(host, call, Act::Click { element: p.element })
        })
        .on::<api::ActiveTabFill, _>(|host, p, call| {
            act::<api::ActiveTabFill>(host, call, Act::Fill { element: p.element, value: p.value })
        })
        .on::<api::ActiveTabSelect, _>(|host, p, call| {
            act::<api::ActiveTabSelect>(host, call, Act::Select { element: p.element, value: p.value })
        })
        .on::<api::ActiveTabScroll, _>(|host, p, call| {
            act::<api::ActiveTabScroll>(host, call, Act::Scroll { direction: p.direction, amount: p.amount })
        })
        .on::<api::ActiveTabScreenshot, _>(|host, _, call| act::<api::ActiveTabScreenshot>(host, call, Act::Screenshot))
        .on::<api::TabsList, _>(|host, _, call| act::<api::TabsList>(host, call, Act::TabsList))
        .on::<api::TabsCreate, _>(|host, p, call| act::<api::TabsCreate>(host, call, Act::TabsCreate { url: p.url }))
        .on::<api::TabsClose, _>(|host, p, call| act::<api::TabsClose>(host, call, Act::TabsClose { tab_id: p.tab_id }))
        .on::<api::Navigate, _>(|host, p, call| act::<api::Navigate>(host, call, Act::Navigate { url: p.url }))
        .on::<api::Fetch, _>(|host, p, call| {
            let fetch = Act::Fetch {
                url: p.url,
                method: p.options.method.unwrap_or_else(|| "GET".into()).to_ascii_uppercase(),
                headers: p.options.headers,
                body: p.options.body,
                max_bytes: FETCH_MAX_BYTES,
                timeout_ms: FETCH_TIMEOUT_MS,
            };
            act::<api::Fetch>(host, call, fetch)
        })
        .on::<api::BrowserSettingsGet, _>(|host, _, _| async move { host.browser_settings() })
        .on::<api::BrowserSettingsSet, _>(|host, p, _| async move { host.set_browser_settings(p) })
        .done()
}
