// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn parses_the_documented_forms() {
    assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
    assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
    assert!(parse("30").is_err());
    assert!(parse("soon").is_err());
}
