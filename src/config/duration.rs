//! Durations written as `30s`, `5m`, `250ms`, `24h` (humantime syntax).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Written back in the same syntax (`5m`, `250ms`): the JSON Schema shows
/// defaults this way.
pub(crate) fn serialize<S: Serializer>(duration: &Duration, ser: S) -> Result<S::Ok, S::Error> {
    ser.collect_str(&humantime::format_duration(*duration))
}

pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration `{text}` ({e}); write it like `30s`, `5m` or `250ms`"))
}

pub(crate) mod option {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(de)? {
            None => Ok(None),
            Some(text) => parse(&text).map(Some).map_err(serde::de::Error::custom),
        }
    }

    pub(crate) fn serialize<S: Serializer>(duration: &Option<Duration>, ser: S) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => super::serialize(duration, ser),
            None => ser.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests;
