//! (b) Bank transfers through the library (`gesta::Store` + `gesta_bank::app()`),
//! with 1, 16 and 64 concurrent callers; (d) their latency.

use anyhow::Context as _;
use gesta::Store;
use gesta_bank::commands::{Deposit, OpenAccount, Transfer};

use crate::backend::{Scratch, Target};
use crate::drive::{self, Caller};
use crate::report::{Compare, Report, Row};
use crate::transfer_sql::{AMOUNT, OPENING_BALANCE, account_id};
use crate::{Settings, cpu};

/// A caller dispatching typed commands to the store.
struct LibraryCaller(Store);

impl Caller for LibraryCaller {
    async fn transfer(&mut self, from: String, to: String) -> bool {
        let amount = AMOUNT as u64;
        self.0.dispatch(Transfer { from, to, amount }).await.is_ok()
    }
}

/// Runs (b) for each number of `callers`, on a fresh store each time.
pub fn run(
    settings: &Settings,
    target: &Target,
    callers: &[usize],
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("(b) library: gesta::Store + gesta_bank::app()");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-library")
        .build()?;
    for &n in callers {
        let scratch = Scratch::new(settings, target, "bank")?;
        let (load, writer, statements, cpu) = runtime.block_on(async {
            let store = open_bank(&scratch.url, settings.accounts).await?;
            let before = WriterStats::of(&store);
            let statements = target.server_statements();
            let cpu = cpu::Meter::start(target.backend);
            let callers = (0..n).map(|_| LibraryCaller(store.clone())).collect();
            let load = drive::drive(callers, settings.accounts, settings.limit).await;
            let cpu = cpu.note(&format!("b{n}"), load.ok);
            let statements = statements
                .zip(target.server_statements())
                .map(|(before, after)| after.saturating_sub(before + 1));
            let writer = WriterStats::of(&store).since(&before);
            anyhow::Ok((load, writer, statements, cpu))
        })?;
        report.cpu_note(cpu);
        drop(scratch);
        let mut note = format!("b{n}: writer {writer}");
        if let Some(rtt) = target.round_trip {
            let per_command = writer.seconds * 1e6 / writer.units.max(1.0);
            note.push_str(&format!(
                " = {:.1} round trips of `SELECT 1`",
                per_command / (rtt.as_secs_f64() * 1e6)
            ));
        }
        if let Some(statements) = statements {
            note.push_str(&format!(
                "; {:.2} statements per command at the server ({})",
                statements as f64 / load.ok.max(1) as f64,
                target.statement_counter()
            ));
        }
        report.note(note);
        report.add(Row {
            key: format!("b{n}"),
            what: format!("library: Transfer, {n} concurrent callers"),
            rate: load.rate(),
            unit: "commands/s",
            compare: Compare::Writes,
            latency: Some(load.latency()),
            count: load.ok,
            errors: load.errors,
        });
    }
    Ok(())
}

/// Batch sizes and transaction times from the store's metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterStats {
    batches: f64,
    units: f64,
    seconds: f64,
}

impl WriterStats {
    /// The totals so far.
    pub fn of(store: &Store) -> Self {
        let mut registry = prometheus_client::registry::Registry::with_prefix("gesta");
        store.metrics().register(&mut registry);
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(0.0)
        };
        WriterStats {
            batches: value("gesta_batch_size_count"),
            units: value("gesta_batch_size_sum"),
            seconds: value("gesta_commit_seconds_sum"),
        }
    }

    /// The difference from `before`.
    pub fn since(&self, before: &Self) -> Self {
        WriterStats {
            batches: self.batches - before.batches,
            units: self.units - before.units,
            seconds: self.seconds - before.seconds,
        }
    }
}

impl std::fmt::Display for WriterStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let batches = self.batches.max(1.0);
        write!(
            f,
            "committed {:.0} batches, mean {:.1} commands per batch, mean {:.2} ms BEGIN..COMMIT \
             per batch ({:.1} µs per command)",
            self.batches,
            self.units / batches,
            self.seconds * 1000.0 / batches,
            self.seconds * 1e6 / self.units.max(1.0)
        )
    }
}

/// Opens a durable bank store at `url` and opens `accounts` funded accounts.
pub async fn open_bank(url: &str, accounts: usize) -> anyhow::Result<Store> {
    let store = Store::open(url, gesta_bank::app())
        .await
        .with_context(|| format!("opening {url}"))?;
    let setup = store.clone();
    drive::in_parallel(accounts, 64, move |i| {
        let store = setup.clone();
        async move {
            let account_id = account_id(i);
            store
                .dispatch(OpenAccount {
                    account_id: account_id.clone(),
                    owner: "bench".into(),
                })
                .await?;
            store
                .dispatch(Deposit {
                    account_id,
                    amount: OPENING_BALANCE as u64,
                })
                .await?;
            Ok(())
        }
    })
    .await
    .context("opening the benchmark accounts")?;
    Ok(store)
}
