//! Header tricks through the real Envoy (1.40, `deploy/envoy/sidecar.yaml`)
//! in front of the built gatehouse binary: duplicate `Authorization` lines,
//! odd `Bearer` spellings, obs-text bytes, very long header lists and forged
//! identity headers. Every request is written byte for byte over HTTP/1.1, so
//! what reaches Envoy is exactly what the test wrote (repeated lines, raw
//! bytes, folded lines).
//!
//! Each case runs twice: with Envoy's default merged `headers` map and with
//! `encode_raw_headers: true` (one `header_map` entry per value, raw bytes).
//! A case asserts what the client got and, on an allow, what the echo
//! upstream received; on a refusal, that the upstream was not reached.

use std::time::Duration;

use gatehouse_testkit::envoy::STACK_CONFIG;
use gatehouse_testkit::stack::{parse_http1, upstream_saw, Reply, Stack, StackOptions};
use gatehouse_testkit::{es256_key, jwks_json, token_with, SigningKey};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The identity headers gatehouse sets from `claims_to_headers`.
const IDENTITY_HEADERS: [&str; 2] = ["x-user-id", "x-user-scope"];

/// One request header line: name as written, value as raw bytes.
type Header<'a> = (&'a str, &'a [u8]);

/// `Mode::Merged`: Envoy's default `headers` map (one comma-joined, UTF-8
/// sanitized value per name). `Mode::Raw`: `encode_raw_headers: true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Merged,
    Raw,
}

/// A running stack plus a key its IdP publishes.
struct Env {
    stack: Stack,
    key: SigningKey,
    mode: Mode,
}

impl Env {
    async fn start(mode: Mode) -> Env {
        Env::start_with(mode, STACK_CONFIG).await
    }

    async fn start_with(mode: Mode, gatehouse_yaml: &str) -> Env {
        let key = es256_key("k1");
        let values = match mode {
            Mode::Merged => vec![],
            Mode::Raw => vec![("encode_raw_headers", "true".to_owned())],
        };
        let options = StackOptions::new("sidecar.yaml", gatehouse_yaml, jwks_json(&[&key]));
        let stack = Stack::start(StackOptions { values, ..options }).await;
        let rendered = std::fs::read_to_string(&stack.proxy_config).expect("rendered Envoy config");
        let raw = rendered.lines().any(|l| l.trim_start().starts_with("encode_raw_headers: true"));
        assert_eq!(raw, mode == Mode::Raw, "encode_raw_headers in the rendered config ({mode:?})");
        Env { stack, key, mode }
    }

    /// A valid token for `sub`; `scope: None` leaves the claim out.
    fn token(&self, sub: &str, scope: Option<&str>) -> String {
        token_with(&self.key, json!({ "sub": sub, "scope": scope }))
    }

    /// `alice` with `orders:read`.
    fn alice(&self) -> String {
        self.token("alice", Some("orders:read"))
    }

