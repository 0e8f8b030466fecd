//! The accept loop: HTTP/1.1 connections with a header-read deadline, a connection cap and a
//! shutdown that ends on time.
//!
//! Hand-written around hyper rather than `axum::serve`, because `axum::serve` offers none of
//! the three, and each closes a denial of service:
//!
//! * **Header-read deadline** (`http.header_read_timeout_secs`, 10 s): hyper's
//!   `header_read_timeout` runs from the moment the server waits for a request head — from
//!   the accept for the first request, from the end of the previous response for the next —
//!   so it bounds both a slowloris client that trickles half a head and an idle keep-alive
//!   connection. When it fires, the connection is closed.
//! * **Connection cap** (`http.max_connections`): past it, a new connection is answered
//!   `503` with `Connection: close` at once and closed, and a warning is logged (at most every
//!   10 s), so that the process never runs out of file descriptors and `accept` keeps
//!   draining the backlog.
//! * **Shutdown deadline** (`http.shutdown_grace_secs`, 10 s): on shutdown the listener is
//!   closed, idle connections are closed, requests in flight may finish; whatever is still
//!   open when the grace runs out (a client holding half a request head, a stuck request) is
//!   dropped, and the call returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::Layer as _;

/// How connections are handled.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// How long a request head may take, counted from when the server waits for it (so also
    /// the keep-alive idle limit).
    pub header_read_timeout: Duration,
    /// Connections open at once; more are refused with 503.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight before it drops their connections.
    pub shutdown_grace: Duration,
}

/// What an over-the-cap connection is told before it is closed. A fixed answer written
/// without reading the request: it fits any HTTP/1.x client's first read.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 102\r\n\r\n\
{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections, retry shortly\",\"request_id\":\"-\"}}\n";

/// Serves `router` on `listener` until `shutdown` completes, then drains within the grace.
/// `name` says which listener in logs (`api`, `admin`).
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (close_tx, close_rx) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let mut conns = JoinSet::new();
    let mut last_warning: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set does not grow with every one ever served.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(name, &e).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse(name, &stream, options.max_connections, &mut last_warning);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service =
            TowerToHyperService::new(axum::Extension(ConnectInfo(remote)).layer(router.clone()));
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let mut close = close_rx.clone();
        conns.spawn(async move {
            let _permit = permit;
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => log_end(res),
                _ = async { close.wait_for(|stop| *stop).await.map(|_| ()) } => {
                    // Closes the connection if idle, or after the response in flight.
                    conn.as_mut().graceful_shutdown();
                    log_end(conn.await);
                }
            }
        });
    }
    drop(listener);
    let _ = close_tx.send(true);
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            listener = name,
            open = conns.len(),
            grace_secs = options.shutdown_grace.as_secs_f64(),
            "shutdown grace elapsed; closing the connections still open"
        );
        conns.shutdown().await;
    }
    Ok(())
}

/// Answers 503 and closes, without a task: a new socket's send buffer is empty, so the
/// non-blocking write takes the whole answer (or the client is gone and nothing is lost).
fn refuse(name: &'static str, stream: &TcpStream, cap: usize, last_warning: &mut Option<Instant>) {
    let _ = stream.try_write(REFUSAL);
    metrics::counter!("wxlogin_http_connections_refused_total", "listener" => name).increment(1);
    if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
        *last_warning = Some(Instant::now());
        tracing::warn!(
            listener = name,
            max_connections = cap,
            "connection limit reached; refusing new connections with 503 (http.max_connections)"
        );
    }
}

/// `accept` failed: per-connection errors (the client left first) are ignored; running out
/// of file descriptors or memory waits a moment instead of spinning (a shutdown is noticed
/// right after).
async fn accept_failed(name: &str, error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(listener = name, error = %error, "accept failed; pausing for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn log_end(res: Result<(), hyper::Error>) {
    if let Err(e) = res {
        if e.is_timeout() {
            tracing::debug!("connection closed: request head not received in time");
        } else {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

/// The address a listener is bound to, for logs and banners (`0.0.0.0` shown as loopback).
pub fn display_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::IpAddr::from([127, 0, 0, 1]), addr.port())
    } else {
        addr
    }
}
