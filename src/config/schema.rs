//! The configuration's JSON Schema, generated from the serde types (their
//! doc comments become the descriptions editors show on hover), printed by
//! `gatehouse config schema` and committed as `deploy/gatehouse.schema.json`.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::Config;
use crate::alg::Algorithm;

/// Where the committed schema is published, as its `$id`.
const SCHEMA_ID: &str = "https://gatehouse.dev/schema/config.json";

/// A duration as the config writes it: `250ms`, `30s`, `5m`, `24h`, `1h 30m`.
pub(crate) struct DurationText;

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^\s*([0-9]+\s*[a-zµ]+\s*)+$",
            "description": "A duration: a number and a unit (ns, us, ms, s, m, h, d), e.g. `250ms`, `30s`, `5m`, `24h`, `1h 30m`.",
            "examples": ["250ms", "30s", "5m", "24h"]
        })
    }
}

impl JsonSchema for Algorithm {
    fn schema_name() -> Cow<'static, str> {
        "Algorithm".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|alg| alg.as_str()).collect();
        json_schema!({
            "type": "string",
            "enum": names,
            "description": "A JWS algorithm gatehouse verifies (`none` never is)."
        })
    }
}

/// The schema of the whole file, as pretty JSON with a trailing newline.
pub(crate) fn config_schema() -> String {
    let mut schema = schemars::schema_for!(Config);
    schema.insert("$id".to_owned(), SCHEMA_ID.into());
    schema.insert("title".to_owned(), "gatehouse configuration".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
