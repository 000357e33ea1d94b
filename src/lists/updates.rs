//! `updates/*.toml`: seed data applied once, in file-name order, and recorded in the
//! database (table `ks_updates`), so another start or another node skips it.
//!
//! ```toml
//! # updates/001-categories.toml
//! [[PostCategory]]
//! name = "News"
//! ```
//! A relationship value may name its item by id, slug or title (items of earlier updates,
//! or of the same file above it).
use std::collections::BTreeMap;

use rhai::Engine;
use serde_json::{Map, Value};

use super::{Db, FieldType, ListError, Saved};
use crate::diagnostic::Diagnostic;

pub const FOLDER: &str = "updates";

/// What applying the updates did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Files applied by this call.
    pub applied: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Applies every update in `sources` (file name → TOML) not yet recorded. A file whose
/// items cannot all be saved is undone (its saved items removed) and reported; it is tried
/// again at the next start.
pub fn apply(db: &Db, engine: &Engine, sources: &BTreeMap<String, String>) -> Applied {
    let mut out = Applied::default();
    for (name, source) in sources {
        let file = format!("{FOLDER}/{name}");
        let doc = match super::model::toml_document(&file, source) {
            Ok(doc) => doc,
            Err(d) => {
                out.diagnostics.push(*d);
                continue;
            }
        };
        match db.store().claim_update(name) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                out.diagnostics.push(Diagnostic::error(
                    "update-failed",
                    file.as_str(),
                    format!("cannot record the update: {e}"),
                ));
                continue;
            }
        }
        let mut created: Vec<(String, String)> = Vec::new();
        match apply_one(db, engine, &doc, &mut created) {
            Ok(()) => out.applied.push(name.clone()),
            Err(message) => {
                for (list, id) in created.iter().rev() {
                    let _ = db.remove(engine, list, id);
                }
                let _ = db.store().release_update(name);
                out.diagnostics.push(
                    Diagnostic::error("update-failed", file.as_str(), message)
                        .with_help("fix the update's items; it is applied at the next start or change"),
                );
            }
        }
    }
    out
}

fn apply_one(
    db: &Db,
    engine: &Engine,
    doc: &Map<String, Value>,
    created: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for (list, items) in doc {
        let model = db.model(list).map_err(|e| e.to_string())?;
        let Value::Array(items) = items else {
            return Err(format!("`{list}` must hold items: write [[{list}]] before each one"));
        };
        for (n, item) in items.iter().enumerate() {
            let Value::Object(input) = item else {
                return Err(format!("item {} of `{list}` is not a table", n + 1));
            };
            let mut input = input.clone();
            for field in model.fields.iter().filter(|f| f.kind == FieldType::Relationship) {
                if let (Some(target), Some(v)) = (&field.target, input.get_mut(&field.name)) {
                    resolve(db, target, v).map_err(|e| e.to_string())?;
                }
            }
            match db.create(engine, list, &input).map_err(|e| e.to_string())? {
                Saved::Item(saved) => {
                    let id = saved.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                    created.push((list.clone(), id));
                }
                Saved::Invalid(errors) => {
                    let errors: Vec<String> = errors.into_values().collect();
                    return Err(format!("item {} of `{list}` is invalid: {}", n + 1, errors.join("; ").to_lowercase()));
                }
            }
        }
    }
    Ok(())
}

/// Turns slugs and titles naming items of `target` into their ids.
fn resolve(db: &Db, target: &str, value: &mut Value) -> Result<(), ListError> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| resolve(db, target, v)),
        Value::String(key) if !super::value::valid_id(key) => {
            let found = match db.get(target, key, &[])? {
                Some(item) => Some(item),
                None => match db.model(target)?.title.clone() {
                    Some(title) => {
                        let filter = Map::from_iter([(title, Value::String(key.clone()))]);
                        db.find(target, &super::Find { filter, limit: Some(1), ..Default::default() })?.pop()
                    }
                    None => None,
                },
            };
            if let Some(id) = found.as_ref().and_then(|i| i.get("id")) {
                *value = id.clone();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
