//! The engine in-process over long-polling: handshakes, namespaces, events in and out, rooms,
//! broadcasts, limits. (WebSocket and the official client are in `tests/`.)
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;

use super::*;

/// A namespace handler that notes what happens; it refuses sockets whose cookie says `refuse`.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: &str) {
        for _ in 0..200 {
            if self.seen().iter().any(|s| s == what) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("never saw {what:?}: {:?}", self.seen());
    }
}

impl Handler for Recorder {
    fn connect(&self, socket: Arc<Socket>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let refused = socket.headers().get("cookie").is_some_and(|c| c == "refuse");
        Box::pin(async move { if refused { Err("go away".into()) } else { Ok(()) } })
    }

    fn connected(&self, socket: &Arc<Socket>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        socket.join("lobby");
        self.0.lock().unwrap().push("connected".into());
        Box::pin(async {})
    }

    fn event(&self, socket: &Arc<Socket>, event: Event) {
        let arg = event.first_arg().map(|a| a.get().to_string()).unwrap_or_default();
        self.0.lock().unwrap().push(format!("{} {arg} {}", event.name, event.attachments.len()));
        if let Some(id) = event.ack {
            let _ = socket.ack(id, &json!("got it"));
        }
    }

    fn disconnect(&self, _: &Arc<Socket>, reason: DisconnectReason) {
        self.0.lock().unwrap().push(reason.to_string());
    }
}

