//! Test helpers: temp apps, a running `serve` on an ephemeral port, and the node test scripts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_keystone-rs");
pub const SECRET: &str = "test-secret-test-secret-test-secret-test-secret-0123456789abcdef";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An app folder in a temp dir, removed on drop.
pub struct TempApp {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempApp {
    /// `keystone-rs new` with the given scaffold, run through the real binary.
    pub fn scaffold(template: &str) -> TempApp {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app");
        let out = keystone(&["new", path.to_str().unwrap(), "--template", template, "--no-git"], dir.path());
        assert!(out.status.success(), "new failed: {}", String::from_utf8_lossy(&out.stderr));
        TempApp { _dir: dir, path }
    }

    /// A copy of `tests/fixtures/valid/NAME`.
    pub fn fixture(name: &str) -> TempApp {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        copy_dir(&repo().join("tests/fixtures/valid").join(name), &path);
        TempApp { _dir: dir, path }
    }

    pub fn write(&self, rel: &str, contents: &str) {
        let file = self.path.join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path.join(rel)).unwrap()
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Runs the binary in `cwd` and waits for it.
pub fn keystone(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN).args(args).current_dir(cwd).env_remove("KEYSTONE_SECRET").output().unwrap()
}

/// A `keystone-rs serve` process on an ephemeral port, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    output: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(app: &Path) -> Server {
        Self::start_with(app, &[])
    }

    /// Starts `serve` with extra arguments (on `--port 0` unless they name a port); waits for
    /// the URL line.
    pub fn start_with(app: &Path, args: &[&str]) -> Server {
        Self::start_with_env(app, args, &[])
    }

    /// [`Server::start_with`] with extra environment variables.
    pub fn start_with_env(app: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port: &[&str] = if args.contains(&"--port") || args.contains(&"-p") { &[] } else { &["--port", "0"] };
        let mut command = Command::new(BIN);
        command
            .args(["serve", app.to_str().unwrap()])
            .args(port)
            .args(args)
            .env("KEYSTONE_SECRET", SECRET)
            .envs(env.iter().copied());
        Self::start_command(command)
    }

    /// Starts a prepared `keystone-rs serve` command (no `KEYSTONE_ENV` from the test's
    /// environment); waits for the URL line.
    pub fn start_command(mut command: Command) -> Server {
        let mut child =
            command.env_remove("KEYSTONE_ENV").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://") {
                    let _ = tx.send(line[at..].split_whitespace().next().unwrap().trim_end_matches('/').to_string());
                }
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        let stderr = child.stderr.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve did not start:\n{}", output.lock().unwrap())
        });
        Server { child, url, output }
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `host:port` the server listens on.
    pub fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Waits (up to `limit`) for the process to exit; its status, if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    /// Everything the server printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output contains `text`.
    pub fn wait_for_output(&self, text: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.output().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.output()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `node tests/js/SCRIPT args…`; panics with the script's output if it fails.
pub fn node(script: &str, args: &[&str]) -> String {
    let js = repo().join("tests/js");
    assert!(
        js.join("node_modules").exists(),
        "tests/js/node_modules is missing: run `npm ci --prefix tests/js` (tests/setup.sh does)"
    );
    let out = Command::new("node").arg(js.join(script)).args(args).current_dir(&js).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "node {script} {args:?} failed:\n{text}");
    text
}

/// A plain blocking `GET` (HTTP/1.1, `Connection: close`): status and body.
pub fn http_get(url: &str) -> (u16, String) {
    let reply = http_request("GET", url, &[], "");
    (reply.status, reply.body)
}

/// A response read by [`http_request`].
pub struct HttpReply {
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    pub body: String,
}

impl HttpReply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// A plain blocking HTTP/1.1 request with `Connection: close`.
pub fn http_request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> HttpReply {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { body.to_string() };
    HttpReply { status, head: head.to_string(), body }
}

/// Sends `request` as raw bytes on a new connection to `url`'s host and returns the response
/// status and head (status line and headers) once they have arrived; the connection is
/// returned too, still open.
pub fn raw_head(url: &str, request: &[u8]) -> (u16, String, std::net::TcpStream) {
    use std::io::{Read as _, Write as _};
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(request).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head, stream)
}

/// Reads from `stream` until the server closes it; `None` if it is still open after `limit`.
pub fn read_until_closed(stream: &mut std::net::TcpStream, limit: Duration) -> Option<Vec<u8>> {
    use std::io::Read as _;
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(seen),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            // A reset is the server closing too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(seen),
            Err(_) => return None,
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A long-running `node tests/js/SCRIPT args…` that prints one JSON value per line and may
/// read lines on stdin; killed on drop.
pub struct NodeProcess {
    child: Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl NodeProcess {
    pub fn spawn(script: &str, args: &[&str]) -> NodeProcess {
        let mut child = Command::new("node")
            .arg(repo().join("tests/js").join(script))
            .args(args)
            .current_dir(repo().join("tests/js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(value);
                }
            }
        });
        NodeProcess { child, lines }
    }

    /// The JSON values printed so far.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Forgets what was printed so far.
    pub fn clear(&self) {
        self.lines.lock().unwrap().clear();
    }

    /// Writes a line to the script's stdin.
    pub fn send(&mut self, line: &str) {
        use std::io::Write as _;
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
