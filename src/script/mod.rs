//! Rhai scripting: one sandboxed engine for controllers, middleware, guards and sockets.
//!
//! Scripts run synchronously, on the script pool or, when they cannot block, inline on the
//! async worker ([`inline`]), with a time budget, and record their effects (a response, emits,
//! joins) through one recorder ([`effects`]); the server applies those effects once the script
//! returns.

pub(crate) mod controller;
pub(crate) mod effects;
pub(crate) mod inline;
pub(crate) mod io_api;
pub(crate) mod rate_limit;
pub(crate) mod socket_api;

use std::sync::{Arc, OnceLock};

use rhai::{AST, Dynamic, Engine, EvalAltResult};

use crate::diagnostic::Diagnostic;

/// A compiled script and the project-relative file it came from.
#[derive(Clone)]
pub struct Script {
    pub file: String,
    /// The source, for the check rules' scanners.
    pub source: Arc<str>,
    pub ast: Arc<AST>,
    /// Whether its runs may go inline on the async workers ([`inline`]).
    inline: Arc<inline::Inline>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Script({})", self.file)
    }
}

/// Limits that turn a runaway script into an error instead of a hung worker.
pub const MAX_OPERATIONS: u64 = 2_000_000;

/// Items in one array, and bytes in one BLOB (binary attachments arrive as BLOBs).
pub const MAX_ARRAY: usize = 1024 * 1024;

/// The token a script is stopped with when its time budget is spent.
const BUDGET_SPENT: &str = "keystone:budget";

/// The token an inline run is stopped with at the inline limits (it runs again on the pool).
const OVER_INLINE_LIMITS: &str = "keystone:inline";

/// The one engine every script runs on (Send + Sync with rhai's `sync` feature).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(build_engine)
}

fn build_engine() -> Engine {
    let mut engine = Engine::new();
    // Sandbox: no `import` from the file system, no `eval`, bounded work and memory.
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_string_size(1024 * 1024);
    // Rhai's array limit is also its BLOB limit: a binary attachment as large as the default
    // `[sockets] max_payload` (1 MiB) must reach its handler. A runaway `push` loop (Rhai
    // re-measures an array after each change) is stopped by the time budget instead.
    engine.set_max_array_size(MAX_ARRAY);
    engine.set_max_map_size(10_000);
    // The wall-clock budget: Rhai's size re-checks are not counted as operations, so a
    // script inside every limit can still run for seconds. Reading the clock every 16
    // operations keeps the check cheap. Inline runs also stop at the inline limits.
    engine.on_progress(|operations| {
        if operations % 16 != 0 {
            return None;
        }
        effects::progress(operations).map(rhai::Dynamic::from)
    });
    engine.on_print(crate::log::script_print);
    engine.on_debug(|text, _source, pos| crate::log::script_print(&format!("[debug {pos}] {text}")));
    engine.register_fn("env", |name: &str| env_var(name));
    engine.register_fn("env", |name: &str, default: Dynamic| {
        env_var(name).map(|v| if v.is_unit() { default } else { v })
    });
    controller::register(&mut engine);
    socket_api::register(&mut engine);
    io_api::register(&mut engine);
    rate_limit::register(&mut engine);
    crate::lists::rhai_api::register(&mut engine);
    crate::users::script_api::register(&mut engine);
    engine
}

/// The variable that signs session cookies: a script that could read it could forge them.
pub const SECRET_VAR: &str = "KEYSTONE_SECRET";

/// `env("NAME")`: a variable of the environment (or of `.env`, which serve reads at start),
/// `()` when unset; `env("NAME", default)` falls back to `default`. The secret is refused.
fn env_var(name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    if name.eq_ignore_ascii_case(SECRET_VAR) {
        return Err(format!(
            "env(\"{name}\") is refused: the secret signs session cookies and is never readable by scripts"
        )
        .into());
    }
    Ok(std::env::var(name).map_or(Dynamic::UNIT, Dynamic::from))
}

/// Compiles a script; a syntax error becomes a diagnostic at its line and column.
pub fn compile(file: &str, source: &str) -> Result<Script, Box<Diagnostic>> {
    match engine().compile(source) {
        Ok(ast) => Ok(Script {
            file: file.to_string(),
            source: source.into(),
            ast: Arc::new(ast),
            inline: Arc::new(inline::Inline::of_source(source)),
        }),
        Err(err) => {
            let pos = err.position();
            let message = crate::diagnostic::lowercase_first(&err.err_type().to_string());
            Err(Box::new(
                Diagnostic::error("rhai-syntax", file, message)
                    .at(source, pos.line().unwrap_or(0), pos.position().unwrap_or(0))
                    .with_help("fix the script's syntax; see https://rhai.rs/book/ for the language"),
            ))
        }
    }
}

