//! Verification keys, parsed once when a key set is loaded so that the Check
//! path never converts key material per request.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};

use crate::alg::{Algorithm, KeyFamily};

/// Why a key could not be built from otherwise well-formed material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("RSA modulus of {bits} bits is below the 2048-bit minimum")]
    RsaTooSmall { bits: usize },
    #[error("public key material was rejected by the crypto library")]
    Rejected,
    #[error("HMAC secret of {len} bytes is shorter than any allowed algorithm needs")]
    HmacTooShort { len: usize },
    #[error("key serves none of the allowed algorithms")]
    NoAllowedAlgorithm,
}

/// A signature did not verify (deliberately carries no detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature verification failed")]
pub struct BadSignature;

/// One verification key with the algorithms it may be used with.
pub struct VerifyingKey {
    kid: Option<String>,
    family: KeyFamily,
    /// Identity of the key material (and kid): lets a cached verification be
    /// dropped once the key that made it is no longer published.
    fingerprint: u64,
    /// Each allowed algorithm with its ready-to-use verifier.
    verifiers: Vec<(Algorithm, Verifier)>,
}

enum Verifier {
    Public(ParsedPublicKey),
    // Boxed: an HMAC key is ~1 KiB, the public key variant a pointer or two.
    Hmac(Box<hmac::Key>),
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<_> = self.verifiers.iter().map(|(alg, _)| alg.as_str()).collect();
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("algorithms", &algs)
            .finish()
    }
}

// === impl VerifyingKey ===

