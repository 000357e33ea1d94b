//! The server: one axum router over the loaded project, Socket.IO beside it, sessions shared.

pub(crate) mod client;
mod compress;
pub(crate) mod data;
pub(crate) mod error_page;
pub(crate) mod guard;
pub(crate) mod http;
pub(crate) mod listen;
pub(crate) mod live;
pub(crate) mod pages;
pub mod redis;
pub(crate) mod reload;
pub mod session;
pub(crate) mod signed_cookie;
pub(crate) mod socket_budget;
pub(crate) mod socket_turns;
pub(crate) mod sockets;
pub(crate) mod statics;
pub mod store;
mod template_value;
pub(crate) mod watchdog;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;

use crate::diagnostic::Diagnostic;
use crate::project::Project;
use session::SessionManager;

/// Where socket broadcasts and rooms live.
pub enum SocketBackend {
    /// This process only.
    Local,
    /// Every process sharing this Redis.
    Redis(crate::realtime::cluster::Subscribed),
}

/// State shared by HTTP handlers and sockets. The project is swapped whole, never mutated.
pub struct App {
    project: ArcSwap<Project>,
    pub sessions: SessionManager,
    pub production: bool,
    io: crate::realtime::Io,
    /// The app itself, for the socket handlers it registers.
    me: std::sync::Weak<App>,
    /// Namespaces registered so far (they are added as scripts appear).
    namespaces: Mutex<BTreeSet<String>>,
    /// Errors of the newest edit while the project is broken (the last good one serves).
    pub broken: Mutex<Vec<Diagnostic>>,
    /// The lists (DESIGN §10) of the published project, on their store.
    pub(crate) data: data::Data,
    /// Failed sign-ins per client and per account (DESIGN §11), for `signin()` and the admin.
    pub throttle: Arc<crate::users::Throttle>,
    /// Sockets connected and handshakes on their way, against `[sockets] max_sockets`.
    pub socket_budget: socket_budget::SocketBudget,
}

impl App {
    pub fn project(&self) -> Arc<Project> {
        self.project.load_full()
    }

    pub fn io(&self) -> &crate::realtime::Io {
        &self.io
    }

    /// The app, for the socket handlers it registers (they do not keep it alive).
    pub(crate) fn weak(&self) -> std::sync::Weak<App> {
        self.me.clone()
    }

    /// Publishes a new project: requests in flight finish on the old one; new socket
    /// namespaces are registered (sockets connected before keep their handlers).
    pub fn swap(&self, project: Project) {
        self.publish(Arc::new(project));
    }

    /// Publishes a project already shared: [`App::swap`], or putting back one that served before.
    pub fn publish(&self, project: Arc<Project>) {
        let found = crate::lists::blocking(|| self.data.publish(&project));
        if !found.is_empty() {
            eprint!("{}", crate::diagnostic::render_all(&found, false));
        }
        self.register_namespaces(&project);
        self.project.store(project);
    }

