//! The app's lists joined to their store: rebuilt whenever the project is swapped (a model
//! edit applies at once), entered around every script run so `list("…")` finds it.
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use crate::diagnostic::Diagnostic;
use crate::lists::{Backend, Db, Store, updates};
use crate::project::Project;
use crate::project::settings::Database;

#[derive(Default)]
pub struct Data {
    /// Opened when the first list appears, kept across reloads while the backend is the same.
    store: Mutex<Option<(Backend, Arc<dyn Store>)>>,
    db: ArcSwapOption<Db>,
    /// Told of every write, through whichever `Db` is current (set once, by the Admin UI).
    pub changes: std::sync::OnceLock<crate::lists::ChangeSink>,
}

impl Data {
    /// The lists scripts see now (`None` while the app has no models).
    pub fn current(&self) -> Option<Arc<Db>> {
        self.db.load_full()
    }

    /// Joins the project's models to the store and applies updates not applied yet.
    /// Blocking (it may connect to PostgreSQL). Returns problems found on the way.
    pub fn publish(&self, project: &Project) -> Vec<Diagnostic> {
        let lists = &project.lists;
        if lists.models.is_empty() && self.db.load().is_none() {
            // No lists, no database file.
            return Vec::new();
        }
        let backend = match &*project.settings.database.url {
            Database::Sqlite => Backend::Sqlite,
            Database::Postgres(url) => Backend::Postgres(url.to_string()),
        };
        let store = {
            let mut current = self.store.lock().unwrap_or_else(|e| e.into_inner());
            match current.as_ref() {
                Some((b, store)) if *b == backend => store.clone(),
                _ => {
                    let store = crate::lists::open_store_lazily(&project.root, &backend);
                    *current = Some((backend, store.clone()));
                    store
                }
            }
        };
        let (db, mut found) = Db::new(store, lists.models.clone(), lists.hooks.clone());
        if let Some(sink) = self.changes.get() {
            db.on_change(sink.clone());
        }
        let applied = updates::apply(&db, crate::script::engine(), &lists.updates);
        for name in &applied.applied {
            println!("applied update {}/{name}", updates::FOLDER);
        }
        found.extend(applied.diagnostics);
        self.db.store(Some(db));
        found
    }
}
