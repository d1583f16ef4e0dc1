//! Page tools (WebMCP): the tools web pages register with `document.modelContext`, held per
//! frame for as long as the page's `webmcp.serve` request is open, and called in that page.
//!
//! Only two callers reach a page's tools: the user's own chat in the sidebar, for the tab the
//! user chose (its top frame's tools), and the page itself through `agent.tools.*` (its own
//! frame's). No page can list or call another page's tools, and an answer counts only from the
//! frame the call went to. A call waits at most [`CALL_TIMEOUT`]; a call given up on is told to
//! the page (`tool_cancel`) and a late answer is refused. When the serve request ends — the tab
//! navigated or closed, the extension went away — the frame's tools are gone and its calls in
//! flight fail at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use harbor_protocol::api::tools::ToolEntry;
use harbor_protocol::api::webmcp::{CallAnswer, OfferedTool, OfferedTools, PageToolEvent, TabTools};
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::JsonObject;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::mcp::names;
use crate::rpc::{EventSink, Notifier};

/// The server id page tools are listed under (`page/<name>`); no installed server may take it.
pub const PAGE_SERVER: &str = names::RESERVED;

/// The most tools one frame may offer.
pub const MAX_TOOLS: usize = 64;

/// The most frames of one tab that may offer tools at once.
pub const MAX_FRAMES: usize = 16;

/// How long a call waits for the page's answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest name WebMCP allows.
const NAME_MAX: usize = 128;

/// Calls waiting to be handed to one page, before its serve request takes them.
const CALL_BACKLOG: usize = 16;

/// One document's place: its tab and frame (0 is the tab's top frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub tab: i64,
    pub frame: i64,
}

impl Frame {
    /// A tab's top frame, whose tools the chat offers.
    pub fn top(tab: i64) -> Frame {
        Frame { tab, frame: 0 }
    }
}

/// One frame's tools and the way to its page.
struct Offer {
    origin: String,
    version: u64,
    tools: Vec<OfferedTool>,
    /// The open serve request's channel and its number, once it attached.
    serve: Option<(u64, mpsc::Sender<PageToolEvent>)>,
}

/// An open serve request: when it goes, its frame's tools go.
struct Serving<'a> {
    tools: &'a PageTools,
    frame: Frame,
    number: u64,
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.tools.end(self.frame, self.number);
    }
}

/// A call the page has not answered yet.
struct Waiting {
    frame: Frame,
    origin: String,
    answer: oneshot::Sender<CallAnswer>,
}

pub struct PageTools {
    offers: Mutex<HashMap<Frame, Offer>>,
    waiting: Mutex<HashMap<String, Waiting>>,
    next: AtomicU64,
    notifier: Notifier,
}

/// Checks a tool as WebMCP's `registerTool` does, and the limits a page is held to.
fn check(offered: &OfferedTools) -> Result<(), ErrorObject> {
    if offered.tools.len() > MAX_TOOLS {
        return Err(ErrorObject::new(
            ErrorCode::RateLimited,
            format!("a page may offer at most {MAX_TOOLS} tools; it offered {}", offered.tools.len()),
        )
        .with_data(json!({"limit": MAX_TOOLS})));
    }
    let mut seen = std::collections::HashSet::new();
    for tool in &offered.tools {
        let name = &tool.name;
        let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if name.is_empty() || name.len() > NAME_MAX || !valid {
            return Err(ErrorObject::invalid(format!(
                "tool name {name:?} is not valid: use 1 to {NAME_MAX} of A-Z, a-z, 0-9, '_', '-' or '.'"
            )));
        }
        if tool.description.trim().is_empty() {
            return Err(ErrorObject::invalid(format!("tool {name:?} needs a description")));
        }
        if tool.input_schema.as_ref().is_some_and(|schema| !schema.is_object()) {
            return Err(ErrorObject::invalid(format!("the inputSchema of tool {name:?} must be a JSON Schema object")));
        }
        if !seen.insert(name.as_str()) {
            return Err(ErrorObject::invalid(format!("the page offers two tools named {name:?}")));
        }
    }
    Ok(())
}

