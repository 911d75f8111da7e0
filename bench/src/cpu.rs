//! CPU time spent during a measurement, from Linux's `/proc`: by this process (the
//! benchmark, the store, the HTTP server) and by the database server's processes
//! (`postgres`, `mariadbd`/`mysqld`) when it runs on this machine. Elsewhere both read
//! as unknown and the notes leave them out.

use crate::backend::Engine;

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time at the start of a measurement.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    backend: Engine,
    own: Option<u64>,
    server: Option<u64>,
}

impl Meter {
    /// Reads the counters now.
    pub fn start(backend: Engine) -> Self {
        Meter {
            backend,
            own: ticks("/proc/self/stat"),
            server: server_ticks(backend),
        }
    }

    /// A note on the CPU time per operation since `start`, for `count` operations of
    /// the row `key`; `None` without `/proc`.
    pub fn note(&self, key: &str, count: u64) -> Option<String> {
        let per_op = |ticks: u64| ticks as f64 / TICKS_PER_SECOND * 1e6 / count.max(1) as f64;
        let own = ticks("/proc/self/stat")?.checked_sub(self.own?)?;
        let mut note = format!(
            "{key}: CPU per operation: {:.0} µs in gesta-bench",
            per_op(own)
        );
        let server = server_ticks(self.backend)
            .zip(self.server)
            .and_then(|(now, then)| now.checked_sub(then));
        if let Some(server) = server {
            note.push_str(&format!(
                ", {:.0} µs in the database server",
                per_op(server)
            ));
        }
        Some(note)
    }
}

/// User plus system ticks of the process whose `stat` file is `path`.
fn ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The summed ticks of every process of the database server, if it runs here.
fn server_ticks(backend: Engine) -> Option<u64> {
    let names: &[&str] = match backend {
        Engine::Sqlite => return None,
        Engine::Postgres => &["postgres"],
        Engine::Mysql => &["mariadbd", "mysqld"],
    };
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let is_pid = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !names.contains(&comm.trim()) {
            continue;
        }
        if let Some(t) = ticks(&path.join("stat").to_string_lossy()) {
            *total.get_or_insert(0) += t;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_is_read_and_grows() {
        let meter = Meter::start(Engine::Sqlite);
        let mut x = 0_u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let note = meter.note("t", 1).expect("Linux has /proc");
        let micros: f64 = note
            .trim_start_matches("t: CPU per operation: ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(micros >= 100_000.0, "{note}");
        assert!(!note.contains("database server"), "{note}");
    }
}
