//! `orphan-view`: a view template no route or `render()` reaches.
use crate::check::{Facts, Rule, When};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "orphan-view",
    severity: Severity::Warning,
    summary: "a view template no route or `render()` uses",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    if !facts.project.routes_loaded {
        return;
    }
    for (name, source) in &facts.project.template_sources {
        let Some(view) = name.strip_prefix("views/").and_then(|v| v.strip_suffix(".html")) else { continue };
        if !facts.rendered_views.contains(view) {
            out.push(
                RULE.at(
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
}
