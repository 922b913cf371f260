//! rtpengine's ng control protocol: a cookie, a space and a bencoded dictionary over UDP,
//! answered with the same cookie and a dictionary. Enough of bencode for `offer`,
//! `answer` and `delete`.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// A bencode value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(Vec<(Vec<u8>, Value)>),
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    pub(crate) fn list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::str(s)).collect())
    }

    /// A dictionary's entry.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Value::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode(out);
                }
                out.push(b'e');
            }
            Value::Dict(entries) => {
                // Bencode wants the keys sorted as raw bytes.
                let mut sorted: Vec<&(Vec<u8>, Value)> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push(b'd');
                for (k, v) in sorted {
                    Value::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes one value from the front of `input`; returns it and the rest.
    pub(crate) fn decode(input: &[u8]) -> Option<(Value, &[u8])> {
        decode(input, 0)
    }
}

/// Nesting deeper than this is refused: the answers are flat.
const MAX_DEPTH: usize = 32;

fn decode(input: &[u8], depth: usize) -> Option<(Value, &[u8])> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *input.first()? {
        b'i' => {
            let end = input.iter().position(|&c| c == b'e')?;
            let n = std::str::from_utf8(&input[1..end]).ok()?.parse().ok()?;
            Some((Value::Int(n), &input[end + 1..]))
        }
        b'l' => {
            let mut rest = &input[1..];
            let mut items = Vec::new();
            while *rest.first()? != b'e' {
                let (v, r) = decode(rest, depth + 1)?;
                items.push(v);
                rest = r;
            }
            Some((Value::List(items), &rest[1..]))
        }
        b'd' => {
            let mut rest = &input[1..];
            let mut entries = Vec::new();
            while *rest.first()? != b'e' {
                let (Value::Bytes(k), r) = decode(rest, depth + 1)? else {
                    return None;
                };
                let (v, r) = decode(r, depth + 1)?;
                entries.push((k, v));
                rest = r;
            }
            Some((Value::Dict(entries), &rest[1..]))
        }
        b'0'..=b'9' => {
            let colon = input.iter().position(|&c| c == b':')?;
            let len: usize = std::str::from_utf8(&input[..colon]).ok()?.parse().ok()?;
            let start = colon + 1;
            let end = start.checked_add(len)?;
            let bytes = input.get(start..end)?;
            Some((Value::Bytes(bytes.to_vec()), &input[end..]))
        }
        _ => None,
    }
}

/// A dictionary from (key, value) pairs.
pub(crate) fn dict(entries: Vec<(&str, Value)>) -> Value {
    Value::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

/// An ng client: one request at a time, retried on silence.
pub(crate) struct Client {
    socket: UdpSocket,
    server: SocketAddr,
    /// Cookies are `PREFIX-N`: rtpengine caches answers by cookie, so a later run must
    /// not reuse an earlier run's.
    prefix: String,
    next_cookie: u64,
}

impl Client {
    pub(crate) fn new(local: SocketAddr, server: SocketAddr, prefix: &str) -> io::Result<Client> {
        let socket = UdpSocket::bind(local)?;
        socket.set_read_timeout(Some(Duration::from_millis(500)))?;
        Ok(Client {
            socket,
            server,
            prefix: prefix.to_owned(),
            next_cookie: 1,
        })
    }

    /// Sends `request` and returns the answer dictionary, which must say `result: ok`.
    pub(crate) fn call(&mut self, request: &Value) -> io::Result<Value> {
        let cookie = format!("{}-{}", self.prefix, self.next_cookie);
        self.next_cookie += 1;
        let mut datagram = format!("{cookie} ").into_bytes();
        request.encode(&mut datagram);
        let mut buf = vec![0u8; 65_536];
        for _ in 0..4 {
            self.socket.send_to(&datagram, self.server)?;
            loop {
                let n = match self.socket.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    Err(e) => return Err(e),
                };
                let reply = &buf[..n];
                let Some(body) = reply
                    .strip_prefix(cookie.as_bytes())
                    .and_then(|r| r.strip_prefix(b" "))
                else {
                    // An answer to an earlier, retried request.
                    continue;
                };
                let (answer, _) = Value::decode(body).ok_or_else(|| bad("undecodable answer"))?;
                return match answer.get("result").and_then(Value::as_str) {
                    Some("ok") => Ok(answer),
                    other => Err(bad(&format!(
                        "ng result {other:?}: {:?}",
                        answer.get("error-reason").and_then(Value::as_str)
                    ))),
                };
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "rtpengine did not answer",
        ))
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_sorted_keys() {
        let v = dict(vec![
            ("sdp", Value::str("v=0\r\n")),
            ("command", Value::str("offer")),
            ("flags", Value::list(&["a", "b"])),
            ("n", Value::Int(-3)),
        ]);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(
            out,
            b"d7:command5:offer5:flagsl1:a1:be1:ni-3e3:sdp5:v=0\r\ne".to_vec()
        );
        let (back, rest) = Value::decode(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back.get("command").and_then(Value::as_str), Some("offer"));
        assert_eq!(back.get("n"), Some(&Value::Int(-3)));
    }

    #[test]
    fn truncated_or_hostile_input_is_refused() {
        assert!(Value::decode(b"d6:result2:ok").is_none());
        assert!(Value::decode(b"5:ab").is_none());
        assert!(Value::decode(b"99999999999999999999:a").is_none());
        assert!(Value::decode(&[b'l'; 100]).is_none());
        assert!(Value::decode(b"di1ei2ee").is_none());
    }
}
