//! A rule's `requires` (jwt_authn's `JwtRequirement` tree) as a gatehouse
//! action. jwt_authn's tree is first read as [`Need`]: which requests it lets
//! through when a request carries at most one token (gatehouse refuses two
//! different ones). A `Need` that gatehouse cannot state exactly is written
//! as the nearest action with a note that counts as a decision change.
//!
//! How jwt_authn evaluates the tree (Envoy 1.40, `verifier.cc`):
//! - `provider_name`: a token at the provider's locations must verify with it;
//! - `requires_any`: one child must pass; `allow_missing` and
//!   `allow_missing_or_failed` among its children are not verifiers but
//!   flags: the group also passes when every child found no token (the first),
//!   or whatever happened (the second);
//! - `requires_all`: every child must pass;
//! - `allow_missing` alone: a token at any provider's locations must verify,
//!   no token passes; `allow_missing_or_failed` alone: everything passes;
//! - no requirement: nothing is verified.

use std::collections::HashMap;

use super::input::Node;
use super::model::{Action, Note};
use super::providers::{sanitize_audience, unknown_field, Mapped};
use super::ImportError;

/// What a requirement lets through.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Need {
    /// Nothing is verified: every request passes.
    Nothing,
    /// A token that satisfies the tree.
    Token(Tree),
    /// A token is verified when one is found at the locations of `over`'s
    /// providers (every provider's when `None`); without one the request passes.
    Optional { over: Option<Tree> },
    /// Every request passes; a token is verified when there is one.
    Always,
}

/// Which verified tokens satisfy a requirement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tree {
    /// Verified by this (gatehouse-named) provider; with `audiences`
    /// (as jwt_authn compares them) in place of the provider's own.
    Provider {
        name: String,
        audiences: Option<Vec<String>>,
    },
    Any(Vec<Tree>),
    All(Vec<Tree>),
}

/// What a requirement refers to: the providers, and `requirement_map`.
pub(crate) struct Context<'a> {
    pub(crate) providers: &'a [Mapped],
    pub(crate) named: HashMap<&'a str, Node<'a>>,
}

impl Context<'_> {
    fn provider(&self, node: &Node<'_>) -> Result<&Mapped, ImportError> {
        let name = node.string()?;
        self.providers
            .iter()
            .find(|p| p.input == name)
            .ok_or_else(|| node.invalid(format!("no provider `{name}` in `providers`")))
    }
}

const KINDS: [&str; 6] = [
    "provider_name",
    "provider_and_audiences",
    "requires_any",
    "requires_all",
    "allow_missing",
    "allow_missing_or_failed",
];

