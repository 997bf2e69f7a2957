//! Gives the allocator's free memory back to the kernel now and then (`vifd serve` and
//! `vifd fleet serve`). After a reload's full read, a resync, a burst of watch snapshots
//! or a list of the whole fleet, glibc keeps the freed chunks in its arenas, between
//! chunks still in use, and RSS stays up although nothing leaks; only `malloc_trim`
//! returns those pages.

use std::time::Duration;

use tracing::debug;

use crate::heap;

/// How often the allocator's free memory is looked at.
const EVERY: Duration = Duration::from_secs(10);
/// Free memory that may build up between trims. Also what RSS may drift up by: trimmed
/// pages come back as chunks are reused and stay when freed again, until the free memory
/// has grown by this much (8 MiB let a 4,000-record host's RSS climb 5.5 MiB in 24
/// minutes of soak with its heap flat; 1 MiB still read as +1.35 MiB/h on a small host
/// whose heap in use fell). A trim takes milliseconds.
const KEEP: u64 = 256 << 10;

/// Runs until aborted; returns at once with an allocator that has no counts.
pub(super) async fn keep_trimmed() {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut policy = Policy::default();
    loop {
        tick.tick().await;
        // The allocator's locks are taken for a moment: off the async workers.
        let done = tokio::task::spawn_blocking(move || {
            let free = heap::stats()?.free;
            let trim = policy.trim(free);
            if trim {
                heap::trim();
            }
            Some((policy, trim.then_some(free)))
        })
        .await;
        let Ok(Some((next, trimmed))) = done else {
            return;
        };
        policy = next;
        if let Some(free) = trimmed {
            debug!(free, "returned the allocator's free pages to the kernel");
        }
    }
}

/// When to trim: once the free memory has grown by [`KEEP`] since the last trim. The
/// allocator still counts trimmed pages as free (they are its chunks, without pages
/// behind them), so the amount alone would trim again at every look.
#[derive(Debug, Default, Clone, Copy)]
struct Policy {
    /// Free bytes at the last trim, or lower since (memory reused).
    base: u64,
}

impl Policy {
    fn trim(&mut self, free: u64) -> bool {
        self.base = self.base.min(free);
        if free <= self.base + KEEP {
            return false;
        }
        self.base = free;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_per_growth_of_free_memory() {
        let mut p = Policy::default();
        let mib = 1 << 20;
        assert!(!p.trim(KEEP / 2), "below the allowance");
        assert!(p.trim(20 * mib), "grown past it");
        assert!(!p.trim(20 * mib), "the same free memory, already trimmed");
        assert!(!p.trim(20 * mib + KEEP / 2));
        // Reused, then freed again: trimmed again once it grows past the allowance.
        assert!(!p.trim(10 * mib));
        assert!(p.trim(10 * mib + 2 * KEEP));
    }
}
