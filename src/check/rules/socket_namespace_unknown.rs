//! `socket-namespace-unknown`: client code connects to a namespace without a script.
use std::collections::BTreeSet;

use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "socket-namespace-unknown",
    severity: Severity::Error,
    summary: "client code connecting to a namespace without `sockets/NAME.rhai`",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    for client in &facts.client {
        for target in scan::client_socket_events(&client.code).into_iter().map(|e| e.namespace).collect::<BTreeSet<_>>()
        {
            if target != "/" && !facts.has_namespace(&target) {
                let name = target.trim_start_matches('/');
                let at = client
                    .code
                    .find(&format!("\"{target}"))
                    .or_else(|| client.code.find(&format!("'{target}")))
                    .map_or(0, |i| i + 1);
                out.push(
                    RULE.at(&client.file, format!("namespace `{target}` has no script sockets/{name}.rhai"))
                        .at_span(&client.source, at..at + target.len())
                        .with_help(format!(
                            "create sockets/{name}.rhai with `fn connect(socket)`, or fix the namespace"
                        )),
                );
            }
        }
    }
}
