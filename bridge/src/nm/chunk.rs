//! Splitting a message over Firefox's host → extension limit into chunk frames.
//!
//! Each chunk frame is `{"chunk":{"seq","part","parts","data"}}` where `data` is a slice of the
//! message's JSON text. Slices end on character boundaries and are sized by their *escaped*
//! length, so every chunk frame, once serialized, fits the limit even when the text is full of
//! quotes or control characters.

/// Room left in each frame for the chunk envelope around `data`.
const ENVELOPE_RESERVE: usize = 128;

/// The frames that carry `text`: the text itself when it fits, else its chunk frames.
pub fn frames(text: String, limit: usize, seq: u64) -> Vec<String> {
    if text.len() <= limit {
        return vec![text];
    }
    let slices = split_by_escaped_len(&text, limit - ENVELOPE_RESERVE);
    let parts = slices.len() as u32;
    slices
        .into_iter()
        .enumerate()
        .map(|(part, data)| {
            let frame = chunk_frame(seq, part as u32, parts, data);
            debug_assert!(frame.len() <= limit, "chunk frame of {} bytes", frame.len());
            frame
        })
        .collect()
}

/// `{"chunk":{"seq","part","parts","data"}}` written straight into one buffer: the slice is
/// escaped into place (no `Chunk` copy of it, no JSON value in between).
fn chunk_frame(seq: u64, part: u32, parts: u32, data: &str) -> String {
    let mut frame = Vec::with_capacity(data.len() + ENVELOPE_RESERVE);
    frame.extend_from_slice(format!(r#"{{"chunk":{{"seq":{seq},"part":{part},"parts":{parts},"data":"#).as_bytes());
    // Writing a string into a Vec cannot fail; serde_json writes it quoted and escaped.
    let _ = serde_json::to_writer(&mut frame, data);
    frame.extend_from_slice(b"}}");
    String::from_utf8(frame).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// How many bytes `byte` takes inside a JSON string as serde_json writes it: a byte of a
/// multi-byte character is written as it is, so it costs 1, like most ASCII.
fn escaped_len(byte: u8) -> usize {
    match byte {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
        0x00..=0x1f => 6,
        _ => 1,
    }
}

/// `text` cut into slices of at most `budget` escaped bytes, each ending on a character
/// boundary. Walks bytes, not characters: a character's bytes cost one each escaped, so only
/// where a slice ends needs the character boundary, found by stepping back.
fn split_by_escaped_len(text: &str, budget: usize) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut slices = Vec::new();
    let mut start = 0;
    let mut used = 0;
    let mut at = 0;
    while at < bytes.len() {
        let cost = escaped_len(bytes[at]);
        if used + cost > budget {
            let mut end = at;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            // A slice always holds at least one character (the budget is far above 6 bytes).
            if end == start {
                end = at + 1;
                while !text.is_char_boundary(end) {
                    end += 1;
                }
            }
            slices.push(&text[start..end]);
            start = end;
            at = end;
            used = 0;
            continue;
        }
        used += cost;
        at += 1;
    }
    slices.push(&text[start..]);
    slices
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
    fn slices_end_on_characters_and_keep_to_the_budget() {
        let text = "é😀a\"\u{1}ü".repeat(50);
        for budget in [6, 7, 8, 9, 13] {
            let slices = split_by_escaped_len(&text, budget);
            assert_eq!(slices.concat(), text, "budget {budget}");
            for slice in &slices {
                let escaped = serde_json::to_string(slice).unwrap().len() - 2;
                assert!(
                    escaped <= budget && !slice.is_empty(),
                    "{slice:?} is {escaped} escaped bytes, budget {budget}"
                );
            }
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
