//! Engine.IO v4 connections: the handshake, HTTP long-polling, WebSocket (one task per
//! connection reading and writing its TCP stream), the upgrade from polling to WebSocket, and
//! one heartbeat task that pings every connection and closes the silent ones.
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse as _, Response};
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::Io;
use super::namespace::{self, DisconnectReason, EmitError, Event, Partial, Socket};
use super::packet::{self, EnginePacket, Outgoing};
use super::websocket::{self, FrameReader, Message, Opcode};

/// A connection's or a socket's id: 20 URL-safe characters from 120 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sid([u8; 20]);

impl Sid {
    pub fn new() -> Sid {
        use base64::Engine as _;
        let random: [u8; 15] = rand::random();
        let mut id = [0u8; 20];
        let written = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(random, &mut id);
        debug_assert_eq!(written.ok(), Some(20));
        Sid(id)
    }

    pub fn as_str(&self) -> &str {
        // Base64 characters only: always ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn parse(text: &str) -> Option<Sid> {
        <[u8; 20]>::try_from(text.as_bytes()).ok().map(Sid)
    }
}

impl Default for Sid {
    fn default() -> Self {
        Sid::new()
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Records one polling POST may carry (a client batches what it sends while a POST is out).
const MAX_PACKETS_PER_POST: usize = 1024;

/// How long a client has to finish upgrading a polling connection to WebSocket.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// Events held for namespaces still connecting, at most (beyond, the connection is closed).
const MAX_EARLY_EVENTS: usize = 1024;

/// Protocol packets queued beyond the send buffer, at most.
const CONTROL_ROOM: usize = 64;

/// How often the heartbeat looks at every connection.
const HEARTBEAT_TICK: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    Polling,
    WebSocket,
}

/// One Engine.IO connection and the Socket.IO sockets (one per namespace) on it.
pub(crate) struct Conn {
    pub sid: Sid,
    state: Mutex<ConnState>,
    /// Wakes whoever sends for this connection: its WebSocket task or a waiting polling GET.
    wake: Notify,
    /// The handshake's `Cookie` headers, copied (not slices of hyper's read buffer): a socket's
    /// session is read from them when it connects to a namespace.
    cookies: Box<[HeaderValue]>,
    /// Messages queued for the client before more are refused.
    max_queue: usize,
}

struct ConnState {
    transport: Transport,
    /// What waits to go out, in order. Freed whenever it is emptied.
    queue: VecDeque<Outgoing>,
    /// Set once, when the connection closes.
    closed: Option<DisconnectReason>,
    /// A polling GET is waiting.
    polling: bool,
    /// A WebSocket is probing to take over from polling.
    upgrading: bool,
    /// The sockets connected on this connection, one per namespace.
    sockets: Vec<Arc<Socket>>,
    /// Namespaces whose connect is being decided, and whether the client left meanwhile.
    connecting: Vec<(Arc<str>, Cancelled)>,
    /// Events that came for a namespace while its connect was being decided (a client need
    /// not wait for the acknowledgement): handed over, in order, once it is decided.
    early: Vec<(Arc<str>, Event)>,
    /// An event waiting for its binary attachments (boxed: most connections never have one).
    partial: Option<Box<Partial>>,
    heartbeat: Heartbeat,
}

struct Heartbeat {
    created: Instant,
    next_ping: Instant,
    /// When the answer to the last ping is due; `None` when it came.
    pong_due: Option<Instant>,
    /// Something came from the client since the last ping.
    alive: bool,
    /// A namespace connected at least once (else the connection closes after the connect timeout).
    connected: bool,
}

impl Conn {
    fn new(io: &Io, transport: Transport, cookies: Box<[HeaderValue]>) -> Arc<Conn> {
        let now = Instant::now();
        let conn = Arc::new(Conn {
            sid: Sid::new(),
            state: Mutex::new(ConnState {
                transport,
                queue: VecDeque::new(),
                closed: None,
                polling: false,
                upgrading: false,
                sockets: Vec::new(),
                connecting: Vec::new(),
                early: Vec::new(),
                partial: None,
                heartbeat: Heartbeat {
                    created: now,
                    next_ping: now + io.config().ping_interval,
                    pong_due: None,
                    alive: false,
                    connected: false,
                },
            }),
            wake: Notify::new(),
            cookies,
            max_queue: io.config().send_buffer,
        });
        io.0.conns.lock().unwrap().insert(conn.sid, conn.clone());
        conn
    }

