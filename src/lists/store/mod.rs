//! Where items live: one trait, two backends (SQLite by default, PostgreSQL for many nodes).
//! Items are JSON documents in one table per list; `index`/`unique` fields get expression
//! indexes, so a unique field holds even between two nodes writing at the same moment.
//! Values are always bound parameters; field and list names, which appear in SQL, are
//! identifiers checked by the model parser.
//!
//! PostgreSQL's JSONB cannot hold U+0000 and SQLite's JSON functions cut text at it, yet a
//! text field may contain it: both backends store strings with a reversible escape
//! (U+10FFFF, a noncharacter, as the escape character), so what a script writes is what it
//! reads back and finds by equality.

mod counts;
pub mod postgres;
pub mod sqlite;

use serde_json::{Map, Value};

use super::query::{Cond, Path, Query, Sort};

/// A stored item: its id, a version bumped by each write, and the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub version: i64,
    pub data: Map<String, Value>,
}

/// A stored item as read, its document still the JSON text the database holds: a reader
/// that has already decoded the same text can skip decoding it again.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    pub version: i64,
    pub text: String,
}

impl Stored {
    /// The item, its document decoded (text that is not a JSON object reads as no fields).
    pub fn into_item(self) -> Item {
        Item { data: decode_text(&self.text), id: self.id, version: self.version }
    }
}

/// A stored document's fields.
pub(crate) fn decode_text(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text).map(decode) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write.
    #[error("`{field}` is already taken")]
    Unique { field: String },
    /// The database cannot be reached (PostgreSQL down, the file unwritable).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

/// An index a list wants: its keys in order (a field or the id, each ascending or
/// descending) and whether it is unique. A backend turns each key into the very expression
/// its queries use, so filters and `ORDER BY … LIMIT` are answered from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub keys: Vec<Sort>,
    pub unique: bool,
}

impl Index {
    /// An index on one field (what `index = true` and `unique = true` ask for).
    pub fn field(name: &str, unique: bool) -> Index {
        let path = Path::Field { name: name.to_string(), many: false, markdown: false };
        Index { keys: vec![Sort { path, descending: false }], unique }
    }

    /// The field a one-field index is on.
    fn single_field(&self) -> Option<&str> {
        match self.keys.as_slice() {
            [Sort { path: Path::Field { name, markdown: false, .. }, descending: false }] => Some(name),
            _ => None,
        }
    }

    /// Its name in the database: `ks_Post__u__slug` for one field; for an ordered index, its
    /// first field and a digest of all its keys, so a changed sort makes a new index.
    pub(crate) fn name(&self, list: &str) -> String {
        if let Some(field) = self.single_field() {
            return index_name(list, field, self.unique);
        }
        let spec: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let path = match &k.path {
                    Path::Id => "id".to_string(),
                    Path::Field { name, markdown: true, .. } => format!("{name}.md"),
                    Path::Field { name, .. } => name.clone(),
                };
                format!("{}{path}", if k.descending { "-" } else { "+" })
            })
            .collect();
        use sha2::Digest;
        let digest = hex::encode(&sha2::Sha256::digest(format!("{} {}", self.unique, spec.join(",")).as_bytes())[..4]);
        let first = match &self.keys.first().map(|k| &k.path) {
            Some(Path::Field { name, .. }) => name.as_str(),
            _ => "id",
        };
        let name = format!("ks_{list}__o__{first}_{digest}");
        if name.len() <= 63 { name } else { format!("ks_{list:.20}__o__{first:.20}_{digest}") }
    }
}

/// One list's wanted indexes.
pub type Indexes = [Index];

