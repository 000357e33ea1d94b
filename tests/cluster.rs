//! Scale-out on a real Redis: several `serve` processes act as one app, with no sticky
//! sessions; Redis restarts and dying nodes are survived.
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{NodeProcess, Server, TempApp, eventually, http_request, node, repo};

const WAIT: Duration = Duration::from_secs(15);

/// The fixture app configured for one Redis, under a name no other test uses (socket
/// channels and session keys are prefixed with it).
fn cluster_app(redis: &str) -> TempApp {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let app = TempApp::fixture("cluster_app");
    let name = format!("cluster_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let toml = app
        .read("keystone.toml")
        .replace("name = \"cluster_app\"", &format!("name = \"{name}\""))
        .replace("redis://127.0.0.1:6379", redis);
    app.write("keystone.toml", &toml);
    app
}

fn story(scenario: &str, a: &str, b: &str, transport: &str) -> Value {
    let out = node("cluster.mjs", &[scenario, a, b, transport]);
    serde_json::from_str(out.lines().rev().find(|l| l.starts_with('{')).unwrap()).unwrap()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Node: cargo test --features e2e")]
fn a_session_made_on_one_node_is_the_sockets_session_on_another() {
    let app = cluster_app("redis://127.0.0.1:6379");
    let (a, b) = (Server::start(&app.path), Server::start(&app.path));
    for transport in ["websocket", "polling"] {
        let seen = story("session", &a.url, &b.url, transport);
        assert_eq!(seen["msg"], "Hello World", "{transport}: {seen}");
        assert_eq!(seen["before"], Value::Null);
        assert_eq!(seen["after"], "ada", "a login over HTTP on A is seen on B at the next event: {seen}");
        assert_eq!(seen["seenOnA"]["note"], "written on B", "a socket write on B is seen by HTTP on A: {seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Node: cargo test --features e2e")]
fn a_broadcast_from_one_node_reaches_clients_on_the_other() {
    let app = cluster_app("redis://127.0.0.1:6379");
    let (a, b) = (Server::start(&app.path), Server::start(&app.path));
    let seen = story("broadcast", &a.url, &b.url, "websocket");
    assert_eq!(seen["b1"], json!(["hello from A"]), "{seen}");
    assert_eq!(seen["b2"], json!(["hello from A"]), "{seen}");
    assert_eq!(seen["sender"], json!([]), "{seen}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Node: cargo test --features e2e")]
fn emit_to_session_on_one_node_reaches_the_visitors_tab_on_another() {
    let app = cluster_app("redis://127.0.0.1:6379");
    let (a, b) = (Server::start(&app.path), Server::start(&app.path));
    let seen = story("push", &a.url, &b.url, "websocket");
    assert_eq!(seen["tab"], json!(["from A"]), "{seen}");
    assert_eq!(seen["stranger"], json!([]), "{seen}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Node: cargo test --features e2e")]
fn logout_and_sign_in_on_one_node_end_and_renew_the_visitors_socket_on_another() {
    let app = cluster_app("redis://127.0.0.1:6379");
    let (a, b) = (Server::start(&app.path), Server::start(&app.path));
    for transport in ["websocket", "polling"] {
        let seen = story("lifecycle", &a.url, &b.url, transport);
        assert_eq!(seen["endedReason"], "io server disconnect", "destroy_session on A ends B's socket: {seen}");
        assert_eq!(seen["renewedReason"], "io server disconnect", "regenerate_session on A renews B's socket: {seen}");
        assert_eq!(seen["oldWhoami"], Value::Null, "the pre-login cookie opens nothing on B: {seen}");
        assert_eq!(seen["newWhoami"], "ada", "{seen}");
    }
}

/// A TCP load balancer that hands each new connection to the next live node in turn (no
/// stickiness), skipping nodes that refuse connections.
struct Balancer {
    url: String,
}

impl Balancer {
    fn start(nodes: &[&Server]) -> Balancer {
        let backends: Vec<String> = nodes.iter().map(|s| s.url.trim_start_matches("http://").to_string()).collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let turn = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let start = turn.fetch_add(1, Ordering::SeqCst);
                let upstream =
                    (0..backends.len()).find_map(|i| TcpStream::connect(&backends[(start + i) % backends.len()]).ok());
                let Some(upstream) = upstream else { continue };
                for (mut from, mut to) in
                    [(client.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Balancer { url }
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Node: cargo test --features e2e")]
fn long_polling_behind_a_spreading_balancer_fails_with_a_clear_error_and_websocket_works() {
    let app = cluster_app("redis://127.0.0.1:6379");
    let (a, b) = (Server::start(&app.path), Server::start(&app.path));
    let balancer = Balancer::start(&[&a, &b]);
    let polling = story("polling-behind-balancer", &balancer.url, &balancer.url, "polling");
    assert_eq!(polling["connected"], false, "long-polling needs sticky sessions: {polling}");
    assert!(
        polling["description"].as_str().unwrap_or("").contains("400")
            || polling["error"].as_str().unwrap().contains("xhr poll error"),
        "{polling}"
    );
    let websocket = story("polling-behind-balancer", &balancer.url, &balancer.url, "websocket");
    assert_eq!(websocket["connected"], true, "{websocket}");
    assert_eq!(websocket["results"], json!([0, 1, 2, 3, 4, 5]), "{websocket}");
}

/// A client held open by `cluster.mjs hold`, answering a line per command.
struct HeldClient(NodeProcess);

impl HeldClient {
    fn start(url: &str) -> HeldClient {
        let held = HeldClient(NodeProcess::spawn("cluster.mjs", &["hold", url, url, "websocket"]));
        eventually("the held client", WAIT, || held.0.lines().first().cloned());
        held
    }

    /// Sends `text` to echo and returns the answer line.
    fn ask(&mut self, text: &str) -> Value {
        let before = self.0.lines().len();
        self.0.send(text);
        eventually("an answer", WAIT, || self.0.lines().get(before).cloned())
    }
}

/// A Redis of the test's own on a free port, so stopping it disturbs no other test. It keeps
/// its data on disk like a production Redis, so sessions outlive a restart.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start_on(port: u16, dir: &std::path::Path) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--dir", dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        eventually("redis to listen", WAIT, || TcpStream::connect(("127.0.0.1", port)).ok());
        OwnRedis { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Node: cargo test --features e2e")]
fn a_redis_restart_is_survived_without_restarting_the_nodes() {
    let data = tempfile::tempdir().unwrap();
    let redis = OwnRedis::start_on(free_port(), data.path());
    let app = cluster_app(&redis.url());
    let (a, b) = (Server::start(&app.path), Server::start(&app.path));
    let mut held = HeldClient::start(&a.url);
    assert_eq!(held.ask("before")["reply"], "before");

    let port = redis.stop();
    // Requests that need a session fail fast with 503 and a log line; nothing hangs.
    let started = Instant::now();
    let reply = http_request("GET", &format!("{}/", a.url), &[], "");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
    assert!(a.wait_for_output("session store unavailable", WAIT), "{}", a.output());

    let redis = OwnRedis::start_on(port, data.path());
    eventually("sessions to work again", WAIT, || {
        Some(http_request("GET", &format!("{}/", b.url), &[], "")).filter(|r| r.status == 200)
    });
    // The socket stayed connected through the outage and works again.
    let after = held.ask("after");
    assert_eq!(after["reply"], "after", "{after}");
    assert_eq!(after["connects"], 1, "no reconnect was needed: {after}");
    // Broadcasts cross nodes again: the adapter subscribed again by itself.
    let seen = eventually("broadcasts across nodes", WAIT, || {
        let out = Command::new("node")
            .arg(repo().join("tests/js/cluster.mjs"))
            .args(["broadcast", &a.url, &b.url])
            .current_dir(repo().join("tests/js"))
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert!(seen.contains("hello from A"), "{seen}");
    let output = a.output() + b.output().as_str();
    assert!(!output.contains("panicked"), "{output}");
    drop(redis);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Node: cargo test --features e2e")]
fn killing_a_node_leaves_the_others_serving_and_its_clients_reconnect() {
    let app = cluster_app("redis://127.0.0.1:6379");
    let a = Server::start(&app.path);
    let b = Server::start(&app.path);
    let balancer = Balancer::start(&[&a, &b]);
    let mut held = HeldClient::start(&balancer.url);
    assert_eq!(held.ask("one")["reply"], "one");
    let on_a = a.output().contains("--- connected");
    let (doomed, survivor) = if on_a { (a, b) } else { (b, a) };
    drop(doomed);

    let answer = eventually("the client to reconnect to the survivor", WAIT, || {
        Some(held.ask("two")).filter(|v| v["reply"] == "two")
    });
    assert!(answer["connects"].as_u64().unwrap() >= 2, "{answer}");
    assert_eq!(answer["whoami"], "ada", "its session (in Redis) came along: {answer}");
    assert!(survivor.output().contains("--- connected"), "{}", survivor.output());
    assert_eq!(http_request("GET", &format!("{}/", balancer.url), &[], "").status, 200);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis: cargo test --features e2e")]
fn check_production_warns_when_nodes_would_share_only_half() {
    let app = cluster_app("redis://127.0.0.1:6379");
    // Behind TLS, as production should be (else deployment-insecure-cookies warns too).
    app.write("keystone.toml", &format!("{}\n[server]\nsecure = true\n", app.read("keystone.toml")));
    let shared =
        crate::util::keystone(&["check", "--production", "--deny-warnings", app.path.to_str().unwrap()], &app.path);
    assert!(shared.status.success(), "{}", String::from_utf8_lossy(&shared.stdout));

    let toml = app.read("keystone.toml");
    for (broken, says) in [
        (
            toml.replace("adapter = \"redis://127.0.0.1:6379\"", "adapter = \"local\""),
            "broadcasts and rooms stay on one node",
        ),
        (
            toml.replace("store = \"redis://127.0.0.1:6379\"", "store = \"sqlite\""),
            "a session made on one node is unknown",
        ),
    ] {
        app.write("keystone.toml", &broken);
        let out = crate::util::keystone(&["check", "--production", app.path.to_str().unwrap()], &app.path);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("deployment-shares-nothing") && text.contains(says), "{text}");
        let plain = crate::util::keystone(&["check", "--deny-warnings", app.path.to_str().unwrap()], &app.path);
        assert!(plain.status.success(), "only --production looks at deployment");
        let server = Server::start_with(&app.path, &["--production"]);
        assert!(server.wait_for_output("deployment-shares-nothing", WAIT), "{}", server.output());
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Chromium and Node: cargo test --features e2e")]
fn our_browser_client_gets_the_session_made_on_another_node() {
    let app = cluster_app("redis://127.0.0.1:6379");
    let (port_a, port_b) = (free_port(), free_port());
    let origins = format!("allowed_origins = [\"http://127.0.0.1:{port_a}\"]\nadapter");
    app.write("keystone.toml", &app.read("keystone.toml").replacen("adapter", &origins, 1));
    let a = Server::start_with(&app.path, &["--port", &port_a.to_string()]);
    let b = Server::start_with(&app.path, &["--port", &port_b.to_string()]);
    // The page comes from A (which starts the session); its socket goes to B, as a balancer
    // without sticky sessions might send it.
    let out = node("browser.mjs", &["hello", &a.url, &format!("/?node={}", b.url)]);
    let page: Value = serde_json::from_str(out.lines().rev().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert!(page["console"].as_array().unwrap().iter().any(|m| m == "Hello World"), "{page}");
    assert_eq!(page["transport"], "websocket", "{page}");
    assert!(b.output().contains("--- connected"), "the socket is on B: {}", b.output());
    assert!(!a.output().contains("--- connected"), "{}", a.output());
}