    /// The handshake's cookies as headers.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.cookies.len());
        for value in &self.cookies {
            headers.append(header::COOKIE, value.clone());
        }
        headers
    }

    /// Queues a message for the client: refused when the connection is closed or the client
    /// has `send_buffer` messages waiting already.
    pub fn push(&self, packet: Outgoing) -> Result<(), EmitError> {
        self.enqueue(packet, false)
    }

    /// Queues what the protocol itself needs (acks of connects, disconnects, pongs), a little
    /// past the send buffer: a client that asks for answers without reading them is refused too.
    pub fn push_control(&self, packet: Outgoing) -> Result<(), EmitError> {
        self.enqueue(packet, true)
    }

    fn enqueue(&self, packet: Outgoing, control: bool) -> Result<(), EmitError> {
        {
            let mut state = self.state.lock().unwrap();
            if state.closed.is_some() {
                return Err(EmitError::Closed);
            }
            let limit = if control { self.max_queue + CONTROL_ROOM } else { self.max_queue };
            if state.queue.len() >= limit {
                return Err(EmitError::Full);
            }
            state.queue.push_back(packet);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// What is queued (the queue is left empty and freed) and whether the connection closed.
    fn take(&self) -> (VecDeque<Outgoing>, bool) {
        let mut state = self.state.lock().unwrap();
        (std::mem::take(&mut state.queue), state.closed.is_some())
    }

    /// The socket connected on namespace `name`.
    pub fn socket(&self, name: &str) -> Option<Arc<Socket>> {
        self.state.lock().unwrap().sockets.iter().find(|s| s.ns() == name).cloned()
    }

    /// Takes a place for a connect to `name`: not when connected there already, connecting,
    /// closed, or at `max` namespaces.
    pub fn begin_connect(&self, name: &Arc<str>, max: usize) -> bool {
        let mut state = self.state.lock().unwrap();
        if let Some((_, cancelled)) = state.connecting.iter_mut().find(|(n, _)| n == name) {
            // Left and asked again before the first connect was decided: that one answers.
            *cancelled = false;
            return false;
        }
        let connected = state.sockets.iter().any(|s| s.ns() == &**name);
        if state.closed.is_some() || connected || state.sockets.len() + state.connecting.len() >= max {
            return false;
        }
        state.connecting.push((name.clone(), false));
        true
    }

    /// The client left namespace `name` before its connect was decided: the socket will not
    /// join, and what it sent meanwhile is dropped.
    pub fn cancel_connect(&self, name: &str) {
        let mut state = self.state.lock().unwrap();
        if let Some((_, cancelled)) = state.connecting.iter_mut().find(|(n, _)| &**n == name) {
            *cancelled = true;
        }
        state.early.retain(|(n, _)| &**n != name);
    }

    /// Where an event for namespace `name` goes: its socket (returned with the event), held
    /// while the namespace is connecting, or nowhere (`None` either way).
    pub fn route_event(
        &self,
        name: &str,
        event: Event,
        max_bytes: usize,
    ) -> Result<Option<(Arc<Socket>, Event)>, DisconnectReason> {
        let mut state = self.state.lock().unwrap();
        if let Some(socket) = state.sockets.iter().find(|s| s.ns() == name) {
            return Ok(Some((socket.clone(), event)));
        }
        let Some(ns) =
            state.connecting.iter().find(|(n, cancelled)| &**n == name && !cancelled).map(|(n, _)| n.clone())
        else {
            // Not connected to that namespace: ignored, as socket.io does.
            return Ok(None);
        };
        let held: usize = state.early.iter().map(|(_, e)| e.size()).sum();
        if state.early.len() >= MAX_EARLY_EVENTS || held + event.size() > max_bytes {
            return Err(DisconnectReason::TransportError);
        }
        state.early.push((ns, event));
        Ok(None)
    }

    /// Ends a successful connect of `socket` to namespace `name`. Events held for it come back
    /// first (to be handed to the handler; then call again); once none is left the socket is
    /// added and `ack` queued, in one step, so later events find it (`Connected`).
    pub fn finish_connect(&self, name: &Arc<str>, socket: &Arc<Socket>, ack: &Outgoing) -> Finish {
        let finished = {
            let mut state = self.state.lock().unwrap();
            if state.closed.is_some() {
                return Finish::Closed;
            }
            if state.connecting.iter().any(|(n, cancelled)| n == name && *cancelled) {
                state.connecting.retain(|(n, _)| n != name);
                return Finish::Closed;
            }
            let (held, others) = std::mem::take(&mut state.early).into_iter().partition(|(n, _)| n == name);
            state.early = others;
            if !held.is_empty() {
                return Finish::Held(held.into_iter().map(|(_, event)| event).collect());
            }
            state.connecting.retain(|(n, _)| n != name);
            state.sockets.push(socket.clone());
            state.heartbeat.connected = true;
            state.queue.push_back(ack.clone());
            Finish::Connected
        };
        self.wake.notify_one();
        finished
    }

    /// Ends a refused connect: events held for it are dropped and `refusal` queued.
    pub fn refuse_connect(&self, name: &Arc<str>, refusal: Outgoing) {
        {
            let mut state = self.state.lock().unwrap();
            state.connecting.retain(|(n, _)| n != name);
            state.early.retain(|(n, _)| n != name);
            if state.closed.is_some() {
                return;
            }
            state.queue.push_back(refusal);
        }
        self.wake.notify_one();
    }

    /// Forgets a socket that left its namespace (the connection stays).
    pub fn remove_socket(&self, socket: &Arc<Socket>) {
        self.state.lock().unwrap().sockets.retain(|s| !Arc::ptr_eq(s, socket));
    }

    pub fn set_partial(&self, partial: Partial) {
        self.state.lock().unwrap().partial = Some(Box::new(partial));
    }

    /// Runs `f` on the event waiting for attachments (`None` when there is none).
    pub fn with_partial<T>(&self, f: impl FnOnce(&mut Option<Box<Partial>>) -> T) -> T {
        f(&mut self.state.lock().unwrap().partial)
    }

    /// Closes the connection once: its sockets leave their namespaces with `reason`, and its
    /// transport sends what is queued, then closes.
    pub fn close(&self, io: &Io, reason: DisconnectReason) {
        let sockets = {
            let mut state = self.state.lock().unwrap();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(reason);
            state.partial = None;
            state.early.clear();
            std::mem::take(&mut state.sockets)
        };
        io.0.conns.lock().unwrap().remove(&self.sid);
        for socket in sockets {
            socket.leave_namespace(reason);
        }
        self.wake.notify_one();
    }

    /// Handles one packet from the client.
    fn receive(self: &Arc<Self>, io: &Io, packet: EnginePacket) -> Result<(), DisconnectReason> {
        self.state.lock().unwrap().heartbeat.alive = true;
        match packet {
            EnginePacket::Message(text) => namespace::receive_text(io, self, text),
            EnginePacket::Binary(data) => namespace::receive_binary(io, self, data),
            EnginePacket::Ping(data) => {
                let mut pong = BytesMut::with_capacity(1 + data.len());
                pong.extend_from_slice(b"3");
                pong.extend_from_slice(&data);
                let _ = self.push_control(Outgoing::Text(pong.freeze()));
                Ok(())
            }
            EnginePacket::Close => Err(DisconnectReason::TransportClose),
            EnginePacket::Pong(_) | EnginePacket::Noop | EnginePacket::Upgrade => Ok(()),
            EnginePacket::Open(_) => Err(DisconnectReason::PacketParsing),
        }
    }

    /// One heartbeat: pings when due, closes when the client stopped answering, never
    /// connected a namespace in time, or left an event's attachments unfinished.
    fn beat(&self, io: &Io, now: Instant) {
        let config = io.config();
        let mut pinged = false;
        let verdict = {
            let mut state = self.state.lock().unwrap();
            if state.closed.is_some() {
                return;
            }
            let idle = state.sockets.is_empty() && state.connecting.is_empty();
            let stale =
                state.partial.as_ref().is_some_and(|p| now.duration_since(p.started) > config.attachment_timeout);
            let beat = &mut state.heartbeat;
            if beat.pong_due.is_some() && beat.alive {
                beat.pong_due = None;
            }
            if !beat.connected && idle && now.duration_since(beat.created) >= config.connect_timeout {
                Some(DisconnectReason::TransportClose)
            } else if stale {
                Some(DisconnectReason::PacketParsing)
            } else if beat.pong_due.is_some_and(|due| now >= due) {
                Some(DisconnectReason::PingTimeout)
            } else {
                if beat.pong_due.is_none() && now >= beat.next_ping {
                    beat.alive = false;
                    beat.pong_due = Some(now + config.ping_timeout);
                    beat.next_ping = now + config.ping_interval;
                    state.queue.push_back(Outgoing::Text(Bytes::from_static(b"2")));
                    pinged = true;
                }
                None
            }
        };
        if pinged {
            self.wake.notify_one();
        }
        if let Some(reason) = verdict {
            self.close(io, reason);
        }
    }
}

/// Starts the task that beats every connection's heartbeat; it ends with the server.
pub(super) fn spawn_heartbeat(io: &Io) {
    let shared = Arc::downgrade(&io.0);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let Some(shared) = shared.upgrade() else { return };
            let io = Io(shared);
            let conns: Vec<Arc<Conn>> = io.0.conns.lock().unwrap().values().cloned().collect();
            let now = Instant::now();
            for conn in conns {
                conn.beat(&io, now);
            }
        }
    });
}

