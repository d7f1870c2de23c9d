//! Measurements taken outside the HTTP load: a process's CPU time and memory from `/proc`, the
//! machine's busy time, a directory's size on disk, and values from a Prometheus `/metrics` page.

use std::path::Path;

use foresight_units::{Process, machine_busy_seconds, process_cpu_seconds, process_memory};
use serde::{Deserialize, Serialize};

/// CPU time and memory of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcSample {
    /// User + system CPU seconds since the process started.
    pub cpu_s: f64,
    /// Peak resident set size (VmHWM), bytes.
    pub vmhwm_bytes: u64,
    /// Current resident set size (VmRSS), bytes.
    pub vmrss_bytes: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `None` when the process is gone or the
/// files cannot be read (not Linux).
pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let cpu_s = process_cpu_seconds(Process::Pid(pid))?;
    let mem = process_memory(Process::Pid(pid))?;
    Some(ProcSample {
        cpu_s,
        vmhwm_bytes: mem.peak_rss_bytes,
        vmrss_bytes: mem.rss_bytes,
    })
}

/// The client's own CPU seconds (this process).
pub(crate) fn self_cpu_s() -> Option<f64> {
    process_cpu_seconds(Process::Current)
}

/// Busy CPU seconds of the whole machine (all cores) from `/proc/stat`.
pub(crate) fn machine_busy_s() -> Option<f64> {
    machine_busy_seconds()
}

/// Size of a directory tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirUsage {
    /// Bytes allocated on disk (st_blocks x 512): what `du` reports.
    pub allocated_bytes: u64,
    /// Sum of file lengths.
    pub apparent_bytes: u64,
    /// Regular files.
    pub files: u64,
}

/// Walks `dir` (without following symlinks) and adds up its files.
pub fn dir_usage(dir: &Path) -> std::io::Result<DirUsage> {
    let mut u = DirUsage::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            // The server may delete a directory while we walk (compaction): skip it.
            Err(e) if d != dir && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                u.files += 1;
                u.apparent_bytes += meta.len();
                u.allocated_bytes += allocated(&meta);
            }
        }
    }
    Ok(u)
}

#[cfg(unix)]
fn allocated(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks() * 512
}

#[cfg(not(unix))]
fn allocated(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

/// Sum of the values of every sample of metric `name` (any labels) in a Prometheus text page;
/// `None` when the page has no such sample.
pub fn metric_sum(page: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in page.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value_part = if let Some(labels) = rest.strip_prefix('{') {
            match labels.rfind('}') {
                Some(i) => &labels[i + 1..],
                None => continue,
            }
        } else if rest.starts_with(' ') {
            rest
        } else {
            continue; // a longer metric name with this prefix
        };
        let Some(v) = value_part.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        found = Some(found.unwrap_or(0.0) + v);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_sampled() {
        // The parsing is tested in foresight-units; this process exists, so reading it works.
        assert!(proc_sample(std::process::id()).is_some_and(|p| p.vmrss_bytes > 0 && p.vmhwm_bytes >= p.vmrss_bytes));
        assert!(self_cpu_s().is_some());
        assert!(machine_busy_s().is_some());
    }

    #[test]
    fn directory_sizes_add_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 10_000]).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![2u8; 5_000]).unwrap();
        let u = dir_usage(dir.path()).unwrap();
        assert_eq!(u.files, 2);
        assert_eq!(u.apparent_bytes, 15_000);
        assert!(u.allocated_bytes >= 12_288, "{u:?}");
        assert!(dir_usage(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn metrics_are_summed_by_exact_name() {
        let page = "# HELP foresight_head_series x\n# TYPE foresight_head_series gauge\n\
                    foresight_head_series 1000\n\
                    foresight_head_series_total 5\n\
                    process_cpu_seconds_total{a=\"}\"} 1.5\n\
                    process_cpu_seconds_total{b=\"x\"} 2.5 1700000000000\n";
        assert_eq!(metric_sum(page, "foresight_head_series"), Some(1000.0));
        assert_eq!(metric_sum(page, "process_cpu_seconds_total"), Some(4.0));
        assert_eq!(metric_sum(page, "missing"), None);
    }
}
