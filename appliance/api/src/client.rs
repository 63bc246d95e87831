//! The CLI's side of the admin socket: one HTTP/1 request per call over a Unix stream.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::ErrorBody;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::UnixStream;

/// Bytes of a file read from disk per frame of an upload.
const FILE_CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the server is not running: no admin socket answers at {0} (start it with `studiovault serve`)"
    )]
    NotRunning(PathBuf),
    #[error("permission denied on {0}: run this as the user the server runs as, or as root")]
    PermissionDenied(PathBuf),
    #[error("cannot reach the admin socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the admin socket broke off: {0}")]
    Protocol(String),
    #[error("writing the answer: {0}")]
    Write(String),
    /// The file to send cannot be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct AdminClient {
    socket: PathBuf,
}

impl AdminClient {
    pub fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_owned(),
        }
    }

    /// Sends one JSON request; answers the response with its body still to read.
    async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let req = request(method, path)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.exchange(req).await
    }

    /// Sends `req` over a new connection; answers the response with its body still to read.
    async fn exchange<B>(&self, req: Request<B>) -> Result<Response<Incoming>, ClientError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning(self.socket.clone())
                }
                std::io::ErrorKind::PermissionDenied => {
                    ClientError::PermissionDenied(self.socket.clone())
                }
                _ => ClientError::Connect {
                    path: self.socket.clone(),
                    source: e,
                },
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(conn);
        sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Protocol(error_chain(&e)))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        answer(self.open(method, path, body).await?).await
    }

    /// POSTs `body` and writes the answer into `out` as it arrives, for answers too large to
    /// hold (an archive); answers the bytes written. An answer cut short is an error.
    pub async fn post_into<B: Serialize, W: AsyncWrite + Unpin>(
        &self,
        path: &str,
        body: &B,
        out: &mut W,
    ) -> Result<u64, ClientError> {
        let res = self
            .open(
                Method::POST,
                path,
                Some(serde_json::to_vec(body).unwrap_or_default()),
            )
            .await?;
        let status = res.status();
        let mut body = res.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()))?
                .to_bytes();
            return Err(api_error(status, &bytes));
        }
        let mut written = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Protocol(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data)
                    .await
                    .map_err(|e| ClientError::Write(e.to_string()))?;
                written += data.len() as u64;
            }
        }
        out.flush()
            .await
            .map_err(|e| ClientError::Write(e.to_string()))?;
        Ok(written)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(
            Method::POST,
            path,
            Some(serde_json::to_vec(body).unwrap_or_default()),
        )
        .await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(
            Method::PATCH,
            path,
            Some(serde_json::to_vec(body).unwrap_or_default()),
        )
        .await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::DELETE, path, None).await
    }

    /// POSTs the bytes of `file` as the body (`application/octet-stream`), streamed from disk
    /// rather than read whole: a suspect recording may be hundreds of megabytes. The file is
    /// sent at the length it had when opened.
    pub async fn post_file<T: DeserializeOwned>(
        &self,
        path: &str,
        file: &Path,
    ) -> Result<T, ClientError> {
        let unreadable = |source| ClientError::ReadFile {
            path: file.to_owned(),
            source,
        };
        let opened = tokio::fs::File::open(file).await.map_err(unreadable)?;
        let metadata = opened.metadata().await.map_err(unreadable)?;
        if !metadata.is_file() {
            return Err(unreadable(std::io::Error::other("not a regular file")));
        }
        let req = request(Method::POST, path)
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
            .header(hyper::header::CONTENT_LENGTH, metadata.len())
            .body(FileBody::new(opened, metadata.len()))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        answer(self.exchange(req).await?).await
    }
}

/// A request to the admin API, before its body.
fn request(method: Method, path: &str) -> hyper::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "studiovault-admin")
}

/// Reads a whole answer: the JSON of a success (`null` when it is empty), or the refusal.
async fn answer<T: DeserializeOwned>(res: Response<Incoming>) -> Result<T, ClientError> {
    let status = res.status();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(api_error(status, &bytes));
    }
    let bytes = if bytes.is_empty() {
        Bytes::from_static(b"null")
    } else {
        bytes
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Protocol(format!("unexpected answer: {e}")))
}

/// An error and its causes, `a: b: c`: hyper's own sentence alone hides why a body failed.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A file as a request body, read a chunk at a time as the connection takes it.
struct FileBody {
    file: tokio::fs::File,
    /// Bytes still to send, so that the body ends where its `Content-Length` says.
    left: u64,
    chunk: BytesMut,
}

