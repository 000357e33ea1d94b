//! The baseline of `benches/serve.sh`: a bare axum handler rendering the same page as a
//! scaffolded app's `GET /` (templates/views/index.html through its layout), with the context
//! keystone-rs would build (middleware + controller locals, session, messages, req), but no
//! session store, no scripts, no static-file lookup and no extra layers.
//!
//!   bare_server <templates-dir> <port> [--visits]
//!
//! With `--visits` it is also the floor of a visit (`benches/versus.sh`): GET / without a
//! cookie starts a session (an id in a map in memory, no disk), and `/socket.io/` answers the
//! official client's WebSocket the least a Socket.IO server can: the Engine.IO open packet,
//! the namespace's connect (`40` for a known session) with `msg` in the same write, and the
//! close. No heartbeat, no namespaces, no scripts, no limits: what any tokio server pays for
//! the visit's two connections, its syscalls and its kernel time.
//!
//! Serves on 127.0.0.1 until killed. Not a test: `harness = false`, run only by serve.sh,
//! versus.sh and instructions.sh.
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{Html, IntoResponse, Response};
use axum::serve::ListenerExt;
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use minijinja::Environment;
use serde_json::{Map, Value, json};
use sha1::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the handlers share: the templates and, with `--visits`, the sessions.
struct Shared {
    env: Environment<'static>,
    /// `Some` with `--visits`: the ids of the sessions started by GET /.
    sessions: Option<Mutex<HashSet<String>>>,
}

