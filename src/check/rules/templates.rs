//! Template rules: `extends`/`include`/`import`/`from` targets, imported macros, variables
//! nothing provides, and pages that call `io()` without loading the socket.io client.
use std::collections::{BTreeMap, BTreeSet};

use crate::check::{Facts, scan};
use crate::diagnostic::Diagnostic;

/// Names every template can use: the context keys keystone-rs adds and minijinja's globals.
const GLOBALS: &[&str] = &[
    "session",
    "req",
    "messages",
    "csrf_token",
    "url_for",
    "asset",
    "range",
    "dict",
    "debug",
    "namespace",
    "lipsum",
    "cycler",
    "joiner",
    "loop",
    "self",
    "super",
    "caller",
    "varargs",
    "kwargs",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
];

/// A reference from one template to others.
struct Reference<'a> {
    keyword: &'a str,
    targets: Vec<scan::Found>,
    /// `from X import a, b as c` → `a`, `b`; `import X as m` → alias `m`.
    imported: Vec<String>,
    alias: Option<String>,
    ignore_missing: bool,
}

fn references(tag: &scan::Tag) -> Option<Reference<'_>> {
    let keyword = tag.keyword.as_str();
    if !matches!(keyword, "extends" | "include" | "import" | "from") {
        return None;
    }
    let body = &tag.body[keyword.len()..];
    let base = tag.body_start + keyword.len();
    let (head, tail) = match keyword {
        "import" => body.split_once(" as ").map_or((body, ""), |(h, t)| (h, t)),
        "from" => body.split_once(" import ").map_or((body, ""), |(h, t)| (h, t)),
        _ => (body, ""),
    };
    let imported = if keyword == "from" {
        tail.trim_end_matches("with context")
            .trim_end_matches("without context")
            .split(',')
            .filter_map(|n| n.split_whitespace().next())
            .map(str::to_string)
            .collect()
    } else {
        Vec::new()
    };
    let alias = (keyword == "import").then(|| tail.split_whitespace().next().unwrap_or("").to_string());
    Some(Reference {
        keyword,
        targets: scan::string_literals(head, base),
        imported,
        alias: alias.filter(|a| !a.is_empty()),
        ignore_missing: head.contains("ignore missing"),
    })
}

/// Names a template defines for importers: macros and top-level `set`s.
fn exports(source: &str) -> BTreeSet<String> {
    scan::template_tags(source)
        .into_iter()
        .filter(|t| t.keyword == "macro" || t.keyword == "set")
        .filter_map(|t| {
            let rest = t.body[t.keyword.len()..].trim_start();
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            (end > 0).then(|| rest[..end].to_string())
        })
        .collect()
}

pub fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let sources = &facts.project.template_sources;
    let mut graph: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // Template → the layout it extends.
    let mut parents: BTreeMap<&str, String> = BTreeMap::new();
    for (name, source) in sources {
        let file = format!("templates/{name}");
        let mut aliases = Vec::new();
        for tag in scan::template_tags(source) {
            let Some(reference) = references(&tag) else { continue };
            for target in &reference.targets {
                let Some(target_source) = sources.get(&target.text) else {
                    if !reference.ignore_missing {
                        out.push(
                            Diagnostic::error(
                                "template-missing",
                                &file,
                                format!(
                                    "`{}` names template `{}`, which does not exist",
                                    reference.keyword, target.text
                                ),
                            )
                            .at_span(source, target.span.clone())
                            .with_help(format!(
                                "create templates/{}, or fix the name (names are paths under templates/)",
                                target.text
                            )),
                        );
                    }
                    continue;
                };
                graph.entry(name.as_str()).or_default().push(target.text.clone());
                if reference.keyword == "extends" {
                    parents.insert(name.as_str(), target.text.clone());
                }
                let defined = exports(target_source);
                for wanted in &reference.imported {
                    if !defined.contains(wanted) {
                        let at = source[tag.body_start..]
                            .find(wanted.as_str())
                            .map_or(tag.body_start, |i| tag.body_start + i);
                        out.push(
                            Diagnostic::error(
                                "template-macro-missing",
                                &file,
                                format!("`{wanted}` is not a macro of `{}`", target.text),
                            )
                            .at_span(source, at..at + wanted.len())
                            .with_help(format!(
                                "define `{{% macro {wanted}(…) %}}` in templates/{}, or import one it has",
                                target.text
                            )),
                        );
                    }
                }
                if let Some(alias) = &reference.alias {
                    aliases.push((alias.clone(), target.text.clone(), defined));
                }
            }
        }
        for (alias, target, defined) in aliases {
            let calls = scan::cached(&format!(r"\b{}\.([A-Za-z_]\w*)\s*\(", regex::escape(&alias)));
            for c in calls.captures_iter(source) {
                let m = c.get(1).expect("group 1");
                if !defined.contains(m.as_str()) {
                    out.push(
                        Diagnostic::error(
                            "template-macro-missing",
                            &file,
                            format!("`{}` is not a macro of `{target}`", m.as_str()),
                        )
                        .at_span(source, m.range())
                        .with_help(format!("define `{{% macro {}(…) %}}` in templates/{target}", m.as_str())),
                    );
                }
            }
        }
    }
    undeclared_variables(facts, &graph, &parents, out);
    io_without_client(facts, &graph, out);
}

