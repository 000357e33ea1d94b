//! `deployment-insecure-cookies` (production): session cookies sent without `Secure`.
use crate::check::{Facts, Rule, When};
use crate::diagnostic::{Diagnostic, Severity};
use crate::project::settings::FILE;

pub static RULE: Rule = Rule {
    code: "deployment-insecure-cookies",
    severity: Severity::Warning,
    summary: "session cookies without `Secure` in production (`[server] secure = false`)",
    when: When::Production,
    check: Some(check),
};

/// Warns while `[server] secure` is false: over plain HTTP anyone on the network path can read
/// the session cookie.
fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let secure = &facts.project.settings.server.secure;
    if secure.value {
        return;
    }
    let d = RULE
        .at(FILE, "session cookies are sent without `Secure`: over plain HTTP anyone on the network can take a session")
        .with_help(
            "serve behind HTTPS (a TLS reverse proxy such as Caddy or nginx in front of keystone-rs) and set [server] secure = true",
        );
    out.push(match secure.span.clone() {
        Some(span) => d.at_span(facts.project.source(FILE), span),
        None => d,
    });
}
