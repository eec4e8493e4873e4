//! Processes for the benchmark: `lineout serve` started as a child (so its memory can be
//! read on its own), stopped with SIGTERM like an operator would, and the figures Linux
//! keeps in `/proc` — resident memory (VmRSS), its peak (VmHWM), CPU time, load.

use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Clock ticks per second in `/proc/<pid>/stat` (USER_HZ, 100 on every Linux build in use).
const TICKS_PER_SECOND: f64 = 100.0;
/// The name of the engine's group-commit writer thread.
pub const WRITER_THREAD: &str = "lineout-writer";
/// Lines of the child's stderr kept to explain a failure.
const KEPT_STDERR_LINES: usize = 40;

/// Memory figures of a process, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Memory {
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
    pub fn hwm_mib(&self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }
}

/// Reads VmRSS and VmHWM from a `/proc/<pid>/status` text.
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Memory { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// Memory of process `pid` (`None` once it has exited or off Linux).
pub fn memory_of(pid: u32) -> Option<Memory> {
    parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Memory of this process.
pub fn own_memory() -> Option<Memory> {
    parse_status(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// Resets this process's VmHWM to its current RSS (Linux ≥ 4.0), so the peak of the
/// next phase can be read on its own. False when the kernel refused.
pub fn reset_own_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// User + system CPU seconds from a `/proc/<pid>/stat` text.
pub fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces; fields after its ')' are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// CPU seconds used so far by process `pid`.
pub fn cpu_seconds_of(pid: u32) -> Option<f64> {
    parse_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU seconds used so far by this process.
pub fn own_cpu_seconds() -> Option<f64> {
    parse_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// CPU seconds used so far by the threads named `name` of process `pid` (`None`: this
/// process), e.g. the group-commit writer thread `lineout-writer`.
pub fn thread_cpu_seconds(pid: Option<u32>, name: &str) -> Option<f64> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}/task"),
        None => "/proc/self/task".to_owned(),
    };
    let mut total = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if thread_name(&stat) == Some(name) {
            total = Some(total.unwrap_or(0.0) + parse_cpu_seconds(&stat)?);
        }
    }
    total
}

/// The command name in a `/proc/…/stat` text (between the first '(' and the last ')').
fn thread_name(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Samples the memory of a process on a thread until told to stop; keeps the largest RSS.
pub struct MemorySampler {
    stop: mpsc::Sender<()>,
    handle: std::thread::JoinHandle<Memory>,
}

impl MemorySampler {
    /// Samples `pid` (`None`: this process) every `every`.
    pub fn start(pid: Option<u32>, every: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let mut peak = Memory::default();
            loop {
                let m = match pid {
                    Some(p) => memory_of(p),
                    None => own_memory(),
                };
                if let Some(m) = m {
                    peak.rss_kib = peak.rss_kib.max(m.rss_kib);
                    peak.hwm_kib = peak.hwm_kib.max(m.hwm_kib);
                }
                match stopped.recv_timeout(every) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return peak,
                }
            }
        });
        Self { stop, handle }
    }

    /// Stops sampling; returns the largest RSS and VmHWM seen.
    pub fn finish(self) -> Memory {
        let _ = self.stop.send(());
        self.handle.join().unwrap_or_default()
    }
}

/// A `lineout serve` child process.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

/// The database a child server uses.
#[derive(Debug, Clone)]
pub struct ChildDatabase {
    pub url: String,
    pub schema: Option<String>,
}

impl Server {
    /// Starts `exe serve` on `db`, listening on a free loopback port, and waits until it
    /// says where it serves. Logs only warnings (the bench reads its stderr).
    pub fn start(exe: &Path, config_file: Option<&Path>, db: &ChildDatabase) -> Result<Server> {
        let mut cmd = Command::new(exe);
        if let Some(file) = config_file {
            cmd.arg("--config").arg(file);
        }
        cmd.args(["--database", &db.url, "serve", "--listen", "127.0.0.1:0"])
            .env("LINEOUT_LOG__LEVEL", "warn")
            .env("LINEOUT_LOG__FORMAT", "text")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match &db.schema {
            Some(s) => cmd.env("LINEOUT_DATABASE__SCHEMA", s),
            None => cmd.env_remove("LINEOUT_DATABASE__SCHEMA"),
        };
        let mut child = cmd.spawn().map_err(|e| Error::Failed(format!("cannot start {}: {e}", exe.display())))?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
        if let Some(pipe) = child.stderr.take() {
            let kept = Arc::clone(&stderr);
            // Reads stderr to the end so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = serving_address(&line) {
                        let _ = addr_tx.send(addr);
                    }
                    if let Ok(mut k) = kept.lock() {
                        if k.len() == KEPT_STDERR_LINES {
                            k.pop_front();
                        }
                        k.push_back(line);
                    }
                }
            });
        }
        let mut server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), stderr };
        match addr_rx.recv_timeout(Duration::from_secs(300)) {
            Ok(addr) => {
                server.addr = addr;
                Ok(server)
            }
            Err(_) => {
                let tail = server.stderr_tail();
                let _ = server.child.kill();
                let _ = server.child.wait();
                Err(Error::Failed(format!("lineout serve did not start; its stderr:\n{tail}")))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> Option<Memory> {
        memory_of(self.pid())
    }

    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(self.pid())
    }

    /// CPU seconds of the server's group-commit writer thread.
    pub fn writer_cpu_seconds(&self) -> Option<f64> {
        thread_cpu_seconds(Some(self.pid()), WRITER_THREAD)
    }

    /// The last lines the child wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr.lock().map(|k| k.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit, then kills. Returns how
    /// long the shutdown took and whether it was clean.
    pub fn stop(mut self, grace: Duration) -> (Duration, bool) {
        let started = Instant::now();
        let term = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        if term.is_ok_and(|s| s.success()) {
            while started.elapsed() < grace {
                match self.child.try_wait() {
                    Ok(Some(status)) => return (started.elapsed(), status.success()),
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    Err(_) => break,
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        (started.elapsed(), false)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A server still running when the bench fails is not left behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address in `lineout is serving on http://ADDR (…)`.
pub fn serving_address(line: &str) -> Option<SocketAddr> {
    let rest = line.split("lineout is serving on http://").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_memory_is_read_in_kib() {
        let text = "Name:\tlineout\nVmPeak:\t  300 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   80000 kB\nThreads:\t9\n";
        assert_eq!(parse_status(text), Some(Memory { rss_kib: 80_000, hwm_kib: 81_234 }));
        assert_eq!(parse_status("Name: x\n"), None);
        assert!(own_memory().is_some_and(|m| m.rss_kib > 0 && m.hwm_kib >= m.rss_kib));
    }

    #[test]
    fn cpu_time_is_read_past_a_command_name_with_spaces() {
        let stat = "4242 (lineout serve) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert_eq!(parse_cpu_seconds("garbage"), None);
        assert_eq!(thread_name(stat), Some("lineout serve"));
        assert!(own_cpu_seconds().is_some());
    }

    #[test]
    fn the_serving_line_names_the_address() {
        let line = "lineout is serving on http://127.0.0.1:41234 (Ctrl-C to stop)";
        assert_eq!(serving_address(line), "127.0.0.1:41234".parse().ok());
        assert_eq!(serving_address("WARN something else"), None);
    }
}
