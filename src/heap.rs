//! How the registry's heap gives memory back to the system.
//!
//! glibc returns the free top of a thread's heap to the kernel as soon as it passes 128 KB
//! (`M_TRIM_THRESHOLD`, raised only by large `mmap`ed blocks). Under hundreds of stations
//! pushing at once, each push thread freed its request's buffers past that line and faulted the
//! same pages back in for the next push: page faults and the kernel's TLB shoot-downs of those
//! returns took about a third of the registry's CPU per event (see BENCHMARKS.md). A fixed,
//! higher threshold keeps that memory in the process for the next request.
//!
//! Written against `mallopt` directly: no allocator crate offers this setting for glibc's own
//! allocator, and replacing the allocator (mimalloc, measured) held ten times the memory for no
//! faster ingest.

/// What a heap may hold free at its top before glibc returns it: well above what the pushes in
/// flight allocate together, and a small part of a registry server's memory.
pub const KEEP_FREE_BYTES: usize = 64 << 20;

/// Raises glibc's trim threshold to [`KEEP_FREE_BYTES`]; `false` where that is not possible
/// (another C library) or glibc refused it. Call before the runtime starts its threads.
pub fn keep_freed_memory_for_reuse() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let Ok(bytes) = libc::c_int::try_from(KEEP_FREE_BYTES) else {
            return false;
        };
        // SAFETY: `mallopt` takes two integers and only changes the allocator's parameters;
        // glibc serialises it with its own allocation locks.
        #[allow(unsafe_code)]
        let accepted = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, bytes) };
        accepted == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_threshold() {
        assert!(keep_freed_memory_for_reuse());
    }
}
