//! Gives the allocator's free memory back to the kernel now and then (`vifd serve` and
//! `vifd fleet serve`). After a reload's full read, a resync, a burst of watch snapshots
//! or a list of the whole fleet, glibc keeps the freed chunks in its arenas, between
//! chunks still in use, and RSS stays up although nothing leaks; only `malloc_trim`
//! returns those pages.

use std::time::Duration;

use tracing::debug;

use crate::heap;

/// How often resident memory is compared with the heap in use: a trim comes at most
/// this long after a burst has been freed.
const EVERY: Duration = Duration::from_secs(2);
/// Resident memory beyond the heap in use that may build up between trims, over what
/// stays after a trim (stacks, fragments). It bounds what RSS may drift above the heap
/// in use: no slow climb is left for a trim to miss. A trim takes milliseconds.
const KEEP: u64 = 1 << 20;

/// Runs until aborted; returns at once with an allocator that has no counts.
pub(super) async fn keep_trimmed() {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut policy = Policy::default();
    loop {
        tick.tick().await;
        // The allocator's locks are taken for a moment: off the async workers.
        let done = tokio::task::spawn_blocking(move || {
            let over = unused_resident()?;
            if !policy.trim(over) {
                return Some((policy, None));
            }
            heap::trim();
            policy.trimmed(unused_resident()?);
            Some((policy, Some(over)))
        })
        .await;
        let Ok(Some((next, trimmed))) = done else {
            return;
        };
        policy = next;
        if let Some(over) = trimmed {
            debug!(over, "returned the allocator's free pages to the kernel");
        }
    }
}

/// Resident anonymous memory the heap does not use: freed chunks' pages (and stacks).
fn unused_resident() -> Option<u64> {
    let in_use = heap::stats()?.in_use;
    Some(heap::resident_anon()?.saturating_sub(in_use))
}

/// When to trim: once resident memory beyond the heap in use has grown by [`KEEP`]
/// over what a trim leaves. The allocator's own free count cannot say it: trimmed
/// chunks stay counted as free, and a burst that reuses them and frees them again
/// between two looks leaves the count where it was, with the pages resident again.
#[derive(Debug, Default, Clone, Copy)]
struct Policy {
    /// Unused resident bytes just after the last trim, or lower since; none before the
    /// first.
    floor: Option<u64>,
}

impl Policy {
    fn trim(&mut self, over: u64) -> bool {
        match self.floor {
            Some(floor) if over <= floor + KEEP => {
                self.floor = Some(floor.min(over));
                false
            }
            _ => true,
        }
    }

    fn trimmed(&mut self, over: u64) {
        self.floor = Some(over);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_when_unused_resident_memory_grows_past_the_allowance() {
        let mut p = Policy::default();
        let mib = 1 << 20;
        assert!(p.trim(3 * mib), "the first look trims");
        p.trimmed(2 * mib);
        assert!(!p.trim(2 * mib + KEEP / 2), "within the allowance");
        assert!(p.trim(40 * mib), "a burst freed");
        p.trimmed(2 * mib);
        assert!(!p.trim(2 * mib), "nothing new since the trim");
        // Less left behind than after the trim (stacks shrank): the floor follows.
        assert!(!p.trim(mib));
        assert!(p.trim(mib + KEEP + 1));
    }
}
