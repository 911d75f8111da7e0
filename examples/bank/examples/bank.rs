//! The bank example server: `cargo run --release --example bank -- --db sqlite://bank.db`.
//! The application itself is in `examples/bank/src/`.

fn main() -> anyhow::Result<()> {
    gesta_bank::server::main()
}
