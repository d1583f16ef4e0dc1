//! `agent.browser.*` beyond reading (the reference implementation's browser interaction and
//! control), `agent.capabilities`, and the two switches in Settings that turn them on.
//!
//! The bridge decides each call — switch, scope, frame — and answers with the [`Act`] the
//! background is to carry out on the caller's own tab; the background does it (it alone can
//! reach tabs) only for the method that asked, and answers the page with what came of it. Both
//! switches are off until the user turns them on; while off, each call fails with
//! `ERR_FEATURE_DISABLED`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::permissions::Scope;

crate::methods! {
    /// What this Harbor offers pages now, as the reference implementation names its features.
    AgentCapabilities = "agent.capabilities", Page, super::Ignored => Features;
    /// The bridge decides; the background reads the tab when it sees the answer.
    ActiveTabReadability = "agent.browser.activeTab.readability", Page, super::Ignored => BrowserAct;
    ActiveTabGetElements = "agent.browser.activeTab.getElements", Page, super::Ignored => BrowserAct;
    ActiveTabClick = "agent.browser.activeTab.click", Page, ElementRef => BrowserAct;
    ActiveTabFill = "agent.browser.activeTab.fill", Page, ElementValue => BrowserAct;
    ActiveTabSelect = "agent.browser.activeTab.select", Page, ElementValue => BrowserAct;
    ActiveTabScroll = "agent.browser.activeTab.scroll", Page, ScrollBy => BrowserAct;
    ActiveTabScreenshot = "agent.browser.activeTab.screenshot", Page, super::Ignored => BrowserAct;
    TabsList = "agent.browser.tabs.list", Page, super::Ignored => BrowserAct;
    TabsCreate = "agent.browser.tabs.create", Page, PageUrl => BrowserAct;
    TabsClose = "agent.browser.tabs.close", Page, TabRef => BrowserAct;
    Navigate = "agent.browser.navigate", Page, PageUrl => BrowserAct;
    Fetch = "agent.browser.fetch", Page, FetchRequest => BrowserAct;
    BrowserSettingsGet = "browser.settings.get", Extension, super::Empty => BrowserSettings;
    BrowserSettingsSet = "browser.settings.set", Extension, BrowserSettings => BrowserSettings;
}

/// The switches in Settings, both off until the user turns them on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrowserSettings {
    /// `activeTab.getElements/click/fill/select/scroll/screenshot`.
    #[serde(default)]
    pub interaction: bool,
    /// `tabs.*`, `navigate` and `fetch`.
    #[serde(default)]
    pub control: bool,
}

/// The reference implementation's feature flags, as `agent-ready` and `agent.capabilities()`
/// report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    pub text_generation: bool,
    pub language_model: bool,
    pub tool_access: bool,
    pub tool_calling: bool,
    pub browser_read: bool,
    pub browser_interaction: bool,
    pub browser_control: bool,
    pub multi_agent: bool,
    pub webmcp: bool,
    pub bring_your_own_chatbot: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementRef {
    /// A `ref` from `getElements`.
    #[serde(rename = "ref")]
    pub element: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementValue {
    #[serde(rename = "ref")]
    pub element: String,
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
    Left,
    Right,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrollBy {
    pub direction: Direction,
    /// CSS pixels; absent: most of the viewport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageUrl {
    pub url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TabRef {
    pub tab_id: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub url: String,
    /// `RequestInit`'s members Harbor carries; others are ignored.
    #[serde(default)]
    pub options: FetchOptions,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// Tells the background what to do on the caller's tab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserAct {
    pub act: Act,
}

/// One thing the background does for a page, as the bridge allowed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Act {
    /// The tab's URL, title and readable text, at most `max_chars` of it.
    Readability {
        max_chars: usize,
    },
    /// The visible elements a user could act on, at most `max` of them, each with a `ref`.
    GetElements {
        max: usize,
    },
    Click {
        #[serde(rename = "ref")]
        element: String,
    },
    Fill {
        #[serde(rename = "ref")]
        element: String,
        value: String,
    },
    Select {
        #[serde(rename = "ref")]
        element: String,
        value: String,
    },
    Scroll {
        direction: Direction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount: Option<u32>,
    },
    Screenshot,
    /// The tabs of the caller's window.
    TabsList,
    /// A new tab beside the caller's, in the background, opened by it.
    TabsCreate {
        url: String,
    },
    /// Only a tab the caller's tab opened.
    TabsClose {
        tab_id: i64,
    },
    /// The caller's own tab goes to `url`.
    Navigate {
        url: String,
    },
    /// Without cookies or other credentials, without following redirects.
    Fetch {
        url: String,
        method: String,
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        max_bytes: usize,
        timeout_ms: u64,
    },
}

/// Which switch an act needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// None: reading the tab needs only its scope.
    Always,
    Interaction,
    Control,
}

impl Act {
    /// The scope the page needs for this act.
    pub fn scope(&self) -> Scope {
        match self {
            Act::Readability { .. } => Scope::ActiveTabRead,
            Act::GetElements { .. }
            | Act::Click { .. }
            | Act::Fill { .. }
            | Act::Select { .. }
            | Act::Scroll { .. } => Scope::ActiveTabInteract,
            Act::Screenshot => Scope::ActiveTabScreenshot,
            Act::TabsList => Scope::TabsRead,
            Act::TabsCreate { .. } | Act::TabsClose { .. } => Scope::TabsCreate,
            Act::Navigate { .. } => Scope::Navigate,
            Act::Fetch { .. } => Scope::WebFetch,
        }
    }

    pub fn switch(&self) -> Switch {
        match self.scope() {
            Scope::ActiveTabRead => Switch::Always,
            Scope::ActiveTabInteract | Scope::ActiveTabScreenshot => Switch::Interaction,
            _ => Switch::Control,
        }
    }

    /// Whether the act touches the page the caller is in (so only that page's own top-level
    /// document may ask for it, not a frame of another origin inside it).
    pub fn on_callers_page(&self) -> bool {
        !matches!(self, Act::TabsList | Act::TabsCreate { .. } | Act::TabsClose { .. } | Act::Fetch { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acts_are_tagged_by_kind_in_camel_case() {
        let act = Act::TabsClose { tab_id: 4 };
        assert_eq!(serde_json::to_value(&act).unwrap(), serde_json::json!({"kind": "tabsClose", "tabId": 4}));
        let click: Act = serde_json::from_value(serde_json::json!({"kind": "click", "ref": "e1"})).unwrap();
        assert_eq!(click, Act::Click { element: "e1".into() });
    }

    #[test]
    fn each_act_needs_its_own_switch() {
        assert_eq!(Act::Readability { max_chars: 1 }.switch(), Switch::Always);
        assert_eq!(Act::Screenshot.switch(), Switch::Interaction);
        assert_eq!(Act::Navigate { url: "https://a.example".into() }.switch(), Switch::Control);
    }
}
