//! The store for many nodes: PostgreSQL, a table per list holding JSONB, expression indexes
//! on `data->'field'`. The synchronous `postgres` client, because scripts (its only callers)
//! are synchronous: an async client would need a runtime bridge at every call.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use serde_json::Value;

use super::{Index, Indexes, Item, Store, StoreError, Stored, encode, escape_str, field_of_index, table};
use super::{order_clause, order_key};
use crate::lists::blocking;
use crate::lists::query::{Cond, Op, Path, Query};

const POOL: usize = 8;

struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

pub struct PostgresStore {
    config: postgres::Config,
    pool: Mutex<Vec<Conn>>,
    indexes: Mutex<HashMap<String, Vec<Index>>>,
}

type Param = Box<dyn ToSql + Sync + Send>;

fn error(err: &postgres::Error) -> StoreError {
    match err.as_db_error() {
        Some(db) if db.code().code().starts_with("57") || db.code().code().starts_with("08") => {
            StoreError::Unavailable(db.message().to_string())
        }
        Some(db) => StoreError::Other(format!("{}: {}", db.code().code(), db.message())),
        None => StoreError::Unavailable(err.to_string()),
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and makes the updates table.
    ///
    /// # Errors
    /// A malformed URL, or the server unreachable.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: postgres::Config =
            url.parse().map_err(|e| StoreError::Other(format!("bad database url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let store = PostgresStore { config, pool: Mutex::new(Vec::new()), indexes: Mutex::default() };
        store.with(|c| {
            c.client.batch_execute(
                "CREATE TABLE IF NOT EXISTS ks_updates (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
        })?;
        Ok(store)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, postgres::Error>) -> Result<T, StoreError> {
        blocking(|| {
            let conn = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut conn = match conn {
                Some(c) if !c.client.is_closed() => c,
                _ => Conn {
                    client: self.config.connect(NoTls).map_err(|e| StoreError::Unavailable(e.to_string()))?,
                    statements: HashMap::new(),
                },
            };
            let result = f(&mut conn);
            if !conn.client.is_closed() {
                let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                if pool.len() < POOL {
                    pool.push(conn);
                }
            }
            result.map_err(|e| error(&e))
        })
    }

    fn write<T>(&self, list: &str, f: impl FnOnce(&mut Conn) -> Result<T, postgres::Error>) -> Result<T, StoreError> {
        let mut unique = None;
        let result = self.with(|c| {
            f(c).inspect_err(|e| {
                if let Some(db) = e.as_db_error()
                    && db.code() == &postgres::error::SqlState::UNIQUE_VIOLATION
                {
                    unique = db.constraint().map(str::to_string);
                }
            })
        });
        match (result, unique) {
            (Err(_), Some(index)) => {
                let indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
                let field =
                    indexes.get(list).and_then(|ix| field_of_index(list, ix, &index)).unwrap_or_else(|| "id".into());
                Err(StoreError::Unique { field })
            }
            (result, _) => result,
        }
    }
}

impl Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        if self.statements.len() > 256 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, params: &[Param]) -> Result<Vec<postgres::Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        self.client.query(&statement, &refs)
    }

    fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        self.client.execute(&statement, &refs)
    }
}

fn expr(path: &Path) -> String {
    match path {
        Path::Id => "id".into(),
        Path::Field { name, markdown: true, .. } => format!("(data->'{name}'->'md')"),
        Path::Field { name, .. } => format!("(data->'{name}')"),
    }
}

