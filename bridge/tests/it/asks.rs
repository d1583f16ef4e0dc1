//! A server's elicitation and sampling requests that no waiting caller answers itself go to the
//! user in the sidebar (`asks.*`): the real server-everything asks for a form, a page to visit
//! and a sampling answer while the sidebar's own `tools.call` waits, and this test answers as
//! the user would — and as a hostile sidebar or server would.

use crate::support;

use std::time::Duration;

use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::{json, Value};
use support::{eventually, everything_launch, Client};

async fn with_everything(tag: &str) -> Client {
    let client = Client::start(tag).await;
    client.ok("servers.add", json!({"id": "everything", "launch": everything_launch("stdio")})).await;
    client.ok("servers.start", json!({"id": "everything"})).await;
    client.wait_for_state("everything", "running", Duration::from_secs(30)).await;
    client
}

/// [`with_everything`], with the scripted model as the user's active model.
async fn with_everything_and_a_model(tag: &str) -> (ScriptedModel, Client) {
    let model = ScriptedModel::start(vec![Model::new("llama3.2:3b")]).await;
    let client = with_everything(tag).await;
    client.ok("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "baseUrl": model.url()})).await;
    client.ok("llm.select", json!({"provider": "scripted", "model": "llama3.2:3b"})).await;
    (model, client)
}

/// The asks the last `asks.changed` listed.
fn shown(client: &Client) -> Value {
    client.notifications("asks.changed").last().map(|n| n["asks"].clone()).unwrap_or(json!([]))
}

async fn first_ask(client: &Client) -> Value {
    eventually("the server's request is shown", Duration::from_secs(20), || {
        shown(client).as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    shown(client)[0].clone()
}

fn text_of(result: &Value) -> String {
    result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn a_servers_form_is_shown_to_the_user_whose_checked_answer_reaches_the_server() {
    let client = with_everything("asks-form").await;
    // A call whose own timeout is 1 s: the user takes longer, and the call must not time out
    // while the server waits on a person.
    let call = client
        .send("tools.call", json!({"tool": "everything/trigger-elicitation-request", "args": {}, "timeoutMs": 1000}))
        .await;
    let ask = first_ask(&client).await;
    assert_eq!(ask["serverId"], "everything");
    assert_eq!(ask["callers"], json!(["you"]), "the sidebar's own call waits: {ask}");
    assert_eq!(ask["kind"], "form");
    assert!(ask["message"].as_str().unwrap().contains("Please provide inputs"));
    assert_eq!(ask["requestedSchema"]["required"], json!(["name"]));
    assert!(ask["expiresAt"].as_u64().unwrap() > 0);
    let listed = client.ok("asks.list", json!({})).await;
    assert_eq!(listed, json!([ask.clone()]), "asks.list shows what asks.changed showed");
    let id = ask["askId"].clone();

    // A hostile or careless answer never reaches the server, and the form stays open.
    let typed = client.err("asks.answer", json!({"askId": id, "action": "accept", "content": {"name": 5}})).await;
    assert_eq!(typed["code"], "ERR_INVALID_REQUEST");
    assert!(typed["message"].as_str().unwrap().contains("must be text"), "{typed}");
    let extra = json!({"askId": id, "action": "accept", "content": {"name": "Ada", "isAdmin": true}});
    assert!(client.err("asks.answer", extra).await["message"].as_str().unwrap().contains("no field \"isAdmin\""));
    let missing = client.err("asks.answer", json!({"askId": id, "action": "accept", "content": {}})).await;
    assert!(missing["message"].as_str().unwrap().contains("is required"), "{missing}");
    let range = json!({"askId": id, "action": "accept", "content": {"name": "Ada", "integer": 101}});
    assert!(client.err("asks.answer", range).await["message"].as_str().unwrap().contains("between 1 and 100"));
    assert_eq!(client.ok("asks.list", json!({})).await.as_array().unwrap().len(), 1, "the ask is still open");
    // A web page can neither read nor answer what a server asks the user.
    let page = support::page("https://evil.example", 3);
    for (method, params) in
        [("asks.list", json!({})), ("asks.answer", json!({"askId": id, "action": "accept", "content": {"name": "x"}}))]
    {
        let (outcome, _) = client.call_as(&page, method, params).await;
        assert_eq!(outcome.unwrap_err()["code"], "ERR_PERMISSION_DENIED", "{method} from a page");
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = json!({"askId": id, "action": "accept", "content": {
        "name": "Ada Lovelace", "integer": 7, "untitledMultipleSelectEnum": ["Piano"], "titledSingleSelectEnum": "hero-3"
    }});
    client.ok("asks.answer", answer).await;
    let (outcome, _) = client.wait(call).await;
    let result = outcome.unwrap_or_else(|e| panic!("the call outlived its 1 s timeout while the user answered: {e}"));
    let said = text_of(&result);
    assert!(said.contains("Name: Ada Lovelace") && said.contains("Favorite Integer: 7"), "{said}");

    // Answered, the ask is gone from every sidebar, and answering it again is refused.
    assert_eq!(shown(&client), json!([]));
    let again = client.err("asks.answer", json!({"askId": id, "action": "decline"})).await;
    assert!(again["message"].as_str().unwrap().contains("answered elsewhere"), "{again}");
    client.finish().await;
}

#[tokio::test]
async fn a_declined_form_reaches_the_server_as_declined_and_an_ended_call_closes_its_ask() {
    let client = with_everything("asks-decline").await;
    let call = client.send("tools.call", json!({"tool": "everything/trigger-elicitation-request", "args": {}})).await;
    let id = first_ask(&client).await["askId"].clone();
    client.ok("asks.answer", json!({"askId": id, "action": "decline"})).await;
    let (outcome, _) = client.wait(call).await;
    assert!(text_of(&outcome.unwrap()).contains("declined"));

    // The user walks away and the caller stops the call: the ask does not linger.
    let call = client.send("tools.call", json!({"tool": "everything/trigger-elicitation-request", "args": {}})).await;
    first_ask(&client).await;
    client.cancel(call).await;
    let (outcome, _) = client.wait(call).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_ABORTED");
    eventually("the stopped call's ask closes", Duration::from_secs(10), || shown(&client) == json!([])).await;
    assert_eq!(client.ok("asks.list", json!({})).await, json!([]));
    client.finish().await;
}

#[tokio::test]
async fn a_page_to_visit_is_shown_with_its_address_and_only_a_web_address_is_shown() {
    let client = with_everything("asks-url").await;
    let url = "https://consent.example.test/approve?id=7";
    let args = json!({"url": url, "message": "Approve the payment", "elicitationId": "e-7"});
    let call = client.send("tools.call", json!({"tool": "everything/trigger-url-elicitation", "args": args})).await;
    let ask = first_ask(&client).await;
    assert_eq!((ask["kind"].as_str(), ask["url"].as_str()), (Some("url"), Some(url)));
    assert_eq!((ask["elicitationId"].as_str(), ask["message"].as_str()), (Some("e-7"), Some("Approve the payment")));
    client.ok("asks.answer", json!({"askId": ask["askId"], "action": "accept"})).await;
    let (outcome, _) = client.wait(call).await;
    assert!(text_of(&outcome.unwrap()).to_lowercase().contains("accept"));

    // A server that asks the user to "open" a script or a local file gets an error instead.
    for hostile in ["javascript:alert(document.cookie)", "file:///etc/passwd"] {
        let args = json!({"url": hostile, "message": "Click me"});
        let (outcome, _) =
            client.call("tools.call", json!({"tool": "everything/trigger-url-elicitation", "args": args})).await;
        let said = match outcome {
            Ok(result) => text_of(&result),
            Err(error) => error.to_string(),
        };
        assert!(!said.to_lowercase().contains("accept"), "{hostile}: {said}");
        assert_eq!(shown(&client), json!([]), "{hostile} was never shown");
    }
    client.finish().await;
}

#[tokio::test]
async fn a_sampling_request_the_user_allows_is_answered_by_the_users_model_and_one_refused_is_an_error() {
    let (model, client) = with_everything_and_a_model("asks-sampling").await;
    model.push(Turn::words("Hello from your model."));
    let refused_text = |outcome: Result<Value, Value>| match outcome {
        Ok(result) => text_of(&result),
        Err(error) => error.to_string(),
    };

    // Asked first whether the model may answer; nothing reaches it before.
    let args = json!({"prompt": "Say hello", "maxTokens": 20});
    let call = client.send("tools.call", json!({"tool": "everything/trigger-sampling-request", "args": args})).await;
    let ask = first_ask(&client).await;
    assert_eq!((ask["kind"].as_str(), ask["maxTokens"].as_u64()), (Some("sampling"), Some(20)));
    assert!(ask["messages"].to_string().contains("Say hello") && ask.get("answer").is_none(), "{ask}");
    assert!(model.chat_requests().is_empty(), "nothing reaches the model before the user allows it");
    client.ok("asks.answer", json!({"askId": ask["askId"], "action": "accept"})).await;
    // Then shown the model's answer, which reaches the server only once sent.
    let ask_id = ask["askId"].clone();
    eventually("the model's answer is shown", Duration::from_secs(20), || {
        shown(&client).get(0).is_some_and(|a| a["askId"] != ask_id && a["answer"].is_string())
    })
    .await;
    let review = shown(&client)[0].clone();
    assert_eq!(review["answer"], "Hello from your model.");
    let sent = model.chat_requests();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.to_string().contains("Say hello"), "the server's messages went to the model");
    assert!(sent[0].body["tools"].as_array().is_none_or(Vec::is_empty), "sampling offers the model no tools");
    client.ok("asks.answer", json!({"askId": review["askId"], "action": "accept"})).await;
    let (outcome, _) = client.wait(call).await;
    assert!(text_of(&outcome.unwrap()).contains("Hello from your model."));

    // Refused before the model runs: it never does.
    let call = client.send("tools.call", json!({"tool": "everything/trigger-sampling-request", "args": args})).await;
    let ask = first_ask(&client).await;
    client.ok("asks.answer", json!({"askId": ask["askId"], "action": "decline"})).await;
    let refused = refused_text(client.wait(call).await.0);
    assert!(refused.contains("declined to let the model answer"), "{refused}");
    assert_eq!(model.chat_requests().len(), 1, "a refused request never reaches the model");

    // Refused after reading the answer: the server never gets it.
    model.push(Turn::words("A secret plan."));
    let call = client.send("tools.call", json!({"tool": "everything/trigger-sampling-request", "args": args})).await;
    let ask = first_ask(&client).await;
    client.ok("asks.answer", json!({"askId": ask["askId"], "action": "accept"})).await;
    let ask_id = ask["askId"].clone();
    eventually("the model's answer is shown", Duration::from_secs(20), || {
        shown(&client).get(0).is_some_and(|a| a["askId"] != ask_id && a["answer"].is_string())
    })
    .await;
    client.ok("asks.answer", json!({"askId": shown(&client)[0]["askId"], "action": "decline"})).await;
    let refused = refused_text(client.wait(call).await.0);
    assert!(refused.contains("declined to send") && !refused.contains("secret plan"), "{refused}");
    client.finish().await;
}

#[tokio::test]
async fn a_form_asked_during_the_chats_tool_call_names_the_chat_and_its_answer_reaches_the_model() {
    let (model, client) = with_everything_and_a_model("asks-chat").await;
    model.push(Turn::new().tool_call("everything__trigger-elicitation-request", json!({})));
    model.push(Turn::words("Thanks, Grace."));
    let session = client.ok("chat.sessions.create", json!({})).await["id"].clone();
    let turn = client
        .send(
            "chat.send",
            json!({"sessionId": session, "text": "Sign me up", "tools": ["everything/trigger-elicitation-request"]}),
        )
        .await;
    let ask = first_ask(&client).await;
    assert_eq!(ask["callers"], json!(["Harbor's chat"]), "{ask}");
    client
        .ok("asks.answer", json!({"askId": ask["askId"], "action": "accept", "content": {"name": "Grace Hopper"}}))
        .await;
    let (outcome, _) = client.wait(turn).await;
    assert_eq!(outcome.unwrap()["output"], "Thanks, Grace.");
    let second = model.chat_requests()[1].body.to_string();
    assert!(second.contains("Name: Grace Hopper"), "the tool's result, with the user's answer, went to the model");
    client.finish().await;
}

/// A server that refuses a call until the user has visited its page (MCP's URL elicitation
/// error, -32042, from the real server-everything, whose prerequisite page is its project's
/// site): the caller gets `ERR_URL_ELICITATION_REQUIRED` with the page, the sidebar shows the
/// page to the user, and the call made again goes through. A gateway app that takes no
/// elicitation gets MCP's own -32042 with the page, and the user is shown it naming the app.
#[tokio::test]
async fn a_page_the_server_needs_visited_first_is_shown_and_the_call_made_again_goes_through() {
    const PREREQUISITE: &str = "https://modelcontextprotocol.io";
    let client = with_everything("asks-visit").await;
    let args = json!({"url": "https://consent.example.test/grant", "message": "Grant access", "errorPath": true});
    let call = json!({"tool": "everything/trigger-url-elicitation", "args": args});
    let refused = client.err("tools.call", call.clone()).await;
    assert_eq!(refused["code"], "ERR_URL_ELICITATION_REQUIRED", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("call again"), "{refused}");
    assert_eq!(refused["data"]["elicitations"][0]["url"], PREREQUISITE);
    let ask = first_ask(&client).await;
    assert_eq!((ask["kind"].as_str(), ask["url"].as_str()), (Some("url"), Some(PREREQUISITE)));
    assert_eq!(ask["callers"], json!(["you"]));
    client.ok("asks.answer", json!({"askId": ask["askId"], "action": "accept"})).await;
    eventually("the visited page's ask closes", Duration::from_secs(5), || shown(&client) == json!([])).await;

    // Made again, the call goes through (this server then asks for its own page, answered too).
    let again = client.send("tools.call", call).await;
    let ask = first_ask(&client).await;
    assert_eq!(ask["url"], "https://consent.example.test/grant");
    client.ok("asks.answer", json!({"askId": ask["askId"], "action": "accept"})).await;
    let (outcome, _) = client.wait(again).await;
    assert!(outcome.is_ok(), "the call made again goes through: {outcome:?}");

    // Through the gateway, to an app that takes no elicitation: MCP's -32042 with the page.
    let status = client.ok("gateway.http.set", json!({"enabled": true, "port": 0})).await;
    let url = status["http"]["url"].as_str().unwrap().to_owned();
    let added = client.ok("gateway.clients.add", json!({"name": "agent", "allow": ["everything"]})).await;
    let app = support::mcp_http_client(&url, added["key"].as_str().unwrap()).await;
    let fresh = json!({"url": "https://consent.example.test/other", "message": "Grant access", "errorPath": true});
    let params = rmcp::model::CallToolRequestParams::new("everything__trigger-url-elicitation")
        .with_arguments(fresh.as_object().unwrap().clone());
    let rmcp::ServiceError::McpError(error) = app.call_tool(params).await.unwrap_err() else { panic!("not MCP's") };
    assert_eq!(error.code.0, -32042, "{error:?}");
    assert_eq!(error.data.unwrap()["elicitations"][0]["url"], PREREQUISITE);
    let ask = first_ask(&client).await;
    assert_eq!((ask["url"].as_str(), ask["callers"].clone()), (Some(PREREQUISITE), json!(["agent"])));
    client.ok("asks.answer", json!({"askId": ask["askId"], "action": "decline"})).await;
    app.cancel().await.unwrap();

    // A web page allowed the tool learns only that the user must visit a page; the page itself
    // is shown to the user, naming the site.
    const SITE: &str = "https://shop.example";
    support::set_grant(&client, SITE, "mcp:tools.call", "ALLOW_ALWAYS").await;
    client.ok("permissions.setTools", json!({"origin": SITE, "tools": ["everything/trigger-url-elicitation"]})).await;
    let third = json!({"url": "https://consent.example.test/third", "message": "Grant access", "errorPath": true});
    let asked = json!({"tool": "everything/trigger-url-elicitation", "args": third});
    let (outcome, _) = client.call_as(&support::page(SITE, 4), "agent.tools.call", asked).await;
    let refused = outcome.unwrap_err();
    assert_eq!(refused["code"], "ERR_URL_ELICITATION_REQUIRED");
    assert!(refused.get("data").is_none_or(Value::is_null), "the page is not told where: {refused}");
    let ask = first_ask(&client).await;
    assert_eq!((ask["url"].as_str(), ask["callers"].clone()), (Some(PREREQUISITE), json!([SITE])));
    client.finish().await;
}

/// With no sidebar — a headless `gateway serve` — a server's form for an app that takes no
/// elicitation fails at once; with `harbor-bridge asks` watching at a terminal, the user is asked
/// there, field by field, and the answer reaches the server.
#[tokio::test]
async fn a_terminal_watching_with_harbor_bridge_asks_answers_when_no_sidebar_is_there() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (_serving, home, url) = support::serve_headless("asks-terminal").await;
    let mut link = harbor_bridge::link::Link::open(&home).await.unwrap();
    support::admin(&mut link, "servers.add", json!({"id": "everything", "launch": everything_launch("stdio")})).await;
    support::admin(&mut link, "servers.start", json!({"id": "everything"})).await;
    let added =
        support::admin(&mut link, "gateway.clients.add", json!({"name": "agent", "allow": ["everything"]})).await;
    let app = support::mcp_http_client(&url, added["key"].as_str().unwrap()).await;
    let elicit = || rmcp::model::CallToolRequestParams::new("everything__trigger-elicitation-request");
    let alone = serde_json::to_value(app.call_tool(elicit()).await.unwrap()).unwrap();
    assert!(!text_of(&alone).contains("User provided"), "nobody was there to answer: {alone}");

    let mut terminal = tokio::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
        .arg("asks")
        .env("HARBOR_HOME", &home)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut said = tokio::io::BufReader::new(terminal.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), said.next_line()).await.unwrap().unwrap().unwrap();
    assert!(ready.contains("Waiting for what servers ask you"), "{ready}");
    // The user types the required name, then Enter at every other field and to send.
    let mut keys = terminal.stdin.take().unwrap();
    keys.write_all(format!("Ada Lovelace\n{}", "\n".repeat(16)).as_bytes()).await.unwrap();
    keys.flush().await.unwrap();
    let answered = serde_json::to_value(app.call_tool(elicit()).await.unwrap()).unwrap();
    assert!(text_of(&answered).contains("Name: Ada Lovelace"), "{answered}");
    app.cancel().await.unwrap();
    link.close().await;
}

/// A caller that answers the server's requests itself gets them as `ask` events of its own
/// call, whichever way it names the tool, and the sidebar is not asked.
#[tokio::test]
async fn a_caller_that_answers_itself_is_asked_on_its_own_call_by_either_name() {
    let client = with_everything("asks-self").await;
    for tool in ["everything/trigger-elicitation-request", "everything__trigger-elicitation-request"] {
        let params = json!({"tool": tool, "args": {}, "answers": ["elicitation/create"]});
        let call = client.send("tools.call", params).await;
        let event = client.first_event(call, Duration::from_secs(20)).await;
        assert_eq!(
            (event["type"].as_str(), event["method"].as_str()),
            (Some("ask"), Some("elicitation/create")),
            "{tool}"
        );
        assert_eq!(shown(&client), json!([]), "{tool}: the sidebar is not asked");
        let answer = json!({"askId": event["askId"], "result": {"action": "accept", "content": {"name": "Ada"}}});
        client.ok("tools.answer", answer).await;
        let (outcome, _) = client.wait(call).await;
        assert!(text_of(&outcome.unwrap()).contains("Name: Ada"), "{tool}");
    }
    client.finish().await;
}

/// A server's `roots/list` is answered with the folders the user granted it (its sandbox
/// folders), and a server with none granted is offered no roots at all.
#[tokio::test]
async fn a_server_asking_for_roots_gets_only_the_folders_the_user_granted_it() {
    let client = Client::start("asks-roots").await;
    let granted = std::env::temp_dir().join(format!("harbor-roots-{}", std::process::id()));
    std::fs::create_dir_all(&granted).unwrap();
    client.ok("servers.add", json!({"id": "board", "launch": support::fixture_launch("app_server.py")})).await;
    client.ok("servers.start", json!({"id": "board"})).await;
    client.wait_for_state("board", "running", Duration::from_secs(30)).await;
    let none = client.ok("tools.call", json!({"tool": "board/roots"})).await;
    assert_eq!(text_of(&none), "no roots capability");
    let folder = granted.to_str().unwrap();
    let sandbox = json!({"enabled": false, "folders": [folder]});
    client.ok("servers.update", json!({"id": "board", "sandbox": sandbox})).await;
    client.ok("servers.restart", json!({"id": "board"})).await;
    client.wait_for_state("board", "running", Duration::from_secs(30)).await;
    let listed = client.ok("tools.call", json!({"tool": "board/roots"})).await;
    let name = granted.file_name().unwrap().to_str().unwrap();
    assert_eq!(text_of(&listed), format!("{name}=file://{folder}"));
    client.finish().await;
    let _ = std::fs::remove_dir_all(&granted);
}

/// What a server logs over MCP (`notifications/message`) is kept in its log view, beside its
/// stderr, marked as the server's MCP log with its level.
#[tokio::test]
async fn a_servers_mcp_log_messages_are_in_its_log() {
    let client = Client::start("asks-log").await;
    client.ok("servers.add", json!({"id": "board", "launch": support::fixture_launch("app_server.py")})).await;
    client.ok("servers.start", json!({"id": "board"})).await;
    client.wait_for_state("board", "running", Duration::from_secs(30)).await;
    client.ok("tools.call", json!({"tool": "board/note", "args": {"text": "the board was wiped"}})).await;
    let mut found = Value::Null;
    for _ in 0..100 {
        let lines = client.ok("servers.logs", json!({"id": "board"})).await;
        if let Some(line) = lines.as_array().unwrap().iter().find(|l| l["stream"] == "mcp") {
            found = line.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(found["text"], "[info] the board was wiped", "{found}");
    client.finish().await;
}
