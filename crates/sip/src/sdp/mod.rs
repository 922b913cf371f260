//! SDP (RFC 8866, RFC 4566): parsing and byte-faithful rewriting.
//!
//! An SBC anchoring media has to change a handful of fields (connection addresses, ports,
//! `a=rtcp:`, ICE attributes, the origin version) and must leave everything else exactly as
//! the endpoint wrote it: crypto keys, fingerprints, codec parameters and attributes nobody
//! here has heard of. So [`Sdp`] does not build a tree that gets re-serialised. It keeps the
//! original body and an index of byte ranges, offers typed read access through borrowed
//! views, and [`SdpEditor`] produces a new body in which only the edited lines differ.
//!
//! Parsing is bounded by [`SdpLimits`]: the body is scanned once, and the only allocations
//! are the line index and a few small vectors whose length the limits cap.

mod edit;
mod grammar;
mod media;
mod parse;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
mod types;

use std::ops::Range;

use bytes::Bytes;

pub use edit::{NullHold, SdpEditor};
pub use media::Media;
pub use types::{
    AddrType, Address, Attribute, Connection, Direction, ICE_ATTRIBUTES, MediaType, Origin, Rtcp,
    RtpMap, SOURCE_ATTRIBUTES, is_ice_attribute,
};

use parse::{AddrInfo, ConnInfo, Index, Span};

/// Resource limits applied while parsing untrusted bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpLimits {
    /// Largest accepted body in bytes.
    pub max_body_len: usize,
    /// Most `<type>=` lines.
    pub max_lines: usize,
    /// Longest line in bytes, without its line ending.
    pub max_line_len: usize,
    /// Most `m=` sections.
    pub max_media: usize,
}

impl Default for SdpLimits {
    /// Generous for any real call (a WebRTC offer with many candidates is a few KiB and a
    /// few dozen lines) while keeping the index of a hostile body small.
    fn default() -> Self {
        Self {
            max_body_len: 64 * 1024,
            max_lines: 512,
            max_line_len: 4096,
            max_media: 32,
        }
    }
}

/// Why a body was rejected or an edit refused. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body exceeds [`SdpLimits::max_body_len`].
    #[error("SDP body of {len} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// More lines than [`SdpLimits::max_lines`].
    #[error("SDP has more than {limit} lines")]
    TooManyLines {
        /// The limit.
        limit: usize,
    },
    /// A line longer than [`SdpLimits::max_line_len`].
    #[error("SDP line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// Line number.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// More `m=` sections than [`SdpLimits::max_media`].
    #[error("SDP has more than {limit} media sections")]
    TooManyMedia {
        /// The limit.
        limit: usize,
    },
    /// The body does not start with a `v=` line.
    #[error("SDP does not start with v=0")]
    MissingVersion,
    /// A `v=` line other than a first `v=0`.
    #[error("SDP line {line}: unsupported or repeated v= line")]
    BadVersion {
        /// Line number.
        line: usize,
    },
    /// Not `<lowercase letter>=<value>`, a stray CR, or a blank line before the end.
    #[error("SDP line {line} is not of the form <type>=<value>")]
    BadLine {
        /// Line number.
        line: usize,
    },
    /// No `o=` line in the session section.
    #[error("SDP has no o= line")]
    MissingOrigin,
    /// A malformed, repeated or misplaced `o=` line.
    #[error("SDP line {line}: malformed o= line")]
    BadOrigin {
        /// Line number.
        line: usize,
    },
    /// A malformed `c=` line.
    #[error("SDP line {line}: malformed c= line")]
    BadConnection {
        /// Line number.
        line: usize,
    },
    /// A malformed `m=` line.
    #[error("SDP line {line}: malformed m= line")]
    BadMedia {
        /// Line number.
        line: usize,
    },
    /// An `a=` line whose name is not a token.
    #[error("SDP line {line}: malformed attribute name")]
    BadAttribute {
        /// Line number.
        line: usize,
    },
    /// A malformed `a=rtcp:` line.
    #[error("SDP line {line}: malformed a=rtcp attribute")]
    BadRtcp {
        /// Line number.
        line: usize,
    },
    /// A port above 65535 in `m=` or `a=rtcp:`.
    #[error("SDP line {line}: port out of range")]
    PortOutOfRange {
        /// Line number.
        line: usize,
    },
    /// An edit named a media section that does not exist.
    #[error("no media section {index} (the SDP has {count})")]
    NoSuchMedia {
        /// The requested index.
        index: usize,
        /// Number of media sections.
        count: usize,
    },
    /// `sess-version` is already `u64::MAX` and cannot be incremented.
    #[error("o= sess-version cannot be incremented past u64::MAX")]
    VersionOverflow,
}

/// A parsed session description: the original body plus an index into it.
#[derive(Debug, Clone)]
pub struct Sdp {
    body: Bytes,
    index: Index,
}

