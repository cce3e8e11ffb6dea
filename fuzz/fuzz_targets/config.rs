//! Any bytes as a YAML config: `config::from_yaml` and, if it validates,
//! `Policy::compile` with static keys for every provider (whatever its `jwks`
//! says), then a few fixed requests decided under the result. A config that
//! validates must compile, and every decision must satisfy the allow invariants.
#![no_main]

use gatehouse::authz::{evaluate, Policy};
use gatehouse::config::from_yaml;
use gatehouse::server::grpc::to_check_response;
use gatehouse_fuzz::{check_decision, static_keys, NOW, PROBE_REQUESTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let config = match from_yaml(text) {
        Ok(config) => config,
        Err(error) => {
            // The report is what `check-config` prints: rendering it must not fail either.
            let _ = error.to_string();
            return;
        }
    };
    let sources = config.providers.iter().map(|_| static_keys()).collect();
    let policy = match Policy::compile(&config, sources) {
        Ok(policy) => policy,
        Err(error) => panic!("a validated config does not compile: {error}"),
    };
    for probe in PROBE_REQUESTS.iter() {
        let decision = evaluate(&policy, &probe.request(), NOW);
        check_decision(&policy, &decision);
        let _ = to_check_response(&decision);
    }
});
