//! `keystone.toml`: the app's settings, with every key optional except `name`.
use serde::Deserialize;
use std::time::Duration;

use crate::diagnostic::Diagnostic;

pub const FILE: &str = "keystone.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub name: String,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub session: SessionSettings,
    #[serde(default)]
    pub sockets: SocketSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Marks cookies `Secure` (serve behind HTTPS).
    pub secure: bool,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings { host: "127.0.0.1".into(), port: 3000, secure: false, body_limit: 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    pub cookie: String,
    /// How long an idle session lives, e.g. `"7d"`, `"12h"`, `"30m"`.
    #[serde(deserialize_with = "de_duration")]
    pub expiry: Duration,
    /// `sqlite`, `memory` or `redis://…`.
    pub store: String,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            cookie: "keystone.sid".into(),
            expiry: Duration::from_secs(7 * 24 * 3600),
            store: "sqlite".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SocketSettings {
    /// Origins allowed to open sockets besides the server's own.
    pub allowed_origins: Vec<String>,
    /// `local` or `redis://…`.
    pub adapter: String,
}

impl Default for SocketSettings {
    fn default() -> Self {
        SocketSettings { allowed_origins: Vec::new(), adapter: "local".into() }
    }
}

/// Parses a duration such as `7d`, `12h`, `30m`, `45s`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        "w" => n * 7 * 86400,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "invalid duration `{text}`: use a number followed by s, m, h, d or w (e.g. \"7d\")"
        ))
    })
}

/// Parses `keystone.toml`; a syntax error or unknown key becomes a diagnostic at its line.
pub fn parse(source: &str) -> Result<Settings, Diagnostic> {
    let settings: Settings = toml::from_str(source).map_err(|err| toml_diagnostic(FILE, source, &err))?;
    let store = settings.session.store.as_str();
    if !matches!(store, "sqlite" | "memory") && !store.starts_with("redis://") && !store.starts_with("rediss://") {
        let d = Diagnostic::error("config-value", FILE, format!("unknown session store `{store}`"))
            .with_help("use \"sqlite\", \"memory\" or a \"redis://…\" URL");
        // Underline the quoted value; without it, name the file rather than a wrong line.
        let quoted = [format!("\"{store}\""), format!("'{store}'")];
        return Err(match quoted.iter().find_map(|q| source.find(q.as_str()).map(|i| i..i + q.len())) {
            Some(span) => d.at_span(source, span),
            None => d,
        });
    }
    let adapter = settings.sockets.adapter.as_str();
    if adapter != "local" && !adapter.starts_with("redis://") && !adapter.starts_with("rediss://") {
        let offset = source.find(&format!("\"{adapter}\"")).unwrap_or(0);
        return Err(Diagnostic::error("config-value", FILE, format!("unknown socket adapter `{adapter}`"))
            .at_offset(source, offset)
            .with_help("use \"local\" (one process) or a \"redis://…\" URL (several processes sharing Redis)"));
    }
    Ok(settings)
}

/// Turns a TOML parse error into a diagnostic at the error's span.
pub fn toml_diagnostic(file: &str, source: &str, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().trim().to_string();
    let (code, help) = if message.starts_with("unknown field") {
        ("config-unknown-key", "remove the key or fix its spelling; see README.md for the keys")
    } else {
        ("toml-syntax", "fix the TOML syntax at this position")
    };
    let first_line = message.lines().next().unwrap_or("invalid toml").to_string();
    let d = Diagnostic::error(code, file, lowercase_first(&first_line)).with_help(help);
    match err.span() {
        Some(span) => d.at_span(source, span),
        None => d,
    }
}

pub fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
