// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn names_round_trip_and_none_is_refused() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
    }
    for bad in ["none", "None", "nOnE", "rs256", "", "HS256 ", "ES512"] {
        assert_eq!(bad.parse::<Algorithm>(), Err(UnsupportedAlgorithm), "{bad}");
    }
}

#[test]
fn families_split_symmetric_from_asymmetric() {
    assert!(Algorithm::HS256.is_symmetric());
    assert!(!Algorithm::RS256.is_symmetric());
    assert_eq!(Algorithm::PS384.family(), KeyFamily::Rsa);
    assert_eq!(Algorithm::EdDSA.family(), KeyFamily::Okp);
}
