//! The built-in model: GGUF models run by the bridge itself, on the CPU, in pure Rust (candle's
//! quantized llama), so the chat and pages have a model with no model server installed.
//!
//! - [`tokenizer`] — the model's byte-level BPE, built from the GGUF's metadata;
//! - [`model`] — loading a GGUF file and feeding it tokens ([`model::Decoder`]);
//! - [`prompt`] — the conversation as ChatML, tools and their results in the system turn;
//! - [`guided`] — generation the host steers: free text, or JSON whose structure Harbor writes
//!   and whose values the model fills, token by token among those that keep it valid.
//!
//! One engine thread per bridge runs every answer, one at a time, from a queue of at most
//! [`QUEUE`] (a fuller queue is refused at once, never waited on); the runtime's threads never
//! compute. A stream dropped by its caller (a stop, a closed page) ends the answer at the next
//! token. The engine keeps the last model it loaded, and lets it go after [`idle_unload`] with
//! no answer (five minutes unless `HARBOR_MODEL_IDLE_SECONDS` says otherwise), giving its memory
//! back to the system; nothing is loaded (and no thread started) before the first answer. The threads the maths uses are set at start (`HARBOR_MODEL_THREADS`,
//! else one on machines of two cores or fewer — measured faster beside a browser — else half).
//!
//! With tools, every answer is a step the engine steers: `{"tool_call": {"name", "arguments"}}`
//! or `{"response": "…"}`, the branch and the tool's name chosen among the valid ones, each
//! required argument written by type (a string, a number, a boolean, one of an `enum`). The
//! `response` streams to the caller as it is written. Small models that never emit a tool call
//! by themselves call tools this way (`real-parts.md`: SmolLM2 10/10 with constrained output).

pub mod guided;
pub mod model;
pub mod prompt;
pub mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::{
    ChatRequest, Delta, DeltaStream, LlmError, ModelInfo, Provider, ProviderConfig, ToolCall, ToolSpec, Usage,
};
use guided::{Sampler, Writer};
use model::{Decoder, Loaded, ModelError};

/// How many answers may wait for the engine.
pub const QUEUE: usize = 8;

/// The most tokens one answer may take.
const ANSWER_TOKENS: usize = 1024;

/// The longest string value a tool call's argument may take, in tokens.
const ARGUMENT_TOKENS: usize = 64;

/// One answer for the engine thread.
type Job = Box<dyn FnOnce(&mut Option<Loaded>) + Send>;

/// The engine thread's queue.
struct Engine {
    jobs: SyncSender<Job>,
}

/// How long a loaded model stays with no answer to give, in milliseconds.
static IDLE_UNLOAD_MS: AtomicU64 = AtomicU64::new(0);
/// Whether a model is loaded now.
static LOADED: AtomicBool = AtomicBool::new(false);

