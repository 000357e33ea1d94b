//! `models/NAME.toml`: one list's fields and options, parsed once into types that keep
//! their spans, with a diagnostic (file:line, help, "did you mean") for everything wrong.
use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::Diagnostic;
pub use crate::diagnostic::did_you_mean;

/// The folder of model files, relative to the project root.
pub const FOLDER: &str = "models";

/// The type of a field (DESIGN §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Text,
    Textarea,
    Markdown,
    Html,
    Email,
    Url,
    Password,
    Boolean,
    Number,
    Date,
    Datetime,
    Select,
    Relationship,
    Json,
}

impl FieldType {
    pub const ALL: [(&'static str, FieldType); 14] = [
        ("text", FieldType::Text),
        ("textarea", FieldType::Textarea),
        ("markdown", FieldType::Markdown),
        ("html", FieldType::Html),
        ("email", FieldType::Email),
        ("url", FieldType::Url),
        ("password", FieldType::Password),
        ("boolean", FieldType::Boolean),
        ("number", FieldType::Number),
        ("date", FieldType::Date),
        ("datetime", FieldType::Datetime),
        ("select", FieldType::Select),
        ("relationship", FieldType::Relationship),
        ("json", FieldType::Json),
    ];

    pub fn parse(name: &str) -> Option<FieldType> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, t)| *t == self).map_or("text", |(n, _)| n)
    }

    /// Types whose value is text a person searches (`contains`, admin search).
    pub fn is_textual(self) -> bool {
        matches!(
            self,
            FieldType::Text
                | FieldType::Textarea
                | FieldType::Markdown
                | FieldType::Html
                | FieldType::Email
                | FieldType::Url
                | FieldType::Select
        )
    }
}

/// One field of a list.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub kind: FieldType,
    pub required: bool,
    pub unique: bool,
    pub index: bool,
    /// Already converted to the stored form (validated at load).
    pub default: Option<serde_json::Value>,
    pub initial: bool,
    pub label: String,
    pub note: Option<String>,
    pub hidden: bool,
    /// `select` choices.
    pub options: Vec<String>,
    /// `relationship` target list.
    pub target: Option<String>,
    pub many: bool,
    /// Where the field is declared in its model file (the key).
    pub span: Range<usize>,
}

/// The slug autokey: `slug = { from = "title" }`, kept unique in field `slug`.
#[derive(Debug, Clone)]
pub struct Autokey {
    pub from: String,
    pub field: String,
}

/// One sort key: a field name (or `id`), descending when written `-name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

/// A list (`models/NAME.toml`): its fields in file order and its options.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    /// Project-relative path of the model file.
    pub file: String,
    pub label: String,
    /// The field that names an item (`None`: the id names it).
    pub title: Option<String>,
    pub slug: Option<Autokey>,
    pub sort: Vec<SortKey>,
    pub columns: Vec<String>,
    pub fields: Vec<Field>,
}

impl Model {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// Fields that get a database index, and whether it is unique.
    pub fn indexes(&self) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = self
            .fields
            .iter()
            .filter(|f| (f.index || f.unique || self.sort.iter().any(|k| k.field == f.name)) && !f.many)
            .map(|f| (f.name.clone(), f.unique))
            .collect();
        out.sort();
        out
    }
}

/// Parses a list's sort string: `-published_at`, `title -published_at`, `state,-title`.
pub fn parse_sort(text: &str) -> Vec<SortKey> {
    text.split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('-') {
            Some(f) => SortKey { field: f.to_string(), descending: true },
            None => SortKey { field: s.trim_start_matches('+').to_string(), descending: false },
        })
        .collect()
}

/// A list name: PascalCase ASCII, at most 50 characters.
pub fn valid_list_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric()) && name.len() <= 50
}

/// A field name: an ASCII identifier (it becomes part of index expressions), not `id`.
pub fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 60
}

