//! The process' memory allocator: mimalloc, tuned to give freed memory back to the OS at once.
//!
//! mimalloc keeps freed memory for reuse instead of returning big blocks to the OS after every
//! query (glibc's mmap threshold made page faults a fifth of query time). Built with `no_thp`: where
//! transparent huge pages are set to `always` (as on the development machine), its arenas were backed
//! by 2 MiB pages, which cost resident memory and the CPU of zeroing them (24 h backfill of 1,000
//! series, 3 runs each: peak RSS 285 -> 230 MiB median, server CPU 0.246 -> 0.191 s per million
//! samples).
//!
//! By default mimalloc 3 purges (decommits) freed pages only after a delay of one second, and a
//! thread's pages wait for that thread's next allocation to be purged at all. A write's
//! transient buffers are allocated on one thread (the HTTP request's) and freed on another (a shard
//! writer), so freed pages piled up on threads that had moved on: purging after 100 ms instead cut
//! the peak RSS of `foresight bench` (100 hosts x 24 h, 4 writers) from 153 to 113-115 MiB.
//!
//! The option is set through mimalloc's C API: the only `unsafe` of this crate.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (include/mimalloc.h of the version
/// bundled by libmimalloc-sys 0.1.49, pinned in the workspace): libmimalloc-sys names no constant
/// for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds a freed page waits before it is returned. 100 hosts x 24 h, 4 writers, two runs
/// each on a loaded machine: 0 ms peaked at 90-116 MiB for 0.43-0.47 server CPU-s per million
/// samples, 10 ms at 87-130 MiB for 0.40-0.41, 100 ms at 113-115 MiB for 0.38-0.40, mimalloc's
/// 1,000 ms at 153 MiB for 0.36-0.40: 100 ms keeps most of the memory for little CPU.
const PURGE_DELAY_MS: std::ffi::c_long = 100;

/// Makes mimalloc return freed pages to the OS after [`PURGE_DELAY_MS`], unless `MIMALLOC_PURGE_DELAY` is set
/// (an operator's explicit choice wins). Call first thing in `main`.
pub(crate) fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` takes two integers, touches no caller memory and may be called at
    // any time from any thread (mimalloc reads its options atomically); an unknown option number
    // is ignored with a warning, never undefined behaviour.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn purge_delay_is_the_option_mimalloc_reads() {
        // SAFETY: as in `tune`: an integer in, an integer out.
        #[allow(unsafe_code)]
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        // The option numbered so has purge_delay's documented default, 1,000 ms: a renumbered enum
        // shows here.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 1000);
            super::tune();
            assert_eq!(get(), super::PURGE_DELAY_MS);
        }
    }
}
