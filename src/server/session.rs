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

use crate::project::settings::{SessionSettings, Store};

/// Session key holding flash messages until they are rendered.
pub const FLASH_KEY: &str = "_flash";
/// Session key holding the CSRF token forms must send back.
pub const CSRF_KEY: &str = "_csrf";
/// Keys starting with `_` belong to keystone-rs (flash, CSRF token): scripts and templates
/// never see them, and they survive whatever a script does to `session`.
pub fn is_internal(key: &str) -> bool {
    key.starts_with('_')
}

/// The part of a session scripts and templates see.
pub fn public_part(data: &Map<String, Value>) -> Map<String, Value> {
    data.iter().filter(|(k, _)| !is_internal(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// `public` as a script left it, with the internal keys of `original` kept.
pub fn merge_public(original: &Map<String, Value>, public: Map<String, Value>) -> Map<String, Value> {
    let mut merged: Map<String, Value> =
        original.iter().filter(|(k, _)| is_internal(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    merged.extend(public.into_iter().filter(|(k, _)| !is_internal(k)));
    merged
}

/// What a socket finds when it loads the session of its handshake cookie.
pub enum Follow {
    /// The session, as it is now.
    Current(VisitorSession),
    /// The session was destroyed, regenerated away or expired.
    Ended,
}

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
    pub async fn open(
        settings: &SessionSettings,
        app: &str,
        root: &Path,
        secret: &[u8],
        secure: bool,
    ) -> anyhow::Result<Self> {
        let store: Arc<dyn SessionStore> = match &*settings.store {
            Store::Memory => Arc::new(tower_sessions::MemoryStore::default()),
            Store::Sqlite => {
                let dir = root.join(".keystone");
                crate::private::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let file = dir.join("sessions.sqlite3");
                crate::private::touch_file(&file).with_context(|| format!("creating {}", file.display()))?;
                let conn = tower_sessions_rusqlite_store::tokio_rusqlite::Connection::open(&file)
                    .await
                    .with_context(|| format!("opening session store {}", file.display()))?;
                let store = tower_sessions_rusqlite_store::RusqliteStore::new(conn);
                store.migrate().await.with_context(|| format!("preparing session store {}", file.display()))?;
                let sweeper = store.clone();
                tokio::spawn(sweeper.continuously_delete_expired(Duration::from_secs(60)));
                // One node writes this file, so its sessions can be read from memory.
                Arc::new(super::cached_store::CachedStore::new(Arc::new(store)))
            }
            Store::Redis(url) => Arc::new(super::redis::RedisStore::connect(url.as_str(), app).await?),
        };
        Ok(Self::with_store(store, settings, secret, secure))
    }

    pub fn with_store(store: Arc<dyn SessionStore>, settings: &SessionSettings, secret: &[u8], secure: bool) -> Self {
        SessionManager {
            store,
            key: derive_key(secret),
            cookie_name: settings.cookie.value.clone(),
            expiry: *settings.expiry,
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
        Ok(self.load_record(id).await?.map(|r| self.visitor(r)).unwrap_or_default())
    }

    async fn load_record(&self, id: Id) -> Result<Option<Record>, StoreError> {
        Ok(self.store.load(&id).await?.filter(|r| r.expiry_date > OffsetDateTime::now_utc()))
    }

    fn visitor(&self, record: Record) -> VisitorSession {
        let remaining = record.expiry_date - OffsetDateTime::now_utc();
        VisitorSession {
            id: Some(record.id),
            data: record.data.into_iter().collect(),
            needs_refresh: remaining < self.expiry / 2,
        }
    }

    /// Loads the session of a socket's handshake cookie, as it is now.
    ///
    /// # Errors
    /// The store failed.
    pub async fn follow(&self, id: Id) -> Result<Follow, StoreError> {
        Ok(match self.load_record(id).await? {
            Some(record) => Follow::Current(self.visitor(record)),
            None => Follow::Ended,
        })
    }

    /// Gives the session a new id (at sign-in, against fixation): `data` moves to the new id
    /// and the old id is deleted. Returns the new id.
    ///
    /// # Errors
    /// The store failed.
    pub async fn regenerate(&self, old: Option<Id>, data: Map<String, Value>) -> Result<Id, StoreError> {
        let (new_id, _) = self.save(&VisitorSession::default(), data).await?;
        if let Some(old) = old {
            self.store.delete(&old).await?;
        }
        Ok(new_id)
    }

    /// Deletes the session (at logout).
    ///
    /// # Errors
    /// The store failed.
    pub async fn delete(&self, id: Id) -> Result<(), StoreError> {
        self.store.delete(&id).await
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

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie_header(&self) -> String {
        let cookie = Cookie::build((self.cookie_name.clone(), ""))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(time::Duration::ZERO)
            .build();
        cookie.encoded().to_string()
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

/// 64 random bytes, hex-encoded: app secrets and CSRF tokens.
pub fn new_secret() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A 64-byte signing key from a secret of any length (SHA-512 of it).
fn derive_key(secret: &[u8]) -> Key {
    use sha2::Digest as _;
    Key::from(&sha2::Sha512::digest(secret))
}
