//! Fitting a conversation into the model's context window.
//!
//! Tokens are estimated at four characters each (plus a few per message for the wire format's
//! framing) — close enough for English and JSON, and cheap. The system messages and the newest
//! turn always stay; older turns (a user message and everything after it up to the next user
//! message) are left out whole, oldest first, so a tool call is never separated from its result.

use crate::llm::{Message, Role, ToolSpec};

/// The estimated tokens of a message.
pub fn estimate(message: &Message) -> usize {
    let calls: usize = message.tool_calls.iter().map(|c| c.name.len() + c.arguments.to_string().len()).sum();
    (message.content.len() + calls).div_ceil(4) + 4
}

/// The estimated tokens of the tool definitions sent with a request.
pub fn estimate_tools(tools: &[ToolSpec]) -> usize {
    tools.iter().map(|t| (t.name.len() + t.description.len() + t.parameters.to_string().len()).div_ceil(4) + 8).sum()
}

/// `messages` with the oldest turns left out until they fit in `budget` tokens; returns how many
/// messages were left out.
pub fn trim(messages: Vec<Message>, budget: usize) -> (Vec<Message>, usize) {
    let total: usize = messages.iter().map(estimate).sum();
    if total <= budget {
        return (messages, 0);
    }
    let (system, rest): (Vec<Message>, Vec<Message>) = messages.into_iter().partition(|m| m.role == Role::System);
    // Turn starts: every user message (the first message starts a turn too).
    let starts: Vec<usize> =
        rest.iter().enumerate().filter(|(i, m)| *i == 0 || m.role == Role::User).map(|(i, _)| i).collect();
    let fixed: usize = system.iter().map(estimate).sum();
    let mut keep_from = *starts.last().unwrap_or(&0);
    // Walk back over whole turns while they still fit.
    for pair in starts.windows(2).rev() {
        let (start, end) = (pair[0], pair[1]);
        let kept: usize = rest[end..].iter().map(estimate).sum();
        let turn: usize = rest[start..end].iter().map(estimate).sum();
        if fixed + kept + turn > budget {
            break;
        }
        keep_from = start;
    }
    let left_out = keep_from;
    let mut kept = system;
    kept.extend(rest.into_iter().skip(keep_from));
    (kept, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;

    fn user(text: &str) -> Message {
        Message::new(Role::User, text)
    }

    #[test]
    fn old_turns_go_first_and_tool_results_stay_with_their_calls() {
        let call = ToolCall { id: "c".into(), name: "t".into(), arguments: serde_json::json!({}) };
        let mut asked = Message::new(Role::Assistant, "");
        asked.tool_calls.push(call.clone());
        let long = "x".repeat(400);
        let messages = vec![
            Message::new(Role::System, "be brief"),
            user(&long),
            Message::new(Role::Assistant, &long),
            user("time?"),
            asked,
            Message::tool_result(&call, "noon"),
            Message::new(Role::Assistant, "It is noon."),
            user("thanks"),
        ];
        let (all, dropped) = trim(messages.clone(), 10_000);
        assert_eq!((all.len(), dropped), (8, 0));
        let (kept, dropped) = trim(messages.clone(), 60);
        assert_eq!(dropped, 2, "the long first turn goes");
        assert_eq!(kept[0].role, Role::System);
        assert_eq!(kept[1].content, "time?");
        let (last, dropped) = trim(messages, 1);
        assert_eq!(dropped, 6, "only the system message and the newest turn stay");
        assert_eq!(last.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), vec!["be brief", "thanks"]);
    }
}