/// A script failure while handling a request or an event, with where it happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {message}", file, if *line > 0 { format!(":{line}") } else { String::new() })]
pub struct ScriptError {
    pub file: String,
    pub line: usize,
    /// 1-based column of the failing expression; 0 when unknown.
    pub column: usize,
    pub message: String,
    /// The script needed the database and it is down: a 503, not a 500.
    pub unavailable: bool,
}

impl ScriptError {
    pub fn new(file: &str, err: &EvalAltResult) -> Self {
        let message = match err {
            EvalAltResult::ErrorTooManyOperations(_) => {
                format!("script stopped after {MAX_OPERATIONS} operations (an endless loop?)")
            }
            EvalAltResult::ErrorTerminated(token, _)
                if token.clone().into_string().is_ok_and(|t| t == BUDGET_SPENT) =>
            {
                "script stopped: it ran past its time budget ([scripts] timeout in keystone.toml)".to_string()
            }
            // Never shown: the run is dropped and made again on the pool.
            EvalAltResult::ErrorTerminated(token, _)
                if token.clone().into_string().is_ok_and(|t| t == OVER_INLINE_LIMITS) =>
            {
                "script stopped inline: it runs again on the script pool".to_string()
            }
            // A script API refusing its arguments (`redirect`, `status`): its own message.
            EvalAltResult::ErrorRuntime(value, _) if value.is_string() => {
                value.clone().into_string().unwrap_or_default()
            }
            other => other.to_string(),
        };
        let unavailable = crate::lists::rhai_api::is_unavailable(err);
        let pos = err.position();
        ScriptError {
            file: file.to_string(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            message,
            unavailable,
        }
    }

    /// A failure around a script rather than in it.
    pub fn internal(message: &str) -> Self {
        ScriptError { file: "(script)".into(), line: 0, column: 0, message: message.into(), unavailable: false }
    }
}

/// A script error raised by a script API (bad arguments), shown with the script's line.
pub fn api_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(rhai::Dynamic::from(message.into()), rhai::Position::NONE))
}

/// How deep a value a script hands out (session, locals, emits, `json`, acks) may nest, the
/// value of a key being level 1. Saving, sending and rendering such values recurse on the
/// async workers' ordinary stacks, so a deeper value is a script error: one script once
/// aborted the whole server with a 1,100-level array.
pub const MAX_VALUE_DEPTH: usize = 64;

/// Whether `value` nests deeper than [`MAX_VALUE_DEPTH`]; the walk stops at the limit, so it
/// needs little stack whatever the value.
pub fn too_deep(value: &Dynamic) -> bool {
    fn past(value: &Dynamic, depth: usize) -> bool {
        if depth > MAX_VALUE_DEPTH {
            return true;
        }
        if !value.is_array() && !value.is_map() {
            return false; // most values: no lock to take, no type to compare
        }
        if let Some(array) = value.read_lock::<rhai::Array>() {
            return array.iter().any(|v| past(v, depth + 1));
        }
        if let Some(map) = value.read_lock::<rhai::Map>() {
            return map.values().any(|v| past(v, depth + 1));
        }
        false
    }
    past(value, 1)
}

/// The message for the first entry of `map` (the script's `session` or `locals`) that nests
/// too deep, if any.
pub fn deep_entry(what: &str, map: &rhai::Map) -> Option<String> {
    map.iter()
        .find(|(_, v)| too_deep(v))
        .map(|(key, _)| format!("{what} value `{key}` is nested deeper than {MAX_VALUE_DEPTH} levels; flatten it"))
}

/// [`to_json`] for a value a script hands out (an emit, `json`): too deep is a script error.
///
/// # Errors
/// The value nests deeper than [`MAX_VALUE_DEPTH`].
pub fn json_out(value: &Dynamic) -> Result<serde_json::Value, Box<EvalAltResult>> {
    if too_deep(value) {
        return Err(api_error(format!("the value is nested deeper than {MAX_VALUE_DEPTH} levels; flatten it")));
    }
    Ok(to_json(value))
}

/// JSON value to a Rhai value (objects become maps, integers stay integers).
pub fn to_dynamic(value: &serde_json::Value) -> Dynamic {
    // What `rhai::serde::to_dynamic` makes, built directly (pages of items go through here).
    use serde_json::Value;
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Dynamic::from_int(i),
            (None, Some(u)) => Dynamic::from_float(u as rhai::FLOAT),
            (None, None) => Dynamic::from_float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(a) => Dynamic::from_array(a.iter().map(to_dynamic).collect()),
        Value::Object(m) => Dynamic::from_map(map_to_rhai(m)),
    }
}

/// Rhai value to JSON; values JSON cannot hold (function pointers…) become null.
pub fn to_json(value: &Dynamic) -> serde_json::Value {
    if let Some(page) = crate::lists::page::in_value(value) {
        return to_json(&Dynamic::from_map(page.to_map()));
    }
    rhai::serde::from_dynamic(value).unwrap_or(serde_json::Value::Null)
}

