//! Models and chat: the agent loop against a scripted model server that speaks Ollama's and
//! OpenAI's wire formats exactly (tests/model-double — Ollama itself cannot run here), with real
//! MCP servers (`mcp-server-time` from PyPI, `server-everything` and `server-filesystem` from
//! npm) answering the tool calls. Driven through the bridge's own methods over the same framing
//! Firefox uses.

use crate::support;

use std::time::{Duration, Instant};

use harbor_bridge::chat::select::select;
use harbor_bridge::mcp::registry::ToolEntry;
use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::{json, Value};
use support::{everything_launch, filesystem_launch, free_port, time_launch, Client};

const MODEL: &str = "llama3.2:3b";

/// A bridge whose active provider is `model`, speaking `wire` (`ollama` or `openai`).
async fn harbor(tag: &str, model: &ScriptedModel, wire: &str) -> Client {
    let client = Client::start(tag).await;
    client
        .ok("llm.setProvider", json!({"id": "scripted", "kind": wire, "name": "Scripted", "baseUrl": model.url()}))
        .await;
    client.ok("llm.select", json!({"provider": "scripted", "model": MODEL})).await;
    client
}

async fn with_time_server(client: &Client) {
    client.ok("servers.add", json!({"id": "time", "launch": time_launch()})).await;
    client.ok("servers.start", json!({"id": "time"})).await;
}

async fn new_session(client: &Client) -> String {
    client.ok("chat.sessions.create", json!({})).await["id"].as_str().unwrap().to_owned()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn roles(messages: &Value) -> Vec<String> {
    messages.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap().to_owned()).collect()
}

