//! Socket.IO namespaces wired by `sockets/*.rhai`, each socket bound to the visitor's
//! HTTP session (the signed cookie of its handshake), loaded fresh for every event.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rhai::FnPtr;
use serde_json::{Map, Value};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;
use tower_sessions::session::Id;

use super::session::{Follow, VisitorSession, merge_public, public_part};
use super::{App, log};
use crate::script::socket_api::{self, Effect, SocketHandle};
use crate::script::{Script, ScriptError, map_to_json, map_to_rhai, to_dynamic};

/// What a connected socket carries between events.
struct SocketLink {
    /// The namespace script as it was when the socket connected.
    script: Option<Script>,
    /// The session of the handshake cookie, if its signature was valid and it existed; it
    /// changes when the session is regenerated.
    session_id: Mutex<Option<Id>>,
    /// The session of a socket without a valid cookie: its own, never saved.
    own_session: Mutex<Map<String, Value>>,
    handlers: Mutex<HashMap<String, FnPtr>>,
    /// Becomes true once `connect(socket)` has run: socketioxide acknowledges the connection
    /// before our async connect handler finishes, so early events wait for their handlers.
    ready: tokio::sync::watch::Sender<bool>,
}

impl SocketLink {
    async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }
}

#[derive(Clone)]
struct Link(Arc<SocketLink>);

/// The room every socket of one session joins, so HTTP can reach all of a visitor's tabs.
pub fn session_room(id: &Id) -> String {
    format!("session:{id}")
}

/// Registers a namespace whose connections run the project's `sockets/*.rhai` script as it
/// is when each socket connects.
pub fn register_namespace(io: &SocketIo, namespace: &str) {
    io.ns(namespace.to_string(), on_connect);
}

async fn on_connect(socket: SocketRef, State(app): State<Arc<App>>) {
    let project = app.project();
    let mut session_id = app.sessions.id_from_headers(&socket.req_parts().headers);
    if let Some(id) = session_id {
        // A cookie whose session is gone is no session at all (as over HTTP).
        if app.sessions.is_gone(id).await.unwrap_or(false) {
            session_id = None;
        }
    }
    let script = project.sockets.get(socket.ns()).cloned();
    let link = Arc::new(SocketLink {
        script: script.clone(),
        session_id: Mutex::new(session_id),
        own_session: Mutex::default(),
        handlers: Mutex::default(),
        ready: tokio::sync::watch::Sender::new(false),
    });
    socket.extensions.insert(Link(link.clone()));
    if let Some(id) = &session_id {
        socket.join(session_room(id));
    }
    socket.on_fallback(on_event);
    socket.on_disconnect(on_disconnect);
    if let Some(script) = script {
        let _ =
            run(&app, &socket, &link, |handle| socket_api::run_connect(&script, handle).map(|()| Value::Null)).await;
    }
}

async fn on_event(
    socket: SocketRef,
    Event(event): Event,
    TryData(data): TryData<Value>,
    ack: AckSender,
    State(app): State<Arc<App>>,
) {
    let Some(Link(link)) = socket.extensions.get::<Link>() else {
        return;
    };
    link.wait_ready().await;
    let handler = link.handlers.lock().unwrap().get(&event).cloned();
    let (Some(handler), Some(script)) = (handler, link.script.clone()) else {
        log::debug(&format!("socket {} on {}: no handler for event `{event}`, ignored", socket.id, socket.ns()));
        return;
    };
    let data = match data {
        Ok(value) => value,
        Err(err) => {
            log::error(&format!(
                "socket {} on {}: malformed payload for `{event}` ignored: {err}",
                socket.id,
                socket.ns()
            ));
            return;
        }
    };
    let result =
        run(&app, &socket, &link, |handle| socket_api::run_handler(&script, &handler, handle, to_dynamic(&data))).await;
    if let Some(value) = result {
        let _ = ack.send(&value);
    }
}

async fn on_disconnect(socket: SocketRef, reason: DisconnectReason, State(app): State<Arc<App>>) {
    let Some(Link(link)) = socket.extensions.get::<Link>() else {
        return;
    };
    link.wait_ready().await;
    let handler = link.handlers.lock().unwrap().get("disconnect").cloned();
    if let (Some(handler), Some(script)) = (handler, link.script.clone()) {
        let reason = rhai::Dynamic::from(reason.to_string());
        let _ = run(&app, &socket, &link, |handle| socket_api::run_handler(&script, &handler, handle, reason)).await;
    }
}

