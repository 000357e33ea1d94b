//! The accept loop: HTTP/1.1 connections with deadlines (headers, idle keep-alive, bodies),
//! a cap on open connections, `TCP_NODELAY`, WebSocket upgrades, and a graceful stop.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use crate::log;

/// How long a client may take over each part of a request, and how many connections may be
/// open at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// To send the request line and headers; also how long an idle keep-alive connection stays.
    pub header: Duration,
    /// Between two pieces of a request body (the whole body is also bounded by the handler).
    pub body: Duration,
    /// Open TCP connections (pages, keep-alives, WebSockets, long-polls) at one time; a
    /// connection beyond it is closed as soon as it is accepted.
    pub max_connections: usize,
}

/// Largest read buffer of a connection, which bounds the request head (request line and
/// headers): hyper's default, about 400 KiB, would let 10,000 slow connections hold 4 GB.
/// Browsers send a few KiB (Node allows 16 KiB). hyper checks it between reads, so a head
/// may pass it by one read; well beyond it the answer is 431.
const MAX_HEAD: usize = 32 * 1024;

/// How often a refused connection may be logged: a flood makes one line per interval.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets every
/// connection finish its request in flight and returns once they are all closed.
///
/// # Errors
/// Never today: accept errors (e.g. too many open files) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body));
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = log::Occasional::new(REFUSAL_LOG_INTERVAL);
    // Every connection holds a receiver; once they are all dropped, every connection is done.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    log::error(&format!("accepting a connection: {err}"));
                    // Out of file descriptors, usually: give connections time to close.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            drop(stream);
            if let Some(refused) = refusals.tick() {
                log::warning(&format!(
                    "{} open connections, the most `[server] max_connections` allows: closed {refused} \
                     new connection(s) (the latest from {remote})",
                    limits.max_connections
                ));
            }
            continue;
        };
        // See: issue 11, a 40 ms Nagle stall on small socket frames after the upgrade.
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::extract::Request<_>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request
        });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _open = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header).max_buf_size(MAX_HEAD);
            let connection = http
                .serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service.map_request(|request: hyper::Request<hyper::body::Incoming>| {
                        request.map(axum::body::Body::new)
                    })),
                )
                .with_upgrades();
            tokio::pin!(connection);
            let stopping = async {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            tokio::pin!(stopping);
            let mut asked = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            log::debug(&format!("connection from {remote}: {err}"));
                        }
                        break;
                    }
                    () = &mut stopping, if !asked => {
                        asked = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
    Ok(())
}
