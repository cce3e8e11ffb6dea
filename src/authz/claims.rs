//! The claims a verified token keeps for the Checks that reuse it.
//!
//! A cached token is held for every request of its user, so it keeps only the
//! claims something reads after verification — rules' claim conditions and
//! scopes, identity headers, dynamic metadata, the decision log's subject —
//! in one sorted boxed slice. A `serde_json::Map` would cost a B-tree node
//! sized for eleven members even for three, and the dropped claims (`email`,
//! `roles`, nested `org`, …) were most of a cached token's memory.

use std::ops::Index;
use std::sync::Arc;

use serde_json::{Map, Value};

/// A token's claims, sorted by name; lookups are a binary search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims(Box<[(Arc<str>, Value)]>);

impl Claims {
    /// Every member of `map`.
    pub(crate) fn from_map(map: Map<String, Value>) -> Self {
        let mut members: Vec<(Arc<str>, Value)> = map.into_iter().map(|(k, v)| (k.into(), v)).collect();
        // A `Map` iterates in key order unless serde_json's `preserve_order` is on.
        members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Self(members.into_boxed_slice())
    }

    /// These claims without the ones `kept` leaves out.
    pub(crate) fn keeping(self, kept: &KeptClaims) -> Self {
        match kept {
            KeptClaims::All => self,
            KeptClaims::Only(names) => {
                // A kept claim's name is the policy's copy, shared by every cached token.
                let kept = self.0.into_vec().into_iter().filter_map(|(name, value)| {
                    let index = names.binary_search_by(|kept| (**kept).cmp(&*name)).ok()?;
                    Some((names[index].clone(), value))
                });
                Self(kept.collect())
            }
        }
    }

    /// The claim named `name`, if the token has it (and it was kept).
    pub fn get(&self, name: &str) -> Option<&Value> {
        let index = self.0.binary_search_by(|(key, _)| (**key).cmp(name)).ok()?;
        Some(&self.0[index].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every claim, by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(|(name, value)| (&**name, value))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The claims as a JSON object.
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter().map(|(name, value)| (name.to_owned(), value.clone())).collect()
    }
}

/// `claims["sub"]`: the claim, or `null` when absent (as `Map` indexes).
impl Index<&str> for Claims {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

/// Which top-level claims a provider's verified tokens keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeptClaims {
    /// Every claim (`dynamic_metadata.all_claims`).
    All,
    /// These names, sorted and unique.
    Only(Box<[Arc<str>]>),
}

impl KeptClaims {
    /// The named claims, besides the ones every policy reads: `sub` (the
    /// decision log's subject hash) and `scope`/`scp` (scope requirements).
    pub(crate) fn named<'n>(names: impl IntoIterator<Item = &'n str>) -> Self {
        let mut kept: Vec<Arc<str>> =
            ["sub", "scope", "scp"].into_iter().chain(names).map(Arc::from).collect();
        kept.sort_unstable();
        kept.dedup();
        Self::Only(kept.into_boxed_slice())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => Claims::from_map(map),
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn lookups_find_every_member_and_nothing_else() {
        let all = claims(json!({ "sub": "alice", "aud": "api", "exp": 5, "zz": [1], "org": { "id": 1 } }));
        assert_eq!(all.len(), 5);
        for (name, value) in
            [("sub", json!("alice")), ("aud", json!("api")), ("exp", json!(5)), ("zz", json!([1]))]
        {
            assert_eq!(all.get(name), Some(&value), "{name}");
        }
        assert_eq!(all["org"]["id"], 1);
        assert_eq!(all.get("missing"), None);
        assert_eq!(all["missing"], Value::Null);
        let names: Vec<&str> = all.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["aud", "exp", "org", "sub", "zz"], "sorted");
    }

    #[test]
    fn keeping_drops_what_nothing_reads() {
        let all =
            json!({ "sub": "alice", "scope": "a b", "email": "a@x", "org": { "id": 1 }, "tenant": "t" });
        let kept = claims(all.clone()).keeping(&KeptClaims::named(["org"]));
        assert_eq!(
            Value::Object(kept.to_map()),
            json!({ "sub": "alice", "scope": "a b", "org": { "id": 1 } })
        );
        let everything = claims(all.clone()).keeping(&KeptClaims::All);
        assert_eq!(Value::Object(everything.to_map()), all);
        assert_eq!(
            KeptClaims::named(["tenant", "sub", "tenant"]),
            KeptClaims::Only(["scope", "scp", "sub", "tenant"].map(Arc::from).into())
        );
    }
}
