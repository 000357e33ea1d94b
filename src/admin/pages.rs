//! The signed-in admin's pages: home, a list's items, create, edit (with the conflict
//! warning), delete, and the two small JSON answers the pages' script asks for (relationship
//! search, markdown preview). Reads run on the blocking pool; writes run like scripts, so
//! list hooks may emit to sockets.
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::form::{self, Source};
use super::view::render;
use super::{Admin, AdminError, Visit};
use crate::lists::{Db, FieldType, Find, ListError, Model, Saved};
use crate::script::effects::{self, Effect};

/// Items per list page.
const PER_PAGE: i64 = 50;
/// Items a search may match per field before the rest are left out.
const MAX_SEARCH_MATCHES: u64 = 1000;
/// Longest search or filter text read.
const MAX_QUERY: usize = 200;
/// Choices a relationship filter or picker offers at once.
const MAX_CHOICES: u64 = 100;
/// Characters of a list cell.
const MAX_CELL: usize = 80;

pub async fn serve(visit: &mut Visit, admin: Admin) -> Result<Response, AdminError> {
    let rest = visit.rest.clone();
    let segments: Vec<&str> = rest.split('/').collect();
    let post = visit.method == Method::POST;
    let list = segments.first().copied().unwrap_or_default();
    let known = |list: &str| admin.db.models().contains_key(list);
    match segments.as_slice() {
        [""] => home(visit, &admin).await,
        ["api", "search", list] if known(list) => search(visit, &admin, list).await,
        ["api", "preview"] if post => Ok(preview(visit)),
        [_] if known(list) => list_page(visit, &admin, list).await,
        [_, "new"] if known(list) => create(visit, &admin, list).await,
        [_, id] if known(list) => item(visit, &admin, list, id).await,
        [_, id, "delete"] if known(list) => delete(visit, &admin, list, id).await,
        _ => Ok(not_found(visit, &admin)),
    }
}

/// What every page shows around its content: who is signed in, the lists, flashes.
fn chrome(visit: &mut Visit, admin: &Admin, current: &str) -> Map<String, Value> {
    let mut context = Map::new();
    context.insert("base".into(), json!(visit.base));
    context.insert("csrf_token".into(), json!(visit.csrf()));
    context.insert("flashes".into(), visit.take_flashes());
    let name = admin.user.get("name").map(form::display).filter(|n| !n.is_empty());
    let email = admin.user.get("email").map(form::display).unwrap_or_default();
    context.insert("user".into(), json!({ "name": name.unwrap_or_else(|| email.clone()), "email": email }));
    context.insert("groups".into(), json!(groups(visit, &admin.db)));
    context.insert("current".into(), json!(current));
    context
}

/// The lists under the headings of `[admin] nav`, then the rest under "Other".
fn groups(visit: &Visit, db: &Db) -> Vec<Value> {
    let models = db.models();
    let nav = &visit.project.settings.admin.nav.0;
    let entry = |m: &Model| json!({ "name": m.name, "label": m.label });
    let mut placed: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (heading, names) in nav {
        let lists: Vec<Value> = names.iter().filter_map(|n| models.get(n)).map(entry).collect();
        placed.extend(names.iter().map(String::as_str));
        if !lists.is_empty() {
            out.push(json!({ "heading": heading, "lists": lists }));
        }
    }
    let rest: Vec<Value> = models.values().filter(|m| !placed.contains(&m.name.as_str())).map(entry).collect();
    if !rest.is_empty() {
        out.push(json!({ "heading": if nav.is_empty() { "Lists" } else { "Other" }, "lists": rest }));
    }
    out
}

/// Runs blocking list reads off the async workers.
async fn read<T: Send + 'static>(
    db: &Arc<Db>,
    f: impl FnOnce(&Db) -> Result<T, ListError> + Send + 'static,
) -> Result<Result<T, ListError>, AdminError> {
    let db = db.clone();
    let result = tokio::task::spawn_blocking(move || f(&db)).await.map_err(|_| AdminError::Unavailable)?;
    match result {
        Err(err) if err.is_unavailable() => Err(AdminError::Unavailable),
        other => Ok(other),
    }
}

