//! Splitting a large reply into chunk frames: every frame fits the limit once serialized, and
//! joining the chunks' data in order gives back exactly the text — for any text, quotes and
//! control characters included.

#![no_main]

use harbor_bridge::nm::chunk::frames;
use harbor_protocol::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let limit = 160 + usize::from(u16::from_le_bytes([data[0], data[1]]) % 2048);
    let text = String::from_utf8_lossy(&data[2..]).into_owned();
    let out = frames(text.clone(), limit, 42);
    if text.len() <= limit {
        assert_eq!(out, vec![text]);
        return;
    }
    let mut joined = String::new();
    for (i, frame) in out.iter().enumerate() {
        assert!(frame.len() <= limit, "a chunk frame of {} bytes over {limit}", frame.len());
        let value = serde_json::from_str(frame).expect("a chunk frame is JSON");
        let Some(Message::Chunk(chunk)) = Message::from_json(value) else { panic!("not a chunk: {frame}") };
        assert_eq!((chunk.seq, chunk.part as usize, chunk.parts as usize), (42, i, out.len()));
        joined.push_str(&chunk.data);
    }
    assert_eq!(joined, text);
});
