//! Socket.IO v5 over an engine connection: namespaces and their sockets, rooms, events in
//! (acknowledgements, binary attachments) and out, broadcasts encoded once for every receiver
//! and shared with the other nodes.
use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::value::RawValue;

use super::engine::{Conn, Finish, Sid};
use super::packet::{self, Kind, Outgoing, SocketPacket};
use super::{Io, Shared};

/// What the app does with a namespace's sockets.
pub trait Handler: Send + Sync + 'static {
    /// Decides whether `socket` may join, before the client hears it did: `Err(message)` is
    /// the client's `connect_error`.
    fn connect(&self, socket: Arc<Socket>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
    /// The socket joined: runs in the connect's task right after the client's ack is queued,
    /// so what it sends before its first wait leaves in the same write as the ack.
    fn connected(&self, socket: &Arc<Socket>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// An event from the client, in arrival order (the handler spawns what takes time).
    fn event(&self, socket: &Arc<Socket>, event: Event);
    /// The socket left (once per connected socket).
    fn disconnect(&self, socket: &Arc<Socket>, reason: DisconnectReason);
}

/// An event from a client.
pub struct Event {
    pub name: String,
    /// The packet's JSON array: the name, then the arguments.
    pub data: Box<RawValue>,
    /// Binary attachments, in order (placeholders in `data` point into them).
    pub attachments: Vec<Bytes>,
    /// The id the client awaits an acknowledgement under.
    pub ack: Option<u64>,
}

impl Event {
    /// Bytes the event holds.
    pub fn size(&self) -> usize {
        self.data.get().len() + self.attachments.iter().map(Bytes::len).sum::<usize>()
    }

    /// The event's first argument, as raw JSON.
    pub fn first_arg(&self) -> Option<&RawValue> {
        packet::event_parts(&self.data).ok().and_then(|(_, args)| args.into_iter().next())
    }
}

/// Why a socket left its namespace: the text is socket.io's, so a `disconnect` handler ported
/// from Node compares the same strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    TransportClose,
    TransportError,
    PingTimeout,
    ClientNamespaceDisconnect,
    ServerNamespaceDisconnect,
    ClosingServer,
    MultiplePolling,
    PacketParsing,
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ClosingServer => "server shutting down",
            DisconnectReason::MultiplePolling => "multiple http polling error",
            DisconnectReason::PacketParsing => "parse error",
        })
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("the client's send buffer is full")]
    Full,
    #[error("the socket is closed")]
    Closed,
}

/// An event waiting for its binary attachments.
pub(crate) struct Partial {
    packet: SocketPacket,
    attachments: Vec<Bytes>,
    bytes: usize,
    pub started: Instant,
}

/// The sockets in one room, by id.
type Members = HashMap<Sid, Arc<Socket>>;

/// A namespace: its handler, its sockets on this node and their rooms.
pub struct Namespace {
    pub name: Arc<str>,
    handler: Arc<dyn Handler>,
    sockets: RwLock<HashMap<Sid, Arc<Socket>>>,
    rooms: RwLock<HashMap<Arc<str>, Members>>,
    io: Weak<Shared>,
}

impl Namespace {
    pub(super) fn new(name: &str, handler: Arc<dyn Handler>, io: Weak<Shared>) -> Arc<Namespace> {
        Arc::new(Namespace { name: name.into(), handler, sockets: RwLock::default(), rooms: RwLock::default(), io })
    }

    /// The sockets connected on this node.
    pub fn sockets(&self) -> Vec<Arc<Socket>> {
        self.sockets.read().unwrap().values().cloned().collect()
    }

    /// Everyone in the namespace, on every node.
    pub fn all(self: &Arc<Self>) -> Broadcast {
        Broadcast { ns: self.clone(), rooms: Vec::new(), except: None }
    }

    /// The sockets in any of `rooms`, on every node.
    pub fn to(self: &Arc<Self>, rooms: impl IntoIterator<Item = String>) -> Broadcast {
        Broadcast { ns: self.clone(), rooms: rooms.into_iter().collect(), except: None }
    }

