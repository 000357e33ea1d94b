//! The one pipeline for script effects. Every script — controller, middleware, guard, socket
//! handler — runs through [`run`] (on the script pool) or [`run_inline`] (on the async worker,
//! when [`super::inline`] allows it), with a wall-clock budget, and with one [`Effect`]
//! recorder that every script API writes to. The server applies the effects, in order, once
//! the script has returned.
use std::cell::RefCell;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use rhai::FnPtr;

use super::ScriptError;

/// Something a script asked for.
#[derive(Debug, Clone)]
pub enum Effect {
    /// `render(view)`.
    Render(String),
    /// `redirect(url)`, already checked to stay on this site unless marked external.
    Redirect(String),
    /// `status(code)`, 200–599.
    Status(u16),
    /// `json(value)`.
    Json(serde_json::Value),
    /// `flash(kind, message)`.
    Flash { kind: String, message: String },
    /// `emit_to_session(event, data)`: every socket of this visitor.
    EmitToSession { event: String, data: serde_json::Value },
    /// `regenerate_session()`.
    RegenerateSession,
    /// `destroy_session()`, `signout()`.
    DestroySession,
    /// `signin(…)` succeeded: this user (as scripts see it) is signed in, in a regenerated session.
    SignIn(serde_json::Map<String, serde_json::Value>),
    /// The built-in `require_admin` guard refused a signed-in visitor who is not an admin.
    Forbidden,
    /// `socket.on(event, handler)`.
    On { event: String, handler: FnPtr },
    /// `socket.emit(event, data)`.
    Emit { event: String, data: serde_json::Value },
    /// `socket.broadcast(event, data)`: everyone else in the namespace.
    Broadcast { event: String, data: serde_json::Value },
    /// `socket.to(room).emit(event, data)`: everyone in the room but this socket.
    ToRoom { room: String, event: String, data: serde_json::Value },
    /// `socket.join(room)`.
    Join(String),
    /// `socket.leave(room)`.
    Leave(String),
    /// `socket.disconnect()`.
    Disconnect,
    /// `io.emit(…)`, `io.to(room).emit(…)`, `io.of(ns).emit(…)`: everyone in the namespace
    /// (or those rooms), the sender included. `namespace` is `None` for the script's own
    /// (a socket's namespace, `/` for controllers).
    Io { namespace: Option<String>, rooms: Vec<String>, event: String, data: serde_json::Value },
}

impl Effect {
    /// Effects that decide an HTTP response: a middleware or guard recording one ends the chain.
    pub fn decides_response(&self) -> bool {
        matches!(
            self,
            Effect::Render(_) | Effect::Redirect(_) | Effect::Status(_) | Effect::Json(_) | Effect::Forbidden
        )
    }
}

/// The run in progress on this thread: its effects so far and its deadline.
struct Run {
    effects: Vec<Effect>,
    deadline: Instant,
    /// An inline run: stopped at the inline limits (its deadline is theirs) rather than at
    /// the budget, to run again on the pool.
    inline: bool,
    /// The inline run passed its limits: its result and effects are void.
    over_inline_limits: bool,
    /// The end of the script's own budget (an inline run's `deadline` may come sooner).
    budget_end: Instant,
}

impl Run {
    fn new(deadline: Instant, inline: bool) -> Self {
        Run { effects: Vec::new(), deadline, inline, over_inline_limits: false, budget_end: deadline }
    }
}

thread_local! {
    static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
}

/// Records an effect of the script running on this thread (outside a run it is dropped: a
/// script API called by a unit test without [`run`]).
pub fn record(effect: Effect) {
    RUN.with(|run| {
        if let Some(run) = run.borrow_mut().as_mut() {
            run.effects.push(effect);
        }
    });
}

/// Whether a script run (with its deadline) is in progress on this thread.
pub fn in_run() -> bool {
    RUN.with(|run| run.borrow().is_some())
}

/// Whether a recorded effect already decides the HTTP response.
pub fn decided() -> bool {
    RUN.with(|run| run.borrow().as_ref().is_some_and(|r| r.effects.iter().any(Effect::decides_response)))
}

/// The engine's progress check (every 16 operations): the token to stop the running script
/// with, if it is past its wall-clock budget or, inline, past the inline limits.
pub(super) fn progress(operations: u64) -> Option<&'static str> {
    RUN.with(|run| {
        let mut run = run.borrow_mut();
        let run = run.as_mut()?;
        let late = Instant::now() >= run.deadline;
        if run.inline && (late || operations >= super::inline::INLINE_OPERATIONS) {
            run.over_inline_limits = true;
            return Some(super::OVER_INLINE_LIMITS);
        }
        late.then_some(super::BUDGET_SPENT)
    })
}

