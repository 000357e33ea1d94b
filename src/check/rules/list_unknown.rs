//! `list-unknown`: a script calls `list("Name")` for a list without `models/Name.toml`.
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity, did_you_mean};

pub static RULE: Rule = Rule {
    code: "list-unknown",
    severity: Severity::Error,
    summary: "a script's `list(\"Name\")` names a list without `models/Name.toml`",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let models = &facts.project.lists.models;
    for (file, code) in &facts.scripts {
        for call in scan::calls_with_literal(code, "list") {
            let name = &call.text;
            if models.contains_key(name) {
                continue;
            }
            let help = match did_you_mean(name, models.keys().map(String::as_str)) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("create models/{name}.toml, or name an existing list"),
            };
            out.push(
                RULE.at(file.as_str(), format!("list `{name}` has no model models/{name}.toml"))
                    .at_span(facts.script_source(file).unwrap_or(code), call.span.clone())
                    .with_help(help),
            );
        }
    }
}
