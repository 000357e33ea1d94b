//! keystone-rs's own Socket.IO server: Engine.IO v4 (long-polling and WebSocket, one task per
//! WebSocket) under Socket.IO v5 (namespaces, rooms, acknowledgements, binary attachments),
//! with broadcasts shared between nodes over Redis. Written for what a connected visitor
//! costs: a few KiB per socket, one encoding per broadcast (issue 11).
pub mod cluster;
mod engine;
mod namespace;
pub mod packet;
mod websocket;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

pub use engine::Sid;
pub use namespace::{Broadcast, DisconnectReason, EmitError, Event, Handler, Namespace, Socket};

/// Limits and timings of the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the engine answers (`/socket.io`).
    pub path: &'static str,
    /// The server pings every connection this often...
    pub ping_interval: Duration,
    /// ...and closes it when nothing came back this long after a ping.
    pub ping_timeout: Duration,
    /// Largest incoming message: a polling body, one WebSocket message, one event with its
    /// attachments together.
    pub max_payload: usize,
    /// Binary attachments one event may announce.
    pub max_attachments: usize,
    /// How long an attachment-carrying event may take to bring all of them.
    pub attachment_timeout: Duration,
    /// How long a new connection may take to connect to a namespace before it is closed.
    pub connect_timeout: Duration,
    /// Messages queued for one client before more are dropped.
    pub send_buffer: usize,
    /// Bytes a WebSocket reads at a time (more when a message needs it).
    pub read_buffer: usize,
    /// Namespaces one connection may join at once.
    pub max_namespaces: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: "/socket.io",
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            max_attachments: 64,
            attachment_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(45),
            send_buffer: 1024,
            read_buffer: 4096,
            max_namespaces: 16,
        }
    }
}

/// The server: cheap to clone, shared by the HTTP entry point, the connections and the app.
#[derive(Clone)]
pub struct Io(Arc<Shared>);

pub(crate) struct Shared {
    config: Config,
    /// Every open engine connection, by its id.
    conns: Mutex<HashMap<Sid, Arc<engine::Conn>>>,
    namespaces: RwLock<HashMap<Arc<str>, Arc<Namespace>>>,
    /// Broadcasts go to the other nodes through it, when `[sockets] adapter` is Redis.
    cluster: OnceLock<cluster::Cluster>,
    closing: AtomicBool,
    /// WebSocket tasks still running (a clean stop waits for their close frames).
    websockets: AtomicUsize,
}

impl Io {
    pub fn new(config: Config) -> Io {
        let io = Io(Arc::new(Shared {
            config,
            conns: Mutex::default(),
            namespaces: RwLock::default(),
            cluster: OnceLock::new(),
            closing: AtomicBool::new(false),
            websockets: AtomicUsize::new(0),
        }));
        engine::spawn_heartbeat(&io);
        io
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Adds (or replaces the handler of) a namespace.
    pub fn add_namespace(&self, name: &str, handler: Arc<dyn Handler>) -> Arc<Namespace> {
        let ns = Namespace::new(name, handler, Arc::downgrade(&self.0));
        self.0.namespaces.write().unwrap().insert(ns.name.clone(), ns.clone());
        ns
    }

    /// Removes a namespace, disconnecting its sockets.
    pub fn remove_namespace(&self, name: &str) {
        let removed = self.0.namespaces.write().unwrap().remove(name);
        if let Some(ns) = removed {
            for socket in ns.sockets() {
                socket.disconnect();
            }
        }
    }

    pub fn of(&self, name: &str) -> Option<Arc<Namespace>> {
        self.0.namespaces.read().unwrap().get(name).cloned()
    }

    pub fn namespaces(&self) -> Vec<Arc<Namespace>> {
        self.0.namespaces.read().unwrap().values().cloned().collect()
    }

    /// Shares broadcasts with the other nodes of `cluster` from now on.
    pub fn join_cluster(&self, cluster: cluster::Cluster) {
        let _ = self.0.cluster.set(cluster);
    }

    /// Engine connections open now.
    pub fn connection_count(&self) -> usize {
        self.0.conns.lock().unwrap().len()
    }

    /// Closes every connection (clients see their transport close and reconnect elsewhere)
    /// and waits up to a second for the WebSockets to send their close frames.
    pub async fn close(&self) {
        self.0.closing.store(true, Ordering::SeqCst);
        let conns: Vec<_> = self.0.conns.lock().unwrap().values().cloned().collect();
        for conn in conns {
            conn.close(self, DisconnectReason::ClosingServer);
        }
        for _ in 0..100 {
            if self.0.websockets.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Answers a request for the engine's path.
    pub async fn handle(&self, request: axum::extract::Request) -> axum::response::Response {
        engine::handle(self, request).await
    }
}

#[cfg(test)]
mod tests;
