//! The server: one axum router over the loaded project, Socket.IO beside it, sessions shared.

pub mod client;
pub mod http;
pub mod live;
pub mod log;
pub mod pages;
pub mod reload;
pub mod session;
pub mod sockets;
pub mod statics;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use socketioxide::SocketIo;
use tower_http::compression::CompressionLayer;

use crate::diagnostic::Diagnostic;
use crate::project::Project;
use session::SessionManager;

/// State shared by HTTP handlers and sockets. The project is swapped whole, never mutated.
pub struct App {
    project: ArcSwap<Project>,
    pub sessions: SessionManager,
    pub production: bool,
    io: OnceLock<SocketIo>,
    /// Namespaces registered with socketioxide so far (they are added as scripts appear).
    namespaces: Mutex<BTreeSet<String>>,
    /// Errors of the newest edit while the project is broken (the last good one serves).
    pub broken: Mutex<Vec<Diagnostic>>,
}

impl App {
    pub fn project(&self) -> Arc<Project> {
        self.project.load_full()
    }

    pub fn io(&self) -> &SocketIo {
        self.io.get().expect("socket.io is set up in build()")
    }

    /// Publishes a new project: requests in flight finish on the old one; new socket
    /// namespaces are registered (sockets connected before keep their handlers).
    pub fn swap(&self, project: Project) {
        self.register_namespaces(&project);
        self.project.store(Arc::new(project));
    }

    /// The socket namespaces registered so far.
    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces.lock().unwrap().iter().cloned().collect()
    }

    fn register_namespaces(&self, project: &Project) {
        let mut known = self.namespaces.lock().unwrap();
        let io = self.io();
        for namespace in project.sockets.keys().map(String::as_str).chain(["/"]) {
            if known.insert(namespace.to_string()) {
                sockets::register_namespace(io, namespace);
            }
        }
    }
}

/// Options that are not part of the project itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub production: bool,
    /// Print one line per request.
    pub log_requests: bool,
}

/// Builds the whole service for a loaded project: HTTP routes, static files, the socket.io
/// client and the socket namespaces.
pub fn build(project: Project, sessions: SessionManager, options: Options) -> (Router, Arc<App>, SocketIo) {
    let app = Arc::new(App {
        project: ArcSwap::from_pointee(Project::empty()),
        sessions,
        production: options.production,
        io: OnceLock::new(),
        namespaces: Mutex::default(),
        broken: Mutex::default(),
    });
    let (io_layer, io) = SocketIo::builder().with_state(app.clone()).build_layer();
    let _ = app.io.set(io.clone());
    app.swap(project);

    sockets::spawn_expiry_sweep(app.clone());

    let pages = Router::new()
        .fallback(http::dispatch)
        .layer(io_layer)
        .layer(middleware::from_fn_with_state(app.clone(), refuse_foreign_origins))
        .with_state(app.clone());
    // socketioxide answers every /socket.io/* path, so the client route sits outside its layer.
    let mut router = Router::new().route(client::PATH, get(client::serve));
    if !options.production {
        live::register(&io);
        router = router.route(live::SCRIPT_PATH, get(live::serve_script));
    }
    let mut router = router.fallback_service(pages).layer(CompressionLayer::new());
    if options.log_requests {
        router = router.layer(middleware::from_fn(log_request));
    }
    (router, app, io)
}

/// Cross-site WebSocket hijacking: a socket handshake (polling or websocket) from a page of
/// another origin would carry the visitor's cookie, so it is refused before any upgrade unless
/// that origin is listed in `[sockets] allowed_origins`. No `Origin` (non-browser clients) is
/// allowed.
async fn refuse_foreign_origins(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/socket.io/") {
        if let Some(origin) = request.headers().get(::http::header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let host = request.headers().get(::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let own = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
            let listed =
                app.project().settings.as_ref().is_some_and(|s| s.sockets.allowed_origins.iter().any(|o| o == origin));
            if !own && !listed {
                log::error(&format!(
                    "refused a socket handshake from origin {origin} (not this server's; see [sockets] allowed_origins)"
                ));
                return pages::forbidden(
                    "cross-origin socket connections are refused",
                    &format!(
                        "{origin} is not this server's origin; list it in keystone.toml under [sockets] allowed_origins to allow it."
                    ),
                    app.production,
                );
            }
        }
    }
    next.run(request).await
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    if !path.starts_with("/socket.io/") {
        log::request(method.as_str(), &path, response.status().as_u16(), start.elapsed());
    }
    response
}
