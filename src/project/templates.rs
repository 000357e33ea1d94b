//! The minijinja environment: every template under `templates/` compiled as one whole, with
//! the `url_for` and `asset` functions.
use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind};

use super::public::PublicFiles;
use super::routes::RouteTable;
use crate::diagnostic::Diagnostic;

/// Compiles every template; a syntax error becomes a diagnostic and leaves that template out.
pub fn compile(
    sources: &BTreeMap<String, String>,
    routes: &RouteTable,
    public: &Arc<PublicFiles>,
) -> (Environment<'static>, Vec<Diagnostic>) {
    let mut env = Environment::new();
    env.set_formatter(html_formatter);
    let mut diagnostics = Vec::new();
    for (name, source) in sources {
        if let Err(err) = env.add_template_owned(name.clone(), source.clone()) {
            diagnostics.push(template_diagnostic(&err, source, "template-syntax"));
        }
    }
    let routes = routes.clone();
    env.add_function("url_for", move |view: &str, kwargs: Kwargs| url_for(&routes, view, &kwargs));
    let public = public.clone();
    env.add_function("asset", move |path: &str| Ok(public.asset_url(path)));
    (env, diagnostics)
}

/// Auto-escapes `& < > " '` only: minijinja's default also escapes `/`, which turns every
/// URL in an attribute into `&#x2f;` noise without making it any safer.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), Error> {
    let plain = !matches!(state.auto_escape(), minijinja::AutoEscape::Html)
        || value.is_safe()
        || value.is_undefined()
        || value.is_none();
    if plain {
        return minijinja::escape_formatter(out, state, value);
    }
    let owned;
    let text = match value.as_str() {
        Some(text) => text,
        None => {
            owned = value.to_string();
            &owned
        }
    };
    write_escaped(out, text).map_err(Error::from)
}

/// Writes `text` with `& < > " '` escaped, the runs between them as they are.
fn write_escaped(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.bytes().position(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')) {
        out.write_str(&rest[..at])?;
        out.write_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#x27;",
        })?;
        // The byte is ASCII, so the next one starts a character.
        rest = &rest[at + 1..];
    }
    out.write_str(rest)
}

/// A minijinja error as a diagnostic at its template and line.
pub fn template_diagnostic(err: &Error, source: &str, code: &'static str) -> Diagnostic {
    let file = format!("templates/{}", err.name().unwrap_or("?"));
    let message = err.detail().map_or_else(|| err.kind().to_string(), str::to_string);
    let d = Diagnostic::error(code, file, crate::diagnostic::lowercase_first(&message))
        .with_help("fix the template; see https://docs.rs/minijinja for the syntax");
    match (err.range(), err.line()) {
        (Some(range), _) => d.at_span(source, range),
        (None, Some(line)) => d.at(source, line, 0),
        _ => d,
    }
}

/// `url_for("post", slug="hello")`: the path of the first route to `view`, parameters filled in.
fn url_for(routes: &RouteTable, view: &str, kwargs: &Kwargs) -> Result<String, Error> {
    let route = routes
        .routes
        .iter()
        .find(|r| r.view == view && r.methods.allows(&http::Method::GET))
        .or_else(|| routes.routes.iter().find(|r| r.view == view))
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("url_for: no route renders view `{view}`")))?;
    let mut path = String::new();
    for segment in route.path.split('/').skip(1) {
        path.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                let (name, encode) = match param.strip_prefix('*') {
                    Some(rest) => (rest, false),
                    None => (param, true),
                };
                let value: minijinja::Value = kwargs.get(name).map_err(|_| {
                    Error::new(ErrorKind::MissingArgument, format!("url_for(\"{view}\") needs `{name}=`"))
                })?;
                let text = value.to_string();
                if encode {
                    path.extend(form_urlencoded::byte_serialize(text.as_bytes()).map(|s| s.replace('+', "%20")));
                } else {
                    path.push_str(&text);
                }
            }
            None => path.push_str(segment),
        }
    }
    kwargs.assert_all_used()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaping_replaces_the_five_characters_and_keeps_the_rest() {
        let mut out = String::new();
        super::write_escaped(&mut out, "a&b<c>d\"e'f/g é😀&").unwrap();
        assert_eq!(out, "a&amp;b&lt;c&gt;d&quot;e&#x27;f/g é😀&amp;");
        let mut plain = String::new();
        super::write_escaped(&mut plain, "").unwrap();
        assert_eq!(plain, "");
    }
}
