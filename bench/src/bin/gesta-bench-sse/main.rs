//! `gesta-bench-sse`: events/s delivered to 0, 1, 10 and 100 concurrent SSE
//! subscribers while bank transfers are being written, the write throughput with and
//! without them, and the latency from commit to a subscriber receiving the event.
//!
//! Run as `cargo run --release -p gesta-bench --bin gesta-bench-sse -- [--seconds S]
//! [--writers N] [--subscribers 0,1,10,100] [--server-cores 0] [--client-cores 1]`.
//!
//! The store (one SQLite file, WAL, synchronous=FULL; or a fresh schema/database on
//! a server with `--db postgres://...` / `--db mysql://...`), its HTTP server and 64 library
//! callers writing transfers run in this process; the subscribers run in a second
//! process (this binary with `--clients`), as remote clients would. With two or more
//! cores the subscribers get the last core and the server the others, so what the
//! write rate loses with subscribers is what the server spends on them, not what the
//! clients spend parsing.

mod clients;
mod cores;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use gesta::Store;
use gesta_bank::commands::{Deposit, OpenAccount, Transfer};

const ACCOUNTS: usize = 1000;

/// The name of the store's writer thread.
const WRITER_THREAD: &str = "gesta-writer";

#[derive(Debug, Parser)]
#[command(
    name = "gesta-bench-sse",
    about = "SSE fan-out while writing: throughput and latency"
)]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrent library callers writing transfers.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Subscriber counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 10, 100])]
    subscribers: Vec<usize>,
    /// The server's flush interval in ms: the shortest time between two writes to one
    /// subscriber (`gesta_http::Api::flush_interval`).
    #[arg(long, default_value_t = 5.0)]
    flush_ms: f64,
    /// Rounds over all subscriber counts; each row reports the round with the median
    /// write rate (rounds interleave, so a slow spell of the machine hits every row).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Cores for the server and writers (default: all but the last).
    #[arg(long, value_delimiter = ',')]
    server_cores: Vec<usize>,
    /// Cores for the subscribers' process (default: the last).
    #[arg(long, value_delimiter = ',')]
    client_cores: Vec<usize>,
    /// Pin nothing: server and subscribers share every core.
    #[arg(long)]
    no_pin: bool,
    /// Run the subscribers' process at this nice level (19: it only gets CPU the
    /// server leaves, as clients on other machines would take none); uses `nice`.
    #[arg(long, default_value_t = 0)]
    client_nice: i32,
    /// Give the store's writer thread this nice level (e.g. -10: ahead of every other
    /// thread of the machine when they compete for a core); uses `renice`, needs root.
    #[arg(long)]
    writer_nice: Option<i32>,
    /// Threads serving the subscribers (`gesta_http::ServeOptions::live_threads`; the
    /// servers' `--live-threads`; default a quarter of the cores, at least one).
    #[arg(long)]
    live_threads: Option<usize>,
    /// Their priority (`--live-priority`): `lowest` (nice 19) or `normal`.
    #[arg(long, value_enum, default_value_t = gesta_http::LivePriority::Lowest)]
    live_priority: gesta_http::LivePriority,
    /// The store's database: `sqlite` (a fresh file), or a PostgreSQL / MySQL server
    /// URL (`postgres://...`, `mysql://...`) on which each measurement gets a fresh
    /// schema or database.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Internal: run as the subscribers' process, connecting to this address.
    #[arg(long, hide = true)]
    clients: Option<SocketAddr>,
    /// Internal: how many subscribers the subscribers' process opens.
    #[arg(long, hide = true, default_value_t = 0)]
    count: usize,
}

struct Measured {
    subscribers: usize,
    writes_per_s: f64,
    /// Server CPU seconds per 1000 transfers.
    server_cpu_ms_per_k: Option<f64>,
    /// The writer thread's CPU seconds per 1000 transfers.
    writer_cpu_ms_per_k: Option<f64>,
    clients: Option<clients::Report>,
    seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(addr) = args.clients {
        cores::pin(&args.client_cores)?;
        return clients::run(addr, args.count);
    }
    let available = cores::available();
    let unpinned = args.server_cores.is_empty() && args.client_cores.is_empty();
    if unpinned && available >= 2 && !args.no_pin {
        args.server_cores = (0..available - 1).collect();
        args.client_cores = vec![available - 1];
    }
    cores::pin(&args.server_cores)?;
    let mut rounds: Vec<Vec<Measured>> = args.subscribers.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds.max(1) {
        for (row, &subscribers) in args.subscribers.iter().enumerate() {
            eprintln!("round {round}: {subscribers} subscribers");
            rounds[row].push(measure(&args, subscribers)?);
        }
    }
    let results: Vec<Measured> = rounds.into_iter().filter_map(median).collect();
    print_report(&args, &results);
    Ok(())
}