/// Runs a write like a script (hooks may record `io.emit`), then applies its socket effects.
async fn write<T: Send + 'static>(
    visit: &Visit,
    db: &Arc<Db>,
    f: impl FnOnce(&Db, &rhai::Engine) -> Result<T, ListError> + Send + 'static,
) -> Result<Result<T, ListError>, AdminError> {
    let budget = *visit.project.settings.scripts.timeout;
    let db = db.clone();
    let (result, recorded) = effects::run(budget, move || {
        let _entered = crate::lists::context::enter(Some(db.clone()));
        Ok(f(&db, crate::script::engine()))
    })
    .await;
    for effect in recorded {
        if matches!(effect, Effect::Io { .. }) {
            crate::server::sockets::apply_io(&visit.app, "/", effect).await;
        }
    }
    match result.map_err(|_| AdminError::Unavailable)? {
        Err(err) if err.is_unavailable() => Err(AdminError::Unavailable),
        other => Ok(other),
    }
}

fn not_found(visit: &mut Visit, admin: &Admin) -> Response {
    let mut context = chrome(visit, admin, "");
    context.insert("title".into(), json!("Not found"));
    context.insert("text".into(), json!("There is no such list or item. It may have been deleted."));
    render("message.html", &Value::Object(context), StatusCode::NOT_FOUND)
}

async fn home(visit: &mut Visit, admin: &Admin) -> Result<Response, AdminError> {
    let names: Vec<String> = admin.db.models().keys().cloned().collect();
    let counts = read(&admin.db, move |db| {
        names.iter().map(|n| Ok((n.clone(), db.count(n, &Map::new())?))).collect::<Result<BTreeMap<_, _>, _>>()
    })
    .await?
    .unwrap_or_default();
    let mut context = chrome(visit, admin, "");
    context.insert("counts".into(), json!(counts));
    Ok(render("home.html", &Value::Object(context), StatusCode::OK))
}

/// The columns of a list page: the model's `columns`, else its title and a few fields.
fn columns(model: &Model) -> Vec<&crate::lists::Field> {
    let shown = |f: &&crate::lists::Field| !f.hidden && !matches!(f.kind, FieldType::Password | FieldType::Json);
    let named: Vec<_> = model.columns.iter().filter_map(|c| model.field(c)).filter(shown).collect();
    if !named.is_empty() {
        return named;
    }
    let title = model.title.as_deref().and_then(|t| model.field(t)).filter(shown);
    let rest = model.fields.iter().filter(shown).filter(|f| Some(f.name.as_str()) != model.title.as_deref());
    title.into_iter().chain(rest).take(4).collect()
}

/// How a field is filtered on a list page, if it is.
fn filter_kind(kind: FieldType) -> Option<&'static str> {
    Some(match kind {
        FieldType::Select => "select",
        FieldType::Boolean => "boolean",
        FieldType::Relationship => "relationship",
        FieldType::Number => "number",
        FieldType::Date | FieldType::Datetime => "date",
        FieldType::Password | FieldType::Json => return None,
        _ => "text",
    })
}

/// A URL of the list page with `params`, changed by `set` (an empty value removes a key).
fn list_url(base: &str, list: &str, params: &[(String, String)], set: &[(&str, String)]) -> String {
    let mut kept: Vec<(String, String)> =
        params.iter().filter(|(k, _)| !set.iter().any(|(s, _)| s == k)).cloned().collect();
    kept.extend(set.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| ((*k).to_string(), v.clone())));
    kept.retain(|(_, v)| !v.is_empty());
    if kept.is_empty() {
        return format!("{base}/{list}");
    }
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(&kept).finish();
    format!("{base}/{list}?{query}")
}

