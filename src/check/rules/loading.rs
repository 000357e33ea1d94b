//! Codes the loader reports while reading the files (syntax, types, unreadable files): they
//! have no check of their own, only their place in the registry.
use crate::check::{Rule, When};
use crate::diagnostic::Severity::Error;

const fn loading(code: &'static str, summary: &'static str) -> Rule {
    Rule { code, severity: Error, summary, when: When::Loading, check: None }
}

pub static CONFIG_MISSING: Rule = loading("config-missing", "no readable `keystone.toml` in the app folder");
pub static TOML_SYNTAX: Rule = loading(
    "toml-syntax",
    "a TOML syntax error in `keystone.toml`, `routes/index.toml`, `models/*.toml` or `updates/*.toml`",
);
pub static CONFIG_UNKNOWN_KEY: Rule =
    loading("config-unknown-key", "a key or table the file does not know, with the closest known one");
pub static CONFIG_TYPE: Rule =
    loading("config-type", "a setting of the wrong type (`port = \"3000\"`), with the type expected");
pub static CONFIG_VALUE: Rule =
    loading("config-value", "a setting of the right type but an unusable value (an unknown store, a bad URL)");
pub static ROUTES_MISSING: Rule = loading("routes-missing", "no readable `routes/index.toml`");
pub static ROUTE_PATH: Rule = loading("route-path", "a route key that is not `\"METHOD /path\"` with a valid path");
pub static ROUTE_VALUE: Rule = loading("route-value", "a route that names no valid view or guard");
pub static ROUTE_DUPLICATE: Rule = loading("route-duplicate", "the same method and path declared twice");
pub static ROUTE_CONFLICT: Rule =
    loading("route-conflict", "paths the router cannot tell apart (`/{a}` beside `/{b}`)");
pub static TEMPLATE_SYNTAX: Rule = loading("template-syntax", "a template that does not compile");
pub static RHAI_SYNTAX: Rule = loading("rhai-syntax", "a script that does not compile");
pub static FILE_UNREADABLE: Rule = loading("file-unreadable", "a template or script that cannot be read");
