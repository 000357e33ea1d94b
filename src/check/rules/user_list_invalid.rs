//! `user-list-invalid`: the app signs visitors in (`signin(…)`, or a route guarded by the
//! built-in `require_user`/`require_admin`) but its `[admin] user_list` list is missing or
//! cannot hold users (no unique `email`, no `password` of type password, no boolean `is_admin`).
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};
use crate::project::routes;
use crate::users::guards::runs_builtin;

pub static RULE: Rule = Rule {
    code: "user-list-invalid",
    severity: Severity::Error,
    summary: "`signin()`, `require_user` or `require_admin` used while the user list is missing or lacks a unique `email`, a `password` or a boolean `is_admin`",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let project = facts.project;
    let Some(first_use) = first_use(facts) else { return };
    let list = project.settings.admin.user_list.as_str();
    let Some(model) = project.lists.models.get(list) else {
        // A model that failed to load has its own diagnostics.
        if project.lists.sources.contains_key(list) {
            return;
        }
        let (file, source, span, what) = first_use;
        out.push(
            RULE.at(file, format!("{what} needs the user list `{list}`, but models/{list}.toml does not exist"))
                .at_span(source, span)
                .with_help(format!(
                    "create models/{list}.toml with [fields] {}; or name another list in keystone.toml's [admin] user_list",
                    crate::users::USER_FIELDS
                )),
        );
        return;
    };
    let source = project.lists.sources.get(list).map_or("", String::as_str);
    for problem in crate::users::user_list_problems(model) {
        let span = problem.field.map_or(0..0, |f| f.span.clone());
        let help = match problem.field {
            None => format!("add it under [fields]: {}", crate::users::USER_FIELDS),
            Some(_) => format!("a user list's fields: {}", crate::users::USER_FIELDS),
        };
        out.push(RULE.at(model.file.as_str(), problem.message).at_span(source, span).with_help(help));
    }
}

/// Where the app first signs visitors in: a built-in guard in the route table, else a
/// `signin(…)` call. File, its source, the span, and what it is.
fn first_use<'f>(facts: &'f Facts) -> Option<(String, &'f str, std::ops::Range<usize>, String)> {
    let project = facts.project;
    for route in &project.routes.routes {
        for (guard, span) in route.before.iter().zip(&route.spans.before) {
            if let Some(builtin) = runs_builtin(project, guard) {
                let source = project.source(routes::FILE);
                return Some((routes::FILE.to_string(), source, span.clone(), format!("guard `{}`", builtin.name())));
            }
        }
    }
    let call = scan::cached(r"\bsignin\s*\(");
    for (file, code) in &facts.scripts {
        if let Some(found) = call.find(code) {
            let source = facts.script_source(file).unwrap_or(code);
            return Some((file.clone(), source, found.start()..found.start() + "signin".len(), "`signin()`".into()));
        }
    }
    None
}
