//! `guard-missing`: a route's `before` names a guard without a script.
use crate::check::{Facts, Rule, When};
use crate::diagnostic::{Diagnostic, Severity};
use crate::project::routes;

pub static RULE: Rule = Rule {
    code: "guard-missing",
    severity: Severity::Error,
    summary: "a guard in a route's `before` without its script `routes/middleware/NAME.rhai` (`require_user` and `require_admin` are built in)",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let project = facts.project;
    let source = project.source(routes::FILE);
    for route in &project.routes.routes {
        for (guard, span) in route.before.iter().zip(&route.spans.before) {
            let builtin = crate::users::guards::Builtin::named(guard).is_some();
            if builtin
                || project.guards.contains_key(guard)
                || project.has_script(&format!("routes/middleware/{guard}.rhai"))
            {
                continue;
            }
            let builtins = crate::users::guards::Builtin::ALL.map(crate::users::guards::Builtin::name);
            let known = project.guards.keys().map(String::as_str).chain(builtins);
            let help = match crate::diagnostic::did_you_mean(guard, known) {
                Some(close) => format!("did you mean `{close}`? or create routes/middleware/{guard}.rhai"),
                None => format!("create routes/middleware/{guard}.rhai, or remove it from `before`"),
            };
            out.push(
                RULE.at(routes::FILE, format!("guard `{guard}` has no script routes/middleware/{guard}.rhai"))
                    .at_span(source, span.clone())
                    .with_help(help),
            );
        }
    }
}
