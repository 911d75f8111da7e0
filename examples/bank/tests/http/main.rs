//! The HTTP API of DESIGN.md section 3, end to end: the bank's real router served on
//! 127.0.0.1:0 and driven with an HTTP client.

mod bad_input;
mod bank;
mod commands;
mod console;
mod erasure;
mod events;
mod history;
mod operations;
mod streams;
mod support;
