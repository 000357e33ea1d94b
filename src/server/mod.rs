//! The server: one axum router over the loaded project, Socket.IO beside it, sessions shared.

pub(crate) mod client;
pub(crate) mod data;
pub(crate) mod engine_request;
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
use socketioxide::adapter::{Adapter, Emitter, LocalAdapter};
use socketioxide::layer::SocketIoLayer;
use tower_http::compression::CompressionLayer;

use crate::diagnostic::Diagnostic;
use crate::project::Project;
use session::SessionManager;

/// The Redis adapter of socketioxide-redis, through fred.
pub type RedisAdapter = socketioxide_redis::FredAdapter<Emitter>;

/// The Socket.IO server, on the adapter `[sockets] adapter` names.
#[derive(Clone)]
pub enum Io {
    Local(SocketIo<LocalAdapter>),
    Redis(SocketIo<RedisAdapter>),
}

/// Runs `$body` with `$io` bound to the `SocketIo` of whichever adapter is in use.
macro_rules! with_io {
    ($which:expr, $io:ident => $body:expr) => {
        match $which {
            $crate::server::Io::Local($io) => $body,
            $crate::server::Io::Redis($io) => $body,
        }
    };
}
pub(crate) use with_io;

/// Where socket broadcasts and rooms live.
pub enum SocketBackend {
    /// This process only.
    Local,
    /// Every process sharing this Redis.
    Redis(socketioxide_redis::RedisAdapterCtr<socketioxide_redis::drivers::fred::FredDriver>),
}

/// State shared by HTTP handlers and sockets. The project is swapped whole, never mutated.
pub struct App {
    project: ArcSwap<Project>,
    pub sessions: SessionManager,
    pub production: bool,
    io: OnceLock<Io>,
    /// Namespaces registered with socketioxide so far (they are added as scripts appear).
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

    pub fn io(&self) -> &Io {
        self.io.get().expect("socket.io is set up in build()")
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

    /// Waits (up to `limit`) until every registered namespace accepts connections: with a
    /// shared adapter a namespace first subscribes to its channels.
    pub async fn namespaces_ready(&self, limit: std::time::Duration) -> bool {
        let start = Instant::now();
        loop {
            let names = self.namespace_names();
            let ready = with_io!(self.io(), io => names.iter().all(|n| io.of(n).is_some()));
            if ready || start.elapsed() > limit {
                return ready;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
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
                with_io!(io, io => sockets::register_namespace(io, namespace));
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
            with_io!(io, io => io.delete_ns(&namespace));
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
    let app = Arc::new(App {
        project: ArcSwap::from_pointee(Project::empty()),
        sessions,
        production: options.production,
        io: OnceLock::new(),
        namespaces: Mutex::default(),
        broken: Mutex::default(),
        data: data::Data::default(),
        throttle: Arc::default(),
        socket_budget: socket_budget::SocketBudget::default(),
    });
    crate::admin::live::announce_changes(&app);
    let max_payload = project.settings.sockets.max_payload.0;
    let router = match backend {
        SocketBackend::Local => {
            let (layer, io) = socket_builder(max_payload).with_state(app.clone()).build_layer();
            assemble(&app, layer, io, Io::Local, options)
        }
        SocketBackend::Redis(adapter) => {
            let (layer, io) =
                socket_builder(max_payload).with_adapter::<RedisAdapter>(adapter).with_state(app.clone()).build_layer();
            assemble(&app, layer, io, Io::Redis, options)
        }
    };
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
/// (a client announcing more attachments or sending a larger one is disconnected). A WebSocket
/// reads at most 1 KiB at a time into a buffer of that size (socketioxide's 4 KiB per socket
/// is most of what a chat message needs four times over; larger messages take more reads).
fn socket_builder(max_payload: usize) -> socketioxide::SocketIoBuilder {
    let parser = socketioxide::ParserConfig::common()
        .max_incoming_binary_buf_size(max_payload)
        .max_incoming_binaries(MAX_ATTACHMENTS)
        .packet_completion_timeout(std::time::Duration::from_secs(10));
    SocketIo::builder()
        .req_path(guard::ENGINE_PATH)
        .max_payload(max_payload as u64)
        .ws_max_message_size(max_payload)
        .ws_max_frame_size(max_payload)
        .ws_read_buffer_size(WS_READ_BUFFER)
        .max_buffer_size(SEND_BUFFER)
        .connect_timeout(socket_budget::CONNECT_WINDOW)
        .with_parser(parser)
}

/// Messages queued for one client before more are dropped (socketioxide's default is 128):
/// room enough for a burst of a busy room; the queue takes memory only as it fills.
pub const SEND_BUFFER: usize = 1024;

/// Bytes a WebSocket reads at a time (see [`socket_builder`]).
const WS_READ_BUFFER: usize = 1024;

/// Binary attachments one event may carry.
const MAX_ATTACHMENTS: usize = 64;

fn assemble<A: Adapter + socketioxide_core::adapter::DefinedAdapter>(
    app: &Arc<App>,
    layer: SocketIoLayer<A>,
    io: SocketIo<A>,
    wrap: fn(SocketIo<A>) -> Io,
    options: Options,
) -> Router {
    if !options.production {
        live::register(&io);
        app.namespaces.lock().unwrap().insert(live::NAMESPACE.to_string());
    }
    crate::admin::live::register(&io);
    app.namespaces.lock().unwrap().insert(crate::admin::live::NAMESPACE.to_string());
    let _ = app.io.set(wrap(io));
    let pages = Router::new()
        .fallback(http::dispatch)
        .layer(middleware::from_fn_with_state(app.clone(), crate::admin::route))
        .layer(layer)
        .layer(middleware::from_fn_with_state(app.clone(), guard::refuse_foreign_origins))
        .with_state(app.clone());
    // socketioxide answers every /socket.io/* path, so the client route sits outside its layer.
    client::prepare();
    let mut router = Router::new().route(client::PATH, get(client::serve));
    if !options.production {
        let app = app.clone();
        router = router.route(live::SCRIPT_PATH, get(move || live::serve_script(app.clone())));
    }
    // Compress what is worth it, fast: small pages gain nothing, and brotli at its default
    // quality costs more CPU than rendering them.
    use tower_http::compression::predicate::{NotForContentType, Predicate as _, SizeAbove};
    let compression = CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest).compress_when(
        SizeAbove::new(1024).and(NotForContentType::GRPC).and(NotForContentType::IMAGES).and(NotForContentType::SSE),
    );
    let mut router = router.fallback_service(pages).layer(compression);
    if !options.production {
        router = router.layer(middleware::from_fn_with_state(app.clone(), guard::refuse_foreign_hosts));
    }
    if options.log_requests {
        router = router.layer(middleware::from_fn(log_request));
    }
    router
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
