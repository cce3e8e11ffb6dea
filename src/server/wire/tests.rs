// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;
use crate::authz::TokenError;

#[test]
fn deny_codes_follow_the_http_status() {
    assert_eq!(grpc_code(DenyReason::MissingToken), 16);
    assert_eq!(grpc_code(DenyReason::Token(TokenError::Expired)), 16);
    assert_eq!(grpc_code(DenyReason::MultipleTokens), 3);
    assert_eq!(grpc_code(DenyReason::NoMatchingRule), 7);
    assert_eq!(grpc_code(DenyReason::KeysUnavailable), 14);
    assert_eq!(grpc_code(DenyReason::Overloaded), 14);
}
