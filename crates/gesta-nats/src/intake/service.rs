//! The NATS Services ("micro") protocol, v1: `$SRV.PING`, `$SRV.INFO` and
//! `$SRV.STATS`, each also as `$SRV.<VERB>.<name>` and `$SRV.<VERB>.<name>.<id>`,
//! answered with the `io.nats.micro.v1.*_response` documents, so that
//! `nats micro ls|info|stats` show the intake.
//!
//! It is written here rather than taken from `async_nats::service` because that
//! module replies to a failed request with an empty body and only its two error
//! headers, where Gesta's reply is the problem JSON with `Gesta-Status`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

/// Counts of one endpoint (a command).
#[derive(Debug, Default, Clone)]
struct Counts {
    requests: u64,
    errors: u64,
    last_error: String,
    processing: Duration,
}

/// The service: its identity, endpoints and counts.
pub struct Service {
    name: String,
    id: String,
    version: &'static str,
    started: String,
    queue_group: String,
    /// Command name → subject.
    endpoints: BTreeMap<String, String>,
    counts: Mutex<BTreeMap<String, Counts>>,
}

#[derive(Serialize)]
struct Endpoint<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
    metadata: BTreeMap<String, String>,
}

impl Service {
    /// The service of store `store` taking `commands` under `prefix`.
    pub(super) fn new<'a>(
        store: &str,
        prefix: &str,
        queue_group: &str,
        commands: impl Iterator<Item = &'a str>,
    ) -> Self {
        let name: String = format!("gesta-{store}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let endpoints = commands
            .map(|c| {
                (
                    c.to_owned(),
                    format!("{prefix}.{}", crate::subject::token(c)),
                )
            })
            .collect();
        let started = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Service {
            name,
            id: uuid::Uuid::new_v4().simple().to_string(),
            version: env!("CARGO_PKG_VERSION"),
            started,
            queue_group: queue_group.to_owned(),
            endpoints,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// The service's name (`gesta-<store>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This process's instance id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The subjects to subscribe to (no queue group: every instance answers).
    pub(super) fn control_subjects(&self) -> Vec<String> {
        let mut subjects = Vec::new();
        for verb in ["PING", "INFO", "STATS"] {
            subjects.push(format!("$SRV.{verb}"));
            subjects.push(format!("$SRV.{verb}.{}", self.name));
            subjects.push(format!("$SRV.{verb}.{}.{}", self.name, self.id));
        }
        subjects
    }

    /// Counts one request to `command` that took `elapsed`, failed with `error`
    /// (`"<code>:<description>"`, as the micro protocol writes `last_error`).
    pub(super) fn record(&self, command: &str, elapsed: Duration, error: Option<&str>) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let counts = counts.entry(command.to_owned()).or_default();
        counts.requests += 1;
        counts.processing += elapsed;
        if let Some(error) = error {
            counts.errors += 1;
            counts.last_error = error.to_owned();
        }
    }

    /// The answer to a request on `subject`, or `None` for a subject not ours.
    pub(super) fn answer(&self, subject: &str) -> Option<Vec<u8>> {
        let verb = subject.strip_prefix("$SRV.")?.split('.').next()?;
        let mut body = json!({
            "name": self.name,
            "id": self.id,
            "version": self.version,
            "metadata": {},
        });
        let endpoints = self.endpoints.iter().map(|(name, subject)| Endpoint {
            name,
            subject,
            queue_group: &self.queue_group,
            metadata: BTreeMap::new(),
        });
        match verb {
            "PING" => {
                body["type"] = json!("io.nats.micro.v1.ping_response");
            }
            "INFO" => {
                body["type"] = json!("io.nats.micro.v1.info_response");
                body["description"] = json!("Gesta commands over request-reply");
                body["endpoints"] = serde_json::to_value(endpoints.collect::<Vec<_>>()).ok()?;
            }
            "STATS" => {
                let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
                body["type"] = json!("io.nats.micro.v1.stats_response");
                body["started"] = json!(self.started);
                let stats: Vec<_> = endpoints
                    .map(|endpoint| {
                        let c = counts.get(endpoint.name).cloned().unwrap_or_default();
                        let nanos = c.processing.as_nanos() as u64;
                        json!({
                            "name": endpoint.name,
                            "subject": endpoint.subject,
                            "queue_group": endpoint.queue_group,
                            "num_requests": c.requests,
                            "num_errors": c.errors,
                            "last_error": c.last_error,
                            "processing_time": nanos,
                            "average_processing_time": nanos.checked_div(c.requests).unwrap_or(0),
                        })
                    })
                    .collect();
                body["endpoints"] = json!(stats);
            }
            _ => return None,
        }
        serde_json::to_vec(&body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_three_verbs_and_counts_requests() {
        let service = Service::new(
            "bank",
            "gesta.bank.commands",
            "gesta",
            ["Deposit"].into_iter(),
        );
        assert_eq!(service.name(), "gesta-bank");
        assert_eq!(service.control_subjects().len(), 9);
        let ping: serde_json::Value =
            serde_json::from_slice(&service.answer("$SRV.PING").unwrap()).unwrap();
        assert_eq!(ping["type"], "io.nats.micro.v1.ping_response");
        let info: serde_json::Value =
            serde_json::from_slice(&service.answer("$SRV.INFO.gesta-bank").unwrap()).unwrap();
        assert_eq!(
            info["endpoints"][0]["subject"],
            "gesta.bank.commands.Deposit"
        );
        service.record("Deposit", Duration::from_millis(2), None);
        service.record(
            "Deposit",
            Duration::from_millis(4),
            Some("400:Invalid input: amount"),
        );
        let stats: serde_json::Value =
            serde_json::from_slice(&service.answer("$SRV.STATS").unwrap()).unwrap();
        let deposit = &stats["endpoints"][0];
        assert_eq!(deposit["num_requests"], 2);
        assert_eq!(deposit["num_errors"], 1);
        assert_eq!(deposit["average_processing_time"], 3_000_000);
        assert_eq!(deposit["last_error"], "400:Invalid input: amount");
        assert!(service.answer("$SRV.NOPE").is_none());
    }
}
