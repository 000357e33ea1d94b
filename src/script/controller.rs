//! Controllers, middleware and guards: scripts run per request that decide the response.
//!
//! `render`, `redirect`, `status`, `json`, `flash`, `emit_to_session`, `regenerate_session`
//! and `destroy_session` record [`Effect`]s of the request's run; [`Response`] is what they
//! add up to.
use rhai::{Dynamic, Engine, EvalAltResult, Scope};

use super::effects::{self, Effect, record};
use super::{Script, ScriptError, api_error, deep_entry, engine};

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
    /// `signin()` succeeded: the user now signed in (the session is regenerated too).
    pub sign_in: Option<serde_json::Map<String, serde_json::Value>>,
    /// The built-in `require_admin` guard refused the visitor.
    pub forbidden: bool,
    /// Effects for every socket (`io.emit` and friends), applied after the response is decided.
    pub io: Vec<Effect>,
}

impl Response {
    /// Adds up the effects of a request's scripts; the last `render`/`redirect`/… wins.
    pub fn from_effects(effects: Vec<Effect>) -> Self {
        let mut response = Response::default();
        for effect in effects {
            match effect {
                Effect::Render(view) => response.render = Some(view),
                Effect::Redirect(url) => response.redirect = Some(url),
                Effect::Status(code) => response.status = Some(code),
                Effect::Json(value) => response.json = Some(value),
                Effect::Flash { kind, message } => response.flashes.push((kind, message)),
                Effect::EmitToSession { event, data } => response.session_emits.push((event, data)),
                Effect::RegenerateSession => response.regenerate = true,
                Effect::DestroySession => response.destroy = true,
                Effect::SignIn(user) => {
                    response.sign_in = Some(user);
                    response.regenerate = true;
                }
                Effect::Forbidden => response.forbidden = true,
                io @ Effect::Io { .. } => response.io.push(io),
                // Socket methods need a socket; a controller has none to call them on.
                _ => {}
            }
        }
        response
    }
}

/// Where `redirect()` may send a visitor: this site, unless the script says
/// `redirect(url, #{ external: true })` (then an http or https URL). Control characters
/// (CR, LF, NUL…) are refused either way: they would split or end the `Location` header.
pub fn check_redirect(url: &str, external: bool) -> Result<(), String> {
    if url.chars().any(|c| c.is_control()) {
        return Err(format!("redirect({url:?}): the URL contains a control character (CR, LF, NUL…)"));
    }
    if url.trim().is_empty() {
        return Err("redirect(\"\"): the URL is empty".into());
    }
    // Browsers read `\` as `/` and skip leading spaces: `/\evil.example` is `//evil.example`.
    let seen = url.trim_start().replace('\\', "/");
    let scheme_end = seen.find([':', '/', '?', '#']).filter(|&i| seen[i..].starts_with(':'));
    let on_site = scheme_end.is_none() && !seen.starts_with("//");
    if on_site {
        return Ok(());
    }
    if external {
        let scheme = scheme_end.map_or("", |i| &seen[..i]).to_ascii_lowercase();
        if scheme == "http" || scheme == "https" {
            return Ok(());
        }
        return Err(format!("redirect({url:?}): an external redirect must be an http:// or https:// URL"));
    }
    Err(format!(
        "redirect({url:?}) leaves this site; pass #{{ external: true }} as a second argument if that is intended"
    ))
}

/// Whether a status code may be set by a script: 200–599.
pub fn check_status(code: i64) -> Result<u16, String> {
    u16::try_from(code)
        .ok()
        .filter(|c| (200..=599).contains(c))
        .ok_or_else(|| format!("status({code}): a status must be from 200 to 599"))
}

pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("render", |view: &str| record(Effect::Render(view.to_string())));
    engine.register_fn("redirect", |url: &str| -> Result<(), Box<EvalAltResult>> {
        check_redirect(url, false).map_err(api_error)?;
        record(Effect::Redirect(url.to_string()));
        Ok(())
    });
    engine.register_fn("redirect", |url: &str, options: rhai::Map| -> Result<(), Box<EvalAltResult>> {
        let external = options.get("external").and_then(|v| v.as_bool().ok()).unwrap_or(false);
        check_redirect(url, external).map_err(api_error)?;
        record(Effect::Redirect(url.to_string()));
        Ok(())
    });
    engine.register_fn("status", |code: i64| -> Result<(), Box<EvalAltResult>> {
        record(Effect::Status(check_status(code).map_err(api_error)?));
        Ok(())
    });
    engine.register_fn("json", |value: Dynamic| -> Result<(), Box<EvalAltResult>> {
        record(Effect::Json(super::json_out(&value)?));
        Ok(())
    });
    engine.register_fn("flash", |kind: &str, message: &str| {
        record(Effect::Flash { kind: kind.to_string(), message: message.to_string() })
    });
    engine.register_fn("emit_to_session", |event: &str, data: Dynamic| -> Result<(), Box<EvalAltResult>> {
        record(Effect::EmitToSession { event: event.to_string(), data: super::json_out(&data)? });
        Ok(())
    });
    engine.register_fn("emit_to_session", |event: &str| {
        record(Effect::EmitToSession { event: event.to_string(), data: serde_json::Value::Null })
    });
    engine.register_fn("regenerate_session", || record(Effect::RegenerateSession));
    engine.register_fn("destroy_session", || record(Effect::DestroySession));
}

