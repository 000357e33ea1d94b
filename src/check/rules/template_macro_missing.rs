//! `template-macro-missing`: a macro imported from (or called on) a template that does not
//! define it.
use crate::check::templates::{exports, references};
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "template-macro-missing",
    severity: Severity::Error,
    summary: "an imported macro its template does not define",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let sources = &facts.project.template_sources;
    for (name, source) in sources {
        let file = format!("templates/{name}");
        let mut aliases = Vec::new();
        for tag in scan::template_tags(source) {
            let Some(reference) = references(&tag) else { continue };
            for target in &reference.targets {
                let Some(target_source) = sources.get(&target.text) else { continue };
                let defined = exports(target_source);
                for wanted in &reference.imported {
                    if !defined.contains(wanted) {
                        let at = source[tag.body_start..]
                            .find(wanted.as_str())
                            .map_or(tag.body_start, |i| tag.body_start + i);
                        out.push(
                            RULE.at(&file, format!("`{wanted}` is not a macro of `{}`", target.text))
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
                        RULE.at(&file, format!("`{}` is not a macro of `{target}`", m.as_str()))
                            .at_span(source, m.range())
                            .with_help(format!("define `{{% macro {}(…) %}}` in templates/{target}", m.as_str())),
                    );
                }
            }
        }
    }
}
