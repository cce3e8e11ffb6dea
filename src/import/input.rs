//! Reading the input document: a `serde_json::Value` tree walked with the
//! key path of every value kept, so that a problem names where it is
//! (`providers.corp.remote_jwks.http_uri.uri: missing`) and every field the
//! importer does not read can be reported rather than dropped.

use std::time::Duration;

use serde_json::{Map, Value};

use super::ImportError;

/// A value of the input with its key path.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub(crate) value: &'a Value,
    pub(crate) path: String,
}

impl<'a> Node<'a> {
    pub(crate) fn new(value: &'a Value, path: impl Into<String>) -> Self {
        Self { value, path: path.into() }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// An error at this node's path.
    pub(crate) fn invalid(&self, message: impl Into<String>) -> ImportError {
        let key = if self.path.is_empty() { "(top level)".to_owned() } else { self.path.clone() };
        ImportError::Invalid { key, message: message.into() }
    }

    /// A member; `None` when absent or `null` (proto JSON writes unset fields as either).
    pub(crate) fn get(&self, key: &str) -> Option<Node<'a>> {
        let value = self.value.as_object()?.get(key)?;
        (!value.is_null()).then(|| Node::new(value, self.child_path(key)))
    }

    /// A member that must be there.
    pub(crate) fn required(&self, key: &str) -> Result<Node<'a>, ImportError> {
        match self.get(key) {
            Some(node) => Ok(node),
            None => Err(Node::new(&Value::Null, self.child_path(key)).invalid("missing")),
        }
    }

    pub(crate) fn object(&self) -> Result<&'a Map<String, Value>, ImportError> {
        self.value.as_object().ok_or_else(|| self.invalid("expected a mapping"))
    }

    /// The members of a map field (`providers`, `requirement_map`), in document order.
    pub(crate) fn entries(&self) -> Result<Vec<(&'a str, Node<'a>)>, ImportError> {
        let map = self.object()?;
        Ok(map.iter().map(|(key, value)| (key.as_str(), Node::new(value, self.child_path(key)))).collect())
    }

    /// The items of a list field.
    pub(crate) fn items(&self) -> Result<Vec<Node<'a>>, ImportError> {
        let list = self.value.as_array().ok_or_else(|| self.invalid("expected a list"))?;
        Ok(list
            .iter()
            .enumerate()
            .map(|(i, value)| Node::new(value, format!("{}[{i}]", self.path)))
            .collect())
    }

    pub(crate) fn string(&self) -> Result<&'a str, ImportError> {
        self.value.as_str().ok_or_else(|| self.invalid("expected a string"))
    }

    pub(crate) fn strings(&self) -> Result<Vec<&'a str>, ImportError> {
        self.items()?.iter().map(|item| item.string()).collect()
    }

    pub(crate) fn boolean(&self) -> Result<bool, ImportError> {
        self.value.as_bool().ok_or_else(|| self.invalid("expected true or false"))
    }

    /// An unsigned integer; proto JSON may write one as a string.
    pub(crate) fn unsigned(&self) -> Result<u64, ImportError> {
        match self.value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| self.invalid("expected a non-negative integer"))
    }

    /// A `google.protobuf.Duration`: `"1.5s"` (proto JSON) or `{seconds, nanos}` (YAML habit).
    pub(crate) fn duration(&self) -> Result<Duration, ImportError> {
        let parsed = match self.value {
            Value::String(text) => parse_seconds(text),
            Value::Object(_) => {
                let seconds = self.get("seconds").map(|n| n.unsigned()).transpose()?.unwrap_or(0);
                let nanos = self.get("nanos").map(|n| n.unsigned()).transpose()?.unwrap_or(0);
                u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000).map(|n| Duration::new(seconds, n))
            }
            _ => None,
        };
        parsed.ok_or_else(|| self.invalid("expected a duration such as \"300s\" or {seconds: 300}"))
    }

    /// Key paths of the members not in `known`, for "not read" notes.
    pub(crate) fn unknown_fields(&self, known: &[&str]) -> Vec<String> {
        let Some(map) = self.value.as_object() else { return Vec::new() };
        map.keys().filter(|key| !known.contains(&key.as_str())).map(|key| self.child_path(key)).collect()
    }

    /// True when this is an empty message (`{}`), as `allow_missing: {}` is written.
    pub(crate) fn is_empty_message(&self) -> bool {
        self.value.as_object().is_some_and(Map::is_empty)
    }
}

/// `"300s"`, `"1.5s"`, `"0.000001s"`: decimal seconds with at most nine fraction digits.
fn parse_seconds(text: &str) -> Option<Duration> {
    let number = text.trim().strip_suffix('s')?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    Some(Duration::new(whole.parse().ok()?, nanos))
}
