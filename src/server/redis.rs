//! Redis for scale-out: the session store and the socket broadcasts between nodes
//! (`crate::realtime::cluster`), both on one Redis client library (fred).
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use fred::prelude::{ClientLike, Config, Expiration, KeysInterface, ReconnectPolicy, SetOptions};
use fred::types::RespVersion;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error as StoreError, Result as StoreResult};

use super::store::Store;

/// A command that takes longer than this fails (a request gets 503) instead of hanging.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// A client that reconnects by itself and fails commands fast while Redis is away.
fn builder(url: &str) -> anyhow::Result<fred::prelude::Builder> {
    let mut config = Config::from_url(url).with_context(|| format!("invalid Redis URL `{url}`"))?;
    // RESP3, so the subscriber's messages come as pushes; fred does not read `?protocol=`.
    config.version = RespVersion::RESP3;
    let mut builder = fred::prelude::Builder::from_config(config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
    Ok(builder)
}

/// Sessions in Redis: one key per session (`keystone:APP:session:ID`), expiring with it.
#[derive(Clone, Debug)]
pub struct RedisStore {
    client: fred::clients::Client,
    prefix: String,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`) for the sessions of app `app`.
    ///
    /// # Errors
    /// An invalid URL, or Redis cannot be reached at start.
    pub async fn connect(url: &str, app: &str) -> anyhow::Result<Self> {
        let client = builder(url)?.build().context("building the Redis client")?;
        client.init().await.with_context(|| format!("connecting to Redis at {url}"))?;
        Ok(RedisStore { client, prefix: format!("keystone:{app}:session:") })
    }

    fn key(&self, id: &Id) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Writes `record` if its key is absent (`NX`) or present (`XX`), in one command.
    async fn write(&self, record: &Record, condition: SetOptions) -> StoreResult<bool> {
        let value = serde_json::to_string(record).map_err(|e| StoreError::Encode(e.to_string()))?;
        let expiry = Expiration::EXAT(record.expiry_date.unix_timestamp());
        let written: Option<String> = self
            .client
            .set(self.key(&record.id), value, Some(expiry), Some(condition), false)
            .await
            .map_err(backend)?;
        Ok(written.is_some())
    }
}

fn backend(err: fred::error::Error) -> StoreError {
    StoreError::Backend(format!("redis: {err}"))
}

#[async_trait]
impl Store for RedisStore {
    async fn create(&self, record: &mut Record) -> StoreResult<()> {
        // A new id that is already taken (astronomically unlikely) gets another one.
        while !self.write(record, SetOptions::NX).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn update(&self, record: &Record) -> StoreResult<bool> {
        // XX: a key deleted (logout, sign-in) or expired since the load stays gone.
        self.write(record, SetOptions::XX).await
    }

    async fn load(&self, id: &Id) -> StoreResult<Option<Record>> {
        let value: Option<String> = self.client.get(self.key(id)).await.map_err(backend)?;
        value.map(|v| serde_json::from_str(&v).map_err(|e| StoreError::Decode(e.to_string()))).transpose()
    }

    async fn delete(&self, id: &Id) -> StoreResult<()> {
        let _: i64 = self.client.del(self.key(id)).await.map_err(backend)?;
        Ok(())
    }
}

/// This node's link to the others of app `app`: a publisher and a RESP3 subscriber on the
/// channel `keystone:APP:sockets`.
pub async fn cluster(url: &str, app: &str) -> anyhow::Result<crate::realtime::cluster::Subscribed> {
    let publisher = builder(url)?.build().context("building the Redis client")?;
    publisher.init().await.with_context(|| format!("connecting to Redis at {url}"))?;
    let subscriber = builder(url)?.build_subscriber_client().context("building the Redis subscriber")?;
    subscriber.init().await.with_context(|| format!("connecting to Redis at {url}"))?;
    crate::realtime::cluster::Subscribed::connect(publisher, subscriber, format!("keystone:{app}:sockets"))
        .await
        .with_context(|| format!("subscribing to the socket broadcasts at {url}"))
}
