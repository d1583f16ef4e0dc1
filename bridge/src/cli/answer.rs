//! What a server asks the user, answered at the terminal: its elicitation while `harbor-bridge
//! call` waits on its tool, and — with `harbor-bridge asks` — whatever a running bridge would
//! show in the sidebar (forms, pages to visit, leave for the user's model to answer). A form's
//! fields are asked one by one (each offering its default, which Enter takes), or a page to
//! open, then whether to send. Prompts go to standard error, answers come from standard input; at
//! the end of input a field takes its default and the question whether to send cancels, so a
//! script with no one to ask never accepts on the user's behalf.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use harbor_bridge::link::Link;
use harbor_protocol::api::asks::{Action, Asked, AsksAnswer, AsksWatch, OpenAsks, UserAnswer, UserAsk};
use harbor_protocol::api::tools::{AskAnswer, AskError};
use harbor_protocol::api::Method;
use harbor_protocol::form::{self, Field, FieldKind};
use serde_json::{json, Map, Value};

use harbor_bridge::mcp::askers::ELICITATION;

/// The requests `call` answers itself (the others go to the sidebar).
pub const ANSWERS: [&str; 1] = [ELICITATION];

/// Asks the user what the server asked, reading from `input` and prompting on `prompt`.
pub fn ask(ask_id: u64, method: &str, params: &Value, input: &mut impl BufRead, prompt: &mut impl Write) -> AskAnswer {
    let answered = match method {
        ELICITATION => elicit(params, input, prompt),
        other => Err(format!("{other}: the command line does not answer it")),
    };
    match answered {
        Ok(result) => AskAnswer { ask_id, result: Some(result), error: None },
        Err(message) => AskAnswer { ask_id, result: None, error: Some(AskError { code: -32602, message }) },
    }
}

/// `harbor-bridge asks`: holds `asks.watch` open on the running bridge and answers each ask it
/// shows, one at a time, until Ctrl-C.
pub async fn watch(data_dir: &Path) -> Result<()> {
    let mut link = Link::open(data_dir).await?;
    if !link.is_shared() {
        link.close().await;
        bail!("no Harbor bridge is running: asks come from one (Firefox's, or `harbor-bridge gateway serve`)");
    }
    let mut answered: Vec<u64> = Vec::new();
    let mut watching = false;
    let outcome = link
        .call_answering(<AsksWatch as Method>::NAME, json!({}), |event| {
            // The bridge's first list says this terminal is now where asks go: only then is it
            // true that it waits (an ask sent before would have found nobody).
            if !std::mem::replace(&mut watching, true) {
                eprintln!("Waiting for what servers ask you (Ctrl-C to stop)…");
            }
            let open: OpenAsks = serde_json::from_value(event.clone()).ok()?;
            let ask = open.asks.into_iter().find(|ask| !answered.contains(&ask.ask_id))?;
            answered.push(ask.ask_id);
            let (stdin, stderr) = (std::io::stdin(), std::io::stderr());
            let answer = answer_ask(&ask, &mut stdin.lock(), &mut stderr.lock());
            Some((<AsksAnswer as Method>::NAME, serde_json::to_value(answer).ok()?))
        })
        .await?;
    link.close().await;
    outcome.map(drop).map_err(|e| anyhow!("{}: {}", e.code, e.message))
}

/// The user's answer to one ask, from `input`.
fn answer_ask(ask: &UserAsk, input: &mut impl BufRead, prompt: &mut impl Write) -> UserAnswer {
    let callers = match ask.callers.as_slice() {
        [] => String::new(),
        callers => format!(" (during a call for {})", callers.join(", ")),
    };
    let _ = writeln!(prompt, "\n{} asks you{callers}:", ask.server_id);
    let (ask_id, mut content) = (ask.ask_id, None);
    let action = match &ask.asked {
        Asked::Form { message, requested_schema } => {
            let params = json!({ "message": message, "requestedSchema": requested_schema });
            decided(elicit(&params, input, prompt), &mut content)
        }
        Asked::Url { message, url, elicitation_id } => {
            let params = json!({ "mode": "url", "message": message, "url": url, "elicitationId": elicitation_id });
            decided(elicit(&params, input, prompt), &mut content)
        }
        Asked::Sampling { system_prompt, messages, max_tokens, answer } => {
            let _ = writeln!(prompt, "It wants your model to answer (up to {max_tokens} tokens):");
            if let Some(system) = system_prompt {
                let _ = writeln!(prompt, "  instructions: {system}");
            }
            for message in messages {
                let _ = writeln!(prompt, "  {}: {}", message.role, message.text);
            }
            let question = match answer {
                Some(answer) => {
                    let _ = writeln!(prompt, "Your model answered:\n  {answer}");
                    "Send this answer to the server? [y]es, [N]o: "
                }
                None => "Let your model answer? [y]es, [N]o: ",
            };
            let _ = write!(prompt, "{question}");
            let _ = prompt.flush();
            match line(input).map(|l| l.trim().to_ascii_lowercase()) {
                Some(l) if l.starts_with('y') => Action::Accept,
                _ => Action::Decline,
            }
        }
    };
    UserAnswer { ask_id, action, content }
}

