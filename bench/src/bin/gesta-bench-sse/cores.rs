//! Which cores the server and the subscribers' process run on, and the CPU time a
//! process has used (Linux; elsewhere nothing is pinned and CPU time is unknown).

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