/// Whether the inline run in progress on this thread passed the inline limits.
pub(super) fn over_inline_limits() -> bool {
    RUN.with(|run| run.borrow().as_ref().is_some_and(|r| r.over_inline_limits))
}

/// Threads scripts run on. Scripts are synchronous and may block (a list read, argon2 in
/// `signin`, a runaway loop until its budget ends), so only runs that provably cannot block
/// run on the async workers ([`run_inline`]). Tokio's blocking pool grows with demand, so two
/// runaway scripts never hold up a third request. These threads get the large stack deep (but
/// allowed) script recursion needs in debug builds; so do `serve`'s async workers, for the
/// inline runs.
static POOL: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .thread_name("keystone-script")
        .thread_stack_size(SCRIPT_STACK)
        .max_blocking_threads(MAX_SCRIPT_THREADS)
        .build()
        .expect("the script thread pool starts")
});

/// Stack of each script thread, and of `serve`'s async workers (only touched pages cost memory).
pub const SCRIPT_STACK: usize = 16 * 1024 * 1024;
/// Scripts running at once at most; more wait for a thread.
const MAX_SCRIPT_THREADS: usize = 256;

/// Runs `script` on the script pool within `budget`, with a fresh recorder: its result and
/// the effects it recorded, in order.
pub async fn run<T: Send + 'static>(
    budget: Duration,
    script: impl FnOnce() -> Result<T, ScriptError> + Send + 'static,
) -> (Result<T, ScriptError>, Vec<Effect>) {
    let task = POOL.spawn_blocking(move || run_here(budget, script));
    match task.await {
        Ok(outcome) => outcome,
        Err(err) => (Err(ScriptError::internal(&format!("a script thread failed: {err}"))), Vec::new()),
    }
}

/// Runs `script` on this thread with a fresh recorder and deadline (what [`run`] does on the
/// pool; tests and `check` call it directly).
pub fn run_here<T>(
    budget: Duration,
    script: impl FnOnce() -> Result<T, ScriptError>,
) -> (Result<T, ScriptError>, Vec<Effect>) {
    let (result, run) = run_recorded(Run::new(Instant::now() + budget, false), script);
    (result, run.effects)
}

/// Runs `script` here, on the async worker, within the inline limits
/// ([`super::inline::INLINE_OPERATIONS`] per engine call and [`super::inline::INLINE_TIME`],
/// or `budget` if shorter): its result and effects, or `None` when it passed the limits. Then
/// nothing it recorded is kept, and the caller runs it again, from its original inputs, on the
/// pool. (Only what a script prints outside the recorder, `print`, shows twice.)
pub fn run_inline<T>(
    budget: Duration,
    script: impl FnOnce() -> Result<T, ScriptError>,
) -> Option<(Result<T, ScriptError>, Vec<Effect>)> {
    let now = Instant::now();
    let deadline = now + budget.min(super::inline::INLINE_TIME);
    // A script API that panics fails its request, as on the pool, not the worker's task.
    let script = || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(script))
            .unwrap_or_else(|_| Err(ScriptError::internal("a script call panicked")))
    };
    let (result, run) = run_recorded(Run { budget_end: now + budget, ..Run::new(deadline, true) }, script);
    (!run.over_inline_limits).then_some((result, run.effects))
}

/// Runs `f`, which may block (a database read or write), without holding up the async worker
/// an inline run is on: tokio hands the worker's other tasks to another thread first
/// (`block_in_place`), and the rest of the run goes on here. The run is inline no more: what
/// `f` did must happen once, so it is never stopped to run again on the pool, and it has its
/// whole budget. Anywhere else (the script pool, `check`, tests) `f` just runs.
pub fn leave_worker<T>(f: impl FnOnce() -> T) -> T {
    let was_inline = RUN.with(|run| {
        let mut run = run.borrow_mut();
        let Some(run) = run.as_mut().filter(|r| r.inline) else { return false };
        run.inline = false;
        run.deadline = run.budget_end;
        true
    });
    let on_worker = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if was_inline && on_worker { tokio::task::block_in_place(f) } else { f() }
}

/// Runs `script` with `run` as this thread's recorder; gives the recorder back.
fn run_recorded<T>(run: Run, script: impl FnOnce() -> Result<T, ScriptError>) -> (Result<T, ScriptError>, Run) {
    RUN.with(|slot| *slot.borrow_mut() = Some(run));
    let result = script();
    let run = RUN.with(|slot| slot.borrow_mut().take()).unwrap_or_else(|| Run::new(Instant::now(), false));
    (result, run)
}
