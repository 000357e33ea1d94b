//! The terminal: one line per request, the scripts' `print` output, errors and debug noise.
//! A leaf module: every layer may log.
use std::io::Write as _;
use std::time::Duration;

/// `GET /contact 200 1.42ms`
pub fn request(method: &str, path: &str, status: u16, elapsed: Duration) {
    let ms = elapsed.as_secs_f64() * 1000.0;
    let _ = writeln!(std::io::stdout().lock(), "{method} {path} {status} {ms:.2}ms");
}

/// A script's `print`.
pub fn script_print(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Something went wrong that the visitor does not see in full.
pub fn error(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "error: {text}");
}

/// Only with `KEYSTONE_DEBUG` set: noise a developer may want while debugging.
pub fn debug(text: &str) {
    if std::env::var_os("KEYSTONE_DEBUG").is_some() {
        let _ = writeln!(std::io::stderr().lock(), "debug: {text}");
    }
}
