//! `socket-event-never-emitted`: client code listens for an event no server code emits.
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "socket-event-never-emitted",
    severity: Severity::Warning,
    summary: "client `socket.on(\"x\")` for an event no server handler, controller or list hook emits",
    when: When::Always,
    check: Some(check),
};

/// Events the client library fires itself, or the server sends on its own.
pub const BUILT_IN: &[&str] = &["connect", "disconnect", "connect_error", "session:end", "session:renew"];

/// The script that wires `namespace`.
pub fn script_of(namespace: &str) -> String {
    if namespace == "/" { "sockets/index.rhai".to_string() } else { format!("sockets{namespace}.rhai") }
}

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let nobody = std::collections::BTreeSet::new();
    let everywhere = facts.server_emits.get("*").unwrap_or(&nobody);
    for client in &facts.client {
        for use_ in scan::client_socket_events(&client.code) {
            let event = &use_.event.text;
            if !use_.listens
                || BUILT_IN.contains(&event.as_str())
                || (use_.namespace != "/" && !facts.has_namespace(&use_.namespace))
            {
                continue;
            }
            let emitted = facts.server_emits.get(&use_.namespace).is_some_and(|e| e.contains(event))
                || everywhere.contains(event);
            // One typo from an emitted name: socket-event-mismatch reports it, as an error.
            let near = super::socket_event_mismatch::near_miss(facts, &use_.namespace, event, true);
            if !emitted && near.is_none() {
                out.push(
                    RULE.at(&client.file, format!("client listens for `{event}`, which no server handler emits"))
                        .at_span(&client.source, use_.event.span.clone())
                        .with_help(format!(
                            "emit `{event}` from {} or a controller, or remove the listener",
                            script_of(&use_.namespace)
                        )),
                );
            }
        }
    }
}
