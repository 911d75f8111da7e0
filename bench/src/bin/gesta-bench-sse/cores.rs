//! Which cores the server and the subscribers' process run on, and the CPU time a
//! process or one of its threads has used (Linux; elsewhere nothing is pinned and CPU
//! time is unknown).

/// Restricts this process (the calling thread and every thread it starts later) to
/// `cores`; an empty list leaves it as it is.
pub fn pin(cores: &[usize]) -> anyhow::Result<()> {
    if cores.is_empty() {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use nix::sched::{CpuSet, sched_setaffinity};
        use nix::unistd::Pid;
        let mut set = CpuSet::new();
        for &core in cores {
            set.set(core)?;
        }
        sched_setaffinity(Pid::from_raw(0), &set)
            .map_err(|e| anyhow::anyhow!("cannot pin to cores {cores:?}: {e}"))?;
    }
    Ok(())
}

/// The cores this process may run on.
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// CPU time (user + system) this process has used so far, in seconds.
pub fn cpu_seconds() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        Some(seconds(usage.user_time()) + seconds(usage.system_time()))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// CPU time (user + system) used so far by this process's threads named `name` (e.g.
/// `gesta-writer`), in seconds, from `/proc/self/task/*/stat`.
pub fn thread_cpu_seconds(name: &str) -> Option<f64> {
    // Linux's clock ticks per second of /proc stat times (USER_HZ).
    const TICKS: f64 = 100.0;
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // Fields after the parenthesised name: utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        *total.get_or_insert(0.0) += ticks as f64 / TICKS;
    }
    total
}

/// Sets the nice level of this process's threads named `name` with `renice`.
pub fn renice_threads(name: &str, level: i32) -> anyhow::Result<()> {
    for task in std::fs::read_dir("/proc/self/task")?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let tid = task.file_name().to_string_lossy().into_owned();
        let status = std::process::Command::new("renice")
            .args(["-n", &level.to_string(), "-p", &tid])
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "renice {level} {tid} failed");
    }
    Ok(())
}
