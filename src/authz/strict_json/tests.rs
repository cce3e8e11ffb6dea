// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn duplicates_are_refused_at_any_depth() {
    assert!(parse_object(br#"{"a":1,"b":[1,{"c":2}]}"#).is_ok());
    assert!(parse_object(br#"{"a":1,"a":2}"#).is_err());
    assert!(parse_object(br#"{"a":{"x":1,"x":1}}"#).is_err());
    assert!(parse_object(br#"{"a":[{"x":1,"x":2}]}"#).is_err());
    assert!(parse_object(br#"[1]"#).is_err());
    assert!(parse_object(br#"{"a":1} trailing"#).is_err());
}