/// The action of an elicitation's answer (`{action, content?}`), its content kept; a form the
/// terminal cannot ask is cancelled.
fn decided(answered: Result<Value, String>, content: &mut Option<Map<String, Value>>) -> Action {
    let Ok(answer) = answered else { return Action::Cancel };
    *content = answer.get("content").and_then(Value::as_object).cloned();
    match answer["action"].as_str() {
        Some("accept") => Action::Accept,
        Some("decline") => Action::Decline,
        _ => Action::Cancel,
    }
}

fn elicit(params: &Value, input: &mut impl BufRead, prompt: &mut impl Write) -> Result<Value, String> {
    let text = |key: &str| params.get(key).and_then(Value::as_str).unwrap_or_default();
    let _ = writeln!(prompt, "\nThe server asks: {}", text("message"));
    let mut content = Map::new();
    if params.get("mode").and_then(Value::as_str) == Some("url") {
        let _ = writeln!(prompt, "It wants you to open {}", text("url"));
    } else {
        let schema = params.get("requestedSchema").cloned().unwrap_or_else(|| json!({}));
        let fields = form::fields(&schema)?;
        for field in &fields {
            if let Some(value) = ask_field(field, input, prompt)? {
                content.insert(field.name.clone(), value);
            }
        }
        form::check(&fields, &content)?;
    }
    let _ = write!(prompt, "Send this answer? [Y]es, [n]o (decline), [c]ancel: ");
    let _ = prompt.flush();
    let action = match line(input).map(|l| l.trim().to_ascii_lowercase()) {
        Some(l) if l.is_empty() || l.starts_with('y') => "accept",
        Some(l) if l.starts_with('n') => "decline",
        _ => "cancel",
    };
    Ok(match action {
        "accept" if !content.is_empty() => json!({ "action": action, "content": content }),
        _ => json!({ "action": action }),
    })
}

/// One field: asked again until what is typed fits; Enter (or the end of input) takes the
/// default, or leaves an optional field out.
fn ask_field(field: &Field, input: &mut impl BufRead, prompt: &mut impl Write) -> Result<Option<Value>, String> {
    loop {
        let hint = match &field.kind {
            FieldKind::Boolean => " (yes/no)".to_owned(),
            FieldKind::Choice { options } | FieldKind::Choices { options, .. } => {
                format!(" ({})", options.iter().map(|o| o.label.as_str()).collect::<Vec<_>>().join(", "))
            }
            _ => String::new(),
        };
        let default = field.default.as_ref().map(|d| format!(" [{}]", shown(d))).unwrap_or_default();
        let required = if field.required { " *" } else { "" };
        let about = field.description.as_ref().map(|d| format!(" — {d}")).unwrap_or_default();
        let _ = write!(prompt, "  {}{required}{about}{hint}{default}: ", field.title);
        let _ = prompt.flush();
        let Some(typed) = line(input) else {
            return Ok(field.default.clone());
        };
        match field.parse(&typed) {
            Ok(Some(value)) => return Ok(Some(value)),
            Ok(None) if field.default.is_some() => return Ok(field.default.clone()),
            Ok(None) if !field.required => return Ok(None),
            Ok(None) => {
                let _ = writeln!(prompt, "  {} is required", field.title);
            }
            Err(why) => {
                let _ = writeln!(prompt, "  {why}");
            }
        }
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The next line, without its end; `None` at the end of input.
fn line(input: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Value {
        json!({
            "message": "Who are you?",
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "default": "John Doe"},
                    "age": {"type": "integer", "minimum": 0},
                    "verified": {"type": "boolean", "default": true}
                },
                "required": ["age"]
            }
        })
    }

    fn answer(params: &Value, typed: &str) -> (AskAnswer, String) {
        let mut prompt = Vec::new();
        let answer = ask(4, ELICITATION, params, &mut typed.as_bytes(), &mut prompt);
        (answer, String::from_utf8(prompt).unwrap())
    }

    #[test]
    fn enter_takes_each_default_and_a_bad_value_is_asked_again() {
        // The required age comes first; Enter alone does not do for it.
        let (answer, prompt) = answer(&form(), "\nforty\n41\n\n\n\n");
        assert_eq!(answer.ask_id, 4);
        assert_eq!(
            answer.result,
            Some(json!({"action": "accept", "content": {"name": "John Doe", "age": 41, "verified": true}}))
        );
        assert!(prompt.contains("name [John Doe]: "), "{prompt}");
        assert!(prompt.contains("age is required") && prompt.contains("age must be a whole number"), "{prompt}");
    }

    #[test]
    fn the_end_of_input_never_accepts_for_the_user() {
        let (ended, _) = answer(&form(), "41\n");
        assert_eq!(ended.result, Some(json!({"action": "cancel"})));
        let (declined, _) = answer(&form(), "41\n\n\nno\n");
        assert_eq!(declined.result, Some(json!({"action": "decline"})));
    }

    #[test]
    fn a_form_the_terminal_cannot_ask_is_an_error_to_the_server() {
        let nested = json!({"message": "x", "requestedSchema": {"properties": {"a": {"type": "object"}}}});
        let (refused, _) = answer(&nested, "");
        assert!(refused.error.unwrap().message.contains("\"a\" has type \"object\""));
        let sampling = super::ask(1, "sampling/createMessage", &json!({}), &mut "".as_bytes(), &mut Vec::new());
        assert!(sampling.error.is_some(), "sampling is the sidebar's to ask");
    }
}
