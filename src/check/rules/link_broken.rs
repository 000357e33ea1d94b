//! `link-broken`: `href`/`src`/`action` paths in templates, and links built in scripts
//! (`href: "/…"` in a map, `redirect("/…")`), that match no route and no file.
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity, did_you_mean};
use crate::project::Project;

pub static RULE: Rule = Rule {
    code: "link-broken",
    severity: Severity::Error,
    summary: "an `href`/`src`/`action` path, or a link built in a script (`href: \"/…\"`, `redirect(\"/…\")`), matching no route and no file in `public/`",
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
    for (file, code) in &facts.scripts {
        let Some(source) = facts.script_source(file) else { continue };
        for link in scan::script_links(code) {
            out.extend(broken(project, file, source, link));
        }
    }
    for (name, source) in &project.template_sources {
        for link in scan::link_attributes(source) {
            out.extend(broken(project, &format!("templates/{name}"), source, link));
        }
    }
}

/// A link to a path of this site that no route and no public file answers, with the closest
/// path that exists.
fn broken(project: &Project, file: &str, source: &str, link: scan::Found) -> Option<Diagnostic> {
    let path = local_path(&link.text)?;
    let decoded = crate::project::public::percent_decode(path).unwrap_or_default();
    let known = path == crate::project::CLIENT_PATH
        || project.routes.has_path(path)
        || project.public.files.contains_key(&decoded);
    if known {
        return None;
    }
    let candidates = project
        .routes
        .routes
        .iter()
        .map(|r| r.path.as_str())
        .filter(|p| !p.contains('{'))
        .chain(project.public.files.keys().map(String::as_str));
    let help = match did_you_mean(path, candidates) {
        Some(near) => format!("did you mean `{near}`? or add a route to routes/index.toml or the file to public/"),
        None => "add a route to routes/index.toml or the file to public/, or fix the link".into(),
    };
    Some(
        RULE.at(file, format!("`{path}` matches no route and no file in public/"))
            .at_span(source, link.span)
            .with_help(help),
    )
}