impl Sdp {
    /// Parses a body, copying it once the size limit has been checked.
    pub fn parse(body: &[u8], limits: &SdpLimits) -> Result<Self, SdpError> {
        if body.len() > limits.max_body_len {
            return Err(SdpError::BodyTooLarge {
                len: body.len(),
                limit: limits.max_body_len,
            });
        }
        Self::parse_bytes(Bytes::copy_from_slice(body), limits)
    }

    /// Parses a body without copying it.
    pub fn parse_bytes(body: Bytes, limits: &SdpLimits) -> Result<Self, SdpError> {
        let index = parse::index(&body, limits)?;
        Ok(Self { body, index })
    }

    /// The body exactly as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body exactly as received, as a cheap clone.
    pub fn to_bytes(&self) -> Bytes {
        self.body.clone()
    }

    /// The `o=` line.
    pub fn origin(&self) -> Origin<'_> {
        let o = &self.index.origin;
        Origin {
            username: o.username.text(&self.body),
            sess_id: o.sess_id.text(&self.body),
            sess_version: o.version,
            nettype: o.nettype.text(&self.body),
            addrtype: o.addrtype,
            address: self.address(o.addr),
        }
    }

    /// The first session-level `c=` line, which applies to every media section that has
    /// none of its own.
    pub fn connection(&self) -> Option<Connection<'_>> {
        self.connections().next()
    }

    /// All session-level `c=` lines (normally at most one).
    pub fn connections(&self) -> impl Iterator<Item = Connection<'_>> + '_ {
        self.conns_in(self.session_lines())
            .iter()
            .map(|c| self.connection_view(c))
    }

    /// Session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> + '_ {
        self.attributes_in(self.session_lines())
    }

    /// The first session-level attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        self.attributes().find(|a| a.name() == name)
    }

    /// The session-level direction attribute, if any (media sections inherit it).
    pub fn direction(&self) -> Option<Direction> {
        direction_of(self.attributes())
    }

    /// Session-level `a=ice-lite`.
    pub fn ice_lite(&self) -> bool {
        self.attribute("ice-lite").is_some()
    }

    /// Session-level `a=ice-ufrag`.
    pub fn ice_ufrag(&self) -> Option<&str> {
        self.attribute("ice-ufrag").and_then(|a| a.value())
    }

    /// Session-level `a=ice-pwd`.
    pub fn ice_pwd(&self) -> Option<&str> {
        self.attribute("ice-pwd").and_then(|a| a.value())
    }

    /// Session-level `a=ice-options`.
    pub fn ice_options(&self) -> Option<&str> {
        self.attribute("ice-options").and_then(|a| a.value())
    }

    /// Whether any ICE attribute appears anywhere in the description.
    pub fn has_ice(&self) -> bool {
        self.attributes_in(0..self.index.lines.len())
            .any(|a| is_ice_attribute(a.name()))
    }

    /// Number of `m=` sections.
    pub fn media_count(&self) -> usize {
        self.index.media.len()
    }

    /// The media section at `index` (0-based, in `m=` order).
    pub fn media(&self, index: usize) -> Option<Media<'_>> {
        Media::new(self, index)
    }

    /// All media sections, in order.
    pub fn media_sections(&self) -> impl Iterator<Item = Media<'_>> + '_ {
        (0..self.media_count()).filter_map(|i| self.media(i))
    }

    /// Starts an edit; the description itself is never modified.
    pub fn edit(&self) -> SdpEditor<'_> {
        SdpEditor::new(self)
    }

    fn session_lines(&self) -> Range<usize> {
        0..self.index.session_end
    }

    /// The `c=` lines whose line index lies in `lines`.
    fn conns_in(&self, lines: Range<usize>) -> &[ConnInfo] {
        let conns = &self.index.conns;
        let from = conns.partition_point(|c| c.line < lines.start);
        let to = conns.partition_point(|c| c.line < lines.end);
        conns.get(from..to).unwrap_or_default()
    }

    fn attributes_in(&self, lines: Range<usize>) -> impl Iterator<Item = Attribute<'_>> + '_ {
        self.index
            .lines
            .get(lines)
            .unwrap_or_default()
            .iter()
            .filter(|l| l.kind == b'a')
            .map(|l| Attribute::from_line_value(l.value().slice(&self.body)))
    }

    fn address(&self, addr: AddrInfo) -> Address<'_> {
        match addr {
            AddrInfo::Ip(ip) => Address::Ip(ip),
            AddrInfo::Fqdn(span) => Address::Fqdn(span.text(&self.body)),
        }
    }

    fn connection_view(&self, c: &ConnInfo) -> Connection<'_> {
        Connection {
            nettype: c.nettype.text(&self.body),
            addrtype: c.addrtype,
            address: self.address(c.addr),
            suffix: c.suffix.map(|s: Span| s.text(&self.body)),
        }
    }
}

/// The first direction attribute among `attrs`.
fn direction_of<'a>(mut attrs: impl Iterator<Item = Attribute<'a>>) -> Option<Direction> {
    attrs.find_map(|a| Direction::from_attribute_name(a.name()))
}
