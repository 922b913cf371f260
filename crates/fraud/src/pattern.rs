//! Destination patterns: number prefixes and dial patterns.
//!
//! A plain entry (`"1900"`, `"+44"`, `"00"`) is a prefix of the number dialled. An entry
//! starting with `_` is a dial pattern in the style operators know from Asterisk, matched
//! against the whole number: `X` is any digit, `Z` 1-9, `N` 2-9, `[1-5]` or `[147]` one
//! of a set, `.` one or more characters of any kind and `!` zero or more; every other
//! character stands for itself. `"_00."` is every international number, `"_1900NXXXXXX"`
//! a US premium number.
//!
//! When several entries of a class match, the most specific wins: the one that fixes the
//! most characters (a prefix fixes its length; a pattern one per element before `.` or
//! `!`). A deny wins a tie.

/// Longest pattern accepted, in characters.
pub const MAX_PATTERN_LEN: usize = 64;
/// Most `.` and `!` in one pattern.
pub const MAX_WILDCARDS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Elem {
    Char(u8),
    /// A set of characters (X, Z, N, [..]).
    Set(Vec<u8>),
    /// `.`: one or more.
    OneOrMore,
    /// `!`: zero or more.
    Any,
}

/// A prefix or a dial pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    /// `None` for a plain prefix.
    elems: Option<Vec<Elem>>,
}

impl Pattern {
    /// Parses a prefix or a `_` dial pattern; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if text.is_empty() {
            return Err("an empty prefix would match every number: write \"_!\"".to_owned());
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(format!("longer than {MAX_PATTERN_LEN} characters"));
        }
        if !text.is_ascii() || text.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err("only ASCII characters without spaces".to_owned());
        }
        let Some(pat) = text.strip_prefix('_') else {
            return Ok(Pattern {
                text: text.to_owned(),
                elems: None,
            });
        };
        let mut elems = Vec::new();
        let mut bytes = pat.bytes();
        while let Some(b) = bytes.next() {
            elems.push(match b {
                b'X' | b'x' => Elem::Set((b'0'..=b'9').collect()),
                b'Z' | b'z' => Elem::Set((b'1'..=b'9').collect()),
                b'N' | b'n' => Elem::Set((b'2'..=b'9').collect()),
                b'.' => Elem::OneOrMore,
                b'!' => Elem::Any,
                b'[' => {
                    let mut set = Vec::new();
                    let mut prev: Option<u8> = None;
                    let mut range = false;
                    loop {
                        match bytes.next() {
                            None => return Err("a `[` without its `]`".to_owned()),
                            Some(b']') => break,
                            Some(b'-') if prev.is_some() => range = true,
                            Some(c) => {
                                if let (true, Some(p)) = (range, prev) {
                                    if c < p {
                                        return Err(format!(
                                            "the range {}-{} runs backwards",
                                            p as char, c as char
                                        ));
                                    }
                                    set.extend(p..=c);
                                    range = false;
                                    prev = None;
                                } else {
                                    set.push(c);
                                    prev = Some(c);
                                }
                            }
                        }
                    }
                    if set.is_empty() {
                        return Err("an empty `[]`".to_owned());
                    }
                    Elem::Set(set)
                }
                c => Elem::Char(c),
            });
        }
        if elems.is_empty() {
            return Err("a `_` pattern with nothing after it".to_owned());
        }
        let wild = elems
            .iter()
            .filter(|e| matches!(e, Elem::OneOrMore | Elem::Any))
            .count();
        if wild > MAX_WILDCARDS {
            // Each wildcard multiplies the work of a match by the number's length.
            return Err(format!("more than {MAX_WILDCARDS} `.` or `!`"));
        }
        Ok(Pattern {
            text: text.to_owned(),
            elems: Some(elems),
        })
    }

    /// `_!`: every number.
    pub fn any() -> Pattern {
        Pattern {
            text: "_!".to_owned(),
            elems: Some(vec![Elem::Any]),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How specific the match of `number` is, or `None` if it does not match.
    pub fn matches(&self, number: &str) -> Option<usize> {
        match &self.elems {
            None => number.starts_with(&self.text).then_some(self.text.len()),
            Some(elems) => matches_at(elems, number.as_bytes()).then(|| {
                elems
                    .iter()
                    .take_while(|e| !matches!(e, Elem::OneOrMore | Elem::Any))
                    .count()
            }),
        }
    }
}

/// Whole-string match of `elems` against `s`. Wildcards backtrack; with at most
/// [`MAX_WILDCARDS`] of them a match costs at most the square of the number's length.
fn matches_at(elems: &[Elem], s: &[u8]) -> bool {
    match elems.split_first() {
        None => s.is_empty(),
        Some((Elem::Char(c), rest)) => s.first() == Some(c) && matches_at(rest, &s[1..]),
        Some((Elem::Set(set), rest)) => {
            s.first().is_some_and(|c| set.contains(c)) && matches_at(rest, &s[1..])
        }
        Some((Elem::Any, rest)) => (0..=s.len()).any(|i| matches_at(rest, &s[i..])),
        Some((Elem::OneOrMore, rest)) => (1..=s.len()).any(|i| matches_at(rest, &s[i..])),
    }
}

/// The number as patterns see it: visual separators (`-`, `.`, `(`, `)`, `%20`) removed.
pub fn normalize(number: &str) -> String {
    number
        .replace("%20", "")
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> Option<usize> {
        Pattern::parse(p).unwrap().matches(n)
    }

    #[test]
    fn prefixes_and_dial_patterns() {
        assert_eq!(m("1900", "19005551234"), Some(4));
        assert_eq!(m("1900", "1800"), None);
        assert_eq!(m("_1900NXXXXXX", "19005551234"), Some(11));
        assert_eq!(m("_1900NXXXXXX", "19001551234"), None);
        assert_eq!(m("_1900NXXXXXX", "190055512345"), None);
        assert_eq!(m("_00.", "0044123"), Some(2));
        assert_eq!(m("_00.", "00"), None);
        assert_eq!(m("_00!", "00"), Some(2));
        assert_eq!(m("_[1-3]9[05]", "295"), Some(3));
        assert_eq!(m("_[1-3]9[05]", "494"), None);
        assert_eq!(m("_!", "anything"), Some(0));
        assert_eq!(Pattern::any(), Pattern::parse("_!").unwrap());
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("_").is_err());
        assert!(Pattern::parse("_[12").is_err());
        assert!(Pattern::parse("_[9-1]").is_err());
        assert!(Pattern::parse("19 00").is_err());
        assert!(Pattern::parse(&"1".repeat(65)).is_err());
        assert!(Pattern::parse("_1!2!3!").is_err());
    }

    #[test]
    fn separators_are_dropped() {
        assert_eq!(normalize("+1 (900) 555-1234"), "+19005551234");
        assert_eq!(normalize("+1%20900"), "+1900");
    }
}
