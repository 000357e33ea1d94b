//! `deployment-shares-nothing` (production): sessions and sockets not shared alike across
//! nodes.
use crate::check::{Facts, Rule, When};
use crate::diagnostic::{Diagnostic, Severity};
use crate::project::settings::FILE;

pub static RULE: Rule = Rule {
    code: "deployment-shares-nothing",
    severity: Severity::Warning,
    summary: "sessions and sockets not shared alike across nodes (one on Redis, the other not)",
    when: When::Production,
    check: Some(check),
};

/// Warns when sessions and sockets disagree about being shared: a Redis session store with
/// the local socket adapter (broadcasts stay on one node), or the Redis adapter with a
/// sqlite or memory store (a session made on one node is unknown on the others).
fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let settings = &facts.project.settings;
    let shared_sessions = settings.session.store.is_shared();
    if shared_sessions == settings.sockets.adapter.is_shared() {
        return;
    }
    let (span, message, help) = if shared_sessions {
        (
            settings.sockets.adapter.span.clone().or(settings.session.store.span.clone()),
            "sessions are shared through redis but sockets are not: broadcasts and rooms stay on one node",
            "set [sockets] adapter to the same \"redis://…\" URL as [session] store, or run a single node",
        )
    } else {
        (
            settings.session.store.span.clone().or(settings.sockets.adapter.span.clone()),
            "sockets are shared through redis but sessions are not: a session made on one node is unknown on the others",
            "set [session] store to the same \"redis://…\" URL as [sockets] adapter, or run a single node",
        )
    };
    let d = RULE.at(FILE, message).with_help(help);
    out.push(match span {
        Some(span) => d.at_span(facts.project.source(FILE), span),
        None => d,
    });
}
