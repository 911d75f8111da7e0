//! Security end to end: the bank served with `--auth` and its policy file, driven over
//! HTTP by callers with every kind of credential, on SQLite and PostgreSQL (and MariaDB
//! when it is configured).

mod matrix;
mod push;
mod support;
mod transport;
