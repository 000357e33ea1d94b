//! Socket.IO namespaces wired by `sockets/*.rhai`, each socket bound to the visitor's
//! HTTP session (the signed cookie of its handshake), loaded fresh for every event.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rhai::FnPtr;
use serde_json::{Map, Value};
use tower_sessions::session::Id;

use super::App;
use super::session::{Follow, VisitorSession, merge_public, public_part};
use super::socket_budget::ConnectedSocket;
use super::socket_turns::{Flooded, MAX_WAITING_BYTES, MAX_WAITING_EVENTS, Turn, Turns};
use crate::log;
use crate::realtime::{DisconnectReason, EmitError, Event, Handler, Socket};
use crate::script::effects::{self, Effect};
use crate::script::socket_api::{self, SocketHandle};
use crate::script::{Script, ScriptError, map_to_json, map_to_rhai};

/// What a connected socket carries between events.
struct SocketLink {
    /// The namespace script as it was when the socket connected.
    script: Option<Script>,
    /// The session of the handshake cookie, if its signature was valid and it existed; it
    /// changes when the session is regenerated.
    session_id: Mutex<Option<Id>>,
    /// The session of a socket without a valid cookie: its own, never saved.
    own_session: Mutex<Map<String, Value>>,
    handlers: Mutex<Handlers>,
    /// Set once `connect(socket)` has run: events that arrive before wait for their handlers.
    /// (A `SetOnce` is a flag and one `Notify` in place; a `watch` channel allocated about 400
    /// bytes more per socket, issue 11.)
    ready: tokio::sync::SetOnce<()>,
    /// Set when the `disconnect` handler starts: it runs once, whoever asks first.
    gone: AtomicBool,
    /// The socket's events, one at a time in arrival order.
    turns: Arc<Turns>,
    /// Counts the socket against `[sockets] max_sockets` while it lives.
    _counted: ConnectedSocket,
}

impl SocketLink {
    async fn wait_ready(&self) {
        self.ready.wait().await;
    }
}

/// A socket's handlers by event name, as `socket.on` registered them (a later one for the same
/// event replaces the earlier). A few per socket: a list costs a quarter of a hash map's
/// smallest table (issue 11: memory per socket) and is as quick to search.
#[derive(Default)]
struct Handlers(Vec<(String, FnPtr)>);

impl Handlers {
    fn get(&self, event: &str) -> Option<FnPtr> {
        self.0.iter().find(|(name, _)| name == event).map(|(_, handler)| handler.clone())
    }

    fn set(&mut self, event: String, handler: FnPtr) {
        match self.0.iter_mut().find(|(name, _)| *name == event) {
            Some((_, slot)) => *slot = handler,
            None => self.0.push((event, handler)),
        }
    }
}

fn link(socket: &Socket) -> Option<&Arc<SocketLink>> {
    socket.data::<Arc<SocketLink>>()
}

/// An event's first argument as scripts see it (`()` for none): JSON values, and binary
/// attachments as blobs, byte for byte (never one value per byte).
fn first_argument(event: &Event) -> Result<rhai::Dynamic, String> {
    let Some(raw) = event.first_arg() else { return Ok(rhai::Dynamic::UNIT) };
    if event.attachments.is_empty() {
        return serde_json::from_str::<rhai::Dynamic>(raw.get()).map_err(|e| e.to_string());
    }
    let value: Value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    with_blobs(value, &event.attachments)
}

/// `value` for scripts, its binary placeholders replaced by their attachments.
fn with_blobs(value: Value, attachments: &[bytes::Bytes]) -> Result<rhai::Dynamic, String> {
    Ok(match value {
        Value::Object(map) => match crate::realtime::packet::placeholder_index(&map) {
            Some(n) => {
                let bytes = attachments.get(n).ok_or_else(|| format!("attachment {n} was not sent"))?;
                rhai::Dynamic::from_blob(bytes.to_vec())
            }
            None => {
                let mut out = rhai::Map::new();
                for (key, value) in map {
                    out.insert(key.into(), with_blobs(value, attachments)?);
                }
                rhai::Dynamic::from_map(out)
            }
        },
        Value::Array(items) => {
            rhai::Dynamic::from_array(items.into_iter().map(|v| with_blobs(v, attachments)).collect::<Result<_, _>>()?)
        }
        other => rhai::serde::to_dynamic(other).map_err(|e| e.to_string())?,
    })
}

