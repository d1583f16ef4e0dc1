//! The [`Host`]'s side of tool pinning (see [`super::pins`]): pinning what a grant allows,
//! checking a tool against its pin before it is listed, offered or called, and the user's
//! re-approval.

use std::collections::HashMap;

use harbor_protocol::{ErrorCode, ErrorObject};
use serde_json::{json, Value};

use super::pins::{self, Change, PIN_ON_FIRST_USE};
use super::{internal, Host};
use crate::mcp::registry::ToolEntry;

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

impl Host {
    /// Pins `tools` for `origin` as they are now: the user has just approved them. A tool that
    /// is not running is pinned on its first use.
    pub(crate) fn pin_tools(&self, origin: &str, tools: &[String]) -> Result<(), ErrorObject> {
        if tools.is_empty() {
            return Ok(());
        }
        let catalog = self.catalog()?;
        for tool in tools {
            let (sha, definition) = match catalog.get(tool.as_str()) {
                Some(entry) => {
                    let definition = pins::definition(entry);
                    (pins::fingerprint(&definition), Some(definition.to_string()))
                }
                None => (PIN_ON_FIRST_USE.to_owned(), None),
            };
            self.store.set_tool_pin(origin, tool, &sha, definition.as_deref()).map_err(internal)?;
        }
        Ok(())
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

    /// How each of `tools` stands against `origin`'s pins; pins-on-first-use are filled in.
    pub(crate) fn pin_states<'a>(
        &self,
        origin: &str,
        tools: impl IntoIterator<Item = &'a ToolEntry>,
    ) -> Result<HashMap<String, Pinned>, ErrorObject> {
        let pins = self.store.tool_pins(origin).map_err(internal)?;
        let mut states = HashMap::new();
        for tool in tools {
            let current = pins::definition(tool);
            let state = match pins.get(&tool.name) {
                None => Pinned::Missing,
                Some((sha, _)) if sha == PIN_ON_FIRST_USE => {
                    let definition = current.to_string();
                    self.store
                        .set_tool_pin(origin, &tool.name, &pins::fingerprint(&current), Some(&definition))
                        .map_err(internal)?;
                    Pinned::Same
                }
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

    /// Refuses `tool` for `origin` unless it is as the user approved it.
    pub(crate) fn check_pin(&self, origin: &str, tool: &ToolEntry) -> Result<(), ErrorObject> {
        match self.pin_states(origin, [tool])?.remove(&tool.name) {
            Some(Pinned::Same) => Ok(()),
            Some(Pinned::Changed(changes)) => Err(ErrorObject::new(
                ErrorCode::ToolNotAllowed,
                format!(
                    "{} changed since the user allowed it ({}); it is suspended until they approve the new version in \
                     Harbor's Sites panel",
                    tool.name,
                    pins::summary(&changes)
                ),
            )
            .with_data(json!({ "reason": "tool_changed", "tool": tool.name, "changes": changes }))),
            Some(Pinned::Missing) | None => Err(ErrorObject::new(
                ErrorCode::ToolNotAllowed,
                format!("{origin} may not use {}; the user allows tools per site in Harbor", tool.name),
            )),
        }
    }

    /// `origin`'s allowed tools that changed since the user approved them, with what changed.
    pub(crate) fn changed_tools(&self, origin: &str, allowed: &[String]) -> Result<Vec<Value>, ErrorObject> {
        let catalog = self.catalog()?;
        let granted: Vec<&ToolEntry> = allowed.iter().filter_map(|t| catalog.get(t.as_str())).collect();
        let mut changed: Vec<Value> = self
            .pin_states(origin, granted)?
            .into_iter()
            .filter_map(|(tool, state)| match state {
                Pinned::Changed(changes) => Some(json!({ "tool": tool, "changes": changes })),
                _ => None,
            })
            .collect();
        changed.sort_by(|a, b| a["tool"].as_str().cmp(&b["tool"].as_str()));
        Ok(changed)
    }

    /// The running tools by `serverId/toolName`.
    fn catalog(&self) -> Result<HashMap<String, ToolEntry>, ErrorObject> {
        let tools = self.servers.tools(None).map_err(crate::methods::error)?;
        Ok(tools.into_iter().map(|t| (t.name.clone(), t)).collect())
    }
}
