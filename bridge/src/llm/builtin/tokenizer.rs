//! A GGUF model's own tokenizer, built from its metadata: the byte-level BPE of GPT-2's family
//! (`tokenizer.ggml.model = "gpt2"`: SmolLM2, Qwen), which is what the models Harbor runs use.
//!
//! Each token's text is stored with bytes mapped to printable characters (GPT-2's
//! `bytes_to_unicode`); [`Tokenizer::bytes`] maps them back, so decoding is exact. Encoding splits
//! text the way GPT-2's pre-tokenizer does (contractions, letters, single digits, other symbols,
//! whitespace), then merges each piece's bytes by the merge list's ranks. Special tokens
//! (`<|im_start|>`, …) are matched whole in the prompt Harbor writes, never inside user text.

use std::collections::HashMap;

/// Why a tokenizer could not be built.
#[derive(Debug, PartialEq)]
pub struct TokenizerError(pub String);

pub struct Tokenizer {
    /// Each token's bytes.
    pieces: Vec<Vec<u8>>,
    /// Each ordinary token's id, by its bytes.
    ids: HashMap<Vec<u8>, u32>,
    /// Merge ranks by pair of pieces (as bytes).
    ranks: HashMap<(Vec<u8>, Vec<u8>), usize>,
    /// The special tokens (control tokens), longest first.
    specials: Vec<(String, u32)>,
    pub eos: Option<u32>,
}

/// The GGUF metadata a tokenizer is built from.
pub struct Vocabulary<'a> {
    pub tokens: &'a [String],
    pub merges: &'a [String],
    /// `tokenizer.ggml.token_type`: 1 normal, 3 control, 4 user-defined, 6 byte.
    pub types: &'a [i32],
    pub eos: Option<u32>,
}

impl Tokenizer {
    pub fn new(vocabulary: Vocabulary<'_>) -> Result<Tokenizer, TokenizerError> {
        let to_byte = unicode_to_byte();
        let mut pieces = Vec::with_capacity(vocabulary.tokens.len());
        let mut ids = HashMap::with_capacity(vocabulary.tokens.len());
        let mut specials = Vec::new();
        for (id, token) in vocabulary.tokens.iter().enumerate() {
            let kind = vocabulary.types.get(id).copied().unwrap_or(1);
            if kind == 3 || kind == 4 {
                specials.push((token.clone(), id as u32));
                pieces.push(token.as_bytes().to_vec());
                continue;
            }
            let bytes: Option<Vec<u8>> = token.chars().map(|c| to_byte.get(&c).copied()).collect();
            let bytes = bytes.ok_or_else(|| TokenizerError(format!("token {id} is not byte-level BPE: {token:?}")))?;
            ids.entry(bytes.clone()).or_insert(id as u32);
            pieces.push(bytes);
        }
        let mut ranks = HashMap::with_capacity(vocabulary.merges.len());
        for (rank, merge) in vocabulary.merges.iter().enumerate() {
            let (left, right) = merge
                .split_once(' ')
                .ok_or_else(|| TokenizerError(format!("merge {rank} is not a pair: {merge:?}")))?;
            let as_bytes = |s: &str| s.chars().map(|c| to_byte.get(&c).copied()).collect::<Option<Vec<u8>>>();
            if let (Some(left), Some(right)) = (as_bytes(left), as_bytes(right)) {
                ranks.insert((left, right), rank);
            }
        }
        specials.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
        Ok(Tokenizer { pieces, ids, ranks, specials, eos: vocabulary.eos })
    }

    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The bytes token `id` stands for (a special token's own text).
    pub fn bytes(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether `id` is a special (control) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.specials.iter().any(|(_, special)| *special == id)
    }

    /// The id of special token `text`, if the model has it.
    pub fn special(&self, text: &str) -> Option<u32> {
        self.specials.iter().find(|(t, _)| t == text).map(|(_, id)| *id)
    }

    /// Encodes a prompt Harbor wrote: its special tokens are matched whole.
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next = self
                .specials
                .iter()
                .filter_map(|(special, id)| rest.find(special.as_str()).map(|at| (at, special.len(), *id)))
                .min_by_key(|(at, len, _)| (*at, std::cmp::Reverse(*len)));
            match next {
                Some((at, len, id)) => {
                    self.encode_into(&rest[..at], &mut out);
                    out.push(id);
                    rest = &rest[at + len..];
                }
                None => {
                    self.encode_into(rest, &mut out);
                    break;
                }
            }
        }
        out
    }

    /// Encodes plain text (no special tokens are recognised in it).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out);
        out
    }

    fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        for piece in pre_split(text) {
            self.merge(piece.as_bytes(), out);
        }
    }

    /// Merges one piece's bytes by rank, lowest first, and appends the ids.
    fn merge(&self, piece: &[u8], out: &mut Vec<u32>) {
        if let Some(&id) = self.ids.get(piece) {
            out.push(id);
            return;
        }
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|b| vec![*b]).collect();
        while parts.len() > 1 {
            let best = (0..parts.len() - 1)
                .filter_map(|i| self.ranks.get(&(parts[i].clone(), parts[i + 1].clone())).map(|rank| (*rank, i)))
                .min();
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend(right);
        }
        for part in parts {
            match self.ids.get(&part) {
                Some(&id) => out.push(id),
                // A byte the vocabulary lacks alone (none of GPT-2's family does): left out.
                None => tracing::debug!("a piece the vocabulary does not have was left out"),
            }
        }
    }

    /// Decodes ids into text (bytes that are not UTF-8 yet are replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|id| self.bytes(*id).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// GPT-2's map from each byte to a printable character, reversed.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~')).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for byte in 0..=255u32 {
        let c = if printable.contains(&byte) {
            byte
        } else {
            extra += 1;
            255 + extra
        };
        map.insert(char::from_u32(c).expect("a valid code point"), byte as u8);
    }
    map
}

