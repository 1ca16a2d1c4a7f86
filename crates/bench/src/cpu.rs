//! CPU time of the three parties to a scenario, read from `/proc`: the server, PostgreSQL
//! and the load generator share this machine's cores, so what each spends on a request
//! bounds the rate of all three. Divided by the requests of a scenario, it says which of
//! them a figure waits on, and how fast the others would let it go.

use std::time::Instant;

/// Linux reports CPU time in `/proc` in clock ticks of `USER_HZ`, 100 a second on every
/// architecture it runs on (`getconf CLK_TCK`).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds spent so far, and when they were read.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    at: Instant,
    server: f64,
    /// Every process named `postgres` on this machine, with what their parent reaped from
    /// backends that ended (a connection closed during the scenario still counts); `None`
    /// when PostgreSQL does not run here (or for a SQLite run).
    database: Option<f64>,
    /// This process's own threads.
    generator: f64,
    /// Processes this one started and waited for (pgbench).
    children: f64,
    /// The whole machine, busy (everything but idle and I/O wait).
    busy: f64,
}

/// CPU microseconds per request (or per transaction) over an interval.
#[derive(Debug, Clone, Copy)]
pub struct PerRequest {
    pub server_us: f64,
    pub database_us: Option<f64>,
    pub generator_us: f64,
    /// Processes started and waited for in the interval (pgbench), per transaction.
    pub children_us: f64,
    /// How much of the machine's cores were busy, 0 to 1.
    pub busy: f64,
}

/// The fields of `/proc/<pid>/stat` after the command name, which may hold spaces.
fn stat_fields(pid: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    // Fields 3 onwards: state, ppid, ... utime is field 14, i.e. index 11 here.
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// utime + stime (and, with `children`, cutime + cstime) of a process, in seconds.
fn process_seconds(pid: &str, own: bool, children: bool) -> Option<f64> {
    let f = stat_fields(pid)?;
    let own = if own { f.get(10)? + f.get(11)? } else { 0 };
    let reaped = if children { f.get(12)? + f.get(13)? } else { 0 };
    Some((own + reaped) as f64 / TICKS_PER_SECOND)
}

fn postgres_seconds() -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim_end() == "postgres");
        if is_postgres && let Some(s) = process_seconds(pid, true, true) {
            *total.get_or_insert(0.0) += s;
        }
    }
    total
}

fn busy_seconds() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    // user nice system idle iowait irq softirq steal ...
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum();
    ticks as f64 / TICKS_PER_SECOND
}

impl Sample {
    pub fn now(server_pid: u32, postgres: bool) -> Sample {
        let me = std::process::id().to_string();
        Sample {
            at: Instant::now(),
            server: process_seconds(&server_pid.to_string(), true, false).unwrap_or(0.0),
            database: postgres.then(postgres_seconds).flatten(),
            generator: process_seconds(&me, true, false).unwrap_or(0.0),
            children: process_seconds(&me, false, true).unwrap_or(0.0),
            busy: busy_seconds(),
        }
    }

    /// What was spent from `self` to `later`, per one of `count` requests.
    pub fn per_request(&self, later: &Sample, count: usize) -> Option<PerRequest> {
        if count == 0 {
            return None;
        }
        let per = |a: f64, b: f64| (b - a).max(0.0) * 1e6 / count as f64;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let wall = later.at.duration_since(self.at).as_secs_f64();
        Some(PerRequest {
            server_us: per(self.server, later.server),
            database_us: self.database.zip(later.database).map(|(a, b)| per(a, b)),
            generator_us: per(self.generator, later.generator),
            children_us: per(self.children, later.children),
            busy: if wall > 0.0 {
                ((later.busy - self.busy) / (wall * cores)).clamp(0.0, 1.0)
            } else {
                0.0
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_spends_what_it_burns() {
        let me = std::process::id();
        let before = Sample::now(me, false);
        let start = Instant::now();
        let mut x = 0u64;
        // Busy until /proc shows a tenth of a second spent (three seconds at most: a test
        // sharing the machine's cores with others may get a small part of them).
        loop {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let now = Sample::now(me, false);
            if now.generator - before.generator >= 0.1 || start.elapsed().as_secs() >= 3 {
                break;
            }
        }
        let after = Sample::now(me, false);
        let wall = start.elapsed().as_secs_f64() * 1e6;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let spent = before.per_request(&after, 1).unwrap();
        assert!(spent.generator_us >= 100_000.0, "{spent:?}");
        // No more than the machine's cores had in that time, and a tick for each reading.
        assert!(
            spent.generator_us <= wall * cores + 20_000.0,
            "{spent:?} in {wall} µs"
        );
        // The same process read as the server's.
        assert!(
            (spent.server_us - spent.generator_us).abs() <= 20_000.0,
            "{spent:?}"
        );
        assert!(spent.database_us.is_none());
        assert!(spent.busy > 0.0 && spent.busy <= 1.0, "{spent:?}");
        // Per request: the same time over ten requests is a tenth.
        let tenth = before.per_request(&after, 10).unwrap();
        assert!((tenth.generator_us * 10.0 - spent.generator_us).abs() < 1.0);
        assert!(before.per_request(&after, 0).is_none());
    }
}
