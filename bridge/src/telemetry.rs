//! Traces of the gateway's requests and tool calls: W3C Trace Context in, OTLP out.
//!
//! A caller's `traceparent` — an HTTP header, or `_meta.traceparent` on an MCP request (SEP-414)
//! — makes Harbor's spans part of the caller's trace: the HTTP request, the tool call, the policy
//! steps and the call to the server, whose own request carries the server-call span as its
//! `_meta.traceparent`, so a server that traces continues the same trace. Without a caller's,
//! a request starts a trace of its own.
//!
//! Spans exist only while an exporter is set ([`export_to`], from the team config's `telemetry`
//! or `OTEL_EXPORTER_OTLP_ENDPOINT`); otherwise every function here is a cheap no-op. The span in
//! force is a task-local ([`within`]), so code between the face and the registry passes nothing.
//! The exporter batches ended spans (at most [`BATCH`], or every second) and posts them as OTLP/HTTP
//! JSON to `<endpoint>/v1/traces`; a receiver that is down loses those spans (logged), never a
//! call. Spans carry names, ids, times, the caller's name and the tool's — never arguments,
//! results or tokens.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The most spans posted at once.
pub const BATCH: usize = 512;
/// The most ended spans waiting for the exporter; past it, spans are dropped.
const QUEUE: usize = 8192;
/// How long the exporter waits to fill a batch.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Where a span sits in its trace (W3C Trace Context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

impl SpanContext {
    /// Reads a `traceparent` value (version 00, or a later one read as 00): `None` when it is not one.
    pub fn parse(traceparent: &str) -> Option<SpanContext> {
        let mut parts = traceparent.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || flags.len() != 2 || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let trace_id: [u8; 16] = hex(trace)?.try_into().ok()?;
        let span_id: [u8; 8] = hex(span)?.try_into().ok()?;
        // All zeros is invalid by the spec.
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(SpanContext { trace_id, span_id })
    }

    /// As a `traceparent` value (sampled: Harbor exports every span it makes).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", to_hex(&self.trace_id), to_hex(&self.span_id))
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("the OS has randomness");
    bytes
}

/// What a span is to its trace (OTLP's `SpanKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

/// A span in progress; it ends, and is exported, when dropped.
pub struct Span {
    context: SpanContext,
    parent: Option<[u8; 8]>,
    name: String,
    kind: Kind,
    start: SystemTime,
    attributes: Vec<(&'static str, Value)>,
    error: Option<String>,
}

impl Span {
    /// A span under `parent` (a new trace without one); `None` while nothing exports spans. The
    /// name is formatted only then: untraced calls pay nothing for it.
    pub fn start(name: std::fmt::Arguments<'_>, kind: Kind, parent: Option<SpanContext>) -> Option<Span> {
        EXPORTER.get()?;
        let context = SpanContext { trace_id: parent.map_or_else(random, |p| p.trace_id), span_id: random() };
        Some(Span {
            context,
            parent: parent.map(|p| p.span_id),
            name: name.to_string(),
            kind,
            start: SystemTime::now(),
            attributes: Vec::new(),
            error: None,
        })
    }

    /// A span under the one in force in this task, if there is one.
    pub fn child(name: std::fmt::Arguments<'_>, kind: Kind) -> Option<Span> {
        current().and_then(|parent| Span::start(name, kind, Some(parent)))
    }

    pub fn context(&self) -> SpanContext {
        self.context
    }

    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        self.attributes.push((key, value.into()));
    }

    /// Marks the span failed, with a short reason (an error code, never a payload).
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.error = Some(reason.into());
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let Some(exporter) = EXPORTER.get() else { return };
        let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_string();
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::Bool(b) => json!({ "boolValue": b }),
                    Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
                    Value::Number(n) => json!({ "doubleValue": n }),
                    Value::String(s) => json!({ "stringValue": s }),
                    other => json!({ "stringValue": other.to_string() }),
                };
                json!({ "key": key, "value": value })
            })
            .collect();
        let mut span = json!({
            "traceId": to_hex(&self.context.trace_id),
            "spanId": to_hex(&self.context.span_id),
            "name": self.name,
            "kind": self.kind as i32,
            "startTimeUnixNano": nanos(self.start),
            "endTimeUnixNano": nanos(SystemTime::now()),
            "attributes": attributes,
            "status": match &self.error {
                Some(reason) => json!({ "code": 2, "message": reason }),
                None => json!({ "code": 1 }),
            },
        });
        if let Some(parent) = self.parent {
            span["parentSpanId"] = json!(to_hex(&parent));
        }
        if exporter.spans.try_send(span).is_err() {
            tracing::debug!("the trace exporter is behind; a span was dropped");
        }
    }
}

tokio::task_local! {
    static CURRENT: SpanContext;
}

/// The span in force in this task.
pub fn current() -> Option<SpanContext> {
    CURRENT.try_with(|context| *context).ok()
}

/// Runs `work` with `context` as the span in force (as it is without one).
pub async fn within<F: std::future::Future>(context: Option<SpanContext>, work: F) -> F::Output {
    match context {
        Some(context) => CURRENT.scope(context, work).await,
        None => work.await,
    }
}

struct Exporter {
    spans: mpsc::Sender<Value>,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Exports every span from now on to the OTLP/HTTP receiver at `endpoint` (once per process).
pub fn export_to(endpoint: &str, service: &str) {
    let (spans, queue) = mpsc::channel(QUEUE);
    if EXPORTER.set(Exporter { spans }).is_ok() {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        tokio::spawn(export(url, service.to_owned(), queue));
        tracing::info!(endpoint, "traces go to the OTLP receiver");
    }
}

static HTTP: crate::http::Lazy = crate::http::Lazy::new(|builder| builder.timeout(Duration::from_secs(10)));

async fn export(url: String, service: String, mut queue: mpsc::Receiver<Value>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // The first span of a batch is waited for; the rest for at most FLUSH_EVERY.
        if queue.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, queue.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let body = json!({
            "resourceSpans": [{
                "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": service } }] },
                "scopeSpans": [{
                    "scope": { "name": "harbor", "version": env!("CARGO_PKG_VERSION") },
                    "spans": std::mem::take(&mut batch),
                }],
            }],
        });
        let sent = match HTTP.get() {
            Ok(http) => http.post(&url).json(&body).send().await.map_err(|e| e.to_string()).and_then(|answer| {
                match answer.status().is_success() {
                    true => Ok(()),
                    false => Err(format!("it answered {}", answer.status())),
                }
            }),
            Err(why) => Err(why),
        };
        if let Err(why) = sent {
            tracing::warn!("spans were not exported to {url}: {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_read_and_written_as_w3c_says() {
        let read = SpanContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(read.traceparent(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        // A later version may add fields; version 00 may not.
        assert!(SpanContext::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra").is_some());
        for bad in [
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "not a traceparent",
        ] {
            assert!(SpanContext::parse(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_span_in_force_follows_the_task() {
        assert_eq!(current(), None);
        let context = SpanContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        assert_eq!(within(context, async { current() }).await, context);
        assert_eq!(current(), None);
        // Nothing exports here: no spans are made.
        assert!(Span::start(format_args!("x"), Kind::Internal, context).is_none());
    }
}