impl FileBody {
    fn new(file: tokio::fs::File, len: u64) -> Self {
        Self {
            file,
            left: len,
            chunk: BytesMut::new(),
        }
    }
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.left).map_or(FILE_CHUNK, |left| left.min(FILE_CHUNK));
        // Kept across a pending read: the file's next poll fills the same chunk.
        this.chunk.resize(want, 0);
        let mut buf = ReadBuf::new(&mut this.chunk);
        ready!(Pin::new(&mut this.file).poll_read(cx, &mut buf))?;
        let read = buf.filled().len();
        if read == 0 {
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file got shorter while it was being sent",
            ))));
        }
        this.left -= read as u64;
        this.chunk.truncate(read);
        Poll::Ready(Some(Ok(Frame::data(this.chunk.split().freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// The error a refusal's body names, or the status alone.
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => ClientError::Api {
            status,
            code: e.error,
            message: e.message,
        },
        Err(_) => ClientError::Api {
            status,
            code: "unknown".into(),
            message: format!("the server answered {status}"),
        },
    }
}

/// Percent-encodes a user id or e-mail for a path segment.
pub fn segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

    use serde_json::{Value, json};
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixListener;

    use super::*;

    /// A path under the temporary directory that no other test of this run uses.
    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("studiovault-client-{}-{name}", std::process::id()))
    }

    /// Reads one request on `listener` and answers `status` with `reply`; hands back the
    /// request's head and body.
    async fn serve_once(listener: UnixListener, status: &str, reply: Value) -> (String, Vec<u8>) {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buf = vec![0; 16 * 1024];
        let head_end = loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request ended inside its head");
            received.extend_from_slice(&buf[..n]);
            if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8(received[..head_end].to_vec()).unwrap();
        let len: usize = head
            .lines()
            .find_map(|line| {
                let line = line.to_ascii_lowercase();
                line.strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a content-length header");
        let mut body = received.split_off(head_end);
        while body.len() < len {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the body ended early");
            body.extend_from_slice(&buf[..n]);
        }
        let reply = reply.to_string();
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
            reply.len()
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
        (head, body)
    }

    #[tokio::test]
    async fn post_file_streams_the_whole_file_as_an_octet_stream() {
        let socket = scratch("stream.sock");
        let file = scratch("suspect.wav");
        let _ = std::fs::remove_file(&socket);
        // Several chunks and a partial one, so the body's framing is exercised.
        let bytes: Vec<u8> = (0..3 * FILE_CHUNK + 1234)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&file, &bytes).unwrap();
        let listener = UnixListener::bind(&socket).unwrap();
        let server = tokio::spawn(serve_once(listener, "200 OK", json!({"found": true})));

        let answer: Value = AdminClient::new(&socket)
            .post_file("/v1/leaks/trace-file", &file)
            .await
            .unwrap();

        let (head, body) = server.await.unwrap();
        assert_eq!(answer, json!({"found": true}));
        assert!(
            head.starts_with("POST /v1/leaks/trace-file HTTP/1.1\r\n"),
            "{head}"
        );
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-type: application/octet-stream\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}\r\n", bytes.len())),
            "{head}"
        );
        assert!(body == bytes, "the body is the file, byte for byte");
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(&file);
    }

    #[tokio::test]
    async fn post_file_maps_a_refusal_like_every_other_call() {
        let socket = scratch("refusal.sock");
        let file = scratch("not-audio.txt");
        let _ = std::fs::remove_file(&socket);
        std::fs::write(&file, b"hello").unwrap();
        let listener = UnixListener::bind(&socket).unwrap();
        let server = tokio::spawn(serve_once(
            listener,
            "422 Unprocessable Entity",
            json!({"error": "not_audio", "message": "the file is not audio"}),
        ));

        let error = AdminClient::new(&socket)
            .post_file::<Value>("/v1/leaks/trace-file", &file)
            .await
            .unwrap_err();

        server.await.unwrap();
        match error {
            ClientError::Api {
                status,
                code,
                message,
            } => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
                assert_eq!(code, "not_audio");
                assert_eq!(message, "the file is not audio");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(&file);
    }

    #[tokio::test]
    async fn post_file_names_a_file_it_cannot_read_before_calling_the_server() {
        // No server listens: the file is checked first.
        let client = AdminClient::new(&scratch("nobody.sock"));
        let missing = scratch("missing.wav");
        let error = client
            .post_file::<Value>("/v1/leaks/trace-file", &missing)
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::ReadFile { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot read {}: ", missing.display())),
            "{error}"
        );
        let error = client
            .post_file::<Value>("/v1/leaks/trace-file", &std::env::temp_dir())
            .await
            .unwrap_err();
        assert!(
            error.to_string().ends_with(": not a regular file"),
            "{error}"
        );
    }
}
