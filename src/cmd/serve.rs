//! `keystone-rs serve`: loads the project, opens the session store and serves it.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::log;
use crate::project::settings::SocketAdapter;
use crate::server::{self, Options, SocketBackend, session::SessionManager};

pub struct ServeArgs {
    pub path: PathBuf,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub production: bool,
    pub quiet: bool,
    pub open: bool,
    pub log: log::Config,
}

/// How long Ctrl-C / SIGTERM waits for requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long socket `disconnect` handlers may run at shutdown (each has its script budget too).
const DISCONNECT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Secrets shorter than this are refused in production.
const MIN_SECRET_LEN: usize = 32;

/// # Errors
/// The folder is missing, the secret is unusable in production, `PORT` is not a port, or the
/// port cannot be bound.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let root = args.path.canonicalize().with_context(|| format!("no app folder at {}", args.path.display()))?;
    log::configure(args.log);
    // Before anything reads the environment: `.env` may set PORT, HOST and the secret.
    load_dotenv(&root);
    let production = args.production || std::env::var("KEYSTONE_ENV").is_ok_and(|v| v == "production");

    let project = crate::check::load_and_check(&root, production);
    log::diagnostics(&project.diagnostics);
    let startup_diagnostics = project.diagnostics.clone();
    crate::check::scan::forget_cached();
    if project.has_errors() {
        if production {
            log::error(&format!("{} has errors; fix them and run `keystone-rs serve` again", root.display()));
            return Ok(ExitCode::from(1));
        }
        log::error(
            "the project has errors; serving what loaded, and the rest heals as you fix it (open pages show why)",
        );
    }
    let settings = project.settings.clone();
    let secret = secret(production)?;
    let host = match args.host {
        Some(host) => host,
        None => {
            std::env::var("HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| settings.server.host.value.clone())
        }
    };
    let port = match args.port {
        Some(port) => port,
        None => match std::env::var("PORT") {
            Ok(text) if !text.trim().is_empty() => {
                text.trim().parse::<u16>().with_context(|| format!("PORT={text} is not a port number (0 to 65535)"))?
            }
            _ => *settings.server.port,
        },
    };

    raise_open_files_limit(u64::from(settings.server.max_connections.get()));

    // Scripts that cannot block run on the async workers (`script::inline`): they need the
    // script threads' stack for deep (but allowed) recursion in debug builds.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(crate::script::effects::SCRIPT_STACK)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let sessions =
            SessionManager::open(&settings.session, &settings.name, &root, secret.as_bytes(), *settings.server.secure)
                .await?;
        let backend = match &*settings.sockets.adapter {
            SocketAdapter::Local => SocketBackend::Local,
            SocketAdapter::Redis(url) => {
                SocketBackend::Redis(server::redis::cluster(url.as_str(), &settings.name).await?)
            }
        };
        let (router, app) =
            server::build(project, sessions, Options { production, log_requests: !args.quiet }, backend);
        let io = app.io().clone();
        let flusher = app.clone();
        let closing = app.clone();
        // Development: every edit is applied live. The watcher lives as long as the server.
        let _watcher =
            if production { None } else { Some(server::reload::spawn(app, root.clone(), &startup_diagnostics)?) };
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port} (is another server using it? try --port)"))?;
        let addr = listener.local_addr()?;
        let shown = if addr.ip().is_unspecified() { format!("127.0.0.1:{}", addr.port()) } else { addr.to_string() };
        log::info(&format!(
            "keystone-rs serving {} at http://{shown}/ ({})",
            settings.name.value,
            if production { "production" } else { "development" }
        ));
        if addr.ip().is_unspecified() {
            let urls = network_urls(addr);
            if urls.is_empty() {
                log::info("  on your network: no network interface is up besides loopback");
            }
            for url in urls {
                log::info(&format!("  on your network: {url}"));
            }
        }
        if args.open {
            open_browser(&format!("http://{shown}/"));
        }
        crate::start_up_code::release_soon();
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = server::listen::Limits {
            header: *settings.server.header_timeout,
            body: *settings.server.body_timeout,
            max_connections: settings.server.max_connections.get() as usize,
        };
        // The accept loop runs as a task on the async workers, not on this thread: a connection
        // it accepts starts on the same worker, without waking another thread (issue 11: 2.4
        // futex calls and 1.2 eventfd writes per visit before, none after).
        let server = tokio::spawn(server::listen::serve(listener, router, limits, async move {
            shutdown_signal().await;
            log::info("shutting down: finishing requests in flight, closing sockets");
            let _ = stopping.send(());
            let handlers =
                tokio::time::timeout(DISCONNECT_GRACE, server::sockets::disconnect_all_for_shutdown(&closing)).await;
            if handlers.is_err() {
                log::warning(&format!(
                    "socket disconnect handlers still running after {}s; stopping anyway",
                    DISCONNECT_GRACE.as_secs()
                ));
            }
            io.close().await;
        }));
        tokio::select! {
            served = server => served.context("the accept loop failed")?.context("serving")?,
            () = async {
                let _ = stopped.await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => log::warning(&format!("requests still running after {}s; stopping anyway", SHUTDOWN_GRACE.as_secs())),
        }
        // Sessions changed in the last moments are still only in memory (sqlite writes behind).
        flusher.sessions.flush().await.context("writing sessions to disk")?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Every connection is a file descriptor: lifts the soft open-files limit (often 1,024) to the
/// hard one, as Go's runtime does, and warns when even that is below `max_connections` plus
/// room for the databases, the watcher and the log.
fn raise_open_files_limit(max_connections: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    const SPARE: u64 = 256;
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    if let Some(open_files) = limit.current
        && open_files < max_connections.saturating_add(SPARE)
    {
        log::warning(&format!(
            "this process may open {open_files} files, fewer than `[server] max_connections` ({max_connections}) \
             needs: connections beyond about {} will fail; raise `ulimit -n` or lower max_connections",
            open_files.saturating_sub(SPARE)
        ));
    }
}

/// The URLs other machines reach a server listening on every interface at: one per
/// non-loopback address (IPv4 first).
fn network_urls(addr: std::net::SocketAddr) -> Vec<String> {
    let mut ips: Vec<std::net::IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && (addr.is_ipv6() || ip.is_ipv4()))
        .collect();
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    ips.dedup();
    ips.into_iter().map(|ip| format!("http://{}/", std::net::SocketAddr::new(ip, addr.port()))).collect()
}

