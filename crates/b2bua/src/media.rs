//! Anchoring media: the interface to a media relay, and the SDP rewriting that points
//! each leg at the relay.
//!
//! The B2BUA stays sans-IO: it tells a [`MediaControl`] what the offers and answers say
//! and gets back the relay's ports; the binary implements the trait with the real relay.
//! Every SDP body that crosses from one leg to the other is read (each stream's address,
//! RTCP, rtcp-mux, clock rate and hold state go to the relay for the leg it came from) and
//! rewritten for the leg it goes to: every `c=` and the `o=` address become Palisade's
//! address on that leg, each active `m=` port the relay's RTP port of that stream on that
//! leg, `a=rtcp` the port above it, and ICE attributes go. A `c=0.0.0.0` hold stays a hold.
//! Relay leg `i` is call leg `i`: leg 0 faces whoever sent the call's first request.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use palisade_sip::Message;
use palisade_sip::sdp::{Media, MediaType, NullHold, Sdp, SdpError};

/// One leg's view of one stream, from the latest offer or answer it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRemote {
    /// Connection address and port of the m-line (`0.0.0.0` for an RFC 2543 hold).
    pub rtp: SocketAddr,
    /// The address from `a=rtcp`, if any; otherwise RTCP goes to the RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// The clock rate of the stream's first codec.
    pub clock_rate: u32,
    /// The IP the leg's signaling comes from: the relay may latch onto it.
    pub signaling_source: IpAddr,
}

/// Why the relay could not give a call its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaError {
    /// No free port pair: the call gets 503, a re-INVITE 488.
    Exhausted,
    /// Any other failure (a socket that could not be bound, too many streams).
    Failed,
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaError::Exhausted => "no free media ports",
            MediaError::Failed => "media relay failure",
        })
    }
}

/// What the B2BUA asks of a media relay. Relay leg `i` is call leg `i`; ports come back
/// per stream, indexed by leg, and RTCP is always the RTP port + 1.
pub trait MediaControl {
    /// Whether SDP is anchored at all. Without a relay, bodies cross unchanged.
    fn enabled(&self) -> bool {
        true
    }

    /// Creates the call's media session with `streams` streams; `local` is the address
    /// to bind on each leg's network. Returns each stream's RTP address on each leg.
    fn open(
        &mut self,
        call: u64,
        streams: usize,
        local: [IpAddr; 2],
    ) -> Result<Vec<[SocketAddr; 2]>, MediaError>;

    /// Adds a stream (an m-line added by a re-INVITE); returns its RTP address per leg.
    fn add_stream(&mut self, call: u64) -> Result<[SocketAddr; 2], MediaError>;

    /// A new offer or answer from `leg` for `stream`: re-arms latching.
    fn remote(&mut self, call: u64, leg: usize, stream: usize, remote: MediaRemote);

    /// `leg` put the call on hold, or resumed it.
    fn hold(&mut self, call: u64, leg: usize, on_hold: bool);

    /// The call was answered: its media idle time counts from now, not from the start of
    /// ringing.
    fn answered(&mut self, call: u64);

    /// The call ended: the session and its ports go.
    fn close(&mut self, call: u64);
}

/// No media relay: SDP crosses as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMedia;

impl MediaControl for NoMedia {
    fn enabled(&self) -> bool {
        false
    }

    fn open(
        &mut self,
        _call: u64,
        _streams: usize,
        _local: [IpAddr; 2],
    ) -> Result<Vec<[SocketAddr; 2]>, MediaError> {
        Err(MediaError::Failed)
    }

    fn add_stream(&mut self, _call: u64) -> Result<[SocketAddr; 2], MediaError> {
        Err(MediaError::Failed)
    }

    fn remote(&mut self, _call: u64, _leg: usize, _stream: usize, _remote: MediaRemote) {}

    fn hold(&mut self, _call: u64, _leg: usize, _on_hold: bool) {}

    fn answered(&mut self, _call: u64) {}

    fn close(&mut self, _call: u64) {}
}

/// A call's media session, as the B2BUA knows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallMedia {
    /// The session exists in the relay.
    pub(crate) open: bool,
    /// Each stream's relay RTP address on each leg.
    pub(crate) ports: Vec<[SocketAddr; 2]>,
}

/// Why a body could not be anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The relay had no ports (or failed).
    Media(MediaError),
    /// The SDP did not parse, or could not be rewritten.
    Invalid,
}

impl From<SdpError> for BodyError {
    fn from(_: SdpError) -> Self {
        BodyError::Invalid
    }
}

impl From<MediaError> for BodyError {
    fn from(e: MediaError) -> Self {
        BodyError::Media(e)
    }
}

/// Whether a message carries an SDP body.
pub(crate) fn has_sdp(m: &Message) -> bool {
    !m.body().is_empty()
        && matches!(m.content_type(), Some(Ok(ct)) if ct.value.eq_ignore_ascii_case("application/sdp"))
}

/// The clock rate of a stream's first format: its rtpmap, else the static payload types
/// of RFC 3551.
fn clock_rate(m: &Media<'_>) -> u32 {
    let Some(pt) = m.formats().next().and_then(|f| f.parse::<u8>().ok()) else {
        return 8000;
    };
    if let Some(map) = m.rtpmap(pt) {
        return map.clock_rate;
    }
    match pt {
        10 | 11 => 44_100,
        6 => 16_000,
        16 => 11_025,
        17 => 22_050,
        25 | 26 | 28 | 31 | 32 | 33 | 34 => 90_000,
        _ if matches!(m.media_type(), MediaType::Video) => 90_000,
        _ => 8000,
    }
}

/// What stream `m` of an SDP says for the relay; `None` for a rejected stream or one
/// whose address is a name.
pub(crate) fn remote_of(m: &Media<'_>, source: IpAddr) -> Option<MediaRemote> {
    if m.is_rejected() {
        return None;
    }
    let ip = m.connection()?.address.ip()?;
    let rtp = SocketAddr::new(ip, m.port());
    let rtcp = m.rtcp().map(|r| {
        let ip = r.connection.and_then(|c| c.address.ip()).unwrap_or(ip);
        SocketAddr::new(ip, r.port)
    });
    Some(MediaRemote {
        rtp,
        rtcp,
        rtcp_mux: m.rtcp_mux(),
        clock_rate: clock_rate(m),
        signaling_source: source,
    })
}

/// Whether the side that wrote `sdp` holds the call: an active stream on hold.
pub(crate) fn on_hold(sdp: &Sdp) -> bool {
    sdp.media_sections()
        .any(|m| !m.is_rejected() && m.is_on_hold())
}

/// `sdp` as sent to leg `to`: Palisade's address `addr` and the relay's ports of that leg.
pub(crate) fn rewrite(
    sdp: &Sdp,
    addr: IpAddr,
    ports: &[[SocketAddr; 2]],
    to: usize,
) -> Result<Bytes, SdpError> {
    let mut ed = sdp.edit();
    ed.set_connection_address(addr, NullHold::Preserve)
        .set_origin_address(addr)
        .remove_ice()
        .remove_sources();
    for m in sdp.media_sections() {
        let i = m.index();
        let Some(p) = ports.get(i).and_then(|p| p.get(to)) else {
            continue;
        };
        if m.is_rejected() {
            continue;
        }
        let port = p.port();
        ed.set_media_port(i, port)?;
        if let Some(r) = m.rtcp() {
            let rtcp = if m.rtcp_mux() && r.port == m.port() {
                port
            } else {
                port.saturating_add(1)
            };
            ed.set_rtcp(i, rtcp, None)?;
        }
    }
    Ok(ed.build())
}