/// A `JwtRequirement`, with notes on what gatehouse will decide differently.
pub(crate) fn need(
    node: &Node<'_>,
    context: &Context<'_>,
    notes: &mut Vec<Note>,
) -> Result<Need, ImportError> {
    node.object()?;
    let set: Vec<(&str, Node<'_>)> =
        KINDS.iter().filter_map(|kind| node.get(kind).map(|value| (*kind, value))).collect();
    notes.extend(node.unknown_fields(&KINDS).into_iter().map(unknown_field));
    let (kind, value) = match set.as_slice() {
        [] => return Ok(Need::Nothing),
        [(kind, value)] => (*kind, value),
        _ => return Err(node.invalid(format!("expected at most one of {}", KINDS.join(", ")))),
    };
    match kind {
        "provider_name" => {
            let provider = context.provider(value)?;
            Ok(Need::Token(Tree::Provider { name: provider.provider.name.clone(), audiences: None }))
        }
        "provider_and_audiences" => provider_and_audiences(value, context, notes),
        "requires_any" => any(&value.required("requirements")?, context, notes),
        "requires_all" => all(&value.required("requirements")?, context, notes),
        "allow_missing" => Ok(Need::Optional { over: None }),
        _ => Ok(Need::Always),
    }
}

fn provider_and_audiences(
    node: &Node<'_>,
    context: &Context<'_>,
    notes: &mut Vec<Note>,
) -> Result<Need, ImportError> {
    let provider = context.provider(&node.required("provider_name")?)?;
    let mut audiences: Vec<String> = Vec::new();
    if let Some(list) = node.get("audiences") {
        for audience in list.strings()? {
            let audience = sanitize_audience(audience);
            if !audience.is_empty() && !audiences.contains(&audience) {
                audiences.push(audience);
            }
        }
    }
    let name = provider.provider.name.clone();
    if audiences.is_empty() {
        return Ok(Need::Token(Tree::Provider { name, audiences: None }));
    }
    // jwt_authn checks these audiences instead of the provider's; gatehouse
    // checks the provider's first, then these as a claim condition.
    let outside: Vec<&String> = audiences.iter().filter(|a| !provider.audiences.contains(a)).collect();
    if !provider.audiences.is_empty() && !outside.is_empty() {
        notes.push(Note::decision(format!(
            "{}: jwt_authn checks these audiences instead of provider `{}`'s; gatehouse checks the provider's audiences first, so a token for {:?} is refused",
            node.path, provider.input, outside
        )));
    }
    Ok(Need::Token(Tree::Provider { name, audiences: Some(audiences) }))
}

/// `requires_any`: its `allow_missing*` children are flags on the group.
fn any(list: &Node<'_>, context: &Context<'_>, notes: &mut Vec<Note>) -> Result<Need, ImportError> {
    let (mut allow_missing, mut allow_failed) = (false, false);
    let mut children = Vec::new();
    for item in non_empty(list)? {
        match need(&item, context, notes)? {
            Need::Optional { over: None } if item.get("allow_missing").is_some() => allow_missing = true,
            Need::Always if item.get("allow_missing_or_failed").is_some() => allow_failed = true,
            other => children.push(other),
        }
    }
    if children.is_empty() {
        // Envoy turns a group of only flags into the flag's own verifier.
        return Ok(match (allow_failed, allow_missing) {
            (true, _) => Need::Always,
            (false, true) => Need::Optional { over: None },
            (false, false) => Need::Nothing,
        });
    }
    if children.contains(&Need::Nothing) {
        return Ok(Need::Nothing);
    }
    if allow_failed || children.contains(&Need::Always) {
        return Ok(Need::Always);
    }
    let mut trees = Vec::new();
    let mut optional = allow_missing;
    for child in children {
        match child {
            Need::Token(tree) => trees.push(tree),
            Need::Optional { over: Some(tree) } => {
                optional = true;
                trees.push(tree);
            }
            // A nested group that passes without a token on any provider's locations.
            _ => return Ok(Need::Optional { over: None }),
        }
    }
    let tree = flatten_any(trees);
    Ok(if optional { Need::Optional { over: Some(tree) } } else { Need::Token(tree) })
}

/// `requires_all`: every child must pass.
fn all(list: &Node<'_>, context: &Context<'_>, notes: &mut Vec<Note>) -> Result<Need, ImportError> {
    let mut trees = Vec::new();
    let (mut optionals, mut always) = (Vec::new(), false);
    for item in non_empty(list)? {
        match need(&item, context, notes)? {
            Need::Nothing => {}
            Need::Always => always = true,
            Need::Token(tree) => trees.push(tree),
            Need::Optional { over } => optionals.push(over),
        }
    }
    if trees.is_empty() && optionals.len() > 1 && optionals.iter().any(Option::is_some) {
        notes.push(Note::decision(format!(
            "{}: several optional groups over different providers: gatehouse reads them as the last one",
            list.path
        )));
    }
    // A token verified for one of the providers also satisfies an
    // allow_missing over every provider beside it, not always one over some.
    if !trees.is_empty() && optionals.iter().any(Option::is_some) {
        notes.push(Note::decision(format!(
            "{}: an optional group over some providers beside a required token: jwt_authn also refuses a token the optional group finds at its providers' locations and cannot verify; gatehouse only requires the token",
            list.path
        )));
    }
    let optional = optionals.pop();
    if !trees.is_empty() {
        let names = provider_names(&Tree::All(trees.clone()));
        if names.len() > 1 {
            notes.push(Note::decision(format!(
                "{}: jwt_authn passes a request with one valid token for each of {names:?} (each at its own locations); gatehouse verifies one token per request, with one provider, and refuses two different ones (400): such requests are denied",
                list.path
            )));
        }
        return Ok(Need::Token(if trees.len() == 1 { trees.remove(0) } else { Tree::All(trees) }));
    }
    Ok(match (optional, always) {
        (Some(over), _) => Need::Optional { over },
        (None, true) => Need::Always,
        (None, false) => Need::Nothing,
    })
}

fn non_empty<'a>(list: &Node<'a>) -> Result<Vec<Node<'a>>, ImportError> {
    let items = list.items()?;
    if items.is_empty() {
        return Err(list.invalid("empty: jwt_authn needs requirements in a group"));
    }
    Ok(items)
}

fn flatten_any(mut trees: Vec<Tree>) -> Tree {
    if trees.len() == 1 {
        return trees.remove(0);
    }
    let mut flat = Vec::new();
    for tree in trees {
        match tree {
            Tree::Any(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    Tree::Any(flat)
}

/// Every provider a tree names, in order, once.
pub(crate) fn provider_names(tree: &Tree) -> Vec<String> {
    let mut names = Vec::new();
    collect_names(tree, &mut names);
    names
}

fn collect_names(tree: &Tree, names: &mut Vec<String>) {
    match tree {
        Tree::Provider { name, .. } => {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        Tree::Any(children) | Tree::All(children) => children.iter().for_each(|c| collect_names(c, names)),
    }
}

/// The gatehouse action for a rule's need, with the notes that say how it differs.
pub(crate) fn action(need: &Need, all_providers: &[String], path: &str, notes: &mut Vec<Note>) -> Action {
    match need {
        Need::Nothing => Action::Anonymous,
        Need::Token(tree) => Action::Require(super::require::require(tree)),
        Need::Optional { over: None } => Action::Optional,
        Need::Optional { over: Some(tree) } => {
            let plain = matches!(tree, Tree::Provider { audiences: None, .. })
                || matches!(tree, Tree::Any(children) if children.iter().all(|c| matches!(c, Tree::Provider { audiences: None, .. })));
            let names = provider_names(tree);
            if !(plain && all_providers.iter().all(|p| names.contains(p))) {
                notes.push(Note::decision(format!(
                    "{path}: jwt_authn verifies a token only at the locations of {names:?} (and only against them) and lets a request with no token there through; gatehouse's `allow: optional` verifies a token of any provider wherever it is configured, so a token of another provider (or issuer) is decided differently"
                )));
            }
            Action::Optional
        }
        Need::Always => {
            notes.push(Note::decision(format!(
                "{path}: allow_missing_or_failed lets even an invalid or expired token through; gatehouse never does: `allow: optional` verifies a token when there is one and answers 401 when it fails (`allow: anonymous` would let every request through, without identity headers)"
            )));
            Action::Optional
        }
    }
}
