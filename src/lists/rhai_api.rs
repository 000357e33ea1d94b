//! `list("Post")` for scripts: registered Rhai types whose methods go through the [`Db`]
//! entered for the current script run (see [`super::context`]).
//!
//! ```rhai
//! let page = list("Post").find(#{ state: "published" }).sort("-published_at")
//!                        .populate("author").paginate(req.query.page ?? 1, 10);
//! let saved = list("Enquiry").create(req.form);   // #{ ok, item, errors }
//! if saved.ok { redirect("/thanks") } else { locals.errors = saved.errors; }
//! ```
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map as RhaiMap, NativeCallContext, Position};
use serde_json::{Map, Value};

use super::page::PageValue;
use super::{Db, Find, ListError, Saved, context};
use crate::script::{map_to_json, map_to_rhai};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// Every error a list operation raises because the database is down starts with this.
pub const UNAVAILABLE: &str = "the database is unavailable";

/// `list("Post")`: a handle on one list.
#[derive(Clone)]
pub struct ListHandle {
    db: Arc<Db>,
    name: String,
}

/// `list("Post").find(…)`: a query being built; `all()`, `first()`, `count()` or
/// `paginate(page, per_page)` runs it.
#[derive(Clone)]
pub struct FindHandle {
    db: Arc<Db>,
    list: String,
    find: Find,
}

pub(crate) fn fail(err: ListError) -> Box<EvalAltResult> {
    let message = if err.is_unavailable() { format!("{UNAVAILABLE} ({err})") } else { err.to_string() };
    EvalAltResult::ErrorRuntime(message.into(), Position::NONE).into()
}

/// Whether a script failed because the database is down (the request gets a 503).
pub fn is_unavailable(err: &EvalAltResult) -> bool {
    match err {
        EvalAltResult::ErrorRuntime(v, _) => v.clone().into_string().is_ok_and(|s| s.starts_with(UNAVAILABLE)),
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | EvalAltResult::ErrorInModule(_, inner, _) => {
            is_unavailable(inner)
        }
        _ => false,
    }
}

fn saved(result: Saved) -> RhaiMap {
    let mut out = RhaiMap::new();
    match result {
        Saved::Item(item) => {
            out.insert("ok".into(), true.into());
            out.insert("item".into(), Dynamic::from_map(map_to_rhai(&item)));
            out.insert("errors".into(), Dynamic::from_map(RhaiMap::new()));
        }
        Saved::Invalid(errors) => {
            out.insert("ok".into(), false.into());
            out.insert("item".into(), Dynamic::UNIT);
            let errors: RhaiMap = errors.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
            out.insert("errors".into(), Dynamic::from_map(errors));
        }
    }
    out
}

/// A page number from a script: an integer, a float, or text from a query string.
fn page_number(page: &Dynamic) -> i64 {
    if let Ok(i) = page.as_int() {
        i
    } else if let Ok(f) = page.as_float() {
        f as i64
    } else if let Ok(s) = page.clone().into_string() {
        s.trim().parse().unwrap_or(1)
    } else {
        1
    }
}

/// An id or slug, or an item map holding its id.
fn key_of(key: &Dynamic) -> Fallible<String> {
    if let Some(m) = key.read_lock::<RhaiMap>() {
        if let Some(id) = m.get("id").and_then(|v| v.clone().into_string().ok()) {
            return Ok(id);
        }
        return Err(fail(ListError::Input("the item has no `id`".into())));
    }
    key.clone()
        .into_string()
        .map_err(|_| fail(ListError::Input(format!("expected an id or an item, not {}", key.type_name()))))
}

fn map_arg(m: &Dynamic, what: &str) -> Fallible<Map<String, Value>> {
    match m.read_lock::<RhaiMap>() {
        Some(m) => Ok(map_to_json(&m)),
        None => {
            Err(fail(ListError::Input(format!("{what} takes a map like #{{ title: \"…\" }}, not {}", m.type_name()))))
        }
    }
}

fn open(name: &str) -> Fallible<ListHandle> {
    let db = context::current().ok_or_else(|| {
        fail(ListError::UnknownList { name: name.to_string(), hint: " (the app has no models/*.toml)".into() })
    })?;
    db.model(name).map_err(fail)?;
    Ok(ListHandle { db, name: name.to_string() })
}

impl FindHandle {
    fn run(&self) -> Fallible<Array> {
        self.db.find_values(&self.list, &self.find).map_err(fail)
    }
}

