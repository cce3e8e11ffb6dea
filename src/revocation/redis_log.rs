//! The shared revocation log: a Redis Stream every replica reads from its
//! beginning at start and then follows, so an entry one replica appends
//! reaches every replica, and one started later, or restarted, or cut off
//! from Redis for a while, catches up from where it stopped.
//!
//! Reconnecting is ours, not the client crate's: what to resume from (the
//! last entry id applied) is this replica's state, which no automatic
//! reconnect knows. The follower owns one connection for its blocking reads;
//! writes go over another, created on demand and dropped after an error.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;
use redis::AsyncConnectionConfig;

use super::entry::Revocation;
use super::store::{EntryKey, Revocations};

/// Entries read per request.
const BATCH: usize = 1000;
/// How long one blocking read waits for new entries before asking again.
const BLOCK: Duration = Duration::from_secs(5);
/// Backoff after a failure: doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));
/// The stream field holding an entry's JSON.
const FIELD: &str = "entry";

/// Where the log is (`revocation.redis`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisSpec {
    /// `redis://` or `rediss://`, read from the config, an environment variable or a file at start.
    pub(crate) url: super::SecretValue,
    /// The stream's key.
    pub(crate) stream: String,
    /// How long readiness waits for the first full read of the stream.
    pub(crate) startup_timeout: Duration,
    /// Connect and reply timeout of one write.
    pub(crate) timeout: Duration,
    /// How often expired entries are trimmed off the stream.
    pub(crate) trim_interval: Duration,
}

/// Why the log could not take or give something.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis answered with an entry id that is not one: {0}")]
    BadId(String),
}

/// The log of one replica: a client, and the connection writes share.
pub(crate) struct RedisLog {
    client: redis::Client,
    stream: String,
    timeout: Duration,
    trim_interval: Duration,
    writer: Mutex<Option<MultiplexedConnection>>,
}

impl RedisLog {
    /// Checks the URL; connects only when first used.
    pub(crate) fn open(url: &str, spec: &RedisSpec) -> Result<Self, LogError> {
        let client = redis::Client::open(url)?;
        Ok(Self {
            client,
            stream: spec.stream.clone(),
            timeout: spec.timeout,
            trim_interval: spec.trim_interval,
            writer: Mutex::new(None),
        })
    }

    /// Appends `entry`; its id once Redis holds it (written to its
    /// append-only file first when it runs with `appendfsync always`).
    pub(crate) async fn append(&self, entry: &Revocation) -> Result<EntryKey, LogError> {
        let json = serde_json::to_string(entry).unwrap_or_default();
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.stream).arg("*").arg(FIELD).arg(json);
        let id: String = self.write(cmd).await?;
        EntryKey::parse_stream_id(&id).ok_or(LogError::BadId(id))
    }

    /// Marks `key` as seen for `ttl`; `false` if it already was (a replay),
    /// on every replica alike. The mark is a value of this call's own, so
    /// that a resent `SET` whose first attempt landed is not taken for a replay.
    pub(crate) async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, LogError> {
        let key = format!("{}:seen:{key}", self.stream);
        let mark = format!("{:016x}", rand::random::<u64>());
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(&mark).arg("NX").arg("EX").arg(ttl.as_secs().max(1));
        if self.write::<Option<String>>(set).await?.is_some() {
            return Ok(true);
        }
        let mut get = redis::cmd("GET");
        get.arg(&key);
        Ok(self.write::<Option<String>>(get).await?.as_deref() == Some(mark.as_str()))
    }

    /// Releases a key [`Self::claim_once`] took.
    pub(crate) async fn unclaim(&self, key: &str) -> Result<(), LogError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("{}:seen:{key}", self.stream));
        let _: u64 = self.write(cmd).await?;
        Ok(())
    }

    /// Removes every entry older than `oldest_kept`.
    async fn trim_before(&self, oldest_kept: EntryKey) -> Result<(), LogError> {
        let mut cmd = redis::cmd("XTRIM");
        cmd.arg(&self.stream).arg("MINID").arg(oldest_kept.to_string());
        let _: u64 = self.write(cmd).await?;
        Ok(())
    }

    /// Runs one command on the shared write connection, within the timeout.
    /// A connection that died since its last use (Redis restarted, say) is
    /// replaced and the command sent once more: an `XADD` that did land the
    /// first time is then stored twice, which revokes nothing more; the
    /// claim of [`Self::claim_once`] recognises its own earlier attempt.
    async fn write<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, LogError> {
        let cached = self.writer.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(mut connection) = cached else {
            let mut fresh = self.fresh_writer().await?;
            return self.query(&mut fresh, &cmd).await;
        };
        match self.query(&mut connection, &cmd).await {
            Err(LogError::Redis(error)) if error.is_connection_dropped() => {
                tracing::debug!(%error, "revocation stream: write connection lost; reconnecting");
                let mut fresh = self.fresh_writer().await?;
                self.query(&mut fresh, &cmd).await
            }
            result => result,
        }
    }

    async fn fresh_writer(&self) -> Result<MultiplexedConnection, LogError> {
        let fresh = self.connect(self.timeout).await?;
        *self.writer.lock().unwrap_or_else(PoisonError::into_inner) = Some(fresh.clone());
        Ok(fresh)
    }

    /// One command within the timeout; after an error the shared connection
    /// is dropped so that the next write reconnects.
    async fn query<T: redis::FromRedisValue>(
        &self,
        connection: &mut MultiplexedConnection,
        cmd: &redis::Cmd,
    ) -> Result<T, LogError> {
        let result = tokio::time::timeout(self.timeout, cmd.query_async(connection)).await;
        let failed = |error: LogError| {
            *self.writer.lock().unwrap_or_else(PoisonError::into_inner) = None;
            error
        };
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(failed(error.into())),
            Err(_) => Err(failed(LogError::Timeout(self.timeout))),
        }
    }

    async fn connect(&self, response_timeout: Duration) -> Result<MultiplexedConnection, LogError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(response_timeout));
        let connect = self.client.get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(connection) => Ok(connection?),
            Err(_) => Err(LogError::Timeout(self.timeout)),
        }
    }

    /// Reads the entries after `after`, waiting up to `block` for some.
    async fn read(
        &self,
        connection: &mut MultiplexedConnection,
        after: EntryKey,
        block: Option<Duration>,
    ) -> Result<Vec<(EntryKey, Option<Revocation>)>, LogError> {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(BATCH);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX));
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(after.to_string());
        let reply: Option<StreamReadReply> = cmd.query_async(connection).await?;
        let ids = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
        let mut entries = Vec::new();
        for id in ids {
            let key = EntryKey::parse_stream_id(&id.id).ok_or_else(|| LogError::BadId(id.id.clone()))?;
            let entry = id.get::<String>(FIELD).and_then(|json| serde_json::from_str(&json).ok());
            entries.push((key, entry));
        }
        Ok(entries)
    }
}