fn where_clause(conds: &[Cond], params: &mut Vec<Param>) -> String {
    if conds.is_empty() {
        return String::new();
    }
    let mut parts = Vec::new();
    for c in conds {
        let e = expr(&c.path);
        let mut push = |p: Param| {
            params.push(p);
            format!("${}", params.len())
        };
        let part = match (&c.path, c.op) {
            (Path::Id, Op::In) => {
                let ids: Vec<String> =
                    c.value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
                format!("id = ANY({})", push(Box::new(ids)))
            }
            (Path::Id, op) if !c.value.is_null() => {
                let id = c.value.as_str().unwrap_or_default().to_string();
                format!("id {} {}", op.sql(), push(Box::new(id)))
            }
            (Path::Field { .. }, Op::Eq | Op::Contains) if c.value.is_null() => {
                format!("({e} IS NULL OR {e} = 'null'::jsonb OR {e} = '[]'::jsonb)")
            }
            (Path::Field { many: true, .. }, Op::In) => {
                let p = push(Box::new(encode(&c.value)));
                format!(
                    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof({e}) WHEN 'array' THEN {e} END) x WHERE x.value IN (SELECT jsonb_array_elements({p}::jsonb)))"
                )
            }
            (Path::Field { many: true, .. }, Op::Ne) if c.value.is_null() => format!("jsonb_array_length({e}) > 0"),
            (Path::Field { many: true, .. }, Op::Ne) => {
                let p = push(Box::new(Value::Array(vec![encode(&c.value)])));
                format!("NOT coalesce({e} @> {p}::jsonb, false)")
            }
            (Path::Field { many: true, .. }, _) => {
                let p = push(Box::new(Value::Array(vec![encode(&c.value)])));
                format!("coalesce({e} @> {p}::jsonb, false)")
            }
            (_, Op::Eq) if c.value.is_null() => format!("{e} IS NULL"),
            (_, Op::Ne) if c.value.is_null() => format!("{e} IS NOT NULL"),
            (_, Op::Ne) => {
                let p = push(Box::new(encode(&c.value)));
                format!("({e} IS NULL OR {e} <> {p}::jsonb)")
            }
            (_, Op::In) => {
                let p = push(Box::new(encode(&c.value)));
                format!("{e} IN (SELECT jsonb_array_elements({p}::jsonb))")
            }
            (_, Op::Contains) => {
                let p = push(Box::new(escape_str(c.value.as_str().unwrap_or_default())));
                format!("strpos(lower({e} #>> '{{}}'), lower({p}::text)) > 0")
            }
            (_, op) => {
                let p = push(Box::new(encode(&c.value)));
                format!("{e} {} {p}::jsonb", op.sql())
            }
        };
        parts.push(part);
    }
    format!(" WHERE {}", parts.join(" AND "))
}

/// The query of a find, pushing its parameters.
fn select(list: &str, query: &Query, params: &mut Vec<Param>) -> String {
    let mut sql = format!("SELECT id, version, data::text FROM \"{}\"", table(list));
    sql.push_str(&where_clause(&query.conds, params));
    sql.push_str(&order_clause(query, expr));
    if let Some(limit) = query.limit {
        params.push(Box::new(limit as i64));
        sql.push_str(&format!(" LIMIT ${}", params.len()));
    }
    params.push(Box::new(query.skip as i64));
    sql.push_str(&format!(" OFFSET ${}", params.len()));
    sql
}

