//! Small request bodies (JSON, forms): a size limit, and a deadline for the whole body.

use std::time::Duration;

use bytes::Bytes;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::ApiError;

/// JSON bodies are small; anything larger is refused before it is read.
const JSON_BODY_LIMIT: u64 = 16 * 1024;
/// Small bodies (JSON, forms) arrive whole within this, or the request ends with 408.
pub const SMALL_BODY_DEADLINE: Duration = Duration::from_secs(10);

/// A request body of at most `limit` bytes that must arrive whole within `deadline`: a client
/// that trickles it (a slow-loris on the body rather than the headers) is cut off with 408.
pub fn body_within(
    limit: u64,
    deadline: Duration,
) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit)
        .and(warp::body::stream())
        .and_then(move |stream| async move {
            tokio::time::timeout(deadline, collect_body(stream, limit))
                .await
                .map_err(|_| {
                    warp::reject::custom(ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "body_timeout",
                        format!(
                            "the request body did not arrive within {} seconds",
                            deadline.as_secs()
                        ),
                    ))
                })?
                .map_err(warp::reject::custom)
        })
}

async fn collect_body<S, B>(stream: S, limit: u64) -> Result<Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use bytes::BufMut;
    use futures_util::StreamExt;
    let mut body = bytes::BytesMut::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("the request body was cut off"))?;
        if (body.len() + chunk.remaining()) as u64 > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            ));
        }
        // Every segment of the piece, not only its first.
        body.put(chunk);
    }
    Ok(body.freeze())
}

/// A small JSON body, whole within [`SMALL_BODY_DEADLINE`].
pub fn json_body<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    body_within(JSON_BODY_LIMIT, SMALL_BODY_DEADLINE).and_then(|body: Bytes| async move {
        serde_json::from_slice(&body).map_err(|e| {
            warp::reject::custom(ApiError::bad_request(format!("malformed JSON body: {e}")))
        })
    })
}
