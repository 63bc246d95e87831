//! The CLI's side of the admin socket: one HTTP/1 request per call over a Unix stream.

use std::path::{Path, PathBuf};

use crate::ErrorBody;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

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

    /// Sends one request; answers the response with its body still to read.
    async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
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
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "studiovault-admin")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let res = self.open(method, path, body).await?;
        let status = res.status();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let (status, bytes) = self.send(method, path, body).await?;
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
