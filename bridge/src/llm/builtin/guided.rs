//! Generation the host steers: free text to a stop token, or JSON whose structure Harbor writes
//! and whose values the model fills in, each token chosen only among those that keep the output
//! valid (a choice among names, a string without a quote, a number's characters). This is how a
//! small model that never emits a tool call by itself calls the right tool with the right
//! arguments (see `super`).

use super::model::{Decoder, ModelError};

/// Picks tokens: the likeliest (temperature 0) or a draw among the `top_k` likeliest.
pub struct Sampler {
    temperature: f32,
    top_k: usize,
    state: u64,
}

impl Sampler {
    pub fn new(temperature: Option<f64>, top_k: Option<u32>, seed: u64) -> Sampler {
        Sampler {
            // Greedy unless the caller asks for a temperature: a small model copies a tool's
            // result (a time, a number) right far more often so.
            temperature: temperature.unwrap_or(0.0).max(0.0) as f32,
            top_k: top_k.unwrap_or(40).max(1) as usize,
            state: seed | 1,
        }
    }

    /// The likeliest token among those `allowed` admits: how structure is written (a branch, a
    /// name, a number), whatever the temperature — small models choose right far more often so.
    pub fn likeliest(logits: &[f32], allowed: impl Fn(u32) -> bool) -> Option<u32> {
        let mut best: Option<(f32, u32)> = None;
        for (id, &logit) in logits.iter().enumerate() {
            if logit.is_finite() && best.is_none_or(|(top, _)| logit > top) && allowed(id as u32) {
                best = Some((logit, id as u32));
            }
        }
        best.map(|(_, id)| id)
    }

    /// A token among those `allowed` admits, or `None` when it admits none.
    pub fn pick(&mut self, logits: &[f32], allowed: impl Fn(u32) -> bool) -> Option<u32> {
        let mut best: Vec<(f32, u32)> = Vec::with_capacity(self.top_k + 1);
        for (id, &logit) in logits.iter().enumerate() {
            let id = id as u32;
            if best.len() == self.top_k && logit <= best[best.len() - 1].0 || !logit.is_finite() || !allowed(id) {
                continue;
            }
            let at = best.partition_point(|(l, _)| *l >= logit);
            best.insert(at, (logit, id));
            best.truncate(self.top_k);
        }
        let &(top, first) = best.first()?;
        if self.temperature <= f32::EPSILON || best.len() == 1 {
            return Some(first);
        }
        let weights: Vec<f32> = best.iter().map(|(l, _)| ((l - top) / self.temperature).exp()).collect();
        let mut draw = self.next_unit() * weights.iter().sum::<f32>();
        for (weight, (_, id)) in weights.iter().zip(&best) {
            draw -= weight;
            if draw <= 0.0 {
                return Some(*id);
            }
        }
        Some(first)
    }

    /// xorshift64*: a draw in [0, 1).
    fn next_unit(&mut self) -> f32 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let bits = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        bits as f32 / (1u64 << 24) as f32
    }
}

/// Steers one answer.
pub struct Writer<'d, 'm> {
    pub decoder: &'d mut Decoder<'m>,
    pub sampler: Sampler,
    /// The most tokens one answer may take.
    pub budget: usize,
}

/// What a streamed piece of text tells the generation: go on, or stop (the caller went away).
pub type Go = bool;

impl Writer<'_, '_> {
    /// Feeds `text` as if the model had written it.
    pub fn force(&mut self, text: &str) -> Result<(), ModelError> {
        let ids = self.decoder.tokenizer().encode(text);
        self.decoder.feed(&ids)
    }

    fn spend(&mut self) -> Result<(), ModelError> {
        if self.decoder.generated >= self.budget {
            return Err(ModelError(format!("the answer reached its limit of {} tokens", self.budget)));
        }
        Ok(())
    }

    /// Free text until a stop token (or the budget), each piece to `emit` as it is written.
    pub fn free(&mut self, mut emit: impl FnMut(&str) -> Go) -> Result<(), ModelError> {
        let mut text = Utf8::default();
        while self.decoder.generated < self.budget {
            let Some(id) = self.sampler.pick(self.decoder.logits(), |_| true) else { break };
            if self.decoder.is_stop(id) {
                break;
            }
            let piece = text.push(self.decoder.tokenizer().bytes(id));
            if !piece.is_empty() && !emit(&piece) {
                return Ok(());
            }
            self.decoder.feed(&[id])?;
        }
        Ok(())
    }

    /// The option the model chooses among `options` (written out, as it would write it).
    pub fn choose(&mut self, options: &[&str]) -> Result<usize, ModelError> {
        let mut written: Vec<u8> = Vec::new();
        loop {
            if let Some(done) = options.iter().position(|o| o.as_bytes() == written) {
                if !options.iter().any(|o| o.len() > written.len() && o.as_bytes().starts_with(&written)) {
                    return Ok(done);
                }
            }
            self.spend()?;
            let tokenizer = self.decoder.tokenizer();
            let fits = |id: u32| {
                let bytes = tokenizer.bytes(id);
                !bytes.is_empty()
                    && !tokenizer.is_special(id)
                    && options.iter().any(|o| {
                        let o = o.as_bytes();
                        o.len() >= written.len() + bytes.len()
                            && o.starts_with(&written)
                            && &o[written.len()..written.len() + bytes.len()] == bytes
                    })
            };
            let id = Sampler::likeliest(self.decoder.logits(), fits)
                .ok_or_else(|| ModelError("the model's vocabulary cannot write one of the choices".into()))?;
            written.extend_from_slice(self.decoder.tokenizer().bytes(id));
            self.decoder.feed(&[id])?;
        }
    }

