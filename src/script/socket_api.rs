//! The `socket` object socket scripts see: `on`, `emit`, `broadcast`, `to(room).emit`,
//! `join`, `leave`, `disconnect`, `id`, `session` and `user`. Calls are recorded as [`Effect`]s of
//! the running script.
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr};

use super::effects::{Effect, record};
use super::{Script, ScriptError, engine};

/// The state of one script call on one socket.
#[derive(Debug)]
struct Call {
    id: String,
    session: Mutex<rhai::Map>,
    user: SignedIn,
}

/// `socket.user`: read from the user list the first time a call asks (fresh per event),
/// never when nobody is signed in.
#[derive(Debug)]
struct SignedIn {
    user_list: String,
    id: Option<String>,
    read: Mutex<Option<Dynamic>>,
}

impl SignedIn {
    fn get(&self) -> Result<Dynamic, Box<EvalAltResult>> {
        let Some(id) = &self.id else { return Ok(Dynamic::UNIT) };
        let mut read = self.read.lock().unwrap();
        if let Some(user) = &*read {
            return Ok(user.clone());
        }
        let user = match crate::lists::context::current() {
            Some(db) => crate::users::current_by_id(&db, &self.user_list, id).map_err(crate::lists::rhai_api::fail)?,
            None => None,
        };
        let user = user.map_or(Dynamic::UNIT, |u| Dynamic::from_map(super::map_to_rhai(&u)));
        *read = Some(user.clone());
        Ok(user)
    }
}

/// `socket` in scripts. Cloning shares the call, so session writes made inside handlers are
/// kept.
#[derive(Debug, Clone)]
pub struct SocketHandle(Arc<Call>);

/// `socket.to(room)`: emits to everyone in a room but this socket.
#[derive(Debug, Clone)]
pub struct RoomTarget {
    room: String,
}

impl SocketHandle {
    /// A handle whose `socket.user` is user `user_id` of list `user_list` (none when `None`).
    pub fn new(id: String, session: rhai::Map, user_list: String, user_id: Option<String>) -> Self {
        let user = SignedIn { user_list, id: user_id, read: Mutex::default() };
        SocketHandle(Arc::new(Call { id, session: Mutex::new(session), user }))
    }

    /// The session as the script left it.
    pub fn session(&self) -> rhai::Map {
        self.0.session.lock().unwrap().clone()
    }

    /// Puts `original` back when the script left a session value too deep to hand to the
    /// server (dropping the deep one on this thread), and says which.
    ///
    /// # Errors
    /// The entry that nests too deep.
    pub fn refuse_deep_session(&self, file: &str, original: rhai::Map) -> Result<(), ScriptError> {
        let mut session = self.0.session.lock().unwrap();
        match super::deep_entry("session", &session) {
            Some(message) => {
                *session = original;
                Err(ScriptError { file: file.to_string(), line: 0, column: 0, message, unavailable: false })
            }
            None => Ok(()),
        }
    }
}

pub(super) fn register(engine: &mut Engine) {
    use super::json_out;
    engine.register_type_with_name::<SocketHandle>("Socket");
    engine.register_type_with_name::<RoomTarget>("Room");
    engine.register_get("id", |s: &mut SocketHandle| s.0.id.clone());
    engine.register_get_set(
        "session",
        |s: &mut SocketHandle| s.0.session.lock().unwrap().clone(),
        |s: &mut SocketHandle, map: rhai::Map| *s.0.session.lock().unwrap() = map,
    );
    engine.register_get("user", |s: &mut SocketHandle| s.0.user.get());
    engine.register_fn("on", |_: &mut SocketHandle, event: &str, handler: FnPtr| {
        record(Effect::On { event: event.to_string(), handler })
    });
    engine.register_fn("emit", |_: &mut SocketHandle, event: &str, data: Dynamic| -> Result<(), Box<EvalAltResult>> {
        record(Effect::Emit { event: event.into(), data: json_out(&data)? });
        Ok(())
    });
    engine.register_fn("emit", |_: &mut SocketHandle, event: &str| {
        record(Effect::Emit { event: event.into(), data: serde_json::Value::Null })
    });
    engine.register_fn(
        "broadcast",
        |_: &mut SocketHandle, event: &str, data: Dynamic| -> Result<(), Box<EvalAltResult>> {
            record(Effect::Broadcast { event: event.into(), data: json_out(&data)? });
            Ok(())
        },
    );
    engine.register_fn("to", |_: &mut SocketHandle, room: &str| RoomTarget { room: room.into() });
    engine.register_fn("emit", |r: &mut RoomTarget, event: &str, data: Dynamic| -> Result<(), Box<EvalAltResult>> {
        record(Effect::ToRoom { room: r.room.clone(), event: event.into(), data: json_out(&data)? });
        Ok(())
    });
    engine.register_fn("join", |_: &mut SocketHandle, room: &str| record(Effect::Join(room.into())));
    engine.register_fn("leave", |_: &mut SocketHandle, room: &str| record(Effect::Leave(room.into())));
    engine.register_fn("disconnect", |_: &mut SocketHandle| record(Effect::Disconnect));
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
        .map_err(|err| script.error(&err))
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
        .map_err(|err| script.error(&err))
        .and_then(|value| super::json_out(&value).map_err(|err| ScriptError::new(&script.file, &err)))
}
