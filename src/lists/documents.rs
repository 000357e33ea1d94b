//! Documents already turned into script values, reused while their stored text stays the same.
//! A list page reads the same documents at every request, and decoding their JSON into Rhai
//! maps costs more than reading them from the database. An entry is used only when the text
//! read now is, byte for byte, the text it was made from: whoever wrote to the database, and
//! however (this process, another node, another program), a script never sees an older document.
use std::collections::HashMap;
use std::sync::Mutex;

use super::store::Stored;

/// Bytes of stored text kept in all (the maps made from them take a few times as much); a
/// document that would pass this forgets every entry first, and the cache fills again.
const MAX_BYTES: usize = 4 << 20;
/// A longer document is decoded at every read (a few of them would fill the cache).
const MAX_DOCUMENT_BYTES: usize = 64 << 10;

/// The cache of one [`super::Db`] (a model change makes a new one, so the maps, made with the
/// model's rules, such as leaving passwords out, always follow the current model).
#[derive(Default)]
pub(crate) struct Documents {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Text bytes held (ids included).
    bytes: usize,
    /// list → id → entry.
    lists: HashMap<String, HashMap<String, Entry>>,
}

struct Entry {
    text: Box<str>,
    value: rhai::Map,
}

impl Documents {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The script value of `stored`, an item of `list`: a copy of the one made before from the
    /// same text, else `make`'s, which is kept.
    pub(crate) fn value(&self, list: &str, stored: Stored, make: impl FnOnce(&Stored) -> rhai::Map) -> rhai::Map {
        if let Some(entry) = self.inner().lists.get(list).and_then(|items| items.get(&stored.id))
            && *entry.text == *stored.text
        {
            return entry.value.clone();
        }
        let value = make(&stored);
        if stored.text.len() > MAX_DOCUMENT_BYTES {
            return value;
        }
        let id_len = stored.id.len();
        let size = stored.text.len() + id_len;
        let entry = Entry { text: stored.text.into_boxed_str(), value: value.clone() };
        let mut inner = self.inner();
        if inner.bytes + size > MAX_BYTES {
            inner.lists.clear();
            inner.bytes = 0;
        }
        if !inner.lists.contains_key(list) {
            inner.lists.insert(list.to_string(), HashMap::new());
        }
        let Some(items) = inner.lists.get_mut(list) else {
            return value;
        };
        let replaced = items.insert(stored.id, entry).map_or(0, |old| old.text.len() + id_len);
        inner.bytes = inner.bytes + size - replaced;
        value
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.inner().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, text: &str) -> Stored {
        Stored { id: id.into(), version: 1, text: text.into() }
    }

    /// A map made by the test's `make`, telling which call made it.
    fn made(n: i64) -> rhai::Map {
        rhai::Map::from([("made".into(), n.into())])
    }

    fn made_by(map: &rhai::Map) -> i64 {
        map["made"].as_int().unwrap()
    }

    #[test]
    fn a_map_is_reused_only_for_the_same_text() {
        let docs = Documents::default();
        assert_eq!(made_by(&docs.value("Post", stored("a", r#"{"t":1}"#), |_| made(1))), 1);
        assert_eq!(made_by(&docs.value("Post", stored("a", r#"{"t":1}"#), |_| made(2))), 1, "same text");
        assert_eq!(made_by(&docs.value("Post", stored("a", r#"{"t":2}"#), |_| made(3))), 3, "new text");
        assert_eq!(made_by(&docs.value("Page", stored("a", r#"{"t":2}"#), |_| made(4))), 4, "another list");
        assert_eq!(made_by(&docs.value("Post", stored("a", r#"{"t":2}"#), |_| made(5))), 3);
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let docs = Documents::default();
        let text = format!(r#"{{"t":"{}"}}"#, "x".repeat(1000));
        for i in 0..10_000 {
            docs.value("Post", stored(&format!("{i:024}"), &text), |_| made(i));
            assert!(docs.bytes() <= MAX_BYTES);
        }
        let huge = format!(r#"{{"t":"{}"}}"#, "x".repeat(MAX_DOCUMENT_BYTES));
        docs.value("Post", stored("huge", &huge), |_| made(1));
        assert_eq!(made_by(&docs.value("Post", stored("huge", &huge), |_| made(2))), 2, "not kept");
    }
}
