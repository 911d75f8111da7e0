//! (a) Raw ceilings on the server backends, written once over [`RawConn`] (implemented
//! with the `postgres` crate in `pg` and the `mysql` crate in `my`): one event per
//! commit from 1 and 16 clients (a1, a1x16), the Transfer SQL batched on one
//! connection (a2, a2sp), and the round trip of `SELECT 1`.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::backend::{Scratch, Target};
use crate::report::{Compare, Report, Row};
use crate::transfer_sql::{Limit, Rng, Run, account_id};
use crate::{Settings, cpu, raw};

/// Concurrent clients of (a1x16).
pub const A1_CLIENTS: usize = 16;

/// One driver connection with the hand-written SQL of the benchmark.
pub trait RawConn: Send {
    /// Runs statements without parameters or results (`BEGIN`, `COMMIT`, DDL).
    fn batch(&mut self, sql: &str) -> anyhow::Result<()>;
    /// Runs a prepared `SELECT 1` (one round trip).
    fn ping(&mut self) -> anyhow::Result<()>;
    /// The server's version and durability settings.
    fn describe(&mut self) -> anyhow::Result<String>;
    /// Creates Gesta's own tables from the backend's `schema.sql`.
    fn create_gesta_schema(&mut self) -> anyhow::Result<()>;
    /// Creates the bank's `accounts` table with `accounts` funded accounts.
    fn create_accounts(&mut self, accounts: usize) -> anyhow::Result<()>;
    /// Inserts one `Deposited` event at `position` (in autocommit unless a transaction
    /// is open).
    fn insert_event(&mut self, position: i64) -> anyhow::Result<()>;
    /// One Transfer's SQL: balance `SELECT`, then per account a stream-version upsert
    /// returning the version, the event `INSERT` and the balance `UPDATE`. `false` if
    /// the balance was too low (nothing written).
    fn transfer(&mut self, from: &str, to: &str, position: &mut i64) -> anyhow::Result<bool>;
    /// Fills an empty log with `events` `Deposited` events over `accounts` streams with
    /// multi-row `INSERT`s, and sets the stream versions.
    fn fill(&mut self, events: u64, accounts: usize) -> anyhow::Result<()>;
    /// Reads every column of every event in position order; returns the count.
    fn read_all(&mut self) -> anyhow::Result<u64>;
    /// The single integer `sql` returns (read through text, so any numeric type).
    #[cfg(test)]
    fn scalar(&mut self, sql: &str) -> anyhow::Result<i64>;
}

/// Runs (a1), (a1x16), (a2) and (a2sp) on a server backend and adds them to `report`.
pub fn run(settings: &Settings, target: &Target, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("(a) raw {} ceilings", target.backend.title());
    for clients in [1, A1_CLIENTS] {
        let scratch = Scratch::new(settings, target, "a1")?;
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            conns.push(target.raw(&scratch.url)?);
        }
        conns[0].create_gesta_schema()?;
        let cpu = cpu::Meter::start(target.backend);
        let (run, conns) = inserts(conns, settings.limit).context("(a1) one insert per commit")?;
        let row = raw::a1_row(clients, run);
        report.cpu_note(cpu.note(&row.key, run.commands));
        drop(conns);
        report.add(row);
    }
    for (key, savepoints, label) in [("a2", false, ""), ("a2sp", true, ", SAVEPOINT per command")] {
        let scratch = Scratch::new(settings, target, "a2")?;
        let mut conn = target.raw(&scratch.url)?;
        conn.create_gesta_schema()?;
        conn.create_accounts(settings.accounts)?;
        let cpu = cpu::Meter::start(target.backend);
        let run = transfer_loop(
            conn.as_mut(),
            settings.accounts,
            settings.batch,
            savepoints,
            settings.limit,
        )
        .with_context(|| format!("({key})"))?;
        report.cpu_note(cpu.note(key, run.commands));
        report.add(Row {
            key: key.into(),
            what: format!(
                "raw: Transfer SQL, {} per transaction{label}",
                settings.batch
            ),
            rate: run.rate(),
            unit: "commands/s",
            compare: Compare::Writes,
            latency: None,
            count: run.commands,
            errors: 0,
        });
    }
    Ok(())
}

