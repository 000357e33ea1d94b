//! `signin(email, password)`, `signin_error()` and `signout()` for controllers, middleware and
//! guards. They need the visitor of the request being handled ([`Visitor`]), entered around
//! the request's scripts on the script pool, where signing in may block (argon2, the database).
//! A socket handler has no visitor: it cannot set a cookie, so these are script errors there.
use std::cell::RefCell;
use std::sync::Arc;

use rhai::{Engine, EvalAltResult};
use serde_json::{Map, Value};

use super::{SignInError, Throttle};
use crate::script::api_error;
use crate::script::effects::{Effect, record};

/// The request a script runs for, as far as signing in is concerned.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// `[admin] user_list`.
    pub user_list: String,
    pub throttle: Arc<Throttle>,
    /// The client's address, throttled beside the account.
    pub client: String,
    /// The signed-in user's id kept in the session, if any.
    pub user_id: Option<String>,
    /// Where the built-in guards send a visitor who is not signed in, `?from=` included.
    pub signin_redirect: String,
}

struct Current {
    visitor: Visitor,
    /// Why the last `signin()` of this request failed.
    last_error: Option<String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Restores the previous visitor when dropped.
pub struct Entered {
    previous: Option<Current>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Makes `visitor` the one `signin()` signs in, on this thread, until the guard drops.
#[must_use]
pub fn enter(visitor: Visitor) -> Entered {
    let current = Current { visitor, last_error: None };
    Entered { previous: CURRENT.with(|c| c.borrow_mut().replace(current)) }
}

fn outside_a_request(what: &str) -> Box<EvalAltResult> {
    api_error(format!(
        "{what} works in controllers, middleware and guards, not in socket handlers (a socket cannot change the visitor's cookie)"
    ))
}

/// The effect of a successful sign-in: the user's id goes into the session, which is
/// regenerated (new id, new CSRF token, the old id's sockets renewed).
fn signed_in(user: Map<String, Value>) {
    record(Effect::SignIn(user));
}

/// `signin(email, password)`: anything but text (a missing form field is `()`) is refused
/// like a wrong password.
fn signin(email: rhai::Dynamic, password: rhai::Dynamic) -> Result<bool, Box<EvalAltResult>> {
    let text = |v: rhai::Dynamic| v.into_immutable_string().map(|s| s.to_string()).unwrap_or_default();
    let (email, password) = (text(email), text(password));
    let visitor = CURRENT.with(|c| c.borrow().as_ref().map(|c| c.visitor.clone()));
    let Some(visitor) = visitor else { return Err(outside_a_request("signin()")) };
    let Some(db) = crate::lists::context::current() else {
        return Err(api_error(format!(
            "signin(): the app has no lists; add models/{}.toml with email, password and is_admin fields",
            visitor.user_list
        )));
    };
    let outcome = super::sign_in(&db, &visitor.user_list, &visitor.throttle, &visitor.client, &email, &password);
    let (ok, error) = match outcome {
        Ok(user) => {
            signed_in(user);
            (true, None)
        }
        Err(err @ (SignInError::Refused | SignInError::Throttled { .. })) => (false, Some(err.to_string())),
        Err(SignInError::List(err)) => return Err(crate::lists::rhai_api::fail(err)),
    };
    CURRENT.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.last_error = error;
        }
    });
    Ok(ok)
}

fn signin_error() -> rhai::Dynamic {
    CURRENT.with(|c| c.borrow().as_ref().and_then(|c| c.last_error.clone()).map_or(rhai::Dynamic::UNIT, Into::into))
}

fn signout() -> Result<(), Box<EvalAltResult>> {
    if CURRENT.with(|c| c.borrow().is_none()) {
        return Err(outside_a_request("signout()"));
    }
    record(Effect::DestroySession);
    Ok(())
}

/// Registers `signin`, `signin_error` and `signout`.
pub fn register(engine: &mut Engine) {
    engine.register_fn("signin", signin);
    engine.register_fn("signin_error", signin_error);
    engine.register_fn("signout", signout);
}

/// The built-in guard's answer for the current request, if it stops the request: a
/// redirect to the sign-in page, or 403 for a signed-in visitor who is not an admin.
pub(crate) fn guard_outcome(guard: super::guards::Builtin, user: Option<&Map<String, Value>>) -> Option<Effect> {
    let redirect = CURRENT.with(|c| c.borrow().as_ref().map(|c| c.visitor.signin_redirect.clone()))?;
    match (guard, user) {
        (_, None) => Some(Effect::Redirect(redirect)),
        (super::guards::Builtin::RequireAdmin, Some(user)) if !super::is_admin(user) => Some(Effect::Forbidden),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::script::{compile, engine};

    #[test]
    fn signin_and_signout_are_script_errors_outside_a_request() {
        for call in ["signin(\"ada@example.com\", \"password\")", "signout()"] {
            let script = compile("sockets/index.rhai", call).unwrap();
            let err = engine().run_ast(&script.ast).unwrap_err().to_string();
            assert!(err.contains("not in socket handlers"), "{call}: {err}");
        }
        let script = compile("sockets/index.rhai", "signin_error()").unwrap();
        assert!(engine().eval_ast::<rhai::Dynamic>(&script.ast).unwrap().is_unit());
    }
}
