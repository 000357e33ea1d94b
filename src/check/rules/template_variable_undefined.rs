//! `template-variable-undefined`: a template variable no controller, middleware, guard or
//! global provides.
use std::collections::{BTreeMap, BTreeSet};

use crate::check::templates::{GLOBALS, bound_names, first_in_expressions};
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "template-variable-undefined",
    severity: Severity::Warning,
    summary: "a template variable no controller, middleware or global provides",
    when: When::Always,
    check: Some(check),
};

/// Warns about template variables that no script puts in `locals` and no global provides.
fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    if !facts.project.routes_loaded {
        return;
    }
    let graph = &facts.graph.edges;
    let parents = &facts.graph.parents;
    let project = facts.project;
    let nothing = BTreeSet::new();
    let locals_of = |file: &str| -> &BTreeSet<String> { facts.locals.get(file).unwrap_or(&nothing) };
    let middleware: BTreeSet<String> =
        project.middleware.as_ref().map(|m| locals_of(&m.file).clone()).unwrap_or_default();
    let everything: BTreeSet<String> = facts
        .locals
        .iter()
        .filter(|(file, _)| file.starts_with("routes/"))
        .flat_map(|(_, names)| names.iter().cloned())
        .collect();
    // View → the guards of its routes.
    let mut guards_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for route in &project.routes.routes {
        guards_of.entry(route.view.as_str()).or_default().extend(route.before.iter().map(String::as_str));
    }

    let mut referrers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, targets) in graph {
        for target in targets {
            referrers.entry(target.as_str()).or_default().push(from.as_str());
        }
    }
    let bound: BTreeMap<&str, BTreeSet<String>> =
        project.template_sources.iter().map(|(name, source)| (name.as_str(), bound_names(source))).collect();

    for (name, source) in &project.template_sources {
        let provided = match name.strip_prefix("views/").and_then(|v| v.strip_suffix(".html")) {
            Some(view) if !facts.rendered_views.contains(view) => continue,
            Some(view) => {
                let mut provided = middleware.clone();
                for guard in guards_of.get(view).into_iter().flatten().filter_map(|g| project.guards.get(*g)) {
                    provided.extend(locals_of(&guard.file).iter().cloned());
                }
                if let Some(controller) = project.controllers.get(view) {
                    provided.extend(locals_of(&controller.file).iter().cloned());
                }
                // Any controller that renders this view explicitly provides its locals too.
                for file in facts.renderers.get(view).into_iter().flatten() {
                    provided.extend(locals_of(file).iter().cloned());
                }
                provided
            }
            // A layout, partial or macro file sees the locals of every page, and the names
            // bound by the templates that extend, include or import it (directly or not).
            None => {
                let mut provided = everything.clone();
                let mut seen = BTreeSet::new();
                let mut stack = vec![name.as_str()];
                while let Some(target) = stack.pop() {
                    for &from in referrers.get(target).into_iter().flatten() {
                        if seen.insert(from) {
                            provided.extend(bound.get(from).into_iter().flatten().cloned());
                            stack.push(from);
                        }
                    }
                }
                provided
            }
        };
        // Blocks render in the layout's context: what its layouts set, import or define is seen.
        let mut provided = provided;
        let mut ancestor = parents.get(name.as_str()).map(String::as_str);
        let mut depth = 0;
        while let Some(layout) = ancestor {
            provided.extend(bound.get(layout).into_iter().flatten().cloned());
            ancestor = parents.get(layout).map(String::as_str);
            depth += 1;
            if depth > 64 {
                break; // an `extends` cycle; minijinja reports it when rendering
            }
        }
        let Ok(template) = project.templates.get_template(name) else { continue };
        let mut missing: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !GLOBALS.contains(&v.as_str()) && !provided.contains(v))
            .collect();
        missing.sort();
        let file = format!("templates/{name}");
        for variable in missing {
            let word = scan::cached(&format!(r"\b{}\b", regex::escape(&variable)));
            let at = first_in_expressions(source, &word).unwrap_or(0..0);
            out.push(
                RULE.at(&file, format!("`{variable}` is not provided by any controller, middleware or global"))
                    .at_span(source, at)
                    .with_help(format!(
                        "set `locals.{variable} = …` in the view's controller or routes/middleware.rhai, or remove it"
                    )),
            );
        }
    }
}
