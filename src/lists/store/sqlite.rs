//! The default store: one SQLite file (`.keystone/data.sqlite3`, owner-only, WAL), a table
//! per list holding JSON text, `json_extract` expression indexes. Counts are remembered until
//! the file changes (this store's writes at once, any other connection's through
//! `PRAGMA data_version`, looked at every millisecond at most).
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, ErrorCode, params_from_iter};
use serde_json::Value;

use super::counts::{Counts, Lookup};
use super::order_clause;
use super::{Index, Indexes, Item, Store, StoreError, Stored, encode, escape_str, field_of_index, table};
use crate::lists::query::{Cond, Op, Path, Query};

/// Connections kept open for reuse (WAL lets readers run beside the one writer).
const POOL: usize = 8;

/// How often, at most, [`Store::generation`] asks SQLite whether another connection committed
/// (`PRAGMA data_version` takes and drops a lock on the WAL index: two system calls). A list
/// page asked thousands of times a second looks about a thousand times; another process's
/// commit shows within this long, this store's own writes at once.
const LOOK_FOR_COMMITS_EVERY: Duration = Duration::from_millis(1);

pub struct SqliteStore {
    file: PathBuf,
    pool: Mutex<Vec<Pooled>>,
    /// Each prepared list's indexes, to name the field a unique violation is about.
    indexes: Mutex<HashMap<String, Vec<Index>>>,
    counts: Counts,
    /// When the store was opened, and how long after that it last looked for other
    /// connections' commits (0: never).
    opened: Instant,
    looked_at: AtomicU64,
}

/// A pooled connection and the `PRAGMA data_version` it last saw (which moves when another
/// connection, of this process or another, commits).
struct Pooled {
    conn: Connection,
    data_version: Option<i64>,
}

impl SqliteStore {
    /// Opens (creating it owner-only if missing) the database file.
    ///
    /// # Errors
    /// The file cannot be created or opened.
    pub fn open(file: &FsPath) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            }
        }
        #[cfg(unix)]
        {
            // SQLite gives its -wal and -shm files the database file's mode.
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(file)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", file.display())))?;
        }
        let store = SqliteStore {
            file: file.to_path_buf(),
            pool: Mutex::new(Vec::new()),
            indexes: Mutex::default(),
            counts: Counts::default(),
            opened: Instant::now(),
            looked_at: AtomicU64::new(0),
        };
        store.with(|c| {
            c.execute_batch("CREATE TABLE IF NOT EXISTS ks_updates (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        })?;
        Ok(store)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open(&self.file).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;")
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        add_unicode_lower(&conn).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection (a new one when none is free).
    fn pooled<T>(&self, f: impl FnOnce(&mut Pooled) -> rusqlite::Result<T>) -> Result<rusqlite::Result<T>, StoreError> {
        let conn = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match conn {
            Some(c) => c,
            None => Pooled { conn: self.connect()?, data_version: None },
        };
        let result = f(&mut conn);
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL {
            pool.push(conn);
        }
        Ok(result)
    }

    /// Runs `f` on a pooled connection.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        self.pooled(|p| f(&p.conn))?.map_err(|e| StoreError::Other(e.to_string()))
    }

    /// Forgets what is remembered if another connection committed since `p` last looked (or
    /// `p` is new): `PRAGMA data_version` moves with every commit but this connection's own.
    fn notice_commits(&self, p: &mut Pooled) -> rusqlite::Result<()> {
        let version: i64 = p.conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        if p.data_version != Some(version) {
            self.counts.forget();
            p.data_version = Some(version);
        }
        Ok(())
    }

    /// A write, with a unique violation turned into the field it is about.
    fn write<T>(&self, list: &str, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let result = self.pooled(|p| f(&p.conn))?;
        self.counts.forget();
        result.map_err(|e| match &e {
            rusqlite::Error::SqliteFailure(code, Some(message)) if code.code == ErrorCode::ConstraintViolation => {
                let index = message.rsplit('\'').nth(1).unwrap_or_default();
                let indexes = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
                match indexes.get(list).and_then(|ix| field_of_index(list, ix, index)) {
                    Some(field) => StoreError::Unique { field },
                    None if message.contains(".id") => StoreError::Unique { field: "id".into() },
                    None => StoreError::Other(e.to_string()),
                }
            }
            rusqlite::Error::SqliteFailure(code, _)
                if matches!(code.code, ErrorCode::DatabaseBusy | ErrorCode::CannotOpen | ErrorCode::ReadOnly) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.to_string()),
        })
    }
}

