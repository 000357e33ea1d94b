//! Results of script finds and pages, kept while the data cannot have changed: a list page
//! asks the same question at every request. An answer is reused only under the store's same
//! [`generation`](super::Store::generation), which any write moves (this process's at once;
//! on SQLite another connection's or process's within a millisecond, through `PRAGMA
//! data_version`), so a reused answer is the one the database gives (or gave a millisecond
//! ago, for another process's commit). PostgreSQL has no generation (other nodes write
//! without telling), so nothing is kept there.
//!
//! `KEYSTONE_RESULT_CACHE=off` in the environment turns it off (to measure without it).
use std::collections::HashMap;
use std::sync::Mutex;

use super::Find;

/// At most this many answers are kept; when full, all are forgotten and it fills again.
const MAX_ENTRIES: usize = 256;
/// Stored text bytes behind the answers kept (their maps take a few times as much).
const MAX_WEIGHT: usize = 8 << 20;
/// A question whose key (its filter's values) is longer is not kept.
const MAX_KEY_BYTES: usize = 4096;

pub(crate) struct Results {
    enabled: bool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The generation every kept answer was read under.
    generation: u64,
    weight: usize,
    entries: HashMap<String, Answer>,
}

/// Items as scripts see them: an array for a find, a [`super::page::PageValue`] for a page
/// (whose copies share it).
pub(crate) type Answer = rhai::Dynamic;

impl Default for Results {
    fn default() -> Self {
        let off = std::env::var("KEYSTONE_RESULT_CACHE").is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false"));
        Results { enabled: !off, inner: Mutex::default() }
    }
}

impl Results {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// A copy of the answer kept for `key` under `generation`.
    pub(crate) fn get(&self, key: &str, generation: u64) -> Option<Answer> {
        let inner = self.inner();
        if inner.generation != generation {
            return None;
        }
        inner.entries.get(key).cloned()
    }

    /// Keeps `answer`, read under `generation` from documents of `weight` bytes.
    pub(crate) fn keep(&self, key: String, generation: u64, answer: &Answer, weight: usize) {
        if !self.enabled || key.len() > MAX_KEY_BYTES || weight > MAX_WEIGHT / 8 {
            return;
        }
        let mut inner = self.inner();
        if generation < inner.generation {
            return; // read before a write that is known now
        }
        if generation > inner.generation || inner.entries.len() >= MAX_ENTRIES || inner.weight + weight > MAX_WEIGHT {
            inner.entries.clear();
            inner.weight = 0;
            inner.generation = generation;
        }
        inner.weight += weight;
        inner.entries.insert(key, answer.clone());
    }
}

/// The key of a find (`page`: the page and its size asked for, for a paginate): all of it as
/// one JSON array, so no two finds share a key.
pub(crate) fn key(list: &str, find: &Find, page: Option<(i64, i64)>) -> String {
    let parts = (list, page, &find.sort, find.limit, find.skip, &find.populate, &find.filter);
    serde_json::to_string(&parts).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: i64) -> Answer {
        n.into()
    }

    fn read(results: &Results, key: &str, generation: u64) -> Option<i64> {
        results.get(key, generation).map(|items| items.as_int().unwrap())
    }

    #[test]
    fn an_answer_serves_only_its_generation() {
        let results = Results { enabled: true, inner: Mutex::default() };
        results.keep("q".into(), 3, &answer(1), 10);
        assert_eq!(read(&results, "q", 3), Some(1));
        assert_eq!(read(&results, "q", 4), None, "after a write");
        results.keep("q".into(), 4, &answer(2), 10);
        assert_eq!(read(&results, "q", 4), Some(2));
        results.keep("late".into(), 3, &answer(3), 10); // read before the write
        assert_eq!(read(&results, "late", 3), None);
        assert_eq!(read(&results, "late", 4), None);
    }

    #[test]
    fn answers_stay_bounded_and_big_ones_are_not_kept() {
        let results = Results { enabled: true, inner: Mutex::default() };
        for i in 0..MAX_ENTRIES * 3 {
            results.keep(format!("q{i}"), 1, &answer(1), 1000);
            let inner = results.inner();
            assert!(inner.entries.len() <= MAX_ENTRIES && inner.weight <= MAX_WEIGHT);
        }
        results.keep("big".into(), 1, &answer(1), MAX_WEIGHT);
        assert_eq!(read(&results, "big", 1), None);
        results.keep("x".repeat(MAX_KEY_BYTES + 1), 1, &answer(1), 1);
        assert_eq!(read(&results, &"x".repeat(MAX_KEY_BYTES + 1), 1), None);
        let off = Results { enabled: false, inner: Mutex::default() };
        off.keep("q".into(), 1, &answer(1), 1);
        assert_eq!(read(&off, "q", 1), None);
    }
}