/// Names a template binds that other templates can see at render time: `{% set x = … %}`
/// (a child's top-level `set` is seen by its layout), `{% for a, b in … %}` and
/// `{% with x = … %}` (seen by a partial included inside), and imports and macros (a
/// layout's are seen by its children's blocks).
fn bound_names(source: &str) -> BTreeSet<String> {
    static ASSIGNED: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"([A-Za-z_]\w*)\s*=[^=]").expect("valid regex"));
    let identifiers = |text: &str| -> Vec<String> {
        text.split(',')
            .map(|n| n.trim().trim_matches(['(', ')']).trim())
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'))
            .map(str::to_string)
            .collect()
    };
    let mut names = BTreeSet::new();
    for tag in scan::template_tags(source) {
        let rest = &tag.body[tag.keyword.len()..];
        match tag.keyword.as_str() {
            // `set x = …`, `set a, b = …`, or the block form `set x %}…{% endset`.
            "set" => names.extend(identifiers(rest.split('=').next().unwrap_or(rest).split('|').next().unwrap_or(""))),
            "for" => names.extend(identifiers(rest.split(" in ").next().unwrap_or(""))),
            "with" => names.extend(ASSIGNED.captures_iter(rest).map(|c| c[1].to_string())),
            // `import "x" as m`, `from "x" import a, b as c`, `macro name(…)`.
            "import" => names.extend(rest.split_once(" as ").map(|(_, alias)| identifiers(alias)).unwrap_or_default()),
            "from" => names.extend(rest.split_once(" import ").into_iter().flat_map(|(_, list)| {
                list.trim_end_matches("with context")
                    .trim_end_matches("without context")
                    .split(',')
                    .filter_map(|item| item.split_whitespace().last().map(str::to_string))
                    .collect::<Vec<_>>()
            })),
            "macro" => names.extend(identifiers(rest.split('(').next().unwrap_or(""))),
            _ => {}
        }
    }
    names
}

/// Warns about template variables that no script puts in `locals` and no global provides.
fn undeclared_variables(
    facts: &Facts,
    graph: &BTreeMap<&str, Vec<String>>,
    parents: &BTreeMap<&str, String>,
    out: &mut Vec<Diagnostic>,
) {
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
            referrers.entry(target.as_str()).or_default().push(from);
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
                Diagnostic::warning(
                    "template-variable-undefined",
                    &file,
                    format!("`{variable}` is not provided by any controller, middleware or global"),
                )
                .at_span(source, at)
                .with_help(format!(
                    "set `locals.{variable} = …` in the view's controller or routes/middleware.rhai, or remove it"
                )),
            );
        }
    }
}

/// The first match of `word` inside `{{ … }}` or `{% … %}`.
fn first_in_expressions(source: &str, word: &regex::Regex) -> Option<std::ops::Range<usize>> {
    let mut start = 0;
    while let Some(open) = source[start..].find(['{']).map(|i| i + start) {
        let next = source.as_bytes().get(open + 1).copied();
        if matches!(next, Some(b'{' | b'%')) {
            let close =
                source[open..].find(if next == Some(b'{') { "}}" } else { "%}" }).map_or(source.len(), |i| open + i);
            if let Some(m) = word.find(&source[open..close]) {
                return Some(open + m.start()..open + m.end());
            }
            start = close;
        } else {
            start = open + 1;
        }
    }
    None
}

/// An error for each page whose templates call `io()` but never load `/socket.io/socket.io.js`.
fn io_without_client(facts: &Facts, graph: &BTreeMap<&str, Vec<String>>, out: &mut Vec<Diagnostic>) {
    let client_code: BTreeMap<&str, &crate::check::ClientCode> =
        facts.client.iter().filter_map(|c| Some((c.file.strip_prefix("templates/")?, c))).collect();
    let mut reported = BTreeSet::new();
    for view in &facts.rendered_views {
        let page = crate::project::Project::view_template(view);
        let mut closure = BTreeSet::new();
        let mut stack = vec![page.clone()];
        while let Some(name) = stack.pop() {
            if closure.insert(name.clone()) {
                stack.extend(graph.get(name.as_str()).into_iter().flatten().cloned());
            }
        }
        let loads_client = closure
            .iter()
            .any(|n| facts.project.template_sources.get(n).is_some_and(|s| s.contains(crate::server::client::PATH)));
        if loads_client {
            continue;
        }
        for name in &closure {
            let Some(code) = client_code.get(name.as_str()) else { continue };
            if let Some(call) = scan::io_calls(&code.code).into_iter().next()
                && reported.insert(code.file.clone())
            {
                out.push(
                    Diagnostic::error(
                        "io-without-client",
                        &code.file,
                        format!("page `{page}` calls `io()` but never loads the socket.io client"),
                    )
                    .at_span(&code.source, call)
                    .with_help(
                        "add <script src=\"/socket.io/socket.io.js\"></script> before this script (or in the layout)",
                    ),
                );
            }
        }
    }
}
