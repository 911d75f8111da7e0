//! The `gesta-bank` child process: start it on a database, wait until it listens, and
//! SIGKILL it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// How long a server may take to open its database and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server process. Dropping it kills (SIGKILL) and reaps it, also when a test panics.
pub struct Server {
    child: Child,
    /// `http://ADDR`, once it listens.
    pub base: String,
    name: String,
}

/// A server that was started and may not listen yet.
pub struct Starting {
    server: Server,
    address: Receiver<String>,
}

impl Starting {
    /// Waits until the server listens.
    pub fn listening(mut self) -> Server {
        let name = self.server.name.clone();
        match self.address.recv_timeout(START_TIMEOUT) {
            Ok(addr) => self.server.base = format!("http://{addr}"),
            Err(RecvTimeoutError::Timeout) => panic!("{name} did not listen in {START_TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.server.child.wait();
                panic!("{name} exited before listening: {status:?} (its stderr is above)")
            }
        }
        self.server
    }

    /// The process, listening or not.
    pub fn into_server(self) -> Server {
        self.server
    }
}

impl Server {
    /// Starts `gesta-bank` on `db` and waits until it listens.
    pub fn start(db: &str, name: &str) -> Server {
        Server::spawn(db, name).listening()
    }

    /// Starts `gesta-bank` on `db` without waiting. `name` prefixes its output lines.
    pub fn spawn(db: &str, name: &str) -> Starting {
        // The welcome-email outbox is not under test here: keep it out of the source tree.
        let outbox =
            std::env::temp_dir().join(format!("gesta-crash-{}-outbox.txt", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_gesta-bank"))
            .args(["--db", db, "--listen", "127.0.0.1:0"])
            .arg("--outbox")
            .arg(&outbox)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gesta-bank");
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, address) = std::sync::mpsc::channel();
        let label = name.to_owned();
        // Reads stdout to the end so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match line.strip_prefix("bank listening on http://") {
                    Some(rest) => {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        let _ = found.send(addr.to_owned());
                    }
                    None => println!("[{label}] {line}"),
                }
            }
        });
        let name = name.to_owned();
        let server = Server {
            child,
            base: String::new(),
            name,
        };
        Starting { server, address }
    }

    /// Freezes (`STOP`) or thaws (`CONT`) the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-s", signal, &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -s {signal} {pid}");
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
