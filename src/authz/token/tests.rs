// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

fn bearer() -> TokenSource {
    TokenSource::Header { name: "authorization".into(), scheme: Some("Bearer".into()) }
}

fn run<'a>(sources: &'a [TokenSource], request: &HttpRequest<'a>) -> Extraction<'a, 'a> {
    extract(sources, request)
}

fn found(token: &str) -> Extraction<'_, '_> {
    Extraction::Found { token: Cow::Borrowed(token), sources: smallvec::smallvec![&SOURCES[0]] }
}

static SOURCES: std::sync::LazyLock<Vec<TokenSource>> = std::sync::LazyLock::new(|| vec![bearer()]);

#[test]
fn bearer_header_variants() {
    let missing = || Extraction::Missing;
    let cases: &[(&[u8], Extraction<'_, '_>)] = &[
        (b"Bearer abc.def.ghi", found("abc.def.ghi")),
        (b"bearer abc", found("abc")),
        (b"BEARER   abc", found("abc")),
        (b"Bearer\tabc", found("abc")),
        (b"  Bearer abc  ", found("abc")),
        (b"Basic dXNlcjpwYXNz", missing()),
        (b"Digest username=\"a\", realm=\"b\"", missing()),
        (b"Bearer", missing()),
        (b"Bearer  ", missing()),
        (b"", missing()),
        // Starts like a bearer credential but is not one: malformed, never ignored.
        (b"Bearerabc", Extraction::Ambiguous),
        (b"Bearer:abc", Extraction::Ambiguous),
        ("Bearer\u{a0}abc".as_bytes(), Extraction::Ambiguous),
        (b"Basic dXNlcjpwYXNz, Bearer abc", Extraction::Ambiguous),
        (b"Basic dXNlcjpwYXNz,bearer abc", Extraction::Ambiguous),
        (b"Bearer abc, Basic dXNlcjpwYXNz", Extraction::Ambiguous),
    ];
    for (value, want) in cases {
        let request = HttpRequest {
            headers: crate::authz::Headers::from_vec(vec![("authorization", value)]),
            ..Default::default()
        };
        assert_eq!(&run(&SOURCES, &request), want, "{}", String::from_utf8_lossy(value));
    }
}

#[test]
fn two_credentials_are_ambiguous() {
    let ambiguous: &[&[(&str, &[u8])]] = &[
        &[("authorization", b"Bearer a,Bearer b")],
        &[("authorization", b"Bearer a, Bearer b")],
        &[("authorization", b"Bearer a"), ("Authorization", b"Bearer b")],
        &[("authorization", b"Bearer a b")],
        &[("authorization", b"Bearer \xff\xfe")],
    ];
    for headers in ambiguous {
        let request = HttpRequest { headers: headers.iter().copied().collect(), ..Default::default() };
        assert_eq!(run(&SOURCES, &request), Extraction::Ambiguous, "{headers:?}");
    }
    // The same credential twice is not a conflict.
    let request = HttpRequest {
        headers: crate::authz::Headers::from_vec(vec![
            ("authorization", b"Bearer a"),
            ("authorization", b"bearer a"),
        ]),
        ..Default::default()
    };
    assert_eq!(run(&SOURCES, &request), found("a"));
}

#[test]
fn cookie_and_query_sources() {
    let sources =
        vec![bearer(), TokenSource::Cookie("access_token".into()), TokenSource::Query("access_token".into())];
    let request = HttpRequest {
        path: "/x?a=1&access_token=q.r.s",
        headers: crate::authz::Headers::from_vec(vec![("cookie", b"theme=dark; access_token=q.r.s")]),
        ..Default::default()
    };
    assert!(
        matches!(run(&sources, &request), Extraction::Found { token, sources: found } if token == "q.r.s" && found.as_slice() == [&sources[1], &sources[2]])
    );

    let request = HttpRequest {
        path: "/x?access_token=other",
        headers: crate::authz::Headers::from_vec(vec![("cookie", b"access_token=q")]),
        ..Default::default()
    };
    assert_eq!(run(&sources, &request), Extraction::Ambiguous);

    let request = HttpRequest { path: "/x?access_token=a%2Eb", ..Default::default() };
    assert!(matches!(run(&sources, &request), Extraction::Found { token, .. } if token == "a.b"));

    let request = HttpRequest { path: "/x?access_token=%zz", ..Default::default() };
    assert_eq!(run(&sources, &request), Extraction::Ambiguous);
    assert_eq!(run(&sources, &HttpRequest::default()), Extraction::Missing);
}
