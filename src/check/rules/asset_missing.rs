//! `asset-missing`: `asset("/path")` in a template names a file `public/` does not have.
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "asset-missing",
    severity: Severity::Error,
    summary: "`asset(\"/path\")` naming a file `public/` does not have",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let project = facts.project;
    for (name, source) in &project.template_sources {
        for call in scan::calls_with_literal(source, "asset") {
            let path = if call.text.starts_with('/') { call.text.clone() } else { format!("/{}", call.text) };
            if !project.public.files.contains_key(&path) {
                out.push(
                    RULE.at(format!("templates/{name}"), format!("`asset` names `{path}`, which is not in public/"))
                        .at_span(source, call.span)
                        .with_help(format!("add public{path}, or fix the path")),
                );
            }
        }
    }
}
