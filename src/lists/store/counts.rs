//! Counts already made, kept until the data may have changed: a paginated page asks for the
//! same count at every request, and counting thousands of index entries costs more than all
//! the rest of the page. The store says when to forget (it knows when anything was written);
//! a count that was running while a write happened is not kept, as it may predate the write.
use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many distinct counts are kept (scripts can build endless distinct filters);
/// when full, all are forgotten and it fills again.
const MAX_COUNTS: usize = 1024;
/// A count whose key (its SQL and values) is longer is not kept: a filter on a megabyte of
/// text must not make the memory held a thousand times that.
const MAX_KEY_BYTES: usize = 4096;

#[derive(Default)]
pub(crate) struct Counts {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every forget: a count begun under an older generation is not kept.
    generation: u64,
    known: HashMap<String, u64>,
}

/// What [`Counts::lookup`] found: the count, or the generation to pass to [`Counts::keep`].
pub(crate) enum Lookup {
    Known(u64),
    Unknown(u64),
}

impl Counts {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every count (something was, or may have been, written).
    pub(crate) fn forget(&self) {
        let mut inner = self.inner();
        inner.generation += 1;
        inner.known.clear();
    }

    /// Bumped by every forget: the same number means nothing was written in between.
    pub(crate) fn generation(&self) -> u64 {
        self.inner().generation
    }

    pub(crate) fn lookup(&self, key: &str) -> Lookup {
        let inner = self.inner();
        match inner.known.get(key) {
            Some(n) => Lookup::Known(*n),
            None => Lookup::Unknown(inner.generation),
        }
    }

    /// Keeps `count`, made after a lookup returned `generation`, unless a forget came since.
    pub(crate) fn keep(&self, key: String, generation: u64, count: u64) {
        let mut inner = self.inner();
        if inner.generation != generation || key.len() > MAX_KEY_BYTES {
            return;
        }
        if inner.known.len() >= MAX_COUNTS {
            inner.known.clear();
        }
        inner.known.insert(key, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(counts: &Counts, key: &str) -> u64 {
        match counts.lookup(key) {
            Lookup::Unknown(g) => g,
            Lookup::Known(n) => panic!("`{key}` is known already ({n})"),
        }
    }

    #[test]
    fn a_count_is_kept_until_a_forget() {
        let counts = Counts::default();
        let g = generation(&counts, "a");
        counts.keep("a".into(), g, 7);
        assert!(matches!(counts.lookup("a"), Lookup::Known(7)));
        counts.forget();
        generation(&counts, "a");
    }

    #[test]
    fn a_count_running_across_a_forget_is_not_kept() {
        let counts = Counts::default();
        let g = generation(&counts, "a");
        counts.forget(); // a write commits while the count runs
        counts.keep("a".into(), g, 7);
        generation(&counts, "a");
    }

    #[test]
    fn a_count_over_huge_values_is_not_kept() {
        let counts = Counts::default();
        let key = format!("SELECT count(*) … {}", "x".repeat(1 << 20));
        let g = generation(&counts, &key);
        counts.keep(key.clone(), g, 1);
        generation(&counts, &key);
    }

    #[test]
    fn endless_distinct_counts_stay_bounded() {
        let counts = Counts::default();
        for i in 0..MAX_COUNTS * 3 {
            let key = format!("filter {i}");
            let g = generation(&counts, &key);
            counts.keep(key, g, i as u64);
            assert!(counts.inner().known.len() <= MAX_COUNTS);
        }
    }
}
