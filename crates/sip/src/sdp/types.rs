//! Typed views of SDP fields. They borrow from the parsed body, so reading an SDP never
//! copies strings.

use std::fmt;
use std::net::IpAddr;

/// `<addrtype>` of `c=`, `o=` and `a=rtcp:`.
///
/// Only the two address types an IP media relay can use are represented; any other
/// address type is rejected at parse time because the SBC could neither relay nor rewrite it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`
    Ip4,
    /// `IP6`
    Ip6,
}

impl AddrType {
    /// The token as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip4 => "IP4",
            Self::Ip6 => "IP6",
        }
    }

    /// The address type that must accompany `addr` in a rewritten line.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::Ip4,
            IpAddr::V6(_) => Self::Ip6,
        }
    }

    /// Case-insensitive, as some stacks write `ip4`.
    pub(super) fn parse(token: &[u8]) -> Option<Self> {
        if token.eq_ignore_ascii_case(b"IP4") {
            Some(Self::Ip4)
        } else if token.eq_ignore_ascii_case(b"IP6") {
            Some(Self::Ip6)
        } else {
            None
        }
    }
}

impl fmt::Display for AddrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A unicast or multicast address from `c=`, `o=` or `a=rtcp:`.
///
/// IPv6 addresses are written without brackets in SDP (RFC 8866 §9, RFC 5118 §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Address<'a> {
    /// A literal address whose family matches the line's `<addrtype>`.
    Ip(IpAddr),
    /// A host name; resolving it is the caller's business.
    Fqdn(&'a str),
}

impl Address<'_> {
    /// The literal address, if this is not a host name.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) => Some(*ip),
            Self::Fqdn(_) => None,
        }
    }

    /// `0.0.0.0` (or `::`): the RFC 2543 way of putting a stream on hold.
    ///
    /// RFC 2543 only defined the IPv4 form; `::` is treated the same because some stacks
    /// use it by analogy and it can never be a real media destination either.
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

impl fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Fqdn(name) => f.write_str(name),
        }
    }
}

/// A connection: `c=<nettype> <addrtype> <address>[/<ttl>][/<number>]`, or the optional
/// trailing part of `a=rtcp:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'a> {
    /// `<nettype>`, in practice always `IN`.
    pub nettype: &'a str,
    /// `<addrtype>`.
    pub addrtype: AddrType,
    /// The address without its multicast suffix.
    pub address: Address<'a>,
    /// The multicast `ttl/number` (IPv4) or `number` (IPv6) suffix after the first `/`,
    /// kept verbatim.
    pub suffix: Option<&'a str>,
}

impl Connection<'_> {
    /// Whether this is an RFC 2543 hold (`0.0.0.0`), see [`Address::is_unspecified`].
    pub fn is_null_hold(&self) -> bool {
        self.address.is_unspecified()
    }
}

/// The `o=` line: `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// `<username>`, `-` when the originator does not use one.
    pub username: &'a str,
    /// `<sess-id>`, kept as text: it is an identifier and is never incremented.
    pub sess_id: &'a str,
    /// `<sess-version>`, which RFC 3264 §8 requires to grow with every changed offer.
    pub sess_version: u64,
    /// `<nettype>`.
    pub nettype: &'a str,
    /// `<addrtype>`.
    pub addrtype: AddrType,
    /// `<unicast-address>`.
    pub address: Address<'a>,
}

/// `<media>` of an `m=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType<'a> {
    /// `audio`
    Audio,
    /// `video`
    Video,
    /// `text` (RFC 4103 real-time text)
    Text,
    /// `application` (BFCP, WebRTC data channels, ...)
    Application,
    /// `message` (MSRP)
    Message,
    /// `image` (T.38 fax)
    Image,
    /// Any other token, kept verbatim.
    Other(&'a str),
}