/// A page tool as a catalog entry.
fn entry(origin: &str, tool: &OfferedTool) -> ToolEntry {
    let hints = tool.annotations;
    ToolEntry {
        name: names::namespaced(PAGE_SERVER, &tool.name),
        model_name: names::model_name(PAGE_SERVER, &tool.name),
        server_id: PAGE_SERVER.into(),
        title: tool.title.clone(),
        description: tool.description.clone(),
        input_schema: tool.input_schema.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        annotations: Some(json!({
            "readOnlyHint": hints.read_only_hint,
            "untrustedContentHint": hints.untrusted_content_hint,
        })),
        imitates: None,
        page_origin: Some(origin.to_owned()),
        ui: None,
    }
}

/// Whether a catalog entry says its output is untrusted content (WebMCP's hint).
pub fn untrusted(tool: &ToolEntry) -> bool {
    tool.annotations.as_ref().and_then(|a| a["untrustedContentHint"].as_bool()).unwrap_or(false)
}

/// What `execute` returned, as MCP's `CallToolResult`: one the page built is passed through, a
/// string is its text, anything else its JSON; what it threw is an error result.
fn call_result(answer: CallAnswer) -> Value {
    if let Some(thrown) = answer.error {
        return json!({"content": [{"type": "text", "text": thrown}], "isError": true});
    }
    match answer.result.unwrap_or(Value::Null) {
        built @ Value::Object(_) if built["content"].is_array() => built,
        Value::String(text) => json!({"content": [{"type": "text", "text": text}]}),
        Value::Null => json!({"content": []}),
        value => json!({"content": [{"type": "text", "text": value.to_string()}], "structuredContent": value}),
    }
}

impl PageTools {
    pub fn new(notifier: Notifier) -> PageTools {
        PageTools { offers: Mutex::default(), waiting: Mutex::default(), next: AtomicU64::new(1), notifier }
    }

