//! Civil time from a Unix timestamp and a fixed UTC offset: the day, weekday and minute
//! of the day that time windows and daily counters use.

/// A moment as the clock on the wall shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Days since 1970-01-01 in this zone: daily counters restart when it changes.
    pub day: i64,
    /// 0 = Monday ... 6 = Sunday.
    pub weekday: u8,
    /// Minutes since midnight, 0..1440.
    pub minute: u16,
}

impl Civil {
    /// `unix` seconds since the epoch (UTC), seen `utc_offset` seconds east of UTC.
    pub fn from_unix(unix: i64, utc_offset: i32) -> Civil {
        let local = unix.saturating_add(i64::from(utc_offset));
        let day = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        Civil {
            day,
            // 1970-01-01 was a Thursday (3 counting from Monday = 0).
            weekday: u8::try_from((day + 3).rem_euclid(7)).unwrap_or(0),
            minute: u16::try_from(secs / 60).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_and_minutes() {
        // 2026-11-23 is a Monday; 14:30 UTC.
        let t = 1_763_856_000 + 86_400 * 365 + 14 * 3600 + 30 * 60;
        let c = Civil::from_unix(t, 0);
        assert_eq!((c.weekday, c.minute), (0, 14 * 60 + 30));
        // Two hours east, the same instant is 16:30.
        assert_eq!(Civil::from_unix(t, 7200).minute, 16 * 60 + 30);
        // Before the epoch: 1969-12-31 23:00 was a Wednesday.
        let c = Civil::from_unix(-3600, 0);
        assert_eq!((c.day, c.weekday, c.minute), (-1, 2, 23 * 60));
    }
}
