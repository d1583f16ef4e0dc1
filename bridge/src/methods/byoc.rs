//! `agent.mcp.register` (a site's own MCP server, held for its tab while the request is open)
//! and `site.servers.list` (the sidebar's view of them); see `host::site_servers`.

use std::sync::Arc;

use harbor_protocol::api::byoc as api;

use super::Area;
use crate::host::{Host, Site};
use crate::rpc::Router;

/// Registers `agent.mcp.register` and `site.servers.list`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    Area::new(router, host)
        .on::<api::AgentMcpRegister, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.register_site_server(&site, p, &call.events, &call.cancel).await
        })
        .on::<api::SiteServersList, _>(|host, _, _| async move { Ok(host.site_servers.list()) })
        .done()
}
