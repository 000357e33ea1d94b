//! `keystone.toml`: the app's settings, parsed once into types (enums, URLs, durations,
//! sizes) that keep the span of what was written. Every problem of the file is reported in
//! one pass: syntax errors, unknown keys (with "did you mean"), type errors and bad values.
//!
//! To add a setting: add a field to its section struct, a default in that struct's
//! `Default`, and one `section.get("key", default)` line in its `read` function. A new value
//! type implements [`FromToml`].
use std::num::NonZeroU32;
use std::ops::{Deref, Range};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, did_you_mean};

pub const FILE: &str = "keystone.toml";

/// A setting's value and where it was written (`None` for a default).
#[derive(Debug, Clone)]
pub struct Setting<T> {
    pub value: T,
    pub span: Option<Range<usize>>,
}

impl<T> Setting<T> {
    pub fn default_value(value: T) -> Self {
        Setting { value, span: None }
    }
}

impl<T> Deref for Setting<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Setting<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// The whole of `keystone.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub name: Setting<String>,
    pub server: ServerSettings,
    pub session: SessionSettings,
    pub sockets: SocketSettings,
    pub scripts: ScriptSettings,
    pub database: DatabaseSettings,
    pub admin: AdminSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub host: Setting<String>,
    pub port: Setting<u16>,
    /// Marks cookies `Secure` (serve behind HTTPS).
    pub secure: Setting<bool>,
    /// Largest request body accepted.
    pub body_limit: Setting<Size>,
    /// Host names allowed besides loopback in development (DNS rebinding defence).
    pub allowed_hosts: Setting<Vec<String>>,
    /// How long a client may take to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    pub header_timeout: Setting<Duration>,
    /// How long a client may take to send a request's body.
    pub body_timeout: Setting<Duration>,
    /// Open connections at one time (WebSockets and long-polls included).
    pub max_connections: Setting<NonZeroU32>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            host: Setting::default_value("127.0.0.1".into()),
            port: Setting::default_value(3000),
            secure: Setting::default_value(false),
            body_limit: Setting::default_value(Size(1024 * 1024)),
            allowed_hosts: Setting::default_value(Vec::new()),
            header_timeout: Setting::default_value(Duration::from_secs(10)),
            body_timeout: Setting::default_value(Duration::from_secs(30)),
            max_connections: Setting::default_value(NonZeroU32::new(10_000).unwrap()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    pub cookie: Setting<String>,
    /// How long an idle session lives, e.g. `"7d"`, `"12h"`, `"30m"`.
    pub expiry: Setting<Duration>,
    pub store: Setting<Store>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            cookie: Setting::default_value("keystone.sid".into()),
            expiry: Setting::default_value(Duration::from_secs(7 * 24 * 3600)),
            store: Setting::default_value(Store::Sqlite),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SocketSettings {
    /// Origins allowed to open sockets besides the server's own.
    pub allowed_origins: Setting<Vec<String>>,
    pub adapter: Setting<SocketAdapter>,
    /// Largest socket message (WebSocket frame or polling body).
    pub max_payload: Setting<Size>,
    /// Sockets connected plus handshakes not yet connected, at one time.
    pub max_sockets: Setting<NonZeroU32>,
}

impl Default for SocketSettings {
    fn default() -> Self {
        SocketSettings {
            allowed_origins: Setting::default_value(Vec::new()),
            adapter: Setting::default_value(SocketAdapter::Local),
            max_payload: Setting::default_value(Size(1024 * 1024)),
            max_sockets: Setting::default_value(NonZeroU32::new(10_000).unwrap()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptSettings {
    /// Wall-clock budget of the scripts of one request or one socket event.
    pub timeout: Setting<Duration>,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        ScriptSettings { timeout: Setting::default_value(Duration::from_secs(1)) }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSettings {
    pub url: Setting<Database>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings { url: Setting::default_value(Database::Sqlite) }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdminSettings {
    /// Where the Admin UI lives.
    pub path: Setting<String>,
    /// The list whose items sign in.
    pub user_list: Setting<String>,
    /// `[admin] nav`: the admin's home groups lists under headings (`Content = ["Post"]`),
    /// in file order; lists named nowhere follow under "Other".
    pub nav: Setting<Nav>,
}

/// `[admin] nav`: heading → list names, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nav(pub Vec<(String, Vec<String>)>);

impl FromToml for Nav {
    const EXPECTED: &'static str = "a table of headings to lists of list names (Content = [\"Post\"])";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        let table = value.as_table().ok_or(Problem::Type)?;
        let mut groups = Vec::new();
        for (heading, names) in table.iter() {
            let names = Vec::<String>::from_toml(names.get_ref())?;
            groups.push((heading.span().start, heading.get_ref().to_string(), names));
        }
        // The table is sorted by key; the admin shows the headings as the file orders them.
        groups.sort_by_key(|(at, _, _)| *at);
        Ok(Nav(groups.into_iter().map(|(_, heading, names)| (heading, names)).collect()))
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            path: Setting::default_value("/keystone".into()),
            user_list: Setting::default_value("User".into()),
            nav: Setting::default_value(Nav::default()),
        }
    }
}

/// Where sessions live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// `.keystone/sessions.sqlite3`: survives restarts, one node.
    Sqlite,
    /// Nothing on disk.
    Memory,
    /// Shared by every node on this Redis.
    Redis(url::Url),
}

/// Where socket rooms and broadcasts live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAdapter {
    /// This process only.
    Local,
    /// Every process sharing this Redis.
    Redis(url::Url),
}

/// Where the app's lists live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// `.keystone/data.sqlite3`.
    Sqlite,
    Postgres(url::Url),
}

impl Database {
    /// The SQLite file under the project root.
    pub const SQLITE_PATH: &'static str = crate::lists::SQLITE_FILE;
}

impl Store {
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Redis(_))
    }
}

