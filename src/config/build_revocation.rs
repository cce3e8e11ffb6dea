//! `revocation:` into the revocation spec and the admin listener's settings.

use std::time::Duration;

use super::revocation::{AdminConfig, RedisConfig, ValueOrSecret};
use super::{AdminSettings, Config, Problem, SecretSource};
use crate::revocation::{IssuerLifetime, RedisSpec, RevocationSpec, SecretValue};

const RETENTION: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(366 * 24 * 3600);

/// What `revocation:` builds.
pub(super) struct Built {
    pub(super) spec: Option<RevocationSpec>,
    pub(super) admin: Option<AdminSettings>,
}

/// The revocation spec, the admin listener, and warnings where a provider's
/// tokens may outlive the entries that revoke them.
pub(super) fn build_revocation(
    config: &Config,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Built {
    let backchannel: Vec<usize> =
        config.providers.iter().enumerate().filter(|(_, p)| p.backchannel_logout).map(|(i, _)| i).collect();
    let Some(revocation) = &config.revocation else {
        for index in backchannel {
            problems.push(Problem::new(
                format!("providers[{index}].backchannel_logout"),
                "needs `revocation` with `redis` and `admin`: logout tokens arrive on the admin listener",
            ));
        }
        return Built { spec: None, admin: None };
    };
    if revocation.redis.is_none() && revocation.file.is_none() {
        problems.push(Problem::new("revocation", "set `redis`, `file` or both: where revocations come from"));
    }
    if !RETENTION.contains(&revocation.retention) {
        problems.push(Problem::new("revocation.retention", "must be between 1m and 366d"));
    }
    let redis = revocation.redis.as_ref().and_then(|redis| redis_spec(redis, problems));
    let admin = revocation.admin.as_ref().and_then(|admin| admin_settings(admin, problems));
    if admin.is_some() && revocation.redis.is_none() {
        problems.push(Problem::new(
            "revocation.admin",
            "needs `revocation.redis`: what the admin API accepts must survive restarts and reach every replica",
        ));
    }
    for &index in &backchannel {
        if config.providers[index].audiences.is_empty() {
            problems.push(Problem::new(
                format!("providers[{index}].audiences"),
                "back-channel logout needs the audience (client id) logout tokens are addressed to",
            ));
        }
    }
    if revocation.admin.is_none() {
        for index in backchannel {
            problems.push(Problem::new(
                format!("providers[{index}].backchannel_logout"),
                "needs `revocation.admin`: logout tokens arrive on the admin listener",
            ));
        }
    }
    let issuers = config.providers.iter().map(|p| IssuerLifetime {
        issuer: p.issuer.clone(),
        provider: p.name.clone(),
        max_token_age: p.max_lifetime.map(|lifetime| lifetime + p.clock_skew),
    });
    let issuers: Vec<IssuerLifetime> = issuers.collect();
    for (index, issuer) in issuers.iter().enumerate() {
        // An API key has no lifetime to bound; removing its line ends it.
        let api_keys = config.providers[index].api_keys.is_some();
        if !api_keys && issuer.max_token_age.is_none_or(|age| age > revocation.retention) {
            warnings.push(Problem::new(
                format!("providers[{index}].max_lifetime"),
                "unset or longer than `revocation.retention`: a revocation without `expires_at` may end \
                 before the tokens it covers do; set `max_lifetime` (a revocation then lasts as long as \
                 any token it covers)",
            ));
        }
    }
    let spec =
        RevocationSpec { redis, file: revocation.file.clone(), retention: revocation.retention, issuers };
    Built { spec: Some(spec), admin }
}

fn redis_spec(redis: &RedisConfig, problems: &mut Vec<Problem>) -> Option<RedisSpec> {
    let url = match &redis.url {
        ValueOrSecret::Value(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Some(SecretValue::Inline(url.clone()))
        }
        ValueOrSecret::Value(_) => {
            problems.push(Problem::new("revocation.redis.url", "must start with redis:// or rediss://"));
            None
        }
        ValueOrSecret::Secret(source) => secret("revocation.redis.url", source, problems),
    };
    if redis.stream.is_empty() {
        problems.push(Problem::new("revocation.redis.stream", "must not be empty"));
    }
    for (key, value) in [("startup_timeout", redis.startup_timeout), ("timeout", redis.timeout)] {
        if !(Duration::from_millis(10)..=Duration::from_secs(600)).contains(&value) {
            problems.push(Problem::new(format!("revocation.redis.{key}"), "must be between 10ms and 10m"));
        }
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600)).contains(&redis.trim_interval) {
        problems.push(Problem::new("revocation.redis.trim_interval", "must be between 1s and 24h"));
    }
    Some(RedisSpec {
        url: url?,
        stream: redis.stream.clone(),
        startup_timeout: redis.startup_timeout,
        timeout: redis.timeout,
        trim_interval: redis.trim_interval,
    })
}

fn admin_settings(admin: &AdminConfig, problems: &mut Vec<Problem>) -> Option<AdminSettings> {
    if !(1024..=1024 * 1024).contains(&admin.max_body_bytes) {
        problems.push(Problem::new("revocation.admin.max_body_bytes", "must be between 1024 and 1048576"));
    }
    let token = secret("revocation.admin.token", &admin.token, problems)?;
    Some(AdminSettings { addr: admin.addr, token, max_body_bytes: admin.max_body_bytes })
}

fn secret(path: &str, source: &SecretSource, problems: &mut Vec<Problem>) -> Option<SecretValue> {
    match (&source.env, &source.file) {
        (Some(name), None) if !name.is_empty() => Some(SecretValue::Env(name.clone())),
        (None, Some(file)) => Some(SecretValue::File(file.clone())),
        _ => {
            problems.push(Problem::new(path, "set exactly one of `env` and `file`"));
            None
        }
    }
}