impl<'a> MediaType<'a> {
    pub(super) fn from_token(token: &'a str) -> Self {
        match token {
            "audio" => Self::Audio,
            "video" => Self::Video,
            "text" => Self::Text,
            "application" => Self::Application,
            "message" => Self::Message,
            "image" => Self::Image,
            other => Self::Other(other),
        }
    }

    /// The token as written in SDP.
    pub fn as_str(&self) -> &'a str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Text => "text",
            Self::Application => "application",
            Self::Message => "message",
            Self::Image => "image",
            Self::Other(token) => token,
        }
    }
}

/// Stream direction attribute (RFC 3264 §5.1, RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`, also the default when no direction attribute is present.
    #[default]
    SendRecv,
    /// `a=sendonly`
    SendOnly,
    /// `a=recvonly`
    RecvOnly,
    /// `a=inactive`
    Inactive,
}

impl Direction {
    /// The attribute name as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction named by an attribute, if it is one.
    pub fn from_attribute_name(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `a=` line: a property (`a=name:value`) or a flag (`a=name`).
///
/// The value is kept as bytes because RFC 8866 allows attribute values in other charsets
/// (`a=charset:`); [`Attribute::value`] gives the common UTF-8 view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    name: &'a str,
    value: Option<&'a [u8]>,
}

impl<'a> Attribute<'a> {
    /// Splits the text after `a=`; the name was checked to be a token at parse time.
    pub(super) fn from_line_value(text: &'a [u8]) -> Self {
        let (name, value) = match memchr::memchr(b':', text) {
            Some(colon) => (&text[..colon], Some(&text[colon + 1..])),
            None => (text, None),
        };
        Self {
            name: std::str::from_utf8(name).unwrap_or_default(),
            value,
        }
    }

    /// The attribute name, e.g. `rtpmap`.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The value after the first `:`, if it is valid UTF-8.
    pub fn value(&self) -> Option<&'a str> {
        self.value.and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The value after the first `:` as raw bytes.
    pub fn raw_value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// Whether this is a flag attribute (no `:`).
    pub fn is_flag(&self) -> bool {
        self.value.is_none()
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp<'a> {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the stream's connection address.
    pub connection: Option<Connection<'a>>,
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Encoding name, e.g. `opus` or `telephone-event`.
    pub encoding: &'a str,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters, e.g. the channel count `2`.
    pub params: Option<&'a str>,
}

impl<'a> RtpMap<'a> {
    /// Parses an `rtpmap` value; `None` when it is malformed.
    pub fn parse(value: &'a str) -> Option<Self> {
        let (pt, rest) = value.split_once(' ')?;
        let payload_type = pt.parse::<u8>().ok().filter(|pt| *pt <= 127)?;
        let mut parts = rest.trim_start().splitn(3, '/');
        let encoding = parts.next().filter(|e| !e.is_empty())?;
        let clock_rate = parts.next()?.trim_end().parse::<u32>().ok()?;
        let params = parts.next().map(str::trim_end);
        Some(Self {
            payload_type,
            encoding,
            clock_rate,
            params,
        })
    }
}

/// The ICE attributes of RFC 8839 and RFC 8840, which a media relay terminating the media
/// path must strip (or replace with its own) because the candidates point past it.
pub const ICE_ATTRIBUTES: &[&str] = &[
    "candidate",
    "remote-candidates",
    "ice-lite",
    "ice-mismatch",
    "ice-ufrag",
    "ice-pwd",
    "ice-pacing",
    "ice-options",
    "end-of-candidates",
];

/// The source-specific attributes of RFC 5576: SSRCs and their CNAMEs, which name the
/// endpoint behind the relay (a CNAME is often `user@private-address`).
pub const SOURCE_ATTRIBUTES: &[&str] = &["ssrc", "ssrc-group"];

/// Whether `name` is one of the [`ICE_ATTRIBUTES`].
pub fn is_ice_attribute(name: &str) -> bool {
    ICE_ATTRIBUTES.contains(&name)
}
