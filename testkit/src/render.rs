//! The shipped proxy configs as the tests and the load benchmark run them:
//! the files users copy, with the value on every line ending in
//! `# test:NAME` replaced. YAML (Envoy, Traefik) and nginx's directives.

use std::collections::HashMap;
use std::path::Path;

/// The YAML template with the value of every line ending in `# test:NAME`
/// (NAME in `values`) replaced. A commented-out marked line
/// (`# key: v  # test:NAME`) is uncommented first, which is how
/// `encode_raw_headers` is switched on. On a line holding a flow mapping
/// (`{ address: .., port_value: 9901 }`) the last key's value is replaced;
/// a value that is itself a flow collection (`[..]`, `{..}`) replaces the
/// whole value of the line's first key (`patterns: [..]`).
/// Panics if a NAME is on no line: the template drifted from the tests.
pub fn render(template_path: &Path, values: &[(&str, String)]) -> String {
    render_with(template_path, values, replace_value)
}

/// The nginx template with the arguments of every directive on a line ending
/// in `# test:NAME` replaced (`listen 8080;  # test:listen` becomes
/// `listen <value>;`). Panics as [`render`] does.
pub fn render_nginx(template_path: &Path, values: &[(&str, String)]) -> String {
    render_with(template_path, values, replace_arguments)
}

fn render_with(
    template_path: &Path,
    values: &[(&str, String)],
    replace: fn(&str, usize, &str) -> Option<String>,
) -> String {
    let template = std::fs::read_to_string(template_path)
        .unwrap_or_else(|e| panic!("cannot read template {}: {e}", template_path.display()));
    let wanted: HashMap<&str, &str> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut used: HashMap<&str, usize> = HashMap::new();
    let mut out = String::with_capacity(template.len() + 256);
    for line in template.lines() {
        let rendered = marker(line)
            .and_then(|(at, name)| wanted.get_key_value(name).map(|(name, value)| (at, *name, *value)))
            .map(|(at, name, value)| {
                *used.entry(name).or_default() += 1;
                replace(line, at, value).unwrap_or_else(|| {
                    panic!("`# test:{name}` is on a line without a value to replace: {line}")
                })
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
    if value.starts_with(['[', '{']) {
        let colon = body.find(": ")?;
        return Some(format!("{indent}{}{value}{padding}{comment}", &body[..colon + 2]));
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

/// `directive args;  # test:NAME` with the arguments replaced by `value`.
fn replace_arguments(line: &str, marker_at: usize, value: &str) -> Option<String> {
    let (content, comment) = line.split_at(marker_at);
    let body = content.trim_end();
    let padding = &content[body.len()..];
    let directive_end = body.trim_start().find(char::is_whitespace)? + (body.len() - body.trim_start().len());
    let (directive, arguments) = body.split_at(directive_end);
    arguments.trim().strip_suffix(';')?;
    Some(format!("{directive} {value};{padding}{comment}"))
}
