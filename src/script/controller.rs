//! Controllers, middleware and guards: scripts run per request that decide the response.
//!
//! `render`, `redirect`, `status`, `json` and `flash` record into the response of the request
//! being handled on this thread; scripts never await, so a thread-local is exactly one request.
use std::cell::RefCell;

use rhai::{Dynamic, Engine, Scope};

use super::{Script, ScriptError, engine};

/// What the scripts of one request asked for.
#[derive(Debug, Default, Clone)]
pub struct Response {
    pub render: Option<String>,
    pub redirect: Option<String>,
    pub status: Option<u16>,
    pub json: Option<serde_json::Value>,
    pub flashes: Vec<(String, String)>,
    /// `emit_to_session(event, data)`: pushes to every socket of this visitor.
    pub session_emits: Vec<(String, serde_json::Value)>,
    /// `regenerate_session()`: a new session id (at login).
    pub regenerate: bool,
    /// `destroy_session()`: the session ends (at logout) and its sockets are disconnected.
    pub destroy: bool,
}

impl Response {
    /// A middleware or guard that set any of these ends the chain.
    fn decided(&self) -> bool {
        self.render.is_some() || self.redirect.is_some() || self.status.is_some() || self.json.is_some()
    }
}

thread_local! {
    static CURRENT: RefCell<Response> = RefCell::new(Response::default());
}

fn with_current(f: impl FnOnce(&mut Response)) {
    CURRENT.with(|r| f(&mut r.borrow_mut()));
}

pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("render", |view: &str| with_current(|r| r.render = Some(view.to_string())));
    engine.register_fn("redirect", |url: &str| with_current(|r| r.redirect = Some(url.to_string())));
    engine.register_fn("status", |code: i64| {
        with_current(|r| r.status = u16::try_from(code).ok().filter(|c| (100..1000).contains(c)))
    });
    engine.register_fn("json", |value: Dynamic| with_current(|r| r.json = Some(super::to_json(&value))));
    engine.register_fn("flash", |kind: &str, message: &str| {
        with_current(|r| r.flashes.push((kind.to_string(), message.to_string())))
    });
    engine.register_fn("emit_to_session", |event: &str, data: Dynamic| {
        with_current(|r| r.session_emits.push((event.to_string(), super::to_json(&data))))
    });
    engine.register_fn("emit_to_session", |event: &str| {
        with_current(|r| r.session_emits.push((event.to_string(), serde_json::Value::Null)))
    });
    engine.register_fn("regenerate_session", || with_current(|r| r.regenerate = true));
    engine.register_fn("destroy_session", || with_current(|r| r.destroy = true));
}

/// The request's scope: `req`, `session` and `locals`, shared by every script in the chain.
pub struct RequestScope {
    scope: Scope<'static>,
}

impl RequestScope {
    pub fn new(req: rhai::Map, session: rhai::Map, locals: rhai::Map) -> Self {
        let mut scope = Scope::new();
        scope.push("req", req);
        scope.push("session", session);
        scope.push("locals", locals);
        RequestScope { scope }
    }

    fn map(&self, name: &str) -> rhai::Map {
        self.scope.get_value::<rhai::Map>(name).unwrap_or_default()
    }

    pub fn session(&self) -> rhai::Map {
        self.map("session")
    }

    pub fn locals(&self) -> rhai::Map {
        self.map("locals")
    }
}

/// Runs middleware, guards and controller in order in one scope. A script before the last
/// that decides the response (redirect, status, json, render) ends the chain.
///
/// # Errors
/// The first script error (including a runaway script hitting the operations limit).
pub fn run_chain(scripts: &[&Script], scope: &mut RequestScope) -> Result<Response, ScriptError> {
    CURRENT.with(|r| *r.borrow_mut() = Response::default());
    let base = scope.scope.len();
    for (i, script) in scripts.iter().enumerate() {
        let result = engine().run_ast_with_scope(&mut scope.scope, &script.ast);
        // Variables a script declares stay its own; req, session and locals carry on.
        scope.scope.rewind(base);
        if let Err(err) = result {
            return Err(ScriptError::new(&script.file, &err));
        }
        let decided = CURRENT.with(|r| r.borrow().decided());
        if decided && i + 1 < scripts.len() {
            break;
        }
    }
    Ok(CURRENT.with(|r| std::mem::take(&mut *r.borrow_mut())))
}
