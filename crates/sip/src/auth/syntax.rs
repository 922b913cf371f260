//! The `auth-scheme LWS auth-param *(COMMA auth-param)` grammar shared by challenges and
//! credentials (RFC 3261 §25.1, RFC 7235 §2.1), in both directions.
//!
//! Parsing is lenient where deployed peers are sloppy (unquoted values containing `/` or `=`,
//! quoted values where a token is expected, empty list elements) and strict where leniency
//! would be dangerous (control characters, unterminated quotes, unbounded sizes).

use std::fmt;

use super::{Algorithm, AuthError, Limits};

/// A `name=value` parameter that has no dedicated field.
///
/// `value` is decoded: surrounding quotes and `\` escapes are removed. Whether the value was
/// quoted is not kept because RFC 7235 §2.2 makes the two forms equivalent; serialization quotes
/// the value whenever it is not a plain token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParam {
    /// Parameter name with its original case.
    pub name: String,
    /// Decoded parameter value.
    pub value: String,
}

/// A challenge or credentials in a scheme other than Digest.
///
/// Such headers are valid SIP (RFC 4475 §3.3.7) and an SBC must be able to recognise and relay
/// them, so they are not an error. The fields are only produced by the parser, which guarantees
/// that serializing them cannot inject header lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherScheme {
    name: String,
    data: String,
}

impl OtherScheme {
    /// The scheme name as received, e.g. `Basic` or `NoOneKnowsThisScheme`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Everything after the scheme name, with folding collapsed and surrounding whitespace
    /// removed. This may be an `auth-param` list or an opaque token68.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// Interprets [`data`](Self::data) as an `auth-param` list.
    ///
    /// This is separate from parsing the header because schemes such as `Basic` carry a token68
    /// instead of parameters, and that must not make the header unparsable.
    /// [`Limits::DEFAULT`] applies.
    pub fn params(&self) -> Result<Vec<AuthParam>, AuthError> {
        let mut cursor = Cursor::new(self.data.as_bytes());
        parse_params(&mut cursor, &Limits::DEFAULT)
    }
}

impl fmt::Display for OtherScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.data.is_empty() {
            write!(f, " {}", self.data)?;
        }
        Ok(())
    }
}

/// A header value split into its scheme and payload.
#[derive(Debug)]
pub(super) enum Parsed {
    /// `Digest` followed by its parameters, in order.
    Digest(Vec<AuthParam>),
    /// Any other scheme.
    Other(OtherScheme),
}

/// Parses a challenge or credentials header value.
pub(super) fn parse_header(input: &[u8], limits: &Limits) -> Result<Parsed, AuthError> {
    if input.len() > limits.max_input_len {
        return Err(AuthError::TooLong {
            limit: limits.max_input_len,
        });
    }
    let mut cursor = Cursor::new(input);
    cursor.skip_lws();
    let scheme = cursor.take_while(is_token_byte);
    if scheme.is_empty() {
        return Err(cursor.error("expected an authentication scheme"));
    }
    if scheme.len() > limits.max_value_len {
        return Err(AuthError::ValueTooLong {
            limit: limits.max_value_len,
        });
    }
    if !cursor.skip_lws() && !cursor.at_end() {
        return Err(cursor.error("expected whitespace after the scheme"));
    }
    if scheme.eq_ignore_ascii_case(b"Digest") {
        parse_params(&mut cursor, limits).map(Parsed::Digest)
    } else {
        Ok(Parsed::Other(OtherScheme {
            name: ascii_string(scheme),
            data: parse_other_data(&mut cursor)?,
        }))
    }
}

/// Parses a comma separated `auth-param` list up to the end of input.
fn parse_params(cursor: &mut Cursor<'_>, limits: &Limits) -> Result<Vec<AuthParam>, AuthError> {
    let mut params = Vec::new();
    loop {
        cursor.skip_lws();
        match cursor.peek() {
            None => return Ok(params),
            // RFC 7230 §7: recipients accept and ignore empty list elements.
            Some(b',') => {
                cursor.bump();
                continue;
            }
            Some(_) => {}
        }
        if params.len() == limits.max_params {
            return Err(AuthError::TooManyParams {
                limit: limits.max_params,
            });
        }
        params.push(parse_param(cursor, limits)?);
        cursor.skip_lws();
        match cursor.peek() {
            None => return Ok(params),
            Some(b',') => cursor.bump(),
            Some(_) => return Err(cursor.error("expected `,` between parameters")),
        }
    }
}