impl SocketAdapter {
    pub fn is_shared(&self) -> bool {
        matches!(self, SocketAdapter::Redis(_))
    }
}

/// A number of bytes, written as an integer or as `"1MB"`, `"512KB"`, `"2GB"` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub usize);

impl Size {
    pub fn bytes(self) -> usize {
        self.0
    }
}

/// Parses a duration such as `7d`, `12h`, `30m`, `45s`, `500ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86400)?),
        "w" => Duration::from_secs(n.checked_mul(7 * 86400)?),
        _ => return None,
    };
    (!duration.is_zero()).then_some(duration)
}

/// Parses a size such as `1MB`, `512KB`, `1048576`, `2 GB` (units are powers of 1024).
pub fn parse_size(text: &str) -> Option<Size> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: usize = number.parse().ok()?;
    let factor: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "KIB" | "K" => 1024,
        "MB" | "MIB" | "M" => 1024 * 1024,
        "GB" | "GIB" | "G" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor).filter(|&b| b > 0).map(Size)
}

/// Why a value could not be read.
pub enum Problem {
    /// The wrong TOML type.
    Type,
    /// The right type, an unusable value: message and help.
    Value(String, String),
}

/// A setting's type: how to read it from a TOML value.
pub trait FromToml: Sized {
    /// What the key expects, for type errors: "a string", "an integer from 0 to 65535".
    const EXPECTED: &'static str;
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem>;
}

impl FromToml for String {
    const EXPECTED: &'static str = "a string";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        value.as_str().map(str::to_string).ok_or(Problem::Type)
    }
}

impl FromToml for bool {
    const EXPECTED: &'static str = "a boolean (true or false)";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        value.as_bool().ok_or(Problem::Type)
    }
}

fn integer(value: &DeValue<'_>) -> Option<i128> {
    let int = value.as_integer()?;
    i128::from_str_radix(int.as_str(), int.radix()).ok()
}

