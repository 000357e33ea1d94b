//! `url-for-unknown-view`: `url_for("view")` in a template names a view no route renders.
use std::collections::BTreeSet;

use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity, did_you_mean};

pub static RULE: Rule = Rule {
    code: "url-for-unknown-view",
    severity: Severity::Error,
    summary: "`url_for(\"view\")` naming a view no route renders",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let project = facts.project;
    if !project.routes_loaded {
        return;
    }
    let routed: BTreeSet<&str> = project.routes.mentioned_views.iter().map(String::as_str).collect();
    for (name, source) in &project.template_sources {
        for call in scan::calls_with_literal(source, "url_for") {
            if routed.contains(call.text.as_str()) {
                continue;
            }
            let help = match did_you_mean(&call.text, routed.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? use the view name of a route in routes/index.toml"),
                None => "use the view name of a route in routes/index.toml".to_string(),
            };
            out.push(
                RULE.at(
                    format!("templates/{name}"),
                    format!("`url_for` names view `{}`, which no route renders", call.text),
                )
                .at_span(source, call.span)
                .with_help(help),
            );
        }
    }
}
