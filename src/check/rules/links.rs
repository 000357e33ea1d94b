//! Link rules: `href`/`src`/`action` paths that match no route and no public file,
//! `url_for` to views no route renders, `asset` of files `public/` does not have.
use crate::check::{Facts, scan};
use crate::diagnostic::Diagnostic;

/// Whether a literal link is one the rule can judge: an absolute path on this site.
fn local_path(link: &str) -> Option<&str> {
    if link.contains("{{") || link.contains("{%") || !link.starts_with('/') || link.starts_with("//") {
        return None;
    }
    link.split(['?', '#']).next()
}

pub fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let project = facts.project;
    let routed_views: std::collections::BTreeSet<&str> =
        project.routes.routes.iter().map(|r| r.view.as_str()).collect();
    for (name, source) in &project.template_sources {
        let file = format!("templates/{name}");
        for link in scan::link_attributes(source) {
            let Some(path) = local_path(&link.text) else { continue };
            let decoded = crate::server::statics::percent_decode(path).unwrap_or_default();
            let known = path == crate::server::client::PATH
                || project.routes.has_path(path)
                || project.public.files.contains_key(&decoded);
            if !known {
                out.push(
                    Diagnostic::error(
                        "link-broken",
                        &file,
                        format!("`{path}` matches no route and no file in public/"),
                    )
                    .at_span(source, link.span)
                    .with_help("add a route to routes/index.toml or the file to public/, or fix the link"),
                );
            }
        }
        for call in scan::calls_with_literal(source, "url_for") {
            if !routed_views.contains(call.text.as_str()) {
                out.push(
                    Diagnostic::error(
                        "url-for-unknown-view",
                        &file,
                        format!("`url_for` names view `{}`, which no route renders", call.text),
                    )
                    .at_span(source, call.span)
                    .with_help("use the view name of a route in routes/index.toml"),
                );
            }
        }
        for call in scan::calls_with_literal(source, "asset") {
            let path = if call.text.starts_with('/') { call.text.clone() } else { format!("/{}", call.text) };
            if !project.public.files.contains_key(&path) {
                out.push(
                    Diagnostic::error(
                        "asset-missing",
                        &file,
                        format!("`asset` names `{path}`, which is not in public/"),
                    )
                    .at_span(source, call.span)
                    .with_help(format!("add public{path}, or fix the path")),
                );
            }
        }
    }
}
