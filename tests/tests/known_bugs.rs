//! KNOWN BUGS: minimal reproductions of defects in `crates/` found by the fuzz targets and
//! property tests. Each test asserts the correct behaviour and is ignored until the bug is
//! fixed; run them with `cargo test -p palisade-tests --test known_bugs -- --ignored`.
//! When a fix lands, remove the `#[ignore]` (and any generator restriction that refers to
//! the test by name).
#![allow(clippy::unwrap_used, clippy::panic)]

use palisade_sip::headers::NameAddr;

/// BUG: an addr-spec (a URI outside `<>`) followed by a header parameter whose quoted value
/// contains `<` is refused. RFC 3261 §25.1 allows any qdtext in `gen-value = token / host /
/// quoted-string`, so `sip:alice@example.com;x="<"` is a valid From/To/Contact value.
/// `NameAddr::parse` looks for `<` anywhere in the value to decide whether a display name
/// precedes the URI, without skipping quoted strings, and then finds that the text before
/// the `<` is not a run of tokens.
#[test]
#[ignore = "known bug: NameAddr::parse refuses an addr-spec with `<` in a quoted parameter value"]
fn addr_spec_with_angle_in_quoted_param() {
    let na = NameAddr::parse(br#"sip:alice@example.com;x="<""#).unwrap();
    assert!(!na.angle);
    assert_eq!(na.display, None);
    assert_eq!(na.uri.as_str(), "sip:alice@example.com");
    assert_eq!(na.params.get("x"), Some(Some(r#""<""#)));
}
