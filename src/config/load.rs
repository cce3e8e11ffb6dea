//! Reading the YAML file. Structural problems (unknown keys, wrong types) are
//! collected per section and per list entry, so one run reports as many as it
//! can, each with its key path; [`super::build`] then checks the meaning.

use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::{build, Config, ConfigError, Problem, Specs};

/// Reads, checks and builds a configuration file.
pub fn load_file(path: &Path) -> Result<Specs, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
    from_yaml(&text)
}

/// Checks and builds a configuration document.
pub fn from_yaml(text: &str) -> Result<Specs, ConfigError> {
    build(&parse(text)?).map_err(ConfigError::Invalid)
}

/// Parses a document into the serde types, reporting every structural problem.
pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    let document: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError::Invalid(vec![Problem::new("(document)", e.to_string())]))?;
    match deserialize(document.clone()) {
        Ok(config) => Ok(config),
        Err(first) => {
            let mut problems = structural_problems(&document);
            if problems.is_empty() {
                problems.push(first);
            }
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// Deserializes a whole document, turning an error into a problem at its key path.
fn deserialize(document: Value) -> Result<Config, Problem> {
    serde_path_to_error::deserialize(document).map_err(|err| {
        let path = match err.path().to_string() {
            dot if dot == "." => "(document)".to_owned(),
            path => path,
        };
        Problem::new(path, err.into_inner().to_string())
    })
}

/// Deserialization stops at the first problem, so each top-level section,
/// and each entry of a list section, is tried on its own inside an otherwise
/// minimal document. The sections come from the document, the rules from
/// `Config` itself: an unknown key is reported by serde with the list of
/// known ones, and no list of sections is kept here beside the type.
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
        match value {
            Value::Sequence(items) => {
                for (index, item) in items.iter().enumerate() {
                    let alone = Value::Sequence(vec![item.clone()]);
                    let found = section_problem(name, alone).map(|p| renumber(p, name, index));
                    problems.extend(found);
                }
            }
            _ => problems.extend(section_problem(name, value.clone())),
        }
    }
    if !top.contains_key("providers") {
        problems.push(Problem::new("providers", "missing: at least one provider is required"));
    }
    problems.dedup();
    problems
}

/// The problem of one section in a document that has only it (and the
/// required `providers`, empty unless it is the section).
fn section_problem(name: &str, value: Value) -> Option<Problem> {
    let mut alone = Mapping::new();
    alone.insert(Value::from("providers"), Value::Sequence(Vec::new()));
    alone.insert(Value::from(name), value);
    deserialize(Value::Mapping(alone)).err()
}

/// `rules[0].x` found in a one-entry list is `rules[index].x` in the file.
fn renumber(problem: Problem, section: &str, index: usize) -> Problem {
    match problem.path.strip_prefix(&format!("{section}[0]")) {
        Some(rest) => Problem { path: format!("{section}[{index}]{rest}"), ..problem },
        None => problem,
    }
}
