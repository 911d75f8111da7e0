//! The markdown report: one row per measurement, ratios to the ceilings, the targets.

use std::fmt::Write as _;

use crate::Settings;

/// Median and 99th percentile of command latency, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// 50th percentile.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

/// What a row's rate is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// A write rate: compared with (a1) and (a2).
    Writes,
    /// A replay rate: compared with the raw read loop.
    Reads,
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Row {
    /// Stable key the targets refer to (`a1`, `a2`, `b64`, `c64`, `e`, `e_raw`, ...).
    pub key: String,
    /// What was measured.
    pub what: String,
    /// Operations per second.
    pub rate: f64,
    /// The unit of `rate`.
    pub unit: &'static str,
    /// What `rate` is compared with.
    pub compare: Compare,
    /// Latency, where measured per command.
    pub latency: Option<Latency>,
    /// Operations counted.
    pub count: u64,
    /// Failed operations (should be 0).
    pub errors: u64,
}

/// A target of the issue: a row's rate against another row's, or an absolute rate.
#[derive(Debug, Clone)]
pub struct Target {
    /// What is checked.
    pub name: &'static str,
    /// The measured row.
    pub key: &'static str,
    /// The row it is compared with; `None` for an absolute rate.
    pub base: Option<&'static str>,
    /// The least ratio (or rate) that meets it.
    pub required: f64,
    /// `required` as the issue states it.
    pub text: &'static str,
}

/// The targets every backend is held to.
pub fn common_targets() -> Vec<Target> {
    let ratio = |name, key, base, required, text| Target {
        name,
        key,
        base: Some(base),
        required,
        text,
    };
    vec![
        ratio("library, 64 callers vs (a1)", "b64", "a1", 10.0, ">= 10x"),
        ratio("library, 64 callers vs (a2)", "b64", "a2", 0.5, ">= 0.5x"),
        ratio(
            "HTTP, 64 connections vs library, 64 callers",
            "c64",
            "b64",
            0.5,
            ">= 0.5x",
        ),
        ratio(
            "JavaScript Transfer vs Rust, library, 64 callers (a JS command costs at most 2x)",
            "jb64",
            "b64",
            0.5,
            ">= 0.5x",
        ),
        ratio(
            "JavaScript Transfer vs Rust, HTTP, 64 connections (a JS command costs at most 2x)",
            "j64",
            "c64",
            0.5,
            ">= 0.5x",
        ),
        Target {
            name: "replay through the library",
            key: "e",
            base: None,
            required: 1_000_000.0,
            text: "> 1,000,000 events/s",
        },
    ]
}

/// All rows of one backend's run, printed at the end.
#[derive(Debug)]
pub struct Report {
    title: String,
    header: Vec<String>,
    rows: Vec<Row>,
    notes: Vec<String>,
    targets: Vec<Target>,
}

impl Report {
    /// An empty report titled `title`, with `header` lines above the table.
    pub fn new(title: impl Into<String>, header: Vec<String>, targets: Vec<Target>) -> Self {
        Report {
            title: title.into(),
            header,
            rows: Vec::new(),
            notes: Vec::new(),
            targets,
        }
    }

    /// The line describing the measurement settings.
    pub fn settings_line(settings: &Settings) -> String {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let budget = match settings.limit.commands {
            Some(n) => format!("{n} commands"),
            None => format!("{:.1} s", settings.limit.duration.as_secs_f64()),
        };
        format!(
            "{cores} cores; each measurement: {budget}; {} accounts; raw loops commit every {} \
             commands; replay log of {} events",
            settings.accounts, settings.batch, settings.events
        )
    }

    /// Adds a measurement and prints it at once (runs are long; show progress).
    pub fn add(&mut self, row: Row) {
        eprintln!(
            "  {:<6} {:<58} {:>14} {}{}",
            row.key,
            row.what,
            rate(row.rate),
            row.unit,
            row.latency
                .map(|l| format!("  p50 {} p99 {}", micros(l.p50_us), micros(l.p99_us)))
                .unwrap_or_default()
        );
        self.rows.push(row);
    }

    /// Adds a line under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Adds a CPU-time line (see `cpu`), if there is one.
    pub fn cpu_note(&mut self, note: Option<String>) {
        if let Some(note) = note {
            self.note(note);
        }
    }

