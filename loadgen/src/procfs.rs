//! The daemon's resident memory and the CPU time spent during a phase, read from /proc (Linux
//! only; `None` elsewhere).

use std::fs;

/// VmRSS in KiB from the text of /proc/<pid>/status.
pub fn parse_vmrss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The process's resident memory in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    parse_vmrss(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The socket inodes listening on `port` in the text of /proc/net/tcp or /proc/net/tcp6.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    let wanted = format!("{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols.get(1)?.rsplit(':').next()?;
            // State 0A is LISTEN; column 9 is the inode.
            (local_port == wanted && *cols.get(3)? == "0A").then(|| cols.get(9)?.parse().ok())?
        })
        .collect()
}

/// The process listening on `port`, found through its socket inode (same user, or root).
pub fn find_listener(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let targets: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = fs::read_link(fd.path()) {
                if targets.iter().any(|t| link.as_os_str() == t.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// Clock ticks per second of the CPU times in /proc (`USER_HZ`, fixed at 100 by the Linux ABI).
const TICKS_PER_SECOND: u64 = 100;

/// Busy ticks of all CPUs (user, nice, system, irq, softirq) from the text of /proc/stat.
/// Idle, I/O wait and time stolen by the hypervisor are not work done here.
pub fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal …
    Some(ticks.first()? + ticks.get(1)? + ticks.get(2)? + ticks.get(5)? + ticks.get(6)?)
}

/// A process's user + system ticks from the text of /proc/<pid>/stat.
pub fn parse_process_ticks(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    // There, field 0 is the state; utime and stime are fields 11 and 12.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks spent so far: by the whole machine, by the daemon, by this process.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    machine: Option<u64>,
    daemon: Option<u64>,
    own: Option<u64>,
}

impl CpuSample {
    pub fn now(daemon_pid: Option<u32>) -> CpuSample {
        let process = |pid: String| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parse_process_ticks(&s))
        };
        CpuSample {
            machine: fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|s| parse_machine_busy(&s)),
            daemon: daemon_pid.and_then(|pid| process(pid.to_string())),
            own: process("self".to_string()),
        }
    }
}

/// CPU microseconds per operation over a phase: the machine, the daemon, the load generator,
/// and the rest (PostgreSQL, mostly).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CpuPerOp {
    pub machine_us: f64,
    pub daemon_us: Option<f64>,
    pub loadgen_us: Option<f64>,
    pub other_us: Option<f64>,
}

impl CpuPerOp {
    pub fn between(before: CpuSample, after: CpuSample, ops: u64) -> Option<CpuPerOp> {
        if ops == 0 {
            return None;
        }
        let per_op = |ticks: u64| ticks as f64 * 1e6 / TICKS_PER_SECOND as f64 / ops as f64;
        let spent = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
        let machine = spent(before.machine, after.machine)?;
        let daemon = spent(before.daemon, after.daemon);
        let own = spent(before.own, after.own);
        let other = match (daemon, own) {
            (Some(d), Some(o)) => Some(per_op(machine.saturating_sub(d + o))),
            _ => None,
        };
        Some(CpuPerOp {
            machine_us: per_op(machine),
            daemon_us: daemon.map(per_op),
            loadgen_us: own.map(per_op),
            other_us: other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vmrss() {
        let status = "Name:\tcrypto-saas\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vmrss(status), Some(12345));
        assert_eq!(parse_vmrss("Name: x\n"), None);
    }

    #[test]
    fn finds_the_listening_socket_of_a_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F40 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1\n   2: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 8000), vec![4242]);
        assert_eq!(listening_inodes(table, 8001), vec![4444]);
        assert!(listening_inodes(table, 9).is_empty());
    }

    #[test]
    fn reads_busy_ticks_of_the_machine() {
        let stat = "cpu  100 5 50 1000 40 3 2 7 0 0\ncpu0 50 2 25 500 20 1 1 3 0 0\nintr 1\n";
        assert_eq!(parse_machine_busy(stat), Some(100 + 5 + 50 + 3 + 2));
        assert_eq!(parse_machine_busy("intr 1\n"), None);
    }

    #[test]
    fn reads_process_ticks_past_a_name_with_spaces() {
        let stat = "42 (tokio rt) S 1 42 42 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 8 0 1000 1 1";
        assert_eq!(parse_process_ticks(stat), Some(325));
        assert_eq!(parse_process_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn cpu_per_op_splits_the_machine() {
        let before = CpuSample {
            machine: Some(1000),
            daemon: Some(100),
            own: Some(50),
        };
        let after = CpuSample {
            machine: Some(1200),
            daemon: Some(160),
            own: Some(70),
        };
        let cpu = CpuPerOp::between(before, after, 1000).unwrap();
        // 200 ticks = 2 s over 1,000 operations = 2,000 µs each.
        assert_eq!(cpu.machine_us, 2000.0);
        assert_eq!(cpu.daemon_us, Some(600.0));
        assert_eq!(cpu.loadgen_us, Some(200.0));
        assert_eq!(cpu.other_us, Some(1200.0));
        assert_eq!(CpuPerOp::between(before, after, 0), None);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        let sample = CpuSample::now(None);
        assert!(sample.machine.is_some() && sample.own.is_some());
        assert!(sample.daemon.is_none());
    }

    #[test]
    fn own_memory_is_readable() {
        assert!(rss_kb(std::process::id()).unwrap_or(1) > 0);
    }
}
