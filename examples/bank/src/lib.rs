//! The bank example (DESIGN.md section 6): accounts, deposits, withdrawals and
//! transfers; a balance never goes below zero and money is conserved.
//!
//! - [`commands`]: the commands and their handlers.
//! - [`accounts`]: the `accounts` read model: migration and reducer.
//! - [`routes`]: `GET /accounts/{id}`.
//! - [`server`]: the command line of the example server.
//! - [`welcome`]: the "welcome email" reactor, writing to an outbox file.

pub mod accounts;
pub mod commands;
pub mod routes;
pub mod server;
pub mod welcome;

use gesta::App;

/// The bank application: migrations, command handlers, read model.
pub fn app() -> App {
    App::new("bank")
        .migration(accounts::migration())
        .command(commands::open_account)
        .command(commands::deposit)
        .command(commands::withdraw)
        .command(commands::transfer)
        // The owner's name is personal data of the account: stored encrypted with the
        // account stream's key, gone once `POST /admin/erase {"subject": "account-ID"}`.
        .personal("AccountOpened", "owner")
        .read_model(accounts::read_model())
}
