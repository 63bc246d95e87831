//! Our own accept loop (warp 0.4 has no TLS of its own, and the admin socket is a Unix socket):
//! hyper-util's HTTP/1+2 server over `warp::service`, optionally behind a rustls handshake, with
//! a header-read timeout against slow-loris clients, an idle limit on every connection and a
//! graceful drain on shutdown.
//!
//! Invariant: a connection with no request in flight is closed (gracefully: HTTP/2 says GOAWAY)
//! after [`IDLE_LIMIT`]. hyper's own timers do not cover a client that connects and never sends
//! a byte (the protocol is not chosen yet), nor an HTTP/2 client that answers pings and asks
//! for nothing: without the limit each held a file descriptor for good.
//!
//! Invariant: an HTTP/1 answer to a request whose body was not read to its end says
//! `Connection: close`. hyper closes such a connection after the answer, but it often writes the
//! answer's head before it notices, and a client that then reuses the connection loses its next
//! request.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
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
/// A connection with no request in flight for this long is closed (nginx keeps 75 s).
pub const IDLE_LIMIT: Duration = Duration::from_secs(75);

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
    serve_with(listener, None, routes, shutdown, IDLE_LIMIT).await;
}

/// Like [`serve`], over TLS: the handshake runs in each connection's own task, so a slow client
/// holds up nobody else.
pub async fn serve_tls(
    listener: TcpListener,
    tls: TlsLayer,
    routes: Routes,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(
        Listener::Tcp(listener),
        Some(tls),
        routes,
        shutdown,
        IDLE_LIMIT,
    )
    .await;
}

async fn serve_with(
    listener: Listener,
    tls: Option<TlsLayer>,
    routes: Routes,
    mut shutdown: watch::Receiver<bool>,
    idle_limit: Duration,
) {
    // Each connection's task holds a sender; the drain waits for the last to go.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
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
                    let activity = Arc::new(Activity::default());
                    let tracked = activity.clone();
                    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                        // In flight until its answer's body is sent, or the request is dropped.
                        let busy = tracked.begin();
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
                            Ok::<_, std::convert::Infallible>(res.map(|inner| InFlight { inner, _busy: busy }))
                        }
                    });
                    let builder = builder.clone();
                    let open = open_tx.clone();
                    let mut stop = shutdown.clone();
                    let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
                    tokio::spawn(async move {
                        let _open = open;
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
                        let mut conn = std::pin::pin!(conn);
                        let mut closing = false;
                        loop {
                            tokio::select! {
                                ended = conn.as_mut() => {
                                    if let Err(e) = ended {
                                        tracing::debug!(error = %e, "connection closed with an error");
                                    }
                                    break;
                                }
                                () = stopped(&mut stop), if !closing => {
                                    closing = true;
                                    conn.as_mut().graceful_shutdown();
                                }
                                () = activity.idle_for(idle_limit), if !closing => {
                                    closing = true;
                                    conn.as_mut().graceful_shutdown();
                                }
                            }
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
    drop(open_tx);
    tokio::select! {
        _ = open_rx.recv() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after the drain timeout were cut"),
    }
}

/// One connection's requests in flight, and since when it has had none.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds from `start` when the last request ended.
    idle_since_ms: AtomicU64,
    start: Instant,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            start: Instant::now(),
        }
    }
}

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// Resolves once the connection has had no request in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let idle_since =
                self.start + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            if self.in_flight.load(Ordering::Acquire) == 0 && idle_since.elapsed() >= limit {
                return;
            }
            // Looked at again when the limit could have passed, or soon while busy.
            let wait = limit.saturating_sub(idle_since.elapsed()).max(limit / 4);
            tokio::time::sleep(wait).await;
        }
    }
}

