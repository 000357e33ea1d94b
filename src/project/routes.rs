//! `routes/index.toml`: the route table binding `"METHOD PATH"` keys to views.
use std::collections::BTreeMap;

use http::Method;
use std::ops::Range;

use serde::Serialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

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
    #[serde(skip)]
    pub spans: RouteSpans,
}

/// Where the parts of a route are written in `routes/index.toml` (byte ranges; a name's
/// range is inside its quotes).
#[derive(Debug, Clone, Default)]
pub struct RouteSpans {
    pub key: Range<usize>,
    pub path: Range<usize>,
    pub view: Range<usize>,
    /// One per guard of `before`, in order.
    pub before: Vec<Range<usize>>,
}

/// The parsed table and a matcher from request path to the routes declared on it.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub routes: Vec<Route>,
    /// Entries of the file that did not become routes (errors), whose paths are unknown.
    pub failed: usize,
    /// Every view name written in the file, in routes that parsed or not: rules about what
    /// nothing reaches stay quiet about them.
    pub mentioned_views: std::collections::BTreeSet<String>,
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

/// Parses the route table. Every problem is a diagnostic; routes that parse are kept, and a
/// syntax error in one line does not hide the routes on the others.
pub fn parse(source: &str) -> (RouteTable, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let (document, errors) = DeTable::parse_recoverable(source);
    diagnostics.extend(errors.iter().map(|err| toml_diagnostic(FILE, source, err)));
    let mut table = RouteTable { failed: errors.len(), ..RouteTable::default() };
    let mut entries: Vec<_> = document.get_ref().iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);

    let mut by_path: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (key, value) in entries {
        let at = |d: Diagnostic| d.at_span(source, key.span());
        let view = match value.get_ref() {
            DeValue::String(view) => Some(view.to_string()),
            DeValue::Table(t) => {
                t.iter().find(|(k, _)| k.get_ref() == "view").and_then(|(_, v)| Some(v.get_ref().as_str()?.to_string()))
            }
            _ => None,
        };
        table.mentioned_views.extend(view);
        match parse_route(source, key.get_ref(), value) {
            Ok(mut route) => {
                route.line = crate::diagnostic::line_col(source, key.span().start).0;
                route.spans.key = key.span();
                // The path inside the key, quotes and method skipped.
                let key_text = &source[key.span()];
                route.spans.path = key_text
                    .find(&route.path)
                    .map_or(key.span(), |at| key.span().start + at..key.span().start + at + route.path.len());
                let same_path = by_path.entry(route.path.clone()).or_default();
                if let Some(&other) = same_path.iter().find(|&&i| table.routes[i].methods.overlaps(&route.methods)) {
                    let other = &table.routes[other];
                    diagnostics.push(at(Diagnostic::error(
                        "route-duplicate",
                        FILE,
                        format!("route `{}` is already declared on line {}", key.get_ref(), other.line),
                    )
                    .with_help("remove one of the two routes or give them different methods")));
                    table.failed += 1;
                    continue;
                }
                same_path.push(table.routes.len());
                table.routes.push(route);
            }
            Err(d) => {
                table.failed += 1;
                diagnostics.push(if d.line == 0 { at(*d) } else { *d });
            }
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
            diagnostics.push(
                Diagnostic::error("route-conflict", FILE, message)
                    .with_help(
                        "two paths cannot differ only in a parameter's name or kind at the same place; rename or merge them",
                    )
                    .at_span(source, route.spans.path.clone()),
            );
        }
    }
    (table, diagnostics)
}

fn parse_route(source: &str, key: &str, value: &Spanned<DeValue<'_>>) -> Result<Route, Box<Diagnostic>> {
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
                return Err(Box::new(bad_key(format!("unknown http method `{m}` in route `{key}`"))));
            }
            list.push(m);
        }
        Methods::Only(list)
    };
    if !path.starts_with('/') {
        return Err(Box::new(bad_key(format!("route path `{path}` must start with `/`"))));
    }
    if path == "/socket.io" || path.starts_with("/socket.io/") {
        return Err(Box::new(bad_key(format!("route path `{path}` is reserved for socket.io"))));
    }
    validate_path(path).map_err(|msg| bad_key(format!("route path `{path}` {msg}")))?;

    let mut spans = RouteSpans::default();
    let (view, before, csrf) = match value.get_ref() {
        DeValue::String(view) => {
            spans.view = inner(value.span());
            (view.to_string(), Vec::new(), true)
        }
        DeValue::Table(options) => parse_long_form(source, key, options, &mut spans)?,
        _ => {
            return Err(Box::new(
                Diagnostic::error("route-value", FILE, format!("route `{key}` must name a view")).with_help(
                    "use a view name (\"index\") or a table ({ view = \"index\", before = [\"require_user\"] })",
                ),
            ));
        }
    };
    if !is_name(&view, true) {
        return Err(Box::new(
            Diagnostic::error("route-value", FILE, format!("`{view}` is not a valid view name"))
                .with_help("view names use letters, digits, `_`, `-` and `/` for folders"),
        ));
    }
    Ok(Route { methods, path: path.to_string(), view, before, csrf, line: 0, spans })
}

/// The span of a quoted string without its quotes.
fn inner(span: Range<usize>) -> Range<usize> {
    if span.len() >= 2 { span.start + 1..span.end - 1 } else { span }
}

fn parse_long_form(
    source: &str,
    key: &str,
    options: &DeTable<'_>,
    spans: &mut RouteSpans,
) -> Result<(String, Vec<String>, bool), Box<Diagnostic>> {
    let mut view = None;
    let mut before = Vec::new();
    let mut csrf = true;
    for (name, value) in options.iter() {
        match (name.get_ref().as_ref(), value.get_ref()) {
            ("view", DeValue::String(v)) => {
                view = Some(v.to_string());
                spans.view = inner(value.span());
            }
            ("before", DeValue::Array(items)) => {
                for item in items.iter() {
                    match item.get_ref().as_str() {
                        Some(g) if is_name(g, false) => {
                            before.push(g.to_string());
                            spans.before.push(inner(item.span()));
                        }
                        _ => {
                            return Err(Box::new(Diagnostic::error(
                                "route-value",
                                FILE,
                                format!("route `{key}` has an invalid guard name"),
                            )
                            .with_help(
                                "guards are names of scripts in routes/middleware/, e.g. before = [\"require_user\"]",
                            )));
                        }
                    }
                }
            }
            ("csrf", DeValue::Boolean(on)) => csrf = *on,
            (other, _) => {
                let known = ["view", "before", "csrf"];
                let help = match crate::diagnostic::did_you_mean(other, known) {
                    Some(close) if !known.contains(&other) => format!(
                        "did you mean `{close}`? a route's table takes `view` (string), `before` (list of guard names) and `csrf` (bool)"
                    ),
                    _ => "a route's table takes `view` (string), `before` (list of guard names) and `csrf` (bool)"
                        .to_string(),
                };
                return Err(Box::new(
                    Diagnostic::error(
                        "config-unknown-key",
                        FILE,
                        format!("unknown or mistyped key `{other}` in route `{key}`"),
                    )
                    .with_help(help)
                    .at_span(source, name.span()),
                ));
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

/// Letters, digits, `_` and `-` (and `/` for nested view names).
pub fn is_name(name: &str, allow_slash: bool) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_slash && c == '/'))
}
