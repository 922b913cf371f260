//! Read access to one media section (`m=` line and the lines up to the next one).

use super::parse::{MediaInfo, RtcpInfo};
use super::types::{Attribute, Connection, Direction, MediaType, Rtcp, RtpMap};
use super::{Sdp, direction_of};

/// A borrowed view of one media section.
#[derive(Debug, Clone, Copy)]
pub struct Media<'a> {
    sdp: &'a Sdp,
    index: usize,
    info: &'a MediaInfo,
}

impl<'a> Media<'a> {
    pub(super) fn new(sdp: &'a Sdp, index: usize) -> Option<Self> {
        let info = sdp.index.media.get(index)?;
        Some(Self { sdp, index, info })
    }

    /// Position of this section among the `m=` lines, as used by [`super::SdpEditor`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// `<media>`.
    pub fn media_type(&self) -> MediaType<'a> {
        MediaType::from_token(self.info.kind.text(&self.sdp.body))
    }

    /// `<port>`; 0 means the stream is rejected or disabled (RFC 3264 §6, §8.2).
    pub fn port(&self) -> u16 {
        self.info.port
    }

    /// The `/<number of ports>` suffix, if present.
    pub fn port_count(&self) -> Option<u16> {
        self.info.port_count
    }

    /// `<proto>`, e.g. `RTP/AVP` or `UDP/TLS/RTP/SAVPF`.
    pub fn proto(&self) -> &'a str {
        self.info.proto.text(&self.sdp.body)
    }

    /// The `<fmt>` list: payload types for RTP, other tokens for other protocols.
    pub fn formats(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.info
            .formats
            .text(&self.sdp.body)
            .split(' ')
            .filter(|f| !f.is_empty())
    }

    /// Whether the stream is rejected or disabled (port 0).
    pub fn is_rejected(&self) -> bool {
        self.info.port == 0
    }

    /// The media-level `c=` lines (several are allowed for layered multicast).
    pub fn connections(&self) -> impl Iterator<Item = Connection<'a>> + 'a {
        let sdp = self.sdp;
        sdp.conns_in(self.info.lines())
            .iter()
            .map(move |c| sdp.connection_view(c))
    }

    /// The connection that applies: the first media-level `c=`, else the session-level one.
    pub fn connection(&self) -> Option<Connection<'a>> {
        self.connections().next().or_else(|| self.sdp.connection())
    }

    /// Whether the applicable connection address is `0.0.0.0` (RFC 2543 hold).
    ///
    /// A relay that rewrites addresses would turn such a hold into a live stream, so the
    /// caller checks this and keeps the null address (see [`super::NullHold`]).
    pub fn is_null_held(&self) -> bool {
        self.connection().is_some_and(|c| c.is_null_hold())
    }

    /// Whether the stream is on hold as seen from the side that wrote this description:
    /// direction `sendonly` or `inactive`, or an RFC 2543 null connection address.
    pub fn is_on_hold(&self) -> bool {
        matches!(self.direction(), Direction::SendOnly | Direction::Inactive) || self.is_null_held()
    }

    /// Media-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + 'a {
        self.sdp.attributes_in(self.info.lines())
    }

    /// The first media-level attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<Attribute<'a>> {
        self.attributes().find(|a| a.name() == name)
    }

    /// The media-level attribute `name`, else the session-level one: the inheritance
    /// rule RFC 8839 gives for `ice-ufrag`, `ice-pwd` and `ice-options`.
    fn inherited(&self, name: &str) -> Option<Attribute<'a>> {
        self.attribute(name).or_else(|| self.sdp.attribute(name))
    }

    /// The effective direction: media level, else session level, else `sendrecv`.
    pub fn direction(&self) -> Direction {
        direction_of(self.attributes())
            .or_else(|| self.sdp.direction())
            .unwrap_or_default()
    }

    /// `a=rtcp:` (RFC 3605). Absent means RTCP uses the RTP port + 1.
    pub fn rtcp(&self) -> Option<Rtcp<'a>> {
        self.rtcp_infos().next().map(|r| Rtcp {
            port: r.port,
            connection: r.conn.as_ref().map(|c| self.sdp.connection_view(c)),
        })
    }

    pub(super) fn rtcp_infos(&self) -> impl Iterator<Item = &'a RtcpInfo> + 'a {
        let lines = self.info.lines();
        self.sdp
            .index
            .rtcps
            .iter()
            .filter(move |r| lines.contains(&r.line))
    }

    /// `a=rtcp-mux` (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.attribute("rtcp-mux").is_some()
    }

    /// `a=ptime`, if present and a whole number of milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")?.value()?.trim().parse().ok()
    }

    /// The well-formed `a=rtpmap` lines; malformed ones are skipped.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap<'a>> + 'a {
        self.attributes()
            .filter(|a| a.name() == "rtpmap")
            .filter_map(|a| RtpMap::parse(a.value()?))
    }

    /// The `a=rtpmap` for `payload_type`.
    pub fn rtpmap(&self, payload_type: u8) -> Option<RtpMap<'a>> {
        self.rtpmaps().find(|m| m.payload_type == payload_type)
    }

    /// The values of `a=candidate` lines, unparsed.
    pub fn ice_candidates(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes()
            .filter(|a| a.name() == "candidate")
            .filter_map(|a| a.value())
    }

    /// The applicable `a=ice-ufrag`.
    pub fn ice_ufrag(&self) -> Option<&'a str> {
        self.inherited("ice-ufrag")?.value()
    }

    /// The applicable `a=ice-pwd`.
    pub fn ice_pwd(&self) -> Option<&'a str> {
        self.inherited("ice-pwd")?.value()
    }

    /// The applicable `a=ice-options`.
    pub fn ice_options(&self) -> Option<&'a str> {
        self.inherited("ice-options")?.value()
    }

    /// `a=end-of-candidates` at media or session level (RFC 8840).
    pub fn end_of_candidates(&self) -> bool {
        self.inherited("end-of-candidates").is_some()
    }

    /// The value of `a=remote-candidates`.
    pub fn remote_candidates(&self) -> Option<&'a str> {
        self.attribute("remote-candidates")?.value()
    }
}
