//! `rules[]`: which requests need which identity.

use serde::Deserialize;
use serde_json::Value;

/// One rule. Set `allow` or `require`, not both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Optional name, unique; shown in logs and metrics, and what Envoy routes
    /// select with the `gatehouse_rule` context extension.
    #[serde(default)]
    pub name: Option<String>,
    /// Conditions on the request, all ANDed. Empty matches every request.
    #[serde(default, rename = "match")]
    pub matcher: MatchConfig,
    /// Let the request through without (`anonymous`) or with an optional token.
    #[serde(default)]
    pub allow: Option<AllowMode>,
    /// What the token must satisfy.
    #[serde(default)]
    pub require: Option<RequireConfig>,
}

/// `rules[].match`. Paths are compared after normalization (dot segments
/// resolved, unreserved escapes decoded, `//` merged), without the query.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// Host, exact (`api.example.com`) or a wildcard for any subdomain
    /// (`*.example.com`); case-insensitive, port ignored.
    #[serde(default)]
    pub host: Option<String>,
    /// Exact path.
    #[serde(default)]
    pub path: Option<String>,
    /// Path prefix on segment boundaries: `/api` matches `/api` and `/api/x`, not `/apix`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Regular expression (Rust `regex` syntax) the whole path must match.
    #[serde(default)]
    pub path_regex: Option<String>,
    /// HTTP methods (case-insensitive). Empty: any method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Header conditions.
    #[serde(default)]
    pub headers: Vec<HeaderMatchConfig>,
}

/// `match.headers[]`: a header name and exactly one condition.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatchConfig {
    /// Header name (case-insensitive).
    pub name: String,
    #[serde(default)]
    pub exact: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    /// Regular expression the whole value must match.
    #[serde(default)]
    pub regex: Option<String>,
    /// `true`: the header must be present; `false`: it must be absent.
    #[serde(default)]
    pub present: Option<bool>,
}

/// `rules[].allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowMode {
    /// No token needed; a presented token is ignored and identity headers are stripped.
    Anonymous,
    /// A token is verified if present (an invalid one is still a 401); identity
    /// headers only when it verified.
    Optional,
}

/// `rules[].require` (and each entry of `any_of` / `all_of`). All stated
/// conditions must hold.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequireConfig {
    /// The token must verify with one of these providers. Empty: any provider.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Every one of these scopes (from `scope`, or `scp`/`scope` arrays).
    #[serde(default)]
    pub scopes_all: Vec<String>,
    /// At least one of these scopes.
    #[serde(default)]
    pub scopes_any: Vec<String>,
    /// Claim conditions, all of which must hold.
    #[serde(default)]
    pub claims: Vec<ClaimRequirementConfig>,
    /// At least one of these requirements.
    #[serde(default)]
    pub any_of: Vec<RequireConfig>,
    /// Every one of these requirements.
    #[serde(default)]
    pub all_of: Vec<RequireConfig>,
}

/// `require.claims[]`: a claim path and exactly one condition.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequirementConfig {
    /// Claim name; dots walk into nested objects (`org.id`).
    pub claim: String,
    /// The claim equals this JSON value.
    #[serde(default)]
    pub equals: Option<Value>,
    /// The claim equals one of these values.
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    /// The claim is an array containing this value (or a space-delimited
    /// string containing this word).
    #[serde(default)]
    pub contains: Option<Value>,
    /// The claim is a string starting with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The claim is a string the whole of which matches this regex.
    #[serde(default)]
    pub regex: Option<String>,
}
