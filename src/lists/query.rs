//! Queries as data: filters (`#{ state: "published", price: #{ lt: 10 } }`), sort, skip and
//! limit, checked against the list's model before any backend turns them into SQL.
use serde_json::Value;

use super::ListError;
use super::model::{Field, FieldType, Model, did_you_mean};
use super::store::{Index, order_keys};
use super::value;

/// The most items one query returns (a script cannot ask a page of a million).
pub const MAX_LIMIT: u64 = 1000;

/// A filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Contains,
}

impl Op {
    pub const ALL: [(&'static str, Op); 8] = [
        ("eq", Op::Eq),
        ("ne", Op::Ne),
        ("gt", Op::Gt),
        ("gte", Op::Gte),
        ("lt", Op::Lt),
        ("lte", Op::Lte),
        ("in", Op::In),
        ("contains", Op::Contains),
    ];

    /// The SQL comparison of the ordering operators.
    pub fn sql(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Ne => "<>",
            _ => "=",
        }
    }
}

/// What a condition or a sort key looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// The item's id.
    Id,
    /// A field of the document. `many`: an array of ids; `markdown`: compare the source.
    Field { name: String, many: bool, markdown: bool },
}

/// One condition; all conditions of a query must hold.
#[derive(Debug, Clone)]
pub struct Cond {
    pub path: Path,
    pub op: Op,
    /// In stored form; an array for `In`; `Null` matches absent fields.
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub path: Path,
    pub descending: bool,
}

/// A find: conditions, order (the id last, so pages are stable), skip and limit.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub conds: Vec<Cond>,
    pub sort: Vec<Sort>,
    pub skip: u64,
    pub limit: Option<u64>,
}

fn path(model: &Model, name: &str) -> Result<Path, ListError> {
    if name == "id" {
        return Ok(Path::Id);
    }
    match model.field(name) {
        Some(f) => Ok(path_of(f)),
        None => Err(ListError::unknown_field(model, name)),
    }
}

fn path_of(field: &Field) -> Path {
    Path::Field { name: field.name.clone(), many: field.many, markdown: field.kind == FieldType::Markdown }
}

/// Turns a filter map into conditions, converting each value as the field stores it.
///
/// # Errors
/// Unknown fields, unknown operators, values that could never match.
pub fn parse_filter(model: &Model, filter: &serde_json::Map<String, Value>) -> Result<Vec<Cond>, ListError> {
    let mut conds = Vec::new();
    for (name, spec) in filter {
        let path = path(model, name)?;
        let field = model.field(name);
        let convert = |v: &Value, op: Op| -> Result<Value, ListError> {
            if v.is_null() {
                return Ok(Value::Null);
            }
            let Some(field) = field else {
                return match v {
                    Value::String(id) if value::valid_id(id) => Ok(v.clone()),
                    _ => Ok(Value::String(v.as_str().unwrap_or("").to_string())),
                };
            };
            if op == Op::Contains && !field.kind.is_textual() && !field.many {
                return Err(ListError::Filter(format!(
                    "`contains` needs a text field, and `{}.{name}` is {}",
                    model.name,
                    field.kind.name()
                )));
            }
            if op == Op::Contains && field.kind.is_textual() {
                return match v {
                    Value::String(_) => Ok(v.clone()),
                    _ => Err(ListError::Filter(format!("`contains` on `{}.{name}` needs text", model.name))),
                };
            }
            if field.kind == FieldType::Json {
                return Ok(v.clone());
            }
            value::filter_value(field, v).map_err(|m| ListError::Filter(format!("`{}.{name}` {m}", model.name)))
        };
        match spec {
            Value::Object(ops) if field.is_none_or(|f| f.kind != FieldType::Json) => {
                for (op_name, v) in ops {
                    let Some(op) = Op::ALL.iter().find(|(n, _)| n == op_name).map(|(_, o)| *o) else {
                        let hint = did_you_mean(op_name, Op::ALL.iter().map(|(n, _)| *n))
                            .map_or_else(String::new, |k| format!(" (did you mean `{k}`?)"));
                        return Err(ListError::Filter(format!(
                            "unknown filter operator `{op_name}` on `{}.{name}`{hint}; operators: eq, ne, gt, gte, lt, lte, in, contains",
                            model.name
                        )));
                    };
                    let value = if op == Op::In {
                        let Value::Array(items) = v else {
                            return Err(ListError::Filter(format!(
                                "`in` on `{}.{name}` needs an array of values",
                                model.name
                            )));
                        };
                        Value::Array(items.iter().map(|i| convert(i, Op::Eq)).collect::<Result<_, _>>()?)
                    } else {
                        convert(v, op)?
                    };
                    if value.is_null() && !matches!(op, Op::Eq | Op::Ne) {
                        return Err(ListError::Filter(format!(
                            "`{op_name}` on `{}.{name}` needs a value, not ()",
                            model.name
                        )));
                    }
                    if matches!(path, Path::Field { many: true, .. })
                        && matches!(op, Op::Gt | Op::Gte | Op::Lt | Op::Lte)
                    {
                        return Err(ListError::Filter(format!(
                            "`{op_name}` cannot compare `{}.{name}`, which holds several ids",
                            model.name
                        )));
                    }
                    conds.push(Cond { path: path.clone(), op, value });
                }
            }
            Value::Array(_) if field.is_none_or(|f| f.kind != FieldType::Json) => {
                return Err(ListError::Filter(format!(
                    "`{}.{name}` compared with an array: write #{{ {name}: #{{ in: [...] }} }} to match any of them",
                    model.name
                )));
            }
            v => conds.push(Cond { path: path.clone(), op: Op::Eq, value: convert(v, Op::Eq)? }),
        }
    }
    Ok(conds)
}

