//! Where session records live: one small interface over the memory, sqlite and Redis stores.
//!
//! Two promises every store keeps: an `update` never brings back a record that was deleted
//! (logout, or the old id at sign-in) after the writer loaded it, and the
//! sqlite store never touches the disk on the request path: records live in memory and reach
//! the file in batches, [`FLUSH_DELAY`] after a change, and all of them at [`Store::flush`].
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error as StoreError, Result as StoreResult};
use tower_sessions_rusqlite_store::tokio_rusqlite::{self, params, rusqlite::OptionalExtension as _};

/// How long after a change the sqlite store writes it to disk (in one transaction with every
/// other change of that moment).
pub const FLUSH_DELAY: Duration = Duration::from_millis(500);

/// How often expired sessions are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Sessions the sqlite store keeps in memory beyond those not yet on disk; past it, records
/// already on disk are dropped from memory (and read back when their visitor returns).
const CAPACITY: usize = 100_000;

/// The sqlite table (tower-sessions-rusqlite-store's layout, so older session files still load).
const TABLE: &str = "tower_sessions";

#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// Stores a new record, giving it another id if its id is taken.
    async fn create(&self, record: &mut Record) -> StoreResult<()>;

    /// Replaces the record of a live session. Writes nothing and returns `false` when the id
    /// has no record (deleted or expired).
    async fn update(&self, record: &Record) -> StoreResult<bool>;

    /// The record of `id`, if it exists and has not expired.
    async fn load(&self, id: &Id) -> StoreResult<Option<Record>>;

    async fn delete(&self, id: &Id) -> StoreResult<()>;

    /// Writes every pending change to disk (at shutdown).
    async fn flush(&self) -> StoreResult<()> {
        Ok(())
    }
}

fn is_live(record: &Record) -> bool {
    record.expiry_date > OffsetDateTime::now_utc()
}

/// Sessions in this process's memory, optionally written behind to a sqlite file.
#[derive(Debug, Default)]
pub struct LocalStore {
    state: Mutex<State>,
    disk: Option<Disk>,
    /// Wakes the flusher when something changed.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// `None`: deleted here, not yet on disk (so the disk's copy must not be read back).
    records: HashMap<Id, Option<Record>>,
    /// Ids changed since the last flush.
    dirty: HashSet<Id>,
}

#[derive(Debug)]
struct Disk {
    conn: tokio_rusqlite::Connection,
}

impl LocalStore {
    /// Sessions in memory only: nothing on disk, gone when the process ends.
    pub fn memory() -> Arc<Self> {
        let store = Arc::new(LocalStore::default());
        tokio::spawn(Arc::clone(&store).sweep_expired());
        store
    }

    /// Sessions in the sqlite file `file`, written behind (see the module docs).
    ///
    /// # Errors
    /// The file cannot be opened or prepared.
    pub async fn sqlite(file: &Path) -> Result<Arc<Self>, tokio_rusqlite::Error> {
        let conn = tokio_rusqlite::Connection::open(file).await?;
        conn.call(|conn| {
            // WAL: a batch costs one sync of the log, and readers never wait for it.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute(
                &format!(
                    "create table if not exists {TABLE} (id text primary key not null, data blob not null, expiry_date integer not null)"
                ),
                [],
            )
        })
        .await?;
        let store = Arc::new(LocalStore { disk: Some(Disk { conn }), ..LocalStore::default() });
        tokio::spawn(Arc::clone(&store).write_behind());
        tokio::spawn(Arc::clone(&store).sweep_expired());
        Ok(store)
    }

    /// Marks `id` changed; with a disk, the flusher writes it shortly.
    fn touch(&self, state: &mut State, id: Id) {
        if self.disk.is_some() {
            state.dirty.insert(id);
            self.changed.notify_one();
        }
    }

    async fn write_behind(self: Arc<Self>) {
        loop {
            self.changed.notified().await;
            tokio::time::sleep(FLUSH_DELAY).await;
            if let Err(err) = self.flush().await {
                crate::log::error(&format!("session store: writing sessions to disk failed ({err}); retrying"));
            }
        }
    }

    async fn sweep_expired(self: Arc<Self>) {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            self.state.lock().unwrap().records.retain(|_, r| r.as_ref().is_none_or(is_live));
            if let Some(disk) = &self.disk {
                let now = OffsetDateTime::now_utc().unix_timestamp();
                let swept = disk
                    .conn
                    .call(move |c| c.execute(&format!("delete from {TABLE} where expiry_date < ?1"), params![now]))
                    .await;
                if let Err(err) = swept {
                    crate::log::error(&format!("session store: deleting expired sessions failed: {err}"));
                }
            }
        }
    }

    /// The record of `id` as this process knows it: `Some(None)` when deleted here.
    fn known(&self, id: &Id) -> Option<Option<Record>> {
        self.state.lock().unwrap().records.get(id).cloned()
    }

    /// Reads `id` from disk into memory (unless memory learnt about it meanwhile).
    async fn read_disk(&self, id: &Id) -> StoreResult<Option<Record>> {
        let Some(disk) = &self.disk else { return Ok(None) };
        let key = id.to_string();
        let bytes: Option<Vec<u8>> = disk
            .conn
            .call(move |c| {
                c.prepare_cached(&format!("select data from {TABLE} where id = ?1"))?
                    .query_row(params![key], |row| row.get(0))
                    .optional()
            })
            .await
            .map_err(|e| StoreError::Backend(format!("sqlite: {e}")))?;
        let Some(bytes) = bytes else { return Ok(None) };
        let record: Record = rmp_serde::from_slice(&bytes).map_err(|e| StoreError::Decode(e.to_string()))?;
        let mut state = self.state.lock().unwrap();
        let entry = state.records.entry(*id).or_insert(Some(record));
        Ok(entry.clone())
    }
}

