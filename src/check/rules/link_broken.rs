//! `link-broken`: `href`/`src`/`action` paths in templates that match no route and no file.
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "link-broken",
    severity: Severity::Error,
    summary: "an `href`/`src`/`action` path matching no route and no file in `public/`",
    when: When::Always,
    check: Some(check),
};

/// Whether a literal link is one the rule can judge: an absolute path on this site.
fn local_path(link: &str) -> Option<&str> {
    if link.contains("{{") || link.contains("{%") || !link.starts_with('/') || link.starts_with("//") {
        return None;
    }
    link.split(['?', '#']).next()
}

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let project = facts.project;
    // A route that did not parse may be the one a link means.
    if !project.routes_loaded || project.routes.failed > 0 {
        return;
    }
    for (name, source) in &project.template_sources {
        for link in scan::link_attributes(source) {
            let Some(path) = local_path(&link.text) else { continue };
            let decoded = crate::project::public::percent_decode(path).unwrap_or_default();
            let known = path == crate::project::CLIENT_PATH
                || project.routes.has_path(path)
                || project.public.files.contains_key(&decoded);
            if !known {
                out.push(
                    RULE.at(format!("templates/{name}"), format!("`{path}` matches no route and no file in public/"))
                        .at_span(source, link.span)
                        .with_help("add a route to routes/index.toml or the file to public/, or fix the link"),
                );
            }
        }
    }
}