/// Turns `"-published_at title"` into sort keys.
///
/// # Errors
/// A key naming no field, or a field holding several ids.
pub fn parse_sort(model: &Model, text: &str) -> Result<Vec<Sort>, ListError> {
    super::model::parse_sort(text)
        .into_iter()
        .map(|k| {
            let path = path(model, &k.field)?;
            if matches!(path, Path::Field { many: true, .. }) {
                return Err(ListError::Filter(format!(
                    "cannot sort by `{}.{}`, which holds several ids",
                    model.name, k.field
                )));
            }
            Ok(Sort { path, descending: k.descending })
        })
        .collect()
}

/// The list's default order (`sort` in its model), else creation order.
pub fn default_sort(model: &Model) -> Vec<Sort> {
    model
        .sort
        .iter()
        .filter_map(|k| path(model, &k.field).ok().map(|path| Sort { path, descending: k.descending }))
        .collect()
}

/// The indexes a list's queries need: one per `index`/`unique` field and sort key (filters
/// and range conditions), one in the default order (a page of the list reads the first
/// items of the index instead of sorting every item), and for each `index = true` field one
/// on that field then the default order (a filtered page, and its count, read one range).
pub fn indexes(model: &Model) -> Vec<Index> {
    let mut out: Vec<Index> = model.indexes().iter().map(|(field, unique)| Index::field(field, *unique)).collect();
    let order = order_keys(&default_sort(model));
    if order.len() > 1 {
        out.push(Index { keys: order.clone(), unique: false });
    }
    for f in model.fields.iter().filter(|f| f.index && !f.unique && !f.many) {
        let first = Sort { path: path_of(f), descending: false };
        if order.first().is_some_and(|k| k.path == first.path) {
            continue; // the default order's index starts with it already
        }
        let mut keys = vec![first];
        keys.extend(order.iter().cloned());
        out.push(Index { keys, unique: false });
    }
    out
}

/// One page of a paginated find, as scripts and templates see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub page: u64,
    pub pages: u64,
    pub per_page: u64,
    pub total: u64,
}

impl Page {
    /// Clamps `page` into `1..=pages` (an empty list has one empty page).
    pub fn new(page: i64, per_page: i64, total: u64) -> Page {
        let per_page = (per_page.max(1) as u64).min(MAX_LIMIT);
        let pages = total.div_ceil(per_page).max(1);
        let page = (page.max(1) as u64).min(pages);
        Page { page, pages, per_page, total }
    }

    pub fn skip(&self) -> u64 {
        (self.page - 1) * self.per_page
    }

    pub fn prev(&self) -> Option<u64> {
        (self.page > 1).then(|| self.page - 1)
    }

    pub fn next(&self) -> Option<u64> {
        (self.page < self.pages).then(|| self.page + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_clamp_into_range() {
        let p = Page::new(0, 10, 25);
        assert_eq!((p.page, p.pages, p.skip(), p.prev(), p.next()), (1, 3, 0, None, Some(2)));
        let p = Page::new(99, 10, 25);
        assert_eq!((p.page, p.skip(), p.prev(), p.next()), (3, 20, Some(2), None));
        let p = Page::new(1, 10, 0);
        assert_eq!((p.page, p.pages, p.next()), (1, 1, None));
        let p = Page::new(2, 10, 20);
        assert_eq!((p.pages, p.next(), p.prev()), (2, None, Some(1)));
        assert_eq!(Page::new(1, 1_000_000, 5).per_page, MAX_LIMIT);
    }
}