/// The request's scope: `req`, `session`, `locals` and `user`, shared by every script in the
/// chain.
pub struct RequestScope {
    scope: Scope<'static>,
    /// The signed-in user, read when the chain starts.
    user: Option<serde_json::Map<String, serde_json::Value>>,
}

impl RequestScope {
    pub fn new(req: rhai::Map, session: rhai::Map, locals: rhai::Map) -> Self {
        let mut scope = Scope::new();
        // `from_map`: `push` would go through rhai's generic conversion, which rebuilds each
        // map entry by entry (about 5,000 instructions per request, issue 11).
        scope.push_dynamic("req", Dynamic::from_map(req));
        scope.push_dynamic("session", Dynamic::from_map(session));
        scope.push_dynamic("locals", Dynamic::from_map(locals));
        RequestScope { scope, user: None }
    }

    /// The signed-in user as the chain's scripts saw it (`None` when signed out).
    pub fn user(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.user.as_ref()
    }

    /// Reads the signed-in user fresh and binds `user` (a constant: `()` when signed out).
    fn bind_user(&mut self, visitor: &crate::users::script_api::Visitor) -> Result<(), ScriptError> {
        let user = match (&visitor.user_id, crate::lists::context::current()) {
            (Some(id), Some(db)) => {
                crate::users::current_by_id(&db, &visitor.user_list, id).map_err(|err| ScriptError {
                    unavailable: err.is_unavailable(),
                    ..ScriptError::internal(&format!("reading the signed-in user: {err}"))
                })?
            }
            _ => None,
        };
        let bound = user.as_ref().map_or(Dynamic::UNIT, |u| Dynamic::from_map(super::map_to_rhai(u)));
        self.scope.push_constant("user", bound);
        self.user = user;
        Ok(())
    }

    /// Moves the map `name` out (`None` if a script made it something else).
    fn take(&mut self, name: &str) -> Option<rhai::Map> {
        let value = self.scope.get_mut(name).map(std::mem::take)?;
        value.flatten().try_cast::<rhai::Map>()
    }

    /// Moves `session` out, as the scripts left it.
    pub fn take_session(&mut self) -> rhai::Map {
        self.take("session").unwrap_or_default()
    }

    /// Moves `req` out, as the scripts left it (the page reads it then).
    pub fn take_req(&mut self) -> Option<rhai::Map> {
        self.take("req")
    }

    /// Which entry of the map `name` nests too deep to hand to the server, read in place.
    fn too_deep(&self, name: &str) -> Option<String> {
        let map = self.scope.get(name)?.as_map_ref().ok()?;
        deep_entry(name, &map)
    }

    /// Moves `locals` out (the page needs it once, after the chain): no copy of the page's data.
    pub fn take_locals(&mut self) -> rhai::Map {
        self.take("locals").unwrap_or_default()
    }
}

/// One step of a request's chain: a script, or a guard keystone-rs provides.
#[derive(Debug, Clone)]
pub enum Step {
    Script(Script),
    Guard(crate::users::guards::Builtin),
}

impl Step {
    fn file(&self) -> &str {
        match self {
            Step::Script(s) => &s.file,
            Step::Guard(g) => g.name(),
        }
    }

    /// Whether the step may run inline: a built-in guard only reads the user bound already.
    fn runs_inline(&self) -> bool {
        match self {
            Step::Script(s) => s.runs_inline(),
            Step::Guard(_) => true,
        }
    }
}

type Lists = Option<std::sync::Arc<crate::lists::Db>>;

