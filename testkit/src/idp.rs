//! A fake identity provider served from the test itself on 127.0.0.1:0: a
//! JWKS at `/jwks.json`, an OIDC discovery document at
//! `/.well-known/openid-configuration` and an RFC 7662 introspection
//! endpoint at `/introspect`, each switchable at will, with separate request
//! counters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// Size of the [`Mode::Huge`] and [`Mode::HugeChunked`] bodies: 2 MiB.
pub const HUGE_BYTES: usize = 2 * 1024 * 1024;

/// What the fake IdP answers on `/jwks.json`.
#[derive(Clone)]
pub enum Mode {
    /// 200 with this JWKS document.
    Serve(String),
    /// 500.
    Fail,
    /// 200 with this body and content type (not a JWKS).
    Raw(&'static str, String),
    /// Never answers (sleeps a minute first): a hung IdP.
    Hang,
    /// 200 with a 2 MiB JWKS-looking JSON body, `content-length` set.
    Huge,
    /// The same 2 MiB body streamed in 64 KiB chunks without `content-length`.
    HugeChunked,
}

/// What the fake IdP answers on `/.well-known/openid-configuration`.
#[derive(Clone)]
pub enum Discovery {
    /// 404 (the default).
    Missing,
    /// 200 with `{"issuer": .., "jwks_uri": ..}` plus the usual extra fields.
    Document { issuer: String, jwks_uri: String },
    /// 200 with this body and content type.
    Raw(&'static str, String),
}

/// What the fake IdP answers on `/introspect` (to an authenticated client).
#[derive(Clone)]
pub enum Introspection {
    /// 200 with the answer set for the token by [`Idp::answer`], else
    /// `{"active": false}` (the default).
    Answers,
    /// 500.
    Fail,
    /// 200 with a body that is not an introspection response.
    Garbage,
    /// Never answers (sleeps a minute first).
    Hang,
}

/// The client the introspection endpoint accepts.
pub const CLIENT_ID: &str = "gatehouse";
/// Its secret (with characters RFC 6749 §2.3.1 form-encodes inside Basic).
pub const CLIENT_SECRET: &str = "s3cret:with+special&chars";

/// How the last introspection request authenticated its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

struct IdpState {
    mode: Mutex<Mode>,
    discovery: Mutex<Discovery>,
    introspection: Mutex<Introspection>,
    answers: Mutex<std::collections::HashMap<String, serde_json::Value>>,
    last_client_auth: Mutex<Option<ClientAuth>>,
    introspection_requests: AtomicUsize,
    /// The bound address, for the discovery document's endpoint URL.
    addr: OnceLock<SocketAddr>,
    /// Added before every answer (both paths).
    delay_ms: AtomicU64,
    jwks_requests: AtomicUsize,
    discovery_requests: AtomicUsize,
}

/// The fake IdP; stops when dropped.
pub struct Idp {
    pub addr: SocketAddr,
    state: Arc<IdpState>,
    task: tokio::task::JoinHandle<()>,
}

impl Idp {
    pub async fn start(mode: Mode) -> Idp {
        let state = Arc::new(IdpState {
            mode: Mutex::new(mode),
            discovery: Mutex::new(Discovery::Missing),
            delay_ms: AtomicU64::new(0),
            jwks_requests: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
            introspection: Mutex::new(Introspection::Answers),
            answers: Mutex::new(Default::default()),
            last_client_auth: Mutex::new(None),
            introspection_requests: AtomicUsize::new(0),
            addr: OnceLock::new(),
        });
        let router = Router::new()
            .route("/jwks.json", get(jwks_handler))
            .route("/.well-known/openid-configuration", get(discovery_handler))
            .route("/introspect", post(introspect_handler))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind idp");
        let addr = listener.local_addr().unwrap();
        let _ = state.addr.set(addr);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("idp server");
        });
        Idp { addr, state, task }
    }

    /// The JWKS URL.
    pub fn uri(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    /// The base URL to run discovery against (`jwks: { discovery: .. }`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn set_discovery(&self, discovery: Discovery) {
        *self.state.discovery.lock().unwrap() = discovery;
    }

    /// Delays every later answer by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests received on the JWKS path (counted on arrival).
    pub fn requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    /// Requests received on the discovery path (counted on arrival).
    pub fn discovery_requests(&self) -> usize {
        self.state.discovery_requests.load(Ordering::SeqCst)
    }