/// How long a loaded model stays with no answer: `HARBOR_MODEL_IDLE_SECONDS`, else five minutes
/// (unless [`set_idle_unload`] changed it).
pub fn idle_unload() -> Duration {
    let set = IDLE_UNLOAD_MS.load(Ordering::Relaxed);
    if set > 0 {
        return Duration::from_millis(set);
    }
    let seconds = std::env::var("HARBOR_MODEL_IDLE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300u64);
    Duration::from_secs(seconds.max(1))
}

/// Changes how long a loaded model stays idle (from the next wait on).
pub fn set_idle_unload(after: Duration) {
    IDLE_UNLOAD_MS.store(after.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// Whether the engine holds a model in memory now.
pub fn is_loaded() -> bool {
    LOADED.load(Ordering::Relaxed)
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let spawned = std::thread::Builder::new().name("harbor-model".into()).spawn(move || {
            let mut loaded: Option<Loaded> = None;
            loop {
                match queue.recv_timeout(idle_unload()) {
                    Ok(job) => {
                        job(&mut loaded);
                        LOADED.store(loaded.is_some(), Ordering::Relaxed);
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if loaded.take().is_some() {
                            LOADED.store(false, Ordering::Relaxed);
                            give_back_memory();
                            tracing::info!("the built-in model was idle for {:?}: unloaded", idle_unload());
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        if let Err(error) = spawned {
            tracing::error!("the built-in model's thread did not start: {error}");
        }
        Engine { jobs }
    })
}

/// Hands freed memory back to the system: the allocator may otherwise keep a model's pages.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of the heap and of its arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The threads the engine's maths may use: `HARBOR_MODEL_THREADS`, else one on two cores or
/// fewer, else half the cores. Set once, before anything else starts threads (`main`).
pub fn model_threads() -> usize {
    if let Some(n) = std::env::var("HARBOR_MODEL_THREADS").ok().and_then(|n| n.parse().ok()).filter(|n| *n > 0) {
        return n;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores <= 2 {
        1
    } else {
        cores / 2
    }
}

/// The model at `path`, loaded (kept from the last answer when it is the same file).
fn load<'a>(slot: &'a mut Option<Loaded>, path: &Path) -> Result<&'a mut Loaded, ModelError> {
    if slot.as_ref().is_none_or(|loaded| loaded.path != path) {
        *slot = None;
        *slot = Some(Loaded::open(path)?);
    }
    Ok(slot.as_mut().expect("loaded just now"))
}

/// The built-in provider: its `baseUrl` is a GGUF file, or a folder of them (each a model).
pub struct BuiltinProvider {
    config: ProviderConfig,
}

impl BuiltinProvider {
    pub fn new(config: ProviderConfig) -> BuiltinProvider {
        BuiltinProvider { config }
    }

    fn place(&self) -> PathBuf {
        PathBuf::from(self.config.base_url.strip_prefix("file://").unwrap_or(&self.config.base_url))
    }

    /// The GGUF files this provider offers, by model name (the file's name without `.gguf`).
    fn files(&self) -> Result<Vec<(String, PathBuf)>, LlmError> {
        let place = self.place();
        let unavailable = |why: String| LlmError::Unavailable {
            url: place.display().to_string(),
            why,
            fix: format!(
                "{} Harbor's settings offer one to download (Built-in model).",
                super::ProviderKind::Builtin.start_hint()
            ),
        };
        let name = |path: &Path| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if place.is_file() {
            return Ok(vec![(name(&place), place)]);
        }
        let entries = std::fs::read_dir(&place).map_err(|e| unavailable(format!("cannot read it: {e}")))?;
        let mut files: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("gguf")))
            .map(|p| (name(&p), p))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(unavailable("there is no .gguf model file in it yet".into()));
        }
        Ok(files)
    }
}

impl Provider for BuiltinProvider {
    fn config(&self) -> &ProviderConfig {
        &self.config
    }

    fn models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, LlmError>> {
        async move {
            Ok(self
                .files()?
                .into_iter()
                .map(|(name, path)| ModelInfo {
                    name,
                    provider: self.config.id.clone(),
                    size: std::fs::metadata(&path).ok().map(|m| m.len()),
                    family: Some("gguf".into()),
                    parameter_size: None,
                })
                .collect())
        }
        .boxed()
    }

    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<DeltaStream, LlmError>> {
        async move {
            let files = self.files()?;
            let path =
                files.into_iter().find(|(name, _)| *name == request.model).map(|(_, path)| path).ok_or_else(|| {
                    LlmError::Failed(format!(
                        "the built-in provider has no model {:?} at {}",
                        request.model,
                        self.place().display()
                    ))
                })?;
            let (out, stream) = mpsc::channel(64);
            let job: Job = Box::new(move |slot| {
                let outcome = load(slot, &path).and_then(|loaded| answer(loaded, &request, &out));
                let last = match outcome {
                    Ok(usage) => Ok(Delta::Done(usage)),
                    Err(error) => Err(LlmError::Failed(error.0)),
                };
                let _ = out.blocking_send(last);
            });
            engine().jobs.try_send(job).map_err(|e| match e {
                TrySendError::Full(_) => LlmError::Failed(format!(
                    "the built-in model is busy with {QUEUE} answers already; try again when one is done"
                )),
                TrySendError::Disconnected(_) => LlmError::Failed("the built-in model's thread is not running".into()),
            })?;
            Ok(tokio_stream_of(stream))
        }
        .boxed()
    }
}

fn tokio_stream_of(mut receiver: mpsc::Receiver<Result<Delta, LlmError>>) -> DeltaStream {
    Box::pin(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)))
}

/// Answers `request` with the loaded model, sending what it writes to `out`.
fn answer(
    loaded: &mut Loaded,
    request: &ChatRequest,
    out: &mpsc::Sender<Result<Delta, LlmError>>,
) -> Result<Usage, ModelError> {
    let prompt = prompt::chatml(&request.messages, &request.tools);
    let mut decoder = Decoder::start(loaded, &prompt)?;
    let prompt_tokens = decoder.position() as u64;
    let seed = crate::unix_ms();
    let mut writer = Writer {
        decoder: &mut decoder,
        sampler: Sampler::new(request.temperature, request.top_k, seed),
        budget: ANSWER_TOKENS,
    };
    // A caller that went away (a stop, a closed page) ends the answer at the next token.
    let emit = |piece: &str| out.blocking_send(Ok(Delta::Token(piece.to_owned()))).is_ok();
    let offered = not_yet_called(request);
    if let Some(schema) = &request.response_schema {
        // Structured output (a page's `responseConstraint`): JSON written by the schema.
        let written = value(&mut writer, schema, 0)?;
        emit(&written.to_string());
    } else if request.tools.is_empty() {
        writer.free(emit)?;
    } else {
        writer.force("{\"")?;
        // With every tool called already this turn, only an answer is left to write.
        let branches: &[&str] = if offered.is_empty() { &["response\""] } else { &["tool_call\"", "response\""] };
        if branches.len() == 2 && writer.choose(branches)? == 0 {
            let call = tool_call(&mut writer, &offered)?;
            let _ = out.blocking_send(Ok(Delta::ToolCall(call)));
        } else {
            if branches.len() == 1 {
                writer.force("response\"")?;
            }
            writer.force(": \"")?;
            writer.string(ANSWER_TOKENS, false, emit)?;
        }
    }
    Ok(Usage { prompt_tokens, completion_tokens: writer.decoder.generated as u64 })
}

/// The tools offered that this turn has not called yet (since the user's last message): a
/// small model given a tool's result tends to call the same tool again and again, so the steered
/// step offers each tool once per turn. (A turn that needs one tool twice — two cities' times —
/// gets one call; the model answers from it.)
fn not_yet_called(request: &ChatRequest) -> Vec<ToolSpec> {
    let turn = request.messages.iter().rposition(|m| m.role == super::Role::User).map_or(0, |at| at + 1);
    let called: Vec<&str> = request.messages[turn..]
        .iter()
        .filter(|m| m.role == super::Role::Tool)
        .filter_map(|m| m.tool_name.as_deref())
        .collect();
    request.tools.iter().filter(|t| !called.contains(&t.name.as_str())).cloned().collect()
}

/// The rest of `{"tool_call": …}`: the tool among those offered, then each of its required
/// arguments by type.
fn tool_call(writer: &mut Writer<'_, '_>, tools: &[ToolSpec]) -> Result<ToolCall, ModelError> {
    writer.force(": {\"name\": \"")?;
    let names: Vec<String> = tools.iter().map(|t| format!("{}\"", t.name)).collect();
    let tool = &tools[writer.choose(&names.iter().map(String::as_str).collect::<Vec<_>>())?];
    writer.force(", \"arguments\": {")?;
    let mut arguments = Map::new();
    let fields = prompt::fields(&tool.parameters);
    let required = fields.into_iter().filter(|(name, _)| prompt::is_required(&tool.parameters, name));
    for (i, (name, field)) in required.enumerate() {
        writer.force(&format!("{}\"{name}\": ", if i > 0 { ", " } else { "" }))?;
        arguments.insert(name, value(writer, &field, 0)?);
    }
    Ok(ToolCall {
        id: format!("call_{}", crate::unix_ms()),
        name: tool.name.clone(),
        arguments: Value::Object(arguments),
    })
}

/// How deep objects and arrays nest in what the engine writes by a schema.
const DEEPEST: usize = 8;

/// The most items an array the engine writes by a schema takes.
const MOST_ITEMS: usize = 16;

/// A value written as its schema allows: one of an `enum`, a string, a number, a boolean, an
/// object (its required properties, in order) or an array (items until the model closes it).
fn value(writer: &mut Writer<'_, '_>, field: &Value, depth: usize) -> Result<Value, ModelError> {
    let options: Option<Vec<String>> = field
        .get("enum")
        .and_then(Value::as_array)
        .map(|o| o.iter().filter_map(Value::as_str).map(|s| format!("{s}\"")).collect());
    if let Some(options) = options.filter(|o| !o.is_empty()) {
        writer.force("\"")?;
        let chosen = writer.choose(&options.iter().map(String::as_str).collect::<Vec<_>>())?;
        return Ok(Value::String(options[chosen].trim_end_matches('"').to_owned()));
    }
    match field.get("type").and_then(Value::as_str) {
        Some("integer") => writer.number(true),
        Some("number") => writer.number(false),
        Some("boolean") => Ok(Value::Bool(writer.choose(&["true", "false"])? == 0)),
        Some("object") if depth < DEEPEST => {
            writer.force("{")?;
            let mut object = Map::new();
            let required = prompt::fields(field).into_iter().filter(|(name, _)| prompt::is_required(field, name));
            for (i, (name, property)) in required.enumerate() {
                writer.force(&format!("{}\"{name}\": ", if i > 0 { ", " } else { "" }))?;
                object.insert(name, value(writer, &property, depth + 1)?);
            }
            writer.force("}")?;
            Ok(Value::Object(object))
        }
        Some("array") if depth < DEEPEST => {
            let items = field.get("items").cloned().unwrap_or_else(|| serde_json::json!({"type": "string"}));
            let least = field.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let most =
                field.get("maxItems").and_then(Value::as_u64).map_or(MOST_ITEMS, |m| (m as usize).min(MOST_ITEMS));
            writer.force("[")?;
            let mut array = Vec::new();
            while array.len() < most {
                if array.len() >= least.max(1) && writer.choose(&[", ", "]"])? == 1 {
                    return Ok(Value::Array(array));
                }
                if !array.is_empty() && array.len() < least.max(1) {
                    writer.force(", ")?;
                }
                array.push(value(writer, &items, depth + 1)?);
            }
            writer.force("]")?;
            Ok(Value::Array(array))
        }
        // Strings, and what the engine does not write by structure (deeper nesting): text.
        _ => {
            writer.force("\"")?;
            writer.string(ARGUMENT_TOKENS, true, |_| true).map(Value::String)
        }
    }
}