/// The SQL expression of a path.
fn expr(path: &Path) -> String {
    match path {
        Path::Id => "id".into(),
        Path::Field { name, markdown: true, .. } => format!("json_extract(data, '$.{name}.md')"),
        Path::Field { name, .. } => format!("json_extract(data, '$.{name}')"),
    }
}

/// A JSON value as an SQL parameter, the way `json_extract` returns it.
fn bind(value: &Value) -> Sql {
    match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => n.as_i64().map_or_else(|| Sql::Real(n.as_f64().unwrap_or(0.0)), Sql::Integer),
        Value::String(s) => Sql::Text(escape_str(s)),
        other => Sql::Text(other.to_string()),
    }
}

/// `WHERE …` for the conditions, pushing their parameters.
fn where_clause(conds: &[Cond], params: &mut Vec<Sql>) -> String {
    if conds.is_empty() {
        return String::new();
    }
    let mut parts = Vec::new();
    for c in conds {
        let e = expr(&c.path);
        let part = match (&c.path, c.op) {
            (Path::Field { name, many: true, .. }, op) => {
                let each = format!("SELECT 1 FROM json_each(data, '$.{name}') WHERE value");
                match op {
                    Op::In => {
                        params.push(Sql::Text(encode(&c.value).to_string()));
                        format!("EXISTS ({each} IN (SELECT value FROM json_each(?)))")
                    }
                    Op::Ne if c.value.is_null() => format!("json_array_length(data, '$.{name}') > 0"),
                    Op::Ne => {
                        params.push(bind(&c.value));
                        format!("NOT EXISTS ({each} = ?)")
                    }
                    _ if c.value.is_null() => format!("coalesce(json_array_length(data, '$.{name}'), 0) = 0"),
                    _ => {
                        params.push(bind(&c.value));
                        format!("EXISTS ({each} = ?)")
                    }
                }
            }
            (_, Op::Eq) if c.value.is_null() => format!("{e} IS NULL"),
            (_, Op::Ne) if c.value.is_null() => format!("{e} IS NOT NULL"),
            (_, Op::Ne) => {
                params.push(bind(&c.value));
                format!("({e} IS NULL OR {e} <> ?)")
            }
            (_, Op::In) => {
                params.push(Sql::Text(encode(&c.value).to_string()));
                format!("{e} IN (SELECT value FROM json_each(?))")
            }
            (_, Op::Contains) => {
                params.push(bind(&c.value));
                format!("instr(ks_lower({e}), ks_lower(?)) > 0")
            }
            (_, op) => {
                params.push(bind(&c.value));
                format!("{e} {} ?", op.sql())
            }
        };
        parts.push(part);
    }
    format!(" WHERE {}", parts.join(" AND "))
}

/// The query of a find, pushing its parameters.
fn select(list: &str, query: &Query, params: &mut Vec<Sql>) -> String {
    let mut sql = format!("SELECT id, version, data FROM \"{}\"", table(list));
    sql.push_str(&where_clause(&query.conds, params));
    sql.push_str(&order_clause(query, expr));
    sql.push_str(" LIMIT ? OFFSET ?");
    params.push(Sql::Integer(query.limit.map_or(-1, |l| l as i64)));
    params.push(Sql::Integer(query.skip as i64));
    sql
}

/// The query of a count, pushing its parameters.
fn count(list: &str, conds: &[Cond], params: &mut Vec<Sql>) -> String {
    format!("SELECT count(*) FROM \"{}\"{}", table(list), where_clause(conds, params))
}