impl FromToml for u16 {
    const EXPECTED: &'static str = "an integer from 0 to 65535";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        let n = integer(value).ok_or(Problem::Type)?;
        u16::try_from(n).map_err(|_| Problem::Value(format!("{n} is out of range"), Self::EXPECTED.into()))
    }
}

impl FromToml for NonZeroU32 {
    const EXPECTED: &'static str = "a whole number from 1 to 4294967295";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        let n = integer(value).ok_or(Problem::Type)?;
        u32::try_from(n)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(|| Problem::Value(format!("{n} is out of range"), Self::EXPECTED.into()))
    }
}

impl FromToml for Vec<String> {
    const EXPECTED: &'static str = "a list of strings";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        let items = value.as_array().ok_or(Problem::Type)?;
        items.iter().map(|item| item.get_ref().as_str().map(str::to_string).ok_or(Problem::Type)).collect()
    }
}

impl FromToml for Duration {
    const EXPECTED: &'static str = "a duration string such as \"7d\", \"12h\", \"30m\", \"1s\" or \"500ms\"";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        let text = value.as_str().ok_or(Problem::Type)?;
        parse_duration(text).ok_or_else(|| {
            Problem::Value(
                format!("invalid duration `{text}`"),
                "use a number followed by ms, s, m, h, d or w (e.g. \"7d\")".into(),
            )
        })
    }
}

impl FromToml for Size {
    const EXPECTED: &'static str = "a size: a number of bytes or a string such as \"1MB\"";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        if let Some(n) = integer(value) {
            return usize::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .map(Size)
                .ok_or_else(|| Problem::Value(format!("invalid size {n}"), "use a positive number of bytes".into()));
        }
        let text = value.as_str().ok_or(Problem::Type)?;
        parse_size(text).ok_or_else(|| {
            Problem::Value(
                format!("invalid size `{text}`"),
                "use a number of bytes or a number followed by KB, MB or GB (e.g. \"1MB\")".into(),
            )
        })
    }
}

/// A URL whose scheme is one of `schemes`.
fn url_with_scheme(text: &str, schemes: &[&str], what: &str) -> Result<url::Url, Problem> {
    let url = url::Url::parse(text).map_err(|err| {
        Problem::Value(
            format!("invalid {what} URL `{text}`: {err}"),
            format!("write a URL such as \"{}://127.0.0.1\"", schemes[0]),
        )
    })?;
    if !schemes.contains(&url.scheme()) {
        return Err(Problem::Value(
            format!(
                "{what} URL `{text}` must start with {}",
                schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or ")
            ),
            format!("write a URL such as \"{}://127.0.0.1\"", schemes[0]),
        ));
    }
    Ok(url)
}

impl FromToml for Store {
    const EXPECTED: &'static str = "a string: \"sqlite\", \"memory\" or a \"redis://…\" URL";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        match value.as_str().ok_or(Problem::Type)? {
            "sqlite" => Ok(Store::Sqlite),
            "memory" => Ok(Store::Memory),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                url_with_scheme(url, &["redis", "rediss"], "redis").map(Store::Redis)
            }
            other => Err(Problem::Value(
                format!("unknown session store `{other}`"),
                format!(
                    "use \"sqlite\", \"memory\" or a \"redis://…\" URL{}",
                    suggestion(other, &["sqlite", "memory"])
                ),
            )),
        }
    }
}

impl FromToml for SocketAdapter {
    const EXPECTED: &'static str = "a string: \"local\" or a \"redis://…\" URL";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        match value.as_str().ok_or(Problem::Type)? {
            "local" => Ok(SocketAdapter::Local),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                url_with_scheme(url, &["redis", "rediss"], "redis").map(SocketAdapter::Redis)
            }
            "redis" => Err(Problem::Value(
                "the redis adapter needs the server's URL".into(),
                "write adapter = \"redis://127.0.0.1:6379\"".into(),
            )),
            other => Err(Problem::Value(
                format!("unknown socket adapter `{other}`"),
                format!(
                    "use \"local\" (one process) or a \"redis://…\" URL (several processes sharing Redis){}",
                    suggestion(other, &["local"])
                ),
            )),
        }
    }
}

