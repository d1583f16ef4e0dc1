//! `permissions.*` and `audit.list`: what web pages may do. The prompt window reads and answers
//! prompts; the background reports closed tabs; the sidebar lists sites and changes their
//! grants, tools, limits and budgets, and reads the audit log (metadata only).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

crate::methods! {
    PermissionsPromptGet = "permissions.prompt.get", Extension, PromptId => PromptRequest;
    /// Every open prompt.
    PermissionsPrompts = "permissions.prompts", Extension, super::Empty => Vec<PromptRequest>;
    PermissionsAnswer = "permissions.answer", Extension, AnswerPrompt => Answered;
    /// "Allow once" grants of a closed tab end.
    PermissionsTabClosed = "permissions.tabClosed", Extension, TabClosed => super::Empty;
    /// Every site with a grant, a decision or usage.
    PermissionsSites = "permissions.sites", Extension, super::Empty => Vec<SiteSummary>;
    /// `ALLOW_ALWAYS` or `DENY` for one scope.
    PermissionsSet = "permissions.set", Extension, SetGrant => SiteSummary;
    /// Forgets one scope's decision, or (no scope) everything about the site.
    PermissionsClear = "permissions.clear", Extension, ClearGrants => SiteSummary;
    PermissionsSetTools = "permissions.setTools", Extension, SetTools => SiteSummary;
    /// Approves a tool its server changed, as it is now.
    PermissionsApproveTool = "permissions.approveTool", Extension, ApproveTool => SiteSummary;
    PermissionsSetLimits = "permissions.setLimits", Extension, SetLimits => SiteSummary;
    PermissionsDefaultsGet = "permissions.defaults.get", Extension, super::Empty => Defaults;
    PermissionsDefaultsSet = "permissions.defaults.set", Extension, Defaults => Defaults;
    AuditList = "audit.list", Extension, AuditQuery => Vec<AuditEntry>;
}

/// What a site may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "model:prompt")]
    ModelPrompt,
    #[serde(rename = "model:tools")]
    ModelTools,
    #[serde(rename = "model:list")]
    ModelList,
    #[serde(rename = "mcp:tools.list")]
    ToolsList,
    #[serde(rename = "mcp:tools.call")]
    ToolsCall,
    #[serde(rename = "browser:activeTab.read")]
    ActiveTabRead,
    #[serde(rename = "browser:activeTab.interact")]
    ActiveTabInteract,
    #[serde(rename = "browser:activeTab.screenshot")]
    ActiveTabScreenshot,
    #[serde(rename = "browser:tabs.read")]
    TabsRead,
    #[serde(rename = "browser:tabs.create")]
    TabsCreate,
    #[serde(rename = "browser:navigate")]
    Navigate,
    #[serde(rename = "web:fetch")]
    WebFetch,
    #[serde(rename = "mcp:servers.register")]
    ServersRegister,
    #[serde(rename = "chat:open")]
    ChatOpen,
}

