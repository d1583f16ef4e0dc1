//! Chats sites open (`agent.chat.open`): the user's own chat in Harbor, for the site's tab,
//! offered only the site's tools — its page's (WebMCP) and the servers it brought — and told the
//! site's instructions as the site's, after Harbor's own. One per tab: opening again replaces
//! it; it ends with `agent.chat.close`, or when the tab closes. Opening needs `chat:open`
//! (asked for when not decided yet); what the chat then does, the user does: the site's first
//! message waits in the composer for the user to send.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use harbor_protocol::api::byoc::{ChatOpenRequest, ClosedChat, OpenedChat, SiteChat};
use harbor_protocol::api::tools::ToolEntry;
use harbor_protocol::ErrorObject;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::policy::PolicyError;
use super::scopes::Scope;
use super::{Host, Site};

/// The longest instructions or first message a site may give.
const TEXT_MAX: usize = 4000;

/// Every tab's site chat, by chat id.
#[derive(Default)]
pub struct SiteChats {
    chats: Mutex<HashMap<String, SiteChat>>,
    next: AtomicU64,
}

impl SiteChats {
    fn chats(&self) -> std::sync::MutexGuard<'_, HashMap<String, SiteChat>> {
        self.chats.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn for_tab(&self, tab: i64) -> Option<SiteChat> {
        self.chats().values().find(|c| c.tab_id == tab).cloned()
    }

    /// The chat `id`, if it is `tab`'s.
    pub fn get(&self, id: &str, tab: Option<i64>) -> Option<SiteChat> {
        self.chats().get(id).filter(|c| Some(c.tab_id) == tab).cloned()
    }

    fn open(&self, chat: SiteChat) {
        let mut chats = self.chats();
        chats.retain(|_, c| c.tab_id != chat.tab_id);
        chats.insert(chat.chat_id.clone(), chat);
    }

    fn close(&self, tab: i64, origin: &str, id: Option<&str>) -> bool {
        let mut chats = self.chats();
        let found = chats
            .iter()
            .find(|(key, c)| c.tab_id == tab && c.origin == origin && id.is_none_or(|id| id == key.as_str()))
            .map(|(key, _)| key.clone());
        found.is_some_and(|key| chats.remove(&key).is_some())
    }

    pub fn forget_tab(&self, tab: i64) {
        self.chats().retain(|_, c| c.tab_id != tab);
    }
}

/// Narrows `tools` to a site chat's: the tab's page tools and brought servers' (marked with the
/// site's origin), and of those the ones it named, by full or own name.
pub fn site_tools(chat: &SiteChat, tools: &mut Vec<ToolEntry>) {
    tools.retain(|t| t.page_origin.as_deref() == Some(chat.origin.as_str()));
    if let Some(named) = &chat.tools {
        let own = |t: &ToolEntry| t.name.rsplit('/').next().unwrap_or(&t.name).to_owned();
        tools.retain(|t| named.iter().any(|n| *n == t.name || *n == own(t)));
    }
}

/// The system message of a site chat: Harbor's framing first, the site's words after it.
pub fn system_prompt(base: &str, chat: &SiteChat) -> String {
    let mut system =
        format!("{base}\n\nThe user opened this chat from the web page {}; its tools are the page's own.", chat.origin);
    if let Some(instructions) = chat.system_prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        system.push_str(&format!("\n\nThe page's instructions (from the page, not from the user):\n{instructions}"));
    }
    system
}

fn capped(text: Option<String>, what: &str) -> Result<Option<String>, ErrorObject> {
    match text {
        Some(t) if t.chars().count() > TEXT_MAX => {
            Err(ErrorObject::invalid(format!("{what} may be at most {TEXT_MAX} characters")))
        }
        other => Ok(other),
    }
}

impl Host {
    /// `agent.chat.open`: with `chat:open` (asked for when not decided yet), keeps the tab's
    /// site chat and tells the sidebar.
    pub async fn open_site_chat(
        &self,
        site: &Site,
        request: ChatOpenRequest,
        cancel: &CancellationToken,
    ) -> Result<OpenedChat, ErrorObject> {
        let open = async {
            let tab = site.tab.ok_or_else(|| ErrorObject::invalid("a chat needs a page in a browser tab"))?;
            site.own_page()?;
            let system_prompt = capped(request.system_prompt, "the instructions")?;
            let initial_message = capped(request.initial_message, "the first message")?;
            if !self.ask_if_undecided(site, Scope::ChatOpen, None, cancel).await? {
                return Err(PolicyError::UserDenied { what: "open the chat" }.into());
            }
            // Ids need not be secret: only the tab's own origin can close its chat.
            let chat_id = format!("chat-{}", self.site_chats.next.fetch_add(1, Ordering::Relaxed) + 1);
            let chat = SiteChat {
                chat_id: chat_id.clone(),
                origin: site.origin.clone(),
                tab_id: tab,
                system_prompt,
                initial_message,
                tools: request.tools,
            };
            self.site_chats.open(chat);
            self.notifier.publish("site.chat.changed", json!({ "tabId": tab }));
            Ok(OpenedChat { chat_id })
        };
        self.audited(site, "agent.chat.open", None, open).await
    }

    /// `agent.chat.close`: ends the caller's tab's site chat (that one, when named).
    pub fn close_site_chat(&self, site: &Site, id: Option<&str>) -> ClosedChat {
        let success = site.tab.is_some_and(|tab| self.site_chats.close(tab, &site.origin, id));
        if success {
            self.notifier.publish("site.chat.changed", json!({ "tabId": site.tab }));
        }
        ClosedChat { success }
    }
}