impl FromToml for Database {
    const EXPECTED: &'static str = "a string: \"sqlite\" or a \"postgres://…\" URL";
    fn from_toml(value: &DeValue<'_>) -> Result<Self, Problem> {
        match value.as_str().ok_or(Problem::Type)? {
            "sqlite" => Ok(Database::Sqlite),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                url_with_scheme(url, &["postgres", "postgresql"], "postgres").map(Database::Postgres)
            }
            other => Err(Problem::Value(
                format!("unknown database `{other}`"),
                format!("use \"sqlite\" or a \"postgres://…\" URL{}", suggestion(other, &["sqlite"])),
            )),
        }
    }
}

/// `; did you mean "x"?` when `word` is close to one of `candidates`.
fn suggestion(word: &str, candidates: &[&str]) -> String {
    did_you_mean(word, candidates.iter().copied()).map_or_else(String::new, |c| format!("; did you mean \"{c}\"?"))
}

/// Reads one table of the file, remembering which keys were asked for so that the rest can be
/// reported as unknown.
struct Section<'a, 'i> {
    /// `""` for the top level, else the table's name.
    name: &'static str,
    table: Option<&'a DeTable<'i>>,
    asked: Vec<&'static str>,
    source: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl<'a, 'i> Section<'a, 'i> {
    fn key_name(&self, key: &str) -> String {
        if self.name.is_empty() { key.to_string() } else { format!("{}.{key}", self.name) }
    }

    fn entry(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.table?.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
    }

    /// The value of `key`, or `default` when it is absent or unusable (then with a diagnostic).
    fn get<T: FromToml>(&mut self, key: &'static str, default: Setting<T>) -> Setting<T> {
        self.asked.push(key);
        let Some(value) = self.entry(key) else { return default };
        let span = value.span();
        match T::from_toml(value.get_ref()) {
            Ok(v) => Setting { value: v, span: Some(span) },
            Err(Problem::Type) => {
                let found = value.get_ref().type_str();
                let mut help = format!("`{key}` takes {}", T::EXPECTED);
                // `port = "3000"`: the right value in quotes.
                if let Some(text) = value.get_ref().as_str()
                    && let Ok(inner) = toml::de::DeValue::parse(text)
                    && T::from_toml(inner.get_ref()).is_ok()
                {
                    help = format!("remove the quotes: {key} = {text}");
                }
                self.diagnostics.push(
                    Diagnostic::error(
                        "config-type",
                        FILE,
                        format!("`{}` must be {}, found {}", self.key_name(key), T::EXPECTED, article(found)),
                    )
                    .at_span(self.source, span)
                    .with_help(help),
                );
                default
            }
            Err(Problem::Value(message, help)) => {
                self.diagnostics
                    .push(Diagnostic::error("config-value", FILE, message).at_span(self.source, span).with_help(help));
                default
            }
        }
    }

    /// A sub-table, read by `read`; a key of another type there is a type error.
    fn table<T: Default>(&mut self, key: &'static str, read: impl FnOnce(&mut Section<'_, 'i>) -> T) -> T {
        self.asked.push(key);
        let table = match self.entry(key) {
            None => None,
            Some(value) => match value.get_ref() {
                DeValue::Table(t) => Some(t),
                other => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "config-type",
                            FILE,
                            format!("`{key}` must be a table, found {}", article(other.type_str())),
                        )
                        .at_span(self.source, value.span())
                        .with_help(format!("write the settings under a [{key}] header")),
                    );
                    return T::default();
                }
            },
        };
        let mut section =
            Section { name: key, table, asked: Vec::new(), source: self.source, diagnostics: self.diagnostics };
        let value = read(&mut section);
        section.finish();
        value
    }

    /// Reports every key of the table nobody asked for, with the closest known key.
    fn finish(self) {
        let Some(table) = self.table else { return };
        for (key, _) in table.iter() {
            let name = key.get_ref().as_ref();
            if self.asked.contains(&name) {
                continue;
            }
            let (what, place) = if self.name.is_empty() {
                ("key or table", "at the top of keystone.toml".to_string())
            } else {
                ("key", format!("in [{}]", self.name))
            };
            let known = self.asked.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            let help = match did_you_mean(name, self.asked.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? known here: {known}"),
                None => format!("remove it or fix its spelling; known here: {known}"),
            };
            self.diagnostics.push(
                Diagnostic::error("config-unknown-key", FILE, format!("unknown {what} `{name}` {place}"))
                    .at_span(self.source, key.span())
                    .with_help(help),
            );
        }
    }
}

