//! Users (DESIGN §11): who is signed in, and signing in — one answer for an unknown email
//! and a wrong password, in about the same time, throttled per client and per account.
//!
//! The signed-in user's id lives in the session under [`SESSION_KEY`], an internal key
//! (scripts and templates never see it); the user item itself is read fresh from the
//! `[admin] user_list` list whenever it is asked for.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::lists::{Db, Field, FieldType, Find, ListError, Model, value};

pub mod guards;
pub mod script_api;

/// The internal session key holding the signed-in user's id.
pub const SESSION_KEY: &str = "_user";

/// The fields the user list must have (DESIGN §11).
pub const EMAIL: &str = "email";
pub const PASSWORD: &str = "password";
pub const IS_ADMIN: &str = "is_admin";

/// Why a sign-in did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown email or wrong password: the same answer for both, on purpose.
    #[error("the email or password is not right")]
    Refused,
    /// Too many failures lately from this client or for this account.
    #[error("too many failed sign-ins; try again in {} s", retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    /// The user list is missing or has no email/password field, or the database failed.
    #[error(transparent)]
    List(#[from] ListError),
}

/// Longest email a sign-in looks up: longer ones are refused before they reach the throttle's
/// memory (RFC 5321 caps an address at 254 characters).
pub const MAX_EMAIL: usize = 254;

/// Failures allowed in [`WINDOW`] before a client or an account is held back.
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and how long a held-back key waits.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How many keys the throttle remembers; beyond it, the oldest are forgotten.
const MAX_KEYS: usize = 100_000;

/// Counts failed sign-ins per client address and per account (on this node).
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// How long `key` must still wait, if it is held back.
    fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let &(count, since) = failures.get(key)?;
        let elapsed = now.saturating_duration_since(since);
        (count >= MAX_FAILURES && elapsed < WINDOW).then(|| WINDOW - elapsed)
    }

    fn fail(&self, key: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, (_, since)| now.saturating_duration_since(*since) < WINDOW);
            if failures.len() >= MAX_KEYS {
                failures.clear();
            }
        }
        let entry = failures.entry(key.to_string()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn forget(&self, key: &str) {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}

/// Who the throttle counts a sign-in against: the peer's address, except that behind a
/// reverse proxy on the same host (a loopback peer) every visitor would share the proxy's
/// address, and five failures of anyone would hold back everyone. There the address the
/// proxy appended to `X-Forwarded-For` (its last entry) is used. A client that fakes the
/// header only changes its own key; the per-account count holds regardless.
pub fn throttle_client(peer: Option<std::net::IpAddr>, forwarded_for: Option<&str>) -> String {
    let forwarded =
        forwarded_for.and_then(|h| h.rsplit(',').next()).map(str::trim).filter(|a| !a.is_empty() && a.len() <= 64);
    match (peer, forwarded) {
        (Some(ip), Some(forwarded)) if ip.is_loopback() => forwarded.to_string(),
        (Some(ip), _) => ip_text(ip),
        (None, _) => String::new(),
    }
}

/// `ip` as text. An IPv4 address is written digit by digit: it is every request's `req.ip`,
/// and `Display` (through the formatter's padding support) cost about 2,500 instructions.
fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else { return ip.to_string() };
    let mut text = String::with_capacity(15);
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(digits.format(octet));
    }
    text
}

/// Computes the decoy hash in the background, so that the first sign-in with an unknown
/// email does not take longer than a wrong password (it would otherwise hash it then).
pub fn warm_up() {
    std::thread::spawn(value::warm_decoy);
}

/// Signs `email` in with `password`: the user item (as scripts see it, no hash) or why not.
/// `client` is the caller's address, throttled beside the account. Blocking (argon2 and the
/// database): call it from the script pool or `spawn_blocking`.
///
/// # Errors
/// [`SignInError`]; the caller then keeps the session as it was.
pub fn sign_in(
    db: &Db,
    user_list: &str,
    throttle: &Throttle,
    client: &str,
    email: &str,
    password: &str,
) -> Result<Map<String, Value>, SignInError> {
    let email = email.trim().to_lowercase();
    let now = Instant::now();
    let client_key = format!("client:{client}");
    let account_key = format!("account:{email}");
    if let Some(retry_after) = throttle.wait(&client_key, now).or_else(|| throttle.wait(&account_key, now)) {
        return Err(SignInError::Throttled { retry_after });
    }
    if email.len() > MAX_EMAIL {
        // No account can have it: refused like an unknown email, without an account key.
        value::verify_or_decoy(password, None);
        throttle.fail(&client_key, now);
        return Err(SignInError::Refused);
    }
    db.model(user_list)?;
    let found = if email.is_empty() { None } else { find_by_email(db, user_list, &email)? };
    let id = found.as_ref().and_then(|u| u.get("id")).and_then(Value::as_str);
    let right = match id {
        Some(id) => db.verify_password(user_list, id, PASSWORD, password)?,
        None => value::verify_or_decoy(password, None),
    };
    match found {
        Some(user) if right => {
            throttle.forget(&account_key);
            Ok(user)
        }
        _ => {
            throttle.fail(&client_key, now);
            throttle.fail(&account_key, now);
            Err(SignInError::Refused)
        }
    }
}

