//! One socket's events run one at a time, in the order they arrived, as Node's handlers do.
//! Each event's handler runs in a task of its own, and tasks may start in any order; each event
//! takes a numbered turn while it is read (in order, before its task is spawned) and its task
//! waits for that turn. A client that sends faster than its handlers run cannot queue without
//! limit: past [`MAX_WAITING_EVENTS`] events or [`MAX_WAITING_BYTES`] bytes waiting, it gets
//! no turn and is disconnected.
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Events of one socket waiting for their turn, at most.
pub const MAX_WAITING_EVENTS: u64 = 1_000;
/// Bytes of payload of one socket waiting for their turn, at most (one event of any allowed
/// size is always let in when nothing waits).
pub const MAX_WAITING_BYTES: usize = 16 * 1024 * 1024;

/// The turns of one socket.
#[derive(Debug, Default)]
pub struct Turns {
    state: Mutex<State>,
    next: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Turns handed out so far: the next one gets this number.
    issued: u64,
    /// The turn whose handler may run now.
    serving: u64,
    /// Payload bytes of the turns handed out and not yet finished.
    bytes: usize,
    /// Turns dropped before they came up (their task ended early): skipped when reached.
    abandoned: BTreeSet<u64>,
}

/// A place in line. Dropping it (once served) lets the next one run.
#[derive(Debug)]
pub struct Turn {
    turns: Arc<Turns>,
    number: u64,
    bytes: usize,
}

/// Too much waits already: the socket sends faster than its handlers run.
#[derive(Debug, Clone, Copy)]
pub struct Flooded;

impl Turns {
    /// The next turn, for an event of `bytes`; `Flooded` when the line is full.
    pub fn take(self: &Arc<Self>, bytes: usize) -> Result<Turn, Flooded> {
        let mut state = self.state.lock().unwrap();
        let waiting = state.issued - state.serving;
        if waiting >= MAX_WAITING_EVENTS || (waiting > 0 && state.bytes + bytes > MAX_WAITING_BYTES) {
            return Err(Flooded);
        }
        let number = state.issued;
        state.issued += 1;
        state.bytes += bytes;
        Ok(Turn { turns: self.clone(), number, bytes })
    }

    /// A turn after every event read so far, whatever is waiting (the `disconnect` handler
    /// runs after the socket's last events).
    pub fn take_last(self: &Arc<Self>) -> Turn {
        let mut state = self.state.lock().unwrap();
        let number = state.issued;
        state.issued += 1;
        Turn { turns: self.clone(), number, bytes: 0 }
    }
}

impl Turn {
    /// Waits until every earlier turn has finished.
    pub async fn wait(&self) {
        loop {
            let notified = self.turns.next.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.turns.state.lock().unwrap().serving == self.number {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Turn {
    /// Hands over to the next turn; a turn dropped before it came up is skipped when reached.
    fn drop(&mut self) {
        let mut state = self.turns.state.lock().unwrap();
        state.bytes -= self.bytes;
        if state.serving != self.number {
            state.abandoned.insert(self.number);
            return;
        }
        state.serving += 1;
        while state.abandoned.first() == Some(&state.serving) {
            state.abandoned.pop_first();
            state.serving += 1;
        }
        drop(state);
        self.turns.next.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn turns_run_in_the_order_they_were_taken_whatever_order_the_tasks_start() {
        let turns = Arc::new(Turns::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let taken: Vec<Turn> = (0..50).map(|_| turns.take(10).unwrap()).collect();
        let mut tasks = Vec::new();
        // Started last to first: each still runs after every turn taken before it.
        for (i, turn) in taken.into_iter().enumerate().rev() {
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                turn.wait().await;
                tokio::time::sleep(Duration::from_micros(50)).await;
                order.lock().unwrap().push(i);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_full_line_refuses_more_until_it_moves() {
        let turns = Arc::new(Turns::default());
        let mut line: Vec<Turn> = (0..MAX_WAITING_EVENTS).map(|_| turns.take(1).unwrap()).collect();
        assert!(turns.take(1).is_err(), "the line is full");
        let first = line.remove(0);
        first.wait().await;
        drop(first);
        let joined = turns.take(1).expect("one finished, one may join");
        let last = turns.take_last();
        assert_eq!(last.number, MAX_WAITING_EVENTS + 1, "the disconnect's turn comes after everything read");
        for turn in line {
            turn.wait().await;
        }
        // A turn whose task ended before it came up does not hold up the ones behind it.
        drop(joined);
        tokio::time::timeout(Duration::from_secs(5), last.wait()).await.expect("the last turn comes up");
    }

    #[test]
    fn payload_bytes_waiting_are_capped_but_one_large_event_alone_is_let_in() {
        let turns = Arc::new(Turns::default());
        let big = turns.take(MAX_WAITING_BYTES + 1).expect("nothing waits: any allowed size comes in");
        assert!(turns.take(1).is_err(), "behind it, the bytes are over the cap");
        drop(big);
        let a = turns.take(MAX_WAITING_BYTES / 2).unwrap();
        let b = turns.take(MAX_WAITING_BYTES / 2).unwrap();
        assert!(turns.take(1).is_err());
        drop(a);
        drop(b);
    }
}
