//! The loader: turns a project folder into plain data (settings, routes, templates, scripts,
//! public files) plus every diagnostic found on the way. `serve` and `check` both use it.

pub mod lists;
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

/// Where the browser loads keystone-rs's socket.io client (served by the server, known to
/// the link rules).
pub const CLIENT_PATH: &str = "/socket.io/socket.io.js";

/// A loaded project. Parts that failed to load are left out and explained in `diagnostics`.
pub struct Project {
    pub root: PathBuf,
    /// `keystone.toml`, typed; defaults wherever it is missing, broken or silent.
    pub settings: Settings,
    pub routes: RouteTable,
    /// Whether `routes/index.toml` was read and parsed as TOML: rules about what routes
    /// reach stay quiet when there is no table to judge by.
    pub routes_loaded: bool,
    /// Sources of the wiring files (`keystone.toml`, `routes/index.toml`), for diagnostics.
    pub sources: BTreeMap<&'static str, Arc<str>>,
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
    /// Scripts that did not compile: file → source (the rules still scan them).
    pub broken_scripts: BTreeMap<String, Arc<str>>,
    pub public: Arc<PublicFiles>,
    /// `models/` and `updates/` (DESIGN §10).
    pub lists: lists::Lists,
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
            settings: Settings::default(),
            routes: RouteTable::default(),
            routes_loaded: false,
            sources: BTreeMap::new(),
            template_sources: BTreeMap::new(),
            templates: Arc::new(minijinja::Environment::new()),
            middleware: None,
            guards: BTreeMap::new(),
            controllers: BTreeMap::new(),
            sockets: BTreeMap::new(),
            broken_scripts: BTreeMap::new(),
            public: Arc::new(PublicFiles::default()),
            lists: lists::Lists::default(),
            diagnostics: Vec::new(),
        }
    }

    /// Template name of a view: `views/NAME.html`.
    pub fn view_template(view: &str) -> String {
        format!("views/{view}.html")
    }

    /// The source of a wiring file (`keystone.toml`, `routes/index.toml`), or `""`.
    pub fn source(&self, file: &str) -> &str {
        self.sources.get(file).map_or("", |s| s)
    }

    /// Whether `file` (e.g. `routes/views/post.rhai`) exists, compiled or not.
    pub fn has_script(&self, file: &str) -> bool {
        self.broken_scripts.contains_key(file)
            || self
                .middleware
                .iter()
                .chain(self.guards.values())
                .chain(self.controllers.values())
                .chain(self.sockets.values())
                .any(|s| s.file == file)
    }
}

/// Loads the project at `root`. Never fails: problems become diagnostics, and whatever else
/// can be loaded still is.
pub fn load(root: &Path) -> Project {
    let mut diagnostics = Vec::new();
    let mut sources = BTreeMap::new();
    let folder_name = root.file_name().and_then(|n| n.to_str()).unwrap_or("app").to_string();

    let settings = match std::fs::read_to_string(root.join(settings::FILE)) {
        Ok(source) => {
            let (settings, found) = settings::parse(&source, &folder_name);
            diagnostics.extend(found);
            sources.insert(settings::FILE, Arc::from(source));
            settings
        }
        Err(err) => {
            diagnostics.push(
                Diagnostic::error("config-missing", settings::FILE, format!("cannot read keystone.toml: {err}"))
                    .with_help("run keystone-rs in an app folder, or create one with `keystone-rs new myapp`"),
            );
            Settings { name: settings::Setting::default_value(folder_name), ..Settings::default() }
        }
    };

    let (routes, routes_loaded) = match std::fs::read_to_string(root.join(routes::FILE)) {
        Ok(source) => {
            let (table, found) = routes::parse(&source);
            let parsed = !found.iter().any(|d| d.code == "toml-syntax");
            diagnostics.extend(found);
            sources.insert(routes::FILE, Arc::from(source));
            (table, parsed)
        }
        Err(err) => {
            diagnostics.push(
                Diagnostic::error("routes-missing", routes::FILE, format!("cannot read the route table: {err}"))
                    .with_help("create routes/index.toml with lines like \"GET /\" = \"index\""),
            );
            (RouteTable::default(), false)
        }
    };

    let template_sources: BTreeMap<String, String> = read_tree(root, "templates", "html", &mut diagnostics);
    let public = Arc::new(PublicFiles::scan(root.join("public")));
    let (templates, found) = templates::compile(&template_sources, &routes, &public);
    diagnostics.extend(found);

    let mut broken_scripts = BTreeMap::new();
    let mut compile_all = |folder: &str| -> BTreeMap<String, Script> {
        read_tree(root, folder, "rhai", &mut diagnostics)
            .into_iter()
            .filter_map(|(name, source)| {
                let file = format!("{folder}/{name}");
                let name = name.trim_end_matches(".rhai").to_string();
                match script::compile(&file, &source) {
                    Ok(script) => Some((name, script)),
                    Err(d) => {
                        diagnostics.push(*d);
                        broken_scripts.insert(file, Arc::from(source));
                        None
                    }
                }
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

    let lists = lists::load(root, &mut diagnostics);

    Project {
        root: root.to_path_buf(),
        settings,
        routes,
        routes_loaded,
        sources,
        template_sources,
        templates: Arc::new(templates),
        middleware,
        guards,
        controllers,
        sockets,
        broken_scripts,
        public,
        lists,
        diagnostics,
    }
}

/// Takes the entries under `folder` out of `scripts`, keyed by the rest of their name.
fn strip_folder(scripts: &mut BTreeMap<String, Script>, folder: &str) -> BTreeMap<String, Script> {
    let names: Vec<String> = scripts.keys().filter(|k| k.starts_with(folder)).cloned().collect();
    names.into_iter().filter_map(|k| scripts.remove(&k).map(|s| (k[folder.len()..].to_string(), s))).collect()
}

/// Reads every `*.ext` file under `root/folder`, keyed by its path relative to that folder.
pub(crate) fn read_tree(
    root: &Path,
    folder: &str,
    ext: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
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