/// The query of an engine request.
#[derive(Default)]
struct Query<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

impl<'a> Query<'a> {
    fn parse(query: &'a str) -> Query<'a> {
        let mut parsed = Query::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "EIO" => parsed.eio = Some(value),
                "transport" => parsed.transport = Some(value),
                "sid" => parsed.sid = Some(value),
                _ => {}
            }
        }
        parsed
    }
}

/// Engine.IO's error answer: status 400 and a JSON code and message.
fn refuse(code: u8, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"code":{code},"message":"{message}"}}"#),
    )
        .into_response()
}

fn text(body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], body.into()).into_response()
}

/// Answers a request for the engine's path.
pub(super) async fn handle(io: &Io, mut request: Request) -> Response {
    let query = request.uri().query().unwrap_or("").to_string();
    let query = Query::parse(&query);
    if query.eio != Some("4") {
        return refuse(5, "Unsupported protocol version");
    }
    let transport = match query.transport {
        Some("polling") => Transport::Polling,
        Some("websocket") => Transport::WebSocket,
        _ => return refuse(0, "Transport unknown"),
    };
    if io.0.closing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down").into_response();
    }
    let Some(sid) = query.sid else {
        return match (transport, request.method()) {
            (Transport::Polling, &Method::GET) => {
                let conn = Conn::new(io, Transport::Polling, cookies(request.headers()));
                text(open_packet(io, &conn, &["websocket"]))
            }
            (Transport::WebSocket, &Method::GET) => upgrade(io, &mut request, None),
            _ => refuse(2, "Bad handshake method"),
        };
    };
    let conn = Sid::parse(sid).and_then(|sid| io.0.conns.lock().unwrap().get(&sid).cloned());
    let Some(conn) = conn else {
        return refuse(1, "Session ID unknown");
    };
    match (transport, request.method()) {
        (Transport::Polling, &Method::GET) => poll(io, &conn).await,
        (Transport::Polling, &Method::POST) => post(io, &conn, request.into_body()).await,
        (Transport::WebSocket, &Method::GET) => upgrade(io, &mut request, Some(conn)),
        _ => refuse(2, "Bad handshake method"),
    }
}

