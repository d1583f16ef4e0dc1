//! Reading and writing single length-prefixed frames.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame the bridge accepts from Firefox. Firefox itself allows up to 4 GiB toward
/// the host; nothing Harbor sends legitimately comes near this cap.
pub const MAX_INCOMING_FRAME: usize = 64 * 1024 * 1024;

/// How much of an oversized or cut-off frame is kept, to find its request id.
const PREFIX_KEPT: usize = 4096;

/// What one read from the pipe produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole frame's payload.
    Message(Vec<u8>),
    /// A frame longer than the cap; its bytes were read and dropped, the start kept.
    Oversized { len: usize, prefix: Vec<u8> },
    /// The pipe ended inside a frame; what did arrive of its payload (at most 4 KiB).
    Truncated { prefix: Vec<u8> },
    /// The pipe ended between frames: the clean way to stop.
    Eof,
}

/// Reads the next frame. I/O errors other than end-of-file are returned as errors.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, max: usize) -> std::io::Result<Frame> {
    let mut header = [0u8; 4];
    let got = read_full(reader, &mut header).await?;
    if got == 0 {
        return Ok(Frame::Eof);
    }
    if got < header.len() {
        return Ok(Frame::Truncated { prefix: Vec::new() });
    }
    let len = u32::from_ne_bytes(header) as usize;
    if len > max {
        return skip_oversized(reader, len).await;
    }
    let mut payload = vec![0u8; len];
    let got = read_full(reader, &mut payload).await?;
    if got < len {
        payload.truncate(got.min(PREFIX_KEPT));
        return Ok(Frame::Truncated { prefix: payload });
    }
    Ok(Frame::Message(payload))
}

/// Writes one frame and flushes it, so Firefox sees it at once.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    // One buffer, one write: the length and the payload reach the pipe together.
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&len.to_ne_bytes());
    frame.extend_from_slice(payload);
    writer.write_all(&frame).await?;
    writer.flush().await
}

/// Reads and drops `len` bytes, keeping the first few KiB.
async fn skip_oversized<R: AsyncRead + Unpin>(reader: &mut R, len: usize) -> std::io::Result<Frame> {
    let mut prefix = Vec::with_capacity(PREFIX_KEPT);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len());
        let n = reader.read(&mut buf[..want]).await?;
        if n == 0 {
            return Ok(Frame::Truncated { prefix });
        }
        let keep = (PREFIX_KEPT - prefix.len()).min(n);
        prefix.extend_from_slice(&buf[..keep]);
        left -= n;
    }
    Ok(Frame::Oversized { len, prefix })
}

/// Fills `buf` as far as the pipe allows; returns how many bytes arrived before end-of-file.
async fn read_full<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_ne_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[tokio::test]
    async fn reads_frames_split_across_many_reads() {
        let mut bytes = framed(br#"{"id":1}"#);
        bytes.extend(framed(br#"{"id":2}"#));
        // A reader that hands out one byte at a time, as a slow pipe can.
        let (mut tx, mut rx) = tokio::io::duplex(1);
        let feeder = tokio::spawn(async move {
            for b in bytes {
                tx.write_all(&[b]).await.unwrap();
            }
        });
        assert_eq!(read_frame(&mut rx, 1024).await.unwrap(), Frame::Message(br#"{"id":1}"#.to_vec()));
        assert_eq!(read_frame(&mut rx, 1024).await.unwrap(), Frame::Message(br#"{"id":2}"#.to_vec()));
        feeder.await.unwrap();
        assert_eq!(read_frame(&mut rx, 1024).await.unwrap(), Frame::Eof);
    }

    #[tokio::test]
    async fn oversized_frame_is_skipped_and_the_next_one_read() {
        let big = vec![b'x'; 10_000];
        let mut bytes = framed(&big);
        bytes.extend(framed(b"{}"));
        let mut reader = &bytes[..];
        match read_frame(&mut reader, 1000).await.unwrap() {
            Frame::Oversized { len, prefix } => {
                assert_eq!(len, 10_000);
                assert_eq!(prefix.len(), PREFIX_KEPT);
            }
            other => panic!("expected oversized, got {other:?}"),
        }
        assert_eq!(read_frame(&mut reader, 1000).await.unwrap(), Frame::Message(b"{}".to_vec()));
    }

    #[tokio::test]
    async fn cut_off_header_and_payload_are_truncated() {
        let mut reader: &[u8] = &[1, 0];
        assert_eq!(read_frame(&mut reader, 1000).await.unwrap(), Frame::Truncated { prefix: vec![] });
        let bytes = framed(br#"{"id":9,"method":"x"}"#);
        let mut reader = &bytes[..bytes.len() - 3];
        match read_frame(&mut reader, 1000).await.unwrap() {
            Frame::Truncated { prefix } => assert!(prefix.starts_with(br#"{"id":9"#)),
            other => panic!("expected truncated, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn write_then_read_round_trips() {
        let mut out = Vec::new();
        write_frame(&mut out, "{\"é\":1}".as_bytes()).await.unwrap();
        let mut reader = &out[..];
        assert_eq!(read_frame(&mut reader, 100).await.unwrap(), Frame::Message("{\"é\":1}".as_bytes().to_vec()));
    }
}
