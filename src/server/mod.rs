//! The server: one axum router over the loaded project, Socket.IO beside it, sessions shared.

pub mod client;
pub mod http;
pub mod log;
pub mod pages;
pub mod session;
pub mod sockets;
pub mod statics;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use socketioxide::SocketIo;
use tower_http::compression::CompressionLayer;

use crate::project::Project;
use session::SessionManager;

/// State shared by HTTP handlers and sockets. The project is swapped whole, never mutated.
pub struct App {
    project: ArcSwap<Project>,
    pub sessions: SessionManager,
    pub production: bool,
}

impl App {
    pub fn project(&self) -> Arc<Project> {
        self.project.load_full()
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
    let namespaces: Vec<String> = project.sockets.keys().cloned().collect();
    let app = Arc::new(App { project: ArcSwap::from_pointee(project), sessions, production: options.production });
    let (io_layer, io) = SocketIo::builder().with_state(app.clone()).build_layer();
    sockets::register_namespaces(&io, &namespaces);

    let pages = Router::new().fallback(http::dispatch).layer(io_layer).with_state(app.clone());
    // socketioxide answers every /socket.io/* path, so the client route sits outside its layer.
    let mut router =
        Router::new().route(client::PATH, get(client::serve)).fallback_service(pages).layer(CompressionLayer::new());
    if options.log_requests {
        router = router.layer(middleware::from_fn(log_request));
    }
    (router, app, io)
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