/// `published_at` → `Published at`.
pub fn humanize(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut out = String::new();
    for (i, c) in spaced.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if i == 0 {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `Post` → `Posts`, `PostCategory` → `Post Categories`.
pub fn plural_label(name: &str) -> String {
    let words = humanize(name);
    let mut words: Vec<String> = words.split(' ').map(str::to_string).collect();
    // Capitalise every word of a list label: "Post Categories".
    for w in &mut words {
        let mut c = w.chars();
        if let Some(f) = c.next() {
            *w = f.to_uppercase().chain(c).collect();
        }
    }
    let last = words.pop().unwrap_or_default();
    let plural = if last.ends_with('y') && !last.ends_with("ey") && !last.ends_with("ay") && !last.ends_with("oy") {
        format!("{}ies", &last[..last.len() - 1])
    } else if last.ends_with('s') || last.ends_with('x') || last.ends_with("ch") || last.ends_with("sh") {
        format!("{last}es")
    } else {
        format!("{last}s")
    };
    words.push(plural);
    words.join(" ")
}

/// `help:` text for a name not in `known`.
pub fn suggest<'a>(name: &str, known: impl IntoIterator<Item = &'a str> + Clone, what: &str) -> String {
    match did_you_mean(name, known.clone()) {
        Some(k) => format!("did you mean `{k}`?"),
        None => {
            let all: Vec<&str> = known.into_iter().collect();
            if all.is_empty() { format!("there are no {what}s") } else { format!("{what}s: {}", all.join(", ")) }
        }
    }
}

const LIST_KEYS: &[&str] = &["label", "title", "slug", "sort", "columns", "fields"];
const FIELD_KEYS: &[&str] =
    &["type", "required", "unique", "index", "default", "initial", "label", "note", "hidden", "options", "ref", "many"];

/// Parses one model file. The list's name is the file stem; `file` is project-relative.
/// Cross-list problems (a relationship to a missing list) are found by [`cross_check`].
///
/// # Errors
/// Every problem found in the file, as diagnostics; a model with any error is not returned.
pub fn parse(name: &str, file: &str, source: &str) -> Result<Model, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let err = |code: &'static str, span: Range<usize>, message: String, help: String| {
        Diagnostic::error(code, file, message).at_span(source, span).with_help(help)
    };
    if !valid_list_name(name) {
        out.push(
            Diagnostic::error("model-name", file, format!("list name `{name}` is not PascalCase"))
                .with_help("name model files like models/Post.toml or models/PostCategory.toml"),
        );
    }
    let (root, errors) = DeTable::parse_recoverable(source);
    if !errors.is_empty() {
        for e in errors.iter().take(1) {
            out.push(crate::project::settings::toml_diagnostic(file, source, e));
        }
        return Err(out);
    }
    let root = root.into_inner();

    for (key, _) in root.iter() {
        if !LIST_KEYS.contains(&key.get_ref().as_ref()) {
            out.push(err(
                "model-unknown-option",
                key.span(),
                format!("unknown list option `{}`", key.get_ref()),
                suggest(key.get_ref(), LIST_KEYS.iter().copied(), "list option"),
            ));
        }
    }

    let text_option = |key: &str, out: &mut Vec<Diagnostic>| -> Option<Spanned<String>> {
        let v = root.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Spanned::new(v.span(), s.to_string())),
            other => {
                out.push(err(
                    "model-value",
                    v.span(),
                    format!("`{key}` must be a string, not {}", other.type_str()),
                    format!("write {key} = \"…\""),
                ));
                None
            }
        }
    };
    let label = text_option("label", &mut out);
    let title = text_option("title", &mut out);
    let sort = text_option("sort", &mut out);

    let mut fields: Vec<Field> = Vec::new();
    match root.get("fields").map(|v| (v.span(), v.get_ref())) {
        Some((_, DeValue::Table(table))) => {
            let mut entries: Vec<_> = table.iter().collect();
            entries.sort_by_key(|(k, _)| k.span().start);
            for (key, value) in entries {
                match parse_field(file, source, key, value) {
                    Ok(f) => fields.push(f),
                    Err(mut d) => out.append(&mut d),
                }
            }
        }
        Some((span, other)) => out.push(err(
            "model-value",
            span,
            format!("`fields` must be a table, not {}", other.type_str()),
            "write [fields] followed by lines like title = { type = \"text\" }".into(),
        )),
        None => out.push(
            Diagnostic::error("model-value", file, "the list has no [fields]")
                .at(source, 1, 1)
                .with_help("add [fields] with lines like title = { type = \"text\", required = true }"),
        ),
    }

    let slug = match root.get("slug") {
        None => None,
        Some(v) => match v.get_ref().as_table().and_then(|t| t.get("from")).map(|f| (f.span(), f.get_ref())) {
            Some((span, DeValue::String(from))) => {
                if let Some((k, _)) = v.get_ref().as_table().and_then(|t| t.iter().find(|(k, _)| k.get_ref() != "from"))
                {
                    out.push(err(
                        "model-unknown-option",
                        k.span(),
                        format!("unknown slug option `{}`", k.get_ref()),
                        "the slug takes only `from`: slug = { from = \"title\" }".into(),
                    ));
                }
                if fields.iter().any(|f| f.name == "slug") {
                    out.push(err(
                        "model-value",
                        v.span(),
                        "the slug autokey is kept in field `slug`, which [fields] also declares".into(),
                        "remove `slug` from [fields]: the autokey adds it".into(),
                    ));
                }
                Some((Spanned::new(span, from.to_string()), v.span()))
            }
            _ => {
                out.push(err(
                    "model-value",
                    v.span(),
                    "`slug` must name the field it is made from".into(),
                    "write slug = { from = \"title\" }".into(),
                ));
                None
            }
        },
    };

    // title, slug, sort and columns must name fields that exist.
    let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
    let mut known: Vec<&str> = names.iter().map(String::as_str).collect();
    if slug.is_some() {
        known.push("slug");
    }
    let missing = |what: &str, name: &str, span: Range<usize>, out: &mut Vec<Diagnostic>, allow_id: bool| {
        if !(known.contains(&name) || allow_id && name == "id") {
            out.push(err(
                "model-field-missing",
                span,
                format!("{what} names field `{name}`, which the list does not have"),
                suggest(name, known.iter().copied(), "field"),
            ));
        }
    };
    if let Some(t) = &title {
        missing("`title`", t.get_ref(), t.span(), &mut out, false);
    }
    if let Some((from, _)) = &slug {
        missing("`slug`", from.get_ref(), from.span(), &mut out, false);
    }
    let sort_keys = sort.as_ref().map(|s| parse_sort(s.get_ref())).unwrap_or_default();
    if let Some(s) = &sort {
        for key in &sort_keys {
            missing("`sort`", &key.field, s.span(), &mut out, true);
        }
    }
    let mut columns = Vec::new();
    if let Some(v) = root.get("columns") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(c) => {
                            missing("`columns`", c, item.span(), &mut out, true);
                            columns.push(c.to_string());
                        }
                        other => out.push(err(
                            "model-value",
                            item.span(),
                            format!("a column must be a field name, not {}", other.type_str()),
                            "write columns = [\"title\", \"state\"]".into(),
                        )),
                    }
                }
            }
            other => out.push(err(
                "model-value",
                v.span(),
                format!("`columns` must be an array, not {}", other.type_str()),
                "write columns = [\"title\", \"state\"]".into(),
            )),
        }
    }

    if !out.is_empty() {
        return Err(out);
    }
    let title = title
        .map(|t| t.into_inner())
        .or_else(|| ["name", "title"].iter().find(|n| fields.iter().any(|f| f.name == **n)).map(|n| n.to_string()));
    let slug = slug.map(|(from, span)| {
        fields.push(Field {
            name: "slug".into(),
            kind: FieldType::Text,
            required: false,
            unique: true,
            index: true,
            default: None,
            initial: false,
            label: "Slug".into(),
            note: None,
            hidden: false,
            options: Vec::new(),
            target: None,
            many: false,
            span,
        });
        Autokey { from: from.into_inner(), field: "slug".into() }
    });
    if columns.is_empty() {
        columns = fields
            .iter()
            .filter(|f| !f.hidden && f.kind != FieldType::Password)
            .take(4)
            .map(|f| f.name.clone())
            .collect();
    }
    Ok(Model {
        name: name.to_string(),
        file: file.to_string(),
        label: label.map_or_else(|| plural_label(name), Spanned::into_inner),
        title,
        slug,
        sort: sort_keys,
        columns,
        fields,
    })
}

