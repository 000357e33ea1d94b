//! The terminal: one line per request, the scripts' `print` output, warnings and errors, as
//! text for people or as one JSON object per line for log collectors (`--log-format json`),
//! optionally stamped with the time (`--timestamps`). A leaf module: every layer may log.
//! Text that may come from a visitor is escaped, so nobody can send the terminal escape
//! sequences or forge log lines (JSON lines are escaped by JSON itself).
use std::borrow::Cow;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use crate::diagnostic::Diagnostic;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `GET / 200 0.41ms`
    #[default]
    Text,
    /// `{"level":"info","kind":"request","method":"GET",…}`
    Json,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    pub format: Format,
    /// Start each line with the UTC time (JSON lines always carry `time`).
    pub timestamps: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Sets the format once, before serving; later calls are ignored.
pub fn configure(config: Config) {
    let _ = CONFIG.set(config);
}

fn config() -> Config {
    CONFIG.get().copied().unwrap_or_default()
}

/// Whether log lines are JSON objects.
pub fn is_json() -> bool {
    config().format == Format::Json
}

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

fn write(stream: Stream, text: &str) {
    let _ = match stream {
        Stream::Out => writeln!(std::io::stdout().lock(), "{text}"),
        Stream::Err => writeln!(std::io::stderr().lock(), "{text}"),
    };
}

/// A text line (with the time first when asked for), or a JSON object of `fields`.
fn emit(stream: Stream, text: &str, level: &str, kind: &str, fields: serde_json::Value) {
    let config = config();
    match config.format {
        Format::Text if config.timestamps => write(stream, &format!("{} {text}", now())),
        Format::Text => write(stream, text),
        Format::Json => {
            let mut object = serde_json::Map::new();
            object.insert("time".into(), now().into());
            object.insert("level".into(), level.into());
            object.insert("kind".into(), kind.into());
            if let serde_json::Value::Object(fields) = fields {
                object.extend(fields);
            }
            write(stream, &serde_json::Value::Object(object).to_string());
        }
    }
}

/// `GET /contact 200 1.42ms`
pub fn request(method: &str, path: &str, status: u16, elapsed: Duration) {
    let ms = elapsed.as_secs_f64() * 1000.0;
    emit(
        Stream::Out,
        &format!("{} {} {status} {ms:.2}ms", escape(method), escape(path)),
        if status >= 500 { "error" } else { "info" },
        "request",
        serde_json::json!({ "method": method, "path": path, "status": status, "ms": (ms * 100.0).round() / 100.0 }),
    );
}

/// A script's `print`.
pub fn script_print(text: &str) {
    emit(Stream::Out, &escape(text), "info", "print", serde_json::json!({ "message": text }));
}

/// What the server is doing: serving at an address, reloaded, shutting down.
pub fn info(text: &str) {
    emit(Stream::Out, &escape(text), "info", "server", serde_json::json!({ "message": text }));
}

/// Something the developer should look at; serving goes on.
pub fn warning(text: &str) {
    emit(
        Stream::Err,
        &format!("warning: {}", escape(text)),
        "warning",
        "server",
        serde_json::json!({ "message": text }),
    );
}

/// Counts an event that floods (refused connections, handshakes) and says when a line about
/// it is due: the first time, then at most once per interval, with how many happened since.
#[derive(Debug)]
pub struct Occasional {
    interval: Duration,
    state: std::sync::Mutex<(u64, Option<std::time::Instant>)>,
}

impl Occasional {
    pub const fn new(interval: Duration) -> Self {
        Occasional { interval, state: std::sync::Mutex::new((0, None)) }
    }

    /// Counts one; `Some(count)` when a line is due, the count since the last line included.
    pub fn tick(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 += 1;
        if state.1.is_some_and(|at| at.elapsed() < self.interval) {
            return None;
        }
        state.1 = Some(std::time::Instant::now());
        Some(std::mem::take(&mut state.0))
    }
}

/// Something went wrong that the visitor does not see in full.
pub fn error(text: &str) {
    emit(Stream::Err, &format!("error: {}", escape(text)), "error", "server", serde_json::json!({ "message": text }));
}

/// Diagnostics of the project: rendered like `check` does, or one JSON object each.
pub fn diagnostics(list: &[Diagnostic]) {
    if list.is_empty() {
        return;
    }
    if is_json() {
        for d in list {
            let level = if d.is_error() { "error" } else { "warning" };
            let fields = serde_json::to_value(d).unwrap_or_default();
            emit(Stream::Err, "", level, "diagnostic", fields);
        }
    } else {
        use std::io::IsTerminal as _;
        let color = crate::diagnostic::use_color(std::io::stderr().is_terminal());
        let rendered = crate::diagnostic::render_all(list, color);
        // Colour codes are ours; without colour, any escape sequence came from the project.
        let rendered = if color { rendered } else { escape_lines(&rendered) };
        emit(Stream::Err, rendered.trim_end(), "", "", serde_json::Value::Null);
    }
}

/// A failure while answering a request: its account for people (code frame, request,
/// session), or one JSON object with `fields`.
pub fn failure(text: &str, fields: serde_json::Value) {
    if is_json() {
        emit(Stream::Err, "", "error", "failure", fields);
    } else {
        // The account quotes visitor input (the request, the message): no escape sequences
        // but our colours get through.
        let text = if stderr_color() { text.to_string() } else { escape_lines(text) };
        emit(Stream::Err, text.trim_end(), "", "", serde_json::Value::Null);
    }
}

/// Whether what goes to stderr may be coloured.
pub fn stderr_color() -> bool {
    use std::io::IsTerminal as _;
    crate::diagnostic::use_color(std::io::stderr().is_terminal())
}

/// Only with `KEYSTONE_DEBUG` set: noise a developer may want while debugging.
pub fn debug(text: &str) {
    if std::env::var_os("KEYSTONE_DEBUG").is_some() {
        emit(
            Stream::Err,
            &format!("debug: {}", escape(text)),
            "debug",
            "server",
            serde_json::json!({ "message": text }),
        );
    }
}

/// The current UTC time, RFC 3339 with milliseconds: `2026-05-04T09:15:02.041Z`.
fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A block of lines (a rendered diagnostic), each line escaped.
fn escape_lines(text: &str) -> String {
    text.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// `text` with control characters (ESC, CR, LF, …) and bidirectional overrides written as
/// escapes (`\u{1b}`, `\r`, `\n`), so one log call prints one plain line.
pub fn escape(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        assert_eq!(escape("plain text, tabs\tand ünïcode"), "plain text, tabs\tand ünïcode");
        assert_eq!(escape("\u{1b}[2J\r\nGET /admin 200"), "\\u{1b}[2J\\r\\nGET /admin 200");
        assert_eq!(escape("a\u{202e}b\u{0}"), "a\\u{202e}b\\u{0}");
    }
}
