//! `rules[]`: which requests need which identity.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// One rule. Set `allow` or `require`, not both.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RuleConfig {
    /// Optional name, unique; shown in logs and metrics, and what Envoy routes
    /// select with the `gatehouse_rule` context extension.
    pub(crate) name: Option<String>,
    /// Conditions on the request, all ANDed. Empty matches every request.
    #[serde(rename = "match")]
    pub(crate) matcher: MatchConfig,
    /// Let the request through without (`anonymous`) or with an optional token.
    pub(crate) allow: Option<AllowMode>,
    /// What the token must satisfy.
    pub(crate) require: Option<RequireConfig>,
}

/// `rules[].match`. Paths are compared after normalization (dot segments
/// resolved, unreserved escapes decoded, `//` merged), without the query.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct MatchConfig {
    /// Host, exact (`api.example.com`) or a wildcard for any subdomain
    /// (`*.example.com`); case-insensitive, port ignored.
    pub(crate) host: Option<String>,
    /// Exact path.
    pub(crate) path: Option<String>,
    /// Path prefix on segment boundaries: `/api` matches `/api` and `/api/x`, not `/apix`.
    pub(crate) path_prefix: Option<String>,
    /// Regular expression (Rust `regex` syntax) the whole path must match.
    pub(crate) path_regex: Option<String>,
    /// HTTP methods (case-insensitive). Empty: any method.
    pub(crate) methods: Vec<String>,
    /// Header conditions.
    pub(crate) headers: Vec<HeaderMatchConfig>,
}

/// `match.headers[]`: a header name and exactly one condition.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderMatchConfig {
    /// Header name (case-insensitive).
    pub(crate) name: String,
    /// The value equals this exactly.
    #[serde(default)]
    pub(crate) exact: Option<String>,
    /// The value starts with this.
    #[serde(default)]
    pub(crate) prefix: Option<String>,
    /// Regular expression the whole value must match.
    #[serde(default)]
    pub(crate) regex: Option<String>,
    /// `true`: the header must be present; `false`: it must be absent.
    #[serde(default)]
    pub(crate) present: Option<bool>,
}

/// `rules[].allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AllowMode {
    /// No token needed; a presented token is ignored and identity headers are stripped.
    Anonymous,
    /// A token is verified if present (an invalid one is still a 401); identity
    /// headers only when it verified.
    Optional,
}

/// `rules[].require` (and each entry of `any_of` / `all_of`). All stated
/// conditions must hold.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RequireConfig {
    /// The token must verify with one of these providers. Empty: any provider.
    pub(crate) providers: Vec<String>,
    /// Every one of these scopes (from `scope`, or `scp`/`scope` arrays).
    pub(crate) scopes_all: Vec<String>,
    /// At least one of these scopes.
    pub(crate) scopes_any: Vec<String>,
    /// Claim conditions, all of which must hold.
    pub(crate) claims: Vec<ClaimRequirementConfig>,
    /// At least one of these requirements.
    pub(crate) any_of: Vec<RequireConfig>,
    /// Every one of these requirements.
    pub(crate) all_of: Vec<RequireConfig>,
}

/// `require.claims[]`: a claim path and exactly one condition.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimRequirementConfig {
    /// Claim name; dots walk into nested objects (`org.id`).
    pub(crate) claim: String,
    /// The claim equals this JSON value.
    #[serde(default)]
    pub(crate) equals: Option<Value>,
    /// The claim equals one of these values.
    #[serde(default)]
    pub(crate) one_of: Option<Vec<Value>>,
    /// The claim is an array containing this value (or a space-delimited
    /// string containing this word).
    #[serde(default)]
    pub(crate) contains: Option<Value>,
    /// The claim is a string starting with this.
    #[serde(default)]
    pub(crate) prefix: Option<String>,
    /// The claim is a string the whole of which matches this regex.
    #[serde(default)]
    pub(crate) regex: Option<String>,
}
