//! `socket-event-unhandled`: client code emits an event no server handler listens for.
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity, did_you_mean};

use super::socket_event_never_emitted::{BUILT_IN, script_of};

pub static RULE: Rule = Rule {
    code: "socket-event-unhandled",
    severity: Severity::Warning,
    summary: "client `socket.emit(\"y\")` with no server handler",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let nobody = std::collections::BTreeSet::new();
    for client in &facts.client {
        for use_ in scan::client_socket_events(&client.code) {
            let event = &use_.event.text;
            if use_.listens
                || BUILT_IN.contains(&event.as_str())
                || (use_.namespace != "/" && !facts.has_namespace(&use_.namespace))
            {
                continue;
            }
            let listens = facts.server_listens.get(&use_.namespace).unwrap_or(&nobody);
            // One typo from a handled name: socket-event-mismatch reports it, as an error.
            if listens.contains(event)
                || super::socket_event_mismatch::near_miss(facts, &use_.namespace, event, false).is_some()
            {
                continue;
            }
            let script = script_of(&use_.namespace);
            let help = match did_you_mean(event, listens.iter().map(String::as_str)) {
                Some(close) => format!("did you mean `{close}`? {script} listens for it"),
                None => {
                    format!("add `socket.on(\"{event}\", |socket, data| …)` in {script}'s connect, or fix the name")
                }
            };
            out.push(
                RULE.at(&client.file, format!("client emits `{event}`, which no server handler listens for"))
                    .at_span(&client.source, use_.event.span.clone())
                    .with_help(help),
            );
        }
    }
}
