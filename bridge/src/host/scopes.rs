//! The permission scopes of the Web Agent API and the grants a site can hold for each.

use serde::{Deserialize, Serialize};

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
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::ModelPrompt,
        Scope::ModelTools,
        Scope::ModelList,
        Scope::ToolsList,
        Scope::ToolsCall,
        Scope::ActiveTabRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ModelPrompt => "model:prompt",
            Scope::ModelTools => "model:tools",
            Scope::ModelList => "model:list",
            Scope::ToolsList => "mcp:tools.list",
            Scope::ToolsCall => "mcp:tools.call",
            Scope::ActiveTabRead => "browser:activeTab.read",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_and_write_their_wire_names() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), scope.as_str());
        }
        assert_eq!(Scope::parse("mcp:servers.register"), None);
        assert_eq!(serde_json::to_value(Grant::AllowOnce).unwrap(), "ALLOW_ONCE");
    }
}