impl Scope {
    pub const ALL: [Scope; 14] = [
        Scope::ModelPrompt,
        Scope::ModelTools,
        Scope::ModelList,
        Scope::ToolsList,
        Scope::ToolsCall,
        Scope::ActiveTabRead,
        Scope::ActiveTabInteract,
        Scope::ActiveTabScreenshot,
        Scope::TabsRead,
        Scope::TabsCreate,
        Scope::Navigate,
        Scope::WebFetch,
        Scope::ServersRegister,
        Scope::ChatOpen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ModelPrompt => "model:prompt",
            Scope::ModelTools => "model:tools",
            Scope::ModelList => "model:list",
            Scope::ToolsList => "mcp:tools.list",
            Scope::ToolsCall => "mcp:tools.call",
            Scope::ActiveTabRead => "browser:activeTab.read",
            Scope::ActiveTabInteract => "browser:activeTab.interact",
            Scope::ActiveTabScreenshot => "browser:activeTab.screenshot",
            Scope::TabsRead => "browser:tabs.read",
            Scope::TabsCreate => "browser:tabs.create",
            Scope::Navigate => "browser:navigate",
            Scope::WebFetch => "web:fetch",
            Scope::ServersRegister => "mcp:servers.register",
            Scope::ChatOpen => "chat:open",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The scope in plain words, as the prompt shows it.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::ModelPrompt => "Send text to your AI model and read its answers",
            Scope::ModelTools => "Let your AI model use the tools you allow, on this site's behalf",
            Scope::ModelList => "See which AI models you have set up",
            Scope::ToolsList => "See the tools you allow this site to use",
            Scope::ToolsCall => "Run the tools you allow (below) directly",
            Scope::ActiveTabRead => "Read the text of the tab you are looking at",
            Scope::ActiveTabInteract => {
                "Click, type, choose and scroll in this site's page while you are looking at it"
            }
            Scope::ActiveTabScreenshot => "Take pictures of this site's page while you are looking at it",
            Scope::TabsRead => "See the addresses and titles of the tabs in this window",
            Scope::TabsCreate => "Open new tabs, and close the tabs this site opened",
            Scope::Navigate => "Send this site's tab to other addresses",
            Scope::WebFetch => "Read other websites on its own (without your cookies or logins)",
            Scope::ServersRegister => {
                "Connect your assistant to this site's own MCP server, for this tab (its tools join your assistant's)"
            }
            Scope::ChatOpen => "Open Harbor's chat, with this site's tools and instructions",
        }
    }
}

/// A site's standing for one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Grant {
    /// For the asking tab only, until its time runs out or the tab closes.
    AllowOnce,
    /// Kept across restarts.
    AllowAlways,
    /// Kept; calls fail at once without asking again until the user clears it.
    Deny,
    NotGranted,
}

impl Grant {
    pub fn allows(self) -> bool {
        matches!(self, Grant::AllowOnce | Grant::AllowAlways)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grant::AllowOnce => "ALLOW_ONCE",
            Grant::AllowAlways => "ALLOW_ALWAYS",
            Grant::Deny => "DENY",
            Grant::NotGranted => "NOT_GRANTED",
        }
    }
}

/// A tool as the prompt lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptTool {
    /// The name to grant, exactly as the server has it.
    pub name: String,
    /// The name as shown: invisible and look-alike characters made visible.
    pub label: String,
    /// Shown with invisible characters made visible.
    pub description: String,
    /// Another server's tool this one's name imitates, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imitates: Option<String>,
    /// Read-only tools start checked; tools that write or destroy start unchecked.
    pub checked: bool,
}

/// One scope a prompt asks for, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeLine {
    pub scope: Scope,
    pub description: String,
}

/// What a prompt asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptRequest {
    pub id: String,
    pub origin: String,
    /// The page that embeds the asking frame, when it is another origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded_in: Option<String>,
    pub tab_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub scopes: Vec<ScopeLine>,
    pub tools: Vec<PromptTool>,
}

/// The user's answer to a prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    AllowOnce,
    AllowAlways,
    Deny,
    /// Closed or "not now": nothing is stored.
    Dismiss,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptId {
    pub prompt_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnswerPrompt {
    pub prompt_id: String,
    pub decision: Decision,
    /// The tools the user left checked.
    #[serde(default)]
    pub tools: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answered {
    pub answered: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TabClosed {
    pub tab_id: i64,
}

/// One origin's limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    pub max_tool_calls_per_run: u32,
    pub max_concurrent_calls: u32,
    pub tool_timeout_ms: u64,
    /// Off when `None`.
    pub tool_calls_per_hour: Option<u32>,
    /// Off when `None`.
    pub tokens_per_day: Option<u64>,
    /// The site's `agent.run` in code mode: the model searches the site's tools and calls them
    /// from code (each call counted and checked like a direct one), instead of being offered them.
    pub code_mode: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tool_calls_per_run: 5,
            max_concurrent_calls: 2,
            tool_timeout_ms: 30_000,
            tool_calls_per_hour: None,
            tokens_per_day: None,
            code_mode: false,
        }
    }
}

