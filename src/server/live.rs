//! Browsers follow the project (development only): a script injected into HTML pages listens
//! on the `/__keystone` namespace for reloads, stylesheet swaps and diagnostics.
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::header;
use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;

use crate::realtime::{DisconnectReason, Event, Handler, Socket};

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

/// Registers the live-reload namespace: a page's socket hears of edits, and of a broken
/// project at once when it connects.
pub fn register(app: &App) {
    app.io().add_namespace(NAMESPACE, Arc::new(LiveSockets(app.weak())));
}

struct LiveSockets(Weak<App>);

impl Handler for LiveSockets {
    fn connect(&self, socket: Arc<Socket>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        if let Some(app) = self.0.upgrade() {
            socket.set_data(app.socket_budget.connected());
        }
        Box::pin(async { Ok(()) })
    }

    fn connected(&self, socket: &Arc<Socket>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        if let Some(app) = self.0.upgrade() {
            let broken = app.broken.lock().unwrap().clone();
            if !broken.is_empty() {
                let _ = socket.emit("diagnostics", Some(&serde_json::json!(broken)));
            }
        }
        Box::pin(async {})
    }

    fn event(&self, _: &Arc<Socket>, _: Event) {}

    fn disconnect(&self, _: &Arc<Socket>, _: DisconnectReason) {}
}

/// Tells every open page of `change`.
pub async fn announce(app: &App, change: &Change) {
    let Some(ns) = app.io().of(NAMESPACE) else { return };
    let everyone = ns.all();
    let sent = match change {
        Change::Reload => everyone.emit("reload", None),
        Change::Css(urls) => everyone.emit("css", Some(&serde_json::json!(urls))),
        Change::Broken(diagnostics) => everyone.emit("diagnostics", Some(&serde_json::json!(diagnostics))),
        Change::Fixed => everyone.emit("fixed", None),
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