async fn request(io: &Io, method: &str, query: &str, cookie: &str, body: &str) -> (StatusCode, String) {
    let mut builder = Request::builder().method(method).uri(format!("/socket.io/?{query}"));
    if !cookie.is_empty() {
        builder = builder.header("cookie", cookie);
    }
    let response = io.handle(builder.body(Body::from(body.to_string())).unwrap()).await;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// A polling client: its engine id, and its namespace socket once connected.
struct Client {
    io: Io,
    sid: String,
}

impl Client {
    async fn open(io: &Io, cookie: &str) -> Client {
        let (status, body) = request(io, "GET", "EIO=4&transport=polling", cookie, "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let open: serde_json::Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
        assert_eq!(open["upgrades"], json!(["websocket"]));
        assert_eq!(open["pingInterval"], 25000);
        Client { io: io.clone(), sid: open["sid"].as_str().unwrap().to_string() }
    }

    fn query(&self) -> String {
        format!("EIO=4&transport=polling&sid={}", self.sid)
    }

    async fn send(&self, packets: &str) -> StatusCode {
        request(&self.io, "POST", &self.query(), "", packets).await.0
    }

    async fn receive(&self) -> (StatusCode, String) {
        tokio::time::timeout(Duration::from_secs(5), request(&self.io, "GET", &self.query(), "", ""))
            .await
            .expect("the long poll answers")
    }
}

fn server() -> (Io, Arc<Recorder>) {
    let io = Io::new(Config::default());
    let recorder = Arc::new(Recorder::default());
    io.add_namespace("/", recorder.clone());
    (io, recorder)
}

#[tokio::test]
async fn a_polling_client_connects_sends_hears_broadcasts_and_closes() {
    let (io, recorder) = server();
    let client = Client::open(&io, "").await;
    assert_eq!(client.send("40").await, StatusCode::OK);
    let (_, body) = client.receive().await;
    let sid = body.strip_prefix("40{\"sid\":\"").and_then(|s| s.strip_suffix("\"}")).expect(&body);
    assert_eq!(sid.len(), 20);
    assert_ne!(sid, client.sid, "the socket's id is not the connection's");
    recorder.wait_for("connected").await;

    // Two packets in one POST; the second wants an acknowledgement.
    assert_eq!(client.send("42[\"chat\",\"hi\"]\x1e4213[\"ask\",{\"a\":1}]").await, StatusCode::OK);
    recorder.wait_for("chat \"hi\" 0").await;
    recorder.wait_for("ask {\"a\":1} 0").await;
    assert_eq!(client.receive().await.1, "4313[\"got it\"]");

    // A broadcast, and one to a room the socket is in, come in order in one answer.
    let ns = io.of("/").unwrap();
    ns.all().emit("news", Some(&json!({"n": 1}))).unwrap();
    ns.to(["lobby".to_string()]).emit("lobby", None).unwrap();
    ns.to(["elsewhere".to_string()]).emit("nobody", None).unwrap();
    assert_eq!(client.receive().await.1, "42[\"news\",{\"n\":1}]\x1e42[\"lobby\"]");

    assert_eq!(client.send("1").await, StatusCode::OK);
    recorder.wait_for("transport close").await;
    assert!(ns.sockets().is_empty());
    let (status, body) = client.receive().await;
    assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, r#"{"code":1,"message":"Session ID unknown"}"#));
}

#[tokio::test]
async fn binary_attachments_arrive_with_their_event() {
    let (io, recorder) = server();
    let client = Client::open(&io, "").await;
    client.send("40").await;
    client.receive().await;
    let placeholders = r#"452-["upload",{"a":{"_placeholder":true,"num":0},"b":{"_placeholder":true,"num":1}}]"#;
    assert_eq!(client.send(&format!("{placeholders}\x1ebAQID\x1ebBAU=")).await, StatusCode::OK);
    recorder.wait_for(r#"upload {"a":{"_placeholder":true,"num":0},"b":{"_placeholder":true,"num":1}} 2"#).await;
}

#[tokio::test]
async fn unknown_namespaces_and_refused_sockets_get_connect_errors() {
    let (io, recorder) = server();
    let client = Client::open(&io, "").await;
    client.send("40/nowhere,").await;
    assert_eq!(client.receive().await.1, r#"44/nowhere,{"message":"Invalid namespace"}"#);

    let refused = Client::open(&io, "refuse").await;
    refused.send("40").await;
    assert_eq!(refused.receive().await.1, r#"44{"message":"go away"}"#);
    assert!(io.of("/").unwrap().sockets().is_empty());
    assert!(!recorder.seen().contains(&"connected".to_string()));
}

#[tokio::test]
async fn a_server_disconnect_tells_the_client_and_leaves_the_rooms() {
    let (io, recorder) = server();
    let client = Client::open(&io, "").await;
    client.send("40").await;
    client.receive().await;
    recorder.wait_for("connected").await;
    let socket = io.of("/").unwrap().sockets().pop().unwrap();
    assert_eq!(socket.rooms(), ["lobby"]);
    socket.disconnect();
    recorder.wait_for("server namespace disconnect").await;
    assert_eq!(client.receive().await.1, "41");
    assert!(socket.rooms().is_empty());
    assert_eq!(io.of("/").unwrap().to(["lobby".to_string()]).emit("x", None), Ok(()));
    assert_eq!(socket.emit("x", None), Err(EmitError::Closed));
    // The connection itself stays open for other namespaces.
    assert_eq!(client.send("40").await, StatusCode::OK);
}

#[tokio::test]
async fn malformed_packets_close_the_connection() {
    for bad in ["42not json", "4", "9", "42[1,2]", "bnot base64!", "45-[\"x\"]"] {
        let (io, _) = server();
        let client = Client::open(&io, "").await;
        client.send("40").await;
        client.receive().await;
        client.send(bad).await;
        let (status, body) = client.receive().await;
        assert!(
            status == StatusCode::BAD_REQUEST || body.ends_with('1'),
            "{bad:?} should close the connection: {status} {body}"
        );
    }
}

#[tokio::test]
async fn a_second_long_poll_at_once_closes_the_connection() {
    let (io, recorder) = server();
    let client = Client::open(&io, "").await;
    client.send("40").await;
    client.receive().await;
    recorder.wait_for("connected").await;
    let first = tokio::spawn({
        let (io, query) = (io.clone(), client.query());
        async move { request(&io, "GET", &query, "", "").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(client.receive().await.0, StatusCode::BAD_REQUEST);
    recorder.wait_for("multiple http polling error").await;
    assert_eq!(first.await.unwrap().1, "1", "the waiting poll hears the close");
}

#[tokio::test]
async fn bodies_over_max_payload_are_refused_and_close_the_connection() {
    let io = Io::new(Config { max_payload: 100, ..Config::default() });
    let recorder = Arc::new(Recorder::default());
    io.add_namespace("/", recorder.clone());
    let client = Client::open(&io, "").await;
    client.send("40").await;
    client.receive().await;
    let big = format!("42[\"chat\",\"{}\"]", "x".repeat(200));
    assert_eq!(client.send(&big).await, StatusCode::PAYLOAD_TOO_LARGE);
    recorder.wait_for("transport error").await;
}

#[tokio::test]
async fn a_client_that_does_not_read_has_its_messages_refused_past_the_send_buffer() {
    let io = Io::new(Config { send_buffer: 3, ..Config::default() });
    io.add_namespace("/", Arc::new(Recorder::default()));
    let client = Client::open(&io, "").await;
    client.send("40").await;
    client.receive().await;
    let socket = loop {
        if let Some(socket) = io.of("/").unwrap().sockets().pop() {
            break socket;
        }
        tokio::task::yield_now().await;
    };
    let sent: Vec<_> = (0..5).map(|i| socket.emit("n", Some(&json!(i)))).collect();
    assert_eq!(sent, [Ok(()), Ok(()), Ok(()), Err(EmitError::Full), Err(EmitError::Full)]);
    assert_eq!(io.of("/").unwrap().all().emit("n", None), Err(EmitError::Full));
    assert_eq!(client.receive().await.1, "42[\"n\",0]\x1e42[\"n\",1]\x1e42[\"n\",2]");
    assert_eq!(socket.emit("n", None), Ok(()), "room again once the client read");
}

#[tokio::test]
async fn handshakes_the_engine_does_not_speak_are_refused() {
    let (io, _) = server();
    for (method, query, code) in [
        ("GET", "EIO=3&transport=polling", 5),
        ("GET", "EIO=4&transport=carrier-pigeon", 0),
        ("POST", "EIO=4&transport=polling", 2),
        ("GET", "EIO=4&transport=polling&sid=nope", 1),
        ("GET", "EIO=4&transport=websocket", 3),
    ] {
        let (status, body) = request(&io, method, query, "", "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {query}");
        assert!(body.starts_with(&format!("{{\"code\":{code},")), "{method} {query}: {body}");
    }
    assert_eq!(io.connection_count(), 0);
}

#[tokio::test]
async fn events_sent_with_the_connect_wait_for_it_in_order() {
    let (io, recorder) = server();
    let client = Client::open(&io, "").await;
    // The client does not wait for the acknowledgement: the events are held, not dropped.
    assert_eq!(client.send("40\x1e42[\"a\"]\x1e42[\"b\"]\x1e42[\"c\"]").await, StatusCode::OK);
    recorder.wait_for("connected").await;
    let events: Vec<String> = recorder.seen().into_iter().filter(|s| s.ends_with(" 0")).collect();
    assert_eq!(events, ["a  0", "b  0", "c  0"]);
    // Events for a namespace never asked for are dropped.
    client.send("42/elsewhere,[\"d\"]").await;
    assert_eq!(client.receive().await.1.matches("40{").count(), 1);
}

#[tokio::test]
async fn a_client_asking_for_answers_it_never_reads_cannot_grow_its_queue() {
    let io = Io::new(Config { send_buffer: 8, ..Config::default() });
    io.add_namespace("/", Arc::new(Recorder::default()));
    let client = Client::open(&io, "").await;
    // Pings the server must answer, and connects to namespaces that do not exist: the answers
    // stop being queued a little past the send buffer.
    let asks = ["2", "40/none,"].repeat(500).join("\x1e");
    assert_eq!(client.send(&asks).await, StatusCode::OK);
    assert_eq!(client.send(&asks).await, StatusCode::OK);
    let (_, body) = client.receive().await;
    let queued = body.split('\x1e').count();
    assert!(queued <= 8 + 64, "{queued} answers queued");
}

#[tokio::test]
async fn leaving_a_namespace_before_its_connect_is_decided_means_it_never_joins() {
    let (io, recorder) = server();
    let client = Client::open(&io, "").await;
    assert_eq!(client.send("40\x1e42[\"early\"]\x1e41").await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(io.of("/").unwrap().sockets().is_empty(), "{:?}", recorder.seen());
    assert!(recorder.seen().is_empty(), "no connect, no event: {:?}", recorder.seen());
    // Asking again works.
    client.send("40").await;
    assert!(client.receive().await.1.starts_with("40{"));
    recorder.wait_for("connected").await;
}
