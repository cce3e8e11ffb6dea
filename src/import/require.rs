//! A [`Tree`] of jwt_authn requirements as a gatehouse `require:` block.
//!
//! gatehouse verifies the token with the providers listed at the top of the
//! block; nested blocks only choose which branch holds. So the top lists
//! every provider the tree names, and `any_of`/`all_of` keep the structure
//! when a branch says more than "this provider".

use super::model::{Claim, ClaimTest, Require};
use super::providers::spellings;
use super::requires::{provider_names, Tree};

/// The `require:` block for `tree`.
pub(crate) fn require(tree: &Tree) -> Require {
    let mut block = branch(tree);
    block.providers = provider_names(tree);
    block
}

fn branch(tree: &Tree) -> Require {
    match tree {
        Tree::Provider { name, audiences } => Require {
            providers: vec![name.clone()],
            any_of: audiences.as_deref().map(audience_condition).unwrap_or_default(),
            ..Require::default()
        },
        Tree::Any(children) if children.iter().all(is_plain) => {
            Require { providers: provider_names(tree), ..Require::default() }
        }
        Tree::Any(children) => Require {
            providers: provider_names(tree),
            any_of: children.iter().map(branch).collect(),
            ..Require::default()
        },
        Tree::All(children) => Require {
            providers: provider_names(tree),
            all_of: children.iter().map(branch).collect(),
            ..Require::default()
        },
    }
}

/// A provider without an audience condition of its own.
fn is_plain(tree: &Tree) -> bool {
    matches!(tree, Tree::Provider { audiences: None, .. })
}

/// `aud` names one of `audiences` as jwt_authn compares them: a string
/// matching one of their spellings, or an array holding one.
fn audience_condition(audiences: &[String]) -> Vec<Require> {
    let alternatives: Vec<String> = audiences.iter().map(|a| regex::escape(a)).collect();
    let pattern = format!("(?:https?://)?(?:{})/?", alternatives.join("|"));
    let claim =
        |test| Require { claims: vec![Claim { claim: "aud".to_owned(), test }], ..Require::default() };
    let mut any_of = vec![claim(ClaimTest::Regex(pattern))];
    any_of.extend(spellings(audiences).into_iter().map(|spelling| claim(ClaimTest::Contains(spelling))));
    any_of
}
