// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn bit_length_counts_from_the_top_bit() {
    assert_eq!(bit_length(&[]), 0);
    assert_eq!(bit_length(&[1]), 1);
    assert_eq!(bit_length(&[0x80, 0]), 16);
    assert_eq!(strip_leading_zeros(&[0, 0, 5]), &[5]);
}

#[test]
fn small_rsa_modulus_is_refused() {
    let n = vec![0xff; 128]; // 1024 bits
    let err = VerifyingKey::rsa(None, &n, &[1, 0, 1], &[Algorithm::RS256]).unwrap_err();
    assert_eq!(err, KeyError::RsaTooSmall { bits: 1024 });
}

#[test]
fn hmac_secret_must_cover_the_hash_length() {
    let short = [7u8; 31];
    assert_eq!(
        VerifyingKey::hmac(None, &short, &[Algorithm::HS256]).unwrap_err(),
        KeyError::HmacTooShort { len: 31 }
    );
    let key = VerifyingKey::hmac(None, &[7u8; 48], &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512])
        .unwrap();
    assert_eq!(key.algorithms().collect::<Vec<_>>(), vec![Algorithm::HS256, Algorithm::HS384]);
}

#[test]
fn hmac_key_verifies_only_its_algorithms() {
    let secret = [9u8; 32];
    let key = VerifyingKey::hmac(Some("h".into()), &secret, &[Algorithm::HS256]).unwrap();
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), b"msg");
    assert!(key.verify(Algorithm::HS256, b"msg", tag.as_ref()).is_ok());
    assert!(key.verify(Algorithm::HS256, b"msh", tag.as_ref()).is_err());
    assert!(key.verify(Algorithm::RS256, b"msg", tag.as_ref()).is_err());
}

#[test]
fn lookup_by_kid_and_without_kid() {
    let a = VerifyingKey::hmac(Some("a".into()), &[1u8; 32], &[Algorithm::HS256]).unwrap();
    let b = VerifyingKey::hmac(None, &[2u8; 64], &[Algorithm::HS512]).unwrap();
    let set = KeySet::new(vec![a, b]);
    assert!(matches!(set.lookup(Some("a"), Algorithm::HS256), KeyLookup::Candidates(c) if c.len() == 1));
    assert!(matches!(set.lookup(Some("a"), Algorithm::HS512), KeyLookup::NoKeyForAlgorithm));
    assert!(matches!(set.lookup(Some("zz"), Algorithm::HS256), KeyLookup::UnknownKid));
    assert!(matches!(set.lookup(Some("zz"), Algorithm::HS512), KeyLookup::Candidates(c) if c.len() == 1));
    assert!(matches!(set.lookup(None, Algorithm::HS512), KeyLookup::Candidates(c) if c.len() == 1));
    assert!(matches!(set.lookup(None, Algorithm::ES256), KeyLookup::NoKeyForAlgorithm));
}
