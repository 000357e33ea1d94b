//! The `socket` object socket scripts see: `on`, `emit`, `broadcast`, `to(room).emit`,
//! `join`, `leave`, `disconnect`, `id` and `session`. Calls are recorded as effects.
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, Engine, FnPtr};

use super::{Script, ScriptError, engine};

/// Something a socket script asked for, applied by the server after the script returns.
#[derive(Debug, Clone)]
pub enum Effect {
    On { event: String, handler: FnPtr },
    Emit { event: String, data: serde_json::Value },
    Broadcast { event: String, data: serde_json::Value },
    ToRoom { room: String, event: String, data: serde_json::Value },
    Join(String),
    Leave(String),
    Disconnect,
}

/// The state of one script call on one socket.
#[derive(Debug)]
pub struct Call {
    id: String,
    session: Mutex<rhai::Map>,
    effects: Mutex<Vec<Effect>>,
}

/// `socket` in scripts. Cloning shares the call, so effects made inside handlers are kept.
#[derive(Debug, Clone)]
pub struct SocketHandle(Arc<Call>);

/// `socket.to(room)`: emits to everyone in a room but this socket.
#[derive(Debug, Clone)]
pub struct RoomTarget {
    call: Arc<Call>,
    room: String,
}

impl SocketHandle {
    pub fn new(id: String, session: rhai::Map) -> Self {
        SocketHandle(Arc::new(Call { id, session: Mutex::new(session), effects: Mutex::default() }))
    }

    fn record(&self, effect: Effect) {
        self.0.effects.lock().unwrap().push(effect);
    }

    /// The effects recorded so far, in order, and the session as the script left it.
    pub fn finish(&self) -> (Vec<Effect>, rhai::Map) {
        let effects = std::mem::take(&mut *self.0.effects.lock().unwrap());
        (effects, self.0.session.lock().unwrap().clone())
    }
}

pub(super) fn register(engine: &mut Engine) {
    use super::to_json;
    engine.register_type_with_name::<SocketHandle>("Socket");
    engine.register_type_with_name::<RoomTarget>("Room");
    engine.register_get("id", |s: &mut SocketHandle| s.0.id.clone());
    engine.register_get_set(
        "session",
        |s: &mut SocketHandle| s.0.session.lock().unwrap().clone(),
        |s: &mut SocketHandle, map: rhai::Map| *s.0.session.lock().unwrap() = map,
    );
    engine.register_fn("on", |s: &mut SocketHandle, event: &str, handler: FnPtr| {
        s.record(Effect::On { event: event.to_string(), handler })
    });
    engine.register_fn("emit", |s: &mut SocketHandle, event: &str, data: Dynamic| {
        s.record(Effect::Emit { event: event.into(), data: to_json(&data) })
    });
    engine.register_fn("emit", |s: &mut SocketHandle, event: &str| {
        s.record(Effect::Emit { event: event.into(), data: serde_json::Value::Null })
    });
    engine.register_fn("broadcast", |s: &mut SocketHandle, event: &str, data: Dynamic| {
        s.record(Effect::Broadcast { event: event.into(), data: to_json(&data) })
    });
    engine.register_fn("to", |s: &mut SocketHandle, room: &str| RoomTarget { call: s.0.clone(), room: room.into() });
    engine.register_fn("emit", |r: &mut RoomTarget, event: &str, data: Dynamic| {
        SocketHandle(r.call.clone()).record(Effect::ToRoom {
            room: r.room.clone(),
            event: event.into(),
            data: to_json(&data),
        })
    });
    engine.register_fn("join", |s: &mut SocketHandle, room: &str| s.record(Effect::Join(room.into())));
    engine.register_fn("leave", |s: &mut SocketHandle, room: &str| s.record(Effect::Leave(room.into())));
    engine.register_fn("disconnect", |s: &mut SocketHandle| s.record(Effect::Disconnect));
}

/// Runs the namespace script's `fn connect(socket)`, if it defines one.
///
/// # Errors
/// A script error, with the file and line.
pub fn run_connect(script: &Script, socket: &SocketHandle) -> Result<(), ScriptError> {
    let defined = script.ast.iter_functions().any(|f| f.name == "connect" && f.params.len() == 1);
    if !defined {
        return Ok(());
    }
    let mut scope = rhai::Scope::new();
    engine()
        .call_fn::<Dynamic>(&mut scope, &script.ast, "connect", (socket.clone(),))
        .map(drop)
        .map_err(|err| ScriptError::new(&script.file, &err))
}

/// Calls an event handler registered with `socket.on`; its return value answers the ack.
///
/// # Errors
/// A script error, with the file and line.
pub fn run_handler(
    script: &Script,
    handler: &FnPtr,
    socket: &SocketHandle,
    data: Dynamic,
) -> Result<serde_json::Value, ScriptError> {
    handler
        .call::<Dynamic>(engine(), &script.ast, (socket.clone(), data))
        .map(|value| super::to_json(&value))
        .map_err(|err| ScriptError::new(&script.file, &err))
}