/// The room every socket of one session joins, so HTTP can reach all of a visitor's tabs.
pub fn session_room(id: &Id) -> String {
    format!("session:{id}")
}

/// Registers a namespace whose connections run the project's `sockets/*.rhai` script as it
/// is when each socket connects.
pub fn register_namespace(app: &App, namespace: &str) {
    app.io().add_namespace(namespace, Arc::new(ScriptSockets(app.weak())));
}

/// The handler of a script namespace.
struct ScriptSockets(Weak<App>);

impl Handler for ScriptSockets {
    fn connect(&self, socket: Arc<Socket>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let app = self.0.clone();
        Box::pin(async move {
            let app = app.upgrade().ok_or("the server is stopping")?;
            prepare(&app, &socket).await;
            Ok(())
        })
    }

    fn connected(&self, socket: &Arc<Socket>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let (app, socket) = (self.0.upgrade(), socket.clone());
        Box::pin(async move {
            if let Some(app) = app {
                on_connect(app, socket).await;
            }
        })
    }

    fn event(&self, socket: &Arc<Socket>, event: Event) {
        let (Some(app), Some(link)) = (self.0.upgrade(), link(socket)) else { return };
        // The turn is taken here, in arrival order, before the event's task is spawned.
        match link.turns.take(event.size()) {
            Ok(turn) => {
                tokio::spawn(on_event(app, socket.clone(), event, turn));
            }
            Err(Flooded) => {
                if socket.connected() {
                    log::error(&format!(
                        "socket {} on {}: more than {MAX_WAITING_EVENTS} events or {} MiB waiting for their handlers; \
                         disconnected (it sends faster than they run)",
                        socket.id,
                        socket.ns(),
                        MAX_WAITING_BYTES >> 20
                    ));
                    socket.disconnect();
                }
            }
        }
    }

    fn disconnect(&self, socket: &Arc<Socket>, reason: DisconnectReason) {
        let Some(app) = self.0.upgrade() else { return };
        tokio::spawn(on_disconnect(app, socket.clone(), reason));
    }
}

/// Before the client hears it connected: the socket knows its session, and can take events.
async fn prepare(app: &App, socket: &Arc<Socket>) {
    let project = app.project();
    let mut session_id = app.sessions.id_from_headers(&socket.headers());
    if session_id.is_some() {
        // A cookie whose session is gone (or was regenerated away) is no session at all, as
        // over HTTP. A store failure here is retried at the socket's first event.
        if let Ok(loaded) = app.sessions.load(session_id).await {
            session_id = loaded.id;
        }
    }
    socket.set_data(Arc::new(SocketLink {
        script: project.sockets.get(socket.ns()).cloned(),
        session_id: Mutex::new(session_id),
        own_session: Mutex::default(),
        handlers: Mutex::default(),
        ready: tokio::sync::SetOnce::new(),
        gone: AtomicBool::new(false),
        turns: Arc::default(),
        _counted: app.socket_budget.connected(),
    }));
    if let Some(id) = session_id {
        socket.join(&session_room(&id));
    }
}

/// Runs the namespace script's `connect(socket)`, which registers the handlers; events that
/// arrived meanwhile wait for it.
async fn on_connect(app: Arc<App>, socket: Arc<Socket>) {
    let Some(link) = link(&socket) else { return };
    if link.script.is_some() {
        let _ = run(&app, &socket, link, Call::Connect, || rhai::Dynamic::UNIT).await;
    }
    // Only this handler sets it, once per socket.
    let _ = link.ready.set(());
}

