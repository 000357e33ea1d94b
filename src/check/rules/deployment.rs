//! Deployment rules (`check --production`, and `serve --production` at start): settings that
//! make several nodes share nothing.
use crate::diagnostic::Diagnostic;
use crate::project::Project;
use crate::project::settings::FILE;

/// Warns when sessions and sockets disagree about being shared: a Redis session store with
/// the local socket adapter (broadcasts stay on one node), or the Redis adapter with a
/// sqlite or memory store (a session made on one node is unknown on the others).
pub fn check(project: &Project) -> Vec<Diagnostic> {
    let Some(settings) = &project.settings else { return Vec::new() };
    let shared_sessions = settings.session.store.starts_with("redis");
    let shared_sockets = settings.sockets.adapter.starts_with("redis");
    if shared_sessions == shared_sockets {
        return Vec::new();
    }
    let source = std::fs::read_to_string(project.root.join(FILE)).unwrap_or_default();
    let (key, message, help) = if shared_sessions {
        (
            "adapter",
            "sessions are shared through redis but sockets are not: broadcasts and rooms stay on one node",
            "set [sockets] adapter to the same \"redis://…\" URL as [session] store, or run a single node",
        )
    } else {
        (
            "store",
            "sockets are shared through redis but sessions are not: a session made on one node is unknown on the others",
            "set [session] store to the same \"redis://…\" URL as [sockets] adapter, or run a single node",
        )
    };
    let offset = source.lines().scan(0, |at, line| {
        let start = *at;
        *at += line.len() + 1;
        Some((start, line))
    });
    let found = offset
        .into_iter()
        .find(|(_, line)| line.trim_start().starts_with(key))
        .map(|(start, line)| (start, line.len()));
    let diagnostic = Diagnostic::warning("deployment-shares-nothing", FILE, message).with_help(help);
    match found {
        Some((start, len)) => vec![diagnostic.at_span(&source, start..start + len)],
        None => vec![diagnostic],
    }
}