fn parse_field(
    file: &str,
    source: &str,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<Field, Vec<Diagnostic>> {
    let name = key.get_ref().to_string();
    let mut out = Vec::new();
    let err = |code: &'static str, span: Range<usize>, message: String, help: String| {
        Diagnostic::error(code, file, message).at_span(source, span).with_help(help)
    };
    if !valid_field_name(&name) || name == "id" {
        out.push(err(
            "model-value",
            key.span(),
            format!("`{name}` cannot be a field name"),
            "use letters, digits and `_` (like published_at); `id` is every item's own".into(),
        ));
    }
    let Some(table) = value.get_ref().as_table() else {
        out.push(err(
            "model-value",
            value.span(),
            format!("field `{name}` must be a table, not {}", value.get_ref().type_str()),
            format!("write {name} = {{ type = \"text\" }}"),
        ));
        return Err(out);
    };
    let kind = match table.get("type").map(|t| (t.span(), t.get_ref())) {
        Some((span, DeValue::String(t))) => match FieldType::parse(t) {
            Some(kind) => Some(kind),
            None => {
                out.push(err(
                    "model-unknown-type",
                    span,
                    format!("unknown field type `{t}`"),
                    suggest(t, FieldType::ALL.iter().map(|(n, _)| *n), "type"),
                ));
                None
            }
        },
        Some((span, _)) => {
            out.push(err("model-value", span, "`type` must be a string".into(), "write type = \"text\"".into()));
            None
        }
        None => {
            out.push(err(
                "model-unknown-type",
                key.span(),
                format!("field `{name}` has no type"),
                "add type = \"text\" (or another type: see README.md)".into(),
            ));
            None
        }
    };
    let mut field = Field {
        name: name.clone(),
        kind: kind.unwrap_or(FieldType::Text),
        required: false,
        unique: false,
        index: false,
        default: None,
        initial: false,
        label: humanize(&name),
        note: None,
        hidden: false,
        options: Vec::new(),
        target: None,
        many: false,
        span: key.span(),
    };
    let mut default = None;
    for (k, v) in table.iter() {
        let option = k.get_ref().as_ref();
        let bool_of = |out: &mut Vec<Diagnostic>| match v.get_ref() {
            DeValue::Boolean(b) => *b,
            other => {
                out.push(err(
                    "model-value",
                    v.span(),
                    format!("`{option}` must be true or false, not {}", other.type_str()),
                    format!("write {option} = true"),
                ));
                false
            }
        };
        let string_of = |out: &mut Vec<Diagnostic>| match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                out.push(err(
                    "model-value",
                    v.span(),
                    format!("`{option}` must be a string, not {}", other.type_str()),
                    format!("write {option} = \"…\""),
                ));
                None
            }
        };
        let only_for = |types: &[FieldType], out: &mut Vec<Diagnostic>| {
            if kind.is_some_and(|t| !types.contains(&t)) {
                let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
                out.push(err(
                    "model-unknown-option",
                    k.span(),
                    format!("option `{option}` does not apply to {} fields", field_kind_name(kind)),
                    format!("`{option}` is for {} fields; remove it", names.join(", ")),
                ));
                false
            } else {
                true
            }
        };
        match option {
            "type" => {}
            "required" => field.required = bool_of(&mut out),
            "unique" => field.unique = bool_of(&mut out),
            "index" => field.index = bool_of(&mut out),
            "initial" => field.initial = bool_of(&mut out),
            "hidden" => field.hidden = bool_of(&mut out),
            "label" => field.label = string_of(&mut out).unwrap_or(field.label.clone()),
            "note" => field.note = string_of(&mut out),
            "default" => default = Some(v),
            "ref" => {
                if only_for(&[FieldType::Relationship], &mut out) {
                    field.target = string_of(&mut out);
                }
            }
            "many" => {
                if only_for(&[FieldType::Relationship], &mut out) {
                    field.many = bool_of(&mut out);
                }
            }
            "options" => {
                if only_for(&[FieldType::Select], &mut out) {
                    match v.get_ref() {
                        DeValue::Array(items) => {
                            for item in items.iter() {
                                match item.get_ref() {
                                    DeValue::String(s) => field.options.push(s.to_string()),
                                    other => out.push(err(
                                        "model-value",
                                        item.span(),
                                        format!("an option must be a string, not {}", other.type_str()),
                                        "write options = [\"draft\", \"published\"]".into(),
                                    )),
                                }
                            }
                        }
                        other => out.push(err(
                            "model-value",
                            v.span(),
                            format!("`options` must be an array, not {}", other.type_str()),
                            "write options = [\"draft\", \"published\"]".into(),
                        )),
                    }
                }
            }
            unknown => out.push(err(
                "model-unknown-option",
                k.span(),
                format!("unknown field option `{unknown}`"),
                suggest(unknown, FIELD_KEYS.iter().copied(), "field option"),
            )),
        }
    }
    if kind == Some(FieldType::Select) && field.options.is_empty() && !table.contains_key("options") {
        out.push(err(
            "model-value",
            key.span(),
            format!("select field `{name}` has no options"),
            "add options = [\"a\", \"b\"]".into(),
        ));
    }
    if kind == Some(FieldType::Relationship) && field.target.is_none() && !table.contains_key("ref") {
        out.push(err(
            "model-relationship-missing",
            key.span(),
            format!("relationship `{name}` names no list"),
            "add ref = \"ListName\"".into(),
        ));
    }
    if kind == Some(FieldType::Password) && (field.unique || field.index) {
        out.push(err(
            "model-value",
            key.span(),
            format!("password field `{name}` cannot be unique or indexed"),
            "remove unique/index: a password is stored as a salted hash".into(),
        ));
    }
    if let Some(v) = default {
        match toml_to_json(v.get_ref()) {
            Some(json) if kind.is_some() => match super::value::convert(&field, &json, false) {
                // `now` is taken at each create, not when the model loads.
                Ok(Some(_)) if matches!(field.kind, FieldType::Date | FieldType::Datetime) && json == "now" => {
                    field.default = Some(json)
                }
                Ok(Some(stored)) if field.kind != FieldType::Password && field.kind != FieldType::Relationship => {
                    field.default = Some(stored)
                }
                Ok(_) => out.push(err(
                    "model-default-invalid",
                    v.span(),
                    format!("{} fields cannot have a default", field.kind.name()),
                    "remove `default`".into(),
                )),
                Err(message) => {
                    let help = if field.kind == FieldType::Select {
                        format!("use one of the options: {}", field.options.join(", "))
                    } else {
                        format!("give a default a {} field can hold", field.kind.name())
                    };
                    out.push(err(
                        "model-default-invalid",
                        v.span(),
                        format!("default of `{name}` is invalid: {}", message.to_lowercase()),
                        help,
                    ))
                }
            },
            _ => {}
        }
    }
    if out.is_empty() { Ok(field) } else { Err(out) }
}