/// Parses one `name = value` pair, with optional whitespace around `=`.
fn parse_param(cursor: &mut Cursor<'_>, limits: &Limits) -> Result<AuthParam, AuthError> {
    let name = cursor.take_while(is_token_byte);
    if name.is_empty() {
        return Err(cursor.error("expected a parameter name"));
    }
    if name.len() > limits.max_value_len {
        return Err(AuthError::ValueTooLong {
            limit: limits.max_value_len,
        });
    }
    cursor.skip_lws();
    if cursor.peek() != Some(b'=') {
        return Err(cursor.error("expected `=` after the parameter name"));
    }
    cursor.bump();
    cursor.skip_lws();
    let value = match cursor.peek() {
        Some(b'"') => parse_quoted(cursor, limits)?,
        Some(byte) if is_bare_value_byte(byte) => parse_bare(cursor, limits)?,
        _ => return Err(cursor.error("expected a parameter value")),
    };
    Ok(AuthParam {
        name: ascii_string(name),
        value,
    })
}

/// Parses an unquoted value.
///
/// RFC 3261 says this is a `token`, but real peers (and RFC 4475 itself) send base64 nonces with
/// `/`, `+` and `=` unquoted, so anything up to whitespace, `,` or `"` is accepted.
fn parse_bare(cursor: &mut Cursor<'_>, limits: &Limits) -> Result<String, AuthError> {
    let raw = cursor.take_while(is_bare_value_byte);
    if raw.len() > limits.max_value_len {
        return Err(AuthError::ValueTooLong {
            limit: limits.max_value_len,
        });
    }
    String::from_utf8(raw.to_vec()).map_err(|_| AuthError::InvalidUtf8)
}

/// Parses a quoted-string starting at the opening quote and returns its decoded content.
///
/// Folded line breaks inside the quotes collapse to a single space (RFC 3261 §7.3.1). Escapes of
/// control characters are refused so that no decoded value can smuggle a CR or LF into a header
/// we later serialize.
fn parse_quoted(cursor: &mut Cursor<'_>, limits: &Limits) -> Result<String, AuthError> {
    cursor.bump();
    let mut out = Vec::new();
    loop {
        let Some(byte) = cursor.peek() else {
            return Err(cursor.error("unterminated quoted string"));
        };
        match byte {
            b'"' => {
                cursor.bump();
                break;
            }
            b'\\' => {
                cursor.bump();
                match cursor.peek() {
                    Some(escaped) if escaped == b'\t' || (0x20..0x7f).contains(&escaped) => {
                        cursor.bump();
                        out.push(escaped);
                    }
                    _ => return Err(cursor.error("invalid escape in quoted string")),
                }
            }
            b'\r' | b'\n' => cursor.fold_into(&mut out),
            byte if is_ctl(byte) => {
                return Err(cursor.error("control character in quoted string"));
            }
            byte => {
                cursor.bump();
                out.push(byte);
            }
        }
        if out.len() > limits.max_value_len {
            return Err(AuthError::ValueTooLong {
                limit: limits.max_value_len,
            });
        }
    }
    String::from_utf8(out).map_err(|_| AuthError::InvalidUtf8)
}

/// Takes the rest of the input as the payload of a non-Digest scheme, normalizing folds so that
/// the payload can be written back on a single line.
fn parse_other_data(cursor: &mut Cursor<'_>) -> Result<String, AuthError> {
    let mut out = Vec::new();
    while let Some(byte) = cursor.peek() {
        match byte {
            b'\r' | b'\n' => cursor.fold_into(&mut out),
            byte if is_ctl(byte) => return Err(cursor.error("control character in header")),
            byte => {
                cursor.bump();
                out.push(byte);
            }
        }
    }
    trim_trailing_wsp(&mut out);
    String::from_utf8(out).map_err(|_| AuthError::InvalidUtf8)
}

