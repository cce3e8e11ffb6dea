//! Reading the YAML file. Structural problems (unknown keys, wrong types) are
//! collected per section and per list entry, so one run reports as many as it
//! can, each with its key path; semantic checks follow in `validate`.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::{
    validate, Config, ConfigError, DefaultAction, LimitsConfig, Problem, ProviderConfig, RuleConfig,
    ServerConfig,
};

const TOP_LEVEL_KEYS: &[&str] = &[
    "server",
    "providers",
    "rules",
    "default",
    "limits",
    "bypass_cors_preflight",
    "allow_encoded_slashes",
    "decision_log",
    "telemetry",
    "cache",
    "dynamic_metadata",
];

/// Reads, parses and validates a configuration file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
    from_yaml(&text)
}

/// Parses and validates a configuration document.
pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
    let document: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError::Invalid(vec![Problem::new("(document)", e.to_string())]))?;
    match deserialize_at::<Config>("", document.clone()) {
        Ok(config) => {
            let problems = validate::validate(&config);
            if problems.is_empty() {
                Ok(config)
            } else {
                Err(ConfigError::Invalid(problems))
            }
        }
        Err(first) => {
            let mut problems = structural_problems(&document);
            if problems.is_empty() {
                problems.push(first);
            }
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// Deserializes `value`, turning an error into a problem at its full key path.
fn deserialize_at<T: DeserializeOwned>(prefix: &str, value: Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.path().to_string();
        let path = match (prefix.is_empty(), inner.as_str()) {
            (true, ".") => "(document)".to_owned(),
            (true, _) => inner,
            (false, ".") => prefix.to_owned(),
            (false, _) if inner.starts_with('[') => format!("{prefix}{inner}"),
            (false, _) => format!("{prefix}.{inner}"),
        };
        Problem::new(path, err.into_inner().to_string())
    })
}

/// Walks the document section by section to report every structural problem.
fn structural_problems(document: &Value) -> Vec<Problem> {
    let Value::Mapping(top) = document else {
        return vec![Problem::new(
            "(document)",
            "expected a mapping of sections (server, providers, rules, ...)",
        )];
    };
    let mut problems = Vec::new();
    for (key, value) in top {
        let Some(name) = key.as_str() else {
            problems.push(Problem::new("(document)", "section names must be strings"));
            continue;
        };
        if !TOP_LEVEL_KEYS.contains(&name) {
            problems.push(Problem::new(
                name,
                format!("unknown key, expected one of {}", TOP_LEVEL_KEYS.join(", ")),
            ));
            continue;
        }
        let found = match (name, value) {
            ("providers", Value::Sequence(items)) => check_each::<ProviderConfig>(name, items),
            ("rules", Value::Sequence(items)) => check_each::<RuleConfig>(name, items),
            ("server", _) => check_one::<ServerConfig>(name, value),
            ("limits", _) => check_one::<LimitsConfig>(name, value),
            ("default", _) => check_one::<DefaultAction>(name, value),
            ("bypass_cors_preflight" | "allow_encoded_slashes" | "decision_log", _) => {
                check_one::<bool>(name, value)
            }
            ("telemetry", _) => check_one::<super::TelemetryConfig>(name, value),
            ("cache", _) => check_one::<super::CacheConfig>(name, value),
            ("dynamic_metadata", _) => check_one::<super::DynamicMetadataConfig>(name, value),
            _ => check_one::<Vec<Value>>(name, value),
        };
        problems.extend(found);
    }
    if !top.contains_key("providers") {
        problems.push(Problem::new("providers", "missing: at least one provider is required"));
    }
    if problems.is_empty() {
        // Sections other than the lists: report the first error of the whole.
        if let Err(problem) = deserialize_at::<Config>("", document.clone()) {
            problems.push(problem);
        }
    }
    problems
}

fn check_each<T: DeserializeOwned>(section: &str, items: &[Value]) -> Vec<Problem> {
    let checks = items
        .iter()
        .enumerate()
        .map(|(i, item)| deserialize_at::<T>(&format!("{section}[{i}]"), item.clone()));
    checks.filter_map(Result::err).collect()
}

fn check_one<T: DeserializeOwned>(section: &str, value: &Value) -> Vec<Problem> {
    deserialize_at::<T>(section, value.clone()).err().into_iter().collect()
}