    /// Sends an encoded packet to this node's sockets in `rooms` (all when empty) but `except`:
    /// `Err(Full)` when some had a full buffer (the others got it).
    pub(super) fn deliver(&self, rooms: &[String], except: Option<Sid>, packet: &Outgoing) -> Result<(), EmitError> {
        let mut full = false;
        self.each(rooms, except, |socket| {
            full |= socket.conn.push(packet.clone()) == Err(EmitError::Full);
        });
        if full { Err(EmitError::Full) } else { Ok(()) }
    }

    /// Disconnects this node's sockets in `rooms` (all when empty) but `except`.
    pub(super) fn disconnect_local(&self, rooms: &[String], except: Option<Sid>) {
        let mut targets = Vec::new();
        self.each(rooms, except, |socket| targets.push(socket.clone()));
        for socket in targets {
            socket.disconnect();
        }
    }

    fn each(&self, rooms: &[String], except: Option<Sid>, mut f: impl FnMut(&Arc<Socket>)) {
        let wanted = |socket: &&Arc<Socket>| Some(socket.id) != except;
        match rooms {
            [] => self.sockets.read().unwrap().values().filter(wanted).for_each(f),
            [room] => {
                if let Some(members) = self.rooms.read().unwrap().get(room.as_str()) {
                    members.values().filter(wanted).for_each(f);
                }
            }
            _ => {
                let map = self.rooms.read().unwrap();
                let mut seen = HashSet::new();
                for members in rooms.iter().filter_map(|room| map.get(room.as_str())) {
                    members.values().filter(wanted).filter(|s| seen.insert(s.id)).for_each(&mut f);
                }
            }
        }
    }

    /// Hands what `op` makes to the other nodes, when there are any.
    fn publish(&self, op: impl FnOnce() -> super::cluster::Op) {
        if let Some(shared) = self.io.upgrade()
            && let Some(cluster) = shared.cluster.get()
        {
            cluster.publish(op());
        }
    }
}

/// Sockets of a namespace to reach: some rooms (or all), maybe but one, on every node.
pub struct Broadcast {
    ns: Arc<Namespace>,
    rooms: Vec<String>,
    except: Option<Sid>,
}

impl Broadcast {
    /// Sends `event` with `data` (encoded once for every receiver).
    pub fn emit(&self, event: &str, data: Option<&serde_json::Value>) -> Result<(), EmitError> {
        let text = packet::encode_event(&self.ns.name, event, data);
        self.ns.publish(|| super::cluster::Op::Emit {
            ns: self.ns.name.to_string(),
            rooms: self.rooms.clone(),
            except: self.except,
            packet: text.clone(),
        });
        self.ns.deliver(&self.rooms, self.except, &Outgoing::Text(text))
    }

    /// Disconnects the sockets (their clients hear it and do not reconnect by themselves).
    pub fn disconnect(&self) {
        self.ns.publish(|| super::cluster::Op::Disconnect {
            ns: self.ns.name.to_string(),
            rooms: self.rooms.clone(),
            except: self.except,
        });
        self.ns.disconnect_local(&self.rooms, self.except);
    }
}

