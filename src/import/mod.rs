//! `gatehouse import jwt-authn FILE`: an Envoy `jwt_authn` HTTP filter
//! config (`JwtAuthentication`, YAML or JSON, bare or as the filter entry
//! with `typed_config`) translated into a gatehouse config on stdout.
//!
//! The translation is meant to decide every request as jwt_authn would. What
//! it cannot carry over is never dropped silently: each part without an exact
//! equivalent becomes a YAML comment where it applies, and a part that makes
//! gatehouse decide some request differently is marked `DECISION CHANGE` and
//! makes the command exit 1 (after printing). Exit 2: the input could not be
//! read or is not a jwt_authn config; nothing is printed on stdout.
//!
//! The input is read as a `serde_json::Value` tree, never into typed structs,
//! so a field this importer does not know becomes a note rather than an
//! error. The output is loaded with [`crate::config::from_yaml`] before it is
//! printed: a translation gatehouse would refuse is an error, not output.
//!
//! Layout: `input` (the tree with key paths), `providers` (+ `keys`,
//! `locations`), `rules` (+ `matching`, `requires`, `require`), `model` (the
//! output as data) and `emit` (the output as YAML).

mod emit;
mod input;
mod keys;
mod locations;
mod matching;
mod model;
mod providers;
mod require;
mod requires;
mod rules;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use input::Node;
use model::Document;

/// The `@type` of jwt_authn's filter config.
const JWT_AUTHN_TYPE: &str = "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";

/// `gatehouse import ...`: configs of other tools.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ImportCommand {
    /// Translate an Envoy jwt_authn filter config (YAML or JSON) into a gatehouse config on stdout.
    ///
    /// Every part without an exact equivalent is a comment in the output. Exit status: 0 when
    /// gatehouse decides every request as jwt_authn does (but for the general differences listed
    /// at the end of the output), 1 when some part is decided differently (marked DECISION
    /// CHANGE), 2 when the file cannot be read or is not a jwt_authn config.
    JwtAuthn(JwtAuthnArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct JwtAuthnArgs {
    /// The `typed_config` of `envoy.filters.http.jwt_authn` (`JwtAuthentication`), or the
    /// filter entry holding it.
    pub(crate) file: PathBuf,
}

/// Everything that stops an import.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{name}: neither YAML nor JSON: {source}")]
    Syntax { name: String, source: serde_yaml_ng::Error },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("the translation is not a valid gatehouse config:\n{source}")]
    Output { source: crate::config::ConfigError },
}

/// A translation: the YAML, and the notes of what it decides differently.
#[derive(Debug, Clone)]
pub(crate) struct Imported {
    pub(crate) yaml: String,
    pub(crate) decision_changes: Vec<String>,
}

/// Runs the command: the YAML on stdout, a summary on stderr.
pub(crate) fn run(command: &ImportCommand) -> ExitCode {
    let ImportCommand::JwtAuthn(args) = command;
    match import_file(&args.file) {
        Ok(imported) => {
            print!("{}", imported.yaml);
            if imported.decision_changes.is_empty() {
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "{}: {} part(s) are decided differently by gatehouse:",
                args.file.display(),
                imported.decision_changes.len()
            );
            for change in &imported.decision_changes {
                eprintln!("  - {change}");
            }
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("gatehouse import jwt-authn: {error}");
            ExitCode::from(2)
        }
    }
}

/// Translates the file at `path`.
pub(crate) fn import_file(path: &Path) -> Result<Imported, ImportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ImportError::Read { path: path.to_owned(), source })?;
    import_text(&text, &path.display().to_string())
}

/// Translates a document; `name` is how the output's header names it.
pub(crate) fn import_text(text: &str, name: &str) -> Result<Imported, ImportError> {
    let value: serde_json::Value = serde_yaml_ng::from_str(text)
        .map_err(|source| ImportError::Syntax { name: name.to_owned(), source })?;
    let message = filter_message(&value)?;
    let mut document = document(&message, name)?;
    document.notes.splice(0..0, entry_notes(&value));
    let yaml = emit::render(&document);
    crate::config::from_yaml(&yaml).map_err(|source| ImportError::Output { source })?;
    let decision_changes = document.decision_changes().into_iter().map(|note| note.text.clone()).collect();
    Ok(Imported { yaml, decision_changes })
}

/// The `JwtAuthentication` message: the document itself, or the
/// `typed_config` of a filter entry. Key paths are relative to the message.
fn filter_message(value: &serde_json::Value) -> Result<Node<'_>, ImportError> {
    let root = Node::new(value, "");
    root.object()?;
    let message = match root.get("typed_config") {
        Some(typed) => Node::new(typed.value, ""),
        None => root.clone(),
    };
    match message.get("@type") {
        Some(kind) if kind.string()?.ends_with(&format!("/{JWT_AUTHN_TYPE}")) => {}
        Some(kind) => {
            return Err(kind.invalid(format!("expected type.googleapis.com/{JWT_AUTHN_TYPE}, got {:?}", kind.string()?)))
        }
        None if message.get("providers").is_none() => {
            return Err(message.invalid(
                "not a jwt_authn config: expected `providers` (a JwtAuthentication message) or `typed_config` (the filter entry)",
            ))
        }
        None => {}
    }
    Ok(message)
}

/// Fields of the filter entry around `typed_config` (`disabled`,
/// `is_optional`, ...): they decide whether the filter runs at all.
fn entry_notes(value: &serde_json::Value) -> Vec<model::Note> {
    let root = Node::new(value, "");
    if root.get("typed_config").is_none() {
        return Vec::new();
    }
    let fields = root.unknown_fields(&["name", "typed_config"]).into_iter();
    fields.map(|field| model::Note::decision(format!("{field} (of the filter entry): not translated; gatehouse's rules apply to every request Envoy sends it"))).collect()
}

fn document(message: &Node<'_>, name: &str) -> Result<Document, ImportError> {
    let mapped = providers::map_providers(&message.required("providers")?)?;
    let rules = rules::map_rules(message, &mapped)?;
    let notes = rules::top_level_notes(message)?;
    let bypass = message.get("bypass_cors_preflight").map(|b| b.boolean()).transpose()?.unwrap_or(false);
    Ok(Document {
        source: name.to_owned(),
        notes,
        providers: mapped.into_iter().map(|m| m.provider).collect(),
        rules,
        bypass_cors_preflight: bypass,
    })
}

#[cfg(test)]
mod tests;
