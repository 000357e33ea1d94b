//! The terminal: one line per request, the scripts' `print` output, errors and debug noise.
//! A leaf module: every layer may log. Text that may come from a visitor is escaped, so nobody
//! can send the terminal escape sequences or forge log lines.
use std::borrow::Cow;
use std::io::Write as _;
use std::time::Duration;

/// `GET /contact 200 1.42ms`
pub fn request(method: &str, path: &str, status: u16, elapsed: Duration) {
    let ms = elapsed.as_secs_f64() * 1000.0;
    let _ = writeln!(std::io::stdout().lock(), "{} {} {status} {ms:.2}ms", escape(method), escape(path));
}

/// A script's `print`.
pub fn script_print(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{}", escape(text));
}

/// Something went wrong that the visitor does not see in full.
pub fn error(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "error: {}", escape(text));
}

/// Only with `KEYSTONE_DEBUG` set: noise a developer may want while debugging.
pub fn debug(text: &str) {
    if std::env::var_os("KEYSTONE_DEBUG").is_some() {
        let _ = writeln!(std::io::stderr().lock(), "debug: {}", escape(text));
    }
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