fn measure(args: &Args, subscribers: usize) -> anyhow::Result<Measured> {
    let database = Database::fresh(&args.db)?;
    let url = database.url();
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (store, addr) = server.block_on(async {
        let store = open_bank(url).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let api = gesta_http::Api::new(store.clone())
            .routes(gesta_bank::routes::router(store.clone()))
            .flush_interval(Duration::from_secs_f64(args.flush_ms / 1000.0))
            .into_router();
        let mut options = gesta_http::ServeOptions::default().live_priority(args.live_priority);
        if let Some(threads) = args.live_threads {
            options = options.live_threads(threads);
        }
        tokio::spawn(gesta_http::serve_with(
            listener,
            api,
            std::future::pending(),
            options,
        ));
        anyhow::Ok((store, addr))
    })?;
    if let Some(level) = args.writer_nice {
        cores::renice_threads(WRITER_THREAD, level)?;
    }
    let mut clients = match subscribers {
        0 => None,
        n => Some(Clients::spawn(args, addr, n)?),
    };
    if let Some(clients) = clients.as_mut() {
        clients.say("start")?;
    }
    let duration = Duration::from_secs_f64(args.seconds);
    let cpu_before = cores::cpu_seconds();
    let writer_before = cores::thread_cpu_seconds(WRITER_THREAD);
    let written = server.block_on(write(store, args.writers, duration))?;
    let cpu = cores::cpu_seconds()
        .zip(cpu_before)
        .map(|(now, then)| now - then);
    let writer_cpu = cores::thread_cpu_seconds(WRITER_THREAD)
        .zip(writer_before)
        .map(|(now, then)| now - then);
    // Let the subscribers receive what was committed last.
    std::thread::sleep(Duration::from_millis(300));
    let report = clients.map(Clients::finish).transpose()?;
    drop(server);
    Ok(Measured {
        subscribers,
        writes_per_s: written as f64 / duration.as_secs_f64(),
        server_cpu_ms_per_k: cpu.map(|s| s * 1e6 / written.max(1) as f64),
        writer_cpu_ms_per_k: writer_cpu.map(|s| s * 1e6 / written.max(1) as f64),
        clients: report,
        seconds: duration.as_secs_f64(),
    })
}

/// A fresh database for one measurement, removed when dropped.
enum Database {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Server(gesta_testkit::FreshDatabase),
}

impl Database {
    fn fresh(db: &str) -> anyhow::Result<Self> {
        let server = if db.starts_with("postgres") {
            gesta_testkit::Server::Postgres
        } else if db.starts_with("mysql") {
            gesta_testkit::Server::Mysql
        } else if db == "sqlite" {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("sse.db").display());
            return Ok(Database::Sqlite { _dir: dir, url });
        } else {
            anyhow::bail!("--db is sqlite, postgres://... or mysql://..., not {db:?}");
        };
        let fresh = gesta_testkit::fresh_at(server, db).map_err(anyhow::Error::msg)?;
        Ok(Database::Server(fresh))
    }

    fn url(&self) -> &str {
        match self {
            Database::Sqlite { url, .. } => url,
            Database::Server(fresh) => fresh.url(),
        }
    }

    fn describe(db: &str) -> &'static str {
        if db.starts_with("postgres") {
            "PostgreSQL"
        } else if db.starts_with("mysql") {
            "MySQL/MariaDB"
        } else {
            "SQLite file"
        }
    }
}

/// The measurement with the median write rate.
fn median(mut measured: Vec<Measured>) -> Option<Measured> {
    measured.sort_by(|a, b| a.writes_per_s.total_cmp(&b.writes_per_s));
    let middle = measured.len() / 2;
    measured.into_iter().nth(middle)
}

