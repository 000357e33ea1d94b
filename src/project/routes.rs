//! `routes/index.toml`: the route table binding `"METHOD PATH"` keys to views.
use std::collections::BTreeMap;

use http::Method;
use serde::Serialize;
use toml::Spanned;

use super::settings::toml_diagnostic;
use crate::diagnostic::Diagnostic;

pub const FILE: &str = "routes/index.toml";

/// Methods a route answers: a list, or every method (`ALL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Methods {
    All,
    Only(Vec<String>),
}

impl Methods {
    /// Whether a request method is served; `HEAD` is served wherever `GET` is.
    pub fn allows(&self, method: &Method) -> bool {
        match self {
            Methods::All => true,
            Methods::Only(list) => list.iter().any(|m| m == method.as_str() || (method == Method::HEAD && m == "GET")),
        }
    }

    fn overlaps(&self, other: &Methods) -> bool {
        match (self, other) {
            (Methods::Only(a), Methods::Only(b)) => a.iter().any(|m| b.contains(m)),
            _ => true,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Methods::All => "ALL".into(),
            Methods::Only(list) => list.join(","),
        }
    }
}

/// One line of the route table.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub methods: Methods,
    pub path: String,
    pub view: String,
    /// Guards run before the controller: `routes/middleware/NAME.rhai`.
    pub before: Vec<String>,
    /// Unsafe methods need the session's CSRF token (`csrf = false` opts a JSON API out).
    pub csrf: bool,
    /// 1-based line of the route's key in `routes/index.toml`.
    pub line: usize,
}

/// The parsed table and a matcher from request path to the routes declared on it.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub routes: Vec<Route>,
    matcher: matchit::Router<Vec<usize>>,
}

/// Where a request path leads.
pub enum Match<'a> {
    Found(&'a Route, Vec<(String, String)>),
    /// The path exists but not for this method; carries the allowed methods.
    WrongMethod(Vec<String>),
    NotFound,
}

impl RouteTable {
    /// Whether any route, whatever its method, answers `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.matcher.at(path).is_ok()
    }

    pub fn find(&self, method: &Method, path: &str) -> Match<'_> {
        let Ok(found) = self.matcher.at(path) else {
            return Match::NotFound;
        };
        let params: Vec<(String, String)> = found.params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for &i in found.value {
            if self.routes[i].methods.allows(method) {
                return Match::Found(&self.routes[i], params);
            }
        }
        let allowed = found.value.iter().map(|&i| self.routes[i].methods.label()).collect();
        Match::WrongMethod(allowed)
    }
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Parses the route table. Every problem is a diagnostic; routes that parse are kept.
pub fn parse(source: &str) -> (RouteTable, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let entries: BTreeMap<Spanned<String>, Spanned<toml::Value>> = match toml::from_str(source) {
        Ok(entries) => entries,
        Err(err) => {
            return (RouteTable::default(), vec![toml_diagnostic(FILE, source, &err)]);
        }
    };
    let mut entries: Vec<_> = entries.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);

    let mut table = RouteTable::default();
    let mut by_path: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (key, value) in entries {
        let at = |d: Diagnostic| d.at_span(source, key.span());
        match parse_route(key.get_ref(), value.get_ref()) {
            Ok(mut route) => {
                route.line = crate::diagnostic::line_col(source, key.span().start).0;
                let same_path = by_path.entry(route.path.clone()).or_default();
                if let Some(&other) = same_path.iter().find(|&&i| table.routes[i].methods.overlaps(&route.methods)) {
                    let other = &table.routes[other];
                    diagnostics.push(at(Diagnostic::error(
                        "route-duplicate",
                        FILE,
                        format!("route `{}` is already declared on line {}", key.get_ref(), other.line),
                    )
                    .with_help("remove one of the two routes or give them different methods")));
                    continue;
                }
                same_path.push(table.routes.len());
                table.routes.push(route);
            }
            Err(d) => diagnostics.push(at(d)),
        }
    }
    // Insert in declaration order, so a conflict is reported on the later of the two routes.
    let mut by_path: Vec<(String, Vec<usize>)> = by_path.into_iter().filter(|(_, i)| !i.is_empty()).collect();
    by_path.sort_by_key(|(_, indexes)| indexes[0]);
    for (path, indexes) in by_path {
        if let Err(err) = table.matcher.insert(path.clone(), indexes.clone()) {
            let route = &table.routes[indexes[0]];
            let message = match &err {
                matchit::InsertError::Conflict { with } => match table.routes.iter().find(|r| &r.path == with) {
                    Some(other) => format!("route path `{path}` conflicts with `{with}` on line {}", other.line),
                    None => format!("route path `{path}` conflicts with `{with}`"),
                },
                other => format!("route path `{path}` is rejected by the router: {}", other.to_string().to_lowercase()),
            };
            let d = Diagnostic::error("route-conflict", FILE, message).with_help(
                "two paths cannot differ only in a parameter's name or kind at the same place; rename or merge them",
            );
            diagnostics.push(match span_in_line(source, route.line, &path) {
                Some(span) => d.at_span(source, span),
                None => d.at(source, route.line, 1),
            });
        }
    }
    (table, diagnostics)
}

