//! `keystone-rs lists`: the app's lists (models/*.toml) with their fields and options.
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::Format;
use crate::lists::{FieldType, Model};

#[derive(Serialize)]
struct ListInfo {
    name: String,
    file: String,
    label: String,
    title: Option<String>,
    slug_from: Option<String>,
    sort: String,
    columns: Vec<String>,
    hooks: Option<String>,
    fields: Vec<FieldInfo>,
}

#[derive(Serialize)]
struct FieldInfo {
    name: String,
    #[serde(rename = "type")]
    kind: FieldType,
    options: Vec<String>,
}

fn field_options(f: &crate::lists::Field) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(target) = &f.target {
        out.push(if f.many { format!("ref {target} (many)") } else { format!("ref {target}") });
    }
    if !f.options.is_empty() {
        out.push(format!("options {}", f.options.join("|")));
    }
    for (on, name) in [
        (f.required, "required"),
        (f.unique, "unique"),
        (f.index && !f.unique, "index"),
        (f.initial, "initial"),
        (f.hidden, "hidden"),
    ] {
        if on {
            out.push(name.to_string());
        }
    }
    if let Some(d) = &f.default {
        out.push(format!("default {d}"));
    }
    out
}

fn info(model: &Model, hooks: Option<String>) -> ListInfo {
    ListInfo {
        name: model.name.clone(),
        file: model.file.clone(),
        label: model.label.clone(),
        title: model.title.clone(),
        slug_from: model.slug.as_ref().map(|s| s.from.clone()),
        sort: model
            .sort
            .iter()
            .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field))
            .collect::<Vec<_>>()
            .join(" "),
        columns: model.columns.clone(),
        hooks,
        fields: model
            .fields
            .iter()
            .map(|f| FieldInfo { name: f.name.clone(), kind: f.kind, options: field_options(f) })
            .collect(),
    }
}

/// # Errors
/// The folder does not exist (exit 2).
pub fn run(path: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let root = path.canonicalize().with_context(|| format!("no app folder at {}", path.display()))?;
    let project = crate::project::load(&root);
    let lists: Vec<ListInfo> = project
        .lists
        .models
        .values()
        .map(|m| info(m, project.lists.hooks.get(&m.name).map(|h| h.file.clone())))
        .collect();
    match format {
        Format::Json => super::write_out(&format!("{}\n", serde_json::to_string_pretty(&lists)?))?,
        Format::Human => super::write_out(&human(&lists))?,
    }
    if project.has_errors() {
        eprintln!("warning: the project has errors; run `keystone-rs check`");
    }
    Ok(ExitCode::SUCCESS)
}

fn human(lists: &[ListInfo]) -> String {
    let mut out = String::new();
    if lists.is_empty() {
        out.push_str("no lists: add models/NAME.toml (see README.md, Lists)\n");
    }
    for (i, list) in lists.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{} \"{}\" ({})", list.name, list.label, list.file);
        let mut about = Vec::new();
        if let Some(t) = &list.title {
            about.push(format!("title {t}"));
        }
        if let Some(s) = &list.slug_from {
            about.push(format!("slug from {s}"));
        }
        if !list.sort.is_empty() {
            about.push(format!("sort {}", list.sort));
        }
        if let Some(h) = &list.hooks {
            about.push(format!("hooks {h}"));
        }
        if !about.is_empty() {
            let _ = writeln!(out, "  {}", about.join(", "));
        }
        let width = list.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
        let type_width = list.fields.iter().map(|f| f.kind.name().len()).max().unwrap_or(0);
        for f in &list.fields {
            let line = format!("  {:<width$}  {:<type_width$}  {}", f.name, f.kind.name(), f.options.join(", "));
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}
