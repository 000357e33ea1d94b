//! `socket-event-mismatch`: a client event one typo away from the server's (`mgs` vs `msg`).
//! Not an unused listener but a bug: neither side will ever hear the other, so it is an
//! error, reported where the page names it and where the server does.
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity, did_you_mean};

use super::socket_event_never_emitted::{BUILT_IN, script_of};

pub static RULE: Rule = Rule {
    code: "socket-event-mismatch",
    severity: Severity::Error,
    summary: "a client event one typo from a server event (`mgs` vs `msg`), reported on both sides",
    when: When::Always,
    check: Some(check),
};

/// The server's name closest to a client event nothing on the server matches: what the
/// server emits for a client listener, what it listens for for a client emit.
pub fn near_miss<'f>(facts: &'f Facts, namespace: &str, event: &str, listens: bool) -> Option<&'f str> {
    let names = |map: &'f std::collections::BTreeMap<String, std::collections::BTreeSet<String>>, key: &str| {
        map.get(key).into_iter().flatten().map(String::as_str)
    };
    if listens {
        let mut emits = names(&facts.server_emits, namespace).chain(names(&facts.server_emits, "*"));
        if emits.any(|e| e == event) {
            return None;
        }
        did_you_mean(event, names(&facts.server_emits, namespace).chain(names(&facts.server_emits, "*")))
    } else {
        if names(&facts.server_listens, namespace).any(|e| e == event) {
            return None;
        }
        did_you_mean(event, names(&facts.server_listens, namespace))
    }
}

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    // The server's side once, however many pages get its name wrong.
    let mut reported = std::collections::BTreeSet::new();
    for client in &facts.client {
        for use_ in scan::client_socket_events(&client.code) {
            let event = &use_.event.text;
            if BUILT_IN.contains(&event.as_str()) || (use_.namespace != "/" && !facts.has_namespace(&use_.namespace)) {
                continue;
            }
            let Some(near) = near_miss(facts, &use_.namespace, event, use_.listens) else { continue };
            let script = script_of(&use_.namespace);
            let (client_says, server_says, calls): (_, _, &[&str]) = if use_.listens {
                (
                    format!("client listens for `{event}`, but the server emits `{near}`"),
                    format!("server emits `{near}`, but {} listens for `{event}`", client.file),
                    &["emit", "broadcast", "emit_to_session"],
                )
            } else {
                (
                    format!("client emits `{event}`, but the server listens for `{near}`"),
                    format!("server listens for `{near}`, but {} emits `{event}`", client.file),
                    &["on"],
                )
            };
            out.push(
                RULE.at(&client.file, client_says)
                    .at_span(&client.source, use_.event.span.clone())
                    .with_help(format!("did you mean `{near}`? the page and {script} must use the same name")),
            );
            if let Some(d) = server_side(facts, &use_.namespace, calls, near, server_says, event)
                && reported.insert((d.file.clone(), d.line, d.column))
            {
                out.push(d);
            }
        }
    }
}

/// Where the namespace's script (or, for events every socket may get, any script) names
/// `name` in one of `calls`.
fn server_side(
    facts: &Facts,
    namespace: &str,
    calls: &[&str],
    name: &str,
    message: String,
    client_name: &str,
) -> Option<Diagnostic> {
    let own = script_of(namespace);
    let files = std::iter::once(own.as_str()).chain(facts.scripts.keys().map(String::as_str).filter(|f| *f != own));
    for file in files {
        let (Some(code), Some(source)) = (facts.scripts.get(file), facts.script_source(file)) else { continue };
        let found = calls.iter().flat_map(|call| scan::calls_with_literal(code, call)).find(|f| f.text == name);
        if let Some(found) = found {
            return Some(RULE.at(file, message).at_span(source, found.span).with_help(format!(
                "one of `{name}` and `{client_name}` is misspelt: rename one side so both use the same name"
            )));
        }
    }
    None
}
