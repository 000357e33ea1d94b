//! `check`'s rules: the wiring between routes, controllers, templates, sockets and static
//! files, on top of what the loader already reports. `serve` runs the same rules.

pub mod rules;
pub mod scan;

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::Diagnostic;
use crate::project::Project;
use crate::script::Script;

/// Facts gathered once from a project, shared by the rules.
pub struct Facts<'p> {
    pub project: &'p Project,
    /// Every script with its comments blanked out, keyed by file.
    pub scripts: BTreeMap<String, (&'p Script, String)>,
    /// Views that something renders: routes and `render("view")` calls.
    pub rendered_views: BTreeSet<String>,
    /// View → the script files that call `render("view")`.
    pub renderers: BTreeMap<String, BTreeSet<String>>,
    /// Script file → the `locals` keys it assigns.
    pub locals: BTreeMap<String, BTreeSet<String>>,
    /// Namespace → events its script listens for (`socket.on`).
    pub server_listens: BTreeMap<String, BTreeSet<String>>,
    /// Namespace → events its script emits; `*` holds events sent to every namespace.
    pub server_emits: BTreeMap<String, BTreeSet<String>>,
    /// Browser code: template `<script>` blocks and `public/**/*.js`, comments blanked.
    pub client: Vec<ClientCode>,
}

/// One file of browser code, with offsets matching its source.
pub struct ClientCode {
    pub file: String,
    pub source: String,
    pub code: String,
}

impl<'p> Facts<'p> {
    pub fn gather(project: &'p Project) -> Self {
        let mut scripts = BTreeMap::new();
        let all = project
            .middleware
            .iter()
            .chain(project.guards.values())
            .chain(project.controllers.values())
            .chain(project.sockets.values());
        for script in all {
            scripts.insert(script.file.clone(), (script, scan::strip_comments(&script.source)));
        }
        let mut rendered_views: BTreeSet<String> = project.routes.routes.iter().map(|r| r.view.clone()).collect();
        let mut server_emits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut server_listens: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut renderers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut locals = BTreeMap::new();
        for (file, (_, code)) in &scripts {
            for view in scan::calls_with_literal(code, "render") {
                renderers.entry(view.text.clone()).or_default().insert(file.clone());
                rendered_views.insert(view.text);
            }
            locals.insert(file.clone(), scan::locals_assigned(code).into_iter().map(|f| f.text).collect());
            server_emits
                .entry("*".into())
                .or_default()
                .extend(scan::calls_with_literal(code, "emit_to_session").into_iter().map(|f| f.text));
        }
        for (namespace, script) in &project.sockets {
            let code = &scripts[&script.file].1;
            let emits = server_emits.entry(namespace.clone()).or_default();
            emits.extend(scan::calls_with_literal(code, "emit").into_iter().map(|f| f.text));
            emits.extend(scan::calls_with_literal(code, "broadcast").into_iter().map(|f| f.text));
            let listens = server_listens.entry(namespace.clone()).or_default();
            listens.extend(scan::calls_with_literal(code, "on").into_iter().map(|f| f.text));
        }
        let mut client: Vec<ClientCode> = project
            .template_sources
            .iter()
            .map(|(name, source)| ClientCode {
                file: format!("templates/{name}"),
                source: source.clone(),
                code: scan::script_blocks(source),
            })
            .collect();
        for path in project.public.files.keys().filter(|p| p.ends_with(".js")) {
            if let Ok(source) = std::fs::read_to_string(project.public.root.join(path.trim_start_matches('/'))) {
                let code = scan::strip_comments(&source);
                client.push(ClientCode { file: format!("public{path}"), source, code });
            }
        }
        Facts { project, scripts, rendered_views, renderers, locals, server_listens, server_emits, client }
    }

    /// The blanked source of a script file.
    pub fn code(&self, file: &str) -> &str {
        self.scripts.get(file).map_or("", |(_, code)| code.as_str())
    }
}

/// Runs every rule. Diagnostics come sorted by file and position.
pub fn run(project: &Project) -> Vec<Diagnostic> {
    let facts = Facts::gather(project);
    let mut found = Vec::new();
    rules::templates::check(&facts, &mut found);
    rules::links::check(&facts, &mut found);
    rules::sockets::check(&facts, &mut found);
    rules::orphans::check(&facts, &mut found);
    found
}

/// Loads a project and runs the rules: what `check` prints and what `serve` refuses.
pub fn load_and_check(root: &std::path::Path) -> Project {
    let mut project = crate::project::load(root);
    // Rules reason about a project that loaded; on top of load errors they add noise.
    if !project.has_errors() {
        let found = run(&project);
        project.diagnostics.extend(found);
    }
    project.diagnostics.sort_by(|a, b| {
        (a.severity != crate::diagnostic::Severity::Error, &a.file, a.line, a.column).cmp(&(
            b.severity != crate::diagnostic::Severity::Error,
            &b.file,
            b.line,
            b.column,
        ))
    });
    project
}
