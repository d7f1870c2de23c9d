//! Process and machine statistics from Linux's `/proc`, read the one way the server's `/metrics`
//! and the load generator's report both use.

use std::fs::read_to_string;

/// Clock ticks per second of `/proc/<pid>/stat` and `/proc/stat`. Linux reports these in USER_HZ,
/// which is 100 on every architecture Linux supports today, whatever the kernel's tick rate (it
/// is also what `sysconf(_SC_CLK_TCK)` answers).
pub const USER_HZ: f64 = 100.0;

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// The calling process (`/proc/self`).
    Current,
    /// Another process by id.
    Pid(u32),
}

impl Process {
    fn file(self, name: &str) -> String {
        match self {
            Process::Current => format!("/proc/self/{name}"),
            Process::Pid(pid) => format!("/proc/{pid}/{name}"),
        }
    }
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Current resident set size (VmRSS), bytes; 0 where the line is missing.
    pub rss_bytes: u64,
    /// Peak resident set size (VmHWM), bytes; 0 where the line is missing.
    pub peak_rss_bytes: u64,
}

/// User + system CPU seconds of a process since it started (`/proc/<pid>/stat` fields 14 and 15);
/// `None` where it cannot be read.
pub fn process_cpu_seconds(process: Process) -> Option<f64> {
    parse_stat_cpu(&read_to_string(process.file("stat")).ok()?)
}

/// Resident memory of a process; `None` where `/proc/<pid>/status` cannot be read.
pub fn process_memory(process: Process) -> Option<ProcessMemory> {
    Some(parse_status_memory(&read_to_string(process.file("status")).ok()?))
}

/// Busy CPU seconds of the whole machine (all cores, everything but idle and iowait) since boot,
/// from `/proc/stat`; `None` where it cannot be read.
pub fn machine_busy_seconds() -> Option<f64> {
    parse_machine_busy(&read_to_string("/proc/stat").ok()?)
}

fn parse_stat_cpu(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    // After the name come field 3 (state) onwards: utime is field 14, the 12th after the name.
    let mut fields = rest.split_ascii_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

fn parse_status_memory(status: &str) -> ProcessMemory {
    let kib = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    ProcessMemory {
        rss_bytes: kib("VmRSS:"),
        peak_rss_bytes: kib("VmHWM:"),
    }
}

fn parse_machine_busy(text: &str) -> Option<f64> {
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    Some(busy as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let stat = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 1000 10";
        assert_eq!(parse_stat_cpu(stat), Some(3.0));
        assert_eq!(parse_stat_cpu("garbage"), None);
        assert_eq!(parse_stat_cpu("1 (x) S 1 2"), None);
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(
            parse_status_memory(status),
            ProcessMemory {
                rss_bytes: 1024 * 1024,
                peak_rss_bytes: 2048 * 1024
            }
        );
        assert_eq!(parse_status_memory("Name:\tx\n"), ProcessMemory::default());
        assert_eq!(
            parse_machine_busy("cpu  100 0 50 1000 7 0 0 50 0 0\ncpu0 1 2 3\n"),
            Some(2.0)
        );
        assert_eq!(parse_machine_busy("intr 1 2\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_readable() {
        let me = Process::Pid(std::process::id());
        assert!(process_memory(me).is_some_and(|m| m.rss_bytes > 0 && m.peak_rss_bytes >= m.rss_bytes));
        assert!(process_memory(Process::Current).is_some_and(|m| m.rss_bytes > 0));
        assert!(process_cpu_seconds(me).is_some());
        assert!(process_cpu_seconds(Process::Current).is_some());
        assert!(machine_busy_seconds().is_some_and(|s| s > 0.0));
        assert_eq!(process_cpu_seconds(Process::Pid(u32::MAX)), None);
    }
}
