//! The development error page: a failure while a controller, guard, middleware or template ran
//! for a request, told in plain words, with the code frame (the span underlined), the request
//! and the session — the same in the terminal. Production shows the generic page instead.
use std::fmt::Write as _;

use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
use crate::project::Project;
use crate::script::ScriptError;

/// The visitor's side of a failure: the request and the session (as JSON).
pub struct Context<'a> {
    pub req: &'a Value,
    pub session: &'a Value,
}

/// Tells the terminal, and answers 500: the development page, or the generic one in production.
pub fn respond(production: bool, failure: &Failure) -> Response {
    crate::log::failure(&failure.terminal(crate::log::stderr_color()), failure.json());
    if production {
        return super::pages::error(StatusCode::INTERNAL_SERVER_ERROR, "", true);
    }
    let editor = super::live::editor_template(std::env::var("KEYSTONE_EDITOR").ok().as_deref());
    let html = failure.html(editor.as_deref());
    (StatusCode::INTERNAL_SERVER_ERROR, Html(super::live::inject(html))).into_response()
}

/// What went wrong where, and the request it happened in.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `script error` or `template error`.
    pub kind: &'static str,
    /// The engine's message, as it said it.
    pub raw: String,
    /// Project-relative file, 1-based line and column (0 when unknown), span length.
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub length: usize,
    /// The whole file, for the code frame.
    pub source: Option<String>,
    pub method: String,
    pub path: String,
    pub params: Map<String, Value>,
    pub query: Map<String, Value>,
    pub form: Map<String, Value>,
    pub session: Map<String, Value>,
    /// The project's folder, for editor links.
    pub root: String,
}

impl Failure {
    /// A controller, guard or middleware script that failed.
    pub fn script(project: &Project, err: &ScriptError, cx: &Context<'_>) -> Self {
        let source = project
            .middleware
            .iter()
            .chain(project.guards.values())
            .chain(project.controllers.values())
            .find(|s| s.file == err.file)
            .map(|s| s.source.to_string());
        let length = source
            .as_deref()
            .and_then(|s| s.lines().nth(err.line.saturating_sub(1)))
            .map_or(1, |line| word_at(line, err.column));
        // Rhai ends its message with " (line N, position M)": the frame shows the place.
        let raw = match err.message.rfind(" (line ") {
            Some(at) if err.message.ends_with(')') => err.message[..at].to_string(),
            _ => err.message.clone(),
        };
        Self::new("script error", raw, err.file.clone(), (err.line, err.column, length), source, cx).in_project(project)
    }

    /// A template that failed to render: the error names the template (maybe a layout or an
    /// include) and the byte range in it.
    pub fn template(project: &Project, name: &str, err: &minijinja::Error, cx: &Context<'_>) -> Self {
        let name = err.name().unwrap_or(name).to_string();
        let source = project.template_sources.get(&name).cloned();
        let (line, column, length) = match (&source, err.range()) {
            (Some(source), Some(range)) => {
                let (line, column) = crate::diagnostic::line_col(source, range.start);
                let text = source.get(range).unwrap_or("");
                (line, column, text.split('\n').next().map_or(1, |t| t.chars().count().max(1)))
            }
            _ => (err.line().unwrap_or(0), 0, 1),
        };
        let raw = match err.detail() {
            Some(detail) => format!("{}: {detail}", err.kind()),
            None => err.kind().to_string(),
        };
        Self::new("template error", raw, format!("templates/{name}"), (line, column, length), source, cx)
            .in_project(project)
    }

    fn new(
        kind: &'static str,
        raw: String,
        file: String,
        (line, column, length): (usize, usize, usize),
        source: Option<String>,
        cx: &Context<'_>,
    ) -> Self {
        let field = |key: &str| cx.req.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
        let text = |key: &str| cx.req.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        Failure {
            kind,
            raw,
            file,
            line,
            column,
            length,
            source,
            method: text("method"),
            path: text("path"),
            params: field("params"),
            query: field("query"),
            form: field("form"),
            session: cx.session.as_object().cloned().unwrap_or_default(),
            root: String::new(),
        }
    }

    fn in_project(mut self, project: &Project) -> Self {
        self.root = project.root.to_string_lossy().into_owned();
        self
    }

