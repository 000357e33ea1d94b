//! Items as forms: a widget's view of each field (from the stored item, or from a form sent
//! back with errors), and a submitted form turned into the patch `Db::create`/`update` take.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::lists::{Db, Field, FieldType, Find, ListError, Model};

/// Most characters of a title shown in lists and headings.
const MAX_TITLE: usize = 120;

/// One field as its widget needs it.
#[derive(Debug, Serialize)]
pub struct FieldView {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
    pub note: Option<String>,
    pub options: Vec<String>,
    pub many: bool,
    pub target: Option<String>,
    /// The input's text (never a password).
    pub value: String,
    pub checked: bool,
    /// A relationship's chosen items.
    pub selected: Vec<Choice>,
    pub error: Option<String>,
}

/// An item a relationship points to, named by its title.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub id: String,
    pub label: String,
}

/// Where a form's values come from.
pub enum Source<'a> {
    /// The item as stored.
    Stored(&'a Map<String, Value>),
    /// A form sent back (with errors): shown as typed.
    Submitted(&'a [(String, String)]),
}

/// The fields an admin edits: all but hidden ones.
pub fn editable(model: &Model) -> Vec<&Field> {
    model.fields.iter().filter(|f| !f.hidden).collect()
}

/// The fields asked at creation: required and `initial` ones (all, when none is).
pub fn initial(model: &Model) -> Vec<&Field> {
    let asked: Vec<&Field> = model.fields.iter().filter(|f| !f.hidden && (f.required || f.initial)).collect();
    if asked.is_empty() { editable(model) } else { asked }
}

/// The text that names an item: its title field, else its id.
pub fn title_of(model: &Model, item: &Map<String, Value>) -> String {
    let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
    let title = model.title.as_ref().and_then(|t| item.get(t)).map(display).unwrap_or_default();
    let title = if title.trim().is_empty() { id.to_string() } else { title };
    truncate(&title, MAX_TITLE)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// A stored value as one line of text (list cells, titles).
pub fn display(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "Yes" } else { "No" }.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(m) if m.contains_key("md") => m.get("md").and_then(Value::as_str).unwrap_or_default().to_string(),
        other => other.to_string(),
    }
}

/// The widgets of `fields`, with their values from `source` and their errors.
///
/// # Errors
/// The database being down while relationship titles are read.
pub fn views(
    db: &Db,
    fields: &[&Field],
    source: &Source,
    errors: &BTreeMap<String, String>,
) -> Result<Vec<FieldView>, ListError> {
    let mut out = Vec::new();
    for field in fields {
        let (value, checked, ids) = match source {
            Source::Stored(item) => stored_value(field, item.get(&field.name)),
            Source::Submitted(form) => submitted_value(field, form),
        };
        let selected = match &field.target {
            Some(target) if !ids.is_empty() => choices(db, target, &ids)?,
            _ => Vec::new(),
        };
        out.push(FieldView {
            name: field.name.clone(),
            label: field.label.clone(),
            kind: field.kind.name(),
            required: field.required,
            note: field.note.clone(),
            options: field.options.clone(),
            many: field.many,
            target: field.target.clone(),
            value,
            checked,
            selected,
            error: errors.get(&field.name).cloned(),
        });
    }
    Ok(out)
}

fn stored_value(field: &Field, value: Option<&Value>) -> (String, bool, Vec<String>) {
    let Some(value) = value else { return (String::new(), false, Vec::new()) };
    match field.kind {
        FieldType::Password => (String::new(), false, Vec::new()),
        FieldType::Boolean => (String::new(), value.as_bool().unwrap_or(false), Vec::new()),
        // `datetime-local` takes minutes, without the zone (stored values are UTC).
        FieldType::Datetime => (display(value).chars().take(16).collect(), false, Vec::new()),
        FieldType::Json => (serde_json::to_string_pretty(value).unwrap_or_default(), false, Vec::new()),
        FieldType::Relationship => {
            let ids = match value {
                Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                Value::String(id) => vec![id.clone()],
                _ => Vec::new(),
            };
            (String::new(), false, ids)
        }
        _ => (display(value), false, Vec::new()),
    }
}

fn submitted_value(field: &Field, form: &[(String, String)]) -> (String, bool, Vec<String>) {
    let values: Vec<&str> = form.iter().filter(|(k, _)| *k == field.name).map(|(_, v)| v.as_str()).collect();
    let last = values.last().copied().unwrap_or_default();
    match field.kind {
        FieldType::Password => (String::new(), false, Vec::new()),
        FieldType::Boolean => (String::new(), is_true(last), Vec::new()),
        FieldType::Relationship => {
            let ids = values.iter().filter(|v| !v.is_empty()).map(|v| (*v).to_string()).collect();
            (String::new(), false, ids)
        }
        _ => (last.to_string(), false, Vec::new()),
    }
}

fn is_true(text: &str) -> bool {
    matches!(text, "true" | "on" | "yes" | "1")
}

