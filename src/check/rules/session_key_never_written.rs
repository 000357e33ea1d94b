//! `session-key-never-written`: a socket reads `socket.session.k` that nothing writes.
use std::collections::BTreeSet;

use crate::check::{Facts, Rule, When, scan};
use crate::diagnostic::{Diagnostic, Severity};

pub static RULE: Rule = Rule {
    code: "session-key-never-written",
    severity: Severity::Warning,
    summary: "`socket.session.k` read in a socket script but written nowhere",
    when: When::Always,
    check: Some(check),
};

fn check(facts: &Facts, out: &mut Vec<Diagnostic>) {
    let written: BTreeSet<String> =
        facts.scripts.values().flat_map(|code| scan::session_writes(code)).map(|f| f.text).collect();
    for script in facts.project.sockets.values() {
        let mut seen = BTreeSet::new();
        for read in scan::socket_session_reads(facts.code(&script.file)) {
            if !written.contains(&read.text) && seen.insert(read.text.clone()) {
                out.push(
                    RULE.at(&script.file, format!("`socket.session.{}` is read but nothing ever writes it", read.text))
                        .at_span(&script.source, read.span)
                        .with_help(format!(
                            "set `session.{}` in a controller (or `socket.session.{}` in a handler), or fix the key",
                            read.text, read.text
                        )),
                );
            }
        }
    }
}
