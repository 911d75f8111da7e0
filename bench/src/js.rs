//! (j) The bank written in JavaScript (`bench/js/bank.mjs`, run by gesta-js as `gesta
//! serve --app` runs it) against the Rust bank: the same Transfer through the library
//! (`jb{n}` against `b{n}`) and over HTTP (`j{n}` against `c{n}`, in `http`).

use std::path::Path;

use anyhow::Context as _;
use gesta::Store;

use crate::backend::{Scratch, Target};
use crate::drive::{self, Caller};
use crate::report::{Compare, Report, Row};
use crate::transfer_sql::{OPENING_BALANCE, account_id, transfer_data};
use crate::{Settings, cpu};

/// The JavaScript bank's module.
fn module() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/js/bank.mjs"))
}

/// Opens a fresh store of the JavaScript bank on `url` with `accounts` funded accounts.
pub async fn open_bank(url: &str, accounts: usize) -> anyhow::Result<(Store, gesta_js::JsApp)> {
    let js = tokio::task::spawn_blocking(|| {
        gesta_js::JsApp::load(module(), gesta_js::Limits::default())
    })
    .await?
    .context("loading bench/js/bank.mjs")?;
    let store = Store::builder(js.app())
        .url(url)
        .open()
        .await
        .with_context(|| format!("opening {url}"))?;
    let setup = store.clone();
    drive::in_parallel(accounts, 64, move |i| {
        let store = setup.clone();
        async move {
            let id = account_id(i);
            let open = format!(r#"{{"account_id":"{id}","owner":"bench"}}"#);
            store
                .dispatch_json("OpenAccount", open.as_bytes(), gesta::Context::default())
                .await?;
            let deposit = format!(r#"{{"account_id":"{id}","amount":{OPENING_BALANCE}}}"#);
            store
                .dispatch_json("Deposit", deposit.as_bytes(), gesta::Context::default())
                .await?;
            Ok(())
        }
    })
    .await
    .context("opening the benchmark accounts")?;
    Ok((store, js))
}

/// A caller dispatching the Transfer as JSON, as every transport does.
struct JsCaller(Store);

impl Caller for JsCaller {
    async fn transfer(&mut self, from: String, to: String) -> bool {
        let body = transfer_data(&from, &to);
        self.0
            .dispatch_json("Transfer", body.as_bytes(), gesta::Context::default())
            .await
            .is_ok()
    }
}

/// Runs (j) through the library for each number of `callers`, on a fresh store each time.
pub fn run(
    settings: &Settings,
    target: &Target,
    callers: &[usize],
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("(j) library: gesta::Store + bench/js/bank.mjs (gesta-js)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-js")
        .build()?;
    for &n in callers {
        let scratch = Scratch::new(settings, target, "jsbank")?;
        let (load, cpu) = runtime.block_on(async {
            let (store, _js) = open_bank(&scratch.url, settings.accounts).await?;
            let cpu = cpu::Meter::start(target.backend);
            let callers = (0..n).map(|_| JsCaller(store.clone())).collect();
            let load = drive::drive(callers, settings.accounts, settings.limit).await;
            let cpu = cpu.note(&format!("jb{n}"), load.ok);
            anyhow::Ok((load, cpu))
        })?;
        report.cpu_note(cpu);
        drop(scratch);
        report.add(Row {
            key: format!("jb{n}"),
            what: format!("library: Transfer of the JavaScript bank, {n} callers"),
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
