//! `orphan-controller`: a controller no route or `render()` reaches.
use crate::check::{Facts, Rule, When};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "orphan-controller",
    severity: Severity::Warning,
    summary: "a controller no route uses",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    if !facts.project.routes_loaded {
        return;
    }
    for (view, controller) in &facts.project.controllers {
        if !facts.rendered_views.contains(view) {
            out.push(
                RULE.at(&controller.file, format!("controller of view `{view}` is not used by any route"))
                    .at(&controller.source, 1, 1)
                    .with_help(format!("add a route to `{view}` in routes/index.toml, or delete the file")),
            );
        }
    }
}
