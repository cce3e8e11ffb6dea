//! Any bytes as a YAML config: `from_yaml` (check and build) and, if it is
//! accepted, the policy with static keys for every provider (whatever its
//! `jwks` says), then a few fixed requests decided under the result. Building
//! must never panic, and every decision must satisfy the allow invariants.
#![no_main]

use gatehouse::internals::{evaluate, from_yaml, policy_with_keys, to_check_response};
use gatehouse_fuzz::{check_decision, static_keys, NOW, PROBE_REQUESTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let specs = match from_yaml(text) {
        Ok(specs) => specs,
        Err(error) => {
            // The report is what `check-config` prints: rendering it must not fail either.
            let _ = error.to_string();
            return;
        }
    };
    let sources = (0..specs.providers()).map(|_| static_keys()).collect();
    let policy = policy_with_keys(specs, sources);
    for probe in PROBE_REQUESTS.iter() {
        let decision = evaluate(&policy, &probe.request(), NOW);
        check_decision(&policy, &decision);
        let _ = to_check_response(&decision);
    }
});
