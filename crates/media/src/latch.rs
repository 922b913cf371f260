//! Symmetric latching with RTP Bleed protection, as a pure state machine per leg.
//!
//! A leg learns where its endpoint really is from the source address of the endpoint's
//! packets ("latching"), because the address in its SDP is often private or wrong. RTP
//! Bleed is the attack on naive latching: whoever sprays the relay's ports first gets the
//! call's media. Here a leg latches at most once per offer/answer, only from an allowed
//! source, and pins the SSRC of the packet it latched on:
//!
//! - [`LatchMode::Strict`] (the default): only a packet whose source IP is the SDP
//!   connection address or the IP the signaling came from may latch.
//! - [`LatchMode::Learn`]: the first packet from anywhere latches.
//!
//! Once latched, a packet is accepted only from the latched address and, for RTP, only
//! with the pinned SSRC. RTCP latches on its own (its port differs behind NAT), but once
//! RTP has latched, only from the RTP source's IP. Everything else is foreign and dropped. A new offer/answer
//! ([`LegLatch::reset`]) re-arms latching.

use std::net::{IpAddr, SocketAddr};

/// How a leg may latch onto the source of its endpoint's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatchMode {
    /// Latch only from the SDP connection address or the signaling source address.
    #[default]
    Strict,
    /// Latch from the first packet after an offer/answer, wherever it comes from.
    Learn,
}

/// Where packets for a leg go before that leg has latched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BeforeLatch {
    /// To the address and port of the leg's SDP (the default).
    #[default]
    SdpAddress,
    /// Nowhere: they are dropped (counted as `dropped_no_target`) until the leg latches.
    Drop,
}

/// RTP or RTCP: the two components of a media stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// RTP, on the even port.
    Rtp,
    /// RTCP, on the odd port or, with rtcp-mux, on the RTP port.
    Rtcp,
}

/// One leg's view of one media stream, from its latest SDP (offer or answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Connection address and port of the m-line. An unspecified address (`0.0.0.0`,
    /// `::`) is the old-style hold: nothing is sent to the leg. Port 0 disables the
    /// stream.
    pub rtp: SocketAddr,
    /// The RTCP address from `a=rtcp`; `None` means the RTP address with port + 1.
    pub rtcp: Option<SocketAddr>,
    /// Whether the leg multiplexes RTCP on the RTP port (`a=rtcp-mux` in the answer).
    pub rtcp_mux: bool,
    /// RTP clock rate of the stream's codec, for jitter (8000 for G.711).
    pub clock_rate: u32,
    /// Source IP of the leg's signaling. In strict mode packets from this IP may latch,
    /// besides packets from the SDP address.
    pub signaling_source: Option<IpAddr>,
}

impl Remote {
    /// A remote with the defaults: RTCP on RTP + 1, no rtcp-mux, 8000 Hz, no signaling
    /// source.
    pub fn new(rtp: SocketAddr) -> Self {
        Remote {
            rtp,
            rtcp: None,
            rtcp_mux: false,
            clock_rate: 8000,
            signaling_source: None,
        }
    }

    /// Sets the signaling source IP allowed to latch in strict mode.
    pub fn with_signaling_source(mut self, ip: IpAddr) -> Self {
        self.signaling_source = Some(ip);
        self
    }

    /// Sets rtcp-mux.
    pub fn with_rtcp_mux(mut self, mux: bool) -> Self {
        self.rtcp_mux = mux;
        self
    }

    /// Sets the codec clock rate.
    pub fn with_clock_rate(mut self, clock_rate: u32) -> Self {
        self.clock_rate = clock_rate;
        self
    }

    /// Whether the SDP puts the stream on hold with an unspecified address.
    pub fn is_hold_address(&self) -> bool {
        self.rtp.ip().is_unspecified()
    }

    /// Whether the stream is disabled (port 0).
    pub fn is_disabled(&self) -> bool {
        self.rtp.port() == 0
    }

