//! Where items live: one trait, two backends (SQLite by default, PostgreSQL for many nodes).
//! Items are JSON documents in one table per list; `index`/`unique` fields get expression
//! indexes, so a unique field holds even between two nodes writing at the same moment.
//! Values are always bound parameters; field and list names, which appear in SQL, are
//! identifiers checked by the model parser.

pub mod postgres;
pub mod sqlite;

use serde_json::{Map, Value};

use super::query::{Cond, Query};

/// A stored item: its id, a version bumped by each write, and the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub version: i64,
    pub data: Map<String, Value>,
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

/// One list's wanted indexes: field name and whether it is unique.
pub type Indexes = [(String, bool)];

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
    fn find(&self, list: &str, query: &Query) -> Result<Vec<Item>, StoreError>;
    /// # Errors
    /// The database being down.
    fn count(&self, list: &str, conds: &[Cond]) -> Result<u64, StoreError>;
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

/// Finds which field an index belongs to, from its name.
pub(crate) fn field_of_index(list: &str, indexes: &Indexes, name: &str) -> Option<String> {
    indexes.iter().find(|(f, u)| index_name(list, f, *u) == name).map(|(f, _)| f.clone())
}
