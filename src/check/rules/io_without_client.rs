//! `io-without-client`: a page calls `io()` but none of its templates loads the client.
use std::collections::{BTreeMap, BTreeSet};

use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "io-without-client",
    severity: Severity::Error,
    summary: "a page calling `io()` without loading `/socket.io/socket.io.js`",
    when: When::Always,
    check: Some(check),
};

/// An error for each page whose templates call `io()` but never load `/socket.io/socket.io.js`.
fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let graph = &facts.graph.edges;
    let client_code: BTreeMap<&str, &crate::check::ClientCode> =
        facts.client.iter().filter_map(|c| Some((c.file.strip_prefix("templates/")?, c))).collect();
    let mut reported = BTreeSet::new();
    for view in &facts.rendered_views {
        let page = crate::project::Project::view_template(view);
        let mut closure = BTreeSet::new();
        let mut stack = vec![page.clone()];
        while let Some(name) = stack.pop() {
            if closure.insert(name.clone()) {
                stack.extend(graph.get(name.as_str()).into_iter().flatten().cloned());
            }
        }
        let loads_client = closure
            .iter()
            .any(|n| facts.project.template_sources.get(n).is_some_and(|s| s.contains(crate::project::CLIENT_PATH)));
        if loads_client {
            continue;
        }
        for name in &closure {
            let Some(code) = client_code.get(name.as_str()) else { continue };
            if let Some(call) = scan::io_calls(&code.code).into_iter().next()
                && reported.insert(code.file.clone())
            {
                out.push(
                    RULE.at(&code.file, format!("page `{page}` calls `io()` but never loads the socket.io client"))
                    .at_span(&code.source, call)
                    .with_help(
                        "add <script src=\"/socket.io/socket.io.js\"></script> before this script (or in the layout)",
                    ),
                );
            }
        }
    }
}