    fn offers(&self) -> std::sync::MutexGuard<'_, HashMap<Frame, Offer>> {
        self.offers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self, frame: Frame) {
        if frame.frame == 0 {
            self.notifier.publish("page.tools.changed", json!({ "tabId": frame.tab }));
        }
    }

    /// `webmcp.tools.set`: `frame`'s tools are now `offered`, unless a newer list came first.
    pub fn set(&self, frame: Frame, origin: &str, offered: OfferedTools) -> Result<(), ErrorObject> {
        check(&offered)?;
        {
            let mut offers = self.offers();
            let frames_of_tab = offers.keys().filter(|f| f.tab == frame.tab && **f != frame).count();
            match offers.get_mut(&frame) {
                // Another document now lives in the frame: what the old one offered is gone.
                Some(offer) if offer.origin != origin => {
                    *offer = Offer {
                        origin: origin.to_owned(),
                        version: offered.version,
                        tools: offered.tools,
                        serve: None,
                    };
                }
                Some(offer) if offer.version >= offered.version => return Ok(()),
                Some(offer) => {
                    offer.version = offered.version;
                    offer.tools = offered.tools;
                }
                None if frames_of_tab >= MAX_FRAMES => {
                    return Err(ErrorObject::new(
                        ErrorCode::RateLimited,
                        format!("at most {MAX_FRAMES} frames of one tab may offer tools at once"),
                    )
                    .with_data(json!({"limit": MAX_FRAMES})));
                }
                None => {
                    offers.insert(
                        frame,
                        Offer {
                            origin: origin.to_owned(),
                            version: offered.version,
                            tools: offered.tools,
                            serve: None,
                        },
                    );
                }
            }
        }
        self.changed(frame);
        Ok(())
    }

    /// `webmcp.serve`: offers the page's tools and hands it their calls until `cancel` (the
    /// request ends with its port); then the frame's tools are gone.
    pub async fn serve(
        &self,
        frame: Frame,
        origin: &str,
        offered: OfferedTools,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), ErrorObject> {
        self.set(frame, origin, offered)?;
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let (calls, mut to_page) = mpsc::channel(CALL_BACKLOG);
        match self.offers().get_mut(&frame) {
            Some(offer) if offer.origin == origin => offer.serve = Some((number, calls)),
            _ => {
                return Err(ErrorObject::invalid(
                    "the page's tools were replaced while it offered them; offer them again",
                ))
            }
        }
        // However the request ends — also when it is cancelled and this future dropped.
        let _serving = Serving { tools: self, frame, number };
        loop {
            tokio::select! {
                event = to_page.recv() => match event {
                    Some(event) => {
                        if !events.emit(&event).await {
                            break;
                        }
                    }
                    None => break,
                },
                () = cancel.cancelled() => break,
            }
        }
        Ok(())
    }

    /// The serve request `number` of `frame` ended: its tools and its calls in flight go.
    fn end(&self, frame: Frame, number: u64) {
        let ours = {
            let mut offers = self.offers();
            let ours = offers.get(&frame).is_some_and(|o| o.serve.as_ref().is_some_and(|(n, _)| *n == number));
            if ours {
                offers.remove(&frame);
            }
            ours
        };
        if ours {
            self.gone(frame);
        }
    }

    /// Forgets every frame of a tab (it closed).
    pub fn forget_tab(&self, tab: i64) {
        let frames: Vec<Frame> = {
            let mut offers = self.offers();
            let frames = offers.keys().filter(|f| f.tab == tab).copied().collect();
            offers.retain(|f, _| f.tab != tab);
            frames
        };
        for frame in frames {
            self.gone(frame);
        }
    }

    /// `frame`'s tools were dropped: its calls in flight fail at once (their answer senders
    /// dropped), and the sidebar hears of it.
    fn gone(&self, frame: Frame) {
        self.waiting().retain(|_, w| w.frame != frame);
        self.changed(frame);
    }

    /// `webmcp.result`: the page's answer to a call it was sent.
    pub fn answer(&self, frame: Frame, origin: &str, answer: CallAnswer) -> Result<(), ErrorObject> {
        let mut waiting = self.waiting();
        let ours = waiting.get(&answer.call_id).is_some_and(|w| w.frame == frame && w.origin == origin);
        if !ours {
            return Err(ErrorObject::invalid(format!(
                "no call {:?} is waiting for this page's answer",
                answer.call_id
            )));
        }
        let call = waiting.remove(&answer.call_id).expect("just seen");
        let _ = call.answer.send(answer);
        Ok(())
    }

    /// The tools `frame`'s page offers now (only while it serves them), as catalog entries.
    pub fn tools(&self, frame: Frame) -> Vec<ToolEntry> {
        match self.offers().get(&frame) {
            Some(offer) if offer.serve.is_some() => offer.tools.iter().map(|t| entry(&offer.origin, t)).collect(),
            _ => Vec::new(),
        }
    }

    /// `page.tools.list`: each tab's top-frame tools, or one tab's.
    pub fn by_tab(&self, tab: Option<i64>) -> Vec<TabTools> {
        let mut listed: Vec<TabTools> = self
            .offers()
            .iter()
            .filter(|(frame, _)| frame.frame == 0 && tab.is_none_or(|t| t == frame.tab))
            .filter(|(_, offer)| offer.serve.is_some() && !offer.tools.is_empty())
            .map(|(frame, offer)| TabTools {
                tab_id: frame.tab,
                origin: offer.origin.clone(),
                tools: offer.tools.iter().map(|t| entry(&offer.origin, t)).collect(),
            })
            .collect();
        listed.sort_by_key(|t| t.tab_id);
        listed
    }

    /// Runs `name` (`page/<tool>` or the tool's own name) in `frame`'s page and waits for its
    /// answer as an MCP `CallToolResult`. With `origin`, only when the page there is still of it.
    pub async fn call(
        &self,
        frame: Frame,
        origin: Option<&str>,
        name: &str,
        args: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        let tool = name.strip_prefix("page/").unwrap_or(name);
        let (page, to_page) = {
            let offers = self.offers();
            let offer = offers
                .get(&frame)
                .filter(|o| origin.is_none_or(|origin| o.origin == origin))
                .filter(|o| o.tools.iter().any(|t| t.name == tool));
            match offer.and_then(|o| o.serve.as_ref().map(|(_, calls)| (o.origin.clone(), calls.clone()))) {
                Some(found) => found,
                None => {
                    return Err(ErrorObject::new(
                        ErrorCode::ToolNotFound,
                        format!("the page in this tab offers no tool {tool:?} (it may have navigated or removed it)"),
                    ))
                }
            }
        };
        let id = format!("page-call-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let (answer, answered) = oneshot::channel();
        self.waiting().insert(id.clone(), Waiting { frame, origin: page.clone(), answer });
        let sent =
            to_page.send(PageToolEvent::ToolCall { id: id.clone(), tool: tool.to_owned(), args: Value::Object(args) });
        let outcome = tokio::select! {
            outcome = async { sent.await.ok()?; tokio::time::timeout(CALL_TIMEOUT, answered).await.ok() } => outcome,
            () = cancel.cancelled() => None,
        };
        // Answered or given up on: a late answer is refused from now on.
        let gave_up = self.waiting().remove(&id).is_some();
        if gave_up {
            let _ = to_page.try_send(PageToolEvent::ToolCancel { id });
        }
        match outcome {
            Some(Ok(answer)) => Ok(call_result(answer)),
            _ if cancel.is_cancelled() => Err(ErrorObject::new(ErrorCode::Aborted, "the tool call was cancelled")),
            Some(Err(_)) => Err(ErrorObject::new(
                ErrorCode::ServerUnavailable,
                format!("the page at {page} went away before its tool {tool:?} answered"),
            )),
            None => Err(ErrorObject::new(
                ErrorCode::ToolTimeout,
                format!("the page at {page} did not answer its tool {tool:?} within {} s", CALL_TIMEOUT.as_secs()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> OfferedTool {
        OfferedTool { name: name.into(), description: "does a thing".into(), ..OfferedTool::default() }
    }

    fn offered(version: u64, tools: Vec<OfferedTool>) -> OfferedTools {
        OfferedTools { version, tools }
    }

    #[test]
    fn names_follow_webmcp_and_a_page_is_held_to_its_limits() {
        for bad in ["", "has space", "slash/name", "ünicode", &"n".repeat(129)] {
            assert!(check(&offered(1, vec![tool(bad)])).is_err(), "{bad:?} refused");
        }
        assert!(check(&offered(1, vec![tool("a.b-c_D9"), tool(&"n".repeat(128))])).is_ok());
        assert!(check(&offered(1, vec![tool("same"), tool("same")])).is_err());
        let mut blank = tool("blank");
        blank.description = " ".into();
        assert!(check(&offered(1, vec![blank])).is_err());
        let too_many: Vec<OfferedTool> = (0..=MAX_TOOLS).map(|i| tool(&format!("t{i}"))).collect();
        assert_eq!(check(&offered(1, too_many)).unwrap_err().code, ErrorCode::RateLimited);
    }

    #[test]
    fn an_older_list_never_replaces_a_newer_one_and_tabs_hold_a_bounded_number_of_frames() {
        let pages = PageTools::new(Notifier::default());
        let frame = Frame::top(7);
        pages.set(frame, "https://a.test", offered(2, vec![tool("new")])).unwrap();
        pages.set(frame, "https://a.test", offered(1, vec![tool("old")])).unwrap();
        assert_eq!(pages.offers().get(&frame).unwrap().tools[0].name, "new");
        for f in 1..MAX_FRAMES as i64 {
            pages.set(Frame { tab: 7, frame: f }, "https://a.test", offered(1, vec![tool("t")])).unwrap();
        }
        let refused = pages.set(Frame { tab: 7, frame: 99 }, "https://a.test", offered(1, vec![tool("t")]));
        assert_eq!(refused.unwrap_err().code, ErrorCode::RateLimited);
        // Another tab is not held to this one's count.
        pages.set(Frame::top(8), "https://a.test", offered(1, vec![tool("t")])).unwrap();
    }

    #[test]
    fn what_execute_returned_becomes_a_call_tool_result() {
        let answer = |result: Value| CallAnswer { call_id: "c".into(), result: Some(result), error: None };
        assert_eq!(call_result(answer(json!("hi")))["content"][0]["text"], "hi");
        let built = json!({"content": [{"type": "text", "text": "as built"}], "isError": false});
        assert_eq!(call_result(answer(built.clone())), built);
        let value = call_result(answer(json!({"n": 3})));
        assert_eq!(value["structuredContent"]["n"], 3);
        let thrown = call_result(CallAnswer { call_id: "c".into(), result: None, error: Some("boom".into()) });
        assert_eq!((thrown["isError"].as_bool(), thrown["content"][0]["text"].as_str()), (Some(true), Some("boom")));
    }
}
