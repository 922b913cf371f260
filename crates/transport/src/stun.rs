//! STUN keep-alives on the SIP port (RFC 5626 §4.4.2, RFC 5389): a phone behind NAT that
//! uses SIP Outbound sends a STUN Binding request over its flow and expects a Binding
//! success response naming the address it was seen from. That one exchange is all a SIP
//! port needs of STUN, so it is written here rather than taken from a STUN stack.

use std::net::{IpAddr, SocketAddr};

/// RFC 5389 §6: the fixed value in every STUN header.
const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// Whether `data` is a STUN message: top two bits zero, the magic cookie, a length that
/// is a multiple of 4 and matches the datagram. A SIP message starts with a letter, so the
/// two cannot be mistaken for each other (RFC 7983 §7).
pub(crate) fn is_stun(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN
        && data[0] & 0xc0 == 0
        && u32::from_be_bytes([data[4], data[5], data[6], data[7]]) == MAGIC_COOKIE
        && usize::from(u16::from_be_bytes([data[2], data[3]])) == data.len() - HEADER_LEN
        && (data.len() - HEADER_LEN).is_multiple_of(4)
}

/// The Binding success response to `request` seen from `from`, or `None` when `request`
/// is not a Binding request (STUN indications and responses get no answer).
pub(crate) fn binding_response(request: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    if !is_stun(request) || u16::from_be_bytes([request[0], request[1]]) != BINDING_REQUEST {
        return None;
    }
    let txn = &request[8..HEADER_LEN];
    let port = from.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut value = vec![0u8];
    match from.ip() {
        IpAddr::V4(ip) => {
            value.push(0x01);
            value.extend_from_slice(&port.to_be_bytes());
            value.extend_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
        }
        IpAddr::V6(ip) => {
            value.push(0x02);
            value.extend_from_slice(&port.to_be_bytes());
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            key[4..].copy_from_slice(txn);
            value.extend(ip.octets().iter().zip(key).map(|(a, k)| a ^ k));
        }
    }
    let attr_len = u16::try_from(value.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + value.len());
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&(4 + attr_len).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(txn);
    out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
    out.extend_from_slice(&attr_len.to_be_bytes());
    out.extend_from_slice(&value);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5769 §2.1's sample request without its attributes, and the XOR-MAPPED-ADDRESS
    /// of §2.2's sample response for 192.0.2.1:32853.
    #[test]
    fn answers_a_binding_request_with_the_source_address() {
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        req.extend_from_slice(&[
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ]);
        assert!(is_stun(&req));
        let resp = binding_response(&req, "192.0.2.1:32853".parse().unwrap()).unwrap();
        assert_eq!(&resp[..2], &[0x01, 0x01]);
        assert_eq!(&resp[2..4], &[0x00, 0x0c]);
        assert_eq!(&resp[4..20], &req[4..20]);
        assert_eq!(
            &resp[20..],
            &[
                0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43
            ]
        );
        // RFC 5769 §2.3's IPv6 sample: 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
        let v6: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap();
        let resp = binding_response(&req, v6).unwrap();
        assert_eq!(
            &resp[24..],
            &[
                0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25,
                0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9
            ]
        );
    }

    #[test]
    fn sip_and_other_stun_messages_get_no_answer() {
        assert!(!is_stun(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"));
        assert!(!is_stun(&[0u8; 19]));
        let mut indication = vec![0x00, 0x11, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        indication.extend_from_slice(&[0u8; 12]);
        assert!(is_stun(&indication));
        assert_eq!(
            binding_response(&indication, "192.0.2.1:1".parse().unwrap()),
            None
        );
        let mut bad_len = indication.clone();
        bad_len[3] = 4;
        assert!(!is_stun(&bad_len));
    }
}
