//! The admin follows the data live: its own socket namespace, open only to admin sessions
//! (the handshake's `Origin` is checked like every socket's), where list and item pages watch
//! rooms, and every write that lands — the admin's, a script's, a hook's, another node's
//! through the Redis adapter — is announced to the pages watching it.
use std::sync::Arc;

use serde::Deserialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef, State};
use socketioxide_core::adapter::DefinedAdapter;

use tower_sessions::session::Id;

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
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) {
    use socketioxide::handler::ConnectHandler as _;
    use socketioxide_core::adapter::Spawnable as _;
    io.ns(NAMESPACE, on_connect::<A>.with(authorize::<A>)).spawn();
}

/// Connect middleware: only a session whose user is an admin enters; its sockets join the
/// session's room, so signing out (or in again) disconnects them.
async fn authorize<A: Adapter>(socket: SocketRef<A>, State(app): State<Arc<App>>) -> Result<(), Refused> {
    let id = app.sessions.id_from_headers(&socket.req_parts().headers).ok_or(Refused::NotSignedIn)?;
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
    socket.join(session_room(&id));
    socket.extensions.insert(AdminSession(id));
    socket.extensions.insert(Arc::new(app.socket_budget.connected()));
    socket.on("watch", on_watch::<A>);
    Ok(())
}

/// The session an admin socket was admitted with (the expiry sweep ends it with the session).
#[derive(Clone, Copy)]
struct AdminSession(Id);

/// The session of an admin socket, `None` for any other.
pub fn session_of<A: Adapter>(socket: &SocketRef<A>) -> Option<Id> {
    socket.extensions.get::<AdminSession>().map(|AdminSession(id)| id)
}

/// What a page watches: a whole list, or one item of it.
#[derive(Debug, Deserialize)]
struct Watch {
    list: String,
    id: Option<String>,
}

/// The connect handler has nothing left to do: `watch` is registered by [`authorize`], before
/// the client hears it is connected (socketioxide spawns this handler, so a `watch` sent right
/// after the connect could otherwise arrive before a handler exists and go unanswered).
async fn on_connect<A: Adapter>(_socket: SocketRef<A>) {}

/// A page asks to hear about a list or an item; the acknowledgement says whether it will
/// (a malformed ask, or one room too many, is refused).
async fn on_watch<A: Adapter>(socket: SocketRef<A>, Data(watch): Data<Watch>, ack: AckSender<A>) {
    let room = match &watch.id {
        _ if !crate::lists::model::valid_list_name(&watch.list) => None,
        Some(id) if crate::lists::value::valid_id(id) => Some(item_room(&watch.list, id)),
        Some(_) => None,
        None => Some(list_room(&watch.list)),
    };
    let joined = match room {
        Some(room) if socket.rooms().len() < MAX_ROOMS => {
            socket.join(room);
            true
        }
        _ => false,
    };
    let _ = ack.send(&joined);
}

fn list_room(list: &str) -> String {
    format!("list:{list}")
}

fn item_room(list: &str, id: &str) -> String {
    format!("item:{list}:{id}")
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
            crate::server::with_io!(app.io(), io => {
                if let Some(ops) = io.of(NAMESPACE) {
                    let rooms = [list_room(&change.list), item_room(&change.list, &change.id)];
                    if let Err(err) = ops.to(rooms).emit("changed", &change).await {
                        crate::log::debug(&format!("admin: announcing a change: {err}"));
                    }
                }
            });
        }
    });
}
