//! `keystone-rs routes`: the HTTP routes and socket namespaces of a project.
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::check::Facts;
use crate::cli::Format;

#[derive(Serialize)]
struct HttpRoute {
    methods: String,
    path: String,
    view: String,
    controller: Option<String>,
    template: String,
    guards: Vec<String>,
}

#[derive(Serialize)]
struct Namespace {
    namespace: String,
    script: String,
    listens: Vec<String>,
    emits: Vec<String>,
}

#[derive(Serialize)]
struct Listing {
    routes: Vec<HttpRoute>,
    namespaces: Vec<Namespace>,
}

/// # Errors
/// The folder does not exist (exit 2).
pub fn run(path: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let root = path.canonicalize().with_context(|| format!("no app folder at {}", path.display()))?;
    let project = crate::project::load(&root);
    let facts = Facts::gather(&project);
    let routes = project
        .routes
        .routes
        .iter()
        .map(|r| HttpRoute {
            methods: r.methods.label(),
            path: r.path.clone(),
            view: r.view.clone(),
            controller: project.controllers.get(&r.view).map(|c| c.file.clone()),
            template: format!("templates/{}", crate::project::Project::view_template(&r.view)),
            guards: r.before.clone(),
        })
        .collect();
    let namespaces = project
        .sockets
        .iter()
        .map(|(ns, script)| Namespace {
            namespace: ns.clone(),
            script: script.file.clone(),
            listens: facts.server_listens.get(ns).into_iter().flatten().cloned().collect(),
            emits: facts.server_emits.get(ns).into_iter().flatten().cloned().collect(),
        })
        .collect();
    let listing = Listing { routes, namespaces };
    match format {
        Format::Json => super::write_out(&format!("{}\n", serde_json::to_string_pretty(&listing)?))?,
        Format::Human => super::write_out(&human(&listing))?,
    }
    if project.has_errors() {
        eprintln!("warning: the project has errors; run `keystone-rs check`");
    }
    Ok(ExitCode::SUCCESS)
}

fn human(listing: &Listing) -> String {
    let mut out = String::new();
    let rows: Vec<[String; 5]> = listing
        .routes
        .iter()
        .map(|r| {
            [
                r.methods.clone(),
                r.path.clone(),
                r.view.clone(),
                r.controller.clone().unwrap_or_else(|| "-".into()),
                if r.guards.is_empty() { "-".into() } else { r.guards.join(", ") },
            ]
        })
        .collect();
    let header = ["METHOD", "PATH", "VIEW", "CONTROLLER", "GUARDS"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for ns in &listing.namespaces {
        let _ = writeln!(out, "\nsocket namespace {} ({})", ns.namespace, ns.script);
        let _ = writeln!(out, "  listens: {}", if ns.listens.is_empty() { "-".into() } else { ns.listens.join(", ") });
        let _ = writeln!(out, "  emits:   {}", if ns.emits.is_empty() { "-".into() } else { ns.emits.join(", ") });
    }
    out
}