fn parse_route(key: &str, value: &toml::Value) -> Result<Route, Diagnostic> {
    let bad_key = |msg: String| {
        Diagnostic::error("route-path", FILE, msg)
            .with_help("write a route as \"METHOD /path\" = \"view\", e.g. \"GET /blog/{slug}\" = \"post\"")
    };
    let (methods, path) =
        key.trim().split_once(' ').ok_or_else(|| bad_key(format!("route key `{key}` needs a method and a path")))?;
    let path = path.trim();
    let methods = if methods.eq_ignore_ascii_case("ALL") {
        Methods::All
    } else {
        let mut list = Vec::new();
        for m in methods.split(',') {
            let m = m.trim().to_ascii_uppercase();
            if !METHODS.contains(&m.as_str()) {
                return Err(bad_key(format!("unknown http method `{m}` in route `{key}`")));
            }
            list.push(m);
        }
        Methods::Only(list)
    };
    if !path.starts_with('/') {
        return Err(bad_key(format!("route path `{path}` must start with `/`")));
    }
    if path == "/socket.io" || path.starts_with("/socket.io/") {
        return Err(bad_key(format!("route path `{path}` is reserved for socket.io")));
    }
    validate_path(path).map_err(|msg| bad_key(format!("route path `{path}` {msg}")))?;

    let (view, before, csrf) = match value {
        toml::Value::String(view) => (view.clone(), Vec::new(), true),
        toml::Value::Table(options) => parse_long_form(key, options)?,
        _ => {
            return Err(Diagnostic::error("route-value", FILE, format!("route `{key}` must name a view")).with_help(
                "use a view name (\"index\") or a table ({ view = \"index\", before = [\"require_user\"] })",
            ));
        }
    };
    if !is_name(&view, true) {
        return Err(Diagnostic::error("route-value", FILE, format!("`{view}` is not a valid view name"))
            .with_help("view names use letters, digits, `_`, `-` and `/` for folders"));
    }
    Ok(Route { methods, path: path.to_string(), view, before, csrf, line: 0 })
}

fn parse_long_form(key: &str, options: &toml::Table) -> Result<(String, Vec<String>, bool), Diagnostic> {
    let mut view = None;
    let mut before = Vec::new();
    let mut csrf = true;
    for (name, value) in options {
        match (name.as_str(), value) {
            ("view", toml::Value::String(v)) => view = Some(v.clone()),
            ("before", toml::Value::Array(items)) => {
                for item in items {
                    match item.as_str() {
                        Some(g) if is_name(g, false) => before.push(g.to_string()),
                        _ => {
                            return Err(Diagnostic::error(
                                "route-value",
                                FILE,
                                format!("route `{key}` has an invalid guard name"),
                            )
                            .with_help(
                                "guards are names of scripts in routes/middleware/, e.g. before = [\"require_user\"]",
                            ));
                        }
                    }
                }
            }
            ("csrf", toml::Value::Boolean(on)) => csrf = *on,
            _ => {
                return Err(Diagnostic::error(
                    "config-unknown-key",
                    FILE,
                    format!("unknown or mistyped key `{name}` in route `{key}`"),
                )
                .with_help("a route's table takes `view` (string), `before` (list of guard names) and `csrf` (bool)"));
            }
        }
    }
    let view = view.ok_or_else(|| {
        Diagnostic::error("route-value", FILE, format!("route `{key}` has no `view`"))
            .with_help("add view = \"name\" to the route's table")
    })?;
    Ok((view, before, csrf))
}

/// Checks `{param}` / `{*rest}` segments the way the matcher reads them.
fn validate_path(path: &str) -> Result<(), String> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let opens = segment.matches('{').count();
        let closes = segment.matches('}').count();
        if opens != closes || opens > 1 {
            return Err("has an unbalanced or repeated `{`…`}` in a segment".into());
        }
        if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let name = inner.strip_prefix('*').unwrap_or(inner);
            if !is_name(name, false) {
                return Err(format!("has an invalid parameter name `{inner}`"));
            }
            if inner.starts_with('*') && i + 1 != segments.len() {
                return Err("has a catch-all `{*…}` that is not the last segment".into());
            }
        } else if opens == 1 {
            return Err("must have a parameter as a whole segment, like `/{name}`".into());
        }
    }
    Ok(())
}

/// The byte range of the first `needle` on 1-based `line` of `source`, to underline a path,
/// view or guard name on a route's line.
pub fn span_in_line(source: &str, line: usize, needle: &str) -> Option<std::ops::Range<usize>> {
    let start: usize = source.split_inclusive('\n').take(line.checked_sub(1)?).map(str::len).sum();
    let text = source[start..].lines().next()?;
    let at = text.find(needle)?;
    Some(start + at..start + at + needle.len())
}

/// Places `d` on the quoted `name` (a view or guard) on 1-based `line` of the route table,
/// or at the line's start when it is not written there in double quotes.
pub fn at_name(d: Diagnostic, source: &str, line: usize, name: &str) -> Diagnostic {
    match span_in_line(source, line, &format!("\"{name}\"")) {
        Some(span) => d.at_span(source, span.start + 1..span.end - 1),
        None => d.at(source, line, 1),
    }
}

/// Letters, digits, `_` and `-` (and `/` for nested view names).
pub fn is_name(name: &str, allow_slash: bool) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_slash && c == '/'))
}
