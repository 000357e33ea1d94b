//! The accept loop: HTTP/1.1 connections with deadlines (headers, idle keep-alive, bodies),
//! a cap on open connections, `TCP_NODELAY`, WebSocket upgrades, and a graceful stop.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use super::watchdog::{Watchdog, WatchedIo};
use crate::log;

/// How long a client may take over each part of a request, and how many connections may be
/// open at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// To send the request line and headers; also how long an idle keep-alive connection stays
    /// and how long a response may go unread (kept by [`Watchdog`], not a timer per request).
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
    let watchdog = Watchdog::start(limits.header);
    // Every connection holds a receiver; once they are all dropped, every connection is done.
    let (done_tx, done_rx) = watch::channel(());
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
        let registered = watchdog.watch();
        let conn = Arc::clone(registered.watch());
        let service = {
            let (started, answered, watchdog) = (Arc::clone(&conn), Arc::clone(&conn), Arc::clone(&watchdog));
            router
                .clone()
                .map_request(move |mut request: axum::extract::Request<_>| {
                    started.request_started();
                    request.extensions_mut().insert(ConnectInfo(remote));
                    request
                })
                .map_response(move |response| {
                    answered.request_answered(&watchdog);
                    response
                })
        };
        let io = WatchedIo::new(stream, Arc::clone(&conn), Arc::clone(&watchdog));
        let done = done_rx.clone();
        let task = tokio::spawn(async move {
            // Dropped however the task ends (also when the watchdog aborts it).
            let (_open, _done, registered) = (permit, done, registered);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.max_buf_size(MAX_HEAD);
            let connection = http
                .serve_connection(
                    io,
                    TowerToHyperService::new(service.map_request(|request: hyper::Request<hyper::body::Incoming>| {
                        request.map(axum::body::Body::new)
                    })),
                )
                .with_upgrades();
            tokio::pin!(connection);
            let mut asked = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            log::debug(&format!("connection from {remote}: {err}"));
                        }
                        break;
                    }
                    () = registered.watch().stop_requested(), if !asked => {
                        asked = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
        conn.closes_with(task.abort_handle());
    }
    drop(listener);
    drop(done_rx);
    watchdog.stop_all();
    done_tx.closed().await;
    Ok(())
}