/// A request in flight; dropped with its answer's body, or with the request.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.start.elapsed().as_millis() as u64;
        self.0.idle_since_ms.store(now, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body, which keeps its request in flight until it is sent or dropped.
struct InFlight<B> {
    inner: B,
    _busy: Busy,
}

impl<B: Body + Unpin> Body for InFlight<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use warp::{Filter, Reply};

    const LIMIT: Duration = Duration::from_secs(1);

    /// `/hello` answers at once; `/slow` streams for 2.5 s, past the idle limit.
    async fn server() -> (SocketAddr, watch::Sender<bool>) {
        let hello = warp::path("hello").map(|| "hi".into_response());
        let slow = warp::path("slow").map(|| {
            let ticks = tokio_stream_ticks(5, Duration::from_millis(500));
            warp::reply::stream(ticks).into_response()
        });
        let routes = hello.or(slow).unify().boxed();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(serve_with(
            Listener::Tcp(listener),
            None,
            routes,
            shutdown,
            LIMIT,
        ));
        (addr, stop)
    }

    fn tokio_stream_ticks(
        count: usize,
        every: Duration,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + Sync {
        futures_util::stream::iter(0..count).then(move |_| async move {
            tokio::time::sleep(every).await;
            Ok(bytes::Bytes::from_static(b"tick\n"))
        })
    }

    /// Everything the server sends until it closes (or `within` passes: then `None`).
    async fn until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
        let mut got = Vec::new();
        tokio::time::timeout(within, stream.read_to_end(&mut got))
            .await
            .ok()
            .map(|read| {
                read.unwrap();
                got
            })
    }

    const SETTINGS: u8 = 0x4;
    const PING: u8 = 0x6;
    const GOAWAY: u8 = 0x7;
    const ACK: u8 = 0x1;

    /// A minimal HTTP/2 peer that asks for nothing: acknowledges the server's settings and
    /// pings until the server closes; answers the frame types seen.
    async fn answer_h2_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut seen = Vec::new();
        let mut head = [0u8; 9];
        while stream.read_exact(&mut head).await.is_ok() {
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let (kind, flags) = (head[3], head[4]);
            let mut payload = vec![0u8; len];
            if stream.read_exact(&mut payload).await.is_err() {
                break;
            }
            seen.push(kind);
            let reply = match kind {
                SETTINGS if flags & ACK == 0 => Some((SETTINGS, Vec::new())),
                PING if flags & ACK == 0 => Some((PING, payload)),
                _ => None,
            };
            if let Some((kind, payload)) = reply {
                let len = payload.len();
                let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, ACK];
                frame.extend_from_slice(&[0, 0, 0, 0]);
                frame.extend_from_slice(&payload);
                if stream.write_all(&frame).await.is_err() {
                    break;
                }
            }
        }
        seen
    }

    #[tokio::test]
    async fn connections_with_nothing_in_flight_are_closed_after_the_idle_limit() {
        let (addr, _stop) = server().await;
        // Connected, and never a byte: the protocol is not even chosen yet.
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(
            until_closed(&mut silent, 4 * LIMIT).await.is_some(),
            "a silent connection was held open"
        );
        // HTTP/2's preface and settings, then nothing asked: told to go away (GOAWAY), and
        // closed once the client has answered the pings that drain it, as browsers do.
        let mut h2 = tokio::net::TcpStream::connect(addr).await.unwrap();
        h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .unwrap();
        let frames = tokio::time::timeout(4 * LIMIT, answer_h2_until_closed(&mut h2))
            .await
            .expect("an idle HTTP/2 connection was held open");
        assert!(frames.contains(&GOAWAY), "{frames:?}");
        // A kept-alive HTTP/1.1 connection after its answer.
        let mut h1 = tokio::net::TcpStream::connect(addr).await.unwrap();
        h1.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let got = until_closed(&mut h1, 4 * LIMIT)
            .await
            .expect("closed once idle");
        assert!(String::from_utf8_lossy(&got).ends_with("hi"), "{got:?}");
    }

    #[tokio::test]
    async fn an_answer_still_streaming_keeps_its_connection_past_the_idle_limit() {
        let (addr, _stop) = server().await;
        let mut h1 = tokio::net::TcpStream::connect(addr).await.unwrap();
        h1.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let got = until_closed(&mut h1, 10 * LIMIT)
            .await
            .expect("the answer ends");
        let text = String::from_utf8_lossy(&got);
        assert_eq!(text.matches("tick").count(), 5, "{text}");
    }
}
