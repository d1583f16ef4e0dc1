//! Permission prompts: at most one open per origin, joined by later requests; closing it answers
//! "not now" at once; and a short cool-down after a dismissal, so a page cannot open prompts in
//! a loop.
//!
//! The bridge announces a prompt with the `permissions.prompt` notification; the background opens
//! the prompt window, which reads the request (`permissions.prompt.get`) and answers
//! (`permissions.answer`). Closing the window answers `dismiss`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::scopes::Scope;

/// How long a dismissed origin may not prompt again.
pub const COOL_DOWN: Duration = Duration::from_secs(10);

/// A tool as the prompt lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptTool {
    pub name: String,
    pub description: String,
    /// Read-only tools start checked; tools that write or destroy start unchecked.
    pub checked: bool,
}

/// What the prompt asks.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptRequest {
    pub id: String,
    pub origin: String,
    /// The page that embeds the asking frame, when it is another origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_in: Option<String>,
    pub tab_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub scopes: Vec<ScopeLine>,
    pub tools: Vec<PromptTool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScopeLine {
    pub scope: Scope,
    pub description: &'static str,
}

/// The user's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    AllowOnce,
    AllowAlways,
    Deny,
    /// Closed or "not now": nothing is stored.
    Dismiss,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub decision: Decision,
    pub tools: Vec<String>,
}

struct Open {
    request: PromptRequest,
    answer: watch::Sender<Option<Answer>>,
}

#[derive(Default)]
pub struct Prompts {
    open: Mutex<HashMap<String, Open>>,
    dismissed: Mutex<HashMap<String, Instant>>,
    next: AtomicU64,
}

/// What asking gives: a new prompt to announce, or one already open to wait on.
pub struct Waiting {
    pub id: String,
    pub is_new: bool,
    answer: watch::Receiver<Option<Answer>>,
}

impl Waiting {
    /// The answer, once the user gives it.
    pub async fn answer(mut self) -> Answer {
        loop {
            if let Some(answer) = self.answer.borrow_and_update().clone() {
                return answer;
            }
            if self.answer.changed().await.is_err() {
                // The prompt was dropped without an answer (the bridge is stopping).
                return Answer { decision: Decision::Dismiss, tools: Vec::new() };
            }
        }
    }
}

impl Prompts {
    /// Whether `origin` dismissed a prompt within the cool-down.
    pub fn cooling_down(&self, origin: &str) -> bool {
        let mut dismissed = self.dismissed.lock().unwrap_or_else(|p| p.into_inner());
        dismissed.retain(|_, at| at.elapsed() < COOL_DOWN);
        dismissed.contains_key(origin)
    }

    /// Opens a prompt for `request.origin`, or joins the one already open.
    pub fn ask(&self, mut request: PromptRequest) -> Waiting {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = open.get(&request.origin) {
            return Waiting { id: existing.request.id.clone(), is_new: false, answer: existing.answer.subscribe() };
        }
        request.id = format!("p{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let (answer, receiver) = watch::channel(None);
        let id = request.id.clone();
        open.insert(request.origin.clone(), Open { request, answer });
        Waiting { id, is_new: true, answer: receiver }
    }

    /// The open prompt `id`.
    pub fn get(&self, id: &str) -> Option<PromptRequest> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.values().find(|o| o.request.id == id).map(|o| o.request.clone())
    }

    /// Closes prompt `id` with `answer`; returns what it asked, or `None` if it is not open.
    pub fn answer(&self, id: &str, answer: Answer) -> Option<PromptRequest> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let origin = open.iter().find(|(_, o)| o.request.id == id).map(|(origin, _)| origin.clone())?;
        let closed = open.remove(&origin)?;
        if answer.decision == Decision::Dismiss {
            self.dismissed.lock().unwrap_or_else(|p| p.into_inner()).insert(origin, Instant::now());
        }
        let _ = closed.answer.send(Some(answer));
        Some(closed.request)
    }

    /// Every open prompt.
    pub fn list(&self) -> Vec<PromptRequest> {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).values().map(|o| o.request.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: &str) -> PromptRequest {
        PromptRequest {
            id: String::new(),
            origin: origin.into(),
            embedded_in: None,
            tab_id: Some(1),
            reason: None,
            scopes: Vec::new(),
            tools: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_second_request_joins_the_open_prompt_and_a_dismissal_cools_down() {
        let prompts = Prompts::default();
        let first = prompts.ask(request("http://a.test"));
        let second = prompts.ask(request("http://a.test"));
        let other = prompts.ask(request("http://b.test"));
        assert!(first.is_new && !second.is_new && other.is_new);
        assert_eq!(first.id, second.id);
        assert_ne!(first.id, other.id);
        let id = first.id.clone();
        assert!(prompts.answer(&id, Answer { decision: Decision::Dismiss, tools: vec![] }).is_some());
        assert_eq!(first.answer().await.decision, Decision::Dismiss);
        assert_eq!(second.answer().await.decision, Decision::Dismiss);
        assert!(prompts.cooling_down("http://a.test"));
        assert!(!prompts.cooling_down("http://b.test"));
        assert!(prompts.answer(&id, Answer { decision: Decision::Deny, tools: vec![] }).is_none(), "answered once");
    }
}
