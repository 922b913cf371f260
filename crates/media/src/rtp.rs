//! The few RTP and RTCP header fields the relay reads (RFC 3550 §5.1, §6.4) and the
//! RTP/RTCP demultiplexing rule for a shared port (RFC 5761 §4).
//!
//! Nothing here allocates or panics: every read is bounds-checked, and a packet that is
//! neither version-2 RTP nor RTCP is reported as [`Packet::Other`].

/// What a datagram on a media port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    /// An RTP packet: the header fields the relay tracks.
    Rtp(RtpHeader),
    /// An RTCP packet (compound or not); `ssrc` is the sender's SSRC.
    Rtcp {
        /// SSRC of the packet sender (the second 32-bit word).
        ssrc: u32,
    },
    /// Too short, not version 2, or otherwise not RTP or RTCP.
    Other,
}

/// The fixed RTP header fields used for latching and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp, in units of the payload's clock rate.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
}

/// Minimum length of an RTP packet: the fixed header.
pub const RTP_HEADER_LEN: usize = 12;
/// Minimum length of an RTCP packet: a header and the sender's SSRC.
pub const RTCP_MIN_LEN: usize = 8;

/// Classifies a datagram received on a media port.
///
/// RTP and RTCP are told apart by the second octet, as RFC 5761 §4 prescribes for a
/// multiplexed port: values 192 to 223 are RTCP packet types (SR 200, RR 201, SDES 202,
/// BYE 203, APP 204, RTPFB 205, PSFB 206, XR 207, ...), which as RTP would be marker-bit
/// packets with payload types 64 to 95, a range RTP profiles leave unused for that reason.
/// The same rule is applied on a dedicated RTCP port, where only RTCP is valid.
pub fn classify(packet: &[u8]) -> Packet {
    let (Some(&b0), Some(&b1)) = (packet.first(), packet.get(1)) else {
        return Packet::Other;
    };
    if b0 >> 6 != 2 {
        return Packet::Other;
    }
    if (192..=223).contains(&b1) {
        return match word(packet, 4) {
            Some(ssrc) => Packet::Rtcp { ssrc },
            None => Packet::Other,
        };
    }
    match (half(packet, 2), word(packet, 4), word(packet, 8)) {
        (Some(seq), Some(timestamp), Some(ssrc)) => Packet::Rtp(RtpHeader {
            payload_type: b1 & 0x7f,
            marker: b1 & 0x80 != 0,
            seq,
            timestamp,
            ssrc,
        }),
        _ => Packet::Other,
    }
}

fn half(packet: &[u8], at: usize) -> Option<u16> {
    let bytes = packet.get(at..at + 2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn word(packet: &[u8], at: usize) -> Option<u32> {
    let bytes = packet.get(at..at + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xd5; 160]);
        p
    }

    #[test]
    fn reads_rtp_fields() {
        let p = rtp(0, true, 0xfffe, 0x1234_5678, 0xdead_beef);
        assert_eq!(
            classify(&p),
            Packet::Rtp(RtpHeader {
                payload_type: 0,
                marker: true,
                seq: 0xfffe,
                timestamp: 0x1234_5678,
                ssrc: 0xdead_beef
            })
        );
        // Dynamic payload types with the marker bit are still RTP (224..=255).
        assert!(matches!(classify(&rtp(101, true, 1, 2, 3)), Packet::Rtp(_)));
    }

    #[test]
    fn demultiplexes_rtcp_by_packet_type() {
        // A receiver report: V=2, RC=1, PT=201, length, SSRC.
        let rr = [0x81, 201, 0, 7, 0, 0, 0, 42, 1, 2, 3, 4];
        assert_eq!(classify(&rr), Packet::Rtcp { ssrc: 42 });
        for pt in 192..=223u8 {
            assert!(matches!(
                classify(&[0x80, pt, 0, 1, 0, 0, 0, 9]),
                Packet::Rtcp { ssrc: 9 }
            ));
        }
    }

    #[test]
    fn rejects_short_and_foreign_packets() {
        assert_eq!(classify(&[]), Packet::Other);
        assert_eq!(classify(&[0x80]), Packet::Other);
        assert_eq!(
            classify(&[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
            Packet::Other
        );
        assert_eq!(classify(&[0x81, 200, 0, 1, 0, 0, 0]), Packet::Other);
        // Version 0 (a STUN message starts with 0b00) and version 1.
        let mut stun = rtp(0, false, 1, 1, 1);
        stun[0] = 0x00;
        assert_eq!(classify(&stun), Packet::Other);
        stun[0] = 0x40;
        assert_eq!(classify(&stun), Packet::Other);
    }
}
