//! A write-through memory cache in front of a single-node session store (sqlite): reads of
//! active sessions never leave the process, every write still reaches the store.
//!
//! Only for stores that this process alone writes; Redis, shared by several nodes, is not
//! cached.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::Result as StoreResult;

/// Sessions kept in memory at most; past it the cache starts afresh (the store has them all).
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone)]
pub struct CachedStore {
    inner: Arc<dyn SessionStore>,
    cache: Arc<Mutex<HashMap<Id, Record>>>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        CachedStore { inner, cache: Arc::default() }
    }

    fn remember(&self, record: &Record) {
        let mut cache = self.cache.lock().unwrap();
        if cache.len() >= CAPACITY && !cache.contains_key(&record.id) {
            cache.clear();
        }
        cache.insert(record.id, record.clone());
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn create(&self, record: &mut Record) -> StoreResult<()> {
        self.inner.create(record).await?;
        self.remember(record);
        Ok(())
    }

    async fn save(&self, record: &Record) -> StoreResult<()> {
        self.inner.save(record).await?;
        self.remember(record);
        Ok(())
    }

    async fn load(&self, id: &Id) -> StoreResult<Option<Record>> {
        if let Some(record) = self.cache.lock().unwrap().get(id) {
            return Ok(Some(record.clone()));
        }
        let record = self.inner.load(id).await?;
        if let Some(record) = &record {
            self.remember(record);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> StoreResult<()> {
        self.inner.delete(id).await?;
        self.cache.lock().unwrap().remove(id);
        Ok(())
    }
}
