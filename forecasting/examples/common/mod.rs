//! Shared by the examples that time themselves (included with `#[path]`; not an example itself).

/// CPU time of the calling thread in seconds (0 where unavailable).
pub(crate) fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0) as f64
        / 1e9
}
