//! Envoy's bootstrap configs as the tests and the load benchmark run them:
//! the files users copy (`deploy/envoy/*.yaml`) with the values on lines
//! ending in `# test:NAME` replaced, and the pinned Envoy binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::repo_root;

/// The Envoy binary: `ENVOY_BIN`, else `<crate>/.venv/bin/envoy`. Panics (a
/// missing Envoy must fail the suite, never skip it).
pub fn envoy_bin() -> PathBuf {
    crate::pinned_tool("ENVOY_BIN", "envoy")
}

/// `deploy/envoy/<name>`.
pub fn deploy_config(name: &str) -> PathBuf {
    repo_root().join("deploy/envoy").join(name)
}

/// The template with the value of every line ending in `# test:NAME` (NAME
/// in `values`) replaced. A commented-out marked line (`# key: v  # test:NAME`)
/// is uncommented first, which is how `encode_raw_headers` is switched on.
/// On a line holding a flow mapping (`{ address: .., port_value: 9901 }`) the
/// last key's value is replaced. Panics if a NAME is on no line: the template
/// drifted from what the tests expect.
pub fn render(template_path: &Path, values: &[(&str, String)]) -> String {
    let template = std::fs::read_to_string(template_path)
        .unwrap_or_else(|e| panic!("cannot read Envoy template {}: {e}", template_path.display()));
    let wanted: HashMap<&str, &str> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut used: HashMap<&str, usize> = HashMap::new();
    let mut out = String::with_capacity(template.len() + 256);
    for line in template.lines() {
        let rendered = marker(line)
            .and_then(|(at, name)| wanted.get_key_value(name).map(|(name, value)| (at, *name, *value)))
            .map(|(at, name, value)| {
                *used.entry(name).or_default() += 1;
                replace_value(line, at, value)
                    .unwrap_or_else(|| panic!("`# test:{name}` is on a line without a `key: value`: {line}"))
            });
        out.push_str(rendered.as_deref().unwrap_or(line));
        out.push('\n');
    }
    let missing: Vec<&str> = values.iter().map(|(k, _)| *k).filter(|k| !used.contains_key(k)).collect();
    assert!(
        missing.is_empty(),
        "{} has no line ending in `# test:NAME` for {missing:?}: the template drifted from the tests",
        template_path.display()
    );
    out
}

/// `(byte offset of the comment, NAME)` for a line ending in `# test:NAME`.
fn marker(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_end();
    let at = trimmed.rfind("# test:")?;
    let name = &trimmed[at + "# test:".len()..];
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some((at, name))
}

fn replace_value(line: &str, marker_at: usize, value: &str) -> Option<String> {
    let (content, comment) = line.split_at(marker_at);
    let body = content.trim_end();
    let padding = &content[body.len()..];
    // Uncomment `  # key: value` (the marker itself stays).
    let indent_len = body.len() - body.trim_start().len();
    let (indent, mut body) = body.split_at(indent_len);
    let uncommented;
    if let Some(rest) = body.strip_prefix('#') {
        uncommented = rest.strip_prefix(' ').unwrap_or(rest).to_owned();
        body = &uncommented;
    }
    // The value of the last `key:` on the line, up to `,`/`}` or the end.
    let colon = body.rfind(": ")?;
    let start = colon + 2 + (body[colon + 2..].len() - body[colon + 2..].trim_start().len());
    let end = body[start..].find([',', '}']).map_or(body.len(), |i| start + i);
    let end = start + body[start..end].trim_end().len();
    Some(format!("{indent}{}{}{}{padding}{comment}", &body[..start], yaml_scalar(value), &body[end..]))
}

/// A plain scalar when safe, else double-quoted.
fn yaml_scalar(value: &str) -> String {
    let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
    if plain {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// `envoy --mode validate -c <config>`: (success, stdout + stderr).
pub fn envoy_validate(config: &Path) -> (bool, String) {
    let output = Command::new(envoy_bin())
        .args(["--mode", "validate", "--log-level", "warn", "-c"])
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .expect("run envoy --mode validate");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}