    fn rtcp_addr(&self) -> SocketAddr {
        self.rtcp
            .unwrap_or_else(|| SocketAddr::new(self.rtp.ip(), self.rtp.port().saturating_add(1)))
    }

    fn sdp_addr(&self, component: Component) -> SocketAddr {
        match component {
            Component::Rtp => self.rtp,
            Component::Rtcp => self.rtcp_addr(),
        }
    }

    fn allows(&self, ip: IpAddr) -> bool {
        let sdp = |a: SocketAddr| !a.ip().is_unspecified() && a.ip() == ip;
        self.signaling_source == Some(ip) || sdp(self.rtp) || self.rtcp.is_some_and(sdp)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    latched: Option<SocketAddr>,
    /// The previous latch, kept as the destination after an offer/answer that did not
    /// change the SDP address (a session refresh), until the leg latches again.
    carry: Option<SocketAddr>,
}

impl Slot {
    fn rearm(&mut self, keep_destination: bool) {
        self.carry = if keep_destination {
            self.latched.or(self.carry)
        } else {
            None
        };
        self.latched = None;
    }
}

/// What to do with a packet received from a leg's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source (or it just latched): relay it.
    Accept {
        /// This packet latched the component.
        latched: bool,
    },
    /// Not from the latched source, the wrong SSRC, or not allowed to latch: drop it.
    Foreign,
}

/// Latching state of one leg of one stream: an RTP and an RTCP latch and the pinned SSRC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegLatch {
    mode: LatchMode,
    remote: Option<Remote>,
    rtp: Slot,
    rtcp: Slot,
    ssrc: Option<u32>,
}

impl LegLatch {
    /// A leg with no SDP yet: nothing latches until [`LegLatch::reset`].
    pub fn new(mode: LatchMode) -> Self {
        LegLatch {
            mode,
            ..LegLatch::default()
        }
    }

    /// A new offer/answer for the leg: take its SDP view and re-arm latching. If the
    /// SDP address is unchanged, the previous latch stays the destination until the
    /// endpoint latches again, so a session refresh does not interrupt the audio.
    pub fn reset(&mut self, remote: Remote) {
        let same = self
            .remote
            .as_ref()
            .is_some_and(|old| old.rtp == remote.rtp && old.rtcp_addr() == remote.rtcp_addr());
        let keep = same && !remote.is_hold_address() && !remote.is_disabled();
        self.rtp.rearm(keep);
        self.rtcp.rearm(keep);
        self.ssrc = None;
        self.remote = Some(remote);
    }

    /// The leg's current SDP view.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// The latched source of a component.
    pub fn latched(&self, component: Component) -> Option<SocketAddr> {
        self.slot(component).latched
    }

