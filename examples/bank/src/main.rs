//! The bank example server (also `cargo run --example bank`).

fn main() -> anyhow::Result<()> {
    gesta_bank::server::main()
}
