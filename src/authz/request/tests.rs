// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn header_lookup_is_case_insensitive_and_keeps_every_entry() {
    let request = HttpRequest {
        headers: crate::authz::Headers::from_vec(vec![
            ("Authorization", b"a"),
            ("x", b"1"),
            ("authorization", b"b"),
        ]),
        ..Default::default()
    };
    let values: Vec<_> = request.header_values("authorization").collect();
    assert_eq!(values, vec![b"a".as_slice(), b"b".as_slice()]);
}

#[test]
fn path_and_query_split() {
    let request = HttpRequest { path: "/a/b?x=1&y=2#frag", ..Default::default() };
    assert_eq!(request.path_only(), "/a/b");
    assert_eq!(request.query(), Some("x=1&y=2"));
    assert_eq!(HttpRequest { path: "/a", ..Default::default() }.query(), None);
}
