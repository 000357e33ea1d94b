//! `view-missing-template`: a route's view has neither a template nor a controller.
use crate::check::{Facts, Rule, When};
use crate::diagnostic::{Diagnostic, Severity};
use crate::project::{Project, routes};

pub static RULE: Rule = Rule {
    code: "view-missing-template",
    severity: Severity::Error,
    summary: "a route's view with neither a template nor a controller",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let project = facts.project;
    let source = project.source(routes::FILE);
    for route in &project.routes.routes {
        let template = Project::view_template(&route.view);
        // A view with a controller may answer with json() or redirect() and need no template.
        if project.template_sources.contains_key(&template)
            || project.has_script(&format!("routes/views/{}.rhai", route.view))
        {
            continue;
        }
        out.push(
            RULE.at(
                routes::FILE,
                format!("view `{}` has no template templates/{template} and no controller", route.view),
            )
            .at_span(source, route.spans.view.clone())
            .with_help({
                let views = project
                    .template_sources
                    .keys()
                    .filter_map(|t| t.strip_prefix("views/").and_then(|v| v.strip_suffix(".html")));
                match crate::diagnostic::did_you_mean(&route.view, views) {
                    Some(near) => {
                        format!(
                            "did you mean `{near}`? or create templates/{template} (or routes/views/{}.rhai)",
                            route.view
                        )
                    }
                    None => format!(
                        "create templates/{template} (or routes/views/{}.rhai), or point the route at an existing view",
                        route.view
                    ),
                }
            }),
        );
    }
}