/// "a string", "an integer".
fn article(type_name: &str) -> String {
    let vowel = type_name.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {type_name}", if vowel { "an" } else { "a" })
}

/// Parses `keystone.toml` whole: the settings it could read (defaults elsewhere) and every
/// problem found. `default_name` stands in for a missing `name`.
pub fn parse(source: &str, default_name: &str) -> (Settings, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let (document, errors) = DeTable::parse_recoverable(source);
    for err in &errors {
        diagnostics.push(toml_diagnostic(FILE, source, err));
    }
    let mut top =
        Section { name: "", table: Some(document.get_ref()), asked: Vec::new(), source, diagnostics: &mut diagnostics };
    let name = top.get("name", Setting::default_value(String::new()));
    let settings = Settings {
        server: top.table("server", |s| {
            let d = ServerSettings::default();
            ServerSettings {
                host: s.get("host", d.host),
                port: s.get("port", d.port),
                secure: s.get("secure", d.secure),
                body_limit: s.get("body_limit", d.body_limit),
                allowed_hosts: s.get("allowed_hosts", d.allowed_hosts),
                header_timeout: s.get("header_timeout", d.header_timeout),
                body_timeout: s.get("body_timeout", d.body_timeout),
                max_connections: s.get("max_connections", d.max_connections),
            }
        }),
        session: top.table("session", |s| {
            let d = SessionSettings::default();
            SessionSettings {
                cookie: s.get("cookie", d.cookie),
                expiry: s.get("expiry", d.expiry),
                store: s.get("store", d.store),
            }
        }),
        sockets: top.table("sockets", |s| {
            let d = SocketSettings::default();
            SocketSettings {
                allowed_origins: s.get("allowed_origins", d.allowed_origins),
                adapter: s.get("adapter", d.adapter),
                max_payload: s.get("max_payload", d.max_payload),
                max_sockets: s.get("max_sockets", d.max_sockets),
            }
        }),
        scripts: top
            .table("scripts", |s| ScriptSettings { timeout: s.get("timeout", ScriptSettings::default().timeout) }),
        database: top.table("database", |s| DatabaseSettings { url: s.get("url", DatabaseSettings::default().url) }),
        admin: top.table("admin", |s| {
            let d = AdminSettings::default();
            AdminSettings {
                path: s.get("path", d.path),
                user_list: s.get("user_list", d.user_list),
                nav: s.get("nav", d.nav),
            }
        }),
        name: name.clone(),
    };
    top.finish();
    let mut settings = settings;
    // Only a file that parsed can be said to lack `name`; a syntax error already explains it.
    if settings.name.value.is_empty() {
        if errors.is_empty() && name.span.is_none() {
            diagnostics.push(
                Diagnostic::error("config-value", FILE, "keystone.toml has no `name`")
                    .at(source, 1, 1)
                    .with_help("add name = \"myapp\" at the top (it prefixes Redis keys and shows in the terminal)"),
            );
        }
        settings.name = Setting::default_value(default_name.to_string());
    }
    if let Err(why) = valid_admin_path(&settings.admin.path) {
        let span = settings.admin.path.span.clone().unwrap_or(0..0);
        diagnostics.push(
            Diagnostic::error("config-value", FILE, format!("admin path `{}` {why}", settings.admin.path.value))
                .at_span(source, span)
                .with_help("write path = \"/keystone\""),
        );
        settings.admin.path = AdminSettings::default().path;
    }
    (settings, diagnostics)
}