    /// The socket namespaces registered so far.
    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces.lock().unwrap().iter().cloned().collect()
    }

    /// Registers the namespaces of new socket scripts and removes those whose script is gone
    /// (their sockets are disconnected; `/` and the live-reload namespace always stay).
    fn register_namespaces(&self, project: &Project) {
        let mut known = self.namespaces.lock().unwrap();
        let io = self.io();
        for namespace in project.sockets.keys().map(String::as_str).chain(["/"]) {
            if known.insert(namespace.to_string()) {
                sockets::register_namespace(self, namespace);
            }
        }
        let permanent = ["/", live::NAMESPACE, crate::admin::live::NAMESPACE];
        let gone: Vec<String> = known
            .iter()
            .filter(|n| !permanent.contains(&n.as_str()) && !project.sockets.contains_key(*n))
            .cloned()
            .collect();
        for namespace in gone {
            known.remove(&namespace);
            io.remove_namespace(&namespace);
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
/// client and the socket namespaces, with socket rooms on `backend`.
pub fn build(
    project: Project,
    sessions: SessionManager,
    options: Options,
    backend: SocketBackend,
) -> (Router, Arc<App>) {
    let io = crate::realtime::Io::new(socket_config(project.settings.sockets.max_payload.0));
    if let SocketBackend::Redis(link) = backend {
        io.join_cluster(crate::realtime::cluster::Cluster::start(&io, link));
    }
    let app = Arc::new_cyclic(|me| App {
        project: ArcSwap::from_pointee(Project::empty()),
        sessions,
        production: options.production,
        io,
        me: me.clone(),
        namespaces: Mutex::default(),
        broken: Mutex::default(),
        data: data::Data::default(),
        throttle: Arc::default(),
        socket_budget: socket_budget::SocketBudget::default(),
    });
    crate::admin::live::announce_changes(&app);
    let router = assemble(&app, options);
    // A project broken at start still serves in development; open pages show why.
    *app.broken.lock().unwrap() = project.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    let expiry = *project.settings.session.expiry;
    if project.lists.models.contains_key(project.settings.admin.user_list.as_str()) {
        crate::users::warm_up();
    }
    app.swap(project);
    sockets::spawn_expiry_sweep(app.clone(), expiry);
    (router, app)
}

/// Socket.IO on [`guard::ENGINE_PATH`], every incoming message capped at `max_payload` bytes:
/// a polling body, one WebSocket message, and the binary attachments of one event together
/// (a client announcing more attachments or sending a larger one is disconnected).
fn socket_config(max_payload: usize) -> crate::realtime::Config {
    crate::realtime::Config {
        path: guard::ENGINE_PATH,
        max_payload,
        max_attachments: MAX_ATTACHMENTS,
        connect_timeout: socket_budget::CONNECT_WINDOW,
        send_buffer: SEND_BUFFER,
        read_buffer: WS_READ_BUFFER,
        ..crate::realtime::Config::default()
    }
}

/// Messages queued for one client before more are dropped (socket.io has no limit):
/// room enough for a burst of a busy room; the queue takes memory only as it fills.
pub const SEND_BUFFER: usize = 1024;

/// Bytes a WebSocket reads at a time, into a buffer it holds only while reading (larger
/// messages take more).
const WS_READ_BUFFER: usize = 4096;

/// Binary attachments one event may carry.
const MAX_ATTACHMENTS: usize = 64;

fn assemble(app: &Arc<App>, options: Options) -> Router {
    if !options.production {
        live::register(app);
        app.namespaces.lock().unwrap().insert(live::NAMESPACE.to_string());
    }
    crate::admin::live::register(app);
    app.namespaces.lock().unwrap().insert(crate::admin::live::NAMESPACE.to_string());
    // The engine answers every /socket.io/* path, so the client route sits before it.
    client::prepare();
    let mut router = Router::new().route(client::PATH, get(client::serve));
    if !options.production {
        let app = app.clone();
        router = router.route(live::SCRIPT_PATH, get(move || live::serve_script(app.clone())));
    }
    let mut router = router.fallback(answer).with_state(app.clone()).layer(compress::CompressWhenAskedLayer);
    if !options.production {
        router = router.layer(middleware::from_fn_with_state(app.clone(), guard::refuse_foreign_hosts));
    }
    if options.log_requests {
        router = router.layer(middleware::from_fn(log_request));
    }
    router
}

/// Every request but the client script's: the Socket.IO engine answers its path (once the
/// guard let the request through), the admin its own, the project's routes the rest. One
/// handler rather than a middleware each: every page passes here, and each layer cost it a
/// boxed future and a copy of the request's (issue 11).
async fn answer(State(app): State<Arc<App>>, request: Request) -> Response {
    if guard::is_engine_path(request.uri().path()) {
        if let Some(refusal) = guard::refuse_engine_request(&app, &request) {
            return refusal;
        }
        return Box::pin(app.io.handle(request)).await;
    }
    let project = app.project();
    if let Some(rest) = crate::admin::claims(&project, request.uri().path()) {
        // Boxed, as the pages below: the futures stay out of this one, which axum moves.
        return Box::pin(crate::admin::answer(&app, project, rest, request)).await;
    }
    http::dispatch(&app, project, request).await
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    if !guard::is_engine_path(&path) {
        crate::log::request(method.as_str(), &path, response.status().as_u16(), start.elapsed());
    }
    response
}