/// Runs one script call for a socket: loads the session fresh, runs, saves what changed, then
/// applies the recorded effects in order. Returns the script's value, or `None` on error.
async fn run(
    app: &App,
    socket: &SocketRef,
    link: &SocketLink,
    call: impl FnOnce(&SocketHandle) -> Result<Value, ScriptError>,
) -> Option<Value> {
    let session_id = *link.session_id.lock().unwrap();
    let session = match session_id {
        Some(id) => match app.sessions.follow(id, &socket.id.to_string()).await {
            Ok(Follow::Current(session)) => session,
            Ok(Follow::Moved(session)) => {
                *link.session_id.lock().unwrap() = session.id;
                session
            }
            Ok(Follow::Ended) => {
                let _ = socket.emit("session:end", &());
                let _ = socket.clone().disconnect();
                return None;
            }
            Err(err) => {
                log::error(&format!("socket {}: session store unavailable: {err}", socket.id));
                return None;
            }
        },
        None => VisitorSession { data: link.own_session.lock().unwrap().clone(), ..VisitorSession::default() },
    };
    let handle = SocketHandle::new(socket.id.to_string(), map_to_rhai(&public_part(&session.data)));
    let result = call(&handle);
    let (effects, new_session) = handle.finish();
    let new_session = merge_public(&session.data, map_to_json(&new_session));
    if new_session != session.data {
        if session.id.is_some() {
            if let Err(err) = app.sessions.save(&session, new_session).await {
                log::error(&format!("socket {}: saving session: {err}", socket.id));
            }
        } else {
            *link.own_session.lock().unwrap() = new_session;
        }
    }
    apply(socket, link, effects).await;
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            log::error(&format!("socket {} on {}: {err}", socket.id, socket.ns()));
            None
        }
    }
}

async fn apply(socket: &SocketRef, link: &SocketLink, effects: Vec<Effect>) {
    let mut disconnect = false;
    for effect in effects {
        let sent = match effect {
            Effect::On { event, handler } => {
                link.handlers.lock().unwrap().insert(event, handler);
                Ok(())
            }
            Effect::Emit { event, data } => socket.emit(&event, &data).map_err(|e| e.to_string()),
            Effect::Broadcast { event, data } => {
                socket.broadcast().emit(&event, &data).await.map_err(|e| e.to_string())
            }
            Effect::ToRoom { room, event, data } => {
                socket.to(room).emit(&event, &data).await.map_err(|e| e.to_string())
            }
            Effect::Join(room) => {
                socket.join(room);
                Ok(())
            }
            Effect::Leave(room) => {
                socket.leave(room);
                Ok(())
            }
            Effect::Disconnect => {
                disconnect = true;
                Ok(())
            }
        };
        if let Err(err) = sent {
            log::debug(&format!("socket {}: {err}", socket.id));
        }
    }
    if disconnect {
        let _ = socket.clone().disconnect();
    }
}

/// Sends `event` to every socket of session `id`, in every namespace (and on every node with
/// a shared adapter).
pub async fn emit_to_session(app: &App, id: &Id, event: &str, data: &Value) {
    for ops in session_sockets(app, id) {
        if let Err(err) = ops.emit(event, data).await {
            log::debug(&format!("emit_to_session {event}: {err}"));
        }
    }
}

/// Tells the sockets of a destroyed session `session:end` and disconnects them.
pub async fn end_session(app: &App, id: &Id) {
    for ops in session_sockets(app, id) {
        let _ = ops.clone().emit("session:end", &()).await;
        let _ = ops.disconnect().await;
    }
}

/// Ids of the sockets of session `id` (every namespace and node), which may follow it when it
/// is regenerated.
pub async fn session_socket_ids(app: &App, id: &Id) -> Vec<String> {
    let mut ids = Vec::new();
    for ops in session_sockets(app, id) {
        // Infallible with the local adapter; a shared adapter can fail to reach other nodes.
        #[allow(irrefutable_let_patterns)]
        if let Ok(sockets) = ops.fetch_sockets().await {
            ids.extend(sockets.iter().map(|s| s.data().id.to_string()));
        }
    }
    ids
}

/// Moves the sockets of session `old` into the room of session `new`, so pushes to the new
/// session reach them at once; each learns its new id at its next event.
pub async fn move_session(app: &App, old: &Id, new: &Id) {
    let (from, to) = (session_room(old), session_room(new));
    for ns in app.namespace_names() {
        let Some(ops) = app.io().of(&ns) else { continue };
        let _ = ops.clone().within(from.clone()).join(to.clone()).await;
        let _ = ops.within(from.clone()).leave(from.clone()).await;
    }
}

fn session_sockets(app: &App, id: &Id) -> Vec<socketioxide::operators::BroadcastOperators> {
    let room = session_room(id);
    app.namespace_names().into_iter().filter_map(|ns| app.io().of(&ns)).map(|ops| ops.within(room.clone())).collect()
}

/// Every minute, ends the sockets whose session expired (destroyed sessions end at once).
pub fn spawn_expiry_sweep(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let mut checked = std::collections::HashSet::new();
            for ns in app.namespace_names() {
                let Some(ops) = app.io().of(&ns) else { continue };
                for socket in ops.sockets() {
                    let Some(Link(link)) = socket.extensions.get::<Link>() else { continue };
                    let Some(id) = *link.session_id.lock().unwrap() else { continue };
                    if checked.insert(id) && app.sessions.is_gone(id).await.unwrap_or(false) {
                        end_session(&app, &id).await;
                    }
                }
            }
        }
    });
}