/// A position in a header value.
#[derive(Debug)]
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn bump(&mut self) {
        self.pos = (self.pos + 1).min(self.input.len());
    }

    /// Consumes bytes while `pred` holds and returns them.
    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
        self.input.get(start..self.pos).unwrap_or_default()
    }

    /// Skips linear whitespace, including folds, and reports whether any was skipped.
    ///
    /// Bare CR and LF count as whitespace too: header values may arrive with their folds intact,
    /// and no other meaning for them is possible inside a single header value.
    fn skip_lws(&mut self) -> bool {
        !self.take_while(is_lws_byte).is_empty()
    }

    /// Replaces a folded line break (plus the whitespace around it) by a single space.
    fn fold_into(&mut self, out: &mut Vec<u8>) {
        trim_trailing_wsp(out);
        self.skip_lws();
        out.push(b' ');
    }

    fn error(&self, reason: &'static str) -> AuthError {
        AuthError::Syntax {
            offset: self.pos,
            reason,
        }
    }
}

fn trim_trailing_wsp(out: &mut Vec<u8>) {
    while out.last().is_some_and(|&b| b == b' ' || b == b'\t') {
        out.pop();
    }
}

fn is_lws_byte(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_ctl(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t') || byte == 0x7f
}

/// `token` characters of RFC 3261 §25.1.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&byte)
}

fn is_bare_value_byte(byte: u8) -> bool {
    byte > 0x20 && byte != 0x7f && byte != b',' && byte != b'"'
}

/// Whether `value` can be written without quotes.
fn is_token(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(is_token_byte)
}

/// Converts bytes already checked to be token characters.
fn ascii_string(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}

/// Stores a parameter value, refusing a second occurrence.
pub(super) fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    name: &'static str,
) -> Result<(), AuthError> {
    if slot.replace(value).is_some() {
        return Err(AuthError::DuplicateParam(name));
    }
    Ok(())
}

/// Parses the `true` / `false` flags (`stale`, `userhash`), ignoring case as RFC 2617 does.
pub(super) fn parse_flag(value: &str, name: &'static str) -> Result<bool, AuthError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(AuthError::InvalidParam(name))
    }
}

pub(super) fn parse_algorithm(value: String) -> Result<Algorithm, AuthError> {
    Algorithm::from_name(&value).ok_or(AuthError::UnsupportedAlgorithm(value))
}

/// Writes `scheme name=value, name=value` with the separators in the right places.
pub(super) struct ParamWriter<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    first: bool,
}

impl<'a, 'b> ParamWriter<'a, 'b> {
    pub(super) fn new(f: &'a mut fmt::Formatter<'b>, scheme: &str) -> Result<Self, fmt::Error> {
        f.write_str(scheme)?;
        Ok(Self { f, first: true })
    }

    fn start(&mut self, name: &str) -> fmt::Result {
        let separator = if self.first { " " } else { ", " };
        self.first = false;
        write!(self.f, "{separator}{name}=")
    }

    /// Writes a parameter whose value RFC 2617 requires to be a quoted-string.
    pub(super) fn quoted(&mut self, name: &str, value: &str) -> fmt::Result {
        self.start(name)?;
        write_quoted(self.f, value)
    }

    /// Writes a parameter whose value is a token by construction (enums, numbers, flags).
    pub(super) fn token(&mut self, name: &str, value: impl fmt::Display) -> fmt::Result {
        self.start(name)?;
        write!(self.f, "{value}")
    }

    /// Writes an unrecognised parameter, quoting its value unless it is a plain token.
    ///
    /// A name that is not a token cannot be written safely and is skipped; only hand-built
    /// parameters can have one, the parser never produces them.
    pub(super) fn extra(&mut self, param: &AuthParam) -> fmt::Result {
        if !is_token(&param.name) {
            return Ok(());
        }
        if is_token(&param.value) {
            self.token(&param.name, &param.value)
        } else {
            self.quoted(&param.name, &param.value)
        }
    }
}

