//! The observability pack: the alerting rules pass `promtool check rules`
//! and their unit tests (`promtool test rules`, Debian's prometheus 2.42),
//! the PrometheusRule the kustomize overlay ships holds the same groups, and
//! every metric the rules and the Grafana dashboard query is one a running
//! gatehouse exports.

use std::collections::BTreeSet;
use std::process::Command;

use gatehouse_testkit::idp::{self, Idp, Mode};
use gatehouse_testkit::*;
use serde_json::Value;

fn monitoring(file: &str) -> std::path::PathBuf {
    repo_root().join("deploy/monitoring").join(file)
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new(system_tool("PROMTOOL_BIN", "promtool", "prometheus"))
        .args(args)
        .current_dir(repo_root().join("deploy/monitoring"))
        .output()
        .expect("run promtool");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    assert!(promtool(&["check", "rules", "gatehouse-rules.yaml"]).contains("SUCCESS: 7 rules found"));
    assert!(promtool(&["test", "rules", "gatehouse-rules.test.yaml"]).contains("SUCCESS"));
}

#[test]
fn the_prometheus_rule_of_the_overlay_holds_the_rule_file() {
    let file: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(monitoring("gatehouse-rules.yaml")).unwrap())
            .unwrap();
    let rule = repo_root().join("deploy/kubernetes/monitoring/prometheusrule.yaml");
    let rule: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(rule).unwrap()).unwrap();
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(rule["spec"]["groups"], file["groups"], "the PrometheusRule and gatehouse-rules.yaml differ");
}

/// Metric names in PromQL text, as exported (a histogram's `_bucket`,
/// `_count`, `_sum` and a counter's `_total` name their family).
fn queried_metrics(promql: &str, into: &mut BTreeSet<String>) {
    let bytes = promql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_name = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &promql[i..];
        if starts_name && (rest.starts_with("gatehouse_") || rest.starts_with("process_")) {
            let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            let name = &rest[..len];
            let family = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            into.insert(family.to_owned());
            i += len;
        } else {
            i += 1;
        }
    }
}

/// The metric families a gatehouse with every feature configured exports
/// (a remote JWKS, token introspection, API keys, revocations), once it has
/// decided a Check of each kind.
async fn exported_families() -> BTreeSet<String> {
    let key = es256_key("k1");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&key]))).await;
    let dir = tempfile::tempdir().unwrap();
    let (revoked, secret, api_keys) =
        (dir.path().join("revoked.yaml"), dir.path().join("secret"), dir.path().join("api-keys.yaml"));
    std::fs::write(&revoked, "[]\n").unwrap();
    std::fs::write(&secret, idp::CLIENT_SECRET).unwrap();
    std::fs::write(&api_keys, "[]\n").unwrap();
    let mut yaml = config::introspection_config(&key, &idp.introspection_uri(), &secret, "wait: 2s", "");
    yaml = yaml.replace(&format!("inline: '{}'", inline_jwks(&[&key])), &format!("uri: \"{}\"", idp.uri()));
    yaml = yaml.replacen(
        "rules:",
        &format!(
            "  - {{ name: partners, issuer: https://keys.partners, api_keys: {{ file: \"{}\" }} }}\nrules:",
            api_keys.display()
        ),
        1,
    );
    yaml.push_str(&format!("revocation: {{ file: \"{}\", retention: 1h }}\n", revoked.display()));
    let mut gatehouse = Gatehouse::start(&yaml).await;
    gatehouse.wait_ready(std::time::Duration::from_secs(5)).await;
    gatehouse.check_token(&token(&key)).await;
    gatehouse.check(request("GET", "/api/x", &[("authorization", &bearer(&opaque_token()))])).await;
    let text = ops::metrics(gatehouse.http).await;
    gatehouse.stop().await;
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|name| name.strip_suffix("_total").unwrap_or(name).to_owned())
        .collect()
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_query_is_exported() {
    let exported = exported_families().await;
    let mut queried = BTreeSet::new();
    let rules = std::fs::read_to_string(monitoring("gatehouse-rules.yaml")).unwrap();
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&rules).unwrap();
    for rule in rules["groups"][0]["rules"].as_sequence().unwrap() {
        queried_metrics(rule["expr"].as_str().unwrap(), &mut queried);
    }
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(monitoring("gatehouse-dashboard.json")).unwrap())
            .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "{} panels", panels.len());
    for target in panels.iter().flat_map(|p| p["targets"].as_array().unwrap()) {
        queried_metrics(target["expr"].as_str().unwrap(), &mut queried);
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        queried_metrics(variable["query"].as_str().unwrap_or(""), &mut queried);
    }
    assert!(queried.len() >= 20, "{queried:?}");
    let unknown: Vec<&String> = queried.difference(&exported).collect();
    assert!(unknown.is_empty(), "queried but not exported: {unknown:?}\nexported: {exported:?}");
}