async fn list_page(visit: &mut Visit, admin: &Admin, list: &str) -> Result<Response, AdminError> {
    let model = admin.db.model(list).map_err(|_| AdminError::Unavailable)?.clone();
    let clip = |s: &str| s.chars().take(MAX_QUERY).collect::<String>();
    let params: Vec<(String, String)> = visit
        .query
        .iter()
        .filter(|(k, v)| !v.is_empty() && (k == "q" || k == "sort" || k == "page" || k.starts_with("f.")))
        .map(|(k, v)| (k.clone(), clip(v)))
        .collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let (q, sort) = (get("q"), get("sort"));
    let page: i64 = get("page").parse().unwrap_or(1);

    let mut filter = Map::new();
    let mut filters = Vec::new();
    for field in model.fields.iter().filter(|f| !f.hidden) {
        let Some(kind) = filter_kind(field.kind) else { continue };
        let value = get(&format!("f.{}", field.name));
        if !value.is_empty() {
            let condition = match kind {
                "text" => json!({ "contains": value }),
                "date" => json!({ "gte": value }),
                _ => json!(value),
            };
            filter.insert(field.name.clone(), condition);
        }
        filters.push(json!({
            "name": field.name, "label": field.label, "kind": kind, "options": field.options,
            "target": field.target, "value": value, "utc": field.kind == FieldType::Datetime,
        }));
    }
    let sort_key = sort.trim_start_matches('-');
    let sortable = model.field(sort_key).is_some_and(|f| !f.many && !f.hidden && f.kind != FieldType::Password);
    let sort_by = sortable.then(|| sort.clone());
    let column_names: Vec<String> = columns(&model).iter().map(|f| f.name.clone()).collect();
    let populate: Vec<String> =
        columns(&model).iter().filter(|f| f.kind == FieldType::Relationship).map(|f| f.name.clone()).collect();
    let searched: Vec<String> =
        model.fields.iter().filter(|f| !f.hidden && f.kind.is_textual()).map(|f| f.name.clone()).collect();
    let relationship_filters: Vec<(String, String)> = model
        .fields
        .iter()
        .filter(|f| !f.hidden && f.kind == FieldType::Relationship)
        .filter_map(|f| Some((f.name.clone(), f.target.clone()?)))
        .collect();

    let name = list.to_string();
    let (query, m) = (q.clone(), model.clone());
    let found = read(&admin.db, move |db| {
        let mut filter = filter;
        if !query.is_empty() {
            let mut ids: Vec<Value> = Vec::new();
            for field in &searched {
                let mut by = Map::new();
                by.insert(field.clone(), json!({ "contains": query }));
                let find = Find { filter: by, limit: Some(MAX_SEARCH_MATCHES), ..Find::default() };
                for item in db.find(&name, &find)? {
                    if let Some(id) = item.get("id")
                        && !ids.contains(id)
                    {
                        ids.push(id.clone());
                    }
                }
            }
            filter.insert("id".into(), json!({ "in": ids }));
        }
        let find = Find { filter, sort: sort_by, populate, ..Find::default() };
        let paged = db.paginate(&name, &find, page, PER_PAGE)?;
        let mut options = BTreeMap::new();
        for (field, target) in &relationship_filters {
            let Ok(target_model) = db.model(target) else { continue };
            let items = db.find(target, &Find { limit: Some(MAX_CHOICES), ..Find::default() })?;
            let choices: Vec<Value> =
                items.iter().map(|i| json!({ "id": i.get("id"), "label": form::title_of(target_model, i) })).collect();
            options.insert(field.clone(), choices);
        }
        let total = db.count(&name, &Map::new())?;
        Ok((paged, options, total, m))
    })
    .await?;

    let mut context = chrome(visit, admin, list);
    let base = visit.base.clone();
    let (rows, page_info, error) = match found {
        Ok((paged, options, total, model)) => {
            for f in &mut filters {
                if let Some(choices) = f.get("name").and_then(Value::as_str).and_then(|n| options.get(n)) {
                    f["choices"] = json!(choices);
                }
            }
            let rows: Vec<Value> = paged.items.iter().map(|item| row(&admin.db, &model, &column_names, item)).collect();
            let p = &paged.page;
            let link = |n: Option<u64>| n.map(|n| list_url(&base, list, &params, &[("page", n.to_string())]));
            let info = json!({
                "page": p.page, "pages": p.pages, "total": p.total, "all": total,
                "first": if p.total == 0 { 0 } else { p.skip() + 1 },
                "last": p.skip() + paged.items.len() as u64,
                "prev": link(p.prev()), "next": link(p.next()),
            });
            (rows, info, None)
        }
        Err(err) => (Vec::new(), json!({ "total": 0, "all": 0, "pages": 1, "page": 1 }), Some(err.to_string())),
    };
    let heads: Vec<Value> = column_names
        .iter()
        .filter_map(|c| model.field(c))
        .map(|f| {
            let sortable = !f.many;
            let (active, descending) = (sort_key == f.name, sort.starts_with('-'));
            let next = if active && !descending { format!("-{}", f.name) } else { f.name.clone() };
            json!({
                "label": f.label, "name": f.name, "sortable": sortable,
                "sorted": if active { if descending { "descending" } else { "ascending" } } else { "none" },
                "url": list_url(&base, list, &params, &[("sort", next), ("page", String::new())]),
            })
        })
        .collect();
    context.insert("list".into(), json!({ "name": model.name, "label": model.label, "singular": singular(&model) }));
    context.insert("columns".into(), json!(heads));
    context.insert("rows".into(), json!(rows));
    context.insert("filters".into(), json!(filters));
    context.insert("q".into(), json!(q));
    context.insert("sort".into(), json!(sort));
    context.insert("page".into(), page_info);
    context.insert("error".into(), json!(error));
    context.insert("filtered".into(), json!(params.iter().any(|(k, _)| k == "q" || k.starts_with("f."))));
    context.insert("filters_active".into(), json!(params.iter().any(|(k, _)| k.starts_with("f."))));
    Ok(render("list.html", &Value::Object(context), StatusCode::OK))
}