async fn on_event(app: Arc<App>, socket: Arc<Socket>, event: Event, turn: Turn) {
    let Some(link) = link(&socket) else { return };
    turn.wait().await;
    link.wait_ready().await;
    let name = &event.name;
    let handler = link.handlers.lock().unwrap().get(name);
    let Some(handler) = handler.filter(|_| link.script.is_some()) else {
        log::debug(&format!("socket {} on {}: no handler for event `{name}`, ignored", socket.id, socket.ns()));
        return;
    };
    // A handler gets the event's first argument; an event without one gives `()`.
    let data = match first_argument(&event) {
        Ok(data) => data,
        Err(err) => {
            log::error(&format!(
                "socket {} on {}: malformed payload for `{name}` ignored: {err}",
                socket.id,
                socket.ns()
            ));
            return;
        }
    };
    // Kept, to decode the argument again should an inline run be made again on the pool.
    let mut data = Some(data);
    let arg = || data.take().unwrap_or_else(|| first_argument(&event).unwrap_or_default());
    let result = run(&app, &socket, link, Call::Handler(handler), arg).await;
    if let (Some(value), Some(id)) = (result, event.ack) {
        let _ = socket.ack(id, &value);
    }
}

async fn on_disconnect(app: Arc<App>, socket: Arc<Socket>, reason: DisconnectReason) {
    let Some(link) = link(&socket) else { return };
    if link.gone.swap(true, Ordering::SeqCst) {
        return;
    }
    // After the socket's last events.
    let turn = link.turns.take_last();
    turn.wait().await;
    link.wait_ready().await;
    let handler = link.handlers.lock().unwrap().get("disconnect");
    if let Some(handler) = handler.filter(|_| link.script.is_some()) {
        let reason = rhai::Dynamic::from(reason.to_string());
        let _ = run(&app, &socket, link, Call::Handler(handler), || reason.clone()).await;
    }
}

/// Runs the `disconnect` handler of every socket of this process, with the reason "server
/// shutting down", before the engine closes the connections.
pub async fn disconnect_all_for_shutdown(app: &Arc<App>) {
    let mut runs = tokio::task::JoinSet::new();
    for socket in app.io().namespaces().into_iter().flat_map(|ns| ns.sockets()) {
        runs.spawn(on_disconnect(app.clone(), socket, DisconnectReason::ClosingServer));
    }
    runs.join_all().await;
}

/// What a socket run calls in the namespace script.
enum Call {
    /// `connect(socket)`.
    Connect,
    /// A handler registered with `socket.on`, given the socket and one argument.
    Handler(FnPtr),
}

type Lists = Option<Arc<crate::lists::Db>>;

/// One run of `call` with `handle` and `arg`, on the thread it is called on.
fn call_script(
    script: &Script,
    call: &Call,
    handle: &SocketHandle,
    arg: rhai::Dynamic,
    lists: Lists,
) -> Result<Value, ScriptError> {
    let original = handle.session();
    let _lists = crate::lists::context::enter(lists);
    let result = match call {
        Call::Connect => socket_api::run_connect(script, handle).map(|()| Value::Null),
        Call::Handler(handler) => socket_api::run_handler(script, handler, handle, arg),
    };
    handle.refuse_deep_session(&script.file, original).and(result)
}

