//! What the receivers record: a latency histogram, RFC 3550 interarrival jitter per
//! stream, and counts; and the CPU time of processes from /proc.

/// Histogram resolution: 100 ns.
const BUCKET_NS: u64 = 100;
/// Latencies up to 50 ms are binned; longer ones are counted as overflow.
const BUCKETS: usize = 500_000;

/// One-way latencies in 100 ns buckets.
pub(crate) struct Histogram {
    counts: Vec<u32>,
    overflow: u64,
    total: u64,
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            overflow: 0,
            total: 0,
        }
    }

    pub(crate) fn record(&mut self, ns: u64) {
        self.total += 1;
        match usize::try_from(ns / BUCKET_NS) {
            Ok(i) if i < BUCKETS => self.counts[i] = self.counts[i].saturating_add(1),
            _ => self.overflow += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.overflow += other.overflow;
        self.total += other.total;
    }

    /// The `q` quantile in microseconds (the bucket's upper edge); the 50 ms cap if it
    /// falls in the overflow; 0 if empty.
    pub(crate) fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((self.total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return ((i as u64 + 1) * BUCKET_NS) as f64 / 1000.0;
            }
        }
        (BUCKETS as u64 * BUCKET_NS) as f64 / 1000.0
    }
}

/// RFC 3550 interarrival jitter of each stream, in nanoseconds: J += (|D| - J) / 16,
/// with D the difference between the transit times (receive minus send) of two packets
/// received in a row.
pub(crate) struct Jitter {
    last_transit: Vec<Option<i64>>,
    jitter: Vec<f64>,
}

impl Jitter {
    pub(crate) fn new(streams: usize) -> Jitter {
        Jitter {
            last_transit: vec![None; streams],
            jitter: vec![0.0; streams],
        }
    }

    pub(crate) fn record(&mut self, stream: usize, sent_ns: u64, received_ns: u64) {
        let Some(last) = self.last_transit.get_mut(stream) else {
            return;
        };
        let transit = i64::try_from(received_ns).unwrap_or(i64::MAX)
            - i64::try_from(sent_ns).unwrap_or(i64::MAX);
        if let Some(prev) = *last {
            #[allow(clippy::cast_precision_loss)]
            let d = (transit - prev).unsigned_abs() as f64;
            let j = &mut self.jitter[stream];
            *j += (d - *j) / 16.0;
        }
        *last = Some(transit);
    }

    /// Streams with at least two packets: (mean, maximum) jitter in microseconds.
    pub(crate) fn summary(parts: &[&Jitter]) -> (f64, f64) {
        let (mut sum, mut max, mut n) = (0.0f64, 0.0f64, 0u32);
        for part in parts {
            for (j, last) in part.jitter.iter().zip(&part.last_transit) {
                if last.is_some() {
                    sum += j;
                    max = max.max(*j);
                    n += 1;
                }
            }
        }
        if n == 0 {
            (0.0, 0.0)
        } else {
            (sum / f64::from(n) / 1000.0, max / 1000.0)
        }
    }
}

/// utime + stime of process `pid`, in clock ticks (0 if it cannot be read).
pub(crate) fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The fields after the command name, which is in parentheses and may hold spaces:
    // utime and stime are fields 14 and 15, the 12th and 13th after the ")".
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Datagrams the kernel dropped on the UDP sockets bound to `addr` (the last column of
/// /proc/net/udp: a full receive buffer).
pub(crate) fn socket_drops(addr: std::net::SocketAddrV4) -> u64 {
    let Ok(table) = std::fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    // The kernel prints the address as the in-memory u32 in hex (so byte-swapped on a
    // little-endian machine) and the port in host order.
    let ip = u32::from_ne_bytes(addr.ip().octets());
    let local = format!("{ip:08X}:{:04X}", addr.port());
    table
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut h = Histogram::new();
        for us in 1..=100u64 {
            h.record(us * 1000 - 50);
        }
        assert!((h.quantile_us(0.5) - 50.0).abs() < 0.01);
        assert!((h.quantile_us(0.99) - 99.0).abs() < 0.01);
        h.record(1_000_000_000);
        assert!((h.quantile_us(1.0) - 50_000.0).abs() < 0.01);
    }

    #[test]
    fn constant_transit_has_no_jitter_and_alternating_transit_converges() {
        let mut j = Jitter::new(2);
        for k in 0..100u64 {
            j.record(0, k * 20_000_000, k * 20_000_000 + 30_000);
            let extra = if k % 2 == 0 { 0 } else { 16_000 };
            j.record(1, k * 20_000_000, k * 20_000_000 + 30_000 + extra);
        }
        let (mean, max) = Jitter::summary(&[&j]);
        assert!((max - 16.0).abs() < 0.1, "{max}");
        assert!((mean - 8.0).abs() < 0.1, "{mean}");
    }

    #[test]
    fn loopback_addresses_as_proc_prints_them() {
        let a: std::net::SocketAddrV4 = "127.0.0.41:30000"
            .parse()
            .unwrap_or_else(|_| std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0));
        let ip = u32::from_ne_bytes(a.ip().octets());
        if cfg!(target_endian = "little") {
            assert_eq!(format!("{ip:08X}:{:04X}", a.port()), "2900007F:7530");
        }
    }
}
