//! The native-messaging pipe: any bytes Firefox (or anything else) writes are read frame by
//! frame and decoded into requests, cancels or undecodable messages — never a panic, and a cut
//! or oversized frame still gives up its request id when one can be read.

#![no_main]

use harbor_bridge::nm::frame::{read_frame, Frame};
use harbor_bridge::rpc::envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let mut pipe = data;
        // A small cap so the fuzzer reaches the oversized path.
        while let Ok(frame) = read_frame(&mut pipe, 512).await {
            match frame {
                Frame::Message(payload) => {
                    let _ = envelope::decode(&payload);
                }
                Frame::Oversized { prefix, .. } => {
                    let _ = envelope::sniff_id(&prefix);
                }
                Frame::Truncated { prefix } => {
                    let _ = envelope::sniff_id(&prefix);
                    break;
                }
                Frame::Eof => break,
            }
        }
    });
});