/// The titles of the items `ids` of list `target`, in the order of `ids` (a removed item is
/// left out).
///
/// # Errors
/// The database being down.
pub fn choices(db: &Db, target: &str, ids: &[String]) -> Result<Vec<Choice>, ListError> {
    let Ok(model) = db.model(target) else { return Ok(Vec::new()) };
    let wanted: Vec<Value> = ids.iter().filter(|id| crate::lists::value::valid_id(id)).map(|id| json!(id)).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut filter = Map::new();
    filter.insert("id".into(), json!({ "in": wanted }));
    let found = db.find(target, &Find { filter, ..Find::default() })?;
    let titles: BTreeMap<&str, String> =
        found.iter().filter_map(|i| Some((i.get("id")?.as_str()?, title_of(model, i)))).collect();
    Ok(ids.iter().filter_map(|id| Some(Choice { id: id.clone(), label: titles.get(id.as_str())?.clone() })).collect())
}

/// The patch a submitted form asks for, over `fields` only, and the fields whose text could
/// not be read (JSON that does not parse).
pub fn patch(fields: &[&Field], form: &[(String, String)]) -> (Map<String, Value>, BTreeMap<String, String>) {
    let sent: BTreeSet<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    let mut patch = Map::new();
    let mut errors = BTreeMap::new();
    for field in fields {
        let values: Vec<&str> = form.iter().filter(|(k, _)| *k == field.name).map(|(_, v)| v.as_str()).collect();
        let last = values.last().copied();
        let value = match field.kind {
            // An unticked box sends nothing: the form's hidden "false" before it says it was shown.
            FieldType::Boolean if sent.contains(field.name.as_str()) => json!(last.is_some_and(is_true)),
            FieldType::Relationship if field.many && sent.contains(field.name.as_str()) => {
                let ids: Vec<Value> = values.iter().filter(|v| !v.is_empty()).map(|v| json!(v)).collect();
                if ids.is_empty() { Value::Null } else { Value::Array(ids) }
            }
            FieldType::Json => match last {
                None => continue,
                Some(text) if text.trim().is_empty() => Value::Null,
                Some(text) => match serde_json::from_str::<Value>(text) {
                    Ok(parsed) => parsed,
                    Err(err) => {
                        errors.insert(field.name.clone(), format!("{} is not valid JSON: {err}", field.label));
                        continue;
                    }
                },
            },
            _ => match last {
                Some(text) => json!(text),
                None => continue,
            },
        };
        patch.insert(field.name.clone(), value);
    }
    (patch, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let source = r#"
title = "title"
[fields]
title = { type = "text", required = true }
published = { type = "boolean" }
tags = { type = "relationship", ref = "Tag", many = true }
data = { type = "json" }
secret = { type = "password" }
internal = { type = "text", hidden = true }
"#;
        crate::lists::model::parse("Post", "models/Post.toml", source).unwrap()
    }

    #[test]
    fn a_form_becomes_a_patch_of_the_fields_it_showed() {
        let model = model();
        let fields = editable(&model);
        assert!(fields.iter().all(|f| f.name != "internal"), "hidden fields are never edited");
        let form: Vec<(String, String)> = [
            ("title", "Hello"),
            ("published", "false"),
            ("published", "true"),
            ("tags", ""),
            ("tags", "aaaaaaaaaaaaaaaaaaaaaaaa"),
            ("data", "{\"a\": 1}"),
            ("secret", ""),
            ("internal", "sneaked in"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (patch, errors) = super::patch(&fields, &form);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(patch.get("title"), Some(&json!("Hello")));
        assert_eq!(patch.get("published"), Some(&json!(true)));
        assert_eq!(patch.get("tags"), Some(&json!(["aaaaaaaaaaaaaaaaaaaaaaaa"])));
        assert_eq!(patch.get("data"), Some(&json!({ "a": 1 })));
        assert_eq!(patch.get("secret"), Some(&json!("")), "an empty password leaves it as it was (Db::update)");
        assert!(!patch.contains_key("internal"), "a hidden field cannot be written through the form");

        let unticked: Vec<(String, String)> = [("published", "false"), ("tags", ""), ("data", "{oops")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (patch, errors) = super::patch(&fields, &unticked);
        assert_eq!(patch.get("published"), Some(&json!(false)));
        assert_eq!(patch.get("tags"), Some(&Value::Null), "no tag chosen clears them");
        assert!(errors.get("data").is_some_and(|e| e.contains("not valid JSON")), "{errors:?}");
        assert!(!patch.contains_key("title"), "a field the form did not send is left alone");
    }

    #[test]
    fn titles_fall_back_to_the_id_and_stay_short() {
        let model = model();
        let item: Map<String, Value> = serde_json::from_value(json!({ "id": "abc", "title": "" })).unwrap();
        assert_eq!(title_of(&model, &item), "abc");
        let long: Map<String, Value> =
            serde_json::from_value(json!({ "id": "abc", "title": "x".repeat(500) })).unwrap();
        assert_eq!(title_of(&model, &long).chars().count(), MAX_TITLE);
    }
}
