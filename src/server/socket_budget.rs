//! How many sockets may exist at once (`[sockets] max_sockets`): connected sockets plus
//! handshakes that have not connected yet. A long-polling handshake holds no connection, so
//! `[server] max_connections` alone would let one client open engine sessions faster than
//! their timeouts close them; the budget refuses new handshakes once it is spent.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a handshake may take to connect to a namespace; the engine closes it after that
/// (`crate::realtime::Config::connect_timeout`), and its place in the budget is given back.
pub const CONNECT_WINDOW: Duration = Duration::from_secs(15);

/// Handshakes are counted in slices of this length, oldest first.
const SLICE: Duration = Duration::from_secs(1);

/// A flood of refusals makes one log line per interval.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Sockets connected and handshakes pending, against a cap read at each handshake (the
/// setting reloads).
#[derive(Debug)]
pub struct SocketBudget {
    connected: Arc<AtomicUsize>,
    /// Handshakes not yet connected, per slice of time: (start of the slice, how many).
    pending: Mutex<VecDeque<(Instant, usize)>>,
    /// Refused handshakes, logged now and then.
    refusals: crate::log::Occasional,
}

impl Default for SocketBudget {
    fn default() -> Self {
        SocketBudget {
            connected: Arc::default(),
            pending: Mutex::default(),
            refusals: crate::log::Occasional::new(REFUSAL_LOG_INTERVAL),
        }
    }
}

impl SocketBudget {
    /// Takes a place for a new handshake, or `false` when `max` sockets exist or are on their way.
    pub fn try_handshake(&self, max: usize) -> bool {
        self.try_handshake_at(max, Instant::now())
    }

    fn try_handshake_at(&self, max: usize, now: Instant) -> bool {
        let mut pending = self.pending.lock().unwrap();
        while pending.front().is_some_and(|(start, _)| now.duration_since(*start) >= CONNECT_WINDOW) {
            pending.pop_front();
        }
        let waiting: usize = pending.iter().map(|(_, n)| n).sum();
        if waiting + self.connected.load(Ordering::Relaxed) >= max {
            return false;
        }
        match pending.back_mut() {
            Some((start, n)) if now.duration_since(*start) < SLICE => *n += 1,
            _ => pending.push_back((now, 1)),
        }
        true
    }

    /// A socket connected to a namespace: it now counts as connected until the returned
    /// guard is dropped (with the socket), and the oldest pending handshake is taken as its.
    pub fn connected(&self) -> ConnectedSocket {
        self.connected.fetch_add(1, Ordering::Relaxed);
        let mut pending = self.pending.lock().unwrap();
        if let Some((_, n)) = pending.front_mut() {
            *n -= 1;
            if *n == 0 {
                pending.pop_front();
            }
        }
        ConnectedSocket(self.connected.clone())
    }

    /// Notes a refused handshake; says how many to log when a line is due.
    pub fn refused(&self) -> Option<u64> {
        self.refusals.tick()
    }

    /// Sockets connected now.
    pub fn connected_count(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }
}

/// Kept in a socket's extensions: one connected socket, counted until the socket is gone.
#[derive(Debug)]
pub struct ConnectedSocket(Arc<AtomicUsize>);

impl Drop for ConnectedSocket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshakes_and_connected_sockets_share_the_cap() {
        let budget = SocketBudget::default();
        assert!(budget.try_handshake(2));
        assert!(budget.try_handshake(2));
        assert!(!budget.try_handshake(2), "two handshakes pending fill a cap of two");

        // Connecting turns a pending handshake into a connected socket: still two in all.
        let first = budget.connected();
        assert_eq!(budget.connected_count(), 1);
        assert!(!budget.try_handshake(2));

        // A socket gone gives its place back.
        drop(first);
        assert_eq!(budget.connected_count(), 0);
        assert!(budget.try_handshake(2));
        assert!(!budget.try_handshake(2));
    }

    #[test]
    fn handshakes_that_never_connect_give_their_place_back_after_the_window() {
        let budget = SocketBudget::default();
        let start = Instant::now();
        assert!(budget.try_handshake_at(1, start));
        assert!(!budget.try_handshake_at(1, start + CONNECT_WINDOW / 2));
        assert!(budget.try_handshake_at(1, start + CONNECT_WINDOW), "the engine has closed the first one by now");
    }

    #[test]
    fn a_connect_without_a_pending_handshake_still_counts() {
        let budget = SocketBudget::default();
        let _a = budget.connected();
        let _b = budget.connected();
        assert!(!budget.try_handshake(2));
        assert!(budget.try_handshake(3));
    }
}
