//! Reception statistics from RTP headers: the extended sequence number and packet loss
//! (RFC 3550 appendices A.1 and A.3) and the interarrival jitter (RFC 3550 A.8).
//!
//! Pure arithmetic: no clock reads, no IO. The caller passes each packet's sequence
//! number, RTP timestamp and arrival time (already converted to timestamp units).

/// 2^16, the sequence number modulus.
const RTP_SEQ_MOD: u32 = 1 << 16;
/// A jump forward by less than this is taken as loss, not as a restart (A.1).
pub const MAX_DROPOUT: u16 = 3000;
/// A jump backward by up to this is taken as reordering or duplication (A.1).
pub const MAX_MISORDER: u16 = 100;
/// Sequential packets needed before a new source is valid (A.1).
pub const MIN_SEQUENTIAL: u32 = 2;

/// Sequence-number state of one source, RFC 3550 A.1 `source` with its `update_seq`.
///
/// A new source is on probation until [`MIN_SEQUENTIAL`] packets arrive in sequence, so
/// a stray packet does not count. After that, a jump of [`MAX_DROPOUT`] or more is
/// ignored unless the next packet follows it, in which case the sender restarted and
/// the state starts over from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqTracker {
    max_seq: u16,
    /// Shifted count of sequence number wraps (multiples of 2^16).
    cycles: u64,
    base_seq: u32,
    /// The sequence number that would confirm a restart; 2^16 + 1 when none is pending.
    bad_seq: u32,
    probation: u32,
    received: u64,
}

impl SeqTracker {
    /// A source whose first packet carries `seq` (A.1: `init_seq` then probation).
    pub fn new(seq: u16) -> Self {
        let mut s = SeqTracker {
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: 0,
            received: 0,
        };
        s.init(seq);
        s.max_seq = seq.wrapping_sub(1);
        s.probation = MIN_SEQUENTIAL;
        // The first packet is the first step of probation.
        s.update(seq);
        s
    }

    fn init(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
    }

    /// Feeds one packet's sequence number. Returns whether the packet is valid, A.1's
    /// `update_seq`: false while on probation and for a jump that is not (yet) a restart.
    pub fn update(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                self.cycles += u64::from(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // A very large jump.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: the other side restarted without telling us.
                self.init(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // Otherwise a duplicate or reordered packet: counted, max unchanged.
        self.received += 1;
        true
    }

    /// Whether the source has passed probation.
    pub fn is_valid(&self) -> bool {
        self.probation == 0
    }

    /// The highest sequence number received, extended with the wrap count (A.3).
    pub fn extended_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    /// Packets received and counted since the source became valid.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected since the source became valid (A.3).
    pub fn expected(&self) -> u64 {
        if !self.is_valid() {
            return 0;
        }
        (self.extended_max() + 1).saturating_sub(u64::from(self.base_seq))
    }

    /// Cumulative packets lost (A.3): expected minus received. Negative when duplicates
    /// arrived, as RFC 3550 §6.4.1 allows.
    pub fn lost(&self) -> i64 {
        let expected = i64::try_from(self.expected()).unwrap_or(i64::MAX);
        let received = i64::try_from(self.received).unwrap_or(i64::MAX);
        expected.saturating_sub(received)
    }
}

/// Interarrival jitter estimator, RFC 3550 A.8 in its integer form: the estimate is kept
/// scaled by 16 and moves 1/16 of the way toward each new transit-time difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Jitter {
    transit: Option<u32>,
    /// The estimate in timestamp units, times 16.
    scaled: u32,
}

impl Jitter {
    /// A fresh estimator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet: `arrival` is the arrival time and `timestamp` the packet's RTP
    /// timestamp, both in timestamp units (arrival converted with the payload clock
    /// rate). Both wrap modulo 2^32, as RTP timestamps do.
    pub fn update(&mut self, arrival: u32, timestamp: u32) {
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(previous) = self.transit {
            // The difference of two transits, taken modulo 2^32 as a signed value.
            let d = transit.wrapping_sub(previous).cast_signed().unsigned_abs();
            let current = (self.scaled + 8) >> 4;
            self.scaled = self.scaled.wrapping_add(d).wrapping_sub(current);
        }
        self.transit = Some(transit);
    }

    /// The jitter estimate in timestamp units (A.8: `s->jitter >> 4`).
    pub fn value(&self) -> u32 {
        self.scaled >> 4
    }