    /// The fields of a JSON log line.
    pub fn json(&self) -> Value {
        serde_json::json!({
            "message": self.message(),
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "method": self.method,
            "path": self.path,
        })
    }

    /// The message in plain words.
    pub fn message(&self) -> String {
        plain_words(&self.raw)
    }

    /// As a diagnostic: the terminal renders it the way `check` does, code frame included.
    pub fn diagnostic(&self) -> Diagnostic {
        let code = if self.kind == "template error" { "template-error" } else { "script-error" };
        let mut d = Diagnostic::error(code, &self.file, self.message());
        if let Some(source) = &self.source
            && self.line > 0
        {
            d = d.at(source, self.line, self.column).spanning(self.length);
        }
        if self.message() != self.raw {
            d = d.with_help(format!("the engine said: {}", self.raw));
        }
        d
    }

    /// The terminal's account: the diagnostic, then the request it happened in.
    pub fn terminal(&self, color: bool) -> String {
        let mut out = format!("{} {}: {}", self.method, self.path, self.diagnostic().render(color));
        for (label, map) in [("params", &self.params), ("query", &self.query), ("form", &self.form)] {
            if !map.is_empty() {
                let _ = writeln!(out, "  {label}: {}", Value::Object(masked(map)));
            }
        }
        let _ = writeln!(out, "  session: {}", Value::Object(masked(&self.session)));
        out
    }

    /// The development page (the live-reload script is added by the caller).
    pub fn html(&self, editor: Option<&str>) -> String {
        let root = &self.root;
        let message = escape(&self.message());
        let location = if self.line > 0 {
            format!(
                "{}:{}{}",
                self.file,
                self.line,
                if self.column > 0 { format!(":{}", self.column) } else { String::new() }
            )
        } else {
            self.file.clone()
        };
        let location_html = match editor {
            Some(template) => {
                let file = format!("{}/{}", root.trim_end_matches('/'), self.file);
                let file = if file.starts_with('/') { file } else { format!("/{file}") };
                let href = template
                    .replace("{file}", &file)
                    .replace("{line}", &self.line.max(1).to_string())
                    .replace("{column}", &self.column.max(1).to_string());
                format!(
                    "<a class=\"where\" href=\"{}\" title=\"open in your editor\">{}</a>",
                    escape(&href),
                    escape(&location)
                )
            }
            None => format!("<span class=\"where\">{}</span>", escape(&location)),
        };
        let raw = if self.message() == self.raw {
            String::new()
        } else {
            format!("<p class=\"raw\">The engine said: <code>{}</code></p>", escape(&self.raw))
        };
        let mut html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{kind}: {message}</title><style>{STYLE}</style></head><body>\
             <header><p class=\"kind\">500 · {kind} while answering <code>{method} {path}</code></p>\
             <h1>{message}</h1>{raw}<p>{location_html}</p></header><main>",
            kind = self.kind,
            method = escape(&self.method),
            path = escape(&self.path),
        );
        if let Some(source) = &self.source
            && self.line > 0
        {
            html.push_str(&code_frame(source, self.line, self.column, self.length));
        }
        html.push_str("<section><h2>Request</h2><table>");
        let _ = write!(html, "<tr><th>method</th><td><code>{}</code></td></tr>", escape(&self.method));
        let _ = write!(html, "<tr><th>path</th><td><code>{}</code></td></tr>", escape(&self.path));
        for (label, map) in [("params", &self.params), ("query", &self.query), ("form", &self.form)] {
            let _ = write!(html, "<tr><th>{label}</th><td>{}</td></tr>", map_html(&masked(map)));
        }
        html.push_str("</table></section><section><h2>Session</h2>");
        html.push_str(&map_html(&masked(&self.session)));
        html.push_str(
            "</section><p class=\"foot\">Only in development: in production this is a generic error page. \
             Fix the file and this page reloads by itself.</p></main></body></html>\n",
        );
        html
    }
}

