//! `orphan-namespace`: a socket namespace script no page connects to.
use std::collections::BTreeSet;

use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "orphan-namespace",
    severity: Severity::Warning,
    summary: "a `sockets/NAME.rhai` no page connects to",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let connected: BTreeSet<String> = facts
        .client
        .iter()
        .flat_map(|c| scan::client_socket_events(&c.code).into_iter().map(|e| e.namespace).chain(io_targets(&c.code)))
        .collect();
    for (namespace, script) in &facts.project.sockets {
        if namespace != "/" && !connected.contains(namespace) {
            out.push(
                RULE.at(&script.file, format!("no page connects to namespace `{namespace}`"))
                    .at(&script.source, 1, 1)
                    .with_help(format!("connect with `io(\"{namespace}\")` in a page, or delete the script")),
            );
        }
    }
}

/// Namespaces of `io("…")` calls, assigned or not.
fn io_targets(code: &str) -> Vec<String> {
    scan::calls_with_literal(code, "io").into_iter().map(|f| scan::namespace_of(&f.text)).collect()
}
