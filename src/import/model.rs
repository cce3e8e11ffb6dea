//! The gatehouse config the importer writes, as data: what the mapping
//! decides, kept apart from how it is printed (`emit`), so that the tests
//! can check a mapping without parsing YAML back.

use std::time::Duration;

/// A remark printed as a YAML comment next to what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub(crate) text: String,
    /// The output decides some request differently from jwt_authn because of it.
    pub(crate) changes_decision: bool,
}

impl Note {
    /// A remark that changes no allow/deny decision.
    pub(crate) fn info(text: impl Into<String>) -> Self {
        Self { text: text.into(), changes_decision: false }
    }

    /// A part of the input the output decides differently.
    pub(crate) fn decision(text: impl Into<String>) -> Self {
        Self { text: text.into(), changes_decision: true }
    }
}

/// The whole output.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    /// The input file as the user named it.
    pub(crate) source: String,
    /// Remarks on the filter as a whole (top-level fields).
    pub(crate) notes: Vec<Note>,
    pub(crate) providers: Vec<Provider>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) bypass_cors_preflight: bool,
}

impl Document {
    /// Every note, wherever it is printed.
    pub(crate) fn all_notes(&self) -> impl Iterator<Item = &Note> {
        let providers = self.providers.iter().flat_map(|p| &p.notes);
        self.notes.iter().chain(providers).chain(self.rules.iter().flat_map(|r| &r.notes))
    }

    /// The notes of parts the output decides differently.
    pub(crate) fn decision_changes(&self) -> Vec<&Note> {
        self.all_notes().filter(|note| note.changes_decision).collect()
    }
}

/// `providers[]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Provider {
    pub(crate) name: String,
    pub(crate) notes: Vec<Note>,
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    /// `None`: gatehouse's default for a JWKS provider.
    pub(crate) algorithms: Option<Vec<&'static str>>,
    pub(crate) jwks: Jwks,
    pub(crate) token_sources: Vec<TokenSource>,
    /// `None`: gatehouse's default (60 s, as jwt_authn's).
    pub(crate) clock_skew: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) require_expiration: bool,
    /// `(claim, header)` pairs.
    pub(crate) claims_to_headers: Vec<(String, String)>,
    pub(crate) payload_header: Option<String>,
    pub(crate) forward_token: bool,
}

/// `providers[].jwks`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Jwks {
    pub(crate) source: JwksSource,
    pub(crate) refresh_interval: Option<Duration>,
    pub(crate) max_stale: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) allow_http: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwksSource {
    Uri(String),
    File(String),
    /// A JWKS document, compact JSON.
    Inline(String),
}

impl Default for JwksSource {
    fn default() -> Self {
        JwksSource::File(String::new())
    }
}

/// `providers[].token_sources[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    Header { name: String, prefix: Option<String> },
    Query(String),
    Cookie(String),
}

/// `rules[]`: a rule, or one left out (`body: None`) with notes saying why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) notes: Vec<Note>,
    pub(crate) body: Option<RuleBody>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleBody {
    pub(crate) matcher: Match,
    pub(crate) action: Action,
}

/// `rules[].match`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) path: Option<String>,
    pub(crate) path_prefix: Option<String>,
    pub(crate) path_regex: Option<String>,
    pub(crate) methods: Vec<String>,
    pub(crate) headers: Vec<HeaderMatch>,
}

/// `match.headers[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderMatch {
    pub(crate) name: String,
    pub(crate) test: HeaderTest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderTest {
    Exact(String),
    Prefix(String),
    Regex(String),
    Present(bool),
}

/// `rules[].allow` or `rules[].require`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Anonymous,
    Optional,
    Require(Require),
}

/// A `require:` block (and each nested one).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Require {
    pub(crate) providers: Vec<String>,
    pub(crate) claims: Vec<Claim>,
    pub(crate) any_of: Vec<Require>,
    pub(crate) all_of: Vec<Require>,
}

/// `require.claims[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) claim: String,
    pub(crate) test: ClaimTest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimTest {
    Contains(String),
    Regex(String),
}
