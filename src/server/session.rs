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
use cookie::{Cookie, Key, SameSite};
use http::HeaderMap;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::Error as StoreError;

use super::signed_cookie::{self, Signer};
use super::store::{self, LocalStore};
use crate::project::settings::{SessionSettings, Store};

/// Session key holding flash messages until they are rendered.
pub const FLASH_KEY: &str = "_flash";
/// Session key holding the CSRF token forms must send back.
pub const CSRF_KEY: &str = "_csrf";
/// How deep a session value may nest: every store reads back at least this much (serde_json
/// stops at 128 levels), so deeper values are refused when they are written, not when the
/// visitor's next request fails to load them.
pub const MAX_DEPTH: usize = crate::script::MAX_VALUE_DEPTH;

/// Why a session could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("session value `{key}` is nested deeper than {MAX_DEPTH} levels")]
    TooDeep { key: String },
}

/// Refuses data with a value nested deeper than [`MAX_DEPTH`].
fn check_depth(data: &Map<String, Value>) -> Result<(), SessionError> {
    fn too_deep(value: &Value, depth: usize) -> bool {
        depth > MAX_DEPTH
            || match value {
                Value::Array(items) => items.iter().any(|v| too_deep(v, depth + 1)),
                Value::Object(map) => map.values().any(|v| too_deep(v, depth + 1)),
                _ => false,
            }
    }
    match data.iter().find(|(_, v)| too_deep(v, 1)) {
        Some((key, _)) => Err(SessionError::TooDeep { key: key.clone() }),
        None => Ok(()),
    }
}

/// Keys starting with `_` belong to keystone-rs (flash, CSRF token): scripts and templates
/// never see them, and they survive whatever a script does to `session`.
pub fn is_internal(key: &str) -> bool {
    key.starts_with('_')
}

