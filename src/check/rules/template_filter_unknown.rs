//! `template-filter-unknown`: a template uses a filter (`x|name`, `{% filter name %}`) or a
//! test (`x is name`) the template engine does not have — minijinja would fail the page
//! with a 500 only when it renders.
use std::collections::BTreeMap;

use crate::check::templates::expressions;
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity, did_you_mean};

pub static RULE: Rule = Rule {
    code: "template-filter-unknown",
    severity: Severity::Error,
    summary: "a template filter or test the template engine does not have",
    when: When::Always,
    check: Some(check),
};

/// A filter or a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Filter,
    Test,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Filter => "filter",
            Kind::Test => "test",
        }
    }
}

/// The filters and tests a template names: `(kind, name, span in source)`.
fn uses(source: &str) -> Vec<(Kind, String, std::ops::Range<usize>)> {
    let filter = scan::cached(r"\|\s*([A-Za-z_]\w*)|^\{%-?\s*filter\s+([A-Za-z_]\w*)");
    let test = scan::cached(r"\bis\s+(?:not\s+)?([A-Za-z_]\w*)");
    let mut found = Vec::new();
    for span in expressions(source) {
        // String literals may hold `|` or ` is `: blank them, keeping positions.
        let mut code = source[span.clone()].to_string();
        for literal in scan::string_literals(&code.clone(), 0) {
            code.replace_range(literal.span.clone(), &" ".repeat(literal.span.len()));
        }
        for c in filter.captures_iter(&code) {
            let m = c.get(1).or_else(|| c.get(2)).expect("one branch matched");
            found.push((Kind::Filter, m.as_str().to_string(), span.start + m.start()..span.start + m.end()));
        }
        for c in test.captures_iter(&code) {
            let m = c.get(1).expect("group 1");
            found.push((Kind::Test, m.as_str().to_string(), span.start + m.start()..span.start + m.end()));
        }
    }
    found
}

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let env = &facts.project.templates;
    let mut known: BTreeMap<(Kind, String), bool> = BTreeMap::new();
    // Asks the engine itself (its `filter` and `test` tests), so filters added later count.
    let mut exists = |kind: Kind, name: &str| {
        *known.entry((kind, name.to_string())).or_insert_with(|| {
            let probe = format!("{{% if name is {} %}}yes{{% endif %}}", kind.word());
            env.render_str(&probe, minijinja::context! { name }).map_or(true, |r| r == "yes")
        })
    };
    for (template, source) in &facts.project.template_sources {
        let file = format!("templates/{template}");
        for (kind, name, span) in uses(source) {
            if exists(kind, &name) {
                continue;
            }
            let help = match kind {
                Kind::Filter => did_you_mean(&name, FILTERS.iter().copied()).map_or_else(
                    || "minijinja has no such filter (its filters: https://docs.rs/minijinja/latest/minijinja/filters/)".into(),
                    |k| format!("did you mean `{k}`?"),
                ),
                Kind::Test => did_you_mean(&name, TESTS.iter().copied()).map_or_else(
                    || "minijinja has no such test".into(),
                    |k| format!("did you mean `{k}`?"),
                ),
            };
            out.push(RULE.at(&file, format!("unknown {} `{name}`", kind.word())).at_span(source, span).with_help(help));
        }
    }
}

/// Names to suggest from (the engine is asked whether a name exists; these only spell).
const FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "default",
    "dictsort",
    "escape",
    "first",
    "float",
    "format",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
];
const TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "safe",
    "odd",
    "even",
    "number",
    "integer",
    "float",
    "string",
    "sequence",
    "iterable",
    "mapping",
    "lower",
    "upper",
    "startingwith",
    "endingwith",
    "containing",
    "true",
    "false",
    "divisibleby",
    "sameas",
    "in",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_tests_are_found_outside_strings_and_comments() {
        let source = "{{ a|truncate(3) }} {{ \"x|y\" }} {# b|nope #}{% filter upper %}{% endfilter %}\
                      {% if a is not divisibleby(3) %}{% endif %}{{ a | lower }}";
        let names: Vec<(Kind, String)> = uses(source).into_iter().map(|(k, n, _)| (k, n)).collect();
        let want =
            [(Kind::Filter, "truncate"), (Kind::Filter, "upper"), (Kind::Test, "divisibleby"), (Kind::Filter, "lower")];
        assert_eq!(names, want.map(|(k, n)| (k, n.to_string())));
    }
}
