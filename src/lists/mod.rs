//! Lists: the app's data (DESIGN §10). `models/NAME.toml` files become [`Model`]s; a [`Db`]
//! joins them to a [`Store`] (SQLite or PostgreSQL) and is what every read and write goes
//! through: validation per field, the slug autokey, hooks, populate, pagination.
//! Scripts reach it with `list("Post")` ([`rhai_api`]); `updates/*.toml` seed it once.

mod documents;
pub mod model;
pub mod page;
pub mod query;
mod results;
pub mod rhai_api;
pub mod store;
pub mod updates;
pub mod value;

use std::collections::BTreeMap;
use std::path::Path as FsPath;
use std::sync::Arc;

use rhai::{AST, Dynamic, Engine};
use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
pub use model::{Field, FieldType, Model};
use query::{Cond, Op, Page, Path, Query};
pub use store::{Item, Store, StoreError, Stored};

/// Where the data lives (from `[database] url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `.keystone/data.sqlite3` under the project root.
    Sqlite,
    Postgres(String),
}

/// The database file of the SQLite backend, relative to the project root.
pub const SQLITE_FILE: &str = ".keystone/data.sqlite3";

/// Opens the store of `backend` for the project at `root`.
///
/// # Errors
/// The file cannot be created, the URL is malformed or the server is unreachable.
pub fn open_store(root: &FsPath, backend: &Backend) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match backend {
        Backend::Sqlite => Arc::new(store::sqlite::SqliteStore::open(&root.join(SQLITE_FILE))?),
        Backend::Postgres(url) => Arc::new(store::postgres::PostgresStore::open(url)?),
    })
}

/// A store for a server: opened at first use, and opened again after a failed attempt (a
/// PostgreSQL that is down at start), preparing the lists it was asked for meanwhile.
pub fn open_store_lazily(root: &FsPath, backend: &Backend) -> Arc<dyn Store> {
    let (root, backend) = (root.to_path_buf(), backend.clone());
    Arc::new(store::Reconnecting::new(Box::new(move || open_store(&root, &backend))))
}

/// Runs blocking database work; on an async worker it first tells the runtime so.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Errors of list operations, as scripts see them.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("unknown list `{name}`{hint}")]
    UnknownList { name: String, hint: String },
    #[error("list `{list}` has no field `{field}`{hint}")]
    UnknownField { list: String, field: String, hint: String },
    #[error("{0}")]
    Filter(String),
    #[error("{0}")]
    Input(String),
    #[error("{file}: {message}")]
    Hook { file: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ListError {
    fn unknown_field(model: &Model, field: &str) -> ListError {
        let hint = model::did_you_mean(field, model.field_names().chain(["id"]))
            .map_or_else(String::new, |k| format!(" (did you mean `{k}`?)"));
        ListError::UnknownField { list: model.name.clone(), field: field.to_string(), hint }
    }

    /// The database could not be reached: the request deserves a 503, not a 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ListError::Store(StoreError::Unavailable(_)))
    }
}

/// `models/NAME.rhai`: hooks run around writes of one list.
#[derive(Clone)]
pub struct Hooks {
    pub file: String,
    /// The source, for the check rules' scanners (hooks are scripts like any other).
    pub source: Arc<str>,
    pub ast: Arc<AST>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hooks({})", self.file)
    }
}

/// The outcome of a create or update: the saved item, or a message per invalid field.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    Item(Map<String, Value>),
    Invalid(BTreeMap<String, String>),
}

/// A write's end: done (saved or refused), or beaten by another writer (read again).
enum Written {
    Done(Saved),
    Moved,
}

/// Items read at a time while clearing references to a removed item.
const UNLINK_BATCH: u64 = 200;

/// A find as data: what scripts build with `find(…).sort(…).populate(…)`.
#[derive(Debug, Clone, Default)]
pub struct Find {
    pub filter: Map<String, Value>,
    pub sort: Option<String>,
    pub skip: u64,
    pub limit: Option<u64>,
    pub populate: Vec<String>,
}

/// One page of items and where it sits.
#[derive(Debug, Clone)]
pub struct PageOf {
    pub page: Page,
    pub items: Vec<Map<String, Value>>,
}

/// How deep hooks may write into lists whose hooks write again.
const MAX_HOOK_DEPTH: usize = 4;
/// The wall-clock budget of a hook run outside any request or event.
const HOOK_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);
/// How many suffixes (`-2`, `-3`…) the slug autokey tries before giving up.
const MAX_SLUG_TRIES: usize = 50;