    /// `GET target` with `headers` written byte for byte (names as given,
    /// values as raw bytes, nothing trimmed or validated), then
    /// `connection: close`. The answer is read until it is complete (Envoy
    /// delays closing after a codec error by a second).
    async fn send(&self, target: &str, headers: &[Header<'_>]) -> Reply {
        let listener = self.stack.listener;
        let mut request = format!("GET {target} HTTP/1.1\r\nhost: {listener}\r\n").into_bytes();
        for (name, value) in headers {
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"connection: close\r\n\r\n");
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(listener).await?;
            // Envoy may answer (431) and close before it read everything.
            let written = stream.write_all(&request).await;
            let mut answer = Vec::new();
            let mut buffer = vec![0; 64 * 1024];
            loop {
                let read = match stream.read(&mut buffer).await {
                    Ok(read) => read,
                    Err(e) if answer.is_empty() => return Err(written.err().unwrap_or(e)),
                    Err(_) => 0,
                };
                answer.extend_from_slice(&buffer[..read]);
                if read == 0 || parse_http1(&answer, false).is_some() {
                    return Ok::<_, std::io::Error>(answer);
                }
            }
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .unwrap_or_else(|_| panic!("GET {target}: no complete answer within 10s"))
            .unwrap_or_else(|e| panic!("GET {target}: {e}"));
        parse_http1(&answer, true).unwrap_or_else(|| {
            panic!("GET {target}: unparsable answer: {}", String::from_utf8_lossy(&answer))
        })
    }

    /// Upstream requests and ext_authz checks so far.
    async fn counts(&self) -> Counts {
        let mut checks = 0;
        for outcome in ["ok", "denied", "error"] {
            checks += self.stack.envoy_stat(&format!("http.ingress.ext_authz.{outcome}")).await;
        }
        Counts { upstream: self.stack.upstream_hits(), checks }
    }

    /// Allow decisions gatehouse has counted (`gatehouse_check_requests`).
    async fn gatehouse_allows(&self) -> u64 {
        let metrics = self.stack.gatehouse_metrics().await;
        metrics
            .lines()
            .filter(|line| line.starts_with("gatehouse_check_requests_total{"))
            .filter(|line| line.contains(r#"decision="allow""#))
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<u64>().ok())
            .sum()
    }

    async fn header_limit_hits(&self) -> u64 {
        self.stack.envoy_stat("http.ingress.ext_authz.request_header_limits_reached").await
    }

    /// Envoy refused the request itself: `status`, not gatehouse's JSON, and
    /// neither gatehouse nor the upstream was asked.
    async fn assert_envoy_rejected(&self, reply: &Reply, status: u16, before: Counts, what: &str) {
        assert_eq!(reply.status, status, "{what} ({:?}): {reply:?}", self.mode);
        assert!(!reply.is_from_upstream(), "{what}: the upstream answered: {reply:?}");
        assert!(
            serde_json::from_str::<Value>(&reply.body).map_or(true, |v| v.get("error").is_none()),
            "{what}: expected Envoy's own answer, got gatehouse's: {reply:?}"
        );
        let after = self.counts().await;
        assert_eq!(after, before, "{what}: Envoy must refuse before ext_authz and the upstream");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    upstream: usize,
    checks: u64,
}

/// 200 from the echo upstream; returns the headers it received.
fn assert_upstream(reply: &Reply, what: &str) -> Value {
    assert_eq!(reply.status, 200, "{what}: {reply:?}");
    assert!(reply.is_from_upstream(), "{what}: not the upstream's answer: {reply:?}");
    upstream_saw(&reply.body)
}

/// Allowed as `alice` with `orders:read`: each identity header exactly once
/// with gatehouse's value, and the token not forwarded.
fn assert_alice(reply: &Reply, what: &str) -> Value {
    let saw = assert_upstream(reply, what);
    assert_eq!(saw["x-user-id"], json!("alice"), "{what}: x-user-id must be gatehouse's, once: {saw}");
    assert_eq!(saw["x-user-scope"], json!("orders:read"), "{what}: {saw}");
    assert!(saw.get("authorization").is_none(), "{what}: forward_token is false: {saw}");
    saw
}

/// Allowed without any identity header reaching the upstream.
fn assert_anonymous(reply: &Reply, what: &str) -> Value {
    let saw = assert_upstream(reply, what);
    for header in IDENTITY_HEADERS {
        assert!(saw.get(header).is_none(), "{what}: a client-sent {header} reached the upstream: {saw}");
    }
    saw
}

/// A gatehouse deny: status and `error` in its JSON body.
fn assert_denied(reply: &Reply, status: u16, error: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {reply:?}");
    assert!(!reply.is_from_upstream(), "{what}: the upstream answered: {reply:?}");
    assert_eq!(reply.error(), error, "{what}: {reply:?}");
    if status == 401 && error == "unauthorized" {
        assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="gatehouse""#), "{what}");
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Case 1: two `Authorization` lines. Different credentials are ambiguous
/// (RFC 6750 §3.1) → 400. token.rs would accept the same credential in two
/// *separate* entries, but Envoy never delivers them apart: it joins repeated
/// `authorization` lines into one value with `,`, in `header_map` too, and
/// token.rs refuses a comma-joined value. So identical copies are 400 as well.
async fn duplicate_authorization_headers(mode: Mode) {
    let env = Env::start(mode).await;
    let alice = format!("Bearer {}", env.alice());
    let mallory = format!("Bearer {}", env.token("mallory", Some("orders:read")));
    let lower_alice = alice.replacen("Bearer", "bearer", 1);
    let before = env.counts().await;

    let cases: [(&str, [Header<'_>; 2]); 5] = [
        (
            "two different tokens",
            [("authorization", alice.as_bytes()), ("Authorization", mallory.as_bytes())],
        ),
        ("the same token twice", [("authorization", alice.as_bytes()), ("authorization", alice.as_bytes())]),
        (
            "the same token, names and schemes cased differently",
            [("Authorization", alice.as_bytes()), ("AUTHORIZATION", lower_alice.as_bytes())],
        ),
        (
            "a token and Basic",
            [("authorization", alice.as_bytes()), ("authorization", b"Basic dXNlcjpwYXNz")],
        ),
        ("a token and garbage", [("authorization", alice.as_bytes()), ("authorization", b"Bearer garbage")]),
    ];
    for (what, headers) in cases {
        let reply = env.send("/orders/1", &headers).await;
        assert_denied(&reply, 400, "invalid_request", what);
        assert_eq!(
            reply.json()["error_description"],
            "the request carries more than one credential, or a malformed one",
            "{what}"
        );
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(challenge.contains(r#"error="invalid_request""#), "{what}: {reply:?}");
    }
    // Another scheme first: Envoy's joined value `Basic ..,Bearer ..` names
    // the bearer scheme inside a list, which is refused as ambiguous.
    let reply = env
        .send("/orders/1", &[("authorization", b"Basic dXNlcjpwYXNz"), ("authorization", alice.as_bytes())])
        .await;
    assert_denied(&reply, 400, "invalid_request", "Basic first, then a token");

    // Anonymous routes do not read the token, so duplicates do not matter there.
    let reply = env
        .send("/public/info", &[("authorization", alice.as_bytes()), ("authorization", mallory.as_bytes())])
        .await;
    assert_anonymous(&reply, "two tokens on an anonymous route");
    let after = env.counts().await;
    assert_eq!(after.upstream, before.upstream + 1, "only the anonymous request reached the upstream");
    assert_eq!(after.checks, before.checks + 7, "gatehouse decided every request");

    // An empty second line adds nothing to Envoy's joined value: one credential.
    let reply = env.send("/orders/1", &[("authorization", alice.as_bytes()), ("authorization", b"")]).await;
    assert_alice(&reply, "a token and an empty Authorization line");
}

/// Case 2: how the scheme may be spelled. token.rs matches `Bearer` without
/// regard to case and wants at least one space or tab after it; Envoy trims
/// leading and trailing whitespace of every value before gatehouse sees it.
async fn bearer_scheme_casing_and_spacing(mode: Mode) {
    let env = Env::start(mode).await;
    let token = env.alice();

    for (what, value) in [
        ("Bearer", format!("Bearer {token}")),
        ("bearer", format!("bearer {token}")),
        ("BEARER", format!("BEARER {token}")),
        ("BeArEr", format!("BeArEr {token}")),
        ("two spaces", format!("Bearer  {token}")),
        ("a tab", format!("Bearer\t{token}")),
        ("space, tab, space", format!("Bearer \t {token}")),
        ("trailing whitespace", format!("Bearer {token}  \t ")),
        ("leading whitespace", format!(" \t Bearer {token}")),
    ] {
        let reply = env.send("/orders/1", &[("authorization", value.as_bytes())]).await;
        assert_alice(&reply, what);
    }

    // Not a bearer credential at all: as if no token was sent.
    for (what, value) in [
        ("Basic", "Basic dXNlcjpwYXNz".to_owned()),
        ("Basic carrying a JWT", format!("Basic {token}")),
        ("another scheme", format!("Token {token}")),
        ("the scheme alone", "Bearer".to_owned()),
        ("the scheme and spaces", "Bearer   ".to_owned()),
        ("only whitespace", " \t ".to_owned()),
    ] {
        let hits = env.stack.upstream_hits();
        let reply = env.send("/orders/1", &[("authorization", value.as_bytes())]).await;
        assert_denied(&reply, 401, "unauthorized", what);
        assert_eq!(env.stack.upstream_hits(), hits, "{what}");
    }

    // A malformed credential is refused, not ignored: an upstream might read
    // a token from it that gatehouse never checked.
    for (what, value) in [
        ("no space after the scheme", format!("Bearer{token}")),
        ("a colon after the scheme", format!("Bearer:{token}")),
        ("UTF-8 no-break space after the scheme", format!("Bearer\u{a0}{token}")),
        ("two words after the scheme", format!("Bearer {token} extra")),
        ("a trailing comma", format!("Bearer {token},")),
        ("the scheme twice", format!("Bearer Bearer {token}")),
        ("a quoted token", format!("Bearer \"{token}\"")),
    ] {
        let hits = env.stack.upstream_hits();
        let reply = env.send("/orders/1", &[("authorization", value.as_bytes())]).await;
        assert_denied(&reply, 400, "invalid_request", what);
        assert_eq!(env.stack.upstream_hits(), hits, "{what}");
    }

    // A control character between scheme and token: Envoy's codec refuses it.
    let before = env.counts().await;
    let value = format!("Bearer\x0b{token}");
    let reply = env.send("/orders/1", &[("authorization", value.as_bytes())]).await;
    env.assert_envoy_rejected(&reply, 400, before, "vertical tab after the scheme").await;

    // An obs-fold line continuation is unfolded by Envoy into one space.
    let value = format!("Bearer\r\n {token}");
    let reply = env.send("/orders/1", &[("authorization", value.as_bytes())]).await;
    assert_alice(&reply, "folded Authorization line");
}

/// Case 3: bytes 0x80-0xFF (obs-text). Envoy's codec accepts them and passes
/// them upstream unchanged. In the merged map Envoy replaces invalid UTF-8
/// before gatehouse sees it; in `header_map` gatehouse gets the raw bytes and
/// refuses a non-UTF-8 Authorization outright. Never an allow for a bad token.
async fn obs_text_header_values(mode: Mode) {
    let env = Env::start(mode).await;
    let token = env.alice();
    let bearer = format!("Bearer {token}");
    // One signature byte replaced by obs-text.
    let mut damaged = bearer.clone().into_bytes();
    let at = damaged.len() - 5;
    damaged[at] = 0x80;

    let merged_401_raw_400 = match mode {
        Mode::Merged => (401, "unauthorized"),
        Mode::Raw => (400, "invalid_request"),
    };
    let cases: Vec<(&str, Vec<u8>, (u16, &str))> = vec![
        ("0xFF after the token", cat(&[bearer.as_bytes(), b"\xff"]), (400, "invalid_request")),
        ("0xFF 0xFE as the token", b"Bearer \xff\xfe".to_vec(), (400, "invalid_request")),
        ("obs-text inside the token", damaged, (400, "invalid_request")),
        ("UTF-8 text after the token", cat(&[bearer.as_bytes(), "é".as_bytes()]), (400, "invalid_request")),
        // Merged: the sanitized byte sits before `Bearer`, so there is no
        // bearer credential (401); raw: non-UTF-8 is refused (400).
        ("0xFF before the scheme", cat(&[b"\xff", bearer.as_bytes()]), merged_401_raw_400),
        // Either way the scheme is followed by something other than a space.
        ("0xA0 between scheme and token", cat(&[b"Bearer\xa0", token.as_bytes()]), (400, "invalid_request")),
        ("Latin-1 scheme", cat(&[b"B\xe9arer ", token.as_bytes()]), merged_401_raw_400),
    ];
    for (what, value, (status, error)) in cases {
        let hits = env.stack.upstream_hits();
        let reply = env.send("/orders/1", &[("authorization", &value)]).await;
        assert_denied(&reply, status, error, &format!("{what} ({mode:?})"));
        assert_eq!(env.stack.upstream_hits(), hits, "{what}: must not reach the upstream");
    }

    // obs-text in an unrelated header does not disturb a valid token, and
    // reaches the app byte for byte (the echo shows it lossily decoded).
    let note: &[u8] = b"caf\xe9 \x80\xff end";
    let reply = env.send("/orders/1", &[("x-note", note), ("authorization", bearer.as_bytes())]).await;
    let saw = assert_alice(&reply, "obs-text in an unrelated header");
    assert_eq!(saw["x-note"], json!(String::from_utf8_lossy(note)), "{saw}");
    let reply =
        env.send("/orders/1", &[("x-note", "grüße".as_bytes()), ("authorization", bearer.as_bytes())]).await;
    let saw = assert_alice(&reply, "UTF-8 in an unrelated header");
    assert_eq!(saw["x-note"], json!("grüße"), "{saw}");
    let reply = env.send("/public/info", &[("x-note", note)]).await;
    let saw = assert_anonymous(&reply, "obs-text on an anonymous route");
    assert_eq!(saw["x-note"], json!(String::from_utf8_lossy(note)), "{saw}");

    // A forged identity header in obs-text is replaced / removed like any other.
    let forged: &[u8] = b"admin\xff\x80";
    let reply = env.send("/orders/1", &[("x-user-id", forged), ("authorization", bearer.as_bytes())]).await;
    assert_alice(&reply, "obs-text x-user-id with a token");
    let reply = env.send("/public/info", &[("x-user-id", forged), ("X-User-Scope", b"\xe9")]).await;
    assert_anonymous(&reply, "obs-text identity headers on an anonymous route");

    // NUL is not obs-text: Envoy's codec refuses it itself.
    let before = env.counts().await;
    let reply = env.send("/orders/1", &[("x-note", b"a\x00b"), ("authorization", bearer.as_bytes())]).await;
    env.assert_envoy_rejected(&reply, 400, before, "NUL in a header value").await;
    // A bare CR is dropped by Envoy's codec: the value arrives without it.
    let reply = env.send("/orders/1", &[("x-note", b"a\rb"), ("authorization", bearer.as_bytes())]).await;
    let saw = assert_alice(&reply, "bare CR in an unrelated header");
    assert_eq!(saw["x-note"], json!("ab"), "{saw}");
    let reply = env.send("/public/info", &[("x-user-id", b"ad\rmin")]).await;
    assert_anonymous(&reply, "bare CR in a forged x-user-id");
}

/// Case 4: header count and size against Envoy's limits (100 headers, 60 KiB).
/// The codec counts the lines the client sent. Since 1.37 ext_authz checks the
/// limit again after applying the authorization server's header mutations,
/// on the whole map: `:method`, `:path`, `x-forwarded-proto` and
/// `x-request-id` count there too, as do gatehouse's identity headers (the
/// removed `authorization` still counts). Over it, Envoy answers 500 itself
/// (`request_header_limits_reached`) and never forwards the request.
async fn long_header_lists(mode: Mode) {
    let env = Env::start(mode).await;
    let bearer = format!("Bearer {}", env.alice());
    let send_with = |n: usize, target: &'static str, token: bool| {
        send_fillers(&env, n, target, token.then_some(bearer.as_str()))
    };

    // 90 distinct headers (93 lines with host, authorization, connection).
    let reply = send_with(90, "/orders/1", true).await;
    let saw = assert_alice(&reply, "90 extra headers");
    for (name, value) in fillers(90) {
        assert_eq!(saw[name.as_str()], json!(value), "{name} reached the upstream unchanged");
    }
    let reply = send_with(91, "/orders/1", true).await;
    assert_alice(&reply, "91 extra headers");

    // 92 extra + host + authorization + connection = 95 lines: within the
    // codec's limit, but 95 + Envoy's 4 + gatehouse's 2 = 101 entries after
    // ext_authz's mutations: 500, upstream not reached. Anonymous: 95 extra
    // + host + connection + Envoy's 4 = 101, with nothing set by gatehouse.
    for (n, target, token) in [(92, "/orders/1", true), (97, "/orders/1", true), (95, "/public/info", false)]
    {
        let before = env.counts().await;
        let limits = env.header_limit_hits().await;
        let allows = env.gatehouse_allows().await;
        let reply = send_with(n, target, token).await;
        let what = format!("{n} extra headers on {target}");
        assert_eq!(reply.status, 500, "{what}: {reply:?}");
        assert!(!reply.is_from_upstream(), "{what}: {reply:?}");
        let after = env.counts().await;
        assert_eq!(after.upstream, before.upstream, "{what}: must not reach the upstream");
        // Envoy then counts neither `ok` nor `denied`, only the limit.
        assert_eq!(after.checks, before.checks, "{what}: {after:?}");
        assert_eq!(env.header_limit_hits().await, limits + 1, "{what}: request_header_limits_reached");
        assert_eq!(env.gatehouse_allows().await, allows + 1, "{what}: gatehouse allowed it");
    }
    // One fewer fits: 94 + 2 + 4 = 100 entries.
    let reply = send_with(94, "/public/info", false).await;
    assert_anonymous(&reply, "94 extra headers on an anonymous route");

    // Over the codec's limit (101 lines and more): 431 before ext_authz.
    for (n, target, token) in [(98, "/orders/1", true), (150, "/orders/1", true), (99, "/public/info", false)]
    {
        let before = env.counts().await;
        let reply = send_with(n, target, token).await;
        env.assert_envoy_rejected(&reply, 431, before, &format!("{n} extra headers on {target}")).await;
    }

    // One huge header just under the 60 KiB limit reaches gatehouse (in
    // `headers` or `header_map`) and the upstream intact.
    let big = "b".repeat(60 * 1024 - 1024);
    let reply =
        env.send("/orders/1", &[("x-big", big.as_bytes()), ("authorization", bearer.as_bytes())]).await;
    let saw = assert_alice(&reply, "a 59 KiB header");
    assert_eq!(saw["x-big"].as_str().map(str::len), Some(big.len()), "x-big arrived whole");
    // At the limit: Envoy refuses with 431.
    let huge = "b".repeat(60 * 1024);
    let before = env.counts().await;
    let reply =
        env.send("/orders/1", &[("x-big", huge.as_bytes()), ("authorization", bearer.as_bytes())]).await;
    env.assert_envoy_rejected(&reply, 431, before, "a 60 KiB header").await;

    // A huge bearer token fits Envoy but not gatehouse's max_token_bytes (8 KiB).
    let value = format!("Bearer {}", "a".repeat(50_000));
    let hits = env.stack.upstream_hits();
    let reply = env.send("/orders/1", &[("authorization", value.as_bytes())]).await;
    assert_denied(&reply, 401, "invalid_token", "a 50 kB token");
    assert_eq!(reply.json()["error_description"], "token is larger than allowed");
    assert_eq!(env.stack.upstream_hits(), hits);
}

/// `n` distinct `x-filler-NNN` headers.
fn fillers(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("x-filler-{i:03}"), format!("value-{i}"))).collect()
}

/// `GET target` with `n` filler headers and, if given, `Authorization: <bearer>`.
async fn send_fillers(env: &Env, n: usize, target: &str, bearer: Option<&str>) -> Reply {
    let list = fillers(n);
    let mut headers: Vec<Header<'_>> = list.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
    if let Some(bearer) = bearer {
        headers.push(("authorization", bearer.as_bytes()));
    }
    env.send(target, &headers).await
}

/// Case 5: a client sends the identity headers gatehouse owns. On an allow
/// the upstream sees gatehouse's value exactly once, or no such header.
async fn identity_header_spoofing(mode: Mode) {
    let env = Env::start(mode).await;
    let bearer = format!("Bearer {}", env.alice());
    let auth = ("authorization", bearer.as_bytes());
    let casings = ["x-user-id", "X-User-Id", "x-USER-id", "X-USER-ID", "x-User-ID"];

    for name in casings {
        let forged = [(name, b"admin".as_slice()), ("X-User-Scope", b"admin orders:write".as_slice())];
        let reply = env.send("/orders/1", &[forged[0], forged[1], auth]).await;
        assert_alice(&reply, &format!("{name} with a token"));
        // The token before the forgeries: order does not matter.
        let reply = env.send("/orders/1", &[auth, forged[0], forged[1]]).await;
        assert_alice(&reply, &format!("{name} after the token"));
        let reply = env.send("/public/info", &forged).await;
        assert_anonymous(&reply, &format!("{name} on an anonymous route"));
    }

    // Every casing at once, repeated, plus comma lists and empty values.
    let mut many: Vec<Header<'_>> = casings.iter().map(|name| (*name, b"admin".as_slice())).collect();
    many.extend([
        ("x-user-id", b"alice,admin".as_slice()),
        ("x-user-id", b"".as_slice()),
        ("x-user-scope", b"admin".as_slice()),
        ("X-USER-SCOPE", b"orders:read, admin".as_slice()),
        ("x-user-scope", b"".as_slice()),
    ]);
    let reply = env.send("/public/info", &many).await;
    assert_anonymous(&reply, "many copies on an anonymous route");
    let reply = env.send("/public/info", &[&many[..], &[auth][..]].concat()).await;
    assert_anonymous(&reply, "many copies and a (ignored) token on an anonymous route");
    let reply = env.send("/orders/1", &[&many[..], &[auth][..]].concat()).await;
    assert_alice(&reply, "many copies with a token");
    let reply = env.send("/orders/1", &[&[auth][..], &many[..]].concat()).await;
    assert_alice(&reply, "a token then many copies");

    // A token without a `scope` claim: gatehouse has no x-user-scope value,
    // so the client's copies are removed, not passed through.
    let scopeless = format!("Bearer {}", env.token("alice", None));
    let reply = env
        .send(
            "/other",
            &[("x-user-scope", b"admin"), ("X-User-Scope", b"root"), ("authorization", scopeless.as_bytes())],
        )
        .await;
    let saw = assert_upstream(&reply, "scope-less token with forged x-user-scope");
    assert_eq!(saw["x-user-id"], json!("alice"), "{saw}");
    assert!(saw.get("x-user-scope").is_none(), "a forged x-user-scope survived: {saw}");

    // A denied request never reaches the upstream, forged headers or not.
    let hits = env.stack.upstream_hits();
    let reply = env.send("/orders/1", &[("x-user-id", b"alice"), ("x-user-scope", b"orders:read")]).await;
    assert_denied(&reply, 401, "unauthorized", "forged identity without a token");
    assert_eq!(env.stack.upstream_hits(), hits);

    // A folded continuation line is joined into the forged value, and removed with it.
    let reply = env.send("/public/info", &[("x-user-id", b"admin\r\n x-user-scope: admin")]).await;
    assert_anonymous(&reply, "folded x-user-id on an anonymous route");
    let reply = env.send("/orders/1", &[("x-user-id", b"admin\r\n\tmore"), auth]).await;
    assert_alice(&reply, "folded x-user-id with a token");

    // Whitespace before the colon is refused by Envoy's codec.
    let before = env.counts().await;
    let reply = env.send("/public/info", &[("x-user-id ", b"admin")]).await;
    env.assert_envoy_rejected(&reply, 400, before, "whitespace before the colon").await;

    // Underscores: some app stacks map `_` and `-` to the same variable, so
    // the shipped configs set `headers_with_underscores_action: REJECT_REQUEST`
    // and Envoy refuses `x_user_id` before asking gatehouse.
    for (path, headers) in [
        ("/orders/1", vec![("x_user_id", b"admin".as_slice()), auth]),
        ("/public/info", vec![("X_User_Id", b"admin".as_slice())]),
    ] {
        let before = env.counts().await;
        let reply = env.send(path, &headers).await;
        env.assert_envoy_rejected(&reply, 400, before, "underscore spelling of an identity header").await;
    }
}

/// One `#[tokio::test]` per case and encoding, each with its own stack.
macro_rules! in_both_modes {
    ($($case:ident),* $(,)?) => {
        mod merged_headers {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Mode::Merged).await
                }
            )*
        }
        mod raw_header_map {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Mode::Raw).await
                }
            )*
        }
    };
}