/// Where the Admin UI may live: an absolute path of plain segments, not the site's root
/// (the admin answers everything under its path, so `/` would hide every page of the app).
fn valid_admin_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("must start with `/`");
    }
    if path == "/" || path.ends_with('/') {
        return Err("must name a folder such as `/keystone` (not `/`, no trailing `/`)");
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.');
    if !path.chars().all(plain) || path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
        return Err("may hold only letters, digits, `-`, `_`, `.` and single `/` between segments");
    }
    Ok(())
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: Setting::default_value("app".into()),
            server: ServerSettings::default(),
            session: SessionSettings::default(),
            sockets: SocketSettings::default(),
            scripts: ScriptSettings::default(),
            database: DatabaseSettings::default(),
            admin: AdminSettings::default(),
        }
    }
}

/// Turns a TOML parse error into a diagnostic at the error's span.
pub fn toml_diagnostic(file: &str, source: &str, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().trim().to_string();
    let first_line = message.lines().next().unwrap_or("invalid toml").to_string();
    let d = Diagnostic::error("toml-syntax", file, crate::diagnostic::lowercase_first(&first_line))
        .with_help("fix the TOML syntax at this position; see https://toml.io");
    match err.span() {
        Some(span) => d.at_span(source, span),
        None => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(source: &str) -> Vec<(&'static str, usize, String)> {
        parse(source, "app").1.into_iter().map(|d| (d.code, d.line, d.message)).collect()
    }

    #[test]
    fn defaults_fill_what_is_not_written() {
        let (settings, found) = parse("name = \"shop\"\n", "x");
        assert!(found.is_empty(), "{found:#?}");
        assert_eq!(settings.name.value, "shop");
        assert_eq!(*settings.server.port, 3000);
        assert_eq!(*settings.session.store, Store::Sqlite);
        assert_eq!(*settings.sockets.adapter, SocketAdapter::Local);
        assert_eq!(*settings.sockets.max_payload, Size(1024 * 1024));
        assert_eq!(*settings.scripts.timeout, Duration::from_secs(1));
        assert_eq!(*settings.database.url, Database::Sqlite);
        assert_eq!((settings.admin.path.as_str(), settings.admin.user_list.as_str()), ("/keystone", "User"));
        assert!(settings.server.allowed_hosts.is_empty());
    }

    #[test]
    fn values_are_typed_and_keep_their_spans() {
        let source = "name = \"shop\"\n[session]\nstore = \"redis://127.0.0.1:6379\"\n[database]\nurl = \"postgresql://u@db/shop\"\n[sockets]\nmax_payload = \"64KB\"\n[scripts]\ntimeout = \"250ms\"\n";
        let (settings, found) = parse(source, "x");
        assert!(found.is_empty(), "{found:#?}");
        let Store::Redis(url) = &*settings.session.store else { panic!("{:?}", settings.session.store) };
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        assert_eq!(&source[settings.session.store.span.clone().unwrap()], "\"redis://127.0.0.1:6379\"");
        assert!(matches!(&*settings.database.url, Database::Postgres(u) if u.scheme() == "postgresql"));
        assert_eq!(*settings.sockets.max_payload, Size(64 * 1024));
        assert_eq!(*settings.scripts.timeout, Duration::from_millis(250));
    }

    #[test]
    fn every_problem_of_the_file_in_one_pass() {
        let source = "name = \"shop\"\n[sesion]\n[server]\nport = \"3000\"\n[sockets]\nadapter = \"redis\"\n";
        let found = parse(source, "x").1;
        let got: Vec<_> = found.iter().map(|d| (d.code, d.line)).collect();
        assert_eq!(got, [("config-type", 4), ("config-value", 6), ("config-unknown-key", 2)], "{found:#?}");
        assert!(found[0].message.contains("must be an integer"), "{:?}", found[0].message);
        assert_eq!(found[0].help.as_deref(), Some("remove the quotes: port = 3000"));
        assert!(found[2].help.as_deref().unwrap().contains("did you mean `session`?"), "{:?}", found[2].help);
    }

    #[test]
    fn max_connections_is_a_positive_whole_number() {
        let (settings, found) = parse("name = \"a\"\n[server]\nmax_connections = 250\n", "x");
        assert!(found.is_empty(), "{found:#?}");
        assert_eq!(settings.server.max_connections.get(), 250);
        assert_eq!(parse("name = \"a\"\n", "x").0.server.max_connections.get(), 10_000);
        for bad in ["0", "-1", "4294967296"] {
            let got = codes(&format!("name = \"a\"\n[server]\nmax_connections = {bad}\n"));
            assert_eq!(
                got.iter().map(|(code, line, _)| (*code, *line)).collect::<Vec<_>>(),
                [("config-value", 3)],
                "{bad}"
            );
        }
        assert_eq!(codes("name = \"a\"\n[server]\nmax_connections = \"10\"\n")[0].0, "config-type");
    }

    #[test]
    fn admin_paths_that_would_hide_the_site_or_break_urls_are_refused() {
        for good in ["/keystone", "/admin/v2", "/my-admin_1"] {
            assert!(valid_admin_path(good).is_ok(), "{good}");
        }
        for bad in ["keystone", "/", "/keystone/", "/a b", "/a?b", "//x", "/a/../b", "/{x}"] {
            assert!(valid_admin_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn admin_nav_groups_lists_in_file_order() {
        let source = "name = \"a\"\n[admin.nav]\nPeople = [\"User\"]\nContent = [\"Post\", \"PostCategory\"]\n";
        let (settings, found) = parse(source, "x");
        assert!(found.is_empty(), "{found:#?}");
        let groups = &settings.admin.nav.0;
        assert_eq!(groups[0], ("People".to_string(), vec!["User".to_string()]));
        assert_eq!(groups[1], ("Content".to_string(), vec!["Post".to_string(), "PostCategory".to_string()]));
        let found = parse("name = \"a\"\n[admin]\nnav = [\"Post\"]\n", "x").1;
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].message.contains("`admin.nav` must be a table"), "{:?}", found[0].message);
    }

    #[test]
    fn unknown_keys_suggest_the_closest_one() {
        let found = parse("name = \"a\"\n[server]\nprot = 1\n", "x").1;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].message, "unknown key `prot` in [server]");
        assert!(found[0].help.as_deref().unwrap().starts_with("did you mean `port`?"));
    }

    #[test]
    fn syntax_errors_do_not_hide_the_rest() {
        let got = codes("name = \"a\"\n[server\nport = 3000\n[session]\nstore = \"mongo\"\n");
        assert!(got.iter().any(|(c, ..)| *c == "toml-syntax"), "{got:?}");
        assert!(got.iter().any(|(c, l, _)| *c == "config-value" && *l == 5), "{got:?}");
    }

    #[test]
    fn a_missing_name_is_reported_and_defaulted() {
        let (settings, found) = parse("[server]\nport = 1\n", "folder");
        assert_eq!(settings.name.value, "folder");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, "config-value");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_size("1MB"), Some(Size(1 << 20)));
        assert_eq!(parse_size("2 kb"), Some(Size(2048)));
        assert_eq!(parse_size("12"), Some(Size(12)));
        assert_eq!(parse_size("1TB"), None);
        let found = parse("name = \"a\"\n[database]\nurl = \"mysql://x\"\n", "x").1;
        assert_eq!(found[0].code, "config-value");
    }
}