fn cookies(headers: &HeaderMap) -> Box<[HeaderValue]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .map(|value| HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone()))
        .collect()
}

fn open_packet(io: &Io, conn: &Conn, upgrades: &[&str]) -> Bytes {
    let config = io.config();
    packet::open_packet(
        conn.sid.as_str(),
        upgrades,
        config.ping_interval.as_millis() as u64,
        config.ping_timeout.as_millis() as u64,
        config.max_payload,
    )
}

/// Whether the client left a namespace while its connect was being decided.
type Cancelled = bool;

/// What [`Conn::finish_connect`] did.
pub(crate) enum Finish {
    /// Events arrived for the namespace meanwhile: hand them over, then finish again.
    Held(Vec<Event>),
    Connected,
    /// The connection closed meanwhile, or the client left the namespace.
    Closed,
}

/// Clears a connection's "a GET is waiting" mark however the GET ends (the client may go away).
struct Polling<'a>(&'a Conn);

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().polling = false;
    }
}

/// A long-polling GET: answers with what is queued, waiting for something if nothing is (the
/// heartbeat queues a ping at least every ping interval).
async fn poll(io: &Io, conn: &Arc<Conn>) -> Response {
    {
        let mut state = conn.state.lock().unwrap();
        if state.transport != Transport::Polling {
            return refuse(3, "Bad request");
        }
        if state.polling {
            drop(state);
            conn.close(io, DisconnectReason::MultiplePolling);
            return refuse(3, "Bad request");
        }
        state.polling = true;
    }
    let _polling = Polling(conn);
    loop {
        let notified = conn.wake.notified();
        {
            let mut state = conn.state.lock().unwrap();
            if state.transport != Transport::Polling {
                // Upgraded meanwhile: the WebSocket task sends from now on.
                drop(state);
                conn.wake.notify_one();
                return text("6");
            }
            if !state.queue.is_empty() || state.closed.is_some() {
                let mut queue = std::mem::take(&mut state.queue);
                if state.closed.is_some() {
                    queue.push_back(Outgoing::Text(Bytes::from_static(b"1")));
                }
                drop(state);
                return text(packet::polling_body(queue.make_contiguous()));
            }
        }
        notified.await;
    }
}