in_both_modes!(
    duplicate_authorization_headers,
    bearer_scheme_casing_and_spacing,
    obs_text_header_values,
    long_header_lists,
    identity_header_spoofing,
);

/// With a cookie as a second token source, a bearer token hidden behind
/// another scheme in the joined `Authorization` value (`Basic ..,Bearer ..`)
/// or behind a no-break space must not be ignored: the request would pass on
/// the cookie's token while the upstream reads the header's. Refused (400)
/// as two credentials / a malformed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_hidden_behind_another_scheme_with_a_cookie_source() {
    let yaml = STACK_CONFIG.replace(
        "    forward_token: false\n",
        "    forward_token: false\n    token_sources:\n      - { header: authorization, prefix: \"Bearer \" }\n      - { cookie: access_token }\n",
    );
    let env = Env::start_with(Mode::Merged, &yaml).await;
    let cookie = format!("access_token={}", env.alice());
    let mallory = format!("Bearer {}", env.token("mallory", Some("orders:read")));
    let one_line = format!("Basic dXNlcjpwYXNz, {mallory}");
    let nbsp = mallory.replacen(' ', "\u{a0}", 1);

    // Baseline: a bearer header and a different cookie token are ambiguous.
    let reply =
        env.send("/orders/1", &[("authorization", mallory.as_bytes()), ("cookie", cookie.as_bytes())]).await;
    assert_denied(&reply, 400, "invalid_request", "bearer header and cookie");

    for (what, headers) in [
        (
            "Basic line, then a Bearer line, and a cookie",
            vec![
                ("authorization", b"Basic dXNlcjpwYXNz".as_slice()),
                ("authorization", mallory.as_bytes()),
                ("cookie", cookie.as_bytes()),
            ],
        ),
        (
            "`Basic .., Bearer ..` in one line, and a cookie",
            vec![("authorization", one_line.as_bytes()), ("cookie", cookie.as_bytes())],
        ),
        (
            "`Bearer<no-break space>..` and a cookie",
            vec![("authorization", nbsp.as_bytes()), ("cookie", cookie.as_bytes())],
        ),
    ] {
        let hits = env.stack.upstream_hits();
        let reply = env.send("/orders/1", &headers).await;
        assert_denied(&reply, 400, "invalid_request", what);
        assert_eq!(env.stack.upstream_hits(), hits, "{what}: must not reach the upstream");
    }
}