/// A JSON object as a Rhai map.
pub fn map_to_rhai(map: &serde_json::Map<String, serde_json::Value>) -> rhai::Map {
    map.iter().map(|(k, v)| (k.as_str().into(), to_dynamic(v))).collect()
}

/// A Rhai map as a JSON object.
pub fn map_to_json(map: &rhai::Map) -> serde_json::Map<String, serde_json::Value> {
    map.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(source: &str) -> Result<(), String> {
        let script = compile("test.rhai", source).map_err(|d| d.message)?;
        engine().run_ast(&script.ast).map_err(|e| ScriptError::new("test.rhai", &e).message)
    }

    #[test]
    fn json_becomes_what_rhai_serde_makes_of_it() {
        let value = serde_json::json!({
            "null": null, "yes": true, "int": -3, "big": u64::MAX, "float": 2.5, "text": "é\0",
            "list": [1, "two", [null], { "k": false }], "empty": {}
        });
        let ours = to_dynamic(&value);
        let theirs = rhai::serde::to_dynamic(&value).unwrap();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        assert_eq!(ours.type_name(), theirs.type_name());
        let big = to_dynamic(&value["big"]);
        assert!(big.is_float(), "{big:?}");
        assert!(to_dynamic(&value["int"]).is_int());
    }

    #[test]
    fn scripts_cannot_import_modules_or_eval() {
        let import = run("import \"secrets\" as s;").unwrap_err();
        assert!(import.contains("secrets"), "{import}");
        assert!(run("eval(\"1\")").is_err());
    }

    #[test]
    fn env_reads_variables_but_never_the_secret() {
        let path = std::env::var("PATH").unwrap();
        let read = |source: &str| {
            let script = compile("test.rhai", source).unwrap();
            engine().eval_ast::<Dynamic>(&script.ast).map_err(|e| e.to_string())
        };
        assert_eq!(read("env(\"PATH\")").unwrap().into_string().unwrap(), path);
        assert!(read("env(\"KEYSTONE_NO_SUCH_VARIABLE\")").unwrap().is_unit());
        assert_eq!(read("env(\"KEYSTONE_NO_SUCH_VARIABLE\", 3)").unwrap().as_int().unwrap(), 3);
        for name in ["KEYSTONE_SECRET", "keystone_secret"] {
            let err = read(&format!("env(\"{name}\")")).unwrap_err();
            assert!(err.contains("never readable"), "{err}");
        }
    }

    #[test]
    fn values_too_deep_to_hand_out_are_script_errors() {
        let deep = |levels| format!("let v = 1; for i in 0..{levels} {{ v = [v]; }} json(v);");
        let err = run(&deep(1100)).unwrap_err();
        assert!(err.contains("nested deeper than 64 levels"), "{err}");
        assert!(run(&deep(63)).is_ok(), "64 levels are allowed");
        assert!(run(&deep(64)).is_err(), "65 are not");
        let mut map = rhai::Map::new();
        map.insert("ok".into(), Dynamic::from(1_i64));
        assert_eq!(deep_entry("session", &map), None);
    }

    #[test]
    fn a_binary_attachment_as_large_as_the_default_max_payload_reaches_a_handler() {
        let script =
            compile("t.rhai", "fn h(data) { let copy = data; let kept = #{ data: copy }; kept.data.len() }").unwrap();
        let call = |len: usize| {
            let blob = Dynamic::from_blob(vec![7u8; len]);
            engine().call_fn::<i64>(&mut rhai::Scope::new(), &script.ast, "h", (blob,)).map_err(|e| e.to_string())
        };
        assert_eq!(call(MAX_ARRAY).unwrap(), MAX_ARRAY as i64, "1 MiB, the default max_payload");
        assert!(call(MAX_ARRAY + 1).unwrap_err().contains("too large"), "{:?}", call(MAX_ARRAY + 1));
    }

    #[test]
    fn runaway_scripts_stop_at_the_limits() {
        assert!(run("loop {}").unwrap_err().contains("operations"));
        assert!(run("let s = \"x\"; loop { s += s; }").is_err());
        assert!(run("fn f(n) { f(n + 1) } f(0);").is_err());
    }

    #[test]
    fn a_script_past_its_time_budget_stops_with_a_clear_error() {
        let script =
            compile("slow.rhai", "let s = \"x\"; loop { s += s; if s.len() > 500000 { s = \"x\"; } }").unwrap();
        let started = std::time::Instant::now();
        let (result, _) = effects::run_here(std::time::Duration::from_millis(50), || {
            engine().run_ast(&script.ast).map_err(|e| ScriptError::new("slow.rhai", &e))
        });
        let err = result.unwrap_err();
        assert!(err.message.contains("time budget"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "stopped at all");
    }
}