    /// The introspection endpoint's URL.
    pub fn introspection_uri(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    pub fn set_introspection(&self, mode: Introspection) {
        *self.state.introspection.lock().unwrap() = mode;
    }

    /// What `/introspect` answers for `token` from now on (an object with
    /// `active`, as RFC 7662 §2.2 describes).
    pub fn answer(&self, token: &str, answer: serde_json::Value) {
        self.state.answers.lock().unwrap().insert(token.to_owned(), answer);
    }

    /// Introspection requests received (counted on arrival, authenticated or not).
    pub fn introspections(&self) -> usize {
        self.state.introspection_requests.load(Ordering::SeqCst)
    }

    /// How the last authenticated introspection request sent its client credentials.
    pub fn last_client_auth(&self) -> Option<ClientAuth> {
        *self.state.last_client_auth.lock().unwrap()
    }

    /// Polls until the IdP has been asked for the JWKS at least `n` times.
    pub async fn wait_for_requests(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.requests() < n {
            assert!(
                Instant::now() < deadline,
                "the IdP got {} JWKS requests within {within:?}, expected at least {n}",
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn delay(state: &IdpState) {
    let ms = state.delay_ms.load(Ordering::SeqCst);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

fn json(body: impl Into<Body>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}

async fn jwks_handler(State(state): State<Arc<IdpState>>) -> Response {
    state.jwks_requests.fetch_add(1, Ordering::SeqCst);
    delay(&state).await;
    let mode = state.mode.lock().unwrap().clone();
    match mode {
        Mode::Serve(body) => json(body),
        Mode::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "idp is down").into_response(),
        Mode::Raw(content_type, body) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            (StatusCode::INTERNAL_SERVER_ERROR, "hung").into_response()
        }
        Mode::Huge => json(huge_body().clone()),
        Mode::HugeChunked => {
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                huge_body().chunks(64 * 1024).map(|c| Ok(huge_body().slice_ref(c))).collect();
            json(Body::from_stream(tokio_stream::iter(chunks)))
        }
    }
}

async fn discovery_handler(State(state): State<Arc<IdpState>>) -> Response {
    state.discovery_requests.fetch_add(1, Ordering::SeqCst);
    delay(&state).await;
    let discovery = state.discovery.lock().unwrap().clone();
    match discovery {
        Discovery::Missing => (StatusCode::NOT_FOUND, "no discovery here").into_response(),
        Discovery::Document { issuer, jwks_uri } => json(
            serde_json::json!({
                "issuer": issuer,
                "jwks_uri": jwks_uri,
                "introspection_endpoint": format!("http://{}/introspect", state.addr.get().expect("bound")),
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
            })
            .to_string(),
        ),
        Discovery::Raw(content_type, body) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
    }
}

/// RFC 7662 §2.1: a POST with `token`, from a client authenticated by Basic
/// (form-encoded id and secret, RFC 6749 §2.3.1) or by form members; 401
/// otherwise.
async fn introspect_handler(
    State(state): State<Arc<IdpState>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    state.introspection_requests.fetch_add(1, Ordering::SeqCst);
    delay(&state).await;
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let Some(auth) = client_auth(&headers, &form) else {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic")], "bad client")
            .into_response();
    };
    *state.last_client_auth.lock().unwrap() = Some(auth);
    let mode = state.introspection.lock().unwrap().clone();
    match mode {
        Introspection::Answers => {
            let Some(token) = form.get("token") else {
                return (StatusCode::BAD_REQUEST, "no token").into_response();
            };
            let answers = state.answers.lock().unwrap();
            let answer = answers.get(token).cloned().unwrap_or(serde_json::json!({ "active": false }));
            json(answer.to_string())
        }
        Introspection::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "as is down").into_response(),
        Introspection::Garbage => json(r#"{"activ": true, "sub": "x"}"#),
        Introspection::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            (StatusCode::INTERNAL_SERVER_ERROR, "hung").into_response()
        }
    }
}

/// Which way the request authenticated [`CLIENT_ID`], if it did.
fn client_auth(
    headers: &axum::http::HeaderMap,
    form: &std::collections::HashMap<String, String>,
) -> Option<ClientAuth> {
    use base64::Engine;
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let encoded = value.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let decode = |s: &str| -> String {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return (decode(id) == CLIENT_ID
            && decode(secret) == CLIENT_SECRET
            && !form.contains_key("client_secret"))
        .then_some(ClientAuth::Basic);
    }
    let id = form.get("client_id")?;
    let secret = form.get("client_secret")?;
    (id == CLIENT_ID && secret == CLIENT_SECRET).then_some(ClientAuth::Post)
}

/// 2 MiB of well-formed JWKS JSON: many EC keys, built once.
fn huge_body() -> &'static Bytes {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    BODY.get_or_init(|| {
        let coordinate = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let mut body = String::from(r#"{"keys":["#);
        let mut i = 0;
        while body.len() < HUGE_BYTES {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"kty":"EC","use":"sig","alg":"ES256","kid":"pad-{i:06}","crv":"P-256","x":"{coordinate}","y":"{coordinate}"}}"#
            ));
            i += 1;
        }
        body.push_str("]}");
        Bytes::from(body)
    })
}
