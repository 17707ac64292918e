//! CPU time per process from `/proc`, so results compare across noisy runs: on a shared
//! 2-core machine wall-clock rates move with whatever else runs, while the CPU a request
//! costs each process barely does.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Clock ticks per second of `/proc/*/stat` (USER_HZ).
fn ticks_per_second() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// `(parent pid, user + system ticks)` of a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // The command name is in parentheses and may contain spaces: split at the last ')'.
    let close = stat.rfind(')')?;
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // After the name: state is field 3 of the line, ppid 4; utime and stime are 14, 15.
    let ppid: u32 = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

fn micros(ticks: u64) -> u64 {
    ticks * 1_000_000 / ticks_per_second()
}

/// CPU time of one process (all its threads), in microseconds.
pub fn process_us(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s).map(|(_, t)| micros(t)))
        .unwrap_or(0)
}

/// The postmaster of a backend: its parent.
pub fn parent_of(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| parse_stat(&s).map(|(p, _)| p))
}

/// CPU time of each process of one PostgreSQL cluster: its postmaster and every child
/// (backends, checkpointer, WAL writer), in ticks by pid. Other clusters on the machine (a
/// test suite running beside the benchmark) are not counted.
fn postgres_ticks(postmaster: u32) -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            let pid: u32 = name.to_string_lossy().parse().unwrap_or(0);
            if let Some((ppid, t)) = parse_stat(&stat) {
                if pid == postmaster || ppid == postmaster {
                    out.insert(pid, t);
                }
            }
        }
    }
    out
}

/// A reading of the three parties of a run: the server, PostgreSQL and this process.
///
/// PostgreSQL's time is kept per process: a backend that exits between two readings (a
/// previous run's pool closing) would otherwise take its whole past with it; the delta
/// counts the processes alive at the end, from zero for those started in between.
#[derive(Debug, Clone)]
pub struct Reading {
    server: u64,
    postgres: HashMap<u32, u64>,
    client: u64,
}

impl Reading {
    pub fn now(server_pid: Option<u32>, postmaster: u32) -> Self {
        Reading {
            server: server_pid.map_or(0, process_us),
            postgres: postgres_ticks(postmaster),
            client: process_us(std::process::id()),
        }
    }

    /// CPU microseconds per request of each party between `self` and `later`.
    pub fn per_request(&self, later: &Reading, requests: usize) -> CpuPerRequest {
        let n = requests.max(1) as f64;
        let pg_ticks: u64 =
            later.postgres.iter().map(|(pid, t)| t.saturating_sub(self.postgres.get(pid).copied().unwrap_or(0))).sum();
        CpuPerRequest {
            server: later.server.saturating_sub(self.server) as f64 / n,
            postgres: micros(pg_ticks) as f64 / n,
            client: later.client.saturating_sub(self.client) as f64 / n,
        }
    }
}

/// CPU microseconds per request.
#[derive(Debug, Clone, Copy)]
pub struct CpuPerRequest {
    pub server: f64,
    pub postgres: f64,
    pub client: f64,
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_a_stat_line_with_spaces_in_the_name() {
        let line = "42 (postgres: bench) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 1 1";
        assert_eq!(super::parse_stat(line), Some((1, 300)));
    }
}
