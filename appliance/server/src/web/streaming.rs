//! Stored audio streamed out of the store to a client.

use bytes::Bytes;
use futures_util::Stream;
use studiovault_vault::BlobReader;

/// Plaintext decrypted per read and handed to the socket per message (8 chunks).
const STREAM_PIECE: usize = 512 * 1024;

/// Streams `count` plaintext bytes from `start`. Each piece is decrypted on a blocking thread
/// when the socket asks for it: memory stays flat whatever the file size, and a client that
/// stops reading holds no thread (thousands of stalled downloads cannot starve the blocking
/// pool every other request needs).
pub fn stream_blob(
    reader: BlobReader,
    start: u64,
    count: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let end = start + count;
    futures_util::stream::unfold(Some((reader, start)), move |left| async move {
        let (mut reader, pos) = left?;
        if pos >= end {
            return None;
        }
        let want = (end - pos).min(STREAM_PIECE as u64) as usize;
        let read = tokio::task::spawn_blocking(move || {
            let read = reader.read_span(pos, want);
            (reader, read)
        })
        .await;
        match read {
            Ok((reader, Ok((buf, range)))) => {
                let piece = Bytes::from(buf).slice(range);
                let next = pos + piece.len() as u64;
                (!piece.is_empty()).then(|| (Ok(piece), Some((reader, next))))
            }
            Ok((_, Err(e))) => {
                tracing::error!(error = %e, "a stored blob failed to decrypt while streaming");
                Some((Err(e), None))
            }
            Err(_) => Some((
                Err(std::io::Error::other("the decrypting thread failed")),
                None,
            )),
        }
    })
}
