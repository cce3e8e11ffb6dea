// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
#[test]
fn is_a_stable_sixteen_digit_prefix_of_sha256() {
    // SHA-256("alice") = 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90
    assert_eq!(super::short_hash("alice"), "2bd806c97f0e00af");
}
