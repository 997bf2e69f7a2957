//! The capped exponential backoff every reconnecting source uses (libvirt, OVSDB, OVN,
//! the fleet publisher).

use std::time::Duration;

use tokio::time::Instant;

/// Delays between tries: `first`, then half as long again each time, at most `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// What libvirt and OVSDB reconnects use: 100 ms growing to 5 s.
    pub(crate) const SOURCE: Backoff =
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

    /// What the fleet publisher and fleet server use: 100 ms growing to 1 s. The fleet
    /// must follow a change within 2 s of etcd answering again, however long it was down,
    /// so a retry is never more than 1 s away (one status request per try).
    pub(crate) const FLEET: Backoff =
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1));

    pub(crate) const fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The delay before the next try; the one after it is longer, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 3 / 2).min(self.max);
        now
    }

    /// The delay `next_delay` will give, without moving on.
    pub(crate) fn peek(&self) -> Duration {
        self.next
    }

    /// After a success: the next failure starts again from the first delay.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }

    /// The longest delay: how often to look for a source that is not there at all.
    pub(crate) fn max(&self) -> Duration {
        self.max
    }
}

/// Sleeps until `at`, or forever when there is no retry scheduled (a `select!` branch
/// that never fires).
pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_half_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
        let ms = |d: Duration| d.as_millis();
        let seen: Vec<u128> = (0..5).map(|_| ms(b.next_delay())).collect();
        assert_eq!(seen, [100, 150, 225, 300, 300]);
        b.reset();
        assert_eq!(ms(b.peek()), 100);
    }
}
