//! `template-missing`: `extends`/`include`/`import`/`from` names a template that does not
//! exist.
use crate::check::templates::references;
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity, did_you_mean};

pub static RULE: Rule = Rule {
    code: "template-missing",
    severity: Severity::Error,
    summary: "an `extends`/`include`/`import`/`from` target that does not exist",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let sources = &facts.project.template_sources;
    for (name, source) in sources {
        for tag in scan::template_tags(source) {
            let Some(reference) = references(&tag) else { continue };
            if reference.ignore_missing {
                continue;
            }
            for target in reference.targets.iter().filter(|t| !sources.contains_key(&t.text)) {
                let help = match did_you_mean(&target.text, sources.keys().map(String::as_str)) {
                    Some(close) => format!("did you mean \"{close}\"? (names are paths under templates/)"),
                    None => {
                        format!("create templates/{}, or fix the name (names are paths under templates/)", target.text)
                    }
                };
                out.push(
                    RULE.at(
                        format!("templates/{name}"),
                        format!("`{}` names template `{}`, which does not exist", reference.keyword, target.text),
                    )
                    .at_span(source, target.span.clone())
                    .with_help(help),
                );
            }
        }
    }
}