    /// A JSON string's content (after its opening quote, up to and with its closing quote),
    /// unescaped; each piece to `emit` as it is written.
    pub fn string(
        &mut self,
        most: usize,
        greedy: bool,
        mut emit: impl FnMut(&str) -> Go,
    ) -> Result<String, ModelError> {
        let quote = self.decoder.tokenizer().encode("\"");
        let mut text = Utf8::default();
        let mut unescape = Unescape::default();
        let mut out = String::new();
        let mut taken = 0;
        loop {
            self.spend()?;
            let tokenizer = self.decoder.tokenizer();
            let stops = &self.decoder.loaded.stops;
            // Text without a quote, or a quote (with what structure follows it) to close.
            let fits = |id: u32| {
                let bytes = tokenizer.bytes(id);
                if tokenizer.is_special(id) {
                    return stops.contains(&id);
                }
                match bytes.iter().position(|b| *b == b'"') {
                    None => !bytes.is_empty() && !bytes.contains(&b'\n') && taken < most,
                    Some(0) => bytes[1..].iter().all(|b| b" ,}]\n".contains(b)),
                    Some(_) => false,
                }
            };
            let picked = if greedy {
                Sampler::likeliest(self.decoder.logits(), fits)
            } else {
                self.sampler.pick(self.decoder.logits(), fits)
            };
            let Some(id) = picked else { break };
            let bytes = self.decoder.tokenizer().bytes(id);
            if self.decoder.is_stop(id) || bytes.first() == Some(&b'"') {
                break;
            }
            let piece = unescape.push(&text.push(bytes));
            out.push_str(&piece);
            taken += 1;
            if !piece.is_empty() && !emit(&piece) {
                return Ok(out);
            }
            self.decoder.feed(&[id])?;
        }
        // The close goes in as a plain quote whatever the model chose with it: Harbor writes
        // the structure that follows.
        self.decoder.feed(&quote)?;
        Ok(out)
    }

    /// A JSON number, up to what ends it (which is not written: Harbor writes what follows).
    pub fn number(&mut self, integer: bool) -> Result<serde_json::Value, ModelError> {
        let mut written = String::new();
        for _ in 0..24 {
            self.spend()?;
            let tokenizer = self.decoder.tokenizer();
            let started = !written.is_empty();
            let fits = |id: u32| {
                let bytes = tokenizer.bytes(id);
                if tokenizer.is_special(id) || bytes.is_empty() {
                    return false;
                }
                let digits =
                    bytes.iter().all(|b| b.is_ascii_digit() || (!integer && b".eE+".contains(b)) || *b == b'-');
                digits || (started && b",} \n".contains(&bytes[0]))
            };
            let Some(id) = Sampler::likeliest(self.decoder.logits(), fits) else { break };
            let bytes = self.decoder.tokenizer().bytes(id);
            if !bytes[0].is_ascii_digit() && !b"-.eE+".contains(&bytes[0]) {
                break;
            }
            written.push_str(&String::from_utf8_lossy(bytes));
            self.decoder.feed(&[id])?;
        }
        Ok(serde_json::from_str::<serde_json::Number>(&written)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::json!(0)))
    }
}

/// Bytes to text as whole characters: a character split across tokens waits for its end.
#[derive(Default)]
struct Utf8 {
    pending: Vec<u8>,
}

impl Utf8 {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let whole = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            // Not UTF-8 at all: replaced, never waited on.
            Err(_) => self.pending.len(),
        };
        let text = String::from_utf8_lossy(&self.pending[..whole]).into_owned();
        self.pending.drain(..whole);
        text
    }
}

/// JSON string escapes (`\n`, `\t`, `\\`, `\/`), undone as the text streams.
#[derive(Default)]
struct Unescape {
    backslash: bool,
}

impl Unescape {
    fn push(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if std::mem::take(&mut self.backslash) {
                out.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            } else if c == '\\' {
                self.backslash = true;
            } else {
                out.push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_the_likeliest_allowed_token() {
        let mut sampler = Sampler::new(Some(0.0), None, 1);
        let logits = [0.1, 3.0, 2.0, f32::NAN];
        assert_eq!(sampler.pick(&logits, |_| true), Some(1));
        assert_eq!(sampler.pick(&logits, |id| id != 1), Some(2));
        assert_eq!(sampler.pick(&logits, |_| false), None);
    }

    #[test]
    fn a_draw_stays_among_the_top_k() {
        let mut sampler = Sampler::new(Some(1.0), Some(2), 7);
        let logits = [5.0, 4.9, -50.0, 4.8];
        for _ in 0..200 {
            assert!(matches!(sampler.pick(&logits, |_| true), Some(0 | 1)));
        }
    }

    #[test]
    fn characters_split_across_tokens_wait_for_their_end() {
        let mut text = Utf8::default();
        let bytes = "Tōkyō".as_bytes();
        assert_eq!(text.push(&bytes[..2]), "T");
        assert_eq!(text.push(&bytes[2..3]), "ō");
        assert_eq!(text.push(&bytes[3..]), "kyō");
        let mut unescape = Unescape::default();
        assert_eq!(unescape.push("a\\"), "a");
        assert_eq!(unescape.push("nb\\\\c"), "\nb\\c");
    }
}
