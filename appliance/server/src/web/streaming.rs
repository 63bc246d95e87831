//! Stored audio streamed out of the store to a client.

use bytes::Bytes;
use studiovault_vault::BlobReader;
use tokio_stream::wrappers::ReceiverStream;

/// Plaintext decrypted per read and handed to the socket per message (8 chunks).
const STREAM_PIECE: usize = 512 * 1024;
/// Pieces decrypted ahead of the socket.
const STREAM_QUEUE: usize = 4;

/// Streams `count` plaintext bytes from `start`, decrypting on a blocking thread at most a few
/// pieces ahead of the socket: memory stays flat whatever the file size, and a client that
/// stops reading stops the decryption.
pub fn stream_blob(
    mut reader: BlobReader,
    start: u64,
    count: u64,
) -> ReceiverStream<Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_QUEUE);
    tokio::task::spawn_blocking(move || {
        let end = start + count;
        let mut pos = start;
        while pos < end {
            let want = (end - pos).min(STREAM_PIECE as u64) as usize;
            let piece = match reader.read_span(pos, want) {
                Ok((buf, range)) => Bytes::from(buf).slice(range),
                Err(e) => {
                    tracing::error!(error = %e, "a stored blob failed to decrypt while streaming");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            pos += piece.len() as u64;
            if piece.is_empty() || tx.blocking_send(Ok(piece)).is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}