const STYLE: &str = "body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1f2328;background:#fff}\
header{background:#2d0f12;color:#fff;padding:1.5rem clamp(1rem,4vw,2.5rem)}\
header .kind{margin:0;color:#ffb3b8;font-size:.9rem}header h1{font-size:1.5rem;line-height:1.3;margin:.4rem 0}\
header code{color:#fff}.raw{color:#ffb3b8;font-size:.85rem;margin:.25rem 0}.raw code{color:#ffd8db;overflow-wrap:anywhere}\
.where{color:#ffd08a;font-family:ui-monospace,monospace}main{padding:1rem clamp(1rem,4vw,2.5rem)}\
pre.frame{background:#161b22;color:#e6edf3;padding:.75rem 0;border-radius:6px;overflow-x:auto;font:13px/1.55 ui-monospace,SFMono-Regular,Menlo,monospace}\
pre.frame span{display:block;padding:0 1rem;white-space:pre}pre.frame .hit{background:#4b1d22}pre.frame .mark{color:#ff7b72;font-weight:bold}\
pre.frame .n{color:#7d8590;user-select:none}h2{font-size:1rem;margin:1.5rem 0 .5rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #d1d9e0}\
th{width:7rem;color:#59636e;font-weight:600}td code,dd code{overflow-wrap:anywhere}dl{margin:0}dt{font-weight:600}dd{margin:0 0 .35rem 1rem}\
.empty{color:#59636e}.foot{color:#59636e;font-size:.85rem;margin-top:2rem}";

/// Three lines either side of `line`, that line highlighted and the span underlined.
fn code_frame(source: &str, line: usize, column: usize, length: usize) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let first = line.saturating_sub(3).max(1);
    let last = (line + 3).min(lines.len());
    let width = last.to_string().len();
    let mut out = String::from("<pre class=\"frame\">");
    for n in first..=last {
        let text = lines.get(n - 1).copied().unwrap_or("");
        let class = if n == line { " class=\"hit\"" } else { "" };
        let _ = write!(out, "<span{class}><b class=\"n\">{n:>width$} | </b>{}</span>", escape(text));
        if n == line && column > 0 {
            let pad: String = text.chars().take(column - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let _ = write!(
                out,
                "<span><b class=\"n\">{:>width$} | </b>{pad}<b class=\"mark\">{}</b></span>",
                "",
                "^".repeat(length.max(1))
            );
        }
    }
    out.push_str("</pre>");
    out
}

/// Length of the word (identifier) at 1-based `column`, at least 1.
fn word_at(line: &str, column: usize) -> usize {
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    line.chars().skip(column.saturating_sub(1)).take_while(word).count().max(1)
}

fn map_html(map: &Map<String, Value>) -> String {
    if map.is_empty() {
        return "<span class=\"empty\">(empty)</span>".into();
    }
    let mut out = String::from("<dl>");
    for (key, value) in map {
        let _ = write!(out, "<dt>{}</dt><dd><code>{}</code></dd>", escape(key), escape(&describe(value)));
    }
    out.push_str("</dl>");
    out
}

/// A value as a developer reads it: strings quoted, empty values named.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "() — empty (unit)".into(),
        other => other.to_string(),
    }
}

/// Passwords and tokens are not shown, even in development.
fn masked(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let secret = ["password", "passwd", "secret", "token", "csrf"].iter().any(|s| lower.contains(s));
            (k.clone(), if secret { Value::String("[hidden]".into()) } else { v.clone() })
        })
        .collect()
}

/// Rhai's and minijinja's messages in plain words: `()` is "the empty value (unit)", `i64` a
/// number; a missing getter says the value was empty.
pub fn plain_words(raw: &str) -> String {
    let raw = raw.trim();
    // Rhai appends " (line N, position M)": the page shows the place on its own.
    let raw = match raw.rfind(" (line ") {
        Some(at) if raw.ends_with(')') => &raw[..at],
        _ => raw,
    };
    if let Some(rest) = raw.strip_prefix("Unknown property '")
        && let Some((property, tail)) = rest.split_once("' - a getter is not registered for type '")
    {
        let ty = tail.trim_end_matches('\'');
        return if ty == "()" {
            format!(
                "`.{property}` was read from an empty value (unit): the value before it was never set, or a function returned nothing"
            )
        } else {
            format!("{} has no property `{property}`", a_type(ty))
        };
    }
    if let Some(rest) = raw.strip_prefix("Function not found: ") {
        let (name, args) = rest.split_once(" (").unwrap_or((rest, ")"));
        let args: Vec<String> = args
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| a_type(a.trim_start_matches('&').trim_start_matches("mut ")))
            .collect();
        return if args.is_empty() {
            format!("there is no function `{name}` without arguments")
        } else {
            format!("there is no function `{name}` taking {}", args.join(", "))
        };
    }
    if let Some(name) = raw.strip_prefix("Variable not found: ") {
        return format!("there is no variable `{name}` here; set it first (`let {name} = …;`) or check its spelling");
    }
    if let Some(rest) = raw.strip_prefix("Data type incorrect: ") {
        let (got, want) = rest.split_once(" (expecting ").unwrap_or((rest, ""));
        return format!("expected {} but got {}", a_type(want.trim_end_matches(')')), a_type(got));
    }
    raw.replace("'()'", "the empty value (unit)").replace("()", "the empty value (unit)")
}