const COOKIE: &str = "keystone.sid";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` / `cargo test --all-targets` run this with no arguments or with `--bench`:
    // nothing to measure then, so say how to run it and succeed.
    let (dir, port, visits) = match args.as_slice() {
        [dir, port] => (dir, port, false),
        [dir, port, flag] if flag == "--visits" => (dir, port, true),
        _ => {
            eprintln!(
                "bare_server <templates-dir> <port> [--visits]: the baseline of `bash benches/serve.sh`; run that"
            );
            return;
        }
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("bare_server: `{port}` is not a port");
        std::process::exit(2);
    };
    let shared = Arc::new(Shared { env: load_templates(Path::new(&dir)), sessions: visits.then(Mutex::default) });
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async move {
        let mut router = Router::new();
        if visits {
            router = router.route("/socket.io/", axum::routing::get(socket_io));
        }
        let router = router.fallback(index).with_state(shared);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
        println!("bare_server listening on http://{}/", listener.local_addr().unwrap());
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if visits {
            // Small writes go out at once, as keystone-rs and Node send them; the accept loop
            // runs on the worker beside the connections, as keystone-rs's does (no wake-ups
            // from the main thread).
            let listener = listener.tap_io(|tcp| drop(tcp.set_nodelay(true)));
            tokio::spawn(async move { axum::serve(listener, service).await.expect("serving") }).await.expect("serving");
        } else {
            axum::serve(listener, service).await.expect("serving");
        }
    });
}

/// Every `*.html` under `dir`, named by its path relative to `dir`, plus an `asset` stub.
fn load_templates(dir: &Path) -> Environment<'static> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut env = Environment::new();
    for file in files {
        let name = file.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
        let source = std::fs::read_to_string(&file).expect("reading template");
        env.add_template_owned(name, source).expect("template syntax");
    }
    env.add_function("asset", |path: &str| path.to_string());
    env.get_template("views/index.html").expect("views/index.html in the templates folder");
    env
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading templates folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
}

/// The equivalent of keystone-rs's dispatch for `GET /`: build `req`, the locals the scaffold's
/// middleware.rhai + views/index.rhai set, the session the controller writes, then render.
async fn index(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let new_session = shared.sessions.as_ref().and_then(|sessions| {
        let mut sessions = sessions.lock().unwrap();
        if session_id(&parts.headers).is_some_and(|id| sessions.contains(id)) {
            return None;
        }
        let id = hex::encode(rand::random::<[u8; 16]>());
        sessions.insert(id.clone());
        Some(id)
    });
    let headers: Map<String, Value> =
        parts.headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), json!(v)))).collect();
    let query: Map<String, Value> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_string(), json!(v))
        })
        .collect();
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(String::new(), |c| c.0.ip().to_string());
    let context = json!({
        "navLinks": [{ "label": "Home", "key": "home", "href": "/" }],
        "section": "home",
        "session": { "message": "Hello World" },
        "req": {
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "params": {},
            "query": query,
            "form": {},
            "json": null,
            "headers": headers,
            "ip": ip,
        },
        "messages": {},
    });
    match shared
        .env
        .get_template("views/index.html")
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))))
    {
        Ok(html) => match new_session {
            Some(id) => {
                let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
                ([(http::header::SET_COOKIE, cookie)], Html(html)).into_response()
            }
            None => Html(html).into_response(),
        },
        Err(err) => (http::StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}")).into_response(),
    }
}

/// The value of the `keystone.sid` cookie, if the request carries one.
fn session_id(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// `/socket.io/?EIO=4&transport=websocket`: the upgrade, then `websocket` on the connection.
async fn socket_io(State(shared): State<Arc<Shared>>, mut request: Request) -> Response {
    let known = shared
        .sessions
        .as_ref()
        .is_some_and(|sessions| session_id(request.headers()).is_some_and(|id| sessions.lock().unwrap().contains(id)));
    let (Some(key), Some(on_upgrade)) = (
        request.headers().get(http::header::SEC_WEBSOCKET_KEY).cloned(),
        request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>(),
    ) else {
        return (http::StatusCode::BAD_REQUEST, "not a websocket").into_response();
    };
    let mut sha = sha1::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize().as_slice());
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            websocket(TokioIo::new(upgraded), known).await;
        }
    });
    Response::builder()
        .status(http::StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(axum::body::Body::empty())
        .unwrap()
}

/// Appends an unmasked server text frame (payloads under 126 bytes) or close frame.
fn frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    assert!(payload.len() < 126, "short frames only");
    out.extend_from_slice(&[0x80 | opcode, payload.len() as u8]);
    out.extend_from_slice(payload);
}

/// The WebSocket's life: open packet; `40` answered with the connect and `msg` in one write
/// (or a connect error for an unknown session); a close frame answered and the connection
/// dropped. Client frames are masked; only short ones are expected.
async fn websocket(mut io: TokioIo<hyper::upgrade::Upgraded>, known: bool) {
    let sid = hex::encode(rand::random::<[u8; 10]>());
    let mut out = Vec::new();
    let open =
        format!(r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#);
    frame(&mut out, 1, open.as_bytes());
    if io.write_all(&out).await.is_err() {
        return;
    }
    let mut buf = Vec::with_capacity(512);
    loop {
        // Every complete frame in the buffer.
        while buf.len() >= 6 && buf[1] & 0x7f < 126 && buf.len() >= 6 + usize::from(buf[1] & 0x7f) {
            let (opcode, len) = (buf[0] & 0x0f, usize::from(buf[1] & 0x7f));
            let mask = [buf[2], buf[3], buf[4], buf[5]];
            let payload: Vec<u8> = buf[6..6 + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            buf.drain(..6 + len);
            out.clear();
            match (opcode, payload.as_slice()) {
                (1, b"40") if known => {
                    let connect = format!(r#"40{{"sid":"{}"}}"#, hex::encode(rand::random::<[u8; 10]>()));
                    frame(&mut out, 1, connect.as_bytes());
                    frame(&mut out, 1, br#"42["msg","Hello World"]"#);
                }
                (1, b"40") => frame(&mut out, 1, br#"44{"message":"unknown session"}"#),
                (8, _) => {
                    frame(&mut out, 8, &1000u16.to_be_bytes());
                    let _ = io.write_all(&out).await;
                    return;
                }
                _ => continue,
            }
            if io.write_all(&out).await.is_err() {
                return;
            }
        }
        if buf.len() >= 2 && buf[1] & 0x7f >= 126 {
            return; // longer than this floor reads
        }
        match io.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