/// Splits text as GPT-2's pre-tokenizer does, with each digit alone (SmolLM2's and Qwen's
/// tokenizers split digits): `'s|'t|'re|'ve|'m|'ll|'d`, ` ?\p{L}+`, `\p{N}`, ` ?[^\s\p{L}\p{N}]+`,
/// `\s+(?!\S)`, `\s+`.
fn pre_split(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(text.len(), |(at, _)| *at);
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let c = chars[i].1;
        if c == '\'' {
            let rest = &text[at(i)..];
            if let Some(contraction) = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
                .iter()
                .find(|c| rest.len() >= c.len() && rest[..c.len()].eq_ignore_ascii_case(c))
            {
                i += contraction.chars().count();
                pieces.push(&text[at(start)..at(i)]);
                continue;
            }
        }
        let space_then = c == ' ' && i + 1 < chars.len() && !chars[i + 1].1.is_whitespace();
        let first = if space_then { chars[i + 1].1 } else { c };
        let j = if space_then { i + 1 } else { i };
        if first.is_alphabetic() {
            i = j;
            while i < chars.len() && chars[i].1.is_alphabetic() {
                i += 1;
            }
        } else if first.is_numeric() {
            // One digit per piece; a space before it is a piece of its own (the one character
            // taken here either way).
            i += 1;
        } else if !first.is_whitespace() {
            i = j;
            while i < chars.len()
                && !chars[i].1.is_whitespace()
                && !chars[i].1.is_alphabetic()
                && !chars[i].1.is_numeric()
            {
                i += 1;
            }
        } else {
            // Whitespace: all of it but the last character when something follows it.
            while i < chars.len() && chars[i].1.is_whitespace() {
                i += 1;
            }
            if i < chars.len() && i - start > 1 {
                i -= 1;
            }
        }
        pieces.push(&text[at(start)..at(i)]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_splits_as_gpt2s_pre_tokenizer_does() {
        assert_eq!(pre_split("Hello world"), ["Hello", " world"]);
        assert_eq!(pre_split("it's 42!"), ["it", "'s", " ", "4", "2", "!"]);
        assert_eq!(pre_split("a  b\n"), ["a", " ", " b", "\n"]);
        assert_eq!(pre_split("{\"name\": \"x\"}"), ["{\"", "name", "\":", " \"", "x", "\"}"]);
        assert_eq!(pre_split("Tōkyō"), ["Tōkyō"]);
    }

    #[test]
    fn every_byte_has_a_printable_stand_in() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ċ'], b'\n');
        assert_eq!(map[&'a'], b'a');
    }

    #[test]
    fn merges_apply_by_rank_and_decoding_is_exact() {
        let tokens: Vec<String> =
            ["<|im_end|>", "h", "e", "l", "o", "Ġ", "he", "ll", "hell", "hello", "Ġw", "w"].map(String::from).to_vec();
        let merges: Vec<String> = ["h e", "l l", "he ll", "hell o", "Ġ w"].map(String::from).to_vec();
        let types = [3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let tokenizer =
            Tokenizer::new(Vocabulary { tokens: &tokens, merges: &merges, types: &types, eos: Some(0) }).unwrap();
        let ids = tokenizer.encode_prompt("hello<|im_end|>hel");
        assert_eq!(ids, [9, 0, 6, 3]);
        assert_eq!(tokenizer.decode(&ids), "hello<|im_end|>hel");
        assert!(!tokenizer.encode("<|im_end|>").contains(&0), "user text never makes a special token");
        assert!(tokenizer.is_special(0) && !tokenizer.is_special(9));
    }
}
