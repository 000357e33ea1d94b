//! The reload loop (development only): a notify watcher over the whole project feeds one
//! loop that reloads the project off to the side with the same loader and rules as `check`
//! and swaps it in — or keeps the last good one and shows why. The first change of a burst is
//! served at once; browsers are told once the burst is over (a quiet moment, with no file
//! of it still open for writing).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::App;
use super::live::{self, Change};
use crate::diagnostic::Diagnostic;
use crate::log;
use crate::project::Settings;

/// A burst of changes is over once nothing changed for this long.
const QUIET: Duration = Duration::from_millis(25);
/// Tell browsers at the latest this long after the burst's first change was served.
const MAX_WAIT: Duration = Duration::from_millis(300);

/// What the watcher saw happen to some of the project's paths.
enum Seen {
    /// Written to (or created): a save in progress until the writer closes the file.
    Writing(Vec<PathBuf>),
    /// Removed, renamed or otherwise changed.
    Changed(Vec<PathBuf>),
    /// Closed by a program that had it open for writing: that save is complete.
    Closed(Vec<PathBuf>),
}

impl Seen {
    fn of(event: notify::Event, root: &Path) -> Option<Seen> {
        let paths: Vec<PathBuf> = event.paths.into_iter().filter(|p| is_relevant(root, p)).collect();
        if paths.is_empty() {
            return None;
        }
        match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(Seen::Closed(paths)),
            EventKind::Access(_) => None,
            EventKind::Modify(ModifyKind::Data(_)) | EventKind::Create(CreateKind::File) => Some(Seen::Writing(paths)),
            _ => Some(Seen::Changed(paths)),
        }
    }

    /// Adds what changed to `changed`, and keeps `writing` to the files still open for writing.
    fn record(self, changed: &mut Vec<PathBuf>, writing: &mut BTreeSet<PathBuf>) {
        match self {
            Seen::Writing(paths) => {
                writing.extend(paths.iter().cloned());
                changed.extend(paths);
            }
            Seen::Changed(paths) => changed.extend(paths),
            Seen::Closed(paths) => paths.iter().for_each(|p| {
                writing.remove(p);
            }),
        }
    }
}

/// Watches `root` and applies every change to `app` until the process ends. The returned
/// watcher must be kept alive.
///
/// # Errors
/// The watcher cannot be set up (e.g. the inotify limit is reached).
pub fn spawn(
    app: Arc<App>,
    root: PathBuf,
    shown_at_start: &[Diagnostic],
) -> anyhow::Result<notify::RecommendedWatcher> {
    let (tx, rx) = mpsc::unbounded_channel();
    let watched = root.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Some(seen) = event.ok().and_then(|event| Seen::of(event, &watched)) {
            let _ = tx.send(seen);
        }
    })
    .context("starting the file watcher")?;
    watcher.watch(&root, RecursiveMode::Recursive).with_context(|| format!("watching {}", root.display()))?;
    let shown = Shown::default();
    let _ = shown.fresh(shown_at_start);
    tokio::spawn(run(app, root, rx, shown));
    Ok(watcher)
}

/// Edits of the project, not of what serve itself writes or editors' scratch files.
fn is_relevant(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else { return false };
    let ignored_dir = rel
        .components()
        .any(|c| matches!(c.as_os_str().to_str(), Some(".keystone" | ".git" | "node_modules" | "target")));
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let scratch = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913"
        || name.ends_with(".tmp");
    !ignored_dir && !scratch
}

/// What makes a warning the same warning: code, file, message and source line (not its line
/// number, which an edit above it moves).
type WarningKey = (&'static str, String, String, Option<String>);

/// Warnings already printed: an edit elsewhere does not print them again.
#[derive(Default)]
struct Shown(std::sync::Mutex<BTreeSet<WarningKey>>);

impl Shown {
    /// The diagnostics worth printing now: every error, and the warnings not printed
    /// before. A warning that goes away and comes back prints again.
    fn fresh(&self, diagnostics: &[Diagnostic]) -> (Vec<Diagnostic>, usize) {
        let key = |d: &Diagnostic| (d.code, d.file.clone(), d.message.clone(), d.snippet.clone());
        let mut shown = self.0.lock().unwrap();
        let current: BTreeSet<_> = diagnostics.iter().filter(|d| !d.is_error()).map(key).collect();
        let fresh: Vec<Diagnostic> =
            diagnostics.iter().filter(|d| d.is_error() || !shown.contains(&key(d))).cloned().collect();
        let repeated = diagnostics.len() - fresh.len();
        *shown = current;
        (fresh, repeated)
    }
}

async fn run(app: Arc<App>, root: PathBuf, mut rx: mpsc::UnboundedReceiver<Seen>, shown: Shown) {
    while let Some(first) = rx.recv().await {
        let (mut changed, mut writing) = (Vec::new(), BTreeSet::new());
        first.record(&mut changed, &mut writing);
        if changed.is_empty() {
            continue; // only the end of a save that already reloaded
        }
        let started = Instant::now();
        // One save is usually the whole burst: swap it in now, so the next response shows it
        // without waiting for the quiet moment. Browsers hear of it once, after the burst.
        // A save is often two events (truncate, then write): the early load may have seen a
        // half-written file. Should the burst end broken, what served before it comes back.
        // The early load skips the project-wide rules (most of a reload's time, regexes
        // compiled afresh): they run on the load made once the burst is over.
        let early = load_unchecked(&root).await.filter(|p| !p.has_errors());
        let before = early.as_ref().map(|_| app.project());
        if let Some(project) = early {
            warn_about_restart(&app, &project);
            app.swap(project);
        }
        // Changes made while it loaded are queued: they count towards this burst. It is over
        // after a quiet moment with every file written to closed again: a writer paused between
        // truncating a file and writing it must not leave the empty file as the last good one.
        let waiting = Instant::now();
        while let Some(left) = MAX_WAIT.checked_sub(waiting.elapsed()) {
            let wait = if writing.is_empty() { QUIET.min(left) } else { left };
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(seen)) => seen.record(&mut changed, &mut writing),
                Ok(None) | Err(_) => break,
            }
        }
        changed.sort();
        changed.dedup();
        if let Some(project) = load(&root).await {
            apply(&app, &root, &changed, started, project, before, &shown).await;
        }
    }
}

