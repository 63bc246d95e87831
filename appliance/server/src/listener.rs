//! Our own accept loop (warp 0.4 has no TLS of its own, and the admin socket is a Unix socket):
//! hyper-util's HTTP/1+2 server over `warp::service`, optionally behind a rustls handshake, with
//! a header-read timeout against slow-loris clients and a graceful drain on shutdown.
//!
//! Invariant: an HTTP/1 answer to a request whose body was not read to its end says
//! `Connection: close`. hyper closes such a connection after the answer, but it often writes the
//! answer's head before it notices, and a client that then reuses the connection loses its next
//! request.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use warp::filters::BoxedFilter;
use warp::http::header::{CONNECTION, STRICT_TRANSPORT_SECURITY};
use warp::http::{HeaderValue, Version};
use warp::reply::Response;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub type Routes = BoxedFilter<(Response,)>;

/// The peer address of a connection, put into each request by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<(Box<dyn Io>, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Box::new(s), Some(peer)))
            }
            Listener::Unix(l) => Ok((Box::new(l.accept().await?.0), None)),
        }
    }
}

/// HTTPS: the handshake each connection goes through, and the HSTS value every answer carries.
#[derive(Clone)]
pub struct TlsLayer {
    pub acceptor: TlsAcceptor,
    pub hsts: HeaderValue,
}

impl TlsLayer {
    pub fn new(tls: &studiovault_tls::Tls) -> anyhow::Result<Self> {
        Ok(Self {
            acceptor: TlsAcceptor::from(tls.server_config()),
            hsts: HeaderValue::from_str(&tls.hsts())?,
        })
    }
}

/// Serves `routes` on `listener` until `shutdown` turns true, then drains open connections.
pub async fn serve(listener: Listener, routes: Routes, shutdown: watch::Receiver<bool>) {
    serve_with(listener, None, routes, shutdown).await;
}

/// Like [`serve`], over TLS: the handshake runs in each connection's own task, so a slow client
/// holds up nobody else.
pub async fn serve_tls(
    listener: TcpListener,
    tls: TlsLayer,
    routes: Routes,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(Listener::Tcp(listener), Some(tls), routes, shutdown).await;
}

async fn serve_with(
    listener: Listener,
    tls: Option<TlsLayer>,
    routes: Routes,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // HTTP/2 has no header-read timeout: pings find peers that went away without a word.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(H2_PING_INTERVAL))
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let builder = Arc::new(builder);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((io, peer)) => {
                    let svc = warp::service(routes.clone());
                    let hsts = tls.as_ref().map(|t| t.hsts.clone());
                    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                        if let Some(peer) = peer {
                            req.extensions_mut().insert(ClientAddr(peer));
                        }
                        let http1 = req.version() < Version::HTTP_2;
                        let (req, read) = ReadToEnd::wrap(req);
                        let mut svc = svc.clone();
                        let hsts = hsts.clone();
                        async move {
                            let mut res = tower_service::Service::call(&mut svc, req).await?;
                            if let Some(hsts) = hsts {
                                res.headers_mut().insert(STRICT_TRANSPORT_SECURITY, hsts);
                            }
                            if http1 && !read.load(Ordering::Acquire) {
                                res.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                            }
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
                    tokio::spawn(async move {
                        let io: Box<dyn Io> = match acceptor {
                            None => io,
                            Some(acceptor) => {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                                    Ok(Ok(stream)) => {
                                        // A TLS-ALPN-01 validation ends with the handshake.
                                        if stream.get_ref().1.alpn_protocol() == Some(studiovault_tls::ACME_TLS_ALPN) {
                                            return;
                                        }
                                        Box::new(stream)
                                    }
                                    Ok(Err(e)) => {
                                        tracing::debug!(error = %e, "TLS handshake failed");
                                        return;
                                    }
                                    Err(_) => return,
                                }
                            }
                        };
                        let conn = builder.serve_connection(TokioIo::new(io), svc).into_owned();
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!(error = %e, "connection closed with an error");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = stopped(&mut shutdown) => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after the drain timeout were cut"),
    }
}

/// A request body that notes when it has been read to its end (or had none).
struct ReadToEnd {
    inner: Incoming,
    read: Arc<AtomicBool>,
}

impl ReadToEnd {
    fn wrap(req: hyper::Request<Incoming>) -> (hyper::Request<Self>, Arc<AtomicBool>) {
        let read = Arc::new(AtomicBool::new(req.body().is_end_stream()));
        let flag = read.clone();
        (req.map(|inner| Self { inner, read: flag }), read)
    }
}

impl Body for ReadToEnd {
    type Data = <Incoming as Body>::Data;
    type Error = <Incoming as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
