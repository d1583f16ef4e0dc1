//! One GGUF model, loaded: its weights (candle's quantized llama), its tokenizer and its chat
//! format, read from the file's own metadata; and a [`Decoder`] that feeds it tokens and reads
//! the next token's logits.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

use super::tokenizer::{Tokenizer, Vocabulary};

/// A model file Harbor could not use, in words for the user.
#[derive(Debug)]
pub struct ModelError(pub String);

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct Loaded {
    pub path: PathBuf,
    model: ModelWeights,
    pub tokenizer: Tokenizer,
    /// The tokens that end an answer (`<|im_end|>`, the end of text).
    pub stops: Vec<u32>,
    /// The context window, in tokens.
    pub context: usize,
}

impl Loaded {
    /// Reads `path`: a GGUF file of a llama-architecture model with a GPT-2-style (byte-level
    /// BPE) tokenizer and a ChatML chat template (SmolLM2's family).
    pub fn open(path: &Path) -> Result<Loaded, ModelError> {
        let shown = path.display();
        let mut file = std::fs::File::open(path).map_err(|e| ModelError(format!("cannot open {shown}: {e}")))?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| ModelError(format!("{shown} is not a GGUF model file: {e}")))?;
        let meta = |key: &str| content.metadata.get(key);
        let text = |key: &str| meta(key).and_then(|v| v.to_string().ok()).cloned();
        let architecture = text("general.architecture").unwrap_or_default();
        if architecture != "llama" {
            return Err(ModelError(format!(
                "{shown} is a {architecture:?} model; the built-in engine runs llama-architecture models (SmolLM2) for now"
            )));
        }
        if text("tokenizer.ggml.model").as_deref() != Some("gpt2") {
            return Err(ModelError(format!(
                "{shown} does not use a byte-level BPE tokenizer, which the built-in engine needs"
            )));
        }
        let template = text("tokenizer.chat_template").unwrap_or_default();
        if !template.contains("<|im_start|>") {
            return Err(ModelError(format!(
                "{shown}'s chat template is not ChatML, the only one the built-in engine speaks yet"
            )));
        }
        let strings = |key: &str| -> Vec<String> {
            meta(key)
                .and_then(|v| v.to_vec().ok())
                .map(|items| items.iter().filter_map(|i| i.to_string().ok().cloned()).collect())
                .unwrap_or_default()
        };
        let tokens = strings("tokenizer.ggml.tokens");
        let merges = strings("tokenizer.ggml.merges");
        let types: Vec<i32> = meta("tokenizer.ggml.token_type")
            .and_then(|v| v.to_vec().ok())
            .map(|items| items.iter().map(|i| i.to_i32().unwrap_or(1)).collect())
            .unwrap_or_default();
        let eos = meta("tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok());
        let tokenizer = Tokenizer::new(Vocabulary { tokens: &tokens, merges: &merges, types: &types, eos })
            .map_err(|e| ModelError(format!("{shown}'s tokenizer: {}", e.0)))?;
        let mut stops: Vec<u32> = ["<|im_end|>", "<|endoftext|>"].iter().filter_map(|s| tokenizer.special(s)).collect();
        stops.extend(eos);
        let context = meta("llama.context_length").and_then(|v| v.to_u32().ok()).unwrap_or(2048) as usize;
        let model = ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
            .map_err(|e| ModelError(format!("{shown}'s weights: {e}")))?;
        Ok(Loaded { path: path.to_owned(), model, tokenizer, stops, context })
    }
}

/// Feeds one answer's tokens to a model, from a fresh cache.
pub struct Decoder<'a> {
    pub loaded: &'a mut Loaded,
    position: usize,
    logits: Vec<f32>,
    /// Tokens generated (not the prompt's).
    pub generated: usize,
}

impl<'a> Decoder<'a> {
    /// Starts an answer to `prompt` (ChatML, special tokens included).
    pub fn start(loaded: &'a mut Loaded, prompt: &str) -> Result<Decoder<'a>, ModelError> {
        loaded.model.clear_kv_cache();
        let ids = loaded.tokenizer.encode_prompt(prompt);
        let mut decoder = Decoder { loaded, position: 0, logits: Vec::new(), generated: 0 };
        decoder.feed(&ids)?;
        decoder.generated = 0;
        Ok(decoder)
    }

    /// Feeds `ids` (in chunks the model's attention handles well) and keeps the last logits.
    pub fn feed(&mut self, ids: &[u32]) -> Result<(), ModelError> {
        if self.position + ids.len() >= self.loaded.context {
            return Err(ModelError(format!(
                "the conversation is longer than the model's context window ({} tokens); start a new one",
                self.loaded.context
            )));
        }
        for chunk in ids.chunks(256) {
            let input = Tensor::new(chunk, &Device::Cpu).and_then(|t| t.unsqueeze(0)).map_err(engine_error)?;
            let logits = self.loaded.model.forward(&input, self.position).map_err(engine_error)?;
            self.logits = logits.squeeze(0).and_then(|l| l.to_vec1::<f32>()).map_err(engine_error)?;
            self.position += chunk.len();
        }
        self.generated += ids.len();
        Ok(())
    }

    /// How many tokens the model has read so far (the prompt's and its own).
    pub fn position(&self) -> usize {
        self.position
    }

    /// The next token's logits.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.loaded.tokenizer
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.loaded.stops.contains(&id)
    }
}

fn engine_error(error: candle_core::Error) -> ModelError {
    ModelError(format!("the built-in engine failed: {error}"))
}