/// Registers `list()`, its types and `invalid()` (for `before_save` hooks).
pub fn register(engine: &mut Engine) {
    super::page::register(engine);
    engine.register_type_with_name::<ListHandle>("List");
    engine.register_type_with_name::<FindHandle>("Find");
    engine.register_fn("list", |name: &str| open(name));
    engine.register_fn("invalid", |field: &str, message: &str| super::raise_invalid(field, message));
    engine.register_get("name", |l: &mut ListHandle| l.name.clone());

    // Reads.
    engine.register_fn("find", |l: &mut ListHandle| FindHandle {
        db: l.db.clone(),
        list: l.name.clone(),
        find: Find::default(),
    });
    engine.register_fn("find", |l: &mut ListHandle, filter: Dynamic| -> Fallible<FindHandle> {
        let filter = map_arg(&filter, "find")?;
        Ok(FindHandle { db: l.db.clone(), list: l.name.clone(), find: Find { filter, ..Find::default() } })
    });
    engine.register_fn("all", |l: &mut ListHandle| {
        FindHandle { db: l.db.clone(), list: l.name.clone(), find: Find::default() }.run()
    });
    engine.register_fn("count", |l: &mut ListHandle| l.db.count(&l.name, &Map::new()).map(|n| n as i64).map_err(fail));
    engine.register_fn("count", |l: &mut ListHandle, filter: Dynamic| -> Fallible<i64> {
        l.db.count(&l.name, &map_arg(&filter, "count")?).map(|n| n as i64).map_err(fail)
    });
    engine.register_fn("get", |l: &mut ListHandle, key: Dynamic| -> Fallible<Dynamic> {
        let found = l.db.get(&l.name, &key_of(&key)?, &[]).map_err(fail)?;
        Ok(found.map_or(Dynamic::UNIT, |m| Dynamic::from_map(map_to_rhai(&m))))
    });
    engine.register_fn("get", |l: &mut ListHandle, key: Dynamic, populate: &str| -> Fallible<Dynamic> {
        let populate: Vec<String> = super::model::parse_sort(populate).into_iter().map(|k| k.field).collect();
        let found = l.db.get(&l.name, &key_of(&key)?, &populate).map_err(fail)?;
        Ok(found.map_or(Dynamic::UNIT, |m| Dynamic::from_map(map_to_rhai(&m))))
    });
    engine.register_fn("paginate", |l: &mut ListHandle, page: Dynamic, per_page: i64| -> Fallible<PageValue> {
        l.db.paginate_values(&l.name, &Find::default(), page_number(&page), per_page).map_err(fail)
    });

    // Writes, with hooks run on this same engine.
    engine.register_fn("create", |ctx: NativeCallContext, l: &mut ListHandle, input: Dynamic| -> Fallible<RhaiMap> {
        let input = map_arg(&input, "create")?;
        l.db.create(ctx.engine(), &l.name, &input).map(saved).map_err(fail)
    });
    engine.register_fn(
        "update",
        |ctx: NativeCallContext, l: &mut ListHandle, key: Dynamic, patch: Dynamic| -> Fallible<RhaiMap> {
            let patch = map_arg(&patch, "update")?;
            l.db.update(ctx.engine(), &l.name, &key_of(&key)?, &patch).map(saved).map_err(fail)
        },
    );
    engine.register_fn("remove", |ctx: NativeCallContext, l: &mut ListHandle, key: Dynamic| -> Fallible<bool> {
        l.db.remove(ctx.engine(), &l.name, &key_of(&key)?).map_err(fail)
    });

    // Building a find.
    // Each step takes the find by value: a chain of steps moves one find along, not copies.
    engine.register_fn("sort", |mut f: FindHandle, sort: &str| {
        f.find.sort = Some(sort.to_string());
        f
    });
    engine.register_fn("skip", |mut f: FindHandle, n: i64| {
        f.find.skip = n.max(0) as u64;
        f
    });
    engine.register_fn("limit", |mut f: FindHandle, n: i64| {
        f.find.limit = Some(n.max(0) as u64);
        f
    });
    engine.register_fn("populate", |mut f: FindHandle, fields: &str| {
        f.find.populate.extend(super::model::parse_sort(fields).into_iter().map(|k| k.field));
        f
    });
    engine.register_fn("all", |f: &mut FindHandle| f.run());
    engine.register_fn("first", |f: &mut FindHandle| -> Fallible<Dynamic> {
        let mut one = f.clone();
        one.find.limit = Some(1);
        Ok(one.run()?.into_iter().next().unwrap_or(Dynamic::UNIT))
    });
    engine
        .register_fn("count", |f: &mut FindHandle| f.db.count(&f.list, &f.find.filter).map(|n| n as i64).map_err(fail));
    engine.register_fn("paginate", |f: &mut FindHandle, page: Dynamic, per_page: i64| -> Fallible<PageValue> {
        f.db.paginate_values(&f.list, &f.find, page_number(&page), per_page).map_err(fail)
    });
}