/// Follows the log into `revocations` for as long as the process runs:
/// reads the stream from its beginning (then the set is `synced`), then
/// waits for new entries; after a failure reconnects with backoff and
/// resumes after the last entry applied. Trims expired entries now and then.
pub(crate) async fn follow(log: Arc<RedisLog>, revocations: Arc<Revocations>) {
    let mut last = EntryKey::Stream(0, 0);
    let mut backoff = BACKOFF.0;
    let mut last_trim = tokio::time::Instant::now();
    loop {
        let error = match log.connect(BLOCK + log.timeout).await {
            Ok(mut connection) => {
                revocations.metrics().redis_up(true);
                backoff = BACKOFF.0;
                read_on(&log, &mut connection, &revocations, &mut last, &mut last_trim).await
            }
            Err(error) => error,
        };
        revocations.metrics().redis_up(false);
        tracing::warn!(%error, after = %last, retry_in = ?backoff, "revocation stream: connection lost; revocations in memory stay in force");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Reads until an error: first without blocking, to the end of the stream,
/// then blocking for what comes next.
async fn read_on(
    log: &RedisLog,
    connection: &mut MultiplexedConnection,
    revocations: &Revocations,
    last: &mut EntryKey,
    last_trim: &mut tokio::time::Instant,
) -> LogError {
    loop {
        // Wakes at least every trim_interval, so that trimming keeps its pace.
        let block = revocations.is_synced().then_some(BLOCK.min(log.trim_interval));
        let entries = match log.read(connection, *last, block).await {
            Ok(entries) => entries,
            Err(error) => return error,
        };
        if let Some((key, _)) = entries.last() {
            *last = *key;
        }
        let caught_up = entries.len() < BATCH;
        apply(revocations, entries);
        if caught_up && !revocations.is_synced() {
            revocations.mark_synced();
            tracing::info!(after = %last, "revocation stream read to its end; following it");
        }
        if revocations.is_synced() && last_trim.elapsed() >= log.trim_interval {
            *last_trim = tokio::time::Instant::now();
            trim(log, revocations, *last).await;
        }
    }
}

fn apply(revocations: &Revocations, entries: Vec<(EntryKey, Option<Revocation>)>) {
    let mut good = Vec::with_capacity(entries.len());
    for (key, entry) in entries {
        match entry {
            Some(entry) => good.push((key, entry)),
            None => {
                tracing::warn!(id = %key, "revocation stream: an entry that is not a revocation, skipped")
            }
        }
    }
    if !good.is_empty() {
        revocations.apply(good);
    }
}

/// Trims the stream up to the oldest entry still live; with none live, up
/// to just after the last entry read (entries this replica has not read yet
/// come after it and are kept).
async fn trim(log: &RedisLog, revocations: &Revocations, last: EntryKey) {
    let oldest = revocations.oldest_live_stream_entry().unwrap_or(match last {
        EntryKey::Stream(ms, seq) => EntryKey::Stream(ms, seq.saturating_add(1)),
        file => file,
    });
    if let Err(error) = log.trim_before(oldest).await {
        tracing::warn!(%error, "revocation stream: trimming expired entries failed; trying again later");
    }
}
