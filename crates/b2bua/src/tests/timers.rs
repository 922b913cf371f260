//! The engine's deadline buckets on their own.

use std::time::{Duration, Instant};

use crate::timers::Timers;

#[test]
fn due_by_the_millisecond_in_deadline_order_never_early() {
    let t0 = Instant::now();
    let mut t = Timers::new(t0);
    let ms = Duration::from_millis;
    t.schedule(t0 + ms(5), "b");
    t.schedule(t0 + ms(4) + Duration::from_micros(300), "a2");
    t.schedule(t0 + ms(4) + Duration::from_micros(100), "a1");
    t.schedule(t0 + ms(3), "c0");
    assert_eq!(t.len(), 4);
    assert_eq!(t.next_due(), Some(t0 + ms(3)));
    assert!(t.pop_due(t0 + ms(2)).is_none());
    let due: Vec<_> = t.pop_due(t0 + ms(3)).into_iter().flatten().collect();
    assert_eq!(due, vec![(t0 + ms(3), "c0")]);
    // 4.1 ms and 4.3 ms share the bucket due at 5 ms, with the deadline at 5 ms.
    assert_eq!(t.next_due(), Some(t0 + ms(5)));
    assert!(t.pop_due(t0 + ms(4) + Duration::from_micros(500)).is_none());
    let due: Vec<_> = t
        .pop_due(t0 + ms(9))
        .into_iter()
        .flatten()
        .map(|(_, w)| w)
        .collect();
    assert_eq!(due, vec!["a1", "a2", "b"]);
    assert_eq!(t.len(), 0);
    assert!(t.next_due().is_none());
    // A deadline already past is due at once.
    t.schedule(t0, "past");
    assert!(t.pop_due(t0).is_some());
}

#[test]
fn retain_drops_entries_and_empty_buckets() {
    let t0 = Instant::now();
    let mut t = Timers::new(t0);
    for i in 0..10u64 {
        t.schedule(t0 + Duration::from_millis(i % 3), i);
    }
    t.retain(|i| i % 2 == 0);
    assert_eq!(t.len(), 5);
    t.retain(|i| *i >= 6);
    assert_eq!(t.len(), 2);
    let due: Vec<_> = t
        .pop_due(t0 + Duration::from_secs(1))
        .into_iter()
        .flatten()
        .map(|(_, w)| w)
        .collect();
    assert_eq!(due, vec![6]);
    assert_eq!(t.next_due(), Some(t0 + Duration::from_millis(2)));
}

#[test]
fn a_deadline_beyond_the_last_bucket_is_not_due_early() {
    let t0 = Instant::now();
    let mut t = Timers::new(t0);
    // Further than u64::MAX milliseconds: its bucket number saturates.
    let Some(far) = t0.checked_add(Duration::from_secs(u64::MAX / 500)) else {
        return;
    };
    t.schedule(far, "far");
    assert_eq!(t.next_due(), Some(far));
    let Some(before) = far.checked_sub(Duration::from_secs(1)) else {
        return;
    };
    assert!(t.pop_due(before).is_none());
    assert!(t.pop_due(far).is_some());
}