    /// The pinned SSRC.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    fn slot(&self, component: Component) -> &Slot {
        match component {
            Component::Rtp => &self.rtp,
            Component::Rtcp => &self.rtcp,
        }
    }

    /// Judges a packet the leg's endpoint sent: `ssrc` is the RTP SSRC (`None` for RTCP).
    pub fn accept(
        &mut self,
        component: Component,
        source: SocketAddr,
        ssrc: Option<u32>,
    ) -> Verdict {
        let rtp_latched = self.rtp.latched;
        let slot = match component {
            Component::Rtp => &mut self.rtp,
            Component::Rtcp => &mut self.rtcp,
        };
        if let Some(latched) = slot.latched {
            let ssrc_ok = component == Component::Rtcp || self.ssrc.is_none() || self.ssrc == ssrc;
            return if latched == source && ssrc_ok {
                Verdict::Accept { latched: false }
            } else {
                Verdict::Foreign
            };
        }
        let Some(remote) = &self.remote else {
            return Verdict::Foreign;
        };
        // An endpoint sends its RTCP from the host its RTP comes from: once RTP has
        // latched, RTCP latches only from that IP (in either mode).
        if component == Component::Rtcp
            && let Some(rtp) = rtp_latched
            && rtp.ip() != source.ip()
        {
            return Verdict::Foreign;
        }
        let allowed = match self.mode {
            LatchMode::Strict => remote.allows(source.ip()),
            LatchMode::Learn => true,
        };
        if !allowed {
            return Verdict::Foreign;
        }
        slot.latched = Some(source);
        slot.carry = None;
        if component == Component::Rtp {
            self.ssrc = ssrc;
        }
        Verdict::Accept { latched: true }
    }

    /// Where to send a packet of `component` to this leg, and from which of the leg's
    /// sockets (with rtcp-mux, RTCP goes out of the RTP socket). `None`: drop it.
    pub fn destination(
        &self,
        component: Component,
        policy: BeforeLatch,
    ) -> Option<(Component, SocketAddr)> {
        let mux = self.remote.as_ref().is_some_and(|r| r.rtcp_mux);
        let out = if mux { Component::Rtp } else { component };
        if let Some(remote) = &self.remote
            && (remote.is_disabled() || remote.is_hold_address())
        {
            return None;
        }
        let slot = self.slot(out);
        if let Some(addr) = slot.latched.or(slot.carry) {
            return Some((out, addr));
        }
        match (policy, &self.remote) {
            (BeforeLatch::SdpAddress, Some(remote)) => Some((out, remote.sdp_addr(out))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const RTP: Component = Component::Rtp;
    const RTCP: Component = Component::Rtcp;

    #[test]
    fn nothing_latches_before_an_sdp() {
        for mode in [LatchMode::Strict, LatchMode::Learn] {
            let mut leg = LegLatch::new(mode);
            assert_eq!(
                leg.accept(RTP, sa("127.0.0.7:4000"), Some(1)),
                Verdict::Foreign
            );
            assert_eq!(leg.destination(RTP, BeforeLatch::SdpAddress), None);
        }
    }

    #[test]
    fn strict_latches_only_from_the_sdp_or_signaling_address() {
        let mut leg = LegLatch::new(LatchMode::Strict);
        leg.reset(Remote::new(sa("10.0.0.5:5004")));
        // Before latching, media goes to the SDP address.
        assert_eq!(
            leg.destination(RTP, BeforeLatch::SdpAddress),
            Some((RTP, sa("10.0.0.5:5004")))
        );
        assert_eq!(
            leg.destination(RTCP, BeforeLatch::SdpAddress),
            Some((RTCP, sa("10.0.0.5:5005")))
        );
        assert_eq!(leg.destination(RTP, BeforeLatch::Drop), None);
        // The real source is elsewhere and not the signaling address: no latch.
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.7:4000"), Some(1)),
            Verdict::Foreign
        );
        // With the signaling source allowed, the same packet latches.
        leg.reset(Remote::new(sa("10.0.0.5:5004")).with_signaling_source(ip("127.0.0.7")));
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.7:4000"), Some(1)),
            Verdict::Accept { latched: true }
        );
        assert_eq!(
            leg.destination(RTP, BeforeLatch::Drop),
            Some((RTP, sa("127.0.0.7:4000")))
        );
        // The SDP address itself may latch, on any port.
        let mut leg = LegLatch::new(LatchMode::Strict);
        leg.reset(Remote::new(sa("127.0.0.5:5004")));
        assert_eq!(
            leg.accept(RTCP, sa("127.0.0.5:6001"), None),
            Verdict::Accept { latched: true }
        );
        assert_eq!(leg.latched(RTCP), Some(sa("127.0.0.5:6001")));
    }

    #[test]
    fn once_latched_only_the_latch_and_its_ssrc_are_accepted() {
        let mut leg = LegLatch::new(LatchMode::Learn);
        leg.reset(Remote::new(sa("10.0.0.5:5004")));
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.7:4000"), Some(7)),
            Verdict::Accept { latched: true }
        );
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.7:4000"), Some(7)),
            Verdict::Accept { latched: false }
        );
        // Another source (a sprayer), even with the right SSRC: foreign.
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.9:4000"), Some(7)),
            Verdict::Foreign
        );
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.7:4002"), Some(7)),
            Verdict::Foreign
        );
        // The latched source with another SSRC: foreign.
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.7:4000"), Some(8)),
            Verdict::Foreign
        );
        assert_eq!(leg.latched(RTP), Some(sa("127.0.0.7:4000")));
        assert_eq!(leg.ssrc(), Some(7));
    }

    #[test]
    fn a_new_offer_answer_rearms_and_may_keep_the_destination() {
        let mut leg = LegLatch::new(LatchMode::Strict);
        let remote = Remote::new(sa("10.0.0.5:5004")).with_signaling_source(ip("127.0.0.7"));
        leg.reset(remote.clone());
        leg.accept(RTP, sa("127.0.0.7:4000"), Some(7));
        // Same SDP (a refresh): the old latch stays the destination, a new one may latch.
        leg.reset(remote.clone());
        assert_eq!(leg.latched(RTP), None);
        assert_eq!(
            leg.destination(RTP, BeforeLatch::SdpAddress),
            Some((RTP, sa("127.0.0.7:4000")))
        );
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.7:4100"), Some(9)),
            Verdict::Accept { latched: true }
        );
        assert_eq!(
            leg.destination(RTP, BeforeLatch::SdpAddress),
            Some((RTP, sa("127.0.0.7:4100")))
        );
        // A re-target to a new address: the SDP address is the destination.
        leg.reset(Remote::new(sa("127.0.0.20:7000")));
        assert_eq!(
            leg.destination(RTP, BeforeLatch::SdpAddress),
            Some((RTP, sa("127.0.0.20:7000")))
        );
        assert_eq!(
            leg.accept(RTP, sa("127.0.0.7:4100"), Some(9)),
            Verdict::Foreign
        );
    }

    #[test]
    fn rtcp_latches_only_from_the_rtp_host_once_rtp_latched() {
        let mut leg = LegLatch::new(LatchMode::Learn);
        leg.reset(Remote::new(sa("10.0.0.5:5004")));
        leg.accept(RTP, sa("127.0.0.7:4000"), Some(7));
        assert_eq!(
            leg.accept(RTCP, sa("127.0.0.66:4001"), None),
            Verdict::Foreign
        );
        assert_eq!(
            leg.accept(RTCP, sa("127.0.0.7:4001"), None),
            Verdict::Accept { latched: true }
        );
    }

    #[test]
    fn hold_and_disabled_streams_get_nothing() {
        let mut leg = LegLatch::new(LatchMode::Learn);
        leg.reset(Remote::new(sa("127.0.0.5:5004")));
        leg.accept(RTP, sa("127.0.0.5:5004"), Some(1));
        leg.reset(Remote::new(sa("0.0.0.0:5004")));
        assert_eq!(leg.destination(RTP, BeforeLatch::SdpAddress), None);
        leg.reset(Remote::new(sa("127.0.0.5:0")));
        assert_eq!(leg.destination(RTP, BeforeLatch::SdpAddress), None);
        // The hold address never allows a latch in strict mode.
        let mut strict = LegLatch::new(LatchMode::Strict);
        strict.reset(Remote::new(sa("0.0.0.0:5004")));
        assert_eq!(
            strict.accept(RTP, sa("0.0.0.0:1"), Some(1)),
            Verdict::Foreign
        );
    }

    #[test]
    fn rtcp_mux_sends_rtcp_out_of_the_rtp_socket() {
        let mut leg = LegLatch::new(LatchMode::Strict);
        leg.reset(Remote::new(sa("127.0.0.5:5004")).with_rtcp_mux(true));
        assert_eq!(
            leg.destination(RTCP, BeforeLatch::SdpAddress),
            Some((RTP, sa("127.0.0.5:5004")))
        );
        leg.accept(RTP, sa("127.0.0.5:6000"), Some(1));
        assert_eq!(
            leg.destination(RTCP, BeforeLatch::SdpAddress),
            Some((RTP, sa("127.0.0.5:6000")))
        );
    }
}
