//! Orphans: controllers and views no route reaches, socket namespaces no page connects to.
use std::collections::BTreeSet;

use crate::check::{Facts, scan};
use crate::diagnostic::Diagnostic;

pub fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let project = facts.project;
    for (view, controller) in &project.controllers {
        if !facts.rendered_views.contains(view) {
            out.push(
                Diagnostic::warning(
                    "orphan-controller",
                    &controller.file,
                    format!("controller of view `{view}` is not used by any route"),
                )
                .at(&controller.source, 1, 1)
                .with_help(format!("add a route to `{view}` in routes/index.toml, or delete the file")),
            );
        }
    }
    for (name, source) in &project.template_sources {
        let Some(view) = name.strip_prefix("views/").and_then(|v| v.strip_suffix(".html")) else { continue };
        if !facts.rendered_views.contains(view) {
            out.push(
                Diagnostic::warning(
                    "orphan-view",
                    format!("templates/{name}"),
                    format!("view `{view}` is not rendered by any route or controller"),
                )
                .at(source, 1, 1)
                .with_help(format!(
                    "add a route to `{view}` in routes/index.toml, call render(\"{view}\"), or delete the template"
                )),
            );
        }
    }
    let connected: BTreeSet<String> = facts
        .client
        .iter()
        .flat_map(|c| scan::client_socket_events(&c.code).into_iter().map(|e| e.namespace).chain(io_targets(&c.code)))
        .collect();
    for (namespace, script) in &project.sockets {
        if namespace != "/" && !connected.contains(namespace) {
            out.push(
                Diagnostic::warning(
                    "orphan-namespace",
                    &script.file,
                    format!("no page connects to namespace `{namespace}`"),
                )
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
