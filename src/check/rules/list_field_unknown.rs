//! `list-field-unknown`: a literal map passed to a list names a field its model does not
//! have (`list("Post").find(#{ titel: … })`, also `create`, `count`, `update`).
use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity, did_you_mean};
use crate::lists::Model;

pub static RULE: Rule = Rule {
    code: "list-field-unknown",
    severity: Severity::Error,
    summary: "a literal map given to `find`/`create`/`count`/`update` names a field the list does not have",
    when: When::Always,
    check: Some(check),
};

/// Methods whose first map argument names fields.
const FIELD_MAPS: &[&str] = &["find", "create", "count", "update"];

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let models = &facts.project.lists.models;
    for (file, code) in &facts.scripts {
        for call in scan::calls_with_literal(code, "list") {
            let Some(model) = models.get(&call.text) else { continue };
            for (key, span) in literal_keys(code, call.span.end) {
                if key != "id" && key != "csrf_token" && model.field(&key).is_none() {
                    out.push(
                        RULE.at(file.as_str(), format!("list `{}` has no field `{key}`", model.name))
                            .at_span(facts.script_source(file).unwrap_or(code), span)
                            .with_help(field_help(model, &key)),
                    );
                }
            }
        }
    }
}

fn field_help(model: &Model, key: &str) -> String {
    match did_you_mean(key, model.field_names()) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!(
            "add `{key}` to [fields] in {}, or use one of: {}",
            model.file,
            model.field_names().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The top-level keys of the map literal passed to `.find(#{…})` (and the other methods
/// of [`FIELD_MAPS`]) right after `list("…")` ends at `from`, with their spans.
fn literal_keys(code: &str, from: usize) -> Vec<(String, std::ops::Range<usize>)> {
    let rest = &code[from..];
    let Some(m) = scan::cached(r#"^"?\s*\)\s*\.\s*([a-z_]+)\s*\(([^#()]*,\s*)?\s*#\{"#).captures(rest) else {
        return Vec::new();
    };
    if !FIELD_MAPS.contains(&&m[1]) {
        return Vec::new();
    }
    let start = from + m.get(0).map_or(0, |g| g.end());
    let mut keys = Vec::new();
    let (mut depth, mut expect_key, mut in_string) = (1usize, true, None::<char>);
    let bytes: Vec<(usize, char)> = code[start..].char_indices().map(|(i, c)| (start + i, c)).collect();
    let mut i = 0;
    while i < bytes.len() && depth > 0 {
        let (at, c) = bytes[i];
        if let Some(q) = in_string {
            if c == '\\' {
                i += 1;
            } else if c == q {
                in_string = None;
            }
            i += 1;
            continue;
        }
        match c {
            '"' | '\'' | '`' => in_string = Some(c),
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 1 => expect_key = true,
            c if depth == 1 && expect_key && (c.is_ascii_alphabetic() || c == '_') => {
                let end = bytes[i..]
                    .iter()
                    .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
                    .map_or(code.len(), |(j, _)| *j);
                let after = code[end..].trim_start();
                if after.starts_with(':') && !after.starts_with("::") {
                    keys.push((code[at..end].to_string(), at..end));
                }
                expect_key = false;
                i += code[at..end].chars().count();
                continue;
            }
            c if !c.is_whitespace() => expect_key = false,
            _ => {}
        }
        i += 1;
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::literal_keys;

    #[test]
    fn keys_are_the_top_level_ones() {
        let code = r#"list("Post").find(#{ state: "a,b: c", views: #{ gt: 1 }, "quoted": 2, title: x.y }).all()"#;
        let keys: Vec<String> = literal_keys(code, code.find("Post").unwrap() + 4).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, ["state", "views", "title"]);
        let update = r#"list("Post").update(item.id, #{ titel: 1 })"#;
        let keys: Vec<String> =
            literal_keys(update, update.find("Post").unwrap() + 4).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, ["titel"]);
    }
}