/// Runs one script call for a socket: loads the session fresh, runs (inline on this worker
/// when the script cannot block and reads no signed-in user, else on the script pool,
/// see [`crate::script::inline`]), saves what changed, then applies the recorded effects in
/// order. `arg` makes the call's argument, once per attempt. Returns the script's value, or
/// `None` on error.
async fn run(
    app: &App,
    socket: &Arc<Socket>,
    link: &SocketLink,
    call: Call,
    mut arg: impl FnMut() -> rhai::Dynamic,
) -> Option<Value> {
    let script = link.script.as_ref()?;
    let session_id = *link.session_id.lock().unwrap();
    let session = match session_id {
        Some(id) => match app.sessions.follow(id).await {
            Ok(Follow::Current(session)) => session,
            // A socket already going away still runs its `disconnect` handler, without a session.
            Ok(Follow::Ended) if !socket.connected() => {
                *link.session_id.lock().unwrap() = None;
                VisitorSession::default()
            }
            Ok(Follow::Ended) => {
                let _ = socket.emit("session:end", None);
                socket.disconnect();
                return None;
            }
            Err(err) => {
                log::error(&format!("socket {}: session store unavailable: {err}", socket.id));
                return None;
            }
        },
        None => VisitorSession { data: link.own_session.lock().unwrap().clone(), ..VisitorSession::default() },
    };
    let user_id = session.data.get(crate::users::SESSION_KEY).and_then(Value::as_str).map(str::to_string);
    let budget = *app.project().settings.scripts.timeout;
    let lists = app.data.current();
    // `socket.user` of a signed-in visitor reads the user list: the pool's work.
    let inline = crate::script::inline::enabled()
        && (user_id.is_none() || lists.is_none() || !script.reads_user())
        && script.runs_inline();
    let user_list = app.project().settings.admin.user_list.to_string();
    // A handle on the session as loaded; it keeps what the script writes.
    let new_handle = || {
        let session = map_to_rhai(&public_part(&session.data));
        SocketHandle::new(socket.id.to_string(), session, user_list.clone(), user_id.clone())
    };
    let mut handle = new_handle();
    let inline_outcome =
        inline.then(|| effects::run_inline(budget, || call_script(script, &call, &handle, arg(), lists.clone())));
    let (result, effects) = match inline_outcome.flatten() {
        Some(outcome) => outcome,
        None => {
            if inline {
                handle = new_handle(); // what the stopped run wrote is void
            }
            let (script, script_handle, arg) = (script.clone(), handle.clone(), arg());
            effects::run(budget, move || call_script(&script, &call, &script_handle, arg, lists)).await
        }
    };
    let new_session = merge_public(&session.data, map_to_json(&handle.session()));
    if new_session != session.data {
        if session.id.is_some() {
            match app.sessions.save(&session, new_session).await {
                Ok(Some(_)) => {}
                // Ended (logout or login) while the handler ran: it stays ended.
                Ok(None) => log::debug(&format!("socket {}: session ended during the event; not saved", socket.id)),
                Err(err) => {
                    log::error(&format!("socket {} on {}: {err}; the session was not saved", socket.id, socket.ns()))
                }
            }
        } else {
            *link.own_session.lock().unwrap() = new_session;
        }
    }
    apply(app, socket, link, effects).await;
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            log::error(&format!("socket {} on {}: {err}", socket.id, socket.ns()));
            None
        }
    }
}

async fn apply(app: &App, socket: &Arc<Socket>, link: &SocketLink, effects: Vec<Effect>) {
    let mut disconnect = false;
    for effect in effects {
        let sent = match effect {
            Effect::On { event, handler } => {
                link.handlers.lock().unwrap().set(event, handler);
                Ok(())
            }
            Effect::Emit { event, data } => socket.emit(&event, Some(&data)),
            Effect::Broadcast { event, data } => socket.broadcast().emit(&event, Some(&data)),
            Effect::ToRoom { room, event, data } => socket.to(room).emit(&event, Some(&data)),
            Effect::Join(room) => {
                socket.join(&room);
                Ok(())
            }
            Effect::Leave(room) => {
                socket.leave(&room);
                Ok(())
            }
            Effect::Disconnect => {
                disconnect = true;
                Ok(())
            }
            io @ Effect::Io { .. } => {
                apply_io(app, socket.ns(), io).await;
                Ok(())
            }
            // Response effects (render, redirect…) mean nothing to a socket.
            _ => Ok(()),
        };
        if let Err(err) = sent {
            note_unsent(&format!("socket {}", socket.id), err);
        }
    }
    if disconnect {
        socket.disconnect();
    }
}

/// Applies an `io.emit` effect: every socket of the namespace (the script's own when the
/// script did not name one), or of its rooms, on every node — the sender included.
pub async fn apply_io(app: &App, own_namespace: &str, effect: Effect) {
    let Effect::Io { namespace, rooms, event, data } = effect else { return };
    let namespace = namespace.unwrap_or_else(|| own_namespace.to_string());
    let Some(ns) = app.io().of(&namespace) else {
        log::error(&format!("io.of(\"{namespace}\").emit(\"{event}\"): no such namespace (no sockets/ script)"));
        return;
    };
    if let Err(err) = ns.to(rooms).emit(&event, Some(&data)) {
        note_unsent(&format!("io.emit(\"{event}\")"), err);
    }
}