fn field_kind_name(kind: Option<FieldType>) -> &'static str {
    kind.map_or("these", FieldType::name)
}

/// A TOML value as JSON (datetimes as their text).
fn toml_to_json(value: &DeValue<'_>) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => Value::from(i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()?),
        DeValue::Float(f) => {
            serde_json::Number::from_f64(f.as_str().replace('_', "").parse().ok()?).map(Value::Number)?
        }
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().filter_map(|i| toml_to_json(i.get_ref())).collect()),
        DeValue::Table(t) => Value::Object(
            t.iter().filter_map(|(k, v)| Some((k.get_ref().to_string(), toml_to_json(v.get_ref())?))).collect(),
        ),
    })
}

/// A TOML document as a JSON value, for `updates/*.toml`.
///
/// # Errors
/// The TOML syntax error as a diagnostic.
pub fn toml_document(file: &str, source: &str) -> Result<serde_json::Map<String, serde_json::Value>, Box<Diagnostic>> {
    let root =
        DeTable::parse(source).map_err(|e| Box::new(crate::project::settings::toml_diagnostic(file, source, &e)))?;
    match toml_to_json(&DeValue::Table(root.into_inner())) {
        Some(serde_json::Value::Object(map)) => Ok(map),
        _ => Ok(serde_json::Map::new()),
    }
}