/// Each connection inserts one event per statement in autocommit, on its own thread,
/// until `limit`; positions come from one shared counter. The connections are handed
/// back still open.
pub fn inserts<C>(conns: Vec<C>, limit: Limit) -> anyhow::Result<(Run, Vec<C>)>
where
    C: InsertOne + Send,
{
    use std::sync::atomic::{AtomicU64, Ordering};
    let issued = AtomicU64::new(0);
    let started = Instant::now();
    let done: anyhow::Result<(u64, Vec<C>)> = std::thread::scope(|s| {
        let threads: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                let issued = &issued;
                s.spawn(move || {
                    let mut done = 0_u64;
                    loop {
                        let n = issued.fetch_add(1, Ordering::Relaxed);
                        let stop = match limit.commands {
                            Some(max) => n >= max,
                            None => started.elapsed() >= limit.duration,
                        };
                        if stop {
                            return anyhow::Ok((done, conn));
                        }
                        conn.insert_one(n as i64 + 1)?;
                        done += 1;
                    }
                })
            })
            .collect();
        let (mut total, mut conns) = (0, Vec::new());
        for thread in threads {
            let (done, conn) = thread
                .join()
                .map_err(|_| anyhow::anyhow!("an insert client panicked"))??;
            total += done;
            conns.push(conn);
        }
        Ok((total, conns))
    });
    let elapsed = started.elapsed();
    let (commands, conns) = done?;
    Ok((Run { commands, elapsed }, conns))
}

/// Something that inserts one event at a position, committing it.
pub trait InsertOne {
    /// Inserts the event at `position` and commits.
    fn insert_one(&mut self, position: i64) -> anyhow::Result<()>;
}

impl InsertOne for Box<dyn RawConn> {
    fn insert_one(&mut self, position: i64) -> anyhow::Result<()> {
        self.insert_event(position)
    }
}

/// Transfers between random accounts in transactions of `batch` commands until
/// `limit`, on one connection; with `savepoints`, each inside its own savepoint.
pub fn transfer_loop(
    conn: &mut dyn RawConn,
    accounts: usize,
    batch: usize,
    savepoints: bool,
    limit: Limit,
) -> anyhow::Result<Run> {
    let mut rng = Rng::new(0xA2);
    let mut position = 1_i64;
    let started = Instant::now();
    let mut done = 0_u64;
    while !limit.reached(started, done) {
        conn.batch("BEGIN")?;
        for _ in 0..batch {
            if savepoints {
                conn.batch("SAVEPOINT bench_unit")?;
            }
            let (from, to) = rng.pair(accounts);
            if conn.transfer(&account_id(from), &account_id(to), &mut position)? {
                done += 1;
            }
            if savepoints {
                conn.batch("RELEASE SAVEPOINT bench_unit")?;
            }
            if limit.commands.is_some_and(|n| done >= n) {
                break;
            }
        }
        conn.batch("COMMIT")?;
    }
    Ok(Run {
        commands: done,
        elapsed: started.elapsed(),
    })
}

