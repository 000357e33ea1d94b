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

/// The live script, preceded by where the overlay's file:line links lead (only when the
/// developer named an editor in `KEYSTONE_EDITOR`: the project's folder is not told otherwise).
pub async fn serve_script(app: Arc<App>) -> Response {
    let editor = editor_template(std::env::var("KEYSTONE_EDITOR").ok().as_deref())
        .map(|template| serde_json::json!({ "template": template, "root": app.project().root.to_string_lossy() }));
    let body = format!("window.__keystoneEditor = {};\n{SCRIPT}", editor.unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response()
}

/// The link template of `KEYSTONE_EDITOR`: a known editor's name, or a URL of your own with
/// `{file}`, `{line}` and `{column}` (`vscode://file{file}:{line}:{column}`).
pub fn editor_template(setting: Option<&str>) -> Option<String> {
    let setting = setting?.trim();
    let known = match setting.to_ascii_lowercase().as_str() {
        "" => return None,
        "vscode" | "code" => "vscode://file{file}:{line}:{column}",
        "vscode-insiders" | "code-insiders" => "vscode-insiders://file{file}:{line}:{column}",
        "vscodium" | "codium" => "vscodium://file{file}:{line}:{column}",
        "cursor" => "cursor://file{file}:{line}:{column}",
        "windsurf" => "windsurf://file{file}:{line}:{column}",
        "zed" => "zed://file{file}:{line}:{column}",
        "idea" | "intellij" | "rustrover" | "webstorm" | "phpstorm" => "idea://open?file={file}&line={line}",
        "sublime" | "subl" => "subl://open?url=file://{file}&line={line}&column={column}",
        "textmate" | "mate" => "txmt://open?url=file://{file}&line={line}&column={column}",
        "emacs" => "emacs://open?url=file://{file}&line={line}&column={column}",
        "macvim" | "mvim" => "mvim://open?url=file://{file}&line={line}&column={column}",
        _ if setting.contains("://") => return Some(setting.to_string()),
        _ => return None,
    };
    Some(known.to_string())
}

/// Registers the namespace; a browser that connects while the project is broken sees why.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) {
    use socketioxide_core::adapter::Spawnable as _;
    io.ns(NAMESPACE, async |socket: SocketRef<A>, State(app): State<Arc<App>>| {
        socket.extensions.insert(Arc::new(app.socket_budget.connected()));
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

#[cfg(test)]
mod tests {
    use super::editor_template;

    #[test]
    fn keystone_editor_names_an_editor_or_gives_a_url() {
        assert_eq!(editor_template(Some("vscode")).as_deref(), Some("vscode://file{file}:{line}:{column}"));
        assert_eq!(editor_template(Some("Cursor")).as_deref(), Some("cursor://file{file}:{line}:{column}"));
        assert_eq!(editor_template(Some("myeditor://open?f={file}")).as_deref(), Some("myeditor://open?f={file}"));
        assert_eq!(editor_template(Some("nano")), None, "no URL scheme to open it with");
        assert_eq!(editor_template(None), None);
    }
}