    /// The estimate in timestamp units times 16, as kept.
    pub fn scaled(&self) -> u32 {
        self.scaled
    }
}

/// Converts a duration in nanoseconds to RTP timestamp units at `clock_rate` Hz,
/// modulo 2^32 (the width of an RTP timestamp).
pub fn nanos_to_units(nanos: u64, clock_rate: u32) -> u32 {
    let units = u128::from(nanos) * u128::from(clock_rate) / 1_000_000_000;
    // RTP time wraps at 2^32: keep the low 32 bits.
    u32::try_from(units & u128::from(u32::MAX)).unwrap_or(0)
}

/// Converts a jitter in timestamp units to microseconds at `clock_rate` Hz.
pub fn units_to_micros(units: u32, clock_rate: u32) -> u64 {
    if clock_rate == 0 {
        return 0;
    }
    u64::from(units) * 1_000_000 / u64::from(clock_rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(s: &mut SeqTracker, seqs: impl IntoIterator<Item = u16>) {
        for q in seqs {
            s.update(q);
        }
    }

    #[test]
    fn probation_then_counting() {
        // A.1: the first packet starts probation, the second in sequence validates the
        // source and becomes the base.
        let mut s = SeqTracker::new(1000);
        assert!(!s.is_valid());
        assert_eq!(s.expected(), 0);
        assert!(s.update(1001));
        assert!(s.is_valid());
        assert_eq!((s.expected(), s.received(), s.lost()), (1, 1, 0));
        feed(&mut s, 1002..1100);
        assert_eq!((s.expected(), s.received(), s.lost()), (99, 99, 0));
    }

    #[test]
    fn probation_restarts_on_a_gap() {
        let mut s = SeqTracker::new(10);
        assert!(!s.update(12));
        assert!(!s.is_valid());
        assert!(s.update(13));
        assert!(s.is_valid());
        assert_eq!(s.extended_max(), 13);
    }

    #[test]
    fn loss_is_expected_minus_received() {
        let mut s = SeqTracker::new(0);
        feed(&mut s, (1..=100).filter(|q| q % 10 != 5));
        // Expected 1..=100 = 100 packets, 10 of them skipped.
        assert_eq!((s.expected(), s.received(), s.lost()), (100, 90, 10));
    }

    #[test]
    fn wraparound_extends_the_sequence_number() {
        let mut s = SeqTracker::new(65_530);
        feed(&mut s, (65_531..=65_535).chain(0..10));
        assert_eq!(s.extended_max(), 65_536 + 9);
        assert_eq!((s.expected(), s.lost()), (15, 0));
    }

    #[test]
    fn duplicates_make_loss_negative_and_reordering_does_not_wrap() {
        let mut s = SeqTracker::new(100);
        feed(&mut s, [101, 102, 104, 103, 103]);
        assert_eq!(s.extended_max(), 104);
        assert_eq!((s.expected(), s.received()), (4, 5));
        assert_eq!(s.lost(), -1);
    }

    #[test]
    fn a_large_jump_is_a_restart_only_when_confirmed() {
        let mut s = SeqTracker::new(1);
        feed(&mut s, 2..=50);
        // A single packet far ahead is ignored.
        assert!(!s.update(40_000));
        assert_eq!(s.extended_max(), 50);
        // The next one in sequence confirms the restart: the state starts over there.
        assert!(!s.update(45_000));
        assert!(s.update(45_001));
        assert_eq!(
            (s.extended_max(), s.expected(), s.received()),
            (45_001, 1, 1)
        );
    }

    #[test]
    fn jitter_is_zero_for_constant_transit() {
        let mut j = Jitter::new();
        for i in 0..100u32 {
            j.update(5_000 + i * 160, i * 160);
        }
        assert_eq!(j.value(), 0);
    }

    #[test]
    fn jitter_follows_the_a8_recurrence() {
        // Transit differences |D| alternate with magnitude 80: J += (|D| - J) / 16, so the
        // first step gives 80/16 = 5 and the estimate converges to 80.
        let mut j = Jitter::new();
        j.update(0, 0);
        j.update(160 + 80, 160);
        assert_eq!(j.scaled(), 80);
        assert_eq!(j.value(), 5);
        for i in 2..400u32 {
            let delay = if i % 2 == 0 { 0 } else { 80 };
            j.update(i * 160 + delay, i * 160);
        }
        assert!((78..=80).contains(&j.value()), "{}", j.value());
    }

    #[test]
    fn jitter_handles_timestamp_and_clock_wrap() {
        let mut j = Jitter::new();
        let start = u32::MAX - 400;
        for i in 0..10u32 {
            j.update(
                i.wrapping_mul(160).wrapping_add(7),
                start.wrapping_add(i * 160),
            );
        }
        assert_eq!(j.value(), 0);
    }

    #[test]
    fn unit_conversions() {
        assert_eq!(nanos_to_units(20_000_000, 8000), 160);
        assert_eq!(nanos_to_units(1_000_000_000, 90_000), 90_000);
        assert_eq!(nanos_to_units((1u64 << 32) * 125_000, 8000), 0);
        assert_eq!(units_to_micros(80, 8000), 10_000);
        assert_eq!(units_to_micros(80, 0), 0);
    }

    proptest! {
        /// In-order delivery from any starting point, across any number of wraps, with
        /// gaps below MAX_DROPOUT: the extended sequence number is exact and the loss is
        /// the number of skipped packets.
        #[test]
        fn extended_seq_and_loss_across_wraps(
            start in any::<u16>(),
            steps in proptest::collection::vec(1u16..200, 2..2000),
        ) {
            let mut s = SeqTracker::new(start);
            // The second packet in sequence validates the source: it is the base.
            let mut ext = u64::from(start) + 1;
            s.update(u16::try_from(ext % 65_536).unwrap());
            let base = ext;
            let mut received = 1u64;
            for step in steps {
                ext += u64::from(step);
                prop_assert!(s.update(u16::try_from(ext % 65_536).unwrap()));
                received += 1;
            }
            let wraps_at_base = base & !0xffff;
            prop_assert_eq!(s.extended_max() + wraps_at_base, ext);
            prop_assert_eq!(s.received(), received);
            prop_assert_eq!(s.expected(), ext - base + 1);
            prop_assert_eq!(s.lost(), i64::try_from(ext - base + 1 - received).unwrap());
        }

        /// Reordering by less than MAX_MISORDER never counts as a wrap.
        #[test]
        fn reordering_near_the_wrap(start in any::<u16>(), swap in 2usize..50) {
            let mut s = SeqTracker::new(start);
            let mut seqs: Vec<u16> = (1..=60u16).map(|i| start.wrapping_add(i)).collect();
            seqs.swap(swap - 1, swap);
            feed(&mut s, seqs);
            prop_assert_eq!(s.expected(), 60);
            prop_assert_eq!(s.lost(), 0);
        }
    }
}
