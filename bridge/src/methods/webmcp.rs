//! `webmcp.*` (a page's own tools, offered to the user's agent) and `page.tools.list` (the
//! sidebar's view of them). Any page may offer tools: offering gives the page nothing, and only
//! the user's chat, when the user turns a page's tools on, or the page itself may call them
//! (see `host::page_tools`).

use std::sync::Arc;

use harbor_protocol::api::webmcp as api;
use harbor_protocol::api::Empty;

use super::Area;
use crate::host::{Host, Site};
use crate::rpc::Router;

/// Registers `webmcp.*` and `page.tools.list`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    Area::new(router, host)
        .on::<api::WebmcpServe, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.page_tools.serve(site.frame()?, &site.origin, p, &call.events, &call.cancel).await?;
            Ok(Empty {})
        })
        .on::<api::WebmcpToolsSet, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.page_tools.set(site.frame()?, &site.origin, p)?;
            Ok(Empty {})
        })
        .on::<api::WebmcpResult, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.page_tools.answer(site.frame()?, &site.origin, p)?;
            Ok(Empty {})
        })
        .on::<api::PageToolsList, _>(|host, p, _| async move { Ok(host.tab_tools(p.tab_id)) })
        .done()
}