fn stored(row: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    let id: String = row.get(0)?;
    let version: i64 = row.get(1)?;
    // Text that is not UTF-8 is no JSON document: it reads as one without fields.
    let text = match row.get_ref(2)? {
        rusqlite::types::ValueRef::Text(text) => std::str::from_utf8(text).unwrap_or_default().to_string(),
        _ => String::new(),
    };
    Ok(Stored { id, version, text })
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn prepare(&self, list: &str, indexes: &Indexes) -> Result<(), StoreError> {
        self.indexes.lock().unwrap_or_else(|e| e.into_inner()).insert(list.to_string(), indexes.to_vec());
        let table = table(list);
        self.write(list, |c| {
            c.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS \"{table}\" (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL)"
            ))?;
            let wanted: Vec<String> = indexes.iter().map(|ix| ix.name(list)).collect();
            let existing: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND name LIKE 'ks\\_%' ESCAPE '\\'")?
                .query_map([&table], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for old in existing.iter().filter(|e| !wanted.contains(e)) {
                c.execute_batch(&format!("DROP INDEX IF EXISTS \"{old}\""))?;
            }
            for (index, name) in indexes.iter().zip(&wanted) {
                let unique = if index.unique { "UNIQUE " } else { "" };
                // SQLite's own order puts missing values first ascending, last descending:
                // the order of `order_key`, which an index definition cannot spell out.
                let keys: Vec<String> = index
                    .keys
                    .iter()
                    .map(|k| format!("{}{}", expr(&k.path), if k.descending { " DESC" } else { "" }))
                    .collect();
                c.execute_batch(&format!(
                    "CREATE {unique}INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" ({})",
                    keys.join(", ")
                ))?;
            }
            Ok(())
        })
    }

    fn insert(&self, list: &str, item: &Item) -> Result<(), StoreError> {
        let data = encode(&Value::Object(item.data.clone())).to_string();
        self.write(list, |c| {
            c.prepare_cached(&format!("INSERT INTO \"{}\" (id, version, data) VALUES (?1, ?2, ?3)", table(list)))?
                .execute(rusqlite::params![item.id, item.version, data])
                .map(|_| ())
        })
    }

    fn replace(&self, list: &str, item: &Item, expected_version: i64) -> Result<bool, StoreError> {
        let data = encode(&Value::Object(item.data.clone())).to_string();
        self.write(list, |c| {
            c.prepare_cached(&format!(
                "UPDATE \"{}\" SET version = ?2, data = ?3 WHERE id = ?1 AND version = ?4",
                table(list)
            ))?
            .execute(rusqlite::params![item.id, item.version, data, expected_version])
            .map(|n| n == 1)
        })
    }

    fn delete(&self, list: &str, id: &str) -> Result<bool, StoreError> {
        self.write(list, |c| {
            c.prepare_cached(&format!("DELETE FROM \"{}\" WHERE id = ?1", table(list)))?.execute([id]).map(|n| n == 1)
        })
    }

    fn find_stored(&self, list: &str, query: &Query) -> Result<Vec<Stored>, StoreError> {
        let mut params = Vec::new();
        let sql = select(list, query, &mut params);
        self.with(|c| c.prepare_cached(&sql)?.query_map(params_from_iter(params), stored)?.collect())
    }

    fn count(&self, list: &str, conds: &[Cond]) -> Result<u64, StoreError> {
        let mut params = Vec::new();
        let sql = count(list, conds, &mut params);
        let key = format!("{sql}\n{params:?}");
        self.pooled(|p| {
            self.notice_commits(p)?;
            let generation = match self.counts.lookup(&key) {
                Lookup::Known(n) => return Ok(n),
                Lookup::Unknown(generation) => generation,
            };
            let n = p.conn.prepare_cached(&sql)?.query_row(params_from_iter(params), |r| r.get::<_, i64>(0))? as u64;
            self.counts.keep(key, generation, n);
            Ok(n)
        })?
        .map_err(|e| StoreError::Other(e.to_string()))
    }

    fn generation(&self) -> Option<u64> {
        let now = (self.opened.elapsed().as_nanos() as u64).max(1);
        let looked_at = self.looked_at.load(Ordering::Relaxed);
        if looked_at != 0 && now.saturating_sub(looked_at) < LOOK_FOR_COMMITS_EVERY.as_nanos() as u64 {
            return Some(self.counts.generation());
        }
        let generation = self.pooled(|p| self.notice_commits(p).map(|()| self.counts.generation())).ok()?.ok()?;
        self.looked_at.store(now, Ordering::Relaxed);
        Some(generation)
    }

    fn claim_update(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO ks_updates (name, applied_at) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                [name],
            )
            .map(|n| n == 1)
        })
    }

    fn release_update(&self, name: &str) -> Result<(), StoreError> {
        self.with(|c| c.execute("DELETE FROM ks_updates WHERE name = ?1", [name]).map(|_| ()))
    }
}

/// `ks_lower(text)`: lower case for every script, where SQLite's own `lower()` knows only
/// ASCII (`contains` would tell "É" from "é", while PostgreSQL's does not). Other values pass
/// through unchanged.
fn add_unicode_lower(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::{Value, ValueRef};
    conn.create_scalar_function(
        "ks_lower",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).to_lowercase()),
                other => Value::try_from(other).unwrap_or(Value::Null),
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::{model, query};

    const POST: &str = r#"
