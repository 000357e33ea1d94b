//! Facts about templates shared by the template rules: what each template references
//! (`extends`, `include`, `import`, `from`), the names it binds and exports.
use std::collections::{BTreeMap, BTreeSet};

use super::scan;

/// Names every template can use: the context keys keystone-rs adds and minijinja's globals.
pub const GLOBALS: &[&str] = &[
    "session",
    "req",
    "messages",
    "csrf_token",
    "user",
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
pub struct Reference<'a> {
    pub keyword: &'a str,
    pub targets: Vec<scan::Found>,
    /// `from X import a, b as c` → `a`, `b`; `import X as m` → alias `m`.
    pub imported: Vec<String>,
    pub alias: Option<String>,
    pub ignore_missing: bool,
}

pub fn references(tag: &scan::Tag) -> Option<Reference<'_>> {
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
pub fn exports(source: &str) -> BTreeSet<String> {
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

/// Names a template binds that other templates can see at render time: `{% set x = … %}`
/// (a child's top-level `set` is seen by its layout), `{% for a, b in … %}` and
/// `{% with x = … %}` (seen by a partial included inside), and imports and macros (a
/// layout's are seen by its children's blocks).
pub fn bound_names(source: &str) -> BTreeSet<String> {
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

/// The spans of every `{{ … }}` and `{% … %}` (delimiters included), outside `{# comments #}`.
pub fn expressions(source: &str) -> Vec<std::ops::Range<usize>> {
    let mut found = Vec::new();
    let mut start = 0;
    while let Some(open) = source[start..].find('{').map(|i| i + start) {
        let closer = match source.as_bytes().get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => {
                start = open + 1;
                continue;
            }
        };
        let close = source[open + 2..].find(closer).map_or(source.len(), |i| open + 2 + i + 2);
        if closer != "#}" {
            found.push(open..close);
        }
        start = close;
    }
    found
}

/// The first match of `word` inside `{{ … }}` or `{% … %}`.
pub fn first_in_expressions(source: &str, word: &regex::Regex) -> Option<std::ops::Range<usize>> {
    expressions(source)
        .into_iter()
        .find_map(|span| word.find(&source[span.clone()]).map(|m| span.start + m.start()..span.start + m.end()))
}

/// Which template reaches which: edges of existing targets, and the layout each extends.
#[derive(Debug, Default)]
pub struct Graph {
    /// Template → the existing templates it extends, includes or imports.
    pub edges: BTreeMap<String, Vec<String>>,
    /// Template → the layout it extends.
    pub parents: BTreeMap<String, String>,
}

impl Graph {
    pub fn build(sources: &BTreeMap<String, String>) -> Self {
        let mut graph = Graph::default();
        for (name, source) in sources {
            for tag in scan::template_tags(source) {
                let Some(reference) = references(&tag) else { continue };
                for target in reference.targets.iter().filter(|t| sources.contains_key(&t.text)) {
                    graph.edges.entry(name.clone()).or_default().push(target.text.clone());
                    if reference.keyword == "extends" {
                        graph.parents.insert(name.clone(), target.text.clone());
                    }
                }
            }
        }
        graph
    }
}
