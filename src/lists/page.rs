//! `paginate(…)`'s answer: a page of items and its place (`items`, `page`, `pages`, `total`,
//! …), shared rather than copied.
//!
//! A list page asks the same question at every request, and the answer kept for it (see
//! [`super::results`]) is handed out as an `Arc`: no deep copy for the script, no size and
//! depth walks when the script stores it in `locals`, and one template value built once per
//! answer instead of at every render. Scripts read it like a map (`page.items`,
//! `page["total"]`); a write (`page.items[0].title = "…"`, `page.note = 1`) copies it first, so
//! other requests never see it.
use std::sync::{Arc, OnceLock};

use rhai::{Dynamic, Engine, Map as RhaiMap};

use super::query::Page;

/// A page as scripts hold it (`type_of` says `"Page"`).
#[derive(Clone)]
pub struct PageValue {
    fields: Arc<RhaiMap>,
    /// The template value of `fields`, made at the first render and shared with every copy
    /// until one of them is written to.
    template: Arc<OnceLock<minijinja::Value>>,
}

impl PageValue {
    /// The page `place` holding `items`.
    pub fn new(place: &Page, items: rhai::Array) -> PageValue {
        let shown = items.len() as i64;
        let first = if shown == 0 { 0 } else { place.skip() as i64 + 1 };
        let number = |n: u64| Dynamic::from_int(n as i64);
        let mut fields = RhaiMap::new();
        fields.insert("items".into(), Dynamic::from_array(items));
        fields.insert("page".into(), number(place.page));
        fields.insert("pages".into(), number(place.pages));
        fields.insert("per_page".into(), number(place.per_page));
        fields.insert("total".into(), number(place.total));
        fields.insert("prev".into(), place.prev().map_or(Dynamic::UNIT, number));
        fields.insert("next".into(), place.next().map_or(Dynamic::UNIT, number));
        fields.insert("first".into(), first.into());
        fields.insert("last".into(), (if shown == 0 { 0 } else { first + shown - 1 }).into());
        PageValue { fields: Arc::new(fields), template: Arc::default() }
    }

    /// Its fields as a plain map (a copy).
    pub fn to_map(&self) -> RhaiMap {
        (*self.fields).clone()
    }

    /// The field `key` (`()` for one it does not have, as a map would answer).
    fn get(&self, key: &str) -> Dynamic {
        self.fields.get(key).cloned().unwrap_or(Dynamic::UNIT)
    }

    /// Sets a field on this copy only.
    fn set(&mut self, key: &str, value: Dynamic) {
        Arc::make_mut(&mut self.fields).insert(key.into(), value);
        self.template = Arc::default();
    }

    /// The template value of this page, `make` building it from the fields the first time.
    pub fn template_value(&self, make: impl FnOnce(RhaiMap) -> minijinja::Value) -> minijinja::Value {
        self.template.get_or_init(|| make(self.to_map())).clone()
    }
}

impl std::fmt::Debug for PageValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", Dynamic::from_map(self.to_map()))
    }
}

impl std::fmt::Display for PageValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Dynamic::from_map(self.to_map()))
    }
}

/// The page in a script value, if it is one.
pub fn in_value(value: &Dynamic) -> Option<PageValue> {
    if value.is::<PageValue>() { value.read_lock::<PageValue>().map(|p| p.clone()) } else { None }
}

/// Registers the `Page` type: its fields as properties and by index, writable, and the
/// map functions scripts use on a page (`keys`, `values`, `len`, `contains`, `to_map`).
pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<PageValue>("Page");
    for field in ["items", "page", "pages", "per_page", "total", "prev", "next", "first", "last"] {
        engine.register_get(field, move |p: &mut PageValue| p.get(field));
        engine.register_set(field, move |p: &mut PageValue, value: Dynamic| p.set(field, value));
    }
    engine.register_indexer_get(|p: &mut PageValue, key: &str| p.get(key));
    engine.register_indexer_set(|p: &mut PageValue, key: &str, value: Dynamic| p.set(key, value));
    engine.register_fn("to_map", |p: &mut PageValue| p.to_map());
    engine.register_fn("keys", |p: &mut PageValue| -> rhai::Array {
        p.fields.keys().map(|k| k.clone().into()).collect()
    });
    engine.register_fn("values", |p: &mut PageValue| -> rhai::Array { p.fields.values().cloned().collect() });
    engine.register_fn("len", |p: &mut PageValue| p.fields.len() as i64);
    engine.register_fn("contains", |p: &mut PageValue, key: &str| p.fields.contains_key(key));
    engine.register_fn("to_string", |p: &mut PageValue| p.to_string());
    engine.register_fn("to_debug", |p: &mut PageValue| format!("{p:?}"));
}