    fn get(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    fn ratio(&self, row: &Row, key: &str) -> String {
        match self.get(key) {
            Some(base) if base.rate > 0.0 && base.key != row.key => {
                format!("{:.2}x", row.rate / base.rate)
            }
            Some(base) if base.key == row.key => "1x".to_owned(),
            _ => "n/a".to_owned(),
        }
    }

    /// The whole report as markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n", self.title);
        for line in &self.header {
            let _ = writeln!(out, "- {line}");
        }
        out.push_str(
            "\n| # | measurement | rate | unit | vs (a1) | vs (a2) | vs raw read | p50 | p99 | n | errors |\n\
             | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for row in &self.rows {
            let (vs_a1, vs_a2, vs_read) = match row.compare {
                Compare::Writes => (self.ratio(row, "a1"), self.ratio(row, "a2"), String::new()),
                Compare::Reads => (String::new(), String::new(), self.ratio(row, "e_raw")),
            };
            let (p50, p99) = row.latency.map_or((String::new(), String::new()), |l| {
                (micros(l.p50_us), micros(l.p99_us))
            });
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {vs_a1} | {vs_a2} | {vs_read} | {p50} | {p99} | {} | {} |",
                row.key,
                row.what,
                rate(row.rate),
                row.unit,
                row.count,
                row.errors
            );
        }
        out.push_str(&self.targets());
        if !self.notes.is_empty() {
            out.push_str("\nNotes:\n\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    fn targets(&self) -> String {
        let mut out = String::from(
            "\n### Targets\n\n| target | required | measured | met |\n| --- | --- | ---: | --- |\n",
        );
        for target in &self.targets {
            let (name, text, required) = (target.name, target.text, target.required);
            let measured = match (self.get(target.key), target.base) {
                (Some(row), None) => Some((row.rate, format!("{} {}", rate(row.rate), row.unit))),
                (Some(row), Some(base)) => self.get(base).filter(|b| b.rate > 0.0).map(|b| {
                    let r = row.rate / b.rate;
                    (r, format!("{r:.2}x"))
                }),
                (None, _) => None,
            };
            let (value, shown) = measured.unwrap_or((f64::NAN, "not measured".to_owned()));
            let met = if value.is_nan() {
                "n/a"
            } else if value >= required {
                "yes"
            } else {
                "**no**"
            };
            let _ = writeln!(out, "| {name} | {text} | {shown} | {met} |");
        }
        out
    }
}

/// A rate with thousands separators.
pub fn rate(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds as `µs` or `ms`.
pub fn micros(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transfer_sql::Limit;

    fn row(key: &str, rate: f64, compare: Compare) -> Row {
        Row {
            key: key.into(),
            what: key.into(),
            rate,
            unit: "ops/s",
            compare,
            latency: None,
            count: 1,
            errors: 0,
        }
    }

    #[test]
    fn rates_get_thousands_separators() {
        assert_eq!(rate(1_234_567.4), "1,234,567");
        assert_eq!(rate(999.0), "999");
        assert_eq!(micros(12_345), "12.3 ms");
    }

    #[test]
    fn targets_compare_with_the_ceilings() {
        let settings = Settings {
            limit: Limit {
                duration: Duration::from_secs(1),
                commands: None,
            },
            accounts: 10,
            batch: 512,
            events: 100,
            dir: None,
        };
        let header = vec![Report::settings_line(&settings)];
        let mut report = Report::new("SQLite", header, common_targets());
        report.add(row("a1", 1_000.0, Compare::Writes));
        report.add(row("a2", 10_000.0, Compare::Writes));
        report.add(row("b64", 6_000.0, Compare::Writes));
        report.add(row("c64", 2_000.0, Compare::Writes));
        report.add(row("e_raw", 4_000_000.0, Compare::Reads));
        report.add(row("e", 2_000_000.0, Compare::Reads));
        let md = report.markdown();
        assert!(md.starts_with("## SQLite\n\n- "), "{md}");
        assert!(md.contains("raw loops commit every 512 commands; replay log of 100 events"));
        assert!(
            md.contains("| b64 | b64 | 6,000 | ops/s | 6.00x | 0.60x |  |"),
            "{md}"
        );
        assert!(
            md.contains("| e | e | 2,000,000 | ops/s |  |  | 0.50x |"),
            "{md}"
        );
        assert!(md.contains("| library, 64 callers vs (a1) | >= 10x | 6.00x | **no** |"));
        assert!(md.contains("| library, 64 callers vs (a2) | >= 0.5x | 0.60x | yes |"));
        assert!(md.contains(
            "| HTTP, 64 connections vs library, 64 callers | >= 0.5x | 0.33x | **no** |"
        ));
        assert!(md.contains(
            "| replay through the library | > 1,000,000 events/s | 2,000,000 ops/s | yes |"
        ));
    }
}
