//! [`RevocationSet`]: the revocations in force, indexed for the Check path.
//! Immutable: a change builds a new set and swaps it in whole.

use foldhash::HashMap;
use serde_json::{Map, Value};

use super::entry::{Revocation, Selector};

/// What a revocation can name in a verified token, taken from its claims
/// once, when it is verified, and read on every Check of it after that.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TokenIds {
    jti: Option<Box<str>>,
    sid: Option<Box<str>>,
    sub: Option<Box<str>>,
    /// A numeric `iat`; anything else counts as none.
    iat: Option<f64>,
}

impl TokenIds {
    pub(crate) fn of(claims: &Map<String, Value>) -> Self {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(Box::from);
        Self {
            jti: text("jti"),
            sid: text("sid"),
            sub: text("sub"),
            iat: claims.get("iat").and_then(Value::as_f64),
        }
    }
}

/// A time cut-off: tokens issued before `issued_before` are revoked while
/// the entry lives.
#[derive(Debug, Clone, Copy)]
struct Cutoff {
    issued_before: u64,
    expires_at: u64,
}

/// One issuer's revocations.
#[derive(Debug, Default)]
struct IssuerIndex {
    /// `jti` → when the entry expires.
    jtis: HashMap<Box<str>, u64>,
    /// `sid` → when the entry expires.
    sids: HashMap<Box<str>, u64>,
    /// `sub` → its cut-offs (several entries may name one subject).
    subs: HashMap<Box<str>, Vec<Cutoff>>,
    /// Cut-offs of the whole issuer.
    everyone: Vec<Cutoff>,
}

/// The revocations in force, by issuer.
#[derive(Debug, Default)]
pub(crate) struct RevocationSet {
    by_issuer: HashMap<Box<str>, IssuerIndex>,
    len: usize,
}

impl RevocationSet {
    /// Indexes the entries still live at `now`.
    pub(crate) fn build<'a>(entries: impl IntoIterator<Item = &'a Revocation>, now: u64) -> Self {
        let mut set = RevocationSet::default();
        for entry in entries.into_iter().filter(|e| e.is_live(now)) {
            let index = set.by_issuer.entry(entry.issuer.as_str().into()).or_default();
            let expires_at = entry.expires_at;
            match &entry.selector {
                Selector::Jti { jti } => {
                    keep_latest(index.jtis.entry(jti.as_str().into()).or_default(), expires_at)
                }
                Selector::Sid { sid } => {
                    keep_latest(index.sids.entry(sid.as_str().into()).or_default(), expires_at)
                }
                Selector::Sub { sub, issued_before } => index
                    .subs
                    .entry(sub.as_str().into())
                    .or_default()
                    .push(Cutoff { issued_before: *issued_before, expires_at }),
                Selector::Issuer { issued_before } => {
                    index.everyone.push(Cutoff { issued_before: *issued_before, expires_at })
                }
            }
            set.len += 1;
        }
        set
    }

    /// Live entries indexed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether a token of `issuer` with these verified claims is revoked at
    /// `now`. A token without `iat` under a subject or issuer cut-off is
    /// revoked (nothing shows it was issued after); a token without `jti` or
    /// `sid` is never matched by those entries.
    pub(crate) fn is_revoked(&self, issuer: &str, token: &TokenIds, now: u64) -> bool {
        let Some(index) = self.by_issuer.get(issuer) else { return false };
        let live = |expires_at: &u64| now < *expires_at;
        let named = |ids: &HashMap<Box<str>, u64>, id: &Option<Box<str>>| {
            !ids.is_empty() && id.as_deref().and_then(|id| ids.get(id)).is_some_and(live)
        };
        if named(&index.jtis, &token.jti) || named(&index.sids, &token.sid) {
            return true;
        }
        let cuts = |cutoffs: &[Cutoff]| {
            cutoffs
                .iter()
                .any(|c| now < c.expires_at && token.iat.is_none_or(|iat| iat < c.issued_before as f64))
        };
        cuts(&index.everyone)
            || (!index.subs.is_empty()
                && token.sub.as_deref().and_then(|sub| index.subs.get(sub)).is_some_and(|c| cuts(c)))
    }
}

/// Of two entries for one `jti` or `sid`, the one that lives longer decides.
fn keep_latest(slot: &mut u64, expires_at: u64) {
    *slot = (*slot).max(expires_at);
}

#[cfg(test)]
mod tests;
