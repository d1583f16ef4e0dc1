//! Tool pinning applied (see [`super::pins`]): pinning what a grant allows, checking a tool
//! against its pin before it is listed, offered or called, and the user's re-approval — for a
//! site (the [`Host`]) and for a gateway client (keyed `gateway:<name>`, see `gateway`).
//!
//! A site's grant names tools, so a site's tool without a pin is not allowed (its grant went
//! with its server). A gateway client is allowed whole servers, so a tool it has not seen yet is
//! pinned the first time it sees it.

use std::collections::HashMap;

use harbor_protocol::ErrorObject;
use serde_json::Value;

use harbor_protocol::api::permissions::ChangedTool;

use super::pins::{self, Change, PIN_ON_FIRST_USE};
use super::policy::PolicyError;
use super::{internal, Host};
use crate::mcp::registry::ToolEntry;
use crate::store::Store;

/// How a granted tool stands against its pin.
#[derive(Debug, PartialEq)]
pub enum Pinned {
    /// As approved (or pinned just now, on its first use).
    Same,
    /// Its server changed it since the user approved it.
    Changed(Vec<Change>),
    /// No pin: the grant went with its server (removed), so the tool is not allowed.
    Missing,
}

/// What a tool without a pin means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unpinned {
    /// Not allowed (a site's grant names its tools).
    Refuse,
    /// Seen for the first time: pinned as it is (a gateway client allowed its whole server).
    PinNow,
}

/// Pins `tools` for `holder` as `catalog` has them now; one not running is pinned on first use.
pub fn pin(store: &Store, holder: &str, tools: &[String], catalog: &[ToolEntry]) -> anyhow::Result<()> {
    for tool in tools {
        let (sha, definition) = match catalog.iter().find(|t| &t.name == tool) {
            Some(entry) => {
                let definition = pins::definition(entry);
                (pins::fingerprint(&definition), Some(definition.to_string()))
            }
            None => (PIN_ON_FIRST_USE.to_owned(), None),
        };
        store.set_tool_pin(holder, tool, &sha, definition.as_deref())?;
    }
    Ok(())
}

/// How each of `tools` stands against `holder`'s pins; pins on first use are filled in.
pub fn states<'a>(
    store: &Store,
    holder: &str,
    tools: impl IntoIterator<Item = &'a ToolEntry>,
    unpinned: Unpinned,
) -> anyhow::Result<HashMap<String, Pinned>> {
    let pins = store.tool_pins(holder)?;
    let mut states = HashMap::new();
    for tool in tools {
        let current = pins::definition(tool);
        let first_use = |store: &Store| -> anyhow::Result<Pinned> {
            store.set_tool_pin(holder, &tool.name, &pins::fingerprint(&current), Some(&current.to_string()))?;
            Ok(Pinned::Same)
        };
        let state = match pins.get(&tool.name) {
            None if unpinned == Unpinned::PinNow => first_use(store)?,
            None => Pinned::Missing,
            Some((sha, _)) if sha == PIN_ON_FIRST_USE => first_use(store)?,
            Some((sha, _)) if *sha == pins::fingerprint(&current) => Pinned::Same,
            Some((_, approved)) => {
                let approved: Value =
                    approved.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default();
                Pinned::Changed(pins::changes(&approved, &current))
            }
        };
        states.insert(tool.name.clone(), state);
    }
    Ok(states)
}

/// The error for calling `tool` as `state` says, or `None` when it is as approved.
pub fn refusal(who: &str, tool: &ToolEntry, state: Option<Pinned>) -> Option<PolicyError> {
    match state {
        Some(Pinned::Same) => None,
        Some(Pinned::Changed(changes)) => {
            Some(PolicyError::ToolChanged { tool: tool.name.clone(), summary: pins::summary(&changes), changes })
        }
        Some(Pinned::Missing) | None => Some(PolicyError::ToolNotAllowed {
            caller: who.to_owned(),
            tool: tool.name.clone(),
            fix: "the user allows tools in Harbor",
        }),
    }
}

/// The tools among `granted` that changed since `holder` approved them, with what changed.
pub fn changed(
    store: &Store,
    holder: &str,
    granted: &[&ToolEntry],
    unpinned: Unpinned,
) -> anyhow::Result<Vec<ChangedTool>> {
    let mut changed: Vec<ChangedTool> = states(store, holder, granted.iter().copied(), unpinned)?
        .into_iter()
        .filter_map(|(tool, state)| match state {
            Pinned::Changed(changes) => Some(ChangedTool { tool, changes }),
            _ => None,
        })
        .collect();
    changed.sort_by(|a, b| a.tool.cmp(&b.tool));
    Ok(changed)
}

impl Host {
    /// Pins `tools` for `origin` as they are now: the user has just approved them.
    pub(crate) fn pin_tools(&self, origin: &str, tools: &[String]) -> Result<(), ErrorObject> {
        if tools.is_empty() {
            return Ok(());
        }
        let catalog = self.servers.tools(None).map_err(ErrorObject::from)?;
        pin(&self.store, origin, tools, &catalog).map_err(internal)
    }

    /// Pins the tools of `tools` that have no pin yet (a change of allowlist in the sidebar keeps
    /// the pins of tools already allowed, so a changed tool stays suspended until approved), and
    /// drops the pins of tools no longer allowed.
    pub(crate) fn pin_new_tools(&self, origin: &str, tools: &[String]) -> Result<(), ErrorObject> {
        let pinned = self.store.tool_pins(origin).map_err(internal)?;
        let new: Vec<String> = tools.iter().filter(|t| !pinned.contains_key(*t)).cloned().collect();
        self.pin_tools(origin, &new)?;
        let mut kept: Vec<String> = tools.to_vec();
        // "Once" grants hold pins too.
        kept.extend(self.grants.once_grants(origin).into_iter().flat_map(|(_, _, tools, _)| tools));
        self.store.keep_tool_pins(origin, &kept).map_err(internal)
    }

    /// How each of `tools` stands against `origin`'s pins.
    pub(crate) fn pin_states<'a>(
        &self,
        origin: &str,
        tools: impl IntoIterator<Item = &'a ToolEntry>,
    ) -> Result<HashMap<String, Pinned>, ErrorObject> {
        states(&self.store, origin, tools, Unpinned::Refuse).map_err(internal)
    }

    /// Refuses `tool` for `origin` unless it is as the user approved it.
    pub(crate) fn check_pin(&self, origin: &str, tool: &ToolEntry) -> Result<(), PolicyError> {
        let state = states(&self.store, origin, [tool], Unpinned::Refuse)?.remove(&tool.name);
        refusal(origin, tool, state).map_or(Ok(()), Err)
    }

    /// `origin`'s allowed tools that changed since the user approved them, with what changed.
    pub(crate) fn changed_tools(&self, origin: &str, allowed: &[String]) -> Result<Vec<ChangedTool>, ErrorObject> {
        let catalog = self.servers.tools(None).map_err(ErrorObject::from)?;
        let granted: Vec<&ToolEntry> = catalog.iter().filter(|t| allowed.contains(&t.name)).collect();
        changed(&self.store, origin, &granted, Unpinned::Refuse).map_err(internal)
    }
}