/// The whole loop with a real tool: the model asks for the time in Tokyo, the time server
/// answers, the model's second request carries that answer, and the final answer streams in as
/// separate tokens. The conversation is stored with its tool call and result.
async fn a_turn_with_a_real_tool(wire: &str) {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor(&format!("tool-turn-{wire}"), &model, wire).await;
    with_time_server(&client).await;
    let session = new_session(&client).await;
    model.push(Turn::new().tool_call("time__get_current_time", json!({"timezone": "Asia/Tokyo"})));
    model.push(Turn::words("In Tokyo it is evening."));

    let (outcome, events) =
        client.call("chat.send", json!({"sessionId": session, "text": "What time is it in Tokyo?"})).await;
    let reply = outcome.unwrap_or_else(|e| panic!("the turn failed: {e}"));
    assert_eq!(reply["output"], "In Tokyo it is evening.");
    assert_eq!(reply["toolCalls"], 1);
    assert!(reply["usage"]["completionTokens"].as_u64().unwrap() > 0, "{reply}");

    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["tool_call", "tool_result", "token", "token", "token", "token", "token", "final"], "{events:?}");
    assert_eq!(events[0]["tool"], "time/get_current_time");
    assert_eq!(events[0]["args"], json!({"timezone": "Asia/Tokyo"}));
    let real = events[1]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(real.contains("Asia/Tokyo") && real.contains("+09:00"), "the real server answered: {real}");

    let requests = model.chat_requests();
    assert_eq!(requests.len(), 2);
    let offered: Vec<&str> =
        requests[0].body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert!(offered.contains(&"time__get_current_time"), "{offered:?}");
    let sent_back = requests[1].body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(sent_back["role"], "tool");
    assert!(sent_back["content"].as_str().unwrap().contains("+09:00"), "the tool's output went back: {sent_back}");
    if wire == "openai" {
        assert_eq!(sent_back["tool_call_id"], "call_0");
    } else {
        assert_eq!(sent_back["tool_name"], "time__get_current_time");
    }

    let stored = client.ok("chat.sessions.get", json!({"id": session})).await;
    assert_eq!(roles(&stored["messages"]), ["user", "assistant", "tool", "assistant"]);
    assert_eq!(stored["messages"][1]["toolCalls"][0]["name"], "time__get_current_time");
    assert_eq!(stored["session"]["title"], "What time is it in Tokyo?");
    assert_eq!(stored["session"]["model"], MODEL);

    // The chat's tool call went through the policy pipeline and is audited as the user's chat.
    let audit = client.ok("audit.list", json!({"origin": "sidebar"})).await;
    let entry = &audit[0];
    assert_eq!(
        (&entry["caller"], &entry["method"], &entry["tool"], &entry["outcome"]),
        (&json!("chat"), &json!("chat.send"), &json!("time/get_current_time"), &json!("ok")),
        "{audit}"
    );
    assert!(!audit.to_string().contains("Asia/Tokyo"), "no arguments in the audit: {audit}");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_ollama_model_calls_a_real_tool_and_answers_with_its_result() {
    a_turn_with_a_real_tool("ollama").await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_openai_compatible_model_calls_a_real_tool_and_answers_with_its_result() {
    a_turn_with_a_real_tool("openai").await;
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_reach_the_caller_while_the_model_is_still_writing() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor("streaming", &model, "ollama").await;
    let session = new_session(&client).await;
    model.push(Turn::new().text("First ").pause(Duration::from_millis(1500)).text("second."));
    let id = client.send("chat.send", json!({"sessionId": session, "text": "hi"})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = client.events_so_far(id);
        if let Some(token) = of_type(&events, "token").first() {
            assert_eq!(token["token"], "First ");
            break;
        }
        assert!(Instant::now() < deadline, "no token arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(model.sent().len(), 1, "the first token arrived before the model wrote the second");
    let (outcome, events) = client.wait(id).await;
    assert_eq!(outcome.unwrap()["output"], "First second.");
    assert_eq!(of_type(&events, "token").len(), 2);
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn stopping_mid_answer_hangs_up_on_the_model_and_keeps_the_session_usable() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor("stop", &model, "openai").await;
    let session = new_session(&client).await;
    model.push(Turn::new().text("Once upon ").hang());
    let id = client.send("chat.send", json!({"sessionId": session, "text": "tell me a story"})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while of_type(&client.events_so_far(id), "token").is_empty() {
        assert!(Instant::now() < deadline, "no token arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.cancel(id).await;
    let (outcome, _) = client.wait(id).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_ABORTED");
    let deadline = Instant::now() + Duration::from_secs(5);
    while model.hangups() == 0 {
        assert!(Instant::now() < deadline, "the model's connection stayed open after stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // What the user saw is kept, and the session takes the next message at once.
    let mut stored = client.ok("chat.sessions.get", json!({"id": session})).await;
    for _ in 0..50 {
        if roles(&stored["messages"]).len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored = client.ok("chat.sessions.get", json!({"id": session})).await;
    }
    assert_eq!(roles(&stored["messages"]), ["user", "assistant"]);
    assert_eq!(stored["messages"][1]["content"], "Once upon ");
    model.push(Turn::words("Fine."));
    let next = client.ok("chat.send", json!({"sessionId": session, "text": "go on"})).await;
    assert_eq!(next["output"], "Fine.");
    let history = &model.chat_requests()[1].body["messages"];
    assert_eq!(roles(history), ["system", "user", "assistant", "user"]);
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn stopping_during_a_tool_call_cancels_it_and_answers_every_call() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor("stop-tool", &model, "ollama").await;
    client.ok("servers.add", json!({"id": "every", "launch": everything_launch("stdio")})).await;
    client.ok("servers.start", json!({"id": "every"})).await;
    let session = new_session(&client).await;
    model.push(Turn::new().tool_call("every__trigger-long-running-operation", json!({"duration": 20, "steps": 20})));
    let id = client.send("chat.send", json!({"sessionId": session, "text": "run the long thing"})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while of_type(&client.events_so_far(id), "tool_call").is_empty() {
        assert!(Instant::now() < deadline, "the tool call did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopped = Instant::now();
    client.cancel(id).await;
    assert_eq!(client.wait(id).await.0.unwrap_err()["code"], "ERR_ABORTED");
    // The run records the cancelled call; the 20-second tool is not waited for.
    let deadline = Instant::now() + Duration::from_secs(5);
    let stored = loop {
        let stored = client.ok("chat.sessions.get", json!({"id": session})).await;
        if roles(&stored["messages"]).len() == 3 {
            break stored;
        }
        assert!(Instant::now() < deadline, "the stopped turn was not stored: {stored}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(stopped.elapsed() < Duration::from_secs(5));
    assert_eq!(roles(&stored["messages"]), ["user", "assistant", "tool"]);
    assert_eq!(stored["messages"][2]["content"], "Cancelled by the user.");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn tool_errors_and_unknown_tools_are_told_to_the_model_which_recovers() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor("tool-errors", &model, "openai").await;
    with_time_server(&client).await;
    let session = new_session(&client).await;
    model.push(
        Turn::new()
            .tool_call("weather__forecast", json!({"city": "Oslo"}))
            .tool_call("time__get_current_time", json!({"timezone": "Not/AZone"})),
    );
    model.push(Turn::words("I could not find that."));
    let (outcome, events) = client.call("chat.send", json!({"sessionId": session, "text": "weather?"})).await;
    assert_eq!(outcome.unwrap()["output"], "I could not find that.");
    let results = of_type(&events, "tool_result");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["error"]["code"], "ERR_TOOL_NOT_FOUND");
    let time_failed = results[1]["error"].is_object() || results[1]["result"]["isError"] == true;
    assert!(time_failed, "an unknown zone is an error: {}", results[1]);
    let told: Vec<String> = model.chat_requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(told.len(), 2);
    assert!(
        told[0].contains("no tool named \"weather__forecast\"") && told[0].contains("time__get_current_time"),
        "{told:?}"
    );
    assert!(told[1].to_lowercase().contains("error"), "{told:?}");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_tool_call_limit_stops_a_run_and_the_session_stays_valid() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor("limit", &model, "openai").await;
    with_time_server(&client).await;
    client.ok("chat.settings.set", json!({"maxToolCalls": 2})).await;
    let session = new_session(&client).await;
    let call = json!({"timezone": "UTC"});
    model.push(
        Turn::new()
            .tool_call("time__get_current_time", call.clone())
            .tool_call("time__get_current_time", call.clone())
            .tool_call("time__get_current_time", call),
    );
    let (outcome, events) = client.call("chat.send", json!({"sessionId": session, "text": "time x3"})).await;
    let error = outcome.unwrap_err();
    assert_eq!(error["code"], "ERR_BUDGET_EXCEEDED", "{error}");
    assert_eq!(of_type(&events, "tool_result").len(), 2, "two calls ran");
    assert_eq!(of_type(&events, "error")[0]["error"]["code"], "ERR_BUDGET_EXCEEDED");
    let stored = client.ok("chat.sessions.get", json!({"id": session})).await;
    assert_eq!(roles(&stored["messages"]), ["user", "assistant", "tool", "tool", "tool"]);
    assert!(stored["messages"][4]["content"].as_str().unwrap().contains("limit of 2"));
    // Every call has its answer, so an OpenAI server takes the history as it is.
    model.push(Turn::words("Done."));
    assert_eq!(client.ok("chat.send", json!({"sessionId": session, "text": "and now?"})).await["output"], "Done.");
    let history = model.chat_requests()[1].body["messages"].clone();
    let ids: Vec<&str> = history.as_array().unwrap().iter().filter_map(|m| m["tool_call_id"].as_str()).collect();
    assert_eq!(ids, ["call_0", "call_1", "call_2"]);
    let bad = client.err("chat.settings.set", json!({"maxToolCalls": 0})).await;
    assert_eq!(bad["code"], "ERR_INVALID_REQUEST");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_provider_that_is_down_says_where_it_looked_and_what_to_do() {
    let client = Client::start("down").await;
    let url = format!("http://127.0.0.1:{}", free_port());
    client.ok("llm.setProvider", json!({"id": "local", "kind": "ollama", "baseUrl": url})).await;
    client.ok("llm.select", json!({"provider": "local"})).await;
    let session = new_session(&client).await;
    let error = client.err("chat.send", json!({"sessionId": session, "text": "hello"})).await;
    assert_eq!(error["code"], "ERR_MODEL_UNAVAILABLE", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&url) && message.contains("ollama serve"), "{message}");
    assert!(error["data"]["url"].as_str().unwrap().starts_with(&url));
    let stored = client.ok("chat.sessions.get", json!({"id": session})).await;
    assert_eq!(stored["messages"], json!([]), "nothing half-written");
    let providers = client.ok("llm.providers", json!({})).await;
    let local = providers["providers"].as_array().unwrap().iter().find(|p| p["id"] == "local").unwrap().clone();
    assert_eq!(local["available"], false);
    assert!(local["error"].as_str().unwrap().contains(&url));
    let bad = client.err("llm.setProvider", json!({"id": "x", "kind": "ollama", "baseUrl": "file:///etc"})).await;
    assert_eq!(bad["code"], "ERR_INVALID_REQUEST");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_or_failed_provider_answers_give_model_failed() {
    for wire in ["ollama", "openai"] {
        let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
        let client = harbor(&format!("malformed-{wire}"), &model, wire).await;
        let session = new_session(&client).await;
        let cases = [
            (Turn::new().text("Hel").garbage("<html>502 Bad Gateway</html>"), "not JSON"),
            (Turn::fail(500, "CUDA out of memory"), "CUDA out of memory"),
            (Turn::new().text("Hel").cut(), "before finishing"),
        ];
        for (turn, says) in cases {
            model.push(turn);
            let error = client.err("chat.send", json!({"sessionId": session, "text": "hello"})).await;
            assert_eq!(error["code"], "ERR_MODEL_FAILED", "{wire}: {error}");
            assert!(error["message"].as_str().unwrap().contains(says), "{wire}: {error}");
        }
        let unknown = client.err("chat.send", json!({"sessionId": session, "text": "hi", "model": "ghost"})).await;
        assert!(unknown["message"].as_str().unwrap().contains("not found"), "{unknown}");
        let stored = client.ok("chat.sessions.get", json!({"id": session})).await;
        assert!(roles(&stored["messages"]).iter().all(|r| r == "user"), "only the user's messages: {stored}");
        client.finish().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_model_without_native_tools_calls_them_in_the_text_format() {
    let model = ScriptedModel::start(vec![Model::new(MODEL).without_tools()]).await;
    let client = harbor("text-tools", &model, "ollama").await;
    with_time_server(&client).await;
    let session = new_session(&client).await;
    model.push(
        Turn::new()
            .text("Let me look. ")
            .text("<tool_call>{\"name\": \"time__get_current_time\", ")
            .text("\"arguments\": {\"timezone\": \"Europe/Paris\"}}</tool_call>"),
    );
    model.push(Turn::words("It is late in Paris."));
    let (outcome, events) = client.call("chat.send", json!({"sessionId": session, "text": "Time in Paris?"})).await;
    assert_eq!(outcome.unwrap()["output"], "It is late in Paris.");
    assert!(of_type(&events, "status")[0]["message"].as_str().unwrap().contains("text format"));
    let shown: String = of_type(&events, "token").iter().map(|e| e["token"].as_str().unwrap()).collect();
    assert_eq!(shown, "Let me look. It is late in Paris.", "the raw call is never shown");
    assert_eq!(of_type(&events, "tool_result")[0]["result"]["isError"], false);
    let requests = model.chat_requests();
    // Refused with tools, then asked in the text format, then given the result.
    assert_eq!(requests.len(), 3);
    assert!(requests[1].body.get("tools").is_none());
    assert!(requests[1].body["messages"][0]["content"].as_str().unwrap().contains("<tool_call>"));
    let last = requests[2].body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert!(last["content"].as_str().unwrap().starts_with("Tool result for time__get_current_time:"));
    client.finish().await;
}

/// Real tool lists (everything, filesystem, time) among distractors from other well-known
/// servers' tool sets, 200 in all: the relevant tool is in the top five for each message.
#[tokio::test(flavor = "current_thread")]
async fn tool_selection_finds_the_relevant_tool_among_200() {
    let client = Client::start("select").await;
    let root = client.home.join("files");
    std::fs::create_dir_all(&root).unwrap();
    client.ok("servers.add", json!({"id": "every", "launch": everything_launch("stdio")})).await;
    client.ok("servers.add", json!({"id": "files", "launch": filesystem_launch(&root)})).await;
    for id in ["every", "files"] {
        client.ok("servers.start", json!({ "id": id })).await;
    }
    with_time_server(&client).await;
    let real: Vec<ToolEntry> = serde_json::from_value(client.ok("tools.list", json!({})).await).unwrap();
    let mut tools = real.clone();
    let distractors: Vec<ToolEntry> =
        serde_json::from_str(include_str!("../fixtures/distractor-tools.json")).expect("the fixture is a tool list");
    tools.extend(distractors.into_iter().take(200 - real.len()));
    assert_eq!(tools.len(), 200, "{} real tools", real.len());

    let cases = [
        ("What time is it in Tokyo right now?", "time/get_current_time"),
        ("Convert 3pm New York time to Berlin time", "time/convert_time"),
        ("List the files in my projects directory", "files/list_directory"),
        // server-filesystem keeps `read_file` as the older name of `read_text_file`.
        ("Read the contents of notes.txt", "files/read_text_file|files/read_file"),
        ("Search for files named invoice", "files/search_files"),
        ("Add the numbers 17 and 25", "every/get-sum"),
        ("Echo back the message hello", "every/echo"),
    ];
    for (message, expected) in cases {
        let picked: Vec<&str> = select(&tools, message, 5).into_iter().map(|i| tools[i].name.as_str()).collect();
        let found = expected.split('|').any(|name| picked.contains(&name));
        assert!(found, "{message:?}: expected {expected} in {picked:?}");
    }

    // Through the chat: with a limit of 3, the model is offered the 3 most relevant and the stream
    // says which.
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    client.ok("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "baseUrl": model.url()})).await;
    client.ok("llm.select", json!({"provider": "scripted", "model": MODEL})).await;
    client.ok("chat.settings.set", json!({"maxTools": 3})).await;
    let session = new_session(&client).await;
    model.push(Turn::words("Noon."));
    let (outcome, events) =
        client.call("chat.send", json!({"sessionId": session, "text": "What time is it in Tokyo?"})).await;
    outcome.unwrap();
    let status = of_type(&events, "status")[0];
    assert!(status["message"].as_str().unwrap().contains(&format!("3 most relevant of {}", real.len())), "{status}");
    assert!(status["tools"].as_array().unwrap().contains(&json!("time/get_current_time")), "{status}");
    assert_eq!(model.chat_requests()[0].body["tools"].as_array().unwrap().len(), 3);
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_session_survives_a_bridge_restart_and_continues() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor("restart", &model, "ollama").await;
    let session = new_session(&client).await;
    model.push(Turn::words("Hello, Ada."));
    client.ok("chat.send", json!({"sessionId": session, "text": "I am Ada."})).await;
    client.ok("chat.sessions.rename", json!({"id": session, "title": "Ada"})).await;
    let home = client.home.clone();
    client.finish().await;

    let client = Client::open(home).await;
    let listed = client.ok("chat.sessions.list", json!({})).await;
    assert_eq!(listed[0]["id"], session.as_str());
    assert_eq!(listed[0]["title"], "Ada");
    assert_eq!(listed[0]["messageCount"], 2);
    model.push(Turn::words("You are Ada."));
    assert_eq!(
        client.ok("chat.send", json!({"sessionId": session, "text": "Who am I?"})).await["output"],
        "You are Ada."
    );
    let history = &model.chat_requests()[1].body["messages"];
    assert_eq!(history[1]["content"], "I am Ada.");
    assert_eq!(history[2]["content"], "Hello, Ada.");
    client.ok("chat.sessions.delete", json!({"id": session})).await;
    assert_eq!(client.ok("chat.sessions.list", json!({})).await, json!([]));
    let gone = client.err("chat.send", json!({"sessionId": session, "text": "hi"})).await;
    assert_eq!(gone["code"], "ERR_INVALID_REQUEST");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn models_are_listed_and_plain_prompts_stream_for_both_wire_formats() {
    for wire in ["ollama", "openai"] {
        let model = ScriptedModel::start(vec![Model::new(MODEL), Model::new("qwen3:8b")]).await;
        let client = harbor(&format!("prompt-{wire}"), &model, wire).await;
        let models = client.ok("llm.models", json!({})).await;
        let names: Vec<&str> = models.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
        assert_eq!(names, [MODEL, "qwen3:8b"], "{wire}");
        let providers = client.ok("llm.providers", json!({})).await;
        let scripted =
            providers["providers"].as_array().unwrap().iter().find(|p| p["id"] == "scripted").unwrap().clone();
        assert_eq!((scripted["available"].clone(), scripted["isDefault"].clone()), (json!(true), json!(true)));
        assert_eq!(providers["active"]["model"], MODEL);

        model.push(Turn::words("Bonjour tout le monde"));
        let messages =
            json!([{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello everyone"}]);
        let (outcome, events) = client.call("llm.prompt", json!({ "messages": messages, "temperature": 0.2 })).await;
        let reply = outcome.unwrap();
        assert_eq!(reply["output"], "Bonjour tout le monde");
        assert_eq!(of_type(&events, "token").len(), 4, "{wire}");
        let body = &model.chat_requests()[0].body;
        assert_eq!(body["messages"][0]["content"], "Answer in French.");
        assert_eq!(body["stream"], true);
        let temperature = if wire == "ollama" { &body["options"]["temperature"] } else { &body["temperature"] };
        assert_eq!(*temperature, json!(0.2));
        client.finish().await;
    }
}

/// An OpenAI-compatible server's API key goes to the keychain and is sent as a bearer token; it
/// is never shown back, kept across a change of URL, and forgotten with the provider.
#[tokio::test(flavor = "current_thread")]
async fn an_api_key_is_sent_as_a_bearer_token_and_kept_only_in_the_keychain() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = Client::start("api-key").await;
    let key = "sk-harbor-test-8d1f";
    let params = json!({"id": "hosted", "kind": "openai", "baseUrl": model.url(), "apiKey": key});
    let saved = client.ok("llm.setProvider", params).await;
    assert!(!saved.to_string().contains(key), "the key is not echoed: {saved}");
    client.ok("llm.models", json!({"provider": "hosted"})).await;
    let sent = model.requests().last().unwrap().headers.clone();
    let auth = sent.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some("Bearer sk-harbor-test-8d1f"));

    // A change of name keeps the key; the listing never shows it.
    client
        .ok("llm.setProvider", json!({"id": "hosted", "kind": "openai", "name": "Hosted", "baseUrl": model.url()}))
        .await;
    client.ok("llm.models", json!({"provider": "hosted"})).await;
    let sent = model.requests().last().unwrap().headers.clone();
    assert!(sent.iter().any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v.ends_with(key)));
    let listed = client.ok("llm.providers", json!({})).await;
    assert!(!listed.to_string().contains(key) && !client.transcript().contains(key));
    let db = std::fs::read(client.home.join("harbor.db")).unwrap();
    let wal = std::fs::read(client.home.join("harbor.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "the key is not in the database");
    }

    client.ok("llm.removeProvider", json!({"id": "hosted"})).await;
    let status = client.ok("secrets.status", json!({})).await;
    assert!(status["secrets"].as_array().unwrap().iter().all(|s| s["id"] != "llm/hosted"), "{status}");
    client.finish().await;
}

/// A tool's progress reports reach the chat as `progress` events of its call, between the call
/// and its result (the sidebar draws them as a bar on the tool's card).
#[tokio::test(flavor = "current_thread")]
async fn a_tools_progress_reaches_the_chat_as_events_of_its_call() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor("chat-progress", &model, "ollama").await;
    client.ok("servers.add", json!({"id": "every", "launch": everything_launch("stdio")})).await;
    client.ok("servers.start", json!({"id": "every"})).await;
    client.wait_for_state("every", "running", Duration::from_secs(30)).await;
    let session = new_session(&client).await;
    model.push(Turn::new().tool_call("every__trigger-long-running-operation", json!({"duration": 1, "steps": 3})));
    model.push(Turn::new().text("Done."));
    let (answer, events) = client.call("chat.send", json!({"sessionId": session, "text": "run it"})).await;
    assert_eq!(answer.unwrap()["output"], "Done.");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let call = of_type(&events, "tool_call")[0]["id"].clone();
    let reports = of_type(&events, "progress");
    assert!(reports.len() >= 2, "{kinds:?}");
    assert!(reports.iter().all(|r| r["id"] == call && r["total"].as_f64() == Some(3.0)), "{reports:?}");
    let first = kinds.iter().position(|k| *k == "progress").unwrap();
    let result = kinds.iter().position(|k| *k == "tool_result").unwrap();
    assert!(kinds.iter().position(|k| *k == "tool_call").unwrap() < first && first < result, "{kinds:?}");
    client.finish().await;
}

/// A server's skills are listed (`skills.list`), and one the user loads goes to the model with
/// the turn; a skill the server does not list is refused, not read.
#[tokio::test(flavor = "current_thread")]
async fn a_skill_the_user_loads_reaches_the_model_with_the_turn() {
    let model = ScriptedModel::start(vec![Model::new(MODEL)]).await;
    let client = harbor("chat-skills", &model, "ollama").await;
    let launch = crate::support::fixture_launch("skills_server.py");
    client.ok("servers.add", json!({"id": "coffee", "launch": launch})).await;
    client.ok("servers.start", json!({"id": "coffee"})).await;
    client.wait_for_state("coffee", "running", Duration::from_secs(30)).await;
    with_time_server(&client).await;
    let skills = client.ok("skills.list", json!({})).await;
    let skills = skills.as_array().unwrap();
    assert_eq!(skills.len(), 1, "only the server that serves skills: {skills:?}");
    assert_eq!(skills[0]["serverId"], "coffee");
    assert_eq!(skills[0]["frontmatter"]["name"], "brew");
    let uri = skills[0]["uri"].clone();

    let session = new_session(&client).await;
    model.push(Turn::new().text("Grinding first."));
    let loaded = json!({"sessionId": session, "text": "make coffee", "skills": [{"serverId": "coffee", "uri": uri}]});
    assert_eq!(client.ok("chat.send", loaded).await["output"], "Grinding first.");
    let sent = model.chat_requests().last().unwrap().body["messages"].to_string();
    assert!(sent.contains("Grind, then pour.") && sent.contains("\\\"brew\\\" of the server coffee"), "{sent}");

    // The model can load it too, through the chat's own tool, which names the skills there are.
    model.push(Turn::new().tool_call("harbor__load_skill", json!({"skill": "coffee/brew"})));
    model.push(Turn::new().tool_call("harbor__load_skill", json!({"skill": "coffee/espresso"})));
    model.push(Turn::new().text("Loaded."));
    let (answer, events) = client.call("chat.send", json!({"sessionId": session, "text": "what can you brew?"})).await;
    assert_eq!(answer.unwrap()["output"], "Loaded.");
    let offered = model.chat_requests().last().unwrap().body["tools"].clone();
    let tool = offered.as_array().unwrap().iter().find(|t| t["function"]["name"] == "harbor__load_skill");
    let tool = tool.unwrap_or_else(|| panic!("the skill tool is offered: {offered}"));
    assert_eq!(tool["function"]["parameters"]["properties"]["skill"]["enum"], json!(["coffee/brew"]));
    let results = of_type(&events, "tool_result");
    assert!(results[0]["result"]["content"][0]["text"].as_str().unwrap().contains("Grind, then pour."), "{results:?}");
    assert!(results[1]["error"]["message"].as_str().unwrap().contains("the skills are: coffee/brew"), "{results:?}");

    let other =
        json!({"sessionId": session, "text": "again", "skills": [{"serverId": "coffee", "uri": "file:///etc/passwd"}]});
    let refused = client.err("chat.send", other).await;
    assert!(refused["message"].as_str().unwrap().contains("has no skill at file:///etc/passwd"), "{refused}");
    client.finish().await;
}