/// Problems between lists: relationships to lists that do not exist.
pub fn cross_check(models: &BTreeMap<String, Model>, sources: &BTreeMap<String, String>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for model in models.values() {
        for field in &model.fields {
            if let Some(target) = &field.target
                && !models.contains_key(target)
            {
                let source = sources.get(&model.name).map_or("", String::as_str);
                out.push(
                    Diagnostic::error(
                        "model-relationship-missing",
                        model.file.as_str(),
                        format!("relationship `{}` points to list `{target}`, which does not exist", field.name),
                    )
                    .at_span(source, field.span.clone())
                    .with_help(match did_you_mean(target, models.keys().map(String::as_str)) {
                        Some(k) => format!("did you mean `{k}`?"),
                        None => format!("create models/{target}.toml, or point `ref` at an existing list"),
                    }),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const POST: &str = r#"
label = "Posts"
title = "title"
slug = { from = "title" }
sort = "-published_at"
columns = ["title", "state", "author", "published_at"]

[fields]
title        = { type = "text", required = true }
state        = { type = "select", options = ["draft", "published", "archived"], default = "draft", index = true }
author       = { type = "relationship", ref = "User" }
categories   = { type = "relationship", ref = "PostCategory", many = true }
published_at = { type = "datetime" }
brief        = { type = "markdown" }
content      = { type = "html" }
"#;

    fn errors(source: &str) -> Vec<String> {
        parse("Post", "models/Post.toml", source)
            .unwrap_err()
            .into_iter()
            .map(|d| format!("{} {}: {} ({})", d.code, d.location(), d.message, d.help.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn the_design_example_parses_in_file_order() {
        let m = parse("Post", "models/Post.toml", POST).unwrap();
        let names: Vec<&str> = m.field_names().collect();
        assert_eq!(names, ["title", "state", "author", "categories", "published_at", "brief", "content", "slug"]);
        assert_eq!(m.sort, vec![SortKey { field: "published_at".into(), descending: true }]);
        assert_eq!(m.field("state").unwrap().default, Some(serde_json::json!("draft")));
        assert!(m.field("categories").unwrap().many);
        assert_eq!(m.indexes(), vec![("published_at".into(), false), ("slug".into(), true), ("state".into(), false)]);
    }

    #[test]
    fn unknown_types_and_options_suggest_the_close_name() {
        let e = errors("[fields]\ntitle = { type = \"txt\", requird = true }\n");
        assert!(
            e.iter()
                .any(|e| e.contains("model-unknown-type models/Post.toml:2:") && e.contains("did you mean `text`?")),
            "{e:?}"
        );
        assert!(e.iter().any(|e| e.contains("unknown field option `requird`") && e.contains("`required`")), "{e:?}");
    }

    #[test]
    fn defaults_outside_options_and_missing_fields_are_errors() {
        let e = errors(
            "title = \"name\"\nsort = \"-date\"\ncolumns = [\"titl\"]\n[fields]\ntitle = { type = \"text\" }\nstate = { type = \"select\", options = [\"a\"], default = \"b\" }\n",
        );
        assert!(
            e.iter().any(|e| e.starts_with("model-field-missing models/Post.toml:1:") && e.contains("`name`")),
            "{e:?}"
        );
        assert!(e.iter().any(|e| e.contains("`sort` names field `date`")), "{e:?}");
        assert!(e.iter().any(|e| e.contains("`titl`") && e.contains("did you mean `title`?")), "{e:?}");
        assert!(e.iter().any(|e| e.starts_with("model-default-invalid models/Post.toml:6:")), "{e:?}");
    }

    #[test]
    fn syntax_errors_point_at_their_line() {
        let e = errors("[fields]\ntitle = { type = \"text\"\n");
        assert!(e[0].starts_with("toml-syntax models/Post.toml:2:"), "{e:?}");
    }

    #[test]
    fn relationships_to_nothing_are_found_across_lists() {
        let m = parse("Post", "models/Post.toml", POST).unwrap();
        let models = BTreeMap::from([("Post".to_string(), m)]);
        let sources = BTreeMap::from([("Post".to_string(), POST.to_string())]);
        let found = cross_check(&models, &sources);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].line, 11);
        assert!(found[0].message.contains("`User`"));
    }

    #[test]
    fn labels_are_plural_and_human() {
        assert_eq!(plural_label("Post"), "Posts");
        assert_eq!(plural_label("PostCategory"), "Post Categories");
        assert_eq!(plural_label("Address"), "Addresses");
        assert_eq!(humanize("published_at"), "Published at");
    }
}
