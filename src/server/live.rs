//! Browsers follow the project (development only): a script injected into HTML pages listens
//! on the `/__keystone` namespace for reloads, stylesheet swaps and diagnostics.
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::header;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State};
use socketioxide_core::adapter::DefinedAdapter;

use super::App;
use crate::diagnostic::Diagnostic;

pub const NAMESPACE: &str = "/__keystone";
pub const SCRIPT_PATH: &str = "/__keystone/live.js";
const SCRIPT: &str = include_str!("../client/live.js");
const TAG: &str = "<script src=\"/__keystone/live.js\" defer></script>";

/// What changed, as the browser needs to know it.
#[derive(Debug, Clone)]
pub enum Change {
    /// Reload the page.
    Reload,
    /// Only stylesheets changed: URL path → fresh `asset()` URL.
    Css(BTreeMap<String, String>),
    /// The project is broken; these are its errors (the last good version keeps serving).
    Broken(Vec<Diagnostic>),
    /// The project was broken and is not any more: clear the overlay.
    Fixed,
}

/// Inserts the live script before the last `</body>`, or at the end.
pub fn inject(mut html: String) -> String {
    match html.rfind("</body>").or_else(|| html.rfind("</BODY>")) {
        Some(at) => html.insert_str(at, TAG),
        None => html.push_str(TAG),
    }
    html
}

pub async fn serve_script() -> Response {
    ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SCRIPT)
        .into_response()
}

/// Registers the namespace; a browser that connects while the project is broken sees why.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) {
    use socketioxide_core::adapter::Spawnable as _;
    io.ns(NAMESPACE, async |socket: SocketRef<A>, State(app): State<Arc<App>>| {
        let broken = app.broken.lock().unwrap().clone();
        if !broken.is_empty() {
            let _ = socket.emit("diagnostics", &broken);
        }
    })
    .spawn();
}

/// Tells every open page about a change.
pub async fn announce(app: &App, change: &Change) {
    super::with_io!(app.io(), io => announce_on(io, change).await)
}

async fn announce_on<A: Adapter>(io: &SocketIo<A>, change: &Change) {
    let Some(ns) = io.of(NAMESPACE) else { return };
    let sent = match change {
        Change::Reload => ns.emit("reload", &()).await,
        Change::Css(urls) => ns.emit("css", urls).await,
        Change::Broken(diagnostics) => ns.emit("diagnostics", diagnostics).await,
        Change::Fixed => ns.emit("fixed", &()).await,
    };
    if let Err(err) = sent {
        crate::log::debug(&format!("live reload: {err}"));
    }
}
