//! What the runner reads of the machine and of the servers it runs: /proc for CPU time and RSS, and child
//! processes that it starts, stops and kills by their own pid only.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether measured processes run under `chrt -f 10` (SCHED_FIFO): `BENCH_RT=1` shields a measurement from the
/// rest of a shared machine's load, for both systems alike. Never for the noisy-neighbour section, whose
/// spinning guests would then hold the cores for the whole machine.
static REALTIME: AtomicBool = AtomicBool::new(false);

pub fn set_realtime(on: bool) {
    REALTIME.store(on, Ordering::Relaxed);
}

pub fn realtime() -> bool {
    REALTIME.load(Ordering::Relaxed)
}

/// A command for a measured process: the program itself, or under `chrt -f 10` in realtime mode (chrt execs
/// the program, so the pid is the program's).
pub fn measured(program: impl AsRef<std::ffi::OsStr>) -> Command {
    if realtime() {
        let mut cmd = Command::new("chrt");
        cmd.args(["-f", "10"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Clock ticks per second of /proc's CPU times.
pub fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU ticks of a process (all its threads).
pub fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // The command name may hold spaces; the fields after it are fixed.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' field 0 is state (field 3 of stat); utime and stime are stat fields 14 and 15.
    let get = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// Nanoseconds each thread of a process has spent runnable but waiting for a CPU (the second field of
/// /proc/<pid>/task/<tid>/schedstat), by thread id: how much the machine's other load delayed the server.
pub fn runqueue_wait_ns(pid: u32) -> HashMap<u32, u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return HashMap::new() };
    tasks
        .flatten()
        .filter_map(|t| {
            let tid: u32 = t.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            Some((tid, stat.split_whitespace().nth(1)?.parse().ok()?))
        })
        .collect()
}

/// CPU ticks of this process's children that have been waited for (/proc/self/stat cutime + cstime): the
/// load generator's CPU, read around its run.
pub fn children_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(13) + get(14)
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples the summed RSS of some processes every 20 ms on a thread, keeping the peak, and their CPU time
/// between start and stop.
pub struct Monitor {
    pids: Vec<u32>,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
    cpu_start: u64,
    wait_start: Vec<HashMap<u32, u64>>,
    children_start: u64,
    started: Instant,
}

impl Monitor {
    pub fn start(pids: &[u32]) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (pids, stop, peak) = (pids.to_vec(), stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let rss: u64 = pids.iter().map(|&p| rss_kib(p)).sum();
                    peak.fetch_max(rss, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let cpu_start = pids.iter().map(|&p| cpu_ticks(p)).sum();
        let wait_start = pids.iter().map(|&p| runqueue_wait_ns(p)).collect();
        Monitor {
            pids: pids.to_vec(),
            stop,
            peak,
            thread: Some(thread),
            cpu_start,
            wait_start,
            children_start: children_ticks(),
            started: Instant::now(),
        }
    }

    /// `{server_cpu_pct, server_runqueue_wait_pct, loadgen_cpu_pct, server_rss_peak_mib, server_rss_end_mib}`;
    /// percentages are of one core's time over the wall-clock time (the run-queue wait sums every thread's).
    pub fn stop(mut self) -> Value {
        let wall = self.started.elapsed().as_secs_f64();
        let cpu: u64 = self.pids.iter().map(|&p| cpu_ticks(p)).sum();
        let waited_ns: u64 = self
            .pids
            .iter()
            .zip(&self.wait_start)
            .map(|(&p, start)| {
                runqueue_wait_ns(p)
                    .iter()
                    .map(|(tid, &ns)| ns.saturating_sub(*start.get(tid).unwrap_or(&0)))
                    .sum::<u64>()
            })
            .sum();
        let children = children_ticks() - self.children_start;
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let end: u64 = self.pids.iter().map(|&p| rss_kib(p)).sum();
        let peak = self.peak.load(Ordering::Relaxed).max(end);
        json!({
            "server_cpu_pct": (cpu - self.cpu_start) as f64 / clk_tck() / wall * 100.0,
            "server_runqueue_wait_pct": waited_ns as f64 / 1e9 / wall * 100.0,
            "loadgen_cpu_pct": children as f64 / clk_tck() / wall * 100.0,
            "server_rss_peak_mib": peak as f64 / 1024.0,
            "server_rss_end_mib": end as f64 / 1024.0,
        })
    }
}

/// A child process that is SIGKILLed when dropped, unless stopped before.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait up to `grace`, then SIGKILL.
    pub fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Fails if the process has already exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early: {status}", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `alur serve`.
pub struct Alur {
    pub proc: Proc,
    pub base: String,
}

/// Starts `alur serve` on a free loopback port over `data`; also returns the time from spawn to its
/// listening line.
pub fn start_alur(bin: &Path, data: &Path, admin: &str) -> Result<(Alur, Duration)> {
    let started = Instant::now();
    let mut child = measured(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("ALUR_ADMIN_KEY", admin)
        .env("ALUR_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut reader = BufReader::new(child.stdout.take().context("stdout")?);
    let mut line = String::new();
    let mut base = None;
    while reader.read_line(&mut line)? > 0 {
        if let Some(addr) = line.trim().strip_prefix("alur listening on ") {
            base = Some(addr.to_string());
            break;
        }
        line.clear();
    }
    let ready = started.elapsed();
    let proc = Proc { child, name: "alur serve".into() };
    let base = base.context("alur serve exited before printing its listening line")?;
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    Ok((Alur { proc, base }, ready))
}

/// Facts about the machine and its load, for the report.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    json!({
        "cpu_model": model,
        "cores": cores,
        "memory_gib": mem_kib as f64 / 1024.0 / 1024.0,
        "kernel": command_line("uname", &["-r"]),
        "loadavg": loadavg(),
    })
}

/// /proc/loadavg's 1, 5 and 15-minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The first line a command prints, or "unknown".
pub fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readings_of_this_process() {
        let me = std::process::id();
        // Burn a little CPU so the tick counter has moved.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_ticks(me) > 0);
        assert!(rss_kib(me) > 100, "a test binary has some resident memory");
        assert!(runqueue_wait_ns(me).contains_key(&me), "the main thread has a schedstat");
        assert_eq!(cpu_ticks(u32::MAX), 0, "a missing process reads as nothing");
    }

    #[test]
    fn the_monitor_reports_every_field() {
        let m = Monitor::start(&[std::process::id()]);
        std::thread::sleep(Duration::from_millis(60));
        let v = m.stop();
        for k in ["server_cpu_pct", "server_runqueue_wait_pct", "loadgen_cpu_pct", "server_rss_peak_mib"] {
            assert!(v[k].as_f64().is_some_and(|x| x >= 0.0), "{k}: {v}");
        }
        assert!(v["server_rss_peak_mib"].as_f64().unwrap() > 0.0);
    }
}
