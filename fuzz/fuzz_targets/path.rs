//! Any text as a request target: `authz::path::normalize`, both with and
//! without `allow_encoded_slashes`. A normalized path must be a fixed point
//! (normalizing it again gives it back unchanged), start with `/`, and carry
//! no `//`, no dot segment, no query or fragment.
#![no_main]

use gatehouse::internals::normalize_path as normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    for allow_encoded_slashes in [false, true] {
        let Ok(out) = normalize(raw, allow_encoded_slashes) else { continue };
        let again = normalize(&out, allow_encoded_slashes);
        assert_eq!(
            again.as_deref(),
            Ok(&*out),
            "not idempotent (allow_encoded_slashes: {allow_encoded_slashes}): {raw:?} -> {out:?}"
        );
        assert!(out.starts_with('/'), "{raw:?} -> {out:?} is not absolute");
        assert!(!out.contains("//"), "{raw:?} -> {out:?} keeps `//`");
        assert!(!out.contains(['?', '#']), "{raw:?} -> {out:?} keeps a query or fragment");
        assert!(
            !out.split('/').any(|segment| segment == "." || segment == ".."),
            "{raw:?} -> {out:?} keeps a dot segment"
        );
    }
});
