//! Turns a streamed HTTP body into [`Delta`]s, one line at a time.
//!
//! Both wire formats are line-based — NDJSON for Ollama, server-sent events for OpenAI — so one
//! reader splits the body into lines as bytes arrive (a line may span several network chunks, a
//! chunk may hold several lines) and hands each to the format's [`Decoder`]. The stream ends
//! when the decoder has seen the end of the answer; a body that ends before that is an error,
//! never a silently short answer.

use std::collections::VecDeque;

use futures::StreamExt;

use super::{Delta, DeltaStream, LlmError};

/// One wire format's reading of lines.
pub trait Decoder: Send + 'static {
    /// The deltas in one complete line (without its newline).
    fn line(&mut self, line: &str) -> Result<Vec<Delta>, LlmError>;
    /// Whether the answer is complete (a `Done` was produced).
    fn finished(&self) -> bool;
    /// The body ended before [`Decoder::finished`]: the last deltas if the format allows ending
    /// there, else `None` (an error).
    fn end(&mut self) -> Option<Vec<Delta>> {
        None
    }
}

struct Reader<D> {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: Vec<u8>,
    pending: VecDeque<Result<Delta, LlmError>>,
    decoder: D,
    over: bool,
}

/// The deltas of `response`'s body as `decoder` reads them.
pub fn decode<D: Decoder>(response: reqwest::Response, decoder: D) -> DeltaStream {
    let body = response.bytes_stream().map(|chunk| chunk.map(|b| b.to_vec())).boxed();
    let reader = Reader { body, buffer: Vec::new(), pending: VecDeque::new(), decoder, over: false };
    futures::stream::unfold(reader, |mut reader| async move {
        loop {
            if let Some(next) = reader.pending.pop_front() {
                if next.is_err() {
                    reader.over = true;
                    reader.pending.clear();
                }
                return Some((next, reader));
            }
            if reader.over || reader.decoder.finished() {
                return None;
            }
            match reader.body.next().await {
                Some(Ok(bytes)) => {
                    reader.buffer.extend_from_slice(&bytes);
                    reader.take_lines();
                }
                Some(Err(error)) => {
                    let why = super::root_cause(&error);
                    reader.pending.push_back(Err(LlmError::Failed(format!(
                        "the connection to the model server broke mid-answer: {why}"
                    ))));
                }
                None => {
                    // A last line without a newline still counts.
                    if !reader.buffer.is_empty() {
                        reader.buffer.push(b'\n');
                        reader.take_lines();
                    }
                    if !reader.decoder.finished() && reader.pending.iter().all(Result::is_ok) {
                        match reader.decoder.end() {
                            Some(deltas) => reader.pending.extend(deltas.into_iter().map(Ok)),
                            None => reader.pending.push_back(Err(LlmError::Failed(
                                "the model server ended its answer before finishing it".into(),
                            ))),
                        }
                    }
                    reader.over = true;
                }
            }
        }
    })
    .boxed()
}

impl<D: Decoder> Reader<D> {
    fn take_lines(&mut self) {
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() || self.decoder.finished() {
                continue;
            }
            match self.decoder.line(line) {
                Ok(deltas) => self.pending.extend(deltas.into_iter().map(Ok)),
                Err(error) => {
                    self.pending.push_back(Err(error));
                    self.buffer.clear();
                    return;
                }
            }
        }
    }
}
