//! Visitor sessions shared by HTTP requests and sockets: a signed `keystone.sid` cookie that
//! names a record in a tower-sessions store (sqlite, memory, or any `SessionStore`).
//!
//! HTTP and sockets go through these same functions, so a socket's session *is* the HTTP
//! session of its handshake cookie, loaded fresh for every event.
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cookie::{Cookie, CookieJar, Key, SameSite};
use http::HeaderMap;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::Error as StoreError;
use tower_sessions::{ExpiredDeletion, SessionStore};

use crate::project::settings::SessionSettings;

/// Session key holding flash messages until they are rendered.
pub const FLASH_KEY: &str = "_flash";

/// A visitor's session as loaded for one request or one socket event.
#[derive(Debug, Clone, Default)]
pub struct VisitorSession {
    /// `None` for a visitor without a (valid) session yet.
    pub id: Option<Id>,
    pub data: Map<String, Value>,
    /// The record is past half its lifetime: save it again to keep it alive.
    pub needs_refresh: bool,
}

pub struct SessionManager {
    store: Arc<dyn SessionStore>,
    key: Key,
    cookie_name: String,
    expiry: Duration,
    secure: bool,
}

impl SessionManager {
    /// Opens the store named by `[session] store`.
    ///
    /// # Errors
    /// The store cannot be opened (e.g. the sqlite file is not writable).
    pub async fn open(settings: &SessionSettings, root: &Path, secret: &[u8], secure: bool) -> anyhow::Result<Self> {
        let store: Arc<dyn SessionStore> = match settings.store.as_str() {
            "memory" => Arc::new(tower_sessions::MemoryStore::default()),
            "sqlite" => {
                let dir = root.join(".keystone");
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let file = dir.join("sessions.sqlite3");
                let conn = tower_sessions_rusqlite_store::tokio_rusqlite::Connection::open(&file)
                    .await
                    .with_context(|| format!("opening session store {}", file.display()))?;
                let store = tower_sessions_rusqlite_store::RusqliteStore::new(conn);
                store.migrate().await.with_context(|| format!("preparing session store {}", file.display()))?;
                let sweeper = store.clone();
                tokio::spawn(sweeper.continuously_delete_expired(Duration::from_secs(60)));
                Arc::new(store)
            }
            other => {
                anyhow::bail!("session store `{other}` is not supported by this build; use \"sqlite\" or \"memory\"")
            }
        };
        Ok(Self::with_store(store, settings, secret, secure))
    }

    pub fn with_store(store: Arc<dyn SessionStore>, settings: &SessionSettings, secret: &[u8], secure: bool) -> Self {
        SessionManager {
            store,
            key: derive_key(secret),
            cookie_name: settings.cookie.clone(),
            expiry: settings.expiry,
            secure,
        }
    }

    /// The session id named by the request's signed cookie; `None` if absent or forged.
    pub fn id_from_headers(&self, headers: &HeaderMap) -> Option<Id> {
        let mut jar = CookieJar::new();
        for header in headers.get_all(http::header::COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for cookie in Cookie::split_parse_encoded(text.to_string()).flatten() {
                if cookie.name() == self.cookie_name {
                    jar.add_original(cookie.into_owned());
                }
            }
        }
        let verified = jar.signed(&self.key).get(&self.cookie_name)?;
        Id::from_str(verified.value()).ok()
    }

    /// Loads the session `id` names. An unknown or expired id gives a new, empty session.
    ///
    /// # Errors
    /// The store failed (e.g. unreachable).
    pub async fn load(&self, id: Option<Id>) -> Result<VisitorSession, StoreError> {
        let Some(id) = id else {
            return Ok(VisitorSession::default());
        };
        match self.store.load(&id).await? {
            Some(record) if record.expiry_date > OffsetDateTime::now_utc() => {
                let remaining = record.expiry_date - OffsetDateTime::now_utc();
                Ok(VisitorSession {
                    id: Some(id),
                    data: record.data.into_iter().collect(),
                    needs_refresh: remaining < self.expiry / 2,
                })
            }
            _ => Ok(VisitorSession::default()),
        }
    }

    /// Saves `data` under the session's id, creating the record (and id) if it is new.
    /// Returns the id and whether the visitor needs a (new) cookie.
    ///
    /// # Errors
    /// The store failed.
    pub async fn save(&self, session: &VisitorSession, data: Map<String, Value>) -> Result<(Id, bool), StoreError> {
        let mut record = Record {
            id: session.id.unwrap_or_default(),
            data: data.into_iter().collect(),
            expiry_date: OffsetDateTime::now_utc() + self.expiry,
        };
        if session.id.is_some() {
            self.store.save(&record).await?;
            Ok((record.id, session.needs_refresh))
        } else {
            self.store.create(&mut record).await?;
            Ok((record.id, true))
        }
    }

    /// The `Set-Cookie` value carrying `id`, signed, HttpOnly and SameSite=Lax.
    pub fn cookie_header(&self, id: Id) -> String {
        let mut jar = CookieJar::new();
        let max_age = time::Duration::seconds(i64::try_from(self.expiry.as_secs()).unwrap_or(i64::MAX));
        let cookie = Cookie::build((self.cookie_name.clone(), id.to_string()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(max_age)
            .build();
        jar.signed_mut(&self.key).add(cookie);
        jar.get(&self.cookie_name).map(|c| c.encoded().to_string()).unwrap_or_default()
    }
}

/// A 64-byte signing key from a secret of any length (SHA-512 of it).
fn derive_key(secret: &[u8]) -> Key {
    use sha2::Digest as _;
    Key::from(&sha2::Sha512::digest(secret))
}
