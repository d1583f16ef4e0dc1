//! A web page's messages through a real bridge session: each input line is one message, sent
//! with a page's caller context (as the background would add it), so every page method's params
//! are decoded and checked while privileged methods are refused. The session must answer every
//! message with a well-formed message and end promptly when the page goes away.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use harbor_bridge::nm::frame::{read_frame, write_frame, Frame};
use harbor_bridge::Bridge;
use harbor_protocol::Message;
use tokio::io::AsyncWriteExt;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap())
}

fn bridge() -> &'static Bridge {
    static BRIDGE: OnceLock<Bridge> = OnceLock::new();
    BRIDGE.get_or_init(|| {
        let home = std::env::temp_dir().join(format!("harbor-fuzz-session-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        runtime().block_on(async { Bridge::open(&home).unwrap() })
    })
}

fuzz_target!(|data: &[u8]| {
    let bridge = bridge();
    let page = json!({"kind": "page", "origin": "https://fuzz.example", "tabId": 1, "frameId": 0, "topOrigin": "https://fuzz.example"});
    let mut frames = Vec::new();
    for line in data.split(|b| *b == b'\n').take(16) {
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(mut message)) => {
                message.insert("caller".into(), page.clone());
                frames.push(Value::Object(message).to_string().into_bytes());
            }
            // Anything else goes as sent: the session must answer it as undecodable.
            _ => frames.push(line.to_vec()),
        }
    }
    runtime().block_on(async {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (their_read, their_write) = tokio::io::split(theirs);
        let (mut our_read, mut our_write) = tokio::io::split(ours);
        let session = bridge.serve(their_read, their_write, std::future::pending());
        let page = async move {
            for frame in &frames {
                write_frame(&mut our_write, frame).await.unwrap();
            }
            // The page goes away: the session cancels what is still running and ends.
            our_write.shutdown().await.unwrap();
            while let Ok(frame) = read_frame(&mut our_read, 64 << 20).await {
                match frame {
                    Frame::Message(payload) => {
                        let value: Value = serde_json::from_slice(&payload).expect("the bridge writes JSON");
                        assert!(Message::from_json(value.clone()).is_some(), "not a protocol message: {value}");
                    }
                    Frame::Eof => break,
                    other => panic!("the bridge wrote a broken frame: {other:?}"),
                }
            }
        };
        let both = async { tokio::join!(session, page) };
        let (served, ()) = tokio::time::timeout(Duration::from_secs(10), both)
            .await
            .expect("the session ended after the page went away");
        served.expect("the session reads the pipe to its end");
    });
});
