//! Splitting a message over Firefox's host → extension limit into chunk frames.
//!
//! Each chunk frame is `{"chunk":{"seq","part","parts","data"}}` where `data` is a slice of the
//! message's JSON text. Slices end on character boundaries and are sized by their *escaped*
//! length, so every chunk frame, once serialized, fits the limit even when the text is full of
//! quotes or control characters.

/// Room left in each frame for the chunk envelope around `data`.
const ENVELOPE_RESERVE: usize = 128;

/// The frames that carry `text`: the text itself when it fits, else its chunk frames.
///
/// The text is escaped once, as a JSON string's content, and that is cut into pieces — never
/// inside an escape sequence or a character — so each piece is already its frame's `data`,
/// copied into place: no second escaping, no measuring pass, no re-validation of UTF-8.
pub fn frames(text: String, limit: usize, seq: u64) -> Vec<String> {
    if text.len() <= limit {
        return vec![text];
    }
    // Serializing a string cannot fail; the quotes serde_json puts around it are cut off.
    let quoted = serde_json::to_string(&text).unwrap_or_default();
    drop(text);
    let escaped = &quoted[1..quoted.len() - 1];
    let pieces = cut(escaped, limit - ENVELOPE_RESERVE);
    let parts = pieces.len() as u32;
    pieces
        .into_iter()
        .enumerate()
        .map(|(part, data)| {
            let frame = chunk_frame(seq, part as u32, parts, data);
            debug_assert!(frame.len() <= limit, "chunk frame of {} bytes", frame.len());
            frame
        })
        .collect()
}

/// `{"chunk":{"seq","part","parts","data"}}` around `data`, which is escaped already.
fn chunk_frame(seq: u64, part: u32, parts: u32, data: &str) -> String {
    let head = format!(r#"{{"chunk":{{"seq":{seq},"part":{part},"parts":{parts},"data":""#);
    let mut frame = String::with_capacity(head.len() + data.len() + 3);
    frame.push_str(&head);
    frame.push_str(data);
    frame.push_str("\"}}");
    frame
}

/// `escaped` (a JSON string's content) cut into pieces of at most `budget` bytes, none ending
/// inside a character or an escape sequence, so each is a JSON string's content on its own.
fn cut(escaped: &str, budget: usize) -> Vec<&str> {
    // An escape is at most 6 bytes and a character 4: a smaller budget could not always move on.
    let budget = budget.max(8);
    let bytes = escaped.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    while bytes.len() - start > budget {
        let mut end = start + budget;
        while !escaped.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(escape) = escape_across(bytes, start, end) {
            end = escape;
        }
        pieces.push(&escaped[start..end]);
        start = end;
    }
    pieces.push(&escaped[start..]);
    pieces
}

/// Where the escape sequence that a cut at `end` would split begins, if one would be split.
/// `start` is where the piece begins, never inside an escape.
fn escape_across(bytes: &[u8], start: usize, end: usize) -> Option<usize> {
    // The backslash of an escape that reaches `end` is at most 5 bytes before it (`\u001f`).
    let mut at = end;
    while at > start.max(end.saturating_sub(5)) {
        at -= 1;
        if bytes[at] != b'\\' {
            continue;
        }
        // A backslash after an odd run of them is the second half of `\\`, not an escape's start.
        let before = bytes[start..at].iter().rev().take_while(|b| **b == b'\\').count();
        if before % 2 == 1 {
            continue;
        }
        let length = if bytes.get(at + 1) == Some(&b'u') { 6 } else { 2 };
        return (at + length > end).then_some(at);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbor_protocol::Message;
    use serde_json::Value;

    fn join(frames: &[String]) -> String {
        frames
            .iter()
            .map(|f| match Message::from_json(serde_json::from_str(f).unwrap()) {
                Some(Message::Chunk(c)) => c.data,
                other => panic!("not a chunk: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn pieces_end_between_characters_and_escapes_and_keep_to_the_budget() {
        let text = "é😀a\"\u{1}ü\\\\\\".repeat(50);
        let quoted = serde_json::to_string(&text).unwrap();
        let escaped = &quoted[1..quoted.len() - 1];
        for budget in [8, 9, 10, 11, 13, 17] {
            let pieces = cut(escaped, budget);
            let mut joined = String::new();
            for piece in &pieces {
                assert!(!piece.is_empty() && piece.len() <= budget, "{piece:?}, budget {budget}");
                // Each piece is a JSON string's content on its own.
                let decoded: String = serde_json::from_str(&format!("\"{piece}\"")).unwrap();
                joined.push_str(&decoded);
            }
            assert_eq!(joined, text, "budget {budget}");
        }
    }

    #[test]
    fn small_messages_pass_unchanged() {
        let frames = frames("{\"id\":1}".into(), 1024, 0);
        assert_eq!(frames, vec!["{\"id\":1}".to_string()]);
    }

    #[test]
    fn worst_case_text_fits_and_rejoins() {
        // Quotes, backslashes, control characters and multi-byte characters all cost more once
        // escaped; every frame must still fit the limit.
        let nasty: String = "\"\\\u{1}é😀a\n".repeat(5_000);
        let text = serde_json::json!({"id": 1, "result": nasty}).to_string();
        let limit = 4096;
        let frames = frames(text.clone(), limit, 42);
        assert!(frames.len() > 1);
        for (i, frame) in frames.iter().enumerate() {
            assert!(frame.len() <= limit, "frame {i} is {} bytes", frame.len());
            let v: Value = serde_json::from_str(frame).unwrap();
            assert_eq!(v["chunk"]["part"], i as u64);
            assert_eq!(v["chunk"]["parts"], frames.len() as u64);
            assert_eq!(v["chunk"]["seq"], 42);
        }
        assert_eq!(join(&frames), text);
    }
}