/// The lists of one project joined to a store; cheap to rebuild when a model changes.
pub struct Db {
    /// Itself, entered as the scripts' database while a hook runs.
    me: std::sync::Weak<Db>,
    store: Arc<dyn Store>,
    models: BTreeMap<String, Model>,
    hooks: BTreeMap<String, Hooks>,
    /// Told of every write that landed (the Admin UI follows the data live).
    changes: std::sync::OnceLock<ChangeSink>,
    /// Documents already made into script values (see [`documents`]).
    documents: documents::Documents,
    /// Answers of script finds while the data stays the same (see [`results`]).
    results: results::Results,
}

/// A write that landed: item `id` of `list` is now at `version`, or gone (`None`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub list: String,
    pub id: String,
    pub version: Option<i64>,
}

/// An item as scripts see it, with the version its last write gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub item: Map<String, Value>,
    pub version: i64,
}

/// Where a [`Db`] reports its [`Change`]s; called on the writing thread, so it must be quick.
pub type ChangeSink = Arc<dyn Fn(Change) + Send + Sync>;

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({}, {:?})", self.store.backend(), self.models.keys().collect::<Vec<_>>())
    }
}

thread_local! {
    static HOOK_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static HOOK_ERRORS: std::cell::RefCell<BTreeMap<String, String>> = std::cell::RefCell::default();
}

impl Db {
    /// Joins `models` to `store`, creating tables and indexes as the models ask. A list
    /// whose indexes cannot be made (a new unique field over repeated values) still serves,
    /// with a diagnostic.
    pub fn new(
        store: Arc<dyn Store>,
        models: BTreeMap<String, Model>,
        hooks: BTreeMap<String, Hooks>,
    ) -> (Arc<Db>, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        for m in models.values() {
            if let Err(e) = store.prepare(&m.name, &query::indexes(m)) {
                if matches!(e, StoreError::Unavailable(_)) {
                    // Prepared when the database comes back (see `open_store_lazily`).
                    continue;
                }
                let message = match &e {
                    StoreError::Unique { field } => {
                        format!("cannot make `{field}` unique: items of `{}` already repeat a value", m.name)
                    }
                    other => format!("cannot prepare list `{}`: {other}", m.name),
                };
                let d = Diagnostic::error("model-index", m.file.as_str(), message)
                    .with_help("make the values distinct first, or drop `unique`");
                diagnostics.push(d);
            }
        }
        (
            Arc::new_cyclic(|me| Db {
                me: me.clone(),
                store,
                models,
                hooks,
                changes: std::sync::OnceLock::new(),
                documents: documents::Documents::default(),
                results: results::Results::default(),
            }),
            diagnostics,
        )
    }

    /// Reports every write from now on to `sink` (once; later calls are ignored).
    pub fn on_change(&self, sink: ChangeSink) {
        let _ = self.changes.set(sink);
    }