/// Opens `url` with the desktop's opener (`$BROWSER` first, when set). The opener runs in
/// the background; when it cannot start or reports a failure, the terminal says so.
fn open_browser(url: &str) {
    let opener = std::env::var("BROWSER").ok().filter(|b| !b.is_empty()).unwrap_or_else(|| {
        if cfg!(target_os = "macos") {
            "open"
        } else if cfg!(windows) {
            "explorer"
        } else {
            "xdg-open"
        }
        .to_string()
    });
    let url = url.to_string();
    let spawned = std::process::Command::new(&opener)
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(err) => {
            log::warning(&format!("--open could not start a browser ({opener}: {err}); open {url} yourself"));
            return;
        }
    };
    std::thread::spawn(move || {
        let output = child.wait_with_output();
        let failure = match &output {
            Ok(out) if out.status.success() => return,
            Ok(out) => {
                let said = String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim().to_string();
                if said.is_empty() { format!("{opener} {}", out.status) } else { format!("{opener}: {said}") }
            }
            Err(err) => format!("{opener}: {err}"),
        };
        log::warning(&format!("--open could not open a browser ({failure}); open {url} yourself"));
    });
}

/// `KEYSTONE_SECRET`; a per-run random one (with a warning) in development when unset.
fn secret(production: bool) -> anyhow::Result<String> {
    match std::env::var("KEYSTONE_SECRET") {
        Ok(secret) if secret.len() >= MIN_SECRET_LEN => Ok(secret),
        Ok(_) | Err(_) if production => bail!(
            "production needs KEYSTONE_SECRET of at least {MIN_SECRET_LEN} bytes; make one with `openssl rand -hex 64` and put it in the environment or .env"
        ),
        Ok(secret) if !secret.is_empty() => {
            log::warning(&format!(
                "KEYSTONE_SECRET is shorter than {MIN_SECRET_LEN} bytes; use `openssl rand -hex 64` for a strong one"
            ));
            Ok(secret)
        }
        _ => {
            log::warning("no KEYSTONE_SECRET set; using a random one for this run, so sessions end when serve stops");
            Ok(crate::server::session::new_secret())
        }
    }
}

/// Reads `KEY=value` lines from the project's `.env` without overriding the environment.
/// Call it before any thread starts (`serve`, and `user`, whose hooks may read `env()`).
pub(crate) fn load_dotenv(root: &Path) {
    let Ok(text) = std::fs::read_to_string(root.join(".env")) else {
        return;
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((key, value)) = line.split_once('=') {
            let key = key.trim();
            let value = value.trim().trim_matches('"').trim_matches('\'');
            if std::env::var_os(key).is_none() {
                // SAFETY: called before any other thread starts.
                unsafe { std::env::set_var(key, value) };
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
