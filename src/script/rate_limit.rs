//! `rate_limit(key, max, window)` for every script: at most `max` calls with the same key per
//! window (the first call opens it), counted in this process. A contact form, a chat message or
//! a costly search can hold back one client or one session without a reverse proxy's help.
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use rhai::{Engine, EvalAltResult, ImmutableString};

use super::api_error;

/// Longest key, in bytes: keys are usually a prefix and an address or a session id.
const MAX_KEY: usize = 200;
/// Longest window.
const MAX_WINDOW: Duration = Duration::from_secs(7 * 86_400);
/// Keys remembered at once; past it, windows that have ended are forgotten, and if every one is
/// still open a new key is refused, as over its limit (a flood of made-up keys cannot grow
/// memory; keys already counted go on as before).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    length: Duration,
    calls: u64,
}

impl Window {
    fn ended(&self, now: Instant) -> bool {
        now.duration_since(self.opened) >= self.length
    }
}

/// Every key's current window.
#[derive(Debug, Default)]
pub struct RateLimits {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    windows: HashMap<String, Window>,
    /// When ended windows were last forgotten: at most once a second, so a flood of new keys
    /// into a full table costs one scan a second, not one per call.
    swept: Option<Instant>,
}

/// How often a full table may be scanned for ended windows.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

impl RateLimits {
    /// Counts a call for `key`: `true` while it is one of the first `max` in its window.
    fn allow(&self, key: &str, max: u64, length: Duration, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap();
        if let Some(window) = state.windows.get_mut(key)
            && !window.ended(now)
        {
            window.calls += 1;
            return window.calls <= max;
        }
        if state.windows.len() >= MAX_KEYS && !state.windows.contains_key(key) {
            if state.swept.is_none_or(|at| now.duration_since(at) >= SWEEP_INTERVAL) {
                state.windows.retain(|_, w| !w.ended(now));
                state.swept = Some(now);
            }
            if state.windows.len() >= MAX_KEYS {
                return false;
            }
        }
        state.windows.insert(key.to_string(), Window { opened: now, length, calls: 1 });
        true
    }
}

/// The process's limits: one app per process, shared by every script thread.
static LIMITS: LazyLock<RateLimits> = LazyLock::new(RateLimits::default);

fn rate_limit(key: ImmutableString, max: i64, window: ImmutableString) -> Result<bool, Box<EvalAltResult>> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(api_error(format!("rate_limit(): the key must be 1 to {MAX_KEY} bytes, not {}", key.len())));
    }
    let max = u64::try_from(max)
        .ok()
        .filter(|m| *m >= 1)
        .ok_or_else(|| api_error(format!("rate_limit(): the most calls per window must be 1 or more, not {max}")))?;
    let length = crate::project::settings::parse_duration(&window).filter(|w| *w <= MAX_WINDOW).ok_or_else(|| {
        api_error(format!(
            "rate_limit(): `{window}` is not a window from \"1s\" to \"7d\" (such as \"30s\", \"10m\", \"1h\")"
        ))
    })?;
    Ok(LIMITS.allow(&key, max, length, Instant::now()))
}

/// Registers `rate_limit`.
pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("rate_limit", rate_limit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_max_calls_of_a_window_pass_then_none_until_it_ends() {
        let limits = RateLimits::default();
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let calls: Vec<bool> = (0..4).map(|_| limits.allow("contact:1.2.3.4", 3, minute, start)).collect();
        assert_eq!(calls, [true, true, true, false]);
        assert!(limits.allow("contact:5.6.7.8", 3, minute, start), "another key has its own window");
        assert!(!limits.allow("contact:1.2.3.4", 3, minute, start + minute / 2));
        assert!(limits.allow("contact:1.2.3.4", 3, minute, start + minute), "a new window opens");
    }

    #[test]
    fn made_up_keys_cannot_grow_the_table_past_its_cap() {
        let limits = RateLimits::default();
        let start = Instant::now();
        let hour = Duration::from_secs(3600);
        for i in 0..MAX_KEYS {
            assert!(limits.allow(&format!("k{i}"), 1, hour, start));
        }
        assert!(!limits.allow("one more", 1, hour, start), "every window is open: a new key is refused");
        assert_eq!(limits.state.lock().unwrap().windows.len(), MAX_KEYS);
        assert!(limits.allow("k7", 1, hour, start + hour), "a known key opens its next window");
        assert!(limits.allow("one more", 1, hour, start + hour), "ended windows make room");
        assert_eq!(limits.state.lock().unwrap().windows.len(), 2);
    }

    #[test]
    fn bad_arguments_are_script_errors() {
        assert!(rate_limit("".into(), 1, "1m".into()).is_err());
        assert!(rate_limit("x".repeat(MAX_KEY + 1).into(), 1, "1m".into()).is_err());
        assert!(rate_limit("k".into(), 0, "1m".into()).is_err());
        assert!(rate_limit("k".into(), 1, "soon".into()).is_err());
        assert!(rate_limit("k".into(), 1, "8d".into()).is_err());
        assert!(rate_limit("bad-args-ok".into(), 1, "1m".into()).unwrap());
    }
}