/// `i64` → "a number", `()` → "the empty value (unit)".
fn a_type(ty: &str) -> String {
    match ty.trim() {
        "()" => "the empty value (unit)".into(),
        "i64" | "i32" | "u64" | "f64" | "f32" | "INT" | "FLOAT" => "a number".into(),
        "string" | "ImmutableString" | "&str" | "str" | "String" => "a string".into(),
        "bool" => "a boolean".into(),
        "char" => "a character".into(),
        "map" | "Map" => "a map".into(),
        "array" | "Array" => "an array".into(),
        "Fn" | "FnPtr" => "a function".into(),
        other => format!("a `{other}`"),
    }
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rhai_messages_read_as_plain_words() {
        let unit =
            plain_words("Unknown property 'length' - a getter is not registered for type '()' (line 3, position 9)");
        assert!(unit.contains("`.length` was read from an empty value (unit)"), "{unit}");
        assert!(!unit.contains("'()'") && !unit.contains("line 3"), "{unit}");
        assert_eq!(
            plain_words("Function not found: greet (i64, &str)"),
            "there is no function `greet` taking a number, a string"
        );
        assert!(plain_words("Variable not found: usr").contains("no variable `usr`"));
        assert_eq!(
            plain_words("Data type incorrect: () (expecting i64)"),
            "expected a number but got the empty value (unit)"
        );
    }

    fn failure() -> Failure {
        let mut form = Map::new();
        form.insert("name".into(), "Ann <b>".into());
        form.insert("password".into(), "hunter2".into());
        let mut session = Map::new();
        session.insert("user".into(), Value::Null);
        Failure {
            kind: "script error",
            raw: "Unknown property 'length' - a getter is not registered for type '()'".into(),
            file: "routes/views/index.rhai".into(),
            line: 2,
            column: 17,
            length: 7,
            source: Some("let a = 1;\nlet n = session.user.length;\nlocals.n = n;\n".into()),
            method: "POST".into(),
            path: "/contact".into(),
            params: Map::new(),
            query: Map::new(),
            form,
            session,
            root: "/app".into(),
        }
    }

    #[test]
    fn the_page_has_the_frame_the_request_and_the_session_with_secrets_hidden() {
        let html = failure().html(Some("vscode://file{file}:{line}:{column}"));
        assert!(html.contains("empty value (unit)"), "{html}");
        assert!(
            html.contains("<span class=\"hit\"><b class=\"n\">2 | </b>let n = session.user.length;</span>"),
            "{html}"
        );
        assert!(html.contains("                <b class=\"mark\">^^^^^^^</b>"), "underline under column 17: {html}");
        assert!(html.contains("href=\"vscode://file/app/routes/views/index.rhai:2:17\""), "{html}");
        assert!(html.contains("Ann &lt;b&gt;"), "escaped: {html}");
        assert!(!html.contains("hunter2"), "passwords are hidden: {html}");
        assert!(html.contains("<dt>user</dt><dd><code>() — empty (unit)</code></dd>"), "{html}");
    }

    #[test]
    fn the_terminal_gets_the_same_account() {
        let text = failure().terminal(false);
        assert!(
            text.starts_with("POST /contact: error[script-error]: `.length` was read from an empty value"),
            "{text}"
        );
        assert!(text.contains("2 | let n = session.user.length;"), "{text}");
        assert!(text.contains("^^^^^^^"), "{text}");
        assert!(text.contains("form: {\"name\":\"Ann <b>\",\"password\":\"[hidden]\"}"), "{text}");
        assert!(text.contains("session: {\"user\":null}"), "{text}");
    }
}