/// The subscribers' process, steered over its stdin and stdout.
struct Clients {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Clients {
    fn spawn(args: &Args, addr: SocketAddr, count: usize) -> anyhow::Result<Self> {
        let cores: Vec<String> = args.client_cores.iter().map(usize::to_string).collect();
        let exe = std::env::current_exe()?;
        let mut command = if args.client_nice == 0 {
            Command::new(exe)
        } else {
            let mut nice = Command::new("nice");
            nice.args(["-n", &args.client_nice.to_string()]).arg(exe);
            nice
        };
        command
            .args([
                "--clients",
                &addr.to_string(),
                "--count",
                &count.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if !cores.is_empty() {
            command.args(["--client-cores", &cores.join(",")]);
        }
        let mut child = command.spawn().context("starting the subscribers")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let mut clients = Clients {
            child,
            stdin,
            stdout,
        };
        let ready = clients.line()?;
        anyhow::ensure!(ready == "ready", "the subscribers said {ready:?}");
        Ok(clients)
    }

    fn say(&mut self, word: &str) -> anyhow::Result<()> {
        writeln!(self.stdin, "{word}")?;
        Ok(self.stdin.flush()?)
    }

    fn line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        anyhow::ensure!(!line.is_empty(), "the subscribers' process ended");
        Ok(line.trim().to_owned())
    }

    fn finish(mut self) -> anyhow::Result<clients::Report> {
        self.say("stop")?;
        let report = serde_json::from_str(&self.line()?)?;
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(report)
    }
}

async fn open_bank(url: &str) -> anyhow::Result<Store> {
    let store = Store::open(url, gesta_bank::app()).await?;
    for i in 0..ACCOUNTS {
        let account_id = format!("a{i}");
        store
            .dispatch(OpenAccount {
                account_id: account_id.clone(),
                owner: "bench".into(),
            })
            .await?;
        store
            .dispatch(Deposit {
                account_id,
                amount: 1_000_000_000,
            })
            .await?;
    }
    Ok(store)
}

/// `writers` callers transferring for `duration`; returns the commands committed.
async fn write(store: Store, writers: usize, duration: Duration) -> anyhow::Result<u64> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0_u64;
                while started.elapsed() < duration {
                    let from = (w * 7919 + n as usize * 31) % ACCOUNTS;
                    let to = (from + 1 + w) % ACCOUNTS;
                    if from != to {
                        let transfer = Transfer {
                            from: format!("a{from}"),
                            to: format!("a{to}"),
                            amount: 1,
                        };
                        store.dispatch(transfer).await?;
                    }
                    n += 1;
                }
                anyhow::Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.context("writer")??;
    }
    Ok(total)
}

fn print_report(args: &Args, results: &[Measured]) {
    let base = results
        .iter()
        .find(|m| m.subscribers == 0)
        .map(|m| m.writes_per_s);
    let cores = |c: &[usize]| {
        if c.is_empty() {
            "any".to_owned()
        } else {
            format!("{c:?}")
        }
    };
    println!(
        "## SSE fan-out while writing ({}, {} writers, {:.1} s each, median of {} rounds; flush interval {} ms; live threads {} at priority {:?}; server on cores {}, subscribers' process on cores {} at nice {})\n",
        Database::describe(&args.db),
        args.writers,
        args.seconds,
        args.rounds.max(1),
        args.flush_ms,
        args.live_threads
            .map_or_else(|| "default".to_owned(), |n| n.to_string()),
        args.live_priority,
        cores(&args.server_cores),
        cores(&args.client_cores),
        args.client_nice
    );
    println!(
        "| subscribers | transfers/s | vs 0 subscribers | server CPU ms per 1k transfers | writer thread CPU ms per 1k | events delivered/s (all subscribers) | commit→receive p50 | p99 | subscribers' CPU |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for m in results {
        let ratio = base.map_or(String::new(), |b| format!("{:.2}x", m.writes_per_s / b));
        let cpu = m
            .server_cpu_ms_per_k
            .map_or(String::new(), |ms| format!("{ms:.0}"));
        let writer_cpu = m
            .writer_cpu_ms_per_k
            .map_or(String::new(), |ms| format!("{ms:.0}"));
        let (delivered, p50, p99, client_cpu) = match &m.clients {
            None => Default::default(),
            Some(r) => (
                format!("{:.0}", r.delivered as f64 / m.seconds),
                format!("{:.1} ms", r.p50_us as f64 / 1000.0),
                format!("{:.1} ms", r.p99_us as f64 / 1000.0),
                r.cpu_seconds
                    .map_or(String::new(), |s| format!("{:.0}%", s * 100.0 / m.seconds)),
            ),
        };
        println!(
            "| {} | {:.0} | {ratio} | {cpu} | {writer_cpu} | {delivered} | {p50} | {p99} | {client_cpu} |",
            m.subscribers, m.writes_per_s
        );
    }
}
