//! No input makes the configuration reader panic, and every error it reports has a
//! position inside the text.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use palisade_config::Config;
use proptest::prelude::*;

const SHIPPED: &str = include_str!("../../../config/palisade.yaml");

/// Checks one input: no panic (proptest reports one as a failure), and each error has a
/// line within the text (or one past its end) and is printed with the origin name.
fn check(text: &str) {
    if let Err(errs) = Config::from_str(text, "fuzz.yaml") {
        assert!(!errs.is_empty());
        let lines = text.lines().count() as u64 + 1;
        for e in &errs {
            let p = e.position().expect("text errors have a position");
            assert!(
                p.line >= 1 && p.line <= lines,
                "{e} (text has {lines} lines)"
            );
            assert!(p.column >= 1, "{e}");
            assert!(e.to_string().starts_with("fuzz.yaml:"), "{e}");
            assert!(!e.to_string().contains('\n'), "{e:?}");
        }
    }
}

/// Pieces that make YAML: structure characters, keys of the schema, and values.
fn yaml_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(":".to_owned()),
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("- ".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(", ".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("<<: ".to_owned()),
        Just("!!str ".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("---\n".to_owned()),
        Just("access".to_owned()),
        Just("listen".to_owned()),
        Just("core".to_owned()),
        Just("upstream".to_owned()),
        Just("tls".to_owned()),
        Just("set".to_owned()),
        Just("udp:127.0.0.1:5060".to_owned()),
        Just("sip:127.0.0.1:5080".to_owned()),
        Just("10s".to_owned()),
        "[a-z0-9_.:;=@\\[\\] -]{0,12}",
        any::<char>().prop_map(String::from),
    ]
}

/// An edit of the shipped file: delete, insert or replace a run of characters.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Replace { at: usize, text: String },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), yaml_piece()).prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<usize>(), yaml_piece()).prop_map(|(at, text)| Edit::Replace { at, text }),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let n = chars.len().max(1);
    match edit {
        Edit::Delete { at, len } => {
            let at = at % n;
            let end = (at + len).min(chars.len());
            chars.drain(at.min(end)..end);
        }
        Edit::Insert { at, text } => {
            let at = at % (chars.len() + 1);
            chars.splice(at..at, text.chars());
        }
        Edit::Replace { at, text } => {
            let at = at % n;
            let end = (at + text.chars().count()).min(chars.len());
            chars.splice(at.min(end)..end, text.chars());
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_do_not_panic(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn yaml_like_strings_do_not_panic(pieces in proptest::collection::vec(yaml_piece(), 0..60)) {
        check(&pieces.concat());
    }

    #[test]
    fn edits_of_the_shipped_file_do_not_panic(edits in proptest::collection::vec(edit(), 1..6)) {
        let mut text = SHIPPED.to_owned();
        for e in &edits {
            text = apply(&text, e);
        }
        check(&text);
    }
}

#[test]
fn the_unedited_shipped_file_passes() {
    Config::from_str(SHIPPED, "palisade.yaml").unwrap_or_else(|e| panic!("{e}"));
}
