//! The allocator's own account of the heap (glibc's malloc), and giving its free pages
//! back. RSS alone cannot tell a leak (memory in use grows) from memory the allocator
//! keeps after a burst (a reload's full read, a 4,000-record snapshot): freed, but held
//! in its arenas between chunks still in use, where only `malloc_trim` returns it.
#![allow(unsafe_code)]

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
        assert_eq!(kept.len(), 10_000);
        assert!(kept.iter().enumerate().all(|(i, b)| b[0] == (2 * i) as u8));
    }
}
