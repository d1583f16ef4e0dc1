//! Permission prompts: at most one open per origin, joined by later requests from that origin,
//! and at most one open per top-level tab, so the frames of one page queue behind each other
//! instead of opening a window each; closing a prompt answers "not now" at once; an unanswered
//! prompt expires (after the `promptTimeoutSeconds` default, 5 min); and an origin whose prompts
//! the user keeps closing backs off — 10 s after one dismissal, 1 min after two, 10 min after
//! three or more — so a page cannot open prompts in a loop. (That a prompt opens only after a user gesture is checked by [`super::Host`].)
//!
//! The bridge announces a prompt with the `permissions.prompt` notification; the background opens
//! the prompt window, which reads the request (`permissions.prompt.get`) and answers
//! (`permissions.answer`). Closing the window answers `dismiss`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How long an origin may not prompt again after its `n`th dismissal in a row.
pub fn cool_down(dismissals: u32) -> Duration {
    match dismissals {
        0 => Duration::ZERO,
        1 => Duration::from_secs(10),
        2 => Duration::from_secs(60),
        _ => Duration::from_secs(600),
    }
}

/// After this long without a dismissal, an origin's count starts again from zero.
const DISMISSALS_FORGOTTEN: Duration = Duration::from_secs(3600);

pub use harbor_protocol::api::permissions::{Decision, PromptRequest, PromptTool, ScopeLine};

#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub decision: Decision,
    pub tools: Vec<String>,
}

struct Open {
    request: PromptRequest,
    answer: watch::Sender<Option<Answer>>,
}

impl Open {
    /// A wait on this prompt by a request that joins it.
    fn waiting(&self) -> Waiting {
        Waiting {
            id: self.request.id.clone(),
            is_new: false,
            offered: self.request.tools.iter().map(|t| t.name.clone()).collect(),
            answer: self.answer.subscribe(),
        }
    }
}

/// An origin's dismissals in a row, and when the last one was.
struct Dismissals {
    count: u32,
    last: Instant,
}

#[derive(Default)]
pub struct Prompts {
    open: Mutex<HashMap<String, Open>>,
    dismissed: Mutex<HashMap<String, Dismissals>>,
    next: AtomicU64,
}

/// What asking gives: a new prompt to announce, or one already open to wait on.
pub struct Waiting {
    pub id: String,
    pub is_new: bool,
    /// The tools the prompt offers the user.
    pub offered: Vec<String>,
    answer: watch::Receiver<Option<Answer>>,
}

/// The outcome of [`Prompts::ask`].
pub enum Asked {
    /// The origin's prompt (new or joined).
    Prompt(Waiting),
    /// Another origin's prompt is open on the same tab: wait for it to close, then ask again.
    Queued(Waiting),
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
    /// How much longer `origin` must wait before it may prompt again, if at all.
    pub fn cooling_down(&self, origin: &str) -> Option<Duration> {
        let mut dismissed = self.dismissed.lock().unwrap_or_else(|p| p.into_inner());
        dismissed.retain(|_, d| d.last.elapsed() < DISMISSALS_FORGOTTEN);
        let d = dismissed.get(origin)?;
        cool_down(d.count).checked_sub(d.last.elapsed()).filter(|left| !left.is_zero())
    }

