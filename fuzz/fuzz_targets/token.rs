//! Any bytes as a compact JWS: `jwt::parse` and, if it parses, `verify` under
//! each fixed validation against a fixed key set (HMAC `hs`, ES256 `es`).
//! Must never panic, hang or grow memory; a verified token must also pass
//! `check_claims` on its own claims.
#![no_main]

use gatehouse::internals::{check_claims, parse_token as parse};
use gatehouse_fuzz::{KEYS, NOW, VALIDATIONS};
use libfuzzer_sys::fuzz_target;

const MAX_TOKEN_BYTES: usize = 8192;

fuzz_target!(|data: &[u8]| {
    // Tokens arrive as header values, i.e. as text: non-UTF-8 is not a token.
    let Ok(token) = std::str::from_utf8(data) else { return };
    let Ok(parsed) = parse(token, MAX_TOKEN_BYTES) else { return };
    assert!(token.len() <= MAX_TOKEN_BYTES, "a token over the limit parsed");
    let _ = (parsed.issuer(), parsed.kid(), parsed.alg());
    for validation in VALIDATIONS.iter() {
        // A successful verify spends the parsed token (its claims move out).
        let Ok(mut parsed) = parse(token, MAX_TOKEN_BYTES) else { unreachable!("parsed once already") };
        if let Ok(verified) = parsed.verify(&KEYS, validation, NOW) {
            assert!(
                validation.algorithms.contains(&verified.signature_alg().expect("a JWS")),
                "verified with an algorithm not allowed"
            );
            assert!(
                check_claims(&verified.claims.to_map(), validation, NOW).is_ok(),
                "verified token fails its own claim checks"
            );
        }
    }
});
