//! The allocator's own account of the heap (glibc's malloc), and giving its free pages
//! back. RSS alone cannot tell a leak (memory in use grows) from memory the allocator
//! keeps after a burst (a reload's full read, a 4,000-record snapshot): freed, but held
//! in its arenas between chunks still in use, where only `malloc_trim` returns it.
#![allow(unsafe_code)]

/// Blocks from this size up are mapped on their own and unmapped when freed: a
/// 4,000-record list or snapshot (megabytes, freed within the request) goes back at
/// once. glibc's own threshold rises to the largest block freed so far (up to 32 MiB),
/// after which such blocks come from the arenas and stay resident until a trim.
const MMAP_THRESHOLD: i32 = 128 << 10;
/// Arenas for the daemon's threads (glibc's default is 8 per core): each holds free
/// memory of its own, and a burst spread over many leaves more of it resident.
const ARENA_MAX: i32 = 2;

/// Heap bytes as the allocator counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Allocated and not freed (small chunks and mmapped blocks).
    pub in_use: u64,
    /// Freed, but still held by the allocator (part of RSS until trimmed).
    pub free: u64,
}

/// The allocator's counts over all its arenas; `None` with an allocator other than
/// glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn stats() -> Option<HeapStats> {
    // SAFETY: mallinfo2 takes no arguments and returns a struct by value; it reads the
    // arenas' counters under the allocator's own locks and touches no memory of ours.
    let m = unsafe { nix::libc::mallinfo2() };
    Some(HeapStats {
        in_use: (m.uordblks + m.hblkhd) as u64,
        free: m.fordblks as u64,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn stats() -> Option<HeapStats> {
    None
}

/// Sets the allocator up for a long-running daemon: big blocks mapped apart, few arenas.
/// Call before the runtime's threads start. A refused option leaves glibc's default,
/// which only costs memory: nothing to report.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_for_daemon() {
    use nix::libc::{mallopt, M_ARENA_MAX, M_MMAP_THRESHOLD};
    // SAFETY: mallopt only sets the allocator's parameters, under its own lock; both
    // values are in the ranges glibc documents (the threshold below its 32 MiB maximum).
    unsafe {
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        mallopt(M_ARENA_MAX, ARENA_MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_for_daemon() {}

/// The process's resident anonymous memory (`RssAnon`), in bytes: the heap's pages,
/// in use or not yet given back, and the threads' stacks.
pub fn resident_anon() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// Returns the whole free pages of every arena to the kernel (`malloc_trim(0)`); true
/// when some were. Takes the allocator's locks for a moment: call it off the async
/// workers.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() -> bool {
    // SAFETY: malloc_trim only releases pages of free chunks (madvise) under the
    // allocator's locks; a pad of 0 keeps nothing extra. No memory in use is touched.
    unsafe { nix::libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_shows_as_free_until_trimmed() {
        let Some(before) = stats() else { return };
        // Many small blocks (not mmapped), every other one freed: holes the allocator
        // keeps, as after a burst.
        let mut blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 1000]).collect();
        let during = stats().unwrap();
        assert!(
            during.in_use >= before.in_use + 10_000_000,
            "{before:?} -> {during:?}"
        );
        let kept: Vec<Vec<u8>> = blocks.drain(..).step_by(2).collect();
        let after = stats().unwrap();
        assert!(after.in_use < during.in_use, "{during:?} -> {after:?}");
        trim();
        assert!(resident_anon().is_some_and(|r| r >= after.in_use / 2));
        assert_eq!(kept.len(), 10_000);
        assert!(kept.iter().enumerate().all(|(i, b)| b[0] == (2 * i) as u8));
    }
}