    /// Opens a prompt for `request.origin`, joins the one already open for it, or queues behind
    /// another origin's prompt on the same tab.
    pub fn ask(&self, mut request: PromptRequest) -> Asked {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = open.get(&request.origin) {
            return Asked::Prompt(existing.waiting());
        }
        if let Some(blocker) = request.tab_id.and_then(|tab| open.values().find(|o| o.request.tab_id == Some(tab))) {
            return Asked::Queued(blocker.waiting());
        }
        request.id = format!("p{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let (answer, _) = watch::channel(None);
        let opened = Open { request, answer };
        let waiting = Waiting { is_new: true, ..opened.waiting() };
        open.insert(opened.request.origin.clone(), opened);
        Asked::Prompt(waiting)
    }

    /// Whether `origin` has a prompt open now (joining it opens nothing new).
    pub fn is_open(&self, origin: &str) -> bool {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).contains_key(origin)
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
        let mut dismissed = self.dismissed.lock().unwrap_or_else(|p| p.into_inner());
        if answer.decision == Decision::Dismiss {
            let entry = dismissed.entry(origin).or_insert(Dismissals { count: 0, last: Instant::now() });
            if entry.last.elapsed() >= DISMISSALS_FORGOTTEN {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = Instant::now();
        } else {
            // The user made a decision: the site is not spamming them.
            dismissed.remove(&origin);
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

    fn request(origin: &str, tab: i64) -> PromptRequest {
        PromptRequest {
            id: String::new(),
            origin: origin.into(),
            embedded_in: None,
            tab_id: Some(tab),
            reason: None,
            scopes: Vec::new(),
            tools: Vec::new(),
        }
    }

    fn prompt(asked: Asked) -> Waiting {
        match asked {
            Asked::Prompt(waiting) => waiting,
            Asked::Queued(_) => panic!("queued"),
        }
    }

    fn dismiss(prompts: &Prompts, id: &str) {
        assert!(prompts.answer(id, Answer { decision: Decision::Dismiss, tools: vec![] }).is_some());
    }

    #[tokio::test]
    async fn a_second_request_joins_the_open_prompt_and_a_dismissal_cools_down() {
        let prompts = Prompts::default();
        let first = prompt(prompts.ask(request("http://a.test", 1)));
        let second = prompt(prompts.ask(request("http://a.test", 1)));
        let other = prompt(prompts.ask(request("http://b.test", 2)));
        assert!(first.is_new && !second.is_new && other.is_new);
        assert_eq!(first.id, second.id);
        assert_ne!(first.id, other.id);
        let id = first.id.clone();
        dismiss(&prompts, &id);
        assert_eq!(first.answer().await.decision, Decision::Dismiss);
        assert_eq!(second.answer().await.decision, Decision::Dismiss);
        assert!(prompts.cooling_down("http://a.test").is_some());
        assert!(prompts.cooling_down("http://b.test").is_none());
        assert!(prompts.answer(&id, Answer { decision: Decision::Deny, tools: vec![] }).is_none(), "answered once");
    }

    #[tokio::test]
    async fn frames_of_one_tab_queue_behind_its_open_prompt() {
        let prompts = Prompts::default();
        let top = prompt(prompts.ask(request("http://a.test", 7)));
        let Asked::Queued(blocker) = prompts.ask(request("http://frame.test", 7)) else {
            panic!("a second prompt opened")
        };
        assert_eq!(blocker.id, top.id);
        assert!(prompt(prompts.ask(request("http://frame.test", 8))).is_new, "another tab is not blocked");
        prompts.answer(&top.id, Answer { decision: Decision::Deny, tools: vec![] });
        assert_eq!(blocker.answer().await.decision, Decision::Deny);
        assert!(matches!(prompts.ask(request("http://frame.test", 7)), Asked::Prompt(_)), "its turn now");
    }

    #[test]
    fn repeated_dismissals_back_off_and_a_decision_resets_them() {
        let prompts = Prompts::default();
        let mut waits = Vec::new();
        for _ in 0..4 {
            let id = prompt(prompts.ask(request("http://spam.test", 1))).id;
            dismiss(&prompts, &id);
            waits.push(prompts.cooling_down("http://spam.test").unwrap());
        }
        assert!(waits[0] <= Duration::from_secs(10) && waits[0] > Duration::from_secs(9), "{waits:?}");
        assert!(waits[1] > Duration::from_secs(59), "{waits:?}");
        assert!(waits[2] > Duration::from_secs(599) && waits[3] > Duration::from_secs(599), "{waits:?}");
        let id = prompt(prompts.ask(request("http://spam.test", 1))).id;
        prompts.answer(&id, Answer { decision: Decision::AllowOnce, tools: vec![] });
        assert!(prompts.cooling_down("http://spam.test").is_none());
    }
}