/// The median of `n` round trips of `conn.ping()`.
pub fn median_round_trip(conn: &mut dyn RawConn, n: usize) -> anyhow::Result<Duration> {
    for _ in 0..n.min(50) {
        conn.ping()?;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let t0 = Instant::now();
        conn.ping()?;
        times.push(t0.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backend::Engine;
    use crate::transfer_sql::OPENING_BALANCE;

    /// The server backends CI provides (`GESTA_TEST_POSTGRES_URL`, `GESTA_TEST_MYSQL_URL`,
    /// as for the conformance suite); an unset one is left out, except under `CI=true`
    /// (the rule of `gesta-testkit`).
    fn servers() -> Vec<Target> {
        let mut targets = Vec::new();
        for (backend, var) in [
            (Engine::Postgres, "GESTA_TEST_POSTGRES_URL"),
            (Engine::Mysql, "GESTA_TEST_MYSQL_URL"),
        ] {
            match std::env::var(var) {
                Ok(url) => targets.push(Target {
                    backend,
                    url,
                    round_trip: None,
                }),
                Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
                    panic!("{var} is not set, and CI=true does not skip a backend")
                }
                Err(_) => eprintln!("{var} is not set: {} skipped", backend.title()),
            }
        }
        targets
    }

    fn settings() -> Settings {
        Settings {
            limit: Limit {
                duration: Duration::from_secs(60),
                commands: Some(100),
            },
            accounts: 10,
            batch: 16,
            events: 2_500,
            dir: None,
        }
    }

    #[test]
    fn transfer_loop_writes_a_consistent_log_and_conserves_money() {
        for target in servers() {
            let name = target.backend.title();
            let scratch = Scratch::new(&settings(), &target, "t").unwrap();
            let mut conn = target.raw(&scratch.url).unwrap();
            conn.create_gesta_schema().unwrap();
            conn.create_accounts(10).unwrap();
            let run = transfer_loop(conn.as_mut(), 10, 16, true, settings().limit).unwrap();
            assert_eq!(run.commands, 100, "{name}");
            let mut one = |sql: &str| conn.scalar(sql).unwrap();
            assert_eq!(one("SELECT COUNT(*) FROM events"), 200, "{name}");
            assert_eq!(one("SELECT MAX(position) FROM events"), 200, "{name}");
            assert_eq!(
                one("SELECT SUM(balance) FROM accounts"),
                10 * OPENING_BALANCE,
                "{name}"
            );
            // Every stream's version is its last event's, and versions have no gaps.
            assert_eq!(one("SELECT SUM(version) FROM streams"), 200, "{name}");
            let mismatched = one("SELECT COUNT(*) FROM streams s WHERE s.version <> \
                 (SELECT MAX(stream_version) FROM events e WHERE e.stream_id = s.stream_id)");
            assert_eq!(mismatched, 0, "{name}");
        }
    }

    #[test]
    fn one_insert_per_commit_from_many_clients_writes_every_position_once() {
        for target in servers() {
            let scratch = Scratch::new(&settings(), &target, "t").unwrap();
            let conns: Vec<_> = (0..4).map(|_| target.raw(&scratch.url).unwrap()).collect();
            let mut check = target.raw(&scratch.url).unwrap();
            check.create_gesta_schema().unwrap();
            let (run, _conns) = inserts(conns, settings().limit).unwrap();
            assert_eq!(run.commands, 100);
            assert_eq!(check.scalar("SELECT COUNT(*) FROM events").unwrap(), 100);
            assert_eq!(
                check.scalar("SELECT MAX(position) FROM events").unwrap(),
                100
            );
        }
    }

    #[test]
    fn the_filled_log_reads_back_whole_and_the_scratch_database_is_dropped() {
        for target in servers() {
            let scratch = Scratch::new(&settings(), &target, "t").unwrap();
            let url = scratch.url.clone();
            let mut conn = target.raw(&url).unwrap();
            conn.create_gesta_schema().unwrap();
            conn.fill(2_500, 7).unwrap();
            assert_eq!(conn.read_all().unwrap(), 2_500);
            assert_eq!(
                conn.scalar("SELECT MAX(stream_version) FROM events")
                    .unwrap(),
                358
            );
            assert_eq!(
                conn.scalar("SELECT SUM(version) FROM streams").unwrap(),
                2_500
            );
            drop(conn);
            drop(scratch);
            // The schema (PostgreSQL) or database (MySQL) is gone: nothing can be created
            // in it any more.
            let recreated = target.raw(&url).and_then(|mut c| c.create_gesta_schema());
            assert!(
                recreated.is_err(),
                "{} still exists",
                target.backend.title()
            );
        }
    }

    #[test]
    fn the_round_trip_is_measured() {
        for target in servers() {
            let rtt = target.round_trip(20).unwrap();
            assert!(rtt > Duration::ZERO && rtt < Duration::from_secs(1));
        }
    }
}
