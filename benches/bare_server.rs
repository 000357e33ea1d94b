//! The baseline of `benches/serve.sh`: a bare axum handler rendering the same page as a
//! scaffolded app's `GET /` (templates/views/index.html through its layout), with the context
//! keystone-rs would build (middleware + controller locals, session, messages, req), but no
//! session store, no scripts, no static-file lookup and no extra layers.
//!
//!   bare_server <templates-dir> <port>
//!
//! Serves on 127.0.0.1 until killed. Not a test: `harness = false`, run only by serve.sh.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde_json::{Map, Value, json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` / `cargo test --all-targets` run this with no arguments or with `--bench`:
    // nothing to measure then, so say how to run it and succeed.
    let [dir, port] = args.as_slice() else {
        eprintln!("bare_server <templates-dir> <port>: the baseline of `bash benches/serve.sh`; run that");
        return;
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("bare_server: `{port}` is not a port");
        std::process::exit(2);
    };
    let env = Arc::new(load_templates(Path::new(&dir)));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async move {
        let router = Router::new().fallback(index).with_state(env);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
        println!("bare_server listening on http://{}/", listener.local_addr().unwrap());
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serving");
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
async fn index(State(env): State<Arc<Environment<'static>>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
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
    match env
        .get_template("views/index.html")
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))))
    {
        Ok(html) => Html(html).into_response(),
        Err(err) => (http::StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}")).into_response(),
    }
}
