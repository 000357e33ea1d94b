//! Deadlines and the stop signal of HTTP connections, kept by one sweeper instead of a timer
//! per request: a connection that is not serving a request and has made no progress (a
//! response returned or written) for the header timeout is closed, whether it is a slow
//! request head (slowloris), an idle keep-alive or a response nobody reads.
//!
//! hyper's own `header_read_timeout` allocated, armed and cancelled a timer for every request
//! on a keep-alive connection (issue 11: the page path's overhead over bare axum). Here a
//! request costs two relaxed stores, and the sweeper wakes a few times per timeout.
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::AbortHandle;

/// Every open HTTP connection of one listener, swept a few times per timeout.
pub struct Watchdog {
    started: Instant,
    /// Milliseconds since `started`, as of the last sweep: what requests stamp (reading the
    /// clock on every request would cost more than the stamp's precision is worth).
    now_ms: AtomicU64,
    limit_ms: u64,
    conns: Mutex<HashMap<u64, Arc<Watch>>>,
    next_id: AtomicU64,
}

/// One connection as the watchdog sees it.
pub struct Watch {
    id: u64,
    /// A request is being served (from its head to its response): no deadline then.
    busy: AtomicBool,
    /// When the connection last made progress, in the watchdog's milliseconds.
    last_ms: AtomicU64,
    stop: AtomicBool,
    stop_waker: AtomicWaker,
    abort: OnceLock<AbortHandle>,
}

impl Watchdog {
    /// A watchdog closing connections idle for `limit`; its sweeper runs until the watchdog
    /// is dropped.
    pub fn start(limit: Duration) -> Arc<Self> {
        let watchdog = Arc::new(Self {
            started: Instant::now(),
            now_ms: AtomicU64::new(0),
            limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            conns: Mutex::default(),
            next_id: AtomicU64::new(0),
        });
        // A quarter of the limit between sweeps: a connection goes within 1.25 × the limit.
        let every = (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        tokio::spawn(sweep(Arc::downgrade(&watchdog), every));
        watchdog
    }

    /// Registers a new connection; it leaves when the returned [`Registration`] is dropped
    /// (by the connection's task, however it ends).
    pub fn watch(self: &Arc<Self>) -> Registration {
        let watch = Arc::new(Watch {
            id: self.next_id.fetch_add(1, Relaxed),
            busy: AtomicBool::new(false),
            last_ms: AtomicU64::new(self.now_ms.load(Relaxed)),
            stop: AtomicBool::new(false),
            stop_waker: AtomicWaker::new(),
            abort: OnceLock::new(),
        });
        self.conns.lock().unwrap().insert(watch.id, Arc::clone(&watch));
        Registration { watchdog: Arc::clone(self), watch }
    }

    /// Asks every connection to finish its request in flight and close.
    pub fn stop_all(&self) {
        for watch in self.conns.lock().unwrap().values() {
            watch.stop.store(true, Relaxed);
            watch.stop_waker.wake();
        }
    }

    /// Marks progress on `watch` now.
    fn stamp(&self, watch: &Watch) {
        watch.last_ms.store(self.now_ms.load(Relaxed), Relaxed);
    }
}

impl Watch {
    /// Gives the watchdog the means to close this connection (its task).
    pub fn closes_with(&self, abort: AbortHandle) {
        let _ = self.abort.set(abort);
    }

    /// A request's head arrived: its handler may take as long as it takes.
    pub fn request_started(&self) {
        self.busy.store(true, Relaxed);
    }

    /// The request's response is ready: the connection's deadline runs again from now.
    pub fn request_answered(&self, watchdog: &Watchdog) {
        watchdog.stamp(self);
        self.busy.store(false, Relaxed);
    }

    /// Resolves once the server stops.
    pub async fn stop_requested(&self) {
        std::future::poll_fn(|cx| {
            self.stop_waker.register(cx.waker());
            if self.stop.load(Relaxed) { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }
}

/// A connection's place among the watched; it leaves when this is dropped.
pub struct Registration {
    watchdog: Arc<Watchdog>,
    watch: Arc<Watch>,
}

impl Registration {
    pub fn watch(&self) -> &Arc<Watch> {
        &self.watch
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.watchdog.conns.lock().unwrap().remove(&self.watch.id);
    }
}

async fn sweep(watchdog: Weak<Watchdog>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(watchdog) = watchdog.upgrade() else { return };
        let now = u64::try_from(watchdog.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        watchdog.now_ms.store(now, Relaxed);
        for watch in watchdog.conns.lock().unwrap().values() {
            let idle = now.saturating_sub(watch.last_ms.load(Relaxed));
            if !watch.busy.load(Relaxed)
                && idle > watchdog.limit_ms
                && let Some(abort) = watch.abort.get()
            {
                abort.abort();
            }
        }
    }
}

/// A connection's TCP stream, stamping the watchdog whenever a write makes progress (a long
/// download to a slow reader is progress; a reader that stopped reading is not).
pub struct WatchedIo {
    inner: TokioIo<TcpStream>,
    watch: Arc<Watch>,
    watchdog: Arc<Watchdog>,
}

impl WatchedIo {
    pub fn new(stream: TcpStream, watch: Arc<Watch>, watchdog: Arc<Watchdog>) -> Self {
        Self { inner: TokioIo::new(stream), watch, watchdog }
    }

    /// The stream, unwatched (an upgraded connection keeps its own deadlines).
    pub fn into_inner(self) -> TcpStream {
        self.inner.into_inner()
    }

    fn progressed(&self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) {
            self.watchdog.stamp(&self.watch);
        }
    }
}

impl Read for WatchedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl Write for WatchedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progressed(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progressed(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
