//! `agent.mcp.register` (a site's own MCP server, held for its tab while the request is open),
//! `agent.chat.*` (Harbor's chat opened by a site for its tab), and the sidebar's views of them;
//! see `host::site_servers` and `host::site_chats`.

use std::sync::Arc;

use harbor_protocol::api::byoc as api;

use super::Area;
use crate::host::{Host, Site};
use crate::rpc::Router;

/// Registers `agent.mcp.register`, `agent.chat.*`, `site.servers.list` and `site.chats.get`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    Area::new(router, host)
        .on::<api::AgentMcpRegister, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.register_site_server(&site, p, &call.events, &call.cancel).await
        })
        .on::<api::SiteServersList, _>(|host, _, _| async move { Ok(host.site_servers.list()) })
        .on::<api::AgentChatCanOpen, _>(|host, _, _| async move { Ok(super::page::availability(&host).await) })
        .on::<api::AgentChatOpen, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.open_site_chat(&site, p, &call.cancel).await
        })
        .on::<api::AgentChatClose, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            Ok(host.close_site_chat(&site, p.chat_id.as_deref()))
        })
        .on::<api::SiteChatsGet, _>(
            |host, p, _| async move { Ok(p.tab_id.and_then(|tab| host.site_chats.for_tab(tab))) },
        )
        .done()
}
