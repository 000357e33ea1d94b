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
        let mut reported = BTreeSet::new();
        for use_ in scan::client_socket_events(&client.code) {
            let target = use_.namespace;
            if target == "/" || facts.has_namespace(&target) || !reported.insert(target.clone()) {
                continue;
            }
            let name = target.trim_start_matches('/');
            let d = RULE
                .at(&client.file, format!("namespace `{target}` has no script sockets/{name}.rhai"))
                .with_help(format!("create sockets/{name}.rhai with `fn connect(socket)`, or fix the namespace"));
            out.push(match use_.namespace_span {
                Some(span) => d.at_span(&client.source, span),
                None => d.at_span(&client.source, use_.event.span),
            });
        }
    }
}