fn stored(row: &postgres::Row) -> Stored {
    Stored { id: row.get(0), version: row.get(1), text: row.get(2) }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn prepare(&self, list: &str, indexes: &Indexes) -> Result<(), StoreError> {
        self.indexes.lock().unwrap_or_else(|e| e.into_inner()).insert(list.to_string(), indexes.to_vec());
        let table = table(list);
        self.write(list, |c| {
            let mut tx = c.client.transaction()?;
            // Two nodes starting at once would race on CREATE … IF NOT EXISTS.
            tx.execute("SELECT pg_advisory_xact_lock(7171)", &[])?;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS \"{table}\" (id TEXT PRIMARY KEY, version BIGINT NOT NULL, data JSONB NOT NULL)"
            ))?;
            let wanted: Vec<String> = indexes.iter().map(|ix| ix.name(list)).collect();
            let existing: Vec<String> = tx
                .query("SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexname LIKE 'ks\\_%'", &[&table])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for old in existing.iter().filter(|e| !wanted.contains(e) && !e.ends_with("_pkey")) {
                tx.batch_execute(&format!("DROP INDEX IF EXISTS \"{old}\""))?;
            }
            for (index, name) in indexes.iter().zip(&wanted) {
                let keys: Vec<String> = match index.keys.as_slice() {
                    // One field: as earlier versions made it, so existing databases keep it.
                    [key] if !key.descending => vec![expr(&key.path)],
                    // In the order's own words (where missing values go included), or
                    // PostgreSQL would not read the index in that order.
                    keys => keys.iter().map(|k| order_key(k, expr)).collect(),
                };
                let unique = if index.unique { "UNIQUE " } else { "" };
                tx.batch_execute(&format!(
                    "CREATE {unique}INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" ({})",
                    keys.join(", ")
                ))?;
            }
            tx.commit()
        })
    }

    fn insert(&self, list: &str, item: &Item) -> Result<(), StoreError> {
        let data = encode(&Value::Object(item.data.clone()));
        let sql = format!("INSERT INTO \"{}\" (id, version, data) VALUES ($1, $2, $3)", table(list));
        let params: Vec<Param> = vec![Box::new(item.id.clone()), Box::new(item.version), Box::new(data)];
        self.write(list, |c| c.execute(&sql, &params).map(|_| ()))
    }

    fn replace(&self, list: &str, item: &Item, expected_version: i64) -> Result<bool, StoreError> {
        let data = encode(&Value::Object(item.data.clone()));
        let sql = format!("UPDATE \"{}\" SET version = $2, data = $3 WHERE id = $1 AND version = $4", table(list));
        let params: Vec<Param> =
            vec![Box::new(item.id.clone()), Box::new(item.version), Box::new(data), Box::new(expected_version)];
        self.write(list, |c| c.execute(&sql, &params).map(|n| n == 1))
    }

    fn delete(&self, list: &str, id: &str) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM \"{}\" WHERE id = $1", table(list));
        let params: Vec<Param> = vec![Box::new(id.to_string())];
        self.write(list, |c| c.execute(&sql, &params).map(|n| n == 1))
    }

    fn find_stored(&self, list: &str, query: &Query) -> Result<Vec<Stored>, StoreError> {
        let mut params: Vec<Param> = Vec::new();
        let sql = select(list, query, &mut params);
        self.with(|c| Ok(c.query(&sql, &params)?.iter().map(stored).collect()))
    }

    fn count(&self, list: &str, conds: &[Cond]) -> Result<u64, StoreError> {
        let mut params: Vec<Param> = Vec::new();
        let mut sql = format!("SELECT count(*) FROM \"{}\"", table(list));
        sql.push_str(&where_clause(conds, &mut params));
        self.with(|c| Ok(c.query(&sql, &params)?.first().map_or(0, |r| r.get::<_, i64>(0)) as u64))
    }

    fn claim_update(&self, name: &str) -> Result<bool, StoreError> {
        let params: Vec<Param> = vec![Box::new(name.to_string())];
        self.with(|c| {
            c.execute("INSERT INTO ks_updates (name) VALUES ($1) ON CONFLICT DO NOTHING", &params).map(|n| n == 1)
        })
    }

    fn release_update(&self, name: &str) -> Result<(), StoreError> {
        let params: Vec<Param> = vec![Box::new(name.to_string())];
        self.with(|c| c.execute("DELETE FROM ks_updates WHERE name = $1", &params).map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::{model, query};

    #[test]
    #[cfg_attr(not(feature = "e2e"), ignore = "needs PostgreSQL: cargo test --features e2e")]
    fn a_filtered_sorted_page_can_read_its_index_in_order() {
        const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
        let name = format!("ks_unit_{}", crate::lists::value::new_id());
        let mut admin = Client::connect(&format!("{SERVER}/postgres"), NoTls).expect("PostgreSQL on 127.0.0.1:5432");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{SERVER}/{name}");
        let result = std::panic::catch_unwind(|| {
            let source = "sort = \"-published_at\"\n[fields]\nstate = { type = \"text\", index = true }\npublished_at = { type = \"datetime\" }\n";
            let model = model::parse("Post", "models/Post.toml", source).unwrap();
            let store = PostgresStore::open(&url).unwrap();
            store.prepare("Post", &query::indexes(&model)).unwrap();
            let filter = serde_json::json!({ "state": "published" });
            let conds = query::parse_filter(&model, filter.as_object().unwrap()).unwrap();
            let page = Query { conds, sort: query::default_sort(&model), skip: 20, limit: Some(10) };
            let mut params = Vec::new();
            let sql = select("Post", &page, &mut params);
            // A table this small is cheaper to sort; forbid that to see whether the index can
            // give the order at all (a mismatched expression or NULLS placement cannot).
            let mut client = Client::connect(&url, NoTls).unwrap();
            client.batch_execute("SET enable_sort = off; SET enable_seqscan = off").unwrap();
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
            let plan: Vec<String> =
                client.query(&format!("EXPLAIN {sql}"), &refs).unwrap().iter().map(|r| r.get::<_, String>(0)).collect();
            let plan = plan.join("\n");
            assert!(plan.contains("Index Scan using \"ks_Post__o__"), "{plan}");
            assert!(!plan.contains("Sort"), "{plan}");
        });
        drop(admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
