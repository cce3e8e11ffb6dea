//! Helpers for `loadtest/load.sh` (no gatehouse CLI involved):
//!
//! - `mint --key signing-key.json --count N --out tokens.txt [--iss I] [--aud A] [--ttl-secs S]`:
//!   N valid tokens, one per line, each for a distinct subject (`user-000042`),
//!   with a realistic claim set; signed on every core.
//! - `frame --token T --out check.bin [--path P] [--host H] [--headers-file F]`:
//!   one gRPC-framed `CheckRequest` as Envoy would send it for `GET P` with
//!   `authorization: Bearer T` and the headers of F (`name: value` lines; by
//!   default a few) (0x00, 4-byte big-endian length, protobuf), for `h2load -d`.
//! - `render-envoy --template sidecar.yaml --out FILE --set NAME=VALUE [--set ...]`:
//!   `deploy/envoy/<template>` with the value of every line ending in
//!   `# test:NAME` replaced, by the renderer the tests use
//!   (`gatehouse_testkit::render::render`), so the load script has no copy of it.
//! - `render-nginx --out FILE --set NAME=VALUE [--set ...]`: the same for
//!   `deploy/nginx/nginx.conf` (directive arguments replaced).

use std::collections::HashMap;
use std::io::Write;

use anyhow::{bail, Context};
use serde_json::json;

use gatehouse_testkit::{unix_now, CheckRequestBuilder, SigningKey};

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        bail!("usage: bench_util mint|frame|render-envoy|render-nginx [--flag value]...");
    }
    let command = args.remove(0);
    let mut flags: HashMap<String, String> = HashMap::new();
    // `--set NAME=VALUE` may repeat; every other flag is given once.
    let mut sets: Vec<(String, String)> = Vec::new();
    for pair in args.chunks(2) {
        let [name, value] = pair else { bail!("flag {} has no value", pair[0]) };
        let name = name.strip_prefix("--").with_context(|| format!("expected --flag, got {name}"))?;
        if name == "set" {
            let (key, value) =
                value.split_once('=').with_context(|| format!("--set {value}: expected NAME=VALUE"))?;
            sets.push((key.to_owned(), value.to_owned()));
        } else {
            flags.insert(name.to_owned(), value.clone());
        }
    }
    let flag = |name: &str| flags.get(name).cloned().with_context(|| format!("missing --{name}"));
    let flag_or = |name: &str, default: &str| flags.get(name).cloned().unwrap_or_else(|| default.to_owned());
    match command.as_str() {
        "mint" => mint(
            &flag("key")?,
            flag("count")?.parse()?,
            &flag("out")?,
            &flag_or("iss", gatehouse::internals::DEFAULT_ISSUER),
            &flag_or("aud", "orders-api"),
            flag_or("ttl-secs", "7200").parse()?,
        ),
        "frame" => frame(
            &flag("token")?,
            &flag("out")?,
            &flag_or("path", "/api/orders/42"),
            &flag_or("host", "api.example.com"),
            flags.get("headers-file").map(String::as_str),
        ),
        "render-envoy" => render_envoy(&flag("template")?, &flag("out")?, &sets),
        "render-nginx" => render_nginx(&flag("out")?, &sets),
        other => bail!("unknown command {other}"),
    }
}

fn mint(key_path: &str, count: usize, out: &str, iss: &str, aud: &str, ttl: u64) -> anyhow::Result<()> {
    let key = SigningKey::from_json(&std::fs::read_to_string(key_path)?)?;
    let now = unix_now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let parts: Vec<anyhow::Result<Vec<String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let key = &key;
                scope.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(|i| {
                            let claims = json!({
                                "iss": iss,
                                "sub": format!("user-{i:06}"),
                                "aud": aud,
                                "azp": "web-frontend",
                                "iat": now - 30,
                                "nbf": now - 30,
                                "exp": now + ttl,
                                "jti": format!("bench-{now}-{i}"),
                                "scope": "openid profile orders:read orders:write",
                                "email": format!("user-{i:06}@example.com"),
                                "org": { "id": "org-42", "name": "Example Corp" },
                                "roles": ["buyer"],
                            });
                            key.mint(&claims).map_err(anyhow::Error::from)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("minting thread")).collect()
    });
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    for part in parts {
        for token in part? {
            writeln!(file, "{token}")?;
        }
    }
    file.flush()?;
    Ok(())
}

fn frame(token: &str, out: &str, path: &str, host: &str, headers_file: Option<&str>) -> anyhow::Result<()> {
    // What Envoy's ext_authz filter sends for a browser/API request.
    let given = match headers_file {
        Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
        None => "accept: application/json\nuser-agent: bench/1.0\n".to_owned(),
    };
    let mut headers: Vec<(&str, &str)> =
        vec![(":authority", host), (":method", "GET"), (":path", path), (":scheme", "http")];
    for line in given.lines().filter(|line| !line.is_empty()) {
        headers.push(line.split_once(": ").with_context(|| format!("header line `{line}`"))?);
    }
    headers.push(("x-forwarded-proto", "http"));
    let request_id = headers.iter().find(|(name, _)| *name == "x-request-id").map(|(_, v)| *v);
    let request_id = request_id.unwrap_or("6f1c1f4e-2d7b-4f43-9a51-5b3c1a0e7d21");
    let framed = CheckRequestBuilder::new("GET", path)
        .host(host)
        .id(request_id)
        .scheme("http", "HTTP/1.1")
        .headers(&headers)
        .bearer(token)
        .framed();
    std::fs::write(out, framed)?;
    Ok(())
}

fn render_envoy(template: &str, out: &str, sets: &[(String, String)]) -> anyhow::Result<()> {
    let values: Vec<(&str, String)> = sets.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let rendered =
        gatehouse_testkit::render::render(&gatehouse_testkit::envoy::deploy_config(template), &values);
    std::fs::write(out, rendered).with_context(|| format!("write {out}"))?;
    Ok(())
}

fn render_nginx(out: &str, sets: &[(String, String)]) -> anyhow::Result<()> {
    let values: Vec<(&str, String)> = sets.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let template = gatehouse_testkit::repo_root().join("deploy/nginx/nginx.conf");
    std::fs::write(out, gatehouse_testkit::render::render_nginx(&template, &values))
        .with_context(|| format!("write {out}"))?;
    Ok(())
}
