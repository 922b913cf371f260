//! A byte cursor for the header-value grammar of RFC 3261 §25.
//!
//! Header values arrive with line folding intact (a CRLF followed by SP or HT inside the
//! value), so every "linear white space" check here treats CR and LF as white space too: a
//! CRLF that is *not* followed by white space would have ended the header line and can never
//! appear inside a value.

const TOKEN: u8 = 1;
const WORD: u8 = 2;
const LWS: u8 = 4;
const NOT_URI: u8 = 8;

/// Character classes, looked up once per byte: these predicates run over every header
/// byte of every message, and a table is cheaper than a chain of range comparisons.
const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b: u8 = 0;
    loop {
        let token = matches!(b,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~');
        let word = token
            || matches!(
                b,
                b'(' | b')'
                    | b'<'
                    | b'>'
                    | b':'
                    | b'\\'
                    | b'"'
                    | b'/'
                    | b'['
                    | b']'
                    | b'?'
                    | b'{'
                    | b'}'
            );
        let lws = matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let not_uri = lws || b < 0x20 || b == 0x7f || matches!(b, b'<' | b'>' | b'"');
        t[b as usize] = ((token as u8) * TOKEN)
            | ((word as u8) * WORD)
            | ((lws as u8) * LWS)
            | ((not_uri as u8) * NOT_URI);
        if b == u8::MAX {
            break t;
        }
        b += 1;
    }
};

/// True for the characters of the RFC 3261 `token` rule.
#[inline]
pub(crate) const fn is_token(b: u8) -> bool {
    CLASSES[b as usize] & TOKEN != 0
}

/// True for the characters of the RFC 3261 `word` rule (used by Call-ID).
#[inline]
pub(crate) const fn is_word(b: u8) -> bool {
    CLASSES[b as usize] & WORD != 0
}

/// White space inside a header value, folding included.
#[inline]
pub(crate) const fn is_lws(b: u8) -> bool {
    CLASSES[b as usize] & LWS != 0
}

/// Octets that never appear in a URI: white space, controls, `<`, `>` and `"`.
#[inline]
pub(crate) const fn is_not_uri(b: u8) -> bool {
    CLASSES[b as usize] & NOT_URI != 0
}

/// Parses a decimal number with checked arithmetic: overflow is an error, never a wrap.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 40 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

/// Parses a decimal number that must fit in a `u32`.
pub(crate) fn parse_u32(digits: &[u8]) -> Option<u32> {
    parse_u64(digits).and_then(|n| u32::try_from(n).ok())
}

/// Trims linear white space from both ends.
pub(crate) fn trim_lws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_lws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_lws(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// The offset of `sub` inside `base`, when `sub` is a sub-slice of it.
pub(crate) fn offset_in(base: &[u8], sub: &[u8]) -> Option<usize> {
    let start = (sub.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    (start + sub.len() <= base.len()).then_some(start)
}

/// A forward-only cursor over a header value.
#[derive(Debug, Clone)]
pub(crate) struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn input(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn bump(&mut self) {
        if self.pos < self.bytes.len() {
            self.pos += 1;
        }
    }

    /// Skips white space; returns whether any was skipped.
    pub(crate) fn skip_lws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_lws) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Consumes `b` (after optional white space) when it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let save = self.pos;
        self.skip_lws();
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Consumes the longest run of bytes matching `pred`.
    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    /// A non-empty token, after optional white space.
    pub(crate) fn token(&mut self) -> Option<&'a [u8]> {
        self.skip_lws();
        let t = self.take_while(is_token);
        (!t.is_empty()).then_some(t)
    }

    /// A quoted string, returned with its quotes; escapes are validated, not decoded.
    pub(crate) fn quoted_string(&mut self) -> Option<&'a [u8]> {
        self.skip_lws();
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(&self.bytes[start..self.pos]);
                }
                b'\\' => {
                    // quoted-pair: any octet but CR and LF may follow the backslash.
                    let next = *self.bytes.get(self.pos + 1)?;
                    if next == b'\r' || next == b'\n' {
                        return None;
                    }
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
    }
}

/// Splits a header value on the commas that separate list elements, ignoring commas inside
/// quoted strings and `<...>` (URIs may contain commas).
#[derive(Debug, Clone)]
pub(crate) struct ListSplit<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> ListSplit<'a> {
    pub(crate) fn new(value: &'a [u8]) -> Self {
        Self { rest: Some(value) }
    }
}

impl<'a> Iterator for ListSplit<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.rest?;
        let mut in_quote = false;
        let mut in_angle = false;
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'\\' if in_quote => i += 1,
                b'"' if !in_angle => in_quote = !in_quote,
                b'<' if !in_quote => in_angle = true,
                b'>' if !in_quote => in_angle = false,
                b',' if !in_quote && !in_angle => {
                    self.rest = Some(&s[i + 1..]);
                    return Some(trim_lws(&s[..i]));
                }
                _ => {}
            }
            i += 1;
        }
        self.rest = None;
        Some(trim_lws(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_overflow_is_an_error() {
        assert_eq!(parse_u32(b"0009"), Some(9));
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"36893488147419103232"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
    }

    #[test]
    fn list_split_respects_quotes_and_angles() {
        let v: Vec<_> = ListSplit::new(b"\"a,b\" <sip:x,y@h>;p=1 , <sip:z@h>").collect();
        assert_eq!(v, vec![&b"\"a,b\" <sip:x,y@h>;p=1"[..], &b"<sip:z@h>"[..]]);
    }

    #[test]
    fn quoted_string_with_escapes() {
        let mut s = Scanner::new(br#" "J Rosenberg \\\"" rest"#);
        assert_eq!(s.quoted_string(), Some(&br#""J Rosenberg \\\"""#[..]));
        let mut s = Scanner::new(br#""unterminated"#);
        assert_eq!(s.quoted_string(), None);
    }
}
