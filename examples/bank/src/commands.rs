//! Bank commands and their handlers. Each reads the `accounts` read model inside the
//! write transaction and turns the command into events, or refuses it.

use gesta::event::NewEvent;
use gesta::{Command, ExpectedVersion, HandlerError, Rejection, Tx};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::accounts;

/// The largest amount one command may move, in cents (keeps sums far from overflow).
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// Opens an account.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAccount {
    /// The new account's id (1 to 64 characters).
    #[schemars(length(min = 1, max = 64))]
    pub account_id: String,
    /// Its owner.
    #[schemars(length(min = 1, max = 200))]
    pub owner: String,
}

/// Puts money into an account.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deposit {
    /// The account.
    #[schemars(length(min = 1, max = 64))]
    pub account_id: String,
    /// Cents, positive.
    #[schemars(range(min = 1, max = 1_000_000_000_000u64))]
    pub amount: u64,
}

/// Takes money out of an account.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    /// The account.
    #[schemars(length(min = 1, max = 64))]
    pub account_id: String,
    /// Cents, positive, at most the balance.
    #[schemars(range(min = 1, max = 1_000_000_000_000u64))]
    pub amount: u64,
}

/// Moves money between two accounts: one event on each account's stream.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The account debited.
    #[schemars(length(min = 1, max = 64))]
    pub from: String,
    /// The account credited.
    #[schemars(length(min = 1, max = 64))]
    pub to: String,
    /// Cents, positive, at most `from`'s balance.
    #[schemars(range(min = 1, max = 1_000_000_000_000u64))]
    pub amount: u64,
}

impl Command for OpenAccount {
    const NAME: &'static str = "OpenAccount";
    fn schema() -> serde_json::Value {
        schemars::schema_for!(Self).to_value()
    }
}
impl Command for Deposit {
    const NAME: &'static str = "Deposit";
    fn schema() -> serde_json::Value {
        schemars::schema_for!(Self).to_value()
    }
}
impl Command for Withdraw {
    const NAME: &'static str = "Withdraw";
    fn schema() -> serde_json::Value {
        schemars::schema_for!(Self).to_value()
    }
}
impl Command for Transfer {
    const NAME: &'static str = "Transfer";
    fn schema() -> serde_json::Value {
        schemars::schema_for!(Self).to_value()
    }
}

/// The stream of account `id`.
pub fn stream(id: &str) -> String {
    format!("account-{id}")
}

fn check_id(field: &str, id: &str) -> Result<(), Rejection> {
    if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
        return Err(Rejection::invalid(
            field,
            "must be 1 to 64 characters, no control characters",
        ));
    }
    Ok(())
}

fn check_amount(amount: u64) -> Result<(), Rejection> {
    if amount == 0 || amount > MAX_AMOUNT {
        return Err(Rejection::invalid(
            "amount",
            format!("must be a positive integer of cents, at most {MAX_AMOUNT}"),
        ));
    }
    Ok(())
}

/// The bank's own rule on top of the policy: a customer (a principal whose roles
/// include `customer` but not `teller` nor `admin`) moves money only out of its own
/// account, the one named by its subject (403 otherwise). Without authentication
/// there is no principal and no such rule.
fn check_owner(tx: &Tx<'_>, field: &str, account: &str) -> Result<(), Rejection> {
    let Some(principal) = tx.principal() else {
        return Ok(());
    };
    let customer = principal.has_role("customer")
        && !principal.has_role("teller")
        && !principal.has_role("admin");
    if customer && principal.subject() != account {
        return Err(Rejection::forbidden(format!(
            "{field}: a customer may only move money out of their own account"
        )));
    }
    Ok(())
}

/// The 404 rejection for account `id`.
fn missing(id: &str) -> Rejection {
    Rejection::not_found(format!("account {id:?} does not exist"))
}

/// The balance of `id`, or a 404 rejection naming it.
fn balance(tx: &mut Tx<'_>, id: &str) -> Result<u64, HandlerError> {
    Ok(accounts::balance(tx, id)?.ok_or_else(|| missing(id))?)
}

/// `OpenAccount`: refused with 409 if the account exists.
pub fn open_account(tx: &mut Tx<'_>, cmd: OpenAccount) -> Result<Vec<NewEvent>, HandlerError> {
    check_id("account_id", &cmd.account_id)?;
    if cmd.owner.trim().is_empty() || cmd.owner.len() > 200 {
        return Err(Rejection::invalid("owner", "must be 1 to 200 characters").into());
    }
    if accounts::balance(tx, &cmd.account_id)?.is_some() {
        return Err(
            Rejection::conflict(format!("account {:?} already exists", cmd.account_id)).into(),
        );
    }
    let event = NewEvent::new(stream(&cmd.account_id), "AccountOpened", &cmd)?
        .expect_version(ExpectedVersion::NoStream);
    Ok(vec![event])
}

/// `Deposit`: the account must exist.
pub fn deposit(tx: &mut Tx<'_>, cmd: Deposit) -> Result<Vec<NewEvent>, HandlerError> {
    check_amount(cmd.amount)?;
    check_id("account_id", &cmd.account_id)?;
    balance(tx, &cmd.account_id)?;
    Ok(vec![NewEvent::new(
        stream(&cmd.account_id),
        "Deposited",
        &cmd,
    )?])
}

/// `Withdraw`: refused with 422 if the balance is too low.
pub fn withdraw(tx: &mut Tx<'_>, cmd: Withdraw) -> Result<Vec<NewEvent>, HandlerError> {
    check_amount(cmd.amount)?;
    check_id("account_id", &cmd.account_id)?;
    check_owner(tx, "account_id", &cmd.account_id)?;
    let available = balance(tx, &cmd.account_id)?;
    if available < cmd.amount {
        return Err(insufficient(&cmd.account_id, available, cmd.amount));
    }
    Ok(vec![NewEvent::new(
        stream(&cmd.account_id),
        "Withdrawn",
        &cmd,
    )?])
}

/// `Transfer`: both accounts must exist and differ; `from` must cover the amount.
pub fn transfer(tx: &mut Tx<'_>, cmd: Transfer) -> Result<Vec<NewEvent>, HandlerError> {
    check_amount(cmd.amount)?;
    check_id("from", &cmd.from)?;
    check_id("to", &cmd.to)?;
    check_owner(tx, "from", &cmd.from)?;
    if cmd.from == cmd.to {
        return Err(Rejection::invalid("to", "must differ from `from`").into());
    }
    let (available, to) = accounts::two_balances(tx, &cmd.from, &cmd.to)?;
    let available = available.ok_or_else(|| missing(&cmd.from))?;
    to.ok_or_else(|| missing(&cmd.to))?;
    if available < cmd.amount {
        return Err(insufficient(&cmd.from, available, cmd.amount));
    }
    Ok(vec![
        NewEvent::new(stream(&cmd.from), "TransferSent", &cmd)?,
        NewEvent::new(stream(&cmd.to), "TransferReceived", &cmd)?,
    ])
}

fn insufficient(id: &str, available: u64, wanted: u64) -> HandlerError {
    Rejection::unprocessable(format!(
        "insufficient funds: account {id:?} has {available} cents, {wanted} requested"
    ))
    .into()
}
