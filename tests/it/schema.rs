//! The configuration's JSON Schema: the committed file is what the binary
//! prints, every shipped config validates against it, it refuses what
//! `check-config` refuses structurally, and every field carries its doc.

use gatehouse_testkit::process::gatehouse_command;
use gatehouse_testkit::repo_root;
use serde_json::Value;

fn committed() -> Value {
    let text = std::fs::read_to_string(repo_root().join("deploy/gatehouse.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"))
}

/// The README's configuration reference and every config the deploy files ship.
fn shipped_configs() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = readme.split("\n## Configuration reference\n").nth(1).unwrap();
    let reference = section.split("```yaml\n").nth(1).and_then(|s| s.split("```").next()).unwrap();
    let mut configs = vec![("README reference".to_owned(), reference.to_owned())];
    for overlay in ["base", "sidecar", "revocation", "http-check"] {
        let path = repo_root().join("deploy/kubernetes").join(overlay).join("config.yaml");
        configs.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
    }
    configs
}

#[test]
fn the_committed_schema_is_what_the_binary_prints() {
    let output = gatehouse_command(&["config", "schema"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let committed_text = std::fs::read_to_string(repo_root().join("deploy/gatehouse.schema.json")).unwrap();
    assert!(
        printed == committed_text,
        "deploy/gatehouse.schema.json is stale: run `gatehouse config schema > deploy/gatehouse.schema.json`"
    );
}

#[test]
fn every_shipped_config_validates_and_carries_the_editor_modeline() {
    let validator = jsonschema::validator_for(&committed()).unwrap();
    for (name, text) in shipped_configs() {
        let errors: Vec<String> = validator.iter_errors(&yaml(&text)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        if name != "README reference" {
            let first = text.lines().next().unwrap_or_default();
            assert!(first.starts_with("# yaml-language-server: $schema="), "{name}: {first}");
        }
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(readme.contains("# yaml-language-server: $schema="), "the README shows the modeline");
}

#[test]
fn the_schema_refuses_unknown_keys_wrong_types_and_bad_durations() {
    let validator = jsonschema::validator_for(&committed()).unwrap();
    let good = "providers: [ { name: corp, issuer: https://idp, jwks: { uri: https://idp/jwks } } ]";
    assert!(validator.is_valid(&yaml(good)));
    for bad in [
        "providers: [ { name: corp, issuer: https://idp, jwks: { uri: https://idp/jwks, refresh: 5m } } ]",
        "providers: [ { name: corp, issuer: https://idp, algorithms: [none], jwks: { uri: x } } ]",
        "providers: [ { name: corp, issuer: https://idp, clock_skew: soon, jwks: { uri: x } } ]",
        "providers: [ { name: corp, issuer: 7, jwks: { uri: x } } ]",
        "providers: []\ncache: { enabled: yes-please }",
        "providers: []\nrules: [ { allow: everyone } ]",
        "provider: []",
    ] {
        assert!(!validator.is_valid(&yaml(bad)), "accepted: {bad}");
    }
}

/// Editors show a field's description on hover: every property has one.
#[test]
fn every_property_has_a_description() {
    fn walk(schema: &Value, path: &str, missing: &mut Vec<String>) {
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                if property.get("description").is_none() {
                    missing.push(format!("{path}.{name}"));
                }
                walk(property, &format!("{path}.{name}"), missing);
            }
        }
    }
    let schema = committed();
    let mut missing = Vec::new();
    walk(&schema, "", &mut missing);
    for (name, definition) in schema["$defs"].as_object().unwrap() {
        walk(definition, name, &mut missing);
    }
    assert!(missing.is_empty(), "properties without a description: {missing:?}");
}