/// The part of a session scripts and templates see.
pub fn public_part(data: &Map<String, Value>) -> Map<String, Value> {
    data.iter().filter(|(k, _)| !is_internal(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// [`public_part`] made straight into a script map (no JSON copy between).
pub fn public_rhai(data: &Map<String, Value>) -> rhai::Map {
    data.iter()
        .filter(|(k, _)| !is_internal(k))
        .map(|(k, v)| (k.as_str().into(), crate::script::to_dynamic(v)))
        .collect()
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
    store: Arc<dyn store::Store>,
    signer: Signer,
    cookie_name: String,
    /// `Set-Cookie` for a session: `name=` + the signed id + these attributes (made once).
    cookie_start: String,
    cookie_attributes: String,
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
        let store: Arc<dyn store::Store> = match &*settings.store {
            Store::Memory => LocalStore::memory(),
            Store::Sqlite => {
                let dir = root.join(".keystone");
                crate::private::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let file = dir.join("sessions.sqlite3");
                crate::private::touch_file(&file).with_context(|| format!("creating {}", file.display()))?;
                LocalStore::sqlite(&file).await.with_context(|| format!("opening session store {}", file.display()))?
            }
            Store::Redis(url) => Arc::new(super::redis::RedisStore::connect(url.as_str(), app).await?),
        };
        Ok(Self::with_store(store, settings, secret, secure))
    }

    pub fn with_store(store: Arc<dyn store::Store>, settings: &SessionSettings, secret: &[u8], secure: bool) -> Self {
        let cookie_name = settings.cookie.value.clone();
        let expiry = *settings.expiry;
        // The cookie crate writes the attributes; only the signed id changes from one to the next.
        let max_age = time::Duration::seconds(i64::try_from(expiry.as_secs()).unwrap_or(i64::MAX));
        let template = Cookie::build((cookie_name.clone(), ""))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .max_age(max_age)
            .build()
            .encoded()
            .to_string();
        let (cookie_start, cookie_attributes) = match template.find(';') {
            Some(at) => (template[..at].to_string(), template[at..].to_string()),
            None => (template, String::new()),
        };
        SessionManager {
            store,
            signer: Signer::new(derive_key(secret).signing()),
            cookie_name,
            cookie_start,
            cookie_attributes,
            expiry,
            secure,
        }
    }

    /// The session id named by the request's signed cookie; `None` if absent or forged.
    pub fn id_from_headers(&self, headers: &HeaderMap) -> Option<Id> {
        let signed = signed_cookie::find(headers, &self.cookie_name)?;
        Id::from_str(self.signer.verify(&signed)?).ok()
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

    /// The live record of `id`. A record that cannot be decoded counts as no record (an empty
    /// session for the visitor), with a log line, rather than failing every later request.
    async fn load_record(&self, id: Id) -> Result<Option<Record>, StoreError> {
        match self.store.load(&id).await {
            Ok(record) => Ok(record.filter(|r| r.expiry_date > OffsetDateTime::now_utc())),
            Err(StoreError::Decode(err)) => {
                crate::log::error(&format!("session {id}: unreadable record treated as an empty session ({err})"));
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// Writes every session change still pending to disk (at shutdown).
    ///
    /// # Errors
    /// The store failed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.store.flush().await
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
    /// and the old id is deleted, so a write of the old id loaded before cannot bring it back.
    /// Returns the new id.
    ///
    /// # Errors
    /// The store failed, or `data` nests too deep.
    pub async fn regenerate(&self, old: Option<Id>, data: Map<String, Value>) -> Result<Id, SessionError> {
        let new_id = self.create(data).await?;
        if let Some(old) = old {
            self.store.delete(&old).await?;
        }
        Ok(new_id)
    }

    /// Deletes the session (at logout). A write of it loaded before does not bring it back.
    ///
    /// # Errors
    /// The store failed.
    pub async fn delete(&self, id: Id) -> Result<(), StoreError> {
        self.store.delete(&id).await
    }

    /// Saves `data` under the session's id, creating the record (and id) if it is new.
    /// Returns the id and whether the visitor needs a (new) cookie, or `None` when the session
    /// ended since it was loaded (destroyed or regenerated): then nothing is written.
    ///
    /// # Errors
    /// The store failed, or `data` nests too deep.
    pub async fn save(
        &self,
        session: &VisitorSession,
        data: Map<String, Value>,
    ) -> Result<Option<(Id, bool)>, SessionError> {
        let Some(id) = session.id else { return Ok(Some((self.create(data).await?, true))) };
        check_depth(&data)?;
        let record =
            Record { id, data: data.into_iter().collect(), expiry_date: OffsetDateTime::now_utc() + self.expiry };
        Ok(self.store.update(&record).await?.then_some((id, session.needs_refresh)))
    }

    /// Stores `data` as a new session; returns its id.
    async fn create(&self, data: Map<String, Value>) -> Result<Id, SessionError> {
        check_depth(&data)?;
        let mut record = Record {
            id: Id::default(),
            data: data.into_iter().collect(),
            expiry_date: OffsetDateTime::now_utc() + self.expiry,
        };
        self.store.create(&mut record).await?;
        Ok(record.id)
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
        let value = signed_cookie::encode(&self.signer.sign(&id.to_string()));
        [self.cookie_start.as_str(), &value, &self.cookie_attributes].concat()
    }
}

/// 64 random bytes, hex-encoded: app secrets.
pub fn new_secret() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// 32 random bytes, hex-encoded (64 characters): a session's CSRF token.
pub fn new_csrf_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A 64-byte signing key from a secret of any length (SHA-512 of it).
fn derive_key(secret: &[u8]) -> Key {
    use sha2::Digest as _;
    Key::from(&sha2::Sha512::digest(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_the_one_the_cookie_crate_would_sign() {
        let settings = SessionSettings::default();
        for secure in [false, true] {
            let sessions = SessionManager::with_store(Arc::new(LocalStore::default()), &settings, b"secret", secure);
            let id = Id::default();
            let max_age = time::Duration::seconds(i64::try_from(settings.expiry.as_secs()).unwrap());
            let cookie = Cookie::build((settings.cookie.value.clone(), id.to_string()))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(secure)
                .max_age(max_age)
                .build();
            let mut jar = cookie::CookieJar::new();
            jar.signed_mut(&derive_key(b"secret")).add(cookie);
            let expected = jar.get(&settings.cookie.value).unwrap().encoded().to_string();
            assert_eq!(sessions.cookie_header(id), expected);
            let mut headers = HeaderMap::new();
            let pair = expected.split(';').next().unwrap();
            headers.insert(http::header::COOKIE, format!("other=1; {pair}").parse().unwrap());
            assert_eq!(sessions.id_from_headers(&headers), Some(id));
        }
    }

    #[test]
    fn csrf_tokens_are_64_hex_characters_and_differ() {
        let (a, b) = (new_csrf_token(), new_csrf_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