/// The user with this email (already trimmed and lower-cased), as scripts see it.
///
/// # Errors
/// The list or its email field missing; the database being down.
pub fn find_by_email(db: &Db, user_list: &str, email: &str) -> Result<Option<Map<String, Value>>, ListError> {
    let mut filter = Map::new();
    filter.insert(EMAIL.into(), Value::String(email.to_string()));
    let find = Find { filter, limit: Some(1), ..Find::default() };
    Ok(db.find(user_list, &find)?.pop())
}

/// The signed-in user of a session, read fresh; `None` when nobody is signed in or the
/// user no longer exists.
///
/// # Errors
/// The database being down.
pub fn current(
    db: &Db,
    user_list: &str,
    session: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, ListError> {
    match session.get(SESSION_KEY).and_then(Value::as_str) {
        Some(id) => current_by_id(db, user_list, id),
        None => Ok(None),
    }
}

/// The user with this id, read fresh (`None` when it was removed or the list is gone).
///
/// # Errors
/// The database being down.
pub fn current_by_id(db: &Db, user_list: &str, id: &str) -> Result<Option<Map<String, Value>>, ListError> {
    if !db.models().contains_key(user_list) || !value::valid_id(id) {
        return Ok(None);
    }
    // By id only: `get` would also try the id as a slug.
    let mut filter = Map::new();
    filter.insert("id".into(), Value::String(id.to_string()));
    Ok(db.find(user_list, &Find { filter, limit: Some(1), ..Find::default() })?.pop())
}

/// Something that keeps a model from serving as the user list, at the field concerned
/// (`None` when the field is missing).
#[derive(Debug)]
pub struct Problem<'m> {
    pub field: Option<&'m Field>,
    pub message: String,
}

/// What keeps `model` from serving as the user list: a missing or mistyped `email`,
/// `password` or `is_admin` field, or an email that is not unique. Empty when it is fine.
pub fn user_list_problems(model: &Model) -> Vec<Problem<'_>> {
    let mut problems = Vec::new();
    let wanted = [(EMAIL, FieldType::Email), (PASSWORD, FieldType::Password), (IS_ADMIN, FieldType::Boolean)];
    for (name, kind) in wanted {
        let field = model.field(name);
        let message = match field {
            None => format!("user list `{}` has no `{name}` field", model.name),
            Some(f) if f.kind != kind => {
                format!("user list `{}`: field `{name}` is of type {}, not {}", model.name, f.kind.name(), kind.name())
            }
            Some(f) if name == EMAIL && !f.unique => format!("user list `{}`: field `email` is not unique", model.name),
            Some(_) => continue,
        };
        problems.push(Problem { field, message });
    }
    problems
}

/// The fields a user list needs, as a model file writes them (for help lines).
pub const USER_FIELDS: &str = "name = { type = \"text\" }, email = { type = \"email\", required = true, unique = true }, \
     password = { type = \"password\" }, is_admin = { type = \"boolean\" }";

/// Whether a user item may enter the Admin UI.
pub fn is_admin(user: &Map<String, Value>) -> bool {
    user.get(IS_ADMIN).and_then(Value::as_bool).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_matches_display() {
        for ip in ["127.0.0.1", "0.0.0.0", "255.255.255.255", "10.20.3.4", "::1", "2001:db8::8a2e:370:7334"] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn behind_a_local_proxy_the_throttle_counts_the_forwarded_address() {
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let remote: std::net::IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(throttle_client(Some(local), Some("198.51.100.1, 192.0.2.7")), "192.0.2.7");
        assert_eq!(throttle_client(Some(local), None), "127.0.0.1");
        assert_eq!(throttle_client(Some(remote), Some("192.0.2.7")), "203.0.113.9", "only a local proxy is heard");
        assert_eq!(throttle_client(Some(local), Some(&"x".repeat(100))), "127.0.0.1", "no huge keys");
        assert_eq!(throttle_client(None, Some("192.0.2.7")), "");
    }

    #[test]
    fn the_throttle_holds_back_after_five_failures_and_lets_go_after_the_window() {
        let t = Throttle::default();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            t.fail("k", start);
        }
        assert!(t.wait("k", start).is_none(), "four failures are allowed");
        t.fail("k", start);
        assert!(t.wait("k", start).is_some(), "the fifth holds it back");
        assert!(t.wait("other", start).is_none(), "other keys are not held back");
        assert!(t.wait("k", start + WINDOW).is_none(), "the window passes");
        t.forget("k");
        assert!(t.wait("k", start).is_none());
    }
}