/// `Post Categories` → `Post Category` for buttons ("New Post Category"): the list's name,
/// spaced.
fn singular(model: &Model) -> String {
    crate::lists::model::humanize(&model.name)
        .split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn row(db: &Db, model: &Model, columns: &[String], item: &Map<String, Value>) -> Value {
    let cells: Vec<Value> = columns
        .iter()
        .map(|c| {
            let field = model.field(c);
            let value = item.get(c).unwrap_or(&Value::Null);
            let text = match (field.map(|f| f.kind), value) {
                (Some(FieldType::Relationship), Value::Array(items)) => {
                    let target = field.and_then(|f| f.target.as_deref()).and_then(|t| db.model(t).ok());
                    items
                        .iter()
                        .filter_map(|i| {
                            i.as_object().map(|i| target.map_or_else(String::new, |t| form::title_of(t, i)))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }
                (Some(FieldType::Relationship), Value::Object(i)) => {
                    let target = field.and_then(|f| f.target.as_deref()).and_then(|t| db.model(t).ok());
                    target.map_or_else(String::new, |t| form::title_of(t, i))
                }
                (Some(FieldType::Datetime), Value::String(s)) => s.replace('T', " ").chars().take(16).collect(),
                (Some(FieldType::Html), Value::String(s)) => strip_tags(s),
                _ => form::display(value),
            };
            let text: String = text.chars().take(MAX_CELL).collect();
            // A datetime cell also carries the stored UTC instant; admin.js shows it in the
            // reader's own time zone (without JavaScript, the text says UTC).
            let utc = match (field.map(|f| &f.kind), value) {
                (Some(FieldType::Datetime), Value::String(s)) if !text.is_empty() => Some(s.clone()),
                _ => None,
            };
            json!({ "text": text, "name": c, "utc": utc })
        })
        .collect();
    json!({ "id": item.get("id"), "title": form::title_of(model, item), "cells": cells })
}

/// The text of sanitised HTML, for a list cell.
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

async fn search(visit: &mut Visit, admin: &Admin, list: &str) -> Result<Response, AdminError> {
    let q: String = visit.query("q").unwrap_or_default().chars().take(MAX_QUERY).collect();
    let name = list.to_string();
    let found = read(&admin.db, move |db| {
        let model = db.model(&name)?;
        let mut filter = Map::new();
        if let Some(title) = model.title.as_ref().and_then(|t| model.field(t)).filter(|f| f.kind.is_textual())
            && !q.is_empty()
        {
            filter.insert(title.name.clone(), json!({ "contains": q }));
        }
        let items = db.find(&name, &Find { filter, limit: Some(20), ..Find::default() })?;
        Ok(items.iter().map(|i| json!({ "id": i.get("id"), "label": form::title_of(model, i) })).collect::<Vec<_>>())
    })
    .await?;
    Ok(match found {
        Ok(items) => super::json_response(StatusCode::OK, &json!(items)),
        Err(err) => super::json_response(StatusCode::BAD_REQUEST, &json!({ "error": err.to_string() })),
    })
}

fn preview(visit: &Visit) -> Response {
    let source = visit.field("md").unwrap_or_default();
    super::json_response(StatusCode::OK, &json!({ "html": crate::lists::value::render_markdown(source) }))
}

/// The page of one item's form (create or edit).
struct FormPage<'a> {
    list: &'a str,
    /// `None` while creating.
    id: Option<&'a str>,
    title: String,
    version: i64,
    fields: Vec<form::FieldView>,
    /// A problem with the whole form (a hook refused it).
    error: Option<String>,
    /// A newer version was saved meanwhile.
    conflict: bool,
}

fn form_page(visit: &mut Visit, admin: &Admin, page: FormPage, status: StatusCode) -> Response {
    let model = admin.db.model(page.list).ok();
    let mut context = chrome(visit, admin, page.list);
    context.insert(
        "list".into(),
        json!({
            "name": page.list,
            "label": model.map(|m| m.label.clone()),
            "singular": model.map(singular),
        }),
    );
    context.insert("id".into(), json!(page.id));
    context.insert("title".into(), json!(page.title));
    context.insert("version".into(), json!(page.version));
    context.insert("fields".into(), json!(page.fields));
    context.insert("error".into(), json!(page.error));
    context.insert("conflict".into(), json!(page.conflict));
    render("item.html", &Value::Object(context), status)
}

async fn create(visit: &mut Visit, admin: &Admin, list: &str) -> Result<Response, AdminError> {
    if visit.method == Method::POST {
        return submit(visit, admin, list, None).await;
    }
    let model = admin.db.model(list).map_err(|_| AdminError::Unavailable)?.clone();
    let empty = Map::new();
    let views = form::views(&admin.db, &form::initial(&model), &Source::Stored(&empty), &BTreeMap::new())
        .map_err(|_| AdminError::Unavailable)?;
    let title = format!("New {}", singular(&model));
    let page = FormPage { list, id: None, title, version: 0, fields: views, error: None, conflict: false };
    Ok(form_page(visit, admin, page, StatusCode::OK))
}

async fn item(visit: &mut Visit, admin: &Admin, list: &str, id: &str) -> Result<Response, AdminError> {
    let model = admin.db.model(list).map_err(|_| AdminError::Unavailable)?.clone();
    let (name, key) = (list.to_string(), id.to_string());
    let Some(crate::lists::Versioned { item: current, version }) =
        read(&admin.db, move |db| db.get_versioned(&name, &key)).await?.ok().flatten()
    else {
        return Ok(not_found(visit, admin));
    };
    let id = current.get("id").and_then(Value::as_str).unwrap_or(id).to_string();
    let title = form::title_of(&model, &current);
    if visit.method == Method::POST {
        return submit(visit, admin, list, Some(Existing { id: &id, version, title })).await;
    }
    let views = form::views(&admin.db, &form::editable(&model), &Source::Stored(&current), &BTreeMap::new())
        .map_err(|_| AdminError::Unavailable)?;
    let page = FormPage { list, id: Some(&id), title, version, fields: views, error: None, conflict: false };
    Ok(form_page(visit, admin, page, StatusCode::OK))
}

/// The item an edit form saves over, as it is now.
struct Existing<'a> {
    id: &'a str,
    version: i64,
    title: String,
}

/// Saves a create (`existing` is `None`) or edit form: to the item's page with a flash, or
/// the form again with what was typed and why it was not saved — field errors, a hook's
/// refusal, or (editing) a newer version saved since the form was opened, unless the admin
/// chose to save over it.
async fn submit(
    visit: &mut Visit,
    admin: &Admin,
    list: &str,
    existing: Option<Existing<'_>>,
) -> Result<Response, AdminError> {
    let model = admin.db.model(list).map_err(|_| AdminError::Unavailable)?.clone();
    let fields = if existing.is_some() { form::editable(&model) } else { form::initial(&model) };
    let (patch, mut errors) = form::patch(&fields, &visit.form);
    let sent_version: i64 = visit.field("_version").and_then(|v| v.parse().ok()).unwrap_or(0);
    let overwrite = visit.field("_overwrite") == Some("1");
    let mut conflict = existing.as_ref().is_some_and(|e| e.version != sent_version && !overwrite);
    let name = list.to_string();
    let saved = match &existing {
        _ if conflict || !errors.is_empty() => Ok(Saved::Invalid(BTreeMap::new())),
        None => write(visit, &admin.db, move |db, engine| db.create(engine, &name, &patch)).await?,
        Some(e) => {
            // Saved only over the version the form showed (or the one the admin chose to
            // overwrite): a save that lands in between is a conflict, never lost.
            let (key, version) = (e.id.to_string(), e.version);
            let saved =
                write(visit, &admin.db, move |db, engine| db.update_if_version(engine, &name, &key, &patch, version))
                    .await?;
            saved.map(|saved| {
                saved.unwrap_or_else(|| {
                    conflict = true;
                    Saved::Invalid(BTreeMap::new())
                })
            })
        }
    };
    let error = match saved {
        Ok(Saved::Item(item)) => {
            let id = item.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let title = form::title_of(&model, &item);
            let done = match existing {
                None => format!("Created {} “{title}”.", singular(&model)),
                Some(_) => format!("Saved “{title}”."),
            };
            visit.flash("success", &done);
            return Ok(visit.redirect(&format!("{}/{list}/{id}", visit.base)));
        }
        Ok(Saved::Invalid(invalid)) if existing.is_some() && invalid.contains_key("id") => {
            visit.flash("error", "That item was deleted meanwhile; your changes were not saved.");
            return Ok(visit.redirect(&format!("{}/{list}", visit.base)));
        }
        Ok(Saved::Invalid(invalid)) => {
            errors.extend(invalid);
            None
        }
        Err(err) => Some(err.to_string()),
    };
    let views = form::views(&admin.db, &fields, &Source::Submitted(&visit.form), &errors)
        .map_err(|_| AdminError::Unavailable)?;
    let (error, status) = if conflict {
        let warning = "Someone saved this item after you opened it. Your changes are below, not saved yet.";
        (Some(warning.to_string()), StatusCode::CONFLICT)
    } else {
        let fix = (!errors.is_empty()).then(|| "Please fix the fields marked below.".to_string());
        (error.or(fix), StatusCode::UNPROCESSABLE_ENTITY)
    };
    // An edit form now carries the newest version: "Save mine anyway" overwrites what is there.
    let page = match &existing {
        None => FormPage {
            list,
            id: None,
            title: format!("New {}", singular(&model)),
            version: 0,
            fields: views,
            error,
            conflict,
        },
        Some(e) => FormPage {
            list,
            id: Some(e.id),
            title: e.title.clone(),
            version: e.version,
            fields: views,
            error,
            conflict,
        },
    };
    Ok(form_page(visit, admin, page, status))
}

async fn delete(visit: &mut Visit, admin: &Admin, list: &str, id: &str) -> Result<Response, AdminError> {
    let model = admin.db.model(list).map_err(|_| AdminError::Unavailable)?.clone();
    let (name, key) = (list.to_string(), id.to_string());
    let Some(current) = read(&admin.db, move |db| db.get(&name, &key, &[])).await?.ok().flatten() else {
        return Ok(not_found(visit, admin));
    };
    let title = form::title_of(&model, &current);
    if visit.method != Method::POST {
        let mut context = chrome(visit, admin, list);
        context.insert("list".into(), json!({ "name": list, "label": model.label, "singular": singular(&model) }));
        context.insert("id".into(), json!(current.get("id")));
        context.insert("title".into(), json!(title));
        return Ok(render("delete.html", &Value::Object(context), StatusCode::OK));
    }
    let (name, key) = (list.to_string(), id.to_string());
    match write(visit, &admin.db, move |db, engine| db.remove(engine, &name, &key)).await? {
        Ok(_) => visit.flash("success", &format!("Deleted “{title}”.")),
        Err(err) => visit.flash("error", &format!("“{title}” was not deleted: {err}")),
    }
    Ok(visit.redirect(&format!("{}/{list}", visit.base)))
}
