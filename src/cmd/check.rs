//! `keystone-rs check`: loads the project as `serve` does, runs the rules, prints diagnostics.
use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::Format;
use crate::diagnostic::{Diagnostic, render_all, use_color};

#[derive(Serialize)]
struct Report<'a> {
    diagnostics: &'a [Diagnostic],
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
}

/// Exit 0 when clean, 1 on errors (or warnings with `deny_warnings`).
///
/// # Errors
/// The folder does not exist (exit 2).
pub fn run(path: &Path, format: Format, deny_warnings: bool, production: bool) -> anyhow::Result<ExitCode> {
    let root = path.canonicalize().with_context(|| format!("no app folder at {}", path.display()))?;
    let project = crate::check::load_and_check(&root, production);
    let diagnostics = &project.diagnostics;
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    match format {
        Format::Human => super::write_out(&render_all(diagnostics, use_color(std::io::stdout().is_terminal())))?,
        Format::Json => {
            let report = Report { diagnostics, summary: Summary { errors, warnings } };
            super::write_out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        }
    }
    let failed = errors > 0 || (deny_warnings && warnings > 0);
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
