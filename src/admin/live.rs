//! The admin follows the data live: its own socket namespace, open only to admin sessions
//! (the handshake's `Origin` is checked like every socket's), where list and item pages watch
//! rooms, and every write that lands — the admin's, a script's, a hook's, another node's
//! through the Redis adapter — is announced to the pages watching it.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use serde::Deserialize;
use tower_sessions::session::Id;

use crate::realtime::{DisconnectReason, Event, Handler, Socket};
use crate::server::socket_budget::ConnectedSocket;

use crate::lists::Change;
use crate::server::App;
use crate::server::sockets::session_room;

/// The admin's namespace (internal, like live reload's `/__keystone`).
pub const NAMESPACE: &str = "/__keystone_admin";
/// Rooms one admin socket may watch at once (a page watches one or two).
const MAX_ROOMS: usize = 16;
/// Changes waiting to be announced; beyond it, announcements are dropped (pages catch up at
/// the next one).
const BACKLOG: usize = 4096;

/// Why a handshake was refused (the client's `connect_error` says it).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("sign in to the Admin UI first")]
    NotSignedIn,
    #[error("only admins may watch the Admin UI")]
    NotAdmin,
    #[error("the session store or database is unavailable")]
    Unavailable,
}

/// Registers the namespace (production too: the admin is live everywhere).
pub fn register(app: &App) {
    app.io().add_namespace(NAMESPACE, Arc::new(AdminSockets(app.weak())));
}

struct AdminSockets(Weak<App>);

impl Handler for AdminSockets {
    fn connect(&self, socket: Arc<Socket>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let app = self.0.clone();
        Box::pin(async move {
            let app = app.upgrade().ok_or_else(|| Refused::Unavailable.to_string())?;
            authorize(&app, &socket).await.map_err(|refused| refused.to_string())
        })
    }

    fn connected(&self, _: &Arc<Socket>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async {})
    }

    fn event(&self, socket: &Arc<Socket>, event: Event) {
        if event.name == "watch" {
            on_watch(socket, &event);
        }
    }

    fn disconnect(&self, _: &Arc<Socket>, _: DisconnectReason) {}
}

/// Before the client hears it connected: only a session whose user is an admin enters; its
/// sockets join the session's room, so signing out (or in again) disconnects them, and the
/// user's, so losing `is_admin` (or the account) disconnects them on every node.
async fn authorize(app: &App, socket: &Arc<Socket>) -> Result<(), Refused> {
    let id = app.sessions.id_from_headers(&socket.headers()).ok_or(Refused::NotSignedIn)?;
    let session = app.sessions.load(Some(id)).await.map_err(|_| Refused::Unavailable)?;
    let id = session.id.ok_or(Refused::NotSignedIn)?;
    let user_list = app.project().settings.admin.user_list.value.clone();
    let db = app.data.current().ok_or(Refused::NotSignedIn)?;
    let data = session.data;
    let user = tokio::task::spawn_blocking(move || crate::users::current(&db, &user_list, &data))
        .await
        .map_err(|_| Refused::Unavailable)?
        .map_err(|_| Refused::Unavailable)?
        .ok_or(Refused::NotSignedIn)?;
    if !crate::users::is_admin(&user) {
        return Err(Refused::NotAdmin);
    }
    socket.join(&session_room(&id));
    if let Some(user_id) = user.get("id").and_then(serde_json::Value::as_str) {
        socket.join(&user_room(user_id));
    }
    socket.set_data(AdminSocket { session: id, _counted: app.socket_budget.connected() });
    Ok(())
}

/// What an admin socket keeps: the session it was admitted with (the expiry sweep ends it
/// with the session), and its place in `[sockets] max_sockets`.
struct AdminSocket {
    session: Id,
    _counted: ConnectedSocket,
}

/// The session of an admin socket, `None` for any other.
pub fn session_of(socket: &Socket) -> Option<Id> {
    socket.data::<AdminSocket>().map(|admin| admin.session)
}

/// What a page watches: a whole list, or one item of it.
#[derive(Debug, Deserialize)]
struct Watch {
    list: String,
    id: Option<String>,
}

/// A page asks to hear about a list or an item; the acknowledgement says whether it will
/// (a malformed ask, or one room too many, is refused).
fn on_watch(socket: &Arc<Socket>, event: &Event) {
    let watch = event.first_arg().and_then(|raw| serde_json::from_str::<Watch>(raw.get()).ok());
    let room = match &watch {
        None => None,
        Some(watch) if !crate::lists::model::valid_list_name(&watch.list) => None,
        Some(Watch { list, id: Some(id) }) if crate::lists::value::valid_id(id) => Some(item_room(list, id)),
        Some(Watch { id: Some(_), .. }) => None,
        Some(Watch { list, id: None }) => Some(list_room(list)),
    };
    let joined = match room {
        Some(room) if socket.rooms().len() < MAX_ROOMS => {
            socket.join(&room);
            true
        }
        _ => false,
    };
    if let Some(id) = event.ack {
        let _ = socket.ack(id, &serde_json::json!(joined));
    }
}

fn list_room(list: &str) -> String {
    format!("list:{list}")
}

fn item_room(list: &str, id: &str) -> String {
    format!("item:{list}:{id}")
}

fn user_room(id: &str) -> String {
    format!("user:{id}")
}

/// After a write to the user list: if that user is no longer an admin (or no longer exists),
/// their admin sockets go, wherever they are (HTTP requests check at every request already).
async fn end_sockets_of_former_admin(app: &App, id: &str) {
    let Some(db) = app.data.current() else { return };
    let user_list = app.project().settings.admin.user_list.value.clone();
    let lookup = {
        let id = id.to_string();
        tokio::task::spawn_blocking(move || crate::users::current_by_id(&db, &user_list, &id)).await
    };
    let still_admin = match lookup {
        Ok(Ok(user)) => user.as_ref().is_some_and(crate::users::is_admin),
        // Unreadable for now: the next write to the user retries; pages check at every request.
        _ => return,
    };
    if !still_admin && let Some(ns) = app.io().of(NAMESPACE) {
        ns.to([user_room(id)]).disconnect();
    }
}

/// Sends every change of the app's lists to the admin pages watching it, on every node.
pub fn announce_changes(app: &Arc<App>) {
    let (sender, mut changes) = tokio::sync::mpsc::channel::<Change>(BACKLOG);
    let sink: crate::lists::ChangeSink = Arc::new(move |change| {
        let _ = sender.try_send(change);
    });
    if app.data.changes.set(sink).is_err() {
        return;
    }
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        while let Some(change) = changes.recv().await {
            let Some(app) = app.upgrade() else { return };
            if change.list == app.project().settings.admin.user_list.value {
                end_sockets_of_former_admin(&app, &change.id).await;
            }
            if let Some(ns) = app.io().of(NAMESPACE) {
                let rooms = [list_room(&change.list), item_room(&change.list, &change.id)];
                let change = serde_json::to_value(&change).unwrap_or_default();
                if let Err(err) = ns.to(rooms).emit("changed", Some(&change)) {
                    crate::log::debug(&format!("admin: announcing a change: {err}"));
                }
            }
        }
    });
}
