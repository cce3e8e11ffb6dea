//! Any bytes as a protobuf `CheckRequest`: decode, translate to an
//! `HttpRequest` (when HTTP attributes exist), decide under the fixed policy,
//! translate the decision back. Checks the allow invariants, that the response
//! round-trips through protobuf, and that the policy with the token cache on
//! decides exactly as the one without it (first call fills, second hits).
#![no_main]

use gatehouse::internals::evaluate;
use gatehouse::internals::wire::{CheckRequest, CheckResponse};
use gatehouse::internals::{to_check_response, to_http_request};
use gatehouse_fuzz::{check_decision, CACHED_POLICY, NOW, POLICY};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(check) = CheckRequest::decode(data) else { return };
    let Some(http) = check.attributes.as_ref().and_then(|a| a.request.as_ref()).and_then(|r| r.http.as_ref())
    else {
        return;
    };
    let request = to_http_request(&check, http);
    let decision = evaluate(&POLICY, &request, NOW);
    check_decision(&POLICY, &decision);
    let response = to_check_response(&decision);
    let encoded = response.encode_to_vec();
    assert_eq!(CheckResponse::decode(encoded.as_slice()).as_ref(), Ok(&response), "response round trip");

    for _ in 0..2 {
        let cached = evaluate(&CACHED_POLICY, &request, NOW);
        check_decision(&CACHED_POLICY, &cached);
        assert_eq!(to_check_response(&cached), response, "cached policy decides differently");
    }
});