#[async_trait]
impl Store for LocalStore {
    /// A new visitor never waits for the disk: an id is 128 random bits from a CSPRNG, so one
    /// already on disk (and not in memory) is as likely as guessing a live session's id; only
    /// the ids this process knows are checked (as tower-sessions' memory store does).
    async fn create(&self, record: &mut Record) -> StoreResult<()> {
        let mut state = self.state.lock().unwrap();
        while state.records.contains_key(&record.id) {
            record.id = Id::default();
        }
        state.records.insert(record.id, Some(record.clone()));
        self.touch(&mut state, record.id);
        Ok(())
    }

    async fn update(&self, record: &Record) -> StoreResult<bool> {
        if self.known(&record.id).is_none() {
            // Not in memory: a session from before a restart, or one dropped from memory.
            self.read_disk(&record.id).await?;
        }
        let mut state = self.state.lock().unwrap();
        match state.records.get_mut(&record.id) {
            Some(Some(current)) if is_live(current) => {
                *current = record.clone();
                self.touch(&mut state, record.id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn load(&self, id: &Id) -> StoreResult<Option<Record>> {
        let record = match self.known(id) {
            Some(known) => known,
            None => self.read_disk(id).await?,
        };
        Ok(record.filter(is_live))
    }

    async fn delete(&self, id: &Id) -> StoreResult<()> {
        let mut state = self.state.lock().unwrap();
        if self.disk.is_some() {
            state.records.insert(*id, None);
        } else {
            state.records.remove(id);
        }
        self.touch(&mut state, *id);
        Ok(())
    }

    async fn flush(&self) -> StoreResult<()> {
        let Some(disk) = &self.disk else { return Ok(()) };
        let batch: Vec<(Id, Option<Record>)> = {
            let mut state = self.state.lock().unwrap();
            let ids: Vec<Id> = state.dirty.drain().collect();
            ids.into_iter().map(|id| (id, state.records.get(&id).cloned().flatten())).collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(batch.len());
        for (id, record) in &batch {
            let row = match record {
                Some(record) => Some((
                    rmp_serde::to_vec(record).map_err(|e| StoreError::Encode(e.to_string()))?,
                    record.expiry_date.unix_timestamp(),
                )),
                None => None,
            };
            rows.push((id.to_string(), row));
        }
        let written = disk
            .conn
            .call(move |c| {
                let tx = c.transaction()?;
                {
                    let mut upsert = tx.prepare_cached(&format!(
                        "insert into {TABLE} (id, data, expiry_date) values (?1, ?2, ?3) \
                         on conflict(id) do update set data = excluded.data, expiry_date = excluded.expiry_date"
                    ))?;
                    let mut delete = tx.prepare_cached(&format!("delete from {TABLE} where id = ?1"))?;
                    for (id, row) in &rows {
                        match row {
                            Some((data, expiry)) => upsert.execute(params![id, data, expiry])?,
                            None => delete.execute(params![id])?,
                        };
                    }
                }
                tx.commit()
            })
            .await;
        let mut state = self.state.lock().unwrap();
        if let Err(err) = written {
            // Try again with the next batch.
            state.dirty.extend(batch.iter().map(|(id, _)| *id));
            self.changed.notify_one();
            return Err(StoreError::Backend(format!("sqlite: {err}")));
        }
        for (id, _) in &batch {
            // A deletion is on disk now: the tombstone may go, unless the id changed again.
            if !state.dirty.contains(id) && matches!(state.records.get(id), Some(None)) {
                state.records.remove(id);
            }
        }
        if state.records.len() > CAPACITY {
            let State { records, dirty } = &mut *state;
            records.retain(|id, _| dirty.contains(id));
        }
        Ok(())
    }
}