/// A storage backend. Every method is blocking: scripts are synchronous.
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`, for logs and `keystone-rs lists`.
    fn backend(&self) -> &'static str;
    /// Creates the list's table if missing and makes its indexes match `indexes`.
    ///
    /// # Errors
    /// A unique index over data that already repeats a value, or the database being down.
    fn prepare(&self, list: &str, indexes: &Indexes) -> Result<(), StoreError>;
    /// # Errors
    /// `Unique` when a unique field's value is taken.
    fn insert(&self, list: &str, item: &Item) -> Result<(), StoreError>;
    /// Replaces the item if it is still at `expected_version`; `false` when it moved on
    /// (or is gone), so the caller reads again and retries.
    ///
    /// # Errors
    /// `Unique` when a unique field's value is taken.
    fn replace(&self, list: &str, item: &Item, expected_version: i64) -> Result<bool, StoreError>;
    /// # Errors
    /// The database being down.
    fn delete(&self, list: &str, id: &str) -> Result<bool, StoreError>;
    /// # Errors
    /// The database being down.
    fn find(&self, list: &str, query: &Query) -> Result<Vec<Item>, StoreError> {
        Ok(self.find_stored(list, query)?.into_iter().map(Stored::into_item).collect())
    }
    /// [`Store::find`] with the documents left as stored text.
    ///
    /// # Errors
    /// The database being down.
    fn find_stored(&self, list: &str, query: &Query) -> Result<Vec<Stored>, StoreError>;
    /// # Errors
    /// The database being down.
    fn count(&self, list: &str, conds: &[Cond]) -> Result<u64, StoreError>;
    /// A number that stays the same as long as no item of any list can have changed, read
    /// now: this store's writes move it at once and, on SQLite, so does any other connection's
    /// commit (another process included) within a millisecond. `None` when the store cannot tell, as on PostgreSQL (other
    /// nodes write without telling), or when the database cannot be reached.
    fn generation(&self) -> Option<u64> {
        None
    }
    /// Records `name` as applied; `false` when it already was (by this node or another).
    ///
    /// # Errors
    /// The database being down.
    fn claim_update(&self, name: &str) -> Result<bool, StoreError>;
    /// Forgets a claimed update whose items could not all be written.
    ///
    /// # Errors
    /// The database being down.
    fn release_update(&self, name: &str) -> Result<(), StoreError>;
}

/// Opens its store at first use and again after a failure; lists prepared before the
/// store could be opened are prepared once it is.
pub struct Reconnecting {
    open: Opener,
    inner: std::sync::Mutex<Option<std::sync::Arc<dyn Store>>>,
    prepared: std::sync::Mutex<std::collections::BTreeMap<String, Vec<Index>>>,
}

type Opener = Box<dyn Fn() -> Result<std::sync::Arc<dyn Store>, StoreError> + Send + Sync>;

impl Reconnecting {
    pub fn new(open: Opener) -> Reconnecting {
        Reconnecting { open, inner: std::sync::Mutex::default(), prepared: std::sync::Mutex::default() }
    }

    fn get(&self) -> Result<std::sync::Arc<dyn Store>, StoreError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = inner.as_ref() {
            return Ok(store.clone());
        }
        let store = (self.open)()?;
        let prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (list, indexes) in &prepared {
            if let Err(e @ StoreError::Unavailable(_)) = store.prepare(list, indexes) {
                return Err(e);
            }
        }
        *inner = Some(store.clone());
        Ok(store)
    }
}

/// Every read and write of the database goes through [`Reconnecting`], so this is where a
/// script running inline on an async worker hands the worker's other tasks to another thread
/// before it may block (the generation check and the answers kept in memory do not block).
use crate::script::effects::leave_worker;

impl Store for Reconnecting {
    fn backend(&self) -> &'static str {
        self.get().map_or("unavailable", |s| s.backend())
    }
    fn prepare(&self, list: &str, indexes: &Indexes) -> Result<(), StoreError> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner()).insert(list.to_string(), indexes.to_vec());
        self.get()?.prepare(list, indexes)
    }
    fn insert(&self, list: &str, item: &Item) -> Result<(), StoreError> {
        leave_worker(|| self.get()?.insert(list, item))
    }
    fn replace(&self, list: &str, item: &Item, expected_version: i64) -> Result<bool, StoreError> {
        leave_worker(|| self.get()?.replace(list, item, expected_version))
    }
    fn delete(&self, list: &str, id: &str) -> Result<bool, StoreError> {
        leave_worker(|| self.get()?.delete(list, id))
    }
    fn find_stored(&self, list: &str, query: &Query) -> Result<Vec<Stored>, StoreError> {
        leave_worker(|| self.get()?.find_stored(list, query))
    }
    fn count(&self, list: &str, conds: &[Cond]) -> Result<u64, StoreError> {
        leave_worker(|| self.get()?.count(list, conds))
    }
    fn generation(&self) -> Option<u64> {
        // Once open, a store is kept for good: its generations never start over.
        self.get().ok()?.generation()
    }
    fn claim_update(&self, name: &str) -> Result<bool, StoreError> {
        leave_worker(|| self.get()?.claim_update(name))
    }
    fn release_update(&self, name: &str) -> Result<(), StoreError> {
        leave_worker(|| self.get()?.release_update(name))
    }
}

/// The keys both stores order by: the sort's keys, then the id so pages never overlap.
pub fn order_keys(sort: &[Sort]) -> Vec<Sort> {
    let mut keys = sort.to_vec();
    if !sort.iter().any(|s| s.path == Path::Id) {
        keys.push(Sort { path: Path::Id, descending: false });
    }
    keys
}

/// One key of an `ORDER BY` (missing values last when descending, first when ascending,
/// which is SQLite's own order); `expr` is the backend's field expression.
pub(crate) fn order_key(key: &Sort, expr: fn(&Path) -> String) -> String {
    match (&key.path, key.descending) {
        (Path::Id, false) => "id ASC".into(),
        (Path::Id, true) => "id DESC".into(),
        (path, false) => format!("{} ASC NULLS FIRST", expr(path)),
        (path, true) => format!("{} DESC NULLS LAST", expr(path)),
    }
}

/// The `ORDER BY` both stores use (see [`order_keys`]).
pub(crate) fn order_clause(query: &Query, expr: fn(&Path) -> String) -> String {
    let keys: Vec<String> = order_keys(&query.sort).iter().map(|k| order_key(k, expr)).collect();
    format!(" ORDER BY {}", keys.join(", "))
}

/// `ks_Post`: the table of a list (list names are PascalCase identifiers).
pub(crate) fn table(list: &str) -> String {
    format!("ks_{list}")
}

/// The name of a field's index; short enough for PostgreSQL's 63-byte identifiers.
pub(crate) fn index_name(list: &str, field: &str, unique: bool) -> String {
    let kind = if unique { "u" } else { "i" };
    let name = format!("ks_{list}__{kind}__{field}");
    if name.len() <= 63 {
        return name;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    format!("ks_{list:.20}__{kind}__{}", hex::encode(&digest[..8]))
}

/// Finds which field a unique index belongs to, from its name.
pub(crate) fn field_of_index(list: &str, indexes: &Indexes, name: &str) -> Option<String> {
    indexes
        .iter()
        .filter(|ix| ix.unique)
        .find(|ix| ix.name(list) == name)
        .and_then(|ix| ix.single_field())
        .map(str::to_string)
}

const ESCAPE: char = '\u{10FFFF}';

/// Whether `s` may hold the escape character (U+10FFFF is the only character whose UTF-8
/// starts with 0xF4 0x8F 0xBF; a byte search is much quicker than a character search).
fn may_hold_escape(s: &str) -> bool {
    s.as_bytes().contains(&0xF4) && s.contains(ESCAPE)
}

pub(crate) fn escape_str(s: &str) -> String {
    if !s.as_bytes().contains(&0) && !may_hold_escape(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => {
                out.push(ESCAPE);
                out.push('0');
            }
            ESCAPE => {
                out.push(ESCAPE);
                out.push(ESCAPE);
            }
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn unescape_str(s: &str) -> String {
    if !may_hold_escape(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == ESCAPE {
            match chars.next() {
                Some('0') => out.push('\0'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Applies `f` to every string (and object key) inside `value`.
fn map_strings(value: &Value, f: &impl Fn(&str) -> String) -> Value {
    match value {
        Value::String(s) => Value::String(f(s)),
        Value::Array(a) => Value::Array(a.iter().map(|v| map_strings(v, f)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (f(k), map_strings(v, f))).collect()),
        other => other.clone(),
    }
}

/// A value as stored: every string escaped.
pub(crate) fn encode(value: &Value) -> Value {
    map_strings(value, &escape_str)
}

/// A stored value as written. Only strings holding the escape are rebuilt: most documents
/// have none and come back as they are.
pub(crate) fn decode(mut value: Value) -> Value {
    decode_in_place(&mut value);
    value
}

fn decode_in_place(value: &mut Value) {
    match value {
        Value::String(s) if may_hold_escape(s) => *s = unescape_str(s),
        Value::Array(a) => a.iter_mut().for_each(decode_in_place),
        Value::Object(m) if m.keys().any(|k| may_hold_escape(k)) => {
            *m = std::mem::take(m).into_iter().map(|(k, v)| (unescape_str(&k), decode(v))).collect();
        }
        Value::Object(m) => m.values_mut().for_each(decode_in_place),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_decode_to_what_was_encoded() {
        let written = serde_json::json!({
            "plain": "text", "nul": "a\0b", "escape": "\u{10FFFF}", "n": 1.5, "none": null,
            "list": ["x\0", ["\0\u{10FFFF}"], 2], "json": { "key\0": { "deep\u{10FFFF}": "v\0" }, "k": "v" }
        });
        let stored = encode(&written);
        assert!(!stored.to_string().contains("\\u0000"), "{stored}");
        assert_eq!(decode(stored), written);
    }

    #[test]
    fn the_nul_escape_round_trips() {
        for s in ["plain", "a\0b", "\u{10FFFF}", "\u{10FFFF}0", "\0\0\u{10FFFF}\0", ""] {
            let e = escape_str(s);
            assert!(!e.contains('\0'));
            assert_eq!(unescape_str(&e), s);
        }
    }
}