sort = "-published_at"
[fields]
title        = { type = "text" }
state        = { type = "select", options = ["draft", "published"], index = true }
published_at = { type = "datetime" }
"#;

    fn post() -> model::Model {
        model::parse("Post", "models/Post.toml", POST).unwrap()
    }

    /// How SQLite runs `sql` (its EXPLAIN QUERY PLAN lines, joined).
    fn plan(store: &SqliteStore, sql: &str, params: Vec<Sql>) -> String {
        store
            .with(|c| {
                c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?
                    .query_map(params_from_iter(params), |r| r.get::<_, String>(3))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap()
            .join("; ")
    }

    fn published_page(model: &model::Model) -> Query {
        let filter = serde_json::json!({ "state": "published" });
        let conds = query::parse_filter(model, filter.as_object().unwrap()).unwrap();
        Query { conds, sort: query::default_sort(model), skip: 20, limit: Some(10) }
    }

    #[test]
    fn a_filtered_sorted_page_reads_one_index_range_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("data.sqlite3")).unwrap();
        let model = post();
        store.prepare("Post", &query::indexes(&model)).unwrap();

        let mut params = Vec::new();
        let sql = select("Post", &published_page(&model), &mut params);
        let page = plan(&store, &sql, params);
        assert!(page.contains("USING INDEX ks_Post__o__state_"), "{page}");
        assert!(!page.contains("TEMP B-TREE"), "no sort of every match: {page}");

        let unfiltered = Query { conds: Vec::new(), ..published_page(&model) };
        let mut params = Vec::new();
        let sql = select("Post", &unfiltered, &mut params);
        let all = plan(&store, &sql, params);
        assert!(all.contains("USING INDEX ks_Post__o__published_at_"), "{all}");
        assert!(!all.contains("TEMP B-TREE"), "{all}");

        let mut params = Vec::new();
        let sql = count("Post", &published_page(&model).conds, &mut params);
        let counted = plan(&store, &sql, params);
        assert!(counted.contains("USING") && counted.contains("INDEX ks_Post__"), "{counted}");
    }

    #[test]
    fn a_database_from_before_the_ordered_indexes_gets_them_and_a_new_sort_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.sqlite3");
        {
            let old = Connection::open(&file).unwrap();
            old.execute_batch(
                "CREATE TABLE \"ks_Post\" (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
                 CREATE INDEX \"ks_Post__i__state\" ON \"ks_Post\" (json_extract(data, '$.state'));
                 INSERT INTO \"ks_Post\" VALUES ('a', 1, '{\"state\":\"published\",\"published_at\":\"2024-01-01T00:00:00.000Z\"}');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&file).unwrap();
        let names = |store: &SqliteStore| -> Vec<String> {
            store
                .with(|c| {
                    c.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ks%' ORDER BY name")?
                        .query_map([], |r| r.get(0))?
                        .collect()
                })
                .unwrap()
        };
        store.prepare("Post", &query::indexes(&post())).unwrap();
        let made = names(&store);
        assert!(made.iter().any(|n| n.starts_with("ks_Post__o__state_")), "{made:?}");
        assert!(made.iter().any(|n| n.starts_with("ks_Post__o__published_at_")), "{made:?}");
        assert!(made.contains(&"ks_Post__i__state".to_string()), "{made:?}");
        let found = store.find("Post", &published_page(&post())).unwrap();
        assert!(found.is_empty(), "page 3 of one item is empty");

        let resorted = model::parse("Post", "models/Post.toml", &POST.replace("-published_at", "title")).unwrap();
        store.prepare("Post", &query::indexes(&resorted)).unwrap();
        let remade = names(&store);
        assert!(remade.iter().all(|n| !made.contains(n) || !n.contains("__o__")), "old orders dropped: {remade:?}");
        assert!(remade.iter().any(|n| n.starts_with("ks_Post__o__title_")), "{remade:?}");
    }

    #[test]
    fn a_remembered_count_follows_writes_of_this_store_and_of_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.sqlite3");
        let store = SqliteStore::open(&file).unwrap();
        let model = post();
        store.prepare("Post", &query::indexes(&model)).unwrap();
        let conds = published_page(&model).conds;
        let published = |id: &str| {
            let mut data = serde_json::Map::new();
            data.insert("state".into(), "published".into());
            Item { id: id.into(), version: 1, data }
        };
        assert_eq!(store.count("Post", &conds).unwrap(), 0);
        store.insert("Post", &published("a")).unwrap();
        assert_eq!(store.count("Post", &conds).unwrap(), 1, "after this store's write");
        assert_eq!(store.count("Post", &conds).unwrap(), 1);

        let other = Connection::open(&file).unwrap();
        other.execute("INSERT INTO \"ks_Post\" VALUES ('b', 1, '{\"state\":\"published\"}')", []).unwrap();
        // Every pooled connection must see it, whichever answers.
        for _ in 0..POOL + 2 {
            assert_eq!(store.count("Post", &conds).unwrap(), 2, "after another connection's write");
        }
        other.execute("DELETE FROM \"ks_Post\"", []).unwrap();
        assert_eq!(store.count("Post", &conds).unwrap(), 0);
    }
}