impl Limits {
    /// Says which value is out of its range.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.max_tool_calls_per_run) {
            return Err("maxToolCallsPerRun must be between 1 and 100".into());
        }
        if !(1..=32).contains(&self.max_concurrent_calls) {
            return Err("maxConcurrentCalls must be between 1 and 32".into());
        }
        if !(100..=600_000).contains(&self.tool_timeout_ms) {
            return Err("toolTimeoutMs must be between 100 and 600000".into());
        }
        Ok(())
    }

    pub fn tool_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.tool_timeout_ms)
    }
}

/// Settings that apply to every site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Defaults {
    /// How long "allow once" lasts.
    pub once_ttl_seconds: u64,
    /// How long a prompt waits for the user before it counts as dismissed.
    pub prompt_timeout_seconds: u64,
    pub limits: Limits,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { once_ttl_seconds: 600, prompt_timeout_seconds: 300, limits: Limits::default() }
    }
}

/// A site's grants: what `agent.permissions.list` answers, and the head of [`SiteSummary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    pub origin: String,
    /// Scope name → grant, for every scope.
    pub scopes: BTreeMap<String, Grant>,
    pub allowed_tools: Vec<String>,
}

/// An "allow once" grant still running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnceGrant {
    pub tab_id: i64,
    pub scopes: Vec<Scope>,
    pub tools: Vec<String>,
    pub expires_in_seconds: u64,
}

/// What a site used of its budgets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteUsage {
    pub tool_calls_this_hour: i64,
    pub tokens_today: i64,
}

/// One part of a tool that differs from what the user approved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolChange {
    /// `title`, `description`, `inputSchema` or `annotations`.
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// An allowed tool its server changed since the user approved it: suspended until approved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangedTool {
    pub tool: String,
    pub changes: Vec<ToolChange>,
}

/// One site as the sidebar shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteSummary {
    #[serde(flatten)]
    pub permissions: Permissions,
    pub limits: Limits,
    pub once: Vec<OnceGrant>,
    pub usage: SiteUsage,
    pub changed_tools: Vec<ChangedTool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetGrant {
    pub origin: String,
    pub scope: Scope,
    /// `ALLOW_ALWAYS` or `DENY`.
    pub grant: Grant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearGrants {
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTools {
    pub origin: String,
    pub tools: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveTool {
    pub origin: String,
    pub tool: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLimits {
    pub origin: String,
    pub limits: Limits,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// One site's (or `gateway:<client>`'s) records only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The newest this many (200 when absent, at most 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Who made an audited call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditCaller {
    /// A web page (`origin` is its origin).
    #[default]
    Page,
    /// Harbor's own sidebar chat.
    Chat,
    /// An app through the gateway (`origin` is `gateway:<client>`).
    Gateway,
    /// An MCP App's view in Harbor's sidebar (`origin` is `app:<server>`).
    View,
}

impl AuditCaller {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditCaller::Page => "page",
            AuditCaller::Chat => "chat",
            AuditCaller::Gateway => "gateway",
            AuditCaller::View => "view",
        }
    }

    pub fn parse(text: &str) -> Option<AuditCaller> {
        [AuditCaller::Page, AuditCaller::Chat, AuditCaller::Gateway, AuditCaller::View]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One audit record: metadata only, never arguments or results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub at: i64,
    /// What kind of caller it was.
    #[serde(default)]
    pub caller: AuditCaller,
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tab_id: Option<i64>,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `ok` or the error code.
    pub outcome: String,
    pub duration_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_grants_read_and_write_their_wire_names() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), scope.as_str());
        }
        assert_eq!(Scope::parse("mcp:servers.delete"), None);
        assert_eq!(serde_json::to_value(Grant::AllowOnce).unwrap(), "ALLOW_ONCE");
    }
}