/// A client connected to one namespace.
pub struct Socket {
    pub id: Sid,
    ns: Arc<Namespace>,
    conn: Arc<Conn>,
    /// The rooms it is in (the names are the namespace's keys, shared).
    rooms: Mutex<Vec<Arc<str>>>,
    connected: AtomicBool,
    /// What the app keeps with the socket.
    data: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl Socket {
    fn new(ns: Arc<Namespace>, conn: Arc<Conn>) -> Socket {
        Socket {
            id: Sid::new(),
            ns,
            conn,
            rooms: Mutex::default(),
            connected: AtomicBool::new(true),
            data: OnceLock::new(),
        }
    }

    pub fn ns(&self) -> &str {
        &self.ns.name
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Keeps `data` with the socket (the first call wins).
    pub fn set_data<T: Any + Send + Sync>(&self, data: T) {
        let _ = self.data.set(Box::new(data));
    }

    pub fn data<T: Any>(&self) -> Option<&T> {
        self.data.get()?.downcast_ref()
    }

    /// The handshake's cookies.
    pub fn headers(&self) -> HeaderMap {
        self.conn.headers()
    }

    /// Sends `event` to this client, with `data` as its argument (none when `None`).
    pub fn emit(&self, event: &str, data: Option<&serde_json::Value>) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Closed);
        }
        self.conn.push(Outgoing::Text(packet::encode_event(&self.ns.name, event, data)))
    }

    /// Answers the client's event `id` with `data`.
    pub fn ack(&self, id: u64, data: &serde_json::Value) -> Result<(), EmitError> {
        self.conn.push(Outgoing::Text(packet::encode_ack(&self.ns.name, id, data)))
    }

    pub fn join(self: &Arc<Self>, room: &str) {
        let mut rooms = self.rooms.lock().unwrap();
        if !self.connected() || rooms.iter().any(|r| &**r == room) {
            return;
        }
        let mut map = self.ns.rooms.write().unwrap();
        let key = match map.get_key_value(room) {
            Some((key, _)) => key.clone(),
            None => Arc::from(room),
        };
        map.entry(key.clone()).or_default().insert(self.id, self.clone());
        rooms.push(key);
    }

    pub fn leave(&self, room: &str) {
        let mut rooms = self.rooms.lock().unwrap();
        if let Some(at) = rooms.iter().position(|r| &**r == room) {
            let key = rooms.swap_remove(at);
            self.leave_room(&key);
        }
    }

    fn leave_room(&self, room: &str) {
        let mut map = self.ns.rooms.write().unwrap();
        if let Some(members) = map.get_mut(room) {
            members.remove(&self.id);
            if members.is_empty() {
                map.remove(room);
            }
        }
    }

    pub fn rooms(&self) -> Vec<String> {
        self.rooms.lock().unwrap().iter().map(|r| r.to_string()).collect()
    }

    /// Everyone else in the namespace, on every node.
    pub fn broadcast(&self) -> Broadcast {
        Broadcast { ns: self.ns.clone(), rooms: Vec::new(), except: Some(self.id) }
    }

    /// Everyone else in `room`, on every node.
    pub fn to(&self, room: String) -> Broadcast {
        Broadcast { ns: self.ns.clone(), rooms: vec![room], except: Some(self.id) }
    }

    /// Leaves the namespace from the server's side: the client is told, and does not reconnect
    /// by itself.
    pub fn disconnect(self: &Arc<Self>) {
        if !self.connected() {
            return;
        }
        let _ = self.conn.push_control(Outgoing::Text(packet::encode_disconnect(&self.ns.name)));
        self.conn.remove_socket(self);
        self.leave_namespace(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Takes the socket out of its namespace and rooms; the handler hears it once.
    pub(super) fn leave_namespace(self: &Arc<Self>, reason: DisconnectReason) {
        if self.detach() {
            self.ns.handler.disconnect(self, reason);
        }
    }

    /// Out of its namespace and rooms; `true` the first time.
    fn detach(&self) -> bool {
        let rooms = {
            let mut rooms = self.rooms.lock().unwrap();
            if !self.connected.swap(false, Ordering::SeqCst) {
                return false;
            }
            std::mem::take(&mut *rooms)
        };
        for room in rooms {
            self.leave_room(&room);
        }
        self.ns.sockets.write().unwrap().remove(&self.id);
        true
    }
}

/// A Socket.IO packet in an engine text message.
pub(super) fn receive_text(io: &Io, conn: &Arc<Conn>, text: Bytes) -> Result<(), DisconnectReason> {
    let config = io.config();
    let text = std::str::from_utf8(&text).map_err(|_| DisconnectReason::PacketParsing)?;
    if conn.with_partial(|partial| partial.is_some()) {
        // Attachments were announced; a text packet before them breaks the protocol.
        return Err(DisconnectReason::PacketParsing);
    }
    let packet =
        packet::parse_socket_packet(text, config.max_attachments).map_err(|_| DisconnectReason::PacketParsing)?;
    match packet.kind {
        Kind::Connect => {
            connect(io, conn, &packet.namespace);
            Ok(())
        }
        Kind::Disconnect => {
            match conn.socket(&packet.namespace) {
                Some(socket) => {
                    conn.remove_socket(&socket);
                    socket.leave_namespace(DisconnectReason::ClientNamespaceDisconnect);
                }
                None => conn.cancel_connect(&packet.namespace),
            }
            Ok(())
        }
        Kind::Event => deliver_event(io, conn, packet, Vec::new()),
        Kind::BinaryEvent | Kind::BinaryAck => {
            let attachments = Vec::with_capacity(packet.attachments.min(config.max_attachments));
            conn.set_partial(Partial { packet, attachments, bytes: text.len(), started: Instant::now() });
            Ok(())
        }
        Kind::Ack => Ok(()),
        Kind::ConnectError => Err(DisconnectReason::PacketParsing),
    }
}

/// A binary attachment of the event waiting for them.
pub(super) fn receive_binary(io: &Io, conn: &Arc<Conn>, data: Bytes) -> Result<(), DisconnectReason> {
    let max = io.config().max_payload;
    let complete = conn.with_partial(|slot| {
        let partial = slot.as_mut().ok_or(DisconnectReason::PacketParsing)?;
        partial.bytes += data.len();
        if partial.bytes > max {
            *slot = None;
            return Err(DisconnectReason::TransportError);
        }
        partial.attachments.push(data);
        Ok(if partial.attachments.len() == partial.packet.attachments { slot.take() } else { None })
    })?;
    match complete {
        Some(partial) if partial.packet.kind == Kind::BinaryEvent => {
            let Partial { packet, attachments, .. } = *partial;
            deliver_event(io, conn, packet, attachments)
        }
        _ => Ok(()),
    }
}

fn deliver_event(
    io: &Io,
    conn: &Arc<Conn>,
    packet: SocketPacket,
    attachments: Vec<Bytes>,
) -> Result<(), DisconnectReason> {
    let data = packet.data.ok_or(DisconnectReason::PacketParsing)?;
    let (name, _) = packet::event_parts(&data).map_err(|_| DisconnectReason::PacketParsing)?;
    let event = Event { name, data, attachments, ack: packet.ack_id };
    if let Some((socket, event)) = conn.route_event(&packet.namespace, event, io.config().max_payload)? {
        socket.ns.handler.event(&socket, event);
    }
    Ok(())
}

/// A client asks to join namespace `name`: its handler decides (in a task of its own).
fn connect(io: &Io, conn: &Arc<Conn>, name: &str) {
    let Some(ns) = io.of(name) else {
        let _ = conn.push_control(Outgoing::Text(packet::encode_connect_error(name, "Invalid namespace")));
        return;
    };
    if !conn.begin_connect(&ns.name, io.config().max_namespaces) {
        return;
    }
    let socket = Arc::new(Socket::new(ns.clone(), conn.clone()));
    let conn = conn.clone();
    tokio::spawn(async move {
        if let Err(message) = ns.handler.connect(socket.clone()).await {
            socket.detach();
            conn.refuse_connect(&ns.name, Outgoing::Text(packet::encode_connect_error(&ns.name, &message)));
            return;
        }
        ns.sockets.write().unwrap().insert(socket.id, socket.clone());
        let ack = Outgoing::Text(packet::encode_connect(&ns.name, socket.id.as_str()));
        loop {
            match conn.finish_connect(&ns.name, &socket, &ack) {
                Finish::Held(events) => events.into_iter().for_each(|event| ns.handler.event(&socket, event)),
                Finish::Connected => return ns.handler.connected(&socket).await,
                Finish::Closed => {
                    socket.detach();
                    return;
                }
            }
        }
    });
}