/// The project at `root` with every rule checked (`None`: the loader itself failed).
async fn load(root: &Path) -> Option<crate::project::Project> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || crate::check::load_and_check(&root, false)).await.ok()
}

/// The project at `root` with only the problems found while loading it (syntax errors and
/// the like), not the project-wide rules.
async fn load_unchecked(root: &Path) -> Option<crate::project::Project> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || crate::project::load(&root)).await.ok()
}

fn warn_about_restart(app: &App, project: &crate::project::Project) {
    for setting in needs_restart(&app.project().settings, &project.settings) {
        log::warning(&format!("keystone.toml changed {setting}, which takes effect when serve restarts"));
    }
}

/// Publishes the reloaded project and tells the terminal and the browsers. `before` is what
/// served before this burst's early swap, if there was one.
async fn apply(
    app: &App,
    root: &Path,
    changed: &[PathBuf],
    started: Instant,
    project: crate::project::Project,
    before: Option<Arc<crate::project::Project>>,
    shown: &Shown,
) {
    // Editors and tools save through temporary files that are gone by now; name the rest.
    let names: Vec<String> = changed
        .iter()
        .filter(|p| p.exists() || p.extension().is_some())
        .map(|p| crate::diagnostic::relative(root, p))
        .collect();
    let (fresh, repeated) = shown.fresh(&project.diagnostics);
    log::diagnostics(&fresh);
    if repeated > 0 {
        let plural = if repeated == 1 { "" } else { "s" };
        log::info(&format!("({repeated} warning{plural} shown before, unchanged; `keystone-rs check` lists all)"));
    }
    if project.has_errors() {
        let errors: Vec<_> = project.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
        *app.broken.lock().unwrap() = errors.clone();
        if let Some(before) = before {
            app.publish(before);
        }
        if app.project().has_errors() {
            // Nothing good to keep (the project was broken at start): serve the newest.
            log::error(&format!("{} changed; the project still has errors", names.join(", ")));
            app.swap(project);
        } else {
            log::error(&format!("{} broke the project; still serving the last good version", names.join(", ")));
        }
        live::announce(app, &Change::Broken(errors)).await;
        return;
    }
    warn_about_restart(app, &project);
    app.swap(project);
    let project = app.project();
    let css_only = names.iter().all(|n| n.starts_with("public/") && n.ends_with(".css"));
    let change = if css_only {
        let urls: BTreeMap<String, String> = names
            .iter()
            .map(|n| {
                let path = format!("/{}", n.trim_start_matches("public/"));
                let url = project.public.asset_url(&path);
                (path, url)
            })
            .collect();
        Change::Css(urls)
    } else {
        Change::Reload
    };
    let was_broken = !std::mem::take(&mut *app.broken.lock().unwrap()).is_empty();
    if was_broken {
        // A CSS-only fix does not reload pages, so their overlay is cleared explicitly.
        live::announce(app, &Change::Fixed).await;
    }
    log::info(&format!(
        "reloaded after {} changed ({:.0}ms)",
        names.join(", "),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    live::announce(app, &change).await;
}

/// Settings that only apply at start: the listening address and the session and socket setup.
fn needs_restart(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.server.host != new.server.host || old.server.port != new.server.port {
        changed.push("[server] host/port");
    }
    if old.server.secure != new.server.secure {
        changed.push("[server] secure");
    }
    if old.session.store != new.session.store
        || old.session.cookie != new.session.cookie
        || old.session.expiry != new.session.expiry
    {
        changed.push("[session]");
    }
    if old.sockets.adapter != new.sockets.adapter || old.sockets.max_payload != new.sockets.max_payload {
        changed.push("[sockets]");
    }
    changed
}
