//! Code mode for gateway clients (`codeMode`; see [`crate::code_mode`]): the client's
//! `tools/list` is code mode's tools with the skills ones, and each call its code makes is the
//! client's own gateway call — allowlist, rate limit, concurrency, timeouts, pinning, audit — as
//! a direct call would be. A run may make [`CALLS_PER_RUN`] calls, or fewer when the client's
//! rate limit allows fewer a minute.

use futures::future::BoxFuture;
use harbor_protocol::api::forward::{Forward, ResourceUri};
use harbor_protocol::ErrorObject;
use rmcp::model::JsonObject;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{Backend, Gateway, Reach};
use crate::code_mode::{self, answer, GET_SKILL, LIST_SKILLS};
use crate::mcp::registry::ToolEntry;
use crate::sandbox::Host;
use crate::store::gateway::ClientRecord;

pub use crate::code_mode::CALLS_PER_RUN;

impl Gateway {
    /// Answers one of code mode's tools for `record`, as an MCP tool result.
    pub(super) async fn code_mode(
        &self,
        record: &ClientRecord,
        tool: &str,
        arguments: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        match tool {
            LIST_SKILLS => self.answer(&record.name, Forward::SkillsList, cancel).await.map(answer),
            GET_SKILL => {
                let uri = arguments.get("uri").and_then(Value::as_str).map(str::to_owned);
                let uri = uri.ok_or_else(|| ErrorObject::invalid("get_skill needs the skill's `uri`"))?;
                // The skill's own instructions, its SKILL.md, read as the app may read it.
                let read = self.answer(&record.name, Forward::ResourcesRead(ResourceUri { uri }), cancel).await?;
                Ok(json!({ "content": [{ "type": "text", "text": crate::mcp::registry::contents_text(&read) }] }))
            }
            other => {
                let tools = self.visible_tools(record)?;
                let host = CodeHost { gateway: self, client: &record.name, tools: &tools, cancel };
                let calls = CALLS_PER_RUN.min(record.rate_per_min.max(1) as usize);
                let key = code_mode::catalog_key(self.servers.catalog_revision(), &record.name, tools.len());
                let kept = code_mode::Kept { selector: &self.selector, key };
                code_mode::answer_meta(other, &arguments, &tools, kept, &self.sandbox, &host, calls)
                    .await
                    .unwrap_or_else(|| Err(ErrorObject::invalid(format!("{other} is not one of code mode's tools"))))
            }
        }
    }
}

/// The sandbox's way to a client's tools: each call is the client's own gateway call.
struct CodeHost<'a> {
    gateway: &'a Gateway,
    client: &'a str,
    tools: &'a [ToolEntry],
    cancel: &'a CancellationToken,
}

impl Host for CodeHost<'_> {
    fn tools(&self) -> Vec<(String, String)> {
        code_mode::code_tools(self.tools)
    }

    fn call<'b>(&'b self, tool: String, arguments: Value) -> BoxFuture<'b, Result<Value, (String, String)>> {
        Box::pin(async move {
            let arguments = code_mode::arguments_of(&tool, arguments)?;
            if code_mode::is_meta(&tool) {
                return Err(("ERR_TOOL_NOT_FOUND".into(), format!("{tool} cannot be called from code")));
            }
            let called =
                self.gateway.call(self.client, &tool, arguments, false, self.cancel.clone(), Reach::default()).await;
            code_mode::as_thrown(called)
        })
    }
}
