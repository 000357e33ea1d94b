//! `admin-nav-unknown-list`: `[admin.nav]` names a list without `models/Name.toml` (the Admin
//! UI leaves it out of its home).
use crate::check::{Facts, Rule, When};
use crate::diagnostic::{Severity, did_you_mean};
use crate::project::settings::FILE;

pub static RULE: Rule = Rule {
    code: "admin-nav-unknown-list",
    severity: Severity::Warning,
    summary: "`[admin.nav]` names a list without `models/Name.toml`",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<crate::diagnostic::Diagnostic>) {
    let nav = &facts.project.settings.admin.nav;
    let models = &facts.project.lists.models;
    let source = facts.project.source(FILE);
    for (heading, names) in &nav.0 {
        for name in names.iter().filter(|n| !models.contains_key(*n)) {
            let help = match did_you_mean(name, models.keys().map(String::as_str)) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("create models/{name}.toml, or remove `{name}` from [admin.nav]"),
            };
            let d = RULE
                .at(FILE, format!("[admin.nav] `{heading}` names list `{name}`, which has no models/{name}.toml"))
                .with_help(help);
            // The quoted name in the nav table (up to the next table header), else the table.
            let quoted = format!("\"{name}\"");
            let span = nav.span.clone().map(|table| {
                let rest = source.get(table.start..).unwrap_or_default();
                let end = rest.get(1..).and_then(|r| r.find("\n[")).map_or(rest.len(), |e| e + 1);
                rest[..end].find(&quoted).map_or(table.clone(), |at| table.start + at..table.start + at + quoted.len())
            });
            out.push(match span {
                Some(span) => d.at_span(source, span),
                None => d,
            });
        }
    }
}