impl VerifyingKey {
    /// An RSA key from its big-endian modulus and exponent, usable for each of
    /// `algs` in the RSA family.
    pub fn rsa(kid: Option<String>, n: &[u8], e: &[u8], algs: &[Algorithm]) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_length(n);
        if bits < 2048 {
            return Err(KeyError::RsaTooSmall { bits });
        }
        let components = RsaPublicKeyComponents { n, e };
        let mut verifiers = Vec::new();
        for &alg in algs.iter().filter(|a| a.family() == KeyFamily::Rsa) {
            let parsed = components.to_parsed_public_key(rsa_params(alg)).map_err(|_| KeyError::Rejected)?;
            verifiers.push((alg, Verifier::Public(parsed)));
        }
        Self::build(kid, KeyFamily::Rsa, &[n, e], verifiers)
    }

    /// An EC key from its affine coordinates; `alg` is ES256 (P-256) or ES384 (P-384).
    pub fn ec(kid: Option<String>, alg: Algorithm, x: &[u8], y: &[u8]) -> Result<Self, KeyError> {
        let (verification, coordinate_len): (&'static signature::EcdsaVerificationAlgorithm, usize) =
            match alg {
                Algorithm::ES256 => (&signature::ECDSA_P256_SHA256_FIXED, 32),
                Algorithm::ES384 => (&signature::ECDSA_P384_SHA384_FIXED, 48),
                _ => return Err(KeyError::NoAllowedAlgorithm),
            };
        if x.len() != coordinate_len || y.len() != coordinate_len {
            return Err(KeyError::Rejected);
        }
        let mut point = Vec::with_capacity(1 + 2 * coordinate_len);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let parsed = ParsedPublicKey::new(verification, &point).map_err(|_| KeyError::Rejected)?;
        Self::build(kid, KeyFamily::Ec, &[&point], vec![(alg, Verifier::Public(parsed))])
    }

    /// An Ed25519 key from its 32-byte public key.
    pub fn ed25519(kid: Option<String>, x: &[u8]) -> Result<Self, KeyError> {
        if x.len() != 32 {
            return Err(KeyError::Rejected);
        }
        let parsed = ParsedPublicKey::new(&signature::ED25519, x).map_err(|_| KeyError::Rejected)?;
        Self::build(kid, KeyFamily::Okp, &[x], vec![(Algorithm::EdDSA, Verifier::Public(parsed))])
    }

    /// An HMAC secret, usable for each HS algorithm in `algs` whose hash output
    /// it is at least as long as (RFC 7518 §3.2).
    pub fn hmac(kid: Option<String>, secret: &[u8], algs: &[Algorithm]) -> Result<Self, KeyError> {
        let verifiers: Vec<_> = algs
            .iter()
            .filter_map(|&alg| {
                let (digest, min_len) = match alg {
                    Algorithm::HS256 => (hmac::HMAC_SHA256, 32),
                    Algorithm::HS384 => (hmac::HMAC_SHA384, 48),
                    Algorithm::HS512 => (hmac::HMAC_SHA512, 64),
                    _ => return None,
                };
                (secret.len() >= min_len)
                    .then(|| (alg, Verifier::Hmac(Box::new(hmac::Key::new(digest, secret)))))
            })
            .collect();
        if verifiers.is_empty() && algs.iter().any(|a| a.is_symmetric()) {
            return Err(KeyError::HmacTooShort { len: secret.len() });
        }
        // The fingerprint digests the secret; it is never logged or exported.
        Self::build(kid, KeyFamily::Hmac, &[secret], verifiers)
    }

    fn build(
        kid: Option<String>,
        family: KeyFamily,
        material: &[&[u8]],
        verifiers: Vec<(Algorithm, Verifier)>,
    ) -> Result<Self, KeyError> {
        if verifiers.is_empty() {
            return Err(KeyError::NoAllowedAlgorithm);
        }
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        digest.update(format!("{family:?}\0{}\0", kid.as_deref().unwrap_or("")).as_bytes());
        for part in material {
            digest.update(&(part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        // The algorithms too: a key republished for other algorithms is another key.
        for (alg, _) in &verifiers {
            digest.update(alg.as_str().as_bytes());
            digest.update(b"\0");
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.finish().as_ref()[..8]);
        Ok(Self { kid, family, fingerprint: u64::from_be_bytes(first), verifiers })
    }

    /// Identity of this key's material and kid.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn family(&self) -> KeyFamily {
        self.family
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.verifiers.iter().map(|(alg, _)| *alg)
    }

    pub fn supports(&self, alg: Algorithm) -> bool {
        self.verifiers.iter().any(|(a, _)| *a == alg)
    }

    /// Verifies `signature` over `message` with `alg`. A key never verifies
    /// for an algorithm it was not built for, so a token cannot switch an RSA
    /// key into an HMAC secret.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        let (_, verifier) = self.verifiers.iter().find(|(a, _)| *a == alg).ok_or(BadSignature)?;
        match verifier {
            Verifier::Public(key) => key.verify_sig(message, signature).map_err(|_| BadSignature),
            Verifier::Hmac(key) => hmac::verify(key, message, signature).map_err(|_| BadSignature),
        }
    }
}

fn rsa_params(alg: Algorithm) -> &'static RsaParameters {
    match alg {
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        // Callers only pass RSA-family algorithms; RS256 is the remaining one.
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.first() {
        None => 0,
        Some(&top) => (big_endian.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// An immutable set of keys for one provider, indexed by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
    by_kid: HashMap<String, usize>,
    fingerprints: std::collections::HashSet<u64>,
}

/// The outcome of looking up keys for one token.
pub enum KeyLookup<'a> {
    /// Candidate keys to try, in order.
    Candidates(Vec<&'a VerifyingKey>),
    /// The token names a `kid` this set does not have.
    UnknownKid,
    /// No key here can verify this algorithm.
    NoKeyForAlgorithm,
}

// === impl KeySet ===

impl KeySet {
    /// Builds a set; on a duplicate `kid` the first key wins (a later duplicate
    /// is ambiguous and reported by the caller that parsed the JWKS).
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        let mut set = KeySet::default();
        for key in keys {
            if let Some(kid) = key.kid.clone() {
                if set.by_kid.contains_key(&kid) {
                    continue;
                }
                set.by_kid.insert(kid, set.keys.len());
            }
            set.fingerprints.insert(key.fingerprint);
            set.keys.push(Arc::new(key));
        }
        set
    }

    /// Whether the key with this fingerprint is (still) in the set.
    pub fn contains_fingerprint(&self, fingerprint: u64) -> bool {
        self.fingerprints.contains(&fingerprint)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    pub fn keys(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter().map(|k| k.as_ref())
    }

    /// The keys to try for a token with this `kid` and `alg`. With a `kid`,
    /// only that key, or failing it the keys that have no `kid`; without a
    /// `kid`, every key serving `alg`, in order.
    pub fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> KeyLookup<'_> {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(&index) if self.keys[index].supports(alg) => {
                    KeyLookup::Candidates(vec![&self.keys[index]])
                }
                Some(_) => KeyLookup::NoKeyForAlgorithm,
                None => {
                    // A key published without a `kid` (or an `hmac_secret`) may sign
                    // tokens that carry one; only those keys are candidates.
                    let unnamed: Vec<_> =
                        self.keys().filter(|k| k.kid.is_none() && k.supports(alg)).collect();
                    if unnamed.is_empty() {
                        KeyLookup::UnknownKid
                    } else {
                        KeyLookup::Candidates(unnamed)
                    }
                }
            },
            None => {
                let candidates: Vec<_> = self.keys().filter(|k| k.supports(alg)).collect();
                if candidates.is_empty() {
                    KeyLookup::NoKeyForAlgorithm
                } else {
                    KeyLookup::Candidates(candidates)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
