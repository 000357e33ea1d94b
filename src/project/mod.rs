//! The loader: turns a project folder into plain data (settings, routes, templates, scripts,
//! public files) plus every diagnostic found on the way. `serve` and `check` both use it.

pub mod public;
pub mod routes;
pub mod settings;
pub mod templates;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, relative};
use crate::script::{self, Script};
pub use public::PublicFiles;
pub use routes::RouteTable;
pub use settings::Settings;

/// A loaded project. Parts that failed to load are left out and explained in `diagnostics`.
pub struct Project {
    pub root: PathBuf,
    /// `None` when `keystone.toml` is missing or broken.
    pub settings: Option<Settings>,
    pub routes: RouteTable,
    /// Template name (path under `templates/`) → source.
    pub template_sources: BTreeMap<String, String>,
    pub templates: Arc<minijinja::Environment<'static>>,
    /// `routes/middleware.rhai`, run before every controller.
    pub middleware: Option<Script>,
    /// Guard name → `routes/middleware/NAME.rhai`.
    pub guards: BTreeMap<String, Script>,
    /// View name → `routes/views/NAME.rhai`.
    pub controllers: BTreeMap<String, Script>,
    /// Namespace (`/`, `/chat`) → `sockets/index.rhai`, `sockets/chat.rhai`.
    pub sockets: BTreeMap<String, Script>,
    pub public: Arc<PublicFiles>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Project {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// A project with nothing in it, the placeholder before the first load is published.
    pub fn empty() -> Self {
        Project {
            root: PathBuf::new(),
            settings: None,
            routes: RouteTable::default(),
            template_sources: BTreeMap::new(),
            templates: Arc::new(minijinja::Environment::new()),
            middleware: None,
            guards: BTreeMap::new(),
            controllers: BTreeMap::new(),
            sockets: BTreeMap::new(),
            public: Arc::new(PublicFiles::default()),
            diagnostics: Vec::new(),
        }
    }

    /// Template name of a view: `views/NAME.html`.
    pub fn view_template(view: &str) -> String {
        format!("views/{view}.html")
    }
}

/// Loads the project at `root`. Never fails: problems become diagnostics.
pub fn load(root: &Path) -> Project {
    let mut diagnostics = Vec::new();

    let settings = match std::fs::read_to_string(root.join(settings::FILE)) {
        Ok(source) => settings::parse(&source).map_err(|d| diagnostics.push(d)).ok(),
        Err(err) => {
            diagnostics.push(
                Diagnostic::error("config-missing", settings::FILE, format!("cannot read keystone.toml: {err}"))
                    .with_help("run keystone-rs in an app folder, or create one with `keystone-rs new myapp`"),
            );
            None
        }
    };

    let routes_source = std::fs::read_to_string(root.join(routes::FILE));
    let routes = match &routes_source {
        Ok(source) => {
            let (table, found) = routes::parse(source);
            diagnostics.extend(found);
            table
        }
        Err(err) => {
            diagnostics.push(
                Diagnostic::error("routes-missing", routes::FILE, format!("cannot read the route table: {err}"))
                    .with_help("create routes/index.toml with lines like \"GET /\" = \"index\""),
            );
            RouteTable::default()
        }
    };

    let template_sources: BTreeMap<String, String> = read_tree(root, "templates", "html", &mut diagnostics);
    let public = Arc::new(PublicFiles::scan(root.join("public")));
    let (templates, found) = templates::compile(&template_sources, &routes, &public);
    diagnostics.extend(found);

    let mut compile_all = |folder: &str| -> BTreeMap<String, Script> {
        read_tree(root, folder, "rhai", &mut diagnostics)
            .into_iter()
            .filter_map(|(name, source)| {
                let file = format!("{folder}/{name}");
                let name = name.trim_end_matches(".rhai").to_string();
                script::compile(&file, &source).map(|s| (name, s)).map_err(|d| diagnostics.push(d)).ok()
            })
            .collect()
    };
    let mut route_scripts = compile_all("routes");
    let controllers = strip_folder(&mut route_scripts, "views/");
    let guards = strip_folder(&mut route_scripts, "middleware/");
    let middleware = route_scripts.remove("middleware");
    let sockets = compile_all("sockets")
        .into_iter()
        .map(|(name, s)| (if name == "index" { "/".to_string() } else { format!("/{name}") }, s))
        .collect();

    for route in &routes.routes {
        let template = Project::view_template(&route.view);
        // A view with a controller may answer with json() or redirect() and need no template.
        if !template_sources.contains_key(&template) && !root.join(format!("routes/views/{}.rhai", route.view)).exists()
        {
            diagnostics.push(
                routes::at_name(
                    Diagnostic::error(
                        "view-missing-template",
                        routes::FILE,
                        format!("view `{}` has no template templates/{template} and no controller", route.view),
                    ),
                    routes_source.as_deref().unwrap_or_default(),
                    route.line,
                    &route.view,
                )
                .with_help(format!(
                    "create templates/{template} (or routes/views/{}.rhai), or point the route at an existing view",
                    route.view
                )),
            );
        }
        for guard in &route.before {
            if !guards.contains_key(guard) {
                diagnostics.push(
                    routes::at_name(
                        Diagnostic::error(
                            "guard-missing",
                            routes::FILE,
                            format!("guard `{guard}` has no script routes/middleware/{guard}.rhai"),
                        ),
                        routes_source.as_deref().unwrap_or_default(),
                        route.line,
                        guard,
                    )
                    .with_help(format!("create routes/middleware/{guard}.rhai, or remove it from `before`")),
                );
            }
        }
    }

    Project {
        root: root.to_path_buf(),
        settings,
        routes,
        template_sources,
        templates: Arc::new(templates),
        middleware,
        guards,
        controllers,
        sockets,
        public,
        diagnostics,
    }
}

/// Takes the entries under `folder` out of `scripts`, keyed by the rest of their name.
fn strip_folder(scripts: &mut BTreeMap<String, Script>, folder: &str) -> BTreeMap<String, Script> {
    let names: Vec<String> = scripts.keys().filter(|k| k.starts_with(folder)).cloned().collect();
    names.into_iter().filter_map(|k| scripts.remove(&k).map(|s| (k[folder.len()..].to_string(), s))).collect()
}

/// Reads every `*.ext` file under `root/folder`, keyed by its path relative to that folder.
fn read_tree(root: &Path, folder: &str, ext: &str, diagnostics: &mut Vec<Diagnostic>) -> BTreeMap<String, String> {
    let base = root.join(folder);
    let mut out = BTreeMap::new();
    let mut stack = vec![base.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                match std::fs::read_to_string(&path) {
                    Ok(source) => {
                        out.insert(relative(&base, &path), source);
                    }
                    Err(err) => diagnostics.push(Diagnostic::error(
                        "file-unreadable",
                        relative(root, &path),
                        format!("cannot read file: {err}"),
                    )),
                }
            }
        }
    }
    out
}