/// Runs middleware, guards and controller in order in one scope (made by `scope`), within
/// `budget`: inline on this async worker when no step can block and no signed-in user is to
/// be read (see [`super::inline`]), else (or when the inline run passes the inline limits,
/// then again from a fresh `scope`) on the script pool. A step before the last that decides
/// the response (redirect, status, json, render) ends the chain. Gives the scope back with
/// what the scripts left in it. `lists` is what `list("…")` reads and writes; `visitor` is who
/// `signin()` signs in and whose `user` the scripts see.
///
/// # Errors
/// The first script error (including a runaway script hitting a limit or its budget).
pub async fn run_chain(
    steps: Vec<Step>,
    scope: impl Fn() -> RequestScope,
    budget: std::time::Duration,
    lists: Lists,
    visitor: crate::users::script_api::Visitor,
) -> (RequestScope, Result<Response, ScriptError>) {
    // Binding `user` for a signed-in visitor reads the user list: the pool's work.
    let inline = super::inline::enabled()
        && (visitor.user_id.is_none() || lists.is_none())
        && steps.iter().all(Step::runs_inline);
    let inline_outcome =
        inline.then(|| effects::run_inline(budget, || chain(&steps, scope(), lists.clone(), visitor.clone())));
    let (result, effects) = match inline_outcome.flatten() {
        Some(outcome) => outcome,
        None => {
            let scope = scope();
            // Boxed: most requests never come here, and the future of every one would carry it.
            Box::pin(effects::run(budget, move || chain(&steps, scope, lists, visitor))).await
        }
    };
    match result {
        Ok((scope, Ok(()))) => (scope, Ok(Response::from_effects(effects))),
        Ok((scope, Err(err))) => (scope, Err(err)),
        Err(err) => (RequestScope::new(rhai::Map::new(), rhai::Map::new(), rhai::Map::new()), Err(err)),
    }
}

/// One run of a request's chain, on the thread it is called on: the scope the scripts left and
/// their outcome.
fn chain(
    steps: &[Step],
    mut scope: RequestScope,
    lists: Lists,
    visitor: crate::users::script_api::Visitor,
) -> Result<(RequestScope, Result<(), ScriptError>), ScriptError> {
    let _lists = crate::lists::context::enter(lists);
    let outcome = match scope.bind_user(&visitor) {
        Ok(()) => {
            let _visitor = crate::users::script_api::enter(visitor);
            run_chain_here(steps, &mut scope)
        }
        Err(err) => Err(err),
    };
    // Too deep to hand to the server: refused here, and dropped on this thread's stack.
    let deep = scope.too_deep("session").or_else(|| scope.too_deep("locals"));
    if let Some(message) = deep {
        let file = steps.last().map_or("(script)", Step::file);
        let empty = RequestScope::new(rhai::Map::new(), rhai::Map::new(), rhai::Map::new());
        return Ok((
            empty,
            Err(ScriptError { file: file.to_string(), line: 0, column: 0, message, unavailable: false }),
        ));
    }
    Ok((scope, outcome))
}

fn run_chain_here(steps: &[Step], scope: &mut RequestScope) -> Result<(), ScriptError> {
    let base = scope.scope.len();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Script(script) => {
                let result = engine().run_ast_with_scope(&mut scope.scope, &script.ast);
                // Variables a script declares stay its own; req, session, locals and user carry on.
                scope.scope.rewind(base);
                if let Err(err) = result {
                    return Err(script.error(&err));
                }
            }
            Step::Guard(guard) => {
                if let Some(effect) = crate::users::script_api::guard_outcome(*guard, scope.user.as_ref()) {
                    record(effect);
                }
            }
        }
        if effects::decided() && i + 1 < steps.len() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_site_unless_marked_external() {
        for ok in ["/", "/login?next=%2F", "page2", "?page=2", "#top", "/a/b"] {
            assert_eq!(check_redirect(ok, false), Ok(()), "{ok}");
        }
        for off in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            " //evil.example",
            "\\\\evil.example",
            "HTTP://evil.example",
        ] {
            assert!(check_redirect(off, false).is_err(), "{off} must be refused");
        }
        assert_eq!(check_redirect("https://partner.example/x", true), Ok(()));
        assert!(check_redirect("javascript:alert(1)", true).is_err());
        for broken in ["/a\r\nSet-Cookie: x=1", "/a\nb", "/a\0"] {
            let err = check_redirect(broken, true).unwrap_err();
            assert!(err.contains("control character"), "{err}");
        }
    }

    #[test]
    fn scripts_may_shadow_user_with_let_but_not_assign_it() {
        let mut scope = RequestScope::new(rhai::Map::new(), rhai::Map::new(), rhai::Map::new());
        scope.scope.push_constant("user", Dynamic::UNIT);
        let shadow = crate::script::compile("a.rhai", "let user = 1; user += 1; locals.n = user;").unwrap();
        let steps = [Step::Script(shadow)];
        assert!(run_chain_here(&steps, &mut scope).is_ok(), "an app's own `let user` keeps working");
        assert_eq!(scope.take_locals()["n"].as_int().unwrap(), 2);
        let assign = crate::script::compile("b.rhai", "user = 1;").unwrap();
        assert!(run_chain_here(&[Step::Script(assign)], &mut scope).is_err(), "`user` itself is read-only");
    }

    #[test]
    fn statuses_are_200_to_599() {
        assert_eq!(check_status(200), Ok(200));
        assert_eq!(check_status(404), Ok(404));
        assert_eq!(check_status(599), Ok(599));
        for bad in [0, 101, 199, 600, 999, 65736, -1] {
            assert!(check_status(bad).is_err(), "{bad}");
        }
    }
}
