//! Socket rules: client events no server handler emits or listens for, namespaces that do
//! not exist, and `socket.session` keys nothing ever writes.
use std::collections::BTreeSet;

use crate::check::{Facts, scan};
use crate::diagnostic::Diagnostic;

/// Events the client library fires itself, or the server sends on its own.
const BUILT_IN: &[&str] = &["connect", "disconnect", "connect_error", "session:end"];

pub fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let nobody = BTreeSet::new();
    let everywhere = facts.server_emits.get("*").unwrap_or(&nobody);
    for client in &facts.client {
        for target in scan::client_socket_events(&client.code).into_iter().map(|e| e.namespace).collect::<BTreeSet<_>>()
        {
            if target != "/" && !facts.project.sockets.contains_key(&target) {
                let name = target.trim_start_matches('/');
                let at = client
                    .code
                    .find(&format!("\"{target}"))
                    .or_else(|| client.code.find(&format!("'{target}")))
                    .map_or(0, |i| i + 1);
                out.push(
                    Diagnostic::error(
                        "socket-namespace-unknown",
                        &client.file,
                        format!("namespace `{target}` has no script sockets/{name}.rhai"),
                    )
                    .at_span(&client.source, at..at + target.len())
                    .with_help(format!("create sockets/{name}.rhai with `fn connect(socket)`, or fix the namespace")),
                );
            }
        }
        for use_ in scan::client_socket_events(&client.code) {
            let event = &use_.event.text;
            if BUILT_IN.contains(&event.as_str())
                || !facts.project.sockets.contains_key(&use_.namespace) && use_.namespace != "/"
            {
                continue;
            }
            let script = if use_.namespace == "/" {
                "sockets/index.rhai".to_string()
            } else {
                format!("sockets{}.rhai", use_.namespace)
            };
            if use_.listens {
                let emitted = facts.server_emits.get(&use_.namespace).is_some_and(|e| e.contains(event))
                    || everywhere.contains(event);
                if !emitted {
                    out.push(
                        Diagnostic::warning(
                            "socket-event-never-emitted",
                            &client.file,
                            format!("client listens for `{event}`, which no server handler emits"),
                        )
                        .at_span(&client.source, use_.event.span.clone())
                        .with_help(format!("emit `{event}` from {script} or a controller, or remove the listener")),
                    );
                }
            } else if !facts.server_listens.get(&use_.namespace).is_some_and(|l| l.contains(event)) {
                out.push(
                    Diagnostic::warning(
                        "socket-event-unhandled",
                        &client.file,
                        format!("client emits `{event}`, which no server handler listens for"),
                    )
                    .at_span(&client.source, use_.event.span.clone())
                    .with_help(format!(
                        "add `socket.on(\"{event}\", |socket, data| …)` in {script}'s connect, or fix the name"
                    )),
                );
            }
        }
    }

    let written: BTreeSet<String> =
        facts.scripts.values().flat_map(|(_, code)| scan::session_writes(code)).map(|f| f.text).collect();
    for script in facts.project.sockets.values() {
        let mut seen = BTreeSet::new();
        for read in scan::socket_session_reads(facts.code(&script.file)) {
            if !written.contains(&read.text) && seen.insert(read.text.clone()) {
                out.push(
                    Diagnostic::warning(
                        "session-key-never-written",
                        &script.file,
                        format!("`socket.session.{}` is read but nothing ever writes it", read.text),
                    )
                    .at_span(&script.source, read.span)
                    .with_help(format!(
                        "set `session.{}` in a controller (or `socket.session.{}` in a handler), or fix the key",
                        read.text, read.text
                    )),
                );
            }
        }
    }
}
