//! `check`'s rules over a loaded project: the wiring between routes, controllers, templates,
//! sockets and static files. One entry point, [`load_and_check`], serves `check`, `serve`
//! and the reload loop alike; every rule is an entry of the registry [`rules::ALL`].

pub mod rules;
pub(crate) mod scan;
pub(crate) mod templates;

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{Diagnostic, Severity};
use crate::project::Project;

/// One rule: its stable code, how bad it is, what it finds (the README table's text), and
/// the check itself. Rules whose diagnostics come from the loader (syntax and type errors)
/// have no check: they are listed so that every code is documented and tested.
#[derive(Debug)]
pub struct Rule {
    pub code: &'static str,
    pub severity: Severity,
    /// One line for the README's table of codes.
    pub summary: &'static str,
    pub when: When,
    pub check: Option<fn(&Facts, &mut Vec<Diagnostic>)>,
}

/// When a rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Reported by the loader while reading the files.
    Loading,
    /// On every check (and every `serve` start and reload).
    Always,
    /// Only for production (`check --production`, `serve --production`).
    Production,
}

impl Rule {
    /// A diagnostic of this rule, with its code and severity.
    pub fn at(&self, file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        let d = Diagnostic::error(self.code, file, message);
        Diagnostic { severity: self.severity, ..d }
    }
}

/// Facts gathered once from a project, shared by the rules.
pub struct Facts<'p> {
    pub project: &'p Project,
    /// Every script (compiled or not) with its comments blanked out, keyed by file.
    pub scripts: BTreeMap<String, String>,
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
    /// Which template extends, includes or imports which.
    pub(crate) graph: templates::Graph,
}

/// One file of browser code, with offsets matching its source.
pub struct ClientCode {
    pub file: String,
    pub source: String,
    pub code: String,
}

impl<'p> Facts<'p> {
    pub fn gather(project: &'p Project) -> Self {
        let mut scripts: BTreeMap<String, String> = project
            .middleware
            .iter()
            .chain(project.guards.values())
            .chain(project.controllers.values())
            .chain(project.sockets.values())
            .map(|script| (script.file.clone(), scan::strip_comments(&script.source)))
            .chain(project.lists.hooks.values().map(|hooks| (hooks.file.clone(), scan::strip_comments(&hooks.source))))
            .collect();
        scripts
            .extend(project.broken_scripts.iter().map(|(file, source)| (file.clone(), scan::strip_comments(source))));
        let mut rendered_views: BTreeSet<String> = project.routes.mentioned_views.clone();
        let mut server_emits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut server_listens: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut renderers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut locals = BTreeMap::new();
        for (file, code) in &scripts {
            for view in scan::calls_with_literal(code, "render") {
                renderers.entry(view.text.clone()).or_default().insert(file.clone());
                rendered_views.insert(view.text);
            }
            locals.insert(file.clone(), scan::locals_assigned(code).into_iter().map(|f| f.text).collect());
            let everywhere = server_emits.entry("*".into()).or_default();
            everywhere.extend(scan::calls_with_literal(code, "emit_to_session").into_iter().map(|f| f.text));
            // `io.emit(…)` reaches every socket of a namespace, from any script.
            everywhere.extend(scan::io_emits(code).into_iter().map(|f| f.text));
        }
        for (file, code) in &scripts {
            let Some(namespace) = namespace_of_script(file) else { continue };
            let emits = server_emits.entry(namespace.clone()).or_default();
            emits.extend(scan::calls_with_literal(code, "emit").into_iter().map(|f| f.text));
            emits.extend(scan::calls_with_literal(code, "broadcast").into_iter().map(|f| f.text));
            let listens = server_listens.entry(namespace).or_default();
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
        for (path, source) in &project.public.scripts {
            let code = scan::strip_comments(source);
            client.push(ClientCode { file: format!("public{path}"), source: source.clone(), code });
        }
        let graph = templates::Graph::build(&project.template_sources);
        Facts { project, scripts, rendered_views, renderers, locals, server_listens, server_emits, client, graph }
    }

    /// The blanked source of a script file.
    pub fn code(&self, file: &str) -> &str {
        self.scripts.get(file).map_or("", String::as_str)
    }

    /// The text of a script file as written (for snippets; [`Facts::code`] has comments blanked).
    pub fn script_source(&self, file: &str) -> Option<&str> {
        let p = self.project;
        p.middleware
            .iter()
            .chain(p.guards.values())
            .chain(p.controllers.values())
            .chain(p.sockets.values())
            .find(|s| s.file == file)
            .map(|s| &*s.source)
            .or_else(|| p.lists.hooks.values().find(|h| h.file == file).map(|h| &*h.source))
            .or_else(|| p.broken_scripts.get(file).map(|s| &**s))
    }

    /// Whether the namespace has a script (compiled or not).
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.project.sockets.contains_key(namespace)
            || self.project.broken_scripts.keys().any(|f| namespace_of_script(f).as_deref() == Some(namespace))
    }
}

/// `sockets/index.rhai` → `/`, `sockets/chat.rhai` → `/chat`; `None` for other scripts.
pub fn namespace_of_script(file: &str) -> Option<String> {
    let name = file.strip_prefix("sockets/")?.strip_suffix(".rhai")?;
    Some(if name == "index" { "/".to_string() } else { format!("/{name}") })
}

/// Runs the rules of the registry over a loaded project (the loader's own diagnostics are
/// already in it). `production` adds the deployment rules.
pub fn run(project: &Project, production: bool) -> Vec<Diagnostic> {
    let facts = Facts::gather(project);
    let mut found = Vec::new();
    for rule in rules::ALL {
        let runs = match rule.when {
            When::Loading => false,
            When::Always => true,
            When::Production => production,
        };
        if let (true, Some(check)) = (runs, rule.check) {
            check(&facts, &mut found);
        }
    }
    found
}

/// Loads a project and runs every rule on whatever loaded: what `check` prints, what `serve`
/// shows in development and refuses in production, and what the reload loop reports.
pub fn load_and_check(root: &std::path::Path, production: bool) -> Project {
    let mut project = crate::project::load(root);
    let found = run(&project, production);
    project.diagnostics.extend(found);
    project.diagnostics.sort_by(|a, b| {
        (a.severity != Severity::Error, &a.file, a.line, a.column).cmp(&(
            b.severity != Severity::Error,
            &b.file,
            b.line,
            b.column,
        ))
    });
    project
}