/// Writes `value` as a quoted-string.
///
/// Control characters other than HT cannot appear in a quoted-string, not even escaped, so they
/// are written as spaces: a hand-built value containing CR LF must never be able to start a new
/// header line.
fn write_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_str("\"")?;
    for ch in value.chars() {
        match ch {
            '"' | '\\' => write!(f, "\\{ch}")?,
            '\t' => f.write_str("\t")?,
            ch if ch.is_ascii_control() => f.write_str(" ")?,
            ch => write!(f, "{ch}")?,
        }
    }
    f.write_str("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(input: &str) -> Vec<(String, String)> {
        match parse_header(input.as_bytes(), &Limits::DEFAULT).unwrap() {
            Parsed::Digest(params) => params.into_iter().map(|p| (p.name, p.value)).collect(),
            Parsed::Other(other) => panic!("unexpected scheme {other}"),
        }
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn quoted_and_bare_values() {
        assert_eq!(
            params(r#"Digest realm="a b", nonce=x/y+z==,qop="auth""#),
            pairs(&[("realm", "a b"), ("nonce", "x/y+z=="), ("qop", "auth")])
        );
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(
            params(r#"Digest realm="say \"hi\" \\ bye""#),
            pairs(&[("realm", r#"say "hi" \ bye"#)])
        );
    }

    #[test]
    fn folding_and_odd_whitespace() {
        let input = "\r\n Digest\r\n\trealm \t=\r\n \"multi \r\n\t line\"\t,\r\n  ,, nonce= n ,";
        assert_eq!(
            params(input),
            pairs(&[("realm", "multi line"), ("nonce", "n")])
        );
    }

    #[test]
    fn syntax_errors() {
        let limits = Limits::DEFAULT;
        for bad in [
            "",
            "   ",
            "Digest realm",
            "Digest realm=",
            "Digest realm=\"open",
            "Digest realm=\"a\\\r\n b\"",
            "Digest realm=\"a\x01b\"",
            "Digest realm=a nonce=b",
            "Digest =a",
            "Digest\"x\"",
            "Basic \x00",
        ] {
            let result = parse_header(bad.as_bytes(), &limits);
            assert!(
                matches!(result, Err(AuthError::Syntax { .. })),
                "{bad:?}: {result:?}"
            );
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_input_len: 64,
            max_params: 2,
            max_value_len: 6,
        };
        let parse = |s: &str| parse_header(s.as_bytes(), &limits).map(|_| ());
        assert_eq!(parse("Digest a=1,b=2"), Ok(()));
        assert_eq!(
            parse("Digest a=1,b=2,c=3"),
            Err(AuthError::TooManyParams { limit: 2 })
        );
        assert_eq!(
            parse("Digest a=1234567"),
            Err(AuthError::ValueTooLong { limit: 6 })
        );
        assert_eq!(
            parse("Digest a=\"1234567\""),
            Err(AuthError::ValueTooLong { limit: 6 })
        );
        assert_eq!(
            parse("Digest abcdefg=1"),
            Err(AuthError::ValueTooLong { limit: 6 })
        );
        assert_eq!(
            parse(&"x".repeat(65)),
            Err(AuthError::TooLong { limit: 64 })
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(
            parse_header(b"Digest realm=\"\xff\"", &Limits::DEFAULT).map(|_| ()),
            Err(AuthError::InvalidUtf8)
        );
    }

    #[test]
    fn other_scheme_keeps_normalized_data() {
        let Parsed::Other(other) =
            parse_header(b"Basic  QWxh\r\n ZGRp==  \r\n", &Limits::DEFAULT).unwrap()
        else {
            panic!("expected another scheme");
        };
        assert_eq!(other.name(), "Basic");
        assert_eq!(other.data(), "QWxh ZGRp==");
        assert_eq!(other.to_string(), "Basic QWxh ZGRp==");
        assert!(other.params().is_err());
    }

    struct Quoted<'a>(&'a str);

    impl fmt::Display for Quoted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_quoted(f, self.0)
        }
    }

    #[test]
    fn quoting_escapes_and_neutralizes_line_breaks() {
        assert_eq!(Quoted("a\"b\\c").to_string(), r#""a\"b\\c""#);
        assert_eq!(Quoted("x\r\nVia: evil").to_string(), "\"x  Via: evil\"");
    }
}