/// Messages the server could not queue because a client's send buffer was full: the client
/// reads more slowly than the server sends. They are dropped; we say so now and then.
static UNSENT: log::Occasional = log::Occasional::new(std::time::Duration::from_secs(10));

/// Logs a failed emit: a full buffer is the developer's business (a warning, at most one line
/// per 10 s); a socket that closed meanwhile is not.
fn note_unsent(what: &str, err: EmitError) {
    if err != EmitError::Full {
        log::debug(&format!("{what}: {err}"));
    } else if let Some(dropped) = UNSENT.tick() {
        log::warning(&format!(
            "{dropped} message(s) not sent (the latest by {what}): a client reads more slowly than the server \
             sends, and its buffer of {} messages is full",
            super::SEND_BUFFER
        ));
    }
}

/// Sends `event` to every socket of session `id`, in every namespace (and on every node with
/// a shared adapter).
pub async fn emit_to_session(app: &App, id: &Id, event: &str, data: &Value) {
    for sockets in session_sockets(app, id) {
        if let Err(err) = sockets.emit(event, Some(data)) {
            note_unsent(&format!("emit_to_session(\"{event}\")"), err);
        }
    }
}

/// Tells the sockets of a destroyed session `session:end` and disconnects them.
pub async fn end_session(app: &App, id: &Id) {
    for sockets in session_sockets(app, id) {
        let _ = sockets.emit("session:end", None);
        sockets.disconnect();
    }
}

/// Tells the sockets of a regenerated (signed-in) session `session:renew` and disconnects
/// them: our client reconnects at once with the browser's new cookie, while a socket that only
/// knew the old id (a fixation attempt) comes back into nothing.
pub async fn renew_session(app: &App, old: &Id) {
    for sockets in session_sockets(app, old) {
        let _ = sockets.emit("session:renew", None);
        sockets.disconnect();
    }
}

fn session_sockets(app: &App, id: &Id) -> Vec<crate::realtime::Broadcast> {
    let room = session_room(id);
    app.namespace_names().into_iter().filter_map(|ns| app.io().of(&ns)).map(|ns| ns.to([room.clone()])).collect()
}

/// Regularly (every minute, or a quarter of `[session] expiry` when that is shorter) ends the
/// sockets of this node whose session expired (destroyed sessions end at once, through
/// `end_session`).
pub fn spawn_expiry_sweep(app: Arc<App>, expiry: std::time::Duration) {
    let every = (expiry / 4).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(60));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            sweep(&app).await;
        }
    });
}

async fn sweep(app: &App) {
    for ns in app.namespace_names() {
        let Some(ns) = app.io().of(&ns) else { continue };
        for socket in ns.sockets() {
            let id = match link(&socket) {
                Some(link) => *link.session_id.lock().unwrap(),
                // The Admin UI's sockets carry their session apart.
                None => crate::admin::live::session_of(&socket),
            };
            let Some(id) = id else { continue };
            if let Ok(Follow::Ended) = app.sessions.follow(id).await {
                let _ = socket.emit("session:end", None);
                socket.disconnect();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_registered_again_for_an_event_replaces_the_first() {
        let mut handlers = Handlers::default();
        handlers.set("chat".into(), FnPtr::new("first").unwrap());
        handlers.set("disconnect".into(), FnPtr::new("bye").unwrap());
        handlers.set("chat".into(), FnPtr::new("second").unwrap());
        assert_eq!(handlers.get("chat").map(|f| f.fn_name().to_string()).as_deref(), Some("second"));
        assert_eq!(handlers.get("disconnect").map(|f| f.fn_name().to_string()).as_deref(), Some("bye"));
        assert!(handlers.get("missing").is_none());
        assert_eq!(handlers.0.len(), 2);
    }
}