/// A polling POST: the client's packets, in order.
async fn post(io: &Io, conn: &Arc<Conn>, body: Body) -> Response {
    if conn.state.lock().unwrap().transport != Transport::Polling {
        return refuse(3, "Bad request");
    }
    let Ok(body) = axum::body::to_bytes(body, io.config().max_payload).await else {
        conn.close(io, DisconnectReason::TransportError);
        return (StatusCode::PAYLOAD_TOO_LARGE, "the message is larger than [sockets] max_payload").into_response();
    };
    let Ok(packets) = packet::parse_polling_payload(body, MAX_PACKETS_PER_POST) else {
        conn.close(io, DisconnectReason::PacketParsing);
        return refuse(3, "Bad request");
    };
    for packet in packets {
        if let Err(reason) = conn.receive(io, packet) {
            conn.close(io, reason);
            break;
        }
    }
    ([(header::CONTENT_TYPE, "text/html")], "ok").into_response()
}

/// A WebSocket: a new connection (`existing` is `None`) or the upgrade of a polling one.
fn upgrade(io: &Io, request: &mut Request, existing: Option<Arc<Conn>>) -> Response {
    let headers = request.headers();
    let wants_websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket")));
    let version_13 = headers.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v == "13");
    let (Some(key), true, true) = (headers.get(header::SEC_WEBSOCKET_KEY), wants_websocket, version_13) else {
        return refuse(3, "Bad request");
    };
    let accept = websocket::accept_key(key.as_bytes());
    if let Some(conn) = &existing {
        let mut state = conn.state.lock().unwrap();
        if state.transport != Transport::Polling || state.upgrading || state.closed.is_some() {
            return refuse(3, "Bad request");
        }
        state.upgrading = true;
    }
    let Some(on_upgrade) = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return refuse(3, "Bad request");
    };
    let cookies = cookies(request.headers());
    let io = io.clone();
    tokio::spawn(async move {
        let Some((stream, buffer)) = on_upgrade.await.ok().and_then(upgraded_stream) else {
            if let Some(conn) = existing {
                conn.state.lock().unwrap().upgrading = false;
            }
            return;
        };
        run_websocket(io, existing, cookies, stream, buffer).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_default()
}

/// The TCP stream under an upgraded connection and what the client sent after its request
/// (served by `listen::serve`, or by axum's `serve` when embedded).
fn upgraded_stream(upgraded: hyper::upgrade::Upgraded) -> Option<(TcpStream, BytesMut)> {
    match upgraded.downcast::<crate::server::watchdog::WatchedIo>() {
        Ok(parts) => Some((parts.io.into_inner(), BytesMut::from(&parts.read_buf[..]))),
        Err(upgraded) => upgraded
            .downcast::<TokioIo<TcpStream>>()
            .ok()
            .map(|parts| (parts.io.into_inner(), BytesMut::from(&parts.read_buf[..]))),
    }
}

/// How a WebSocket task ended.
enum End {
    /// The connection closes for this reason (the close frame carries `code`).
    Close(DisconnectReason, u16),
    /// The connection was closed by someone else (the server, the heartbeat).
    Closed,
    /// An upgrade that did not finish: the polling connection goes on.
    ProbeFailed,
}

async fn run_websocket(
    io: Io,
    existing: Option<Arc<Conn>>,
    cookies: Box<[HeaderValue]>,
    mut stream: TcpStream,
    mut buffer: BytesMut,
) {
    io.0.websockets.fetch_add(1, Ordering::SeqCst);
    let probing = existing.is_some();
    let conn = match existing {
        Some(conn) => conn,
        None => {
            let conn = Conn::new(&io, Transport::WebSocket, cookies);
            let mut open = Vec::new();
            websocket::write_frame(&mut open, Opcode::Text, &open_packet(&io, &conn, &[]));
            if stream.write_all(&open).await.is_err() {
                conn.close(&io, DisconnectReason::TransportError);
                io.0.websockets.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            conn
        }
    };
    let end = serve_websocket(&io, &conn, &mut stream, &mut buffer, probing).await;
    let code = match end {
        End::Close(reason, code) => {
            conn.close(&io, reason);
            Some(code)
        }
        End::Closed => Some(if io.0.closing.load(Ordering::SeqCst) { 1001 } else { 1000 }),
        End::ProbeFailed => {
            conn.state.lock().unwrap().upgrading = false;
            None
        }
    };
    if let Some(code) = code {
        let mut close = Vec::new();
        websocket::write_frame(&mut close, Opcode::Close, &websocket::close_payload(code, ""));
        // Best effort, never waiting on a client that does not read.
        let _ = stream.try_write(&close);
    }
    io.0.websockets.fetch_sub(1, Ordering::SeqCst);
}

/// The WebSocket's loop: handles what was read, sends what is queued, waits for either.
async fn serve_websocket(
    io: &Io,
    conn: &Arc<Conn>,
    stream: &mut TcpStream,
    buffer: &mut BytesMut,
    mut probing: bool,
) -> End {
    let config = io.config();
    let mut reader = FrameReader::new(config.max_payload);
    let probe_deadline = tokio::time::Instant::now() + UPGRADE_TIMEOUT;
    loop {
        while !buffer.is_empty() {
            let message = match reader.read(buffer) {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(err) => return End::Close(DisconnectReason::TransportError, err.close_code()),
            };
            let packet = match message {
                Message::Text(text) => match packet::parse_engine_text(text) {
                    Ok(packet) => packet,
                    Err(_) => return End::Close(DisconnectReason::PacketParsing, 1002),
                },
                Message::Binary(data) => EnginePacket::Binary(data),
                Message::Ping(data) => {
                    let mut pong = Vec::new();
                    websocket::write_frame(&mut pong, Opcode::Pong, &data);
                    if stream.write_all(&pong).await.is_err() {
                        return End::Close(DisconnectReason::TransportError, 1000);
                    }
                    continue;
                }
                Message::Pong(_) => continue,
                Message::Close(_) => return End::Close(DisconnectReason::TransportClose, 1000),
            };
            if probing {
                match packet {
                    EnginePacket::Ping(data) if &data[..] == b"probe" => {
                        let mut pong = Vec::new();
                        websocket::write_frame(&mut pong, Opcode::Text, b"3probe");
                        if stream.write_all(&pong).await.is_err() {
                            return End::ProbeFailed;
                        }
                        // The waiting GET returns, so the client can finish the upgrade.
                        let _ = conn.push_control(Outgoing::Text(Bytes::from_static(b"6")));
                    }
                    EnginePacket::Upgrade => {
                        let mut state = conn.state.lock().unwrap();
                        state.transport = Transport::WebSocket;
                        state.upgrading = false;
                        probing = false;
                    }
                    _ => {}
                }
            } else if let Err(reason) = conn.receive(io, packet) {
                return End::Close(reason, 1000);
            }
        }
        if buffer.is_empty() && buffer.capacity() > 0 {
            // An idle socket holds no read buffer.
            *buffer = BytesMut::new();
        }
        if !probing {
            let (queue, closed) = conn.take();
            if !queue.is_empty() && !send(io, stream, &queue).await {
                return End::Close(DisconnectReason::TransportError, 1000);
            }
            if closed {
                return End::Closed;
            }
        }
        tokio::select! {
            ready = stream.readable() => {
                if ready.is_err() {
                    return End::Close(DisconnectReason::TransportError, 1000);
                }
                let wanted = reader.wanted(buffer).unwrap_or(0).max(config.read_buffer);
                buffer.reserve(wanted.min(config.max_payload + websocket::MAX_CLIENT_HEADER_LEN));
                // Read through `poll_read`, not `try_read_buf`: a read shorter than the room
                // given marks the socket drained, so the next wait costs no `recv` that finds
                // nothing (one per message the client sends). `None`: nothing after all.
                match stream.read_buf(buffer).now_or_never() {
                    Some(Ok(0)) => return End::Close(DisconnectReason::TransportClose, 1000),
                    Some(Ok(_)) | None => {}
                    Some(Err(_)) => return End::Close(DisconnectReason::TransportError, 1000),
                }
            }
            () = conn.wake.notified() => {}
            () = tokio::time::sleep_until(probe_deadline), if probing => return End::ProbeFailed,
        }
    }
}

/// Writes queued packets as WebSocket frames in one write; a client that does not take them
/// within a heartbeat's time is gone.
async fn send(io: &Io, stream: &mut TcpStream, queue: &VecDeque<Outgoing>) -> bool {
    let size: usize = queue.iter().map(|p| 10 + outgoing_bytes(p).len()).sum();
    let mut out = Vec::with_capacity(size);
    for packet in queue {
        let opcode = if matches!(packet, Outgoing::Text(_)) { Opcode::Text } else { Opcode::Binary };
        websocket::write_frame(&mut out, opcode, outgoing_bytes(packet));
    }
    let limit = io.config().ping_interval + io.config().ping_timeout;
    matches!(tokio::time::timeout(limit, stream.write_all(&out)).await, Ok(Ok(())))
}

fn outgoing_bytes(packet: &Outgoing) -> &[u8] {
    match packet {
        Outgoing::Text(bytes) | Outgoing::Binary(bytes) => bytes,
    }
}