    fn changed(&self, list: &str, id: &str, version: Option<i64>) {
        if let Some(sink) = self.changes.get() {
            sink(Change { list: list.to_string(), id: id.to_string(), version });
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn models(&self) -> &BTreeMap<String, Model> {
        &self.models
    }

    /// # Errors
    /// No list of that name (with "did you mean").
    pub fn model(&self, list: &str) -> Result<&Model, ListError> {
        self.models.get(list).ok_or_else(|| ListError::UnknownList {
            name: list.to_string(),
            hint: match model::did_you_mean(list, self.models.keys().map(String::as_str)) {
                Some(k) => format!(" (did you mean `{k}`?)"),
                None if self.models.is_empty() => " (the app has no models/*.toml)".into(),
                None => String::new(),
            },
        })
    }

    /// Items matching a find, in order, relationships populated as asked.
    ///
    /// # Errors
    /// Unknown list, fields or operators; the database being down.
    pub fn find(&self, list: &str, find: &Find) -> Result<Vec<Map<String, Value>>, ListError> {
        let model = self.model(list)?;
        let query = self.query(model, find)?;
        let items = self.store.find(list, &query)?;
        self.present(model, items, &find.populate)
    }

    /// How many items match `filter`.
    ///
    /// # Errors
    /// As [`Db::find`].
    pub fn count(&self, list: &str, filter: &Map<String, Value>) -> Result<u64, ListError> {
        let model = self.model(list)?;
        Ok(self.store.count(list, &query::parse_filter(model, filter)?)?)
    }

    /// Page `page` (1-based, clamped) of `per_page` items, with the totals around it.
    ///
    /// # Errors
    /// As [`Db::find`].
    pub fn paginate(&self, list: &str, find: &Find, page: i64, per_page: i64) -> Result<PageOf, ListError> {
        let model = self.model(list)?;
        let (page, query) = self.page_query(model, find, page, per_page)?;
        let items = self.store.find(list, &query)?;
        Ok(PageOf { items: self.present(model, items, &find.populate)?, page })
    }

    /// [`Db::find`] as script values (what `list("…").find(…).all()` returns). Documents
    /// read before are copied from the maps made then instead of decoded again.
    ///
    /// # Errors
    /// As [`Db::find`].
    pub fn find_values(&self, list: &str, find: &Find) -> Result<rhai::Array, ListError> {
        let model = self.model(list)?;
        let items = self.remembered(list, find, None, || {
            let query = self.query(model, find)?;
            let rows = self.store.find_stored(list, &query)?;
            let (items, weight) = self.present_values(model, rows, &find.populate)?;
            Ok((Dynamic::from_array(items), weight))
        })?;
        Ok(items.into_array().unwrap_or_default())
    }

    /// [`Db::paginate`] with the items as script values (see [`Db::find_values`]), as the
    /// shared [`page::PageValue`] scripts get.
    ///
    /// # Errors
    /// As [`Db::find`].
    pub fn paginate_values(
        &self,
        list: &str,
        find: &Find,
        page: i64,
        per_page: i64,
    ) -> Result<page::PageValue, ListError> {
        let model = self.model(list)?;
        let answer = self.remembered(list, find, Some((page, per_page)), || {
            let (page, query) = self.page_query(model, find, page, per_page)?;
            let rows = self.store.find_stored(list, &query)?;
            let (items, weight) = self.present_values(model, rows, &find.populate)?;
            Ok((Dynamic::from(page::PageValue::new(&page, items)), weight))
        })?;
        page::in_value(&answer).ok_or_else(|| ListError::Input("a page without its place".into()))
    }

    /// The answer kept for this find if the data cannot have changed since, else `read`'s
    /// (with the bytes of the documents behind it), kept for next time (see [`results`]).
    fn remembered(
        &self,
        list: &str,
        find: &Find,
        page: Option<(i64, i64)>,
        read: impl FnOnce() -> Result<(Dynamic, usize), ListError>,
    ) -> Result<Dynamic, ListError> {
        let generation = if self.results.enabled() { self.store.generation() } else { None };
        let Some(generation) = generation else {
            return read().map(|(answer, _)| answer);
        };
        let key = results::key(list, find, page);
        if let Some(answer) = self.results.get(&key, generation) {
            return Ok(answer);
        }
        let (answer, weight) = read()?;
        self.results.keep(key, generation, &answer, weight);
        Ok(answer)
    }

    /// The page (clamped by the count of matches) and the query that reads it.
    fn page_query(&self, model: &Model, find: &Find, page: i64, per_page: i64) -> Result<(Page, Query), ListError> {
        let mut query = self.query(model, find)?;
        let total = self.store.count(&model.name, &query.conds)?;
        let page = Page::new(page, per_page, total);
        query.skip = page.skip();
        query.limit = Some(page.per_page);
        Ok((page, query))
    }

    /// The item with this id, or else the one with this slug.
    ///
    /// # Errors
    /// As [`Db::find`].
    pub fn get(&self, list: &str, key: &str, populate: &[String]) -> Result<Option<Map<String, Value>>, ListError> {
        let model = self.model(list)?;
        let Some(item) = self.get_raw(model, key)? else {
            return Ok(None);
        };
        Ok(self.present(model, vec![item], populate)?.pop())
    }

    /// The item with this id (or slug) as [`Db::get`] gives it, with its version (bumped by
    /// every write: an edit form carries it to notice a newer save).
    ///
    /// # Errors
    /// As [`Db::find`].
    pub fn get_versioned(&self, list: &str, key: &str) -> Result<Option<Versioned>, ListError> {
        let model = self.model(list)?;
        Ok(self.get_raw(model, key)?.map(|item| Versioned { item: public(model, &item), version: item.version }))
    }

    fn get_raw(&self, model: &Model, key: &str) -> Result<Option<Item>, ListError> {
        if value::valid_id(key) {
            let q = Query { conds: vec![id_is(key)], limit: Some(1), ..Query::default() };
            if let Some(item) = self.store.find(&model.name, &q)?.pop() {
                return Ok(Some(item));
            }
        }
        if let Some(slug) = &model.slug {
            let q = Query { conds: vec![field_is(model, &slug.field, key)], limit: Some(1), ..Query::default() };
            return Ok(self.store.find(&model.name, &q)?.pop());
        }
        Ok(None)
    }

    /// Whether `plain` is the password kept in `field` of item `id` (for sign-in).
    ///
    /// # Errors
    /// As [`Db::find`].
    pub fn verify_password(&self, list: &str, id: &str, field: &str, plain: &str) -> Result<bool, ListError> {
        let model = self.model(list)?;
        if model.field(field).is_none_or(|f| f.kind != FieldType::Password) {
            return Err(ListError::Input(format!("`{list}.{field}` is not a password field")));
        }
        let Some(item) = self.get_raw(model, id)? else {
            return Ok(false);
        };
        Ok(value::verify_or_decoy(plain, item.data.get(field).and_then(Value::as_str)))
    }

    /// Validates and saves a new item; hooks run with `engine`.
    ///
    /// # Errors
    /// Unknown list or fields (a script's mistake); the database being down; a hook failing.
    /// Invalid values are not errors: they come back as [`Saved::Invalid`].
    pub fn create(&self, engine: &Engine, list: &str, input: &Map<String, Value>) -> Result<Saved, ListError> {
        let model = self.model(list)?;
        let mut errors = BTreeMap::new();
        let mut data = Map::new();
        self.apply_input(model, input, &mut data, &mut errors)?;
        for f in &model.fields {
            if !data.contains_key(&f.name) {
                if let Some(d) = &f.default {
                    let d = match value::convert(f, d, false) {
                        Ok(Some(now)) if d == "now" => now,
                        _ => d.clone(),
                    };
                    data.insert(f.name.clone(), d);
                } else if f.kind == FieldType::Boolean {
                    data.insert(f.name.clone(), Value::Bool(false));
                }
            }
        }
        let id = value::new_id();
        match self.save(engine, model, Item { id, version: 1, data }, None, errors)? {
            Written::Done(saved) => Ok(saved),
            Written::Moved => Err(ListError::Input(format!("`{list}`: a new item's id was taken; try again"))),
        }
    }

    /// Changes the fields in `patch` of item `key` (id or slug); an empty value clears a
    /// field, except a password, which an empty value leaves as it was.
    ///
    /// # Errors
    /// As [`Db::create`].
    pub fn update(
        &self,
        engine: &Engine,
        list: &str,
        key: &str,
        patch: &Map<String, Value>,
    ) -> Result<Saved, ListError> {
        // Without an expected version the write always lands: `None` never comes back.
        let saved = self.update_at(engine, list, key, patch, None)?;
        saved.ok_or_else(|| ListError::Input(format!("`{list}` item `{key}` changes too often to update")))
    }

    /// [`Db::update`] only if the item is still at `version` (an edit form opened then):
    /// `None` when a newer version was saved meanwhile, and nothing was written.
    ///
    /// # Errors
    /// As [`Db::create`].
    pub fn update_if_version(
        &self,
        engine: &Engine,
        list: &str,
        key: &str,
        patch: &Map<String, Value>,
        version: i64,
    ) -> Result<Option<Saved>, ListError> {
        self.update_at(engine, list, key, patch, Some(version))
    }

    fn update_at(
        &self,
        engine: &Engine,
        list: &str,
        key: &str,
        patch: &Map<String, Value>,
        expected: Option<i64>,
    ) -> Result<Option<Saved>, ListError> {
        let model = self.model(list)?;
        // Optimistic: read, change, write if nobody wrote in between; else read again.
        for _ in 0..20 {
            let Some(current) = self.get_raw(model, key)? else {
                return Ok(Some(Saved::Invalid(BTreeMap::from([(
                    "id".to_string(),
                    format!("no {} has id `{key}`", model.name),
                )]))));
            };
            if expected.is_some_and(|v| v != current.version) {
                return Ok(None);
            }
            let mut errors = BTreeMap::new();
            let mut data = current.data.clone();
            self.apply_input(model, patch, &mut data, &mut errors)?;
            let next = Item { id: current.id.clone(), version: current.version + 1, data };
            match self.save(engine, model, next, Some(current.version), errors)? {
                Written::Moved => continue,
                Written::Done(saved) => return Ok(Some(saved)),
            }
        }
        Ok(None)
    }

    /// Removes an item; `false` when there was none.
    ///
    /// # Errors
    /// The database being down, or the `after_remove` hook failing.
    pub fn remove(&self, engine: &Engine, list: &str, key: &str) -> Result<bool, ListError> {
        let model = self.model(list)?;
        let Some(item) = self.get_raw(model, key)? else {
            return Ok(false);
        };
        if !self.store.delete(list, &item.id)? {
            return Ok(false);
        }
        self.changed(list, &item.id, None);
        self.unlink(engine, list, &item.id)?;
        let public = public(model, &item);
        self.hook(engine, model, "after_remove", public)?;
        Ok(true)
    }

    /// Clears what other items held of a removed item, as a relational database's `ON DELETE
    /// SET NULL` would: a relationship to it becomes empty, a many-relationship loses its id.
    /// Each such item is saved like any update (a new version, hooks, live admin pages). A
    /// required relationship cannot be emptied: it keeps the id, and the log says where.
    fn unlink(&self, engine: &Engine, target: &str, id: &str) -> Result<(), ListError> {
        for model in self.models.values() {
            for field in model.fields.iter().filter(|f| f.target.as_deref() == Some(target)) {
                let mut filter = Map::new();
                filter.insert(field.name.clone(), Value::String(id.to_string()));
                // Bounded by the count first seen, even if a hook keeps putting the id back.
                let passes = self.count(&model.name, &filter)? / UNLINK_BATCH + 1;
                let find = Find { filter, limit: Some(UNLINK_BATCH), ..Find::default() };
                let mut kept = 0;
                for _ in 0..passes {
                    let holders = self.find(&model.name, &Find { skip: kept, ..find.clone() })?;
                    let batch = holders.len() as u64;
                    for holder in holders {
                        let Some(holder_id) = holder.get("id").and_then(Value::as_str) else { continue };
                        let left = match holder.get(&field.name) {
                            Some(Value::Array(ids)) if field.many => {
                                Value::Array(ids.iter().filter(|v| v.as_str() != Some(id)).cloned().collect())
                            }
                            _ => Value::Null,
                        };
                        let patch = Map::from_iter([(field.name.clone(), left)]);
                        if let Saved::Invalid(errors) = self.update(engine, &model.name, holder_id, &patch)? {
                            kept += 1;
                            crate::log::warning(&format!(
                                "{}: `{}` item `{holder_id}` still refers to removed `{target}` item `{id}` ({})",
                                model.name,
                                field.name,
                                errors.into_values().collect::<Vec<_>>().join("; ")
                            ));
                        }
                    }
                    if batch < UNLINK_BATCH {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn apply_input(
        &self,
        model: &Model,
        input: &Map<String, Value>,
        data: &mut Map<String, Value>,
        errors: &mut BTreeMap<String, String>,
    ) -> Result<(), ListError> {
        for (name, v) in input {
            // Forms carry their CSRF token; an item's own id may come back from a form.
            if name == "csrf_token" || name == "id" {
                continue;
            }
            let Some(field) = model.field(name) else {
                return Err(ListError::unknown_field(model, name));
            };
            match value::convert(field, v, true) {
                Ok(Some(stored)) => {
                    let stored = if field.name == model.slug.as_ref().map_or("", |s| s.field.as_str()) {
                        Value::String(value::slugify(stored.as_str().unwrap_or_default()))
                    } else {
                        stored
                    };
                    data.insert(name.clone(), stored);
                }
                Ok(None) if field.kind == FieldType::Password => {}
                Ok(None) => {
                    data.remove(name);
                }
                Err(message) => {
                    errors.insert(name.clone(), format!("{} {message}", field.label));
                }
            }
        }
        Ok(())
    }

    /// The shared end of create and update: autokey, hooks, required, relationship targets,
    /// the write itself (a unique index's refusal becomes the field's error), `after_save`.
    fn save(
        &self,
        engine: &Engine,
        model: &Model,
        mut item: Item,
        expected: Option<i64>,
        mut errors: BTreeMap<String, String>,
    ) -> Result<Written, ListError> {
        if let Some(slug) = &model.slug
            && !item.data.contains_key(&slug.field)
        {
            let base = match item.data.get(&slug.from) {
                Some(Value::Object(m)) => m.get("md").and_then(Value::as_str).map(value::slugify),
                Some(Value::String(s)) => Some(value::slugify(s)),
                _ => None,
            }
            .filter(|s| !s.is_empty());
            if let Some(base) = base {
                let mut candidate = base.clone();
                for n in 2..MAX_SLUG_TRIES + 2 {
                    let taken = self.store.count(
                        &model.name,
                        &[
                            field_is(model, &slug.field, &candidate),
                            Cond { path: Path::Id, op: Op::Ne, value: Value::String(item.id.clone()) },
                        ],
                    )? > 0;
                    if !taken {
                        break;
                    }
                    candidate = format!("{base}-{n}");
                }
                item.data.insert(slug.field.clone(), Value::String(candidate));
            }
        }

        if errors.is_empty() {
            let mut before = item.data.clone();
            before.insert("id".into(), Value::String(item.id.clone()));
            let hook_errors = HOOK_ERRORS.with(|e| std::mem::take(&mut *e.borrow_mut()));
            let returned = self.hook(engine, model, "before_save", public_raw(model, &before));
            let raised = HOOK_ERRORS.with(|e| std::mem::replace(&mut *e.borrow_mut(), hook_errors));
            let returned = returned?;
            errors.extend(raised);
            if let Some(Value::Object(changed)) = returned {
                // Values the hook changed are converted like any input.
                let fresh: Map<String, Value> =
                    changed.into_iter().filter(|(k, v)| k != "id" && before.get(k) != Some(v)).collect();
                self.apply_input(model, &fresh, &mut item.data, &mut errors)?;
            }
        }

        for f in &model.fields {
            if f.required && !item.data.contains_key(&f.name) && !errors.contains_key(&f.name) {
                errors.insert(f.name.clone(), format!("{} is required", f.label));
            }
            if let (Some(target), Some(v)) = (&f.target, item.data.get(&f.name))
                && !errors.contains_key(&f.name)
            {
                let ids: Vec<Value> = match v {
                    Value::Array(a) => a.clone(),
                    one => vec![one.clone()],
                };
                let found = match self.models.contains_key(target) {
                    true => self
                        .store
                        .count(target, &[Cond { path: Path::Id, op: Op::In, value: Value::Array(ids.clone()) }])?,
                    false => 0,
                };
                if found < ids.len() as u64 {
                    errors.insert(f.name.clone(), format!("{} refers to a {target} that does not exist", f.label));
                }
            }
        }
        if !errors.is_empty() {
            return Ok(Written::Done(Saved::Invalid(errors)));
        }

        let written = match expected {
            None => self.store.insert(&model.name, &item).map(|()| true),
            Some(v) => self.store.replace(&model.name, &item, v),
        };
        match written {
            Ok(true) => {}
            // Someone else wrote the item first: the caller reads it again.
            Ok(false) => return Ok(Written::Moved),
            Err(StoreError::Unique { field }) => {
                let label = model.field(&field).map_or(field.as_str(), |f| f.label.as_str());
                let errors = BTreeMap::from([(field.clone(), format!("{label} is already taken"))]);
                return Ok(Written::Done(Saved::Invalid(errors)));
            }
            Err(e) => return Err(e.into()),
        }
        self.changed(&model.name, &item.id, Some(item.version));
        let saved = public(model, &item);
        self.hook(engine, model, "after_save", saved.clone())?;
        Ok(Written::Done(Saved::Item(saved)))
    }

    /// Runs hook `name` of the list if its script defines it; returns what it returned.
    fn hook(
        &self,
        engine: &Engine,
        model: &Model,
        name: &str,
        item: Map<String, Value>,
    ) -> Result<Option<Value>, ListError> {
        let Some(hooks) = self.hooks.get(&model.name) else {
            return Ok(None);
        };
        if !hooks.ast.iter_functions().any(|f| f.name == name && f.params.len() == 1) {
            return Ok(None);
        }
        let depth = HOOK_DEPTH.with(|d| d.get());
        if depth >= MAX_HOOK_DEPTH {
            return Err(ListError::Hook {
                file: hooks.file.clone(),
                message: format!(
                    "hooks wrote into lists {MAX_HOOK_DEPTH} levels deep; stopping (a hook saving its own list?)"
                ),
            });
        }
        HOOK_DEPTH.with(|d| d.set(depth + 1));
        let _entered = context::enter(self.me.upgrade());
        let arg = Dynamic::from_map(crate::script::map_to_rhai(&item));
        let options = rhai::CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let call = || {
            engine
                .call_fn_with_options::<Dynamic>(options, &mut rhai::Scope::new(), &hooks.ast, name, (arg,))
                .map_err(|e| e.to_string())
        };
        let result = if crate::script::effects::in_run() {
            call()
        } else {
            // Outside a request or an event (updates at start, `keystone-rs user`): a budget of
            // its own, so a runaway hook cannot hold up the start or the command.
            let budgeted = || call().map_err(|message| crate::script::ScriptError::internal(&message));
            crate::script::effects::run_here(HOOK_BUDGET, budgeted).0.map_err(|e| e.message)
        };
        HOOK_DEPTH.with(|d| d.set(depth));
        match result {
            Ok(v) if v.is_map() => Ok(Some(crate::script::to_json(&v))),
            Ok(_) => Ok(None),
            Err(message) => Err(ListError::Hook { file: hooks.file.clone(), message }),
        }
    }

    fn query(&self, model: &Model, find: &Find) -> Result<Query, ListError> {
        let conds = query::parse_filter(model, &find.filter)?;
        let sort = match &find.sort {
            Some(s) => query::parse_sort(model, s)?,
            None => query::default_sort(model),
        };
        for p in &find.populate {
            if model.field(p).is_none_or(|f| f.kind != FieldType::Relationship) {
                return match model.field(p) {
                    None => Err(ListError::unknown_field(model, p)),
                    Some(_) => {
                        Err(ListError::Input(format!("cannot populate `{}.{p}`: not a relationship", model.name)))
                    }
                };
            }
        }
        let limit = Some(find.limit.unwrap_or(query::MAX_LIMIT).min(query::MAX_LIMIT));
        Ok(Query { conds, sort, skip: find.skip, limit })
    }

    /// Items as scripts see them (id in, passwords out), relationships in `populate` replaced
    /// by the items they point to (a reference to a removed item is dropped).
    fn present(
        &self,
        model: &Model,
        items: Vec<Item>,
        populate: &[String],
    ) -> Result<Vec<Map<String, Value>>, ListError> {
        let mut out: Vec<Map<String, Value>> = items.into_iter().map(|i| into_public(model, i)).collect();
        for name in populate {
            let Some(field) = model.field(name) else { continue };
            let Some(target) = field.target.as_ref().and_then(|t| self.models.get(t)) else { continue };
            let mut ids: Vec<Value> = Vec::new();
            for item in &out {
                match item.get(name) {
                    Some(Value::Array(a)) => ids.extend(a.iter().cloned()),
                    Some(v @ Value::String(_)) => ids.push(v.clone()),
                    _ => {}
                }
            }
            ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            ids.dedup();
            if ids.is_empty() {
                continue;
            }
            let q = Query {
                conds: vec![Cond { path: Path::Id, op: Op::In, value: Value::Array(ids) }],
                ..Query::default()
            };
            let found: BTreeMap<String, Value> = self
                .store
                .find(&target.name, &q)?
                .into_iter()
                .map(|i| (i.id.clone(), Value::Object(into_public(target, i))))
                .collect();
            for item in &mut out {
                let resolved = match item.get(name) {
                    Some(Value::Array(a)) => Some(Value::Array(
                        a.iter().filter_map(|id| id.as_str().and_then(|id| found.get(id)).cloned()).collect(),
                    )),
                    Some(Value::String(id)) => Some(found.get(id).cloned().unwrap_or(Value::Null)),
                    _ => None,
                };
                if let Some(v) = resolved {
                    item.insert(name.clone(), v);
                }
            }
        }
        Ok(out)
    }
}

impl Db {
    /// A stored item as scripts see it: [`into_public`] as a Rhai map, made once per text.
    fn script_value(&self, model: &Model, stored: Stored) -> rhai::Map {
        self.documents.value(&model.name, stored, |s| {
            let item = Item { id: s.id.clone(), version: s.version, data: store::decode_text(&s.text) };
            crate::script::map_to_rhai(&into_public(model, item))
        })
    }

    /// [`Db::present`] as script values: the same items, relationships populated the same way.
    /// Also returns the bytes of stored text read.
    fn present_values(
        &self,
        model: &Model,
        rows: Vec<Stored>,
        populate: &[String],
    ) -> Result<(rhai::Array, usize), ListError> {
        let mut weight: usize = rows.iter().map(|row| row.text.len()).sum();
        let mut out: Vec<rhai::Map> = rows.into_iter().map(|row| self.script_value(model, row)).collect();
        for name in populate {
            let Some(field) = model.field(name) else { continue };
            let Some(target) = field.target.as_ref().and_then(|t| self.models.get(t)) else { continue };
            let mut ids: Vec<String> = Vec::new();
            for item in &out {
                let Some(v) = item.get(name.as_str()) else { continue };
                if let Some(a) = v.read_lock::<rhai::Array>() {
                    ids.extend(
                        a.iter().filter_map(|id| id.read_lock::<rhai::ImmutableString>().map(|s| s.to_string())),
                    );
                } else if let Some(id) = v.read_lock::<rhai::ImmutableString>() {
                    ids.push(id.to_string());
                }
            }
            ids.sort_unstable();
            ids.dedup();
            if ids.is_empty() {
                continue;
            }
            let q = Query {
                conds: vec![Cond {
                    path: Path::Id,
                    op: Op::In,
                    value: Value::Array(ids.into_iter().map(Value::String).collect()),
                }],
                ..Query::default()
            };
            let found: std::collections::HashMap<String, rhai::Dynamic> = self
                .store
                .find_stored(&target.name, &q)?
                .into_iter()
                .map(|row| {
                    weight += row.text.len();
                    (row.id.clone(), rhai::Dynamic::from_map(self.script_value(target, row)))
                })
                .collect();
            let resolve = |id: &rhai::Dynamic| {
                id.read_lock::<rhai::ImmutableString>().and_then(|id| found.get(id.as_str()).cloned())
            };
            for item in &mut out {
                let Some(v) = item.get_mut(name.as_str()) else { continue };
                let resolved = if let Some(a) = v.read_lock::<rhai::Array>() {
                    rhai::Dynamic::from_array(a.iter().filter_map(resolve).collect())
                } else if v.is_string() {
                    resolve(v).unwrap_or(rhai::Dynamic::UNIT)
                } else {
                    continue;
                };
                *v = resolved;
            }
        }
        Ok((out.into_iter().map(rhai::Dynamic::from_map).collect(), weight))
    }
}

/// `invalid("field", "message")` from a `before_save` hook: the save fails with that error.
pub fn raise_invalid(field: &str, message: &str) {
    HOOK_ERRORS.with(|e| e.borrow_mut().insert(field.to_string(), message.to_string()));
}

fn id_is(id: &str) -> Cond {
    Cond { path: Path::Id, op: Op::Eq, value: Value::String(id.to_string()) }
}

fn field_is(model: &Model, field: &str, value: &str) -> Cond {
    let many = model.field(field).is_some_and(|f| f.many);
    Cond {
        path: Path::Field { name: field.to_string(), many, markdown: false },
        op: Op::Eq,
        value: Value::String(value.to_string()),
    }
}

/// An item as scripts and templates see it: `id` first, no password hashes.
pub fn public(model: &Model, item: &Item) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(item.id.clone()));
    out.extend(public_raw(model, &item.data));
    out
}

/// [`public`], taking the item (nothing is copied).
fn into_public(model: &Model, item: Item) -> Map<String, Value> {
    let mut out = item.data;
    out.retain(|k, _| model.field(k).is_none_or(|f| f.kind != FieldType::Password));
    out.entry("id").or_insert(Value::String(item.id));
    out
}

fn public_raw(model: &Model, data: &Map<String, Value>) -> Map<String, Value> {
    data.iter()
        .filter(|(k, _)| model.field(k).is_none_or(|f| f.kind != FieldType::Password))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Thread-local access to the project's lists for scripts: the server enters its [`Db`]
/// around each script run (scripts are synchronous, so a thread is one run at a time).
pub mod context {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::Db;

    thread_local! {
        static CURRENT: RefCell<Option<Arc<Db>>> = const { RefCell::new(None) };
    }

    /// Restores the previous database when dropped.
    pub struct Entered {
        previous: Option<Arc<Db>>,
    }

    impl Drop for Entered {
        fn drop(&mut self) {
            let previous = self.previous.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }

    /// Makes `db` the one `list("…")` uses on this thread until the guard drops.
    #[must_use]
    pub fn enter(db: Option<Arc<Db>>) -> Entered {
        Entered { previous: CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), db)) }
    }

    pub fn current() -> Option<Arc<Db>> {
        CURRENT.with(|c| c.borrow().clone())
    }
}
