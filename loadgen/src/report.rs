//! The results: one record per scenario, written as JSON and as a markdown table.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::procfs::CpuPerOp;
use crate::stats::{is_success, Summary};

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Measured,
    /// The daemon answered 404 `Not Found` for the route: not on this build.
    RouteMissing,
    /// Set-up failed (the reason is in the notes).
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub description: String,
    pub outcome: Outcome,
    pub concurrency: usize,
    #[serde(flatten)]
    pub summary: Summary,
    /// Answers by status code (`"transport"` for connection errors and timeouts); a
    /// multi-step scenario keys a failure by the step too, e.g. `"409 open"`.
    pub statuses: BTreeMap<String, u64>,
    pub errors_by_status: BTreeMap<String, u64>,
    pub notes: Vec<String>,
    pub rss_kb_after: Option<u64>,
    /// CPU time per operation during the phase (the whole machine's, so a phase measured
    /// alongside another — the login storm — counts both).
    pub cpu_per_op: Option<CpuPerOp>,
}

impl ScenarioResult {
    pub fn new(name: impl Into<String>, description: impl Into<String>, concurrency: usize) -> Self {
        ScenarioResult {
            name: name.into(),
            description: description.into(),
            outcome: Outcome::Measured,
            concurrency,
            summary: Summary::default(),
            statuses: BTreeMap::new(),
            errors_by_status: BTreeMap::new(),
            notes: Vec::new(),
            rss_kb_after: None,
            cpu_per_op: None,
        }
    }

    /// Records the measured summary and answers; errors are every non-2xx key.
    pub fn measured(mut self, summary: Summary, statuses: BTreeMap<String, u64>) -> Self {
        self.errors_by_status = statuses
            .iter()
            .filter(|(k, _)| !is_success(k))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.summary = summary;
        self.statuses = statuses;
        self
    }

    pub fn missing(mut self, route: &str) -> Self {
        self.outcome = Outcome::RouteMissing;
        self.notes
            .push(format!("route missing on this build: {route} answered 404 Not Found"));
        self
    }

    pub fn failed(mut self, why: impl Into<String>) -> Self {
        self.outcome = Outcome::Failed;
        self.notes.push(why.into());
        self
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    pub daemon_pid: Option<u32>,
    pub idle_after_start_kb: Option<u64>,
    pub with_active_actors_kb: Option<u64>,
    pub active_actors_touched: Option<u64>,
    /// After `--actors-idle-wait` seconds without requests: (seconds, VmRSS).
    pub after_idle_wait_kb: Option<(u64, Option<u64>)>,
    pub end_of_run_kb: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub base_url: String,
    pub command: String,
    pub concurrency: usize,
    pub duration_s: f64,
    pub memory: Memory,
    pub scenarios: Vec<ScenarioResult>,
}

/// `"409: 3, 503: 1"`, or `"—"` when there were none.
pub fn errors_cell(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "—".to_string();
    }
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"310 · 540 · 120"` (daemon · everything else, PostgreSQL mostly · load generator), `"—"`
/// when /proc could not be read.
pub fn cpu_cell(cpu: Option<CpuPerOp>) -> String {
    let us = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "?".to_string());
    match cpu {
        Some(c) => format!("{} · {} · {}", us(c.daemon_us), us(c.other_us), us(c.loadgen_us)),
        None => "—".to_string(),
    }
}

fn rate(rps: f64) -> String {
    if rps >= 100.0 {
        format!("{rps:.0}")
    } else {
        format!("{rps:.1}")
    }
}

fn mib(kb: Option<u64>) -> String {
    kb.map(|kb| format!("{:.1} MiB", kb as f64 / 1024.0))
        .unwrap_or_else(|| "not measured".to_string())
}

/// The markdown page: a header, the scenario table, memory, then each scenario's notes.
pub fn render_markdown(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# crypto-saas load test\n");
    let _ = writeln!(
        md,
        "{} — `{}` — {} clients, {} s per scenario\n",
        report.generated_at, report.base_url, report.concurrency, report.duration_s
    );
    let _ = writeln!(md, "Command: `{}`\n", report.command);
    let _ = writeln!(
        md,
        "| scenario | requests | req/s | p50 ms | p99 ms | max ms | CPU µs/op: daemon · other · loadgen | errors by status |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---|");
    for s in &report.scenarios {
        match s.outcome {
            Outcome::Measured => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} |",
                    s.name,
                    s.summary.requests,
                    rate(s.summary.rps),
                    s.summary.p50_ms,
                    s.summary.p99_ms,
                    s.summary.max_ms,
                    cpu_cell(s.cpu_per_op),
                    errors_cell(&s.errors_by_status)
                );
            }
            Outcome::RouteMissing => {
                let _ = writeln!(md, "| {} | — | — | — | — | — | — | route missing (404) |", s.name);
            }
            Outcome::Failed => {
                let _ = writeln!(md, "| {} | — | — | — | — | — | — | set-up failed (see notes) |", s.name);
            }
        }
    }
    let m = &report.memory;
    let _ = writeln!(md, "\n## Daemon resident memory (VmRSS)\n");
    let _ = writeln!(md, "| when | VmRSS |\n|---|---:|");
    let _ = writeln!(md, "| idle after start | {} |", mib(m.idle_after_start_kb));
    let actors = m
        .active_actors_touched
        .map(|n| format!("with {n} user actors just touched"))
        .unwrap_or_else(|| "with many user actors just touched".to_string());
    let _ = writeln!(md, "| {actors} | {} |", mib(m.with_active_actors_kb));
    if let Some((seconds, kb)) = m.after_idle_wait_kb {
        let _ = writeln!(md, "| {seconds} s after the last of them | {} |", mib(kb));
    }
    let _ = writeln!(md, "| end of run | {} |", mib(m.end_of_run_kb));
    let noted: Vec<&ScenarioResult> = report.scenarios.iter().filter(|s| !s.notes.is_empty()).collect();
    if !noted.is_empty() {
        let _ = writeln!(md, "\n## Notes\n");
        for s in noted {
            let _ = writeln!(md, "- **{}** ({}): {}", s.name, s.description, s.notes.join("; "));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn report() -> Report {
        let summary = Summary {
            requests: 1200,
            elapsed_s: 2.0,
            rps: 600.0,
            p50_ms: 1.234,
            p99_ms: 9.876,
            max_ms: 20.5,
            mean_ms: 2.0,
        };
        let mut cycle = ScenarioResult::new("full_cycle", "create → claim → open → close", 32).measured(
            summary.clone(),
            statuses(&[("200", 1195), ("409 open", 4), ("transport", 1)]),
        );
        cycle.note("15000 fresh users");
        cycle.cpu_per_op = Some(CpuPerOp {
            machine_us: 970.0,
            daemon_us: Some(310.0),
            loadgen_us: Some(120.0),
            other_us: Some(540.0),
        });
        Report {
            generated_at: "2026-11-29T05:00:00Z".into(),
            base_url: "http://127.0.0.1:8000/".into(),
            command: "loadgen --duration 2".into(),
            concurrency: 32,
            duration_s: 2.0,
            memory: Memory {
                daemon_pid: Some(42),
                idle_after_start_kb: Some(10240),
                with_active_actors_kb: None,
                active_actors_touched: Some(10000),
                after_idle_wait_kb: Some((150, Some(26624))),
                end_of_run_kb: Some(20480),
            },
            scenarios: vec![
                ScenarioResult::new("health", "GET /healthz", 32).measured(summary, statuses(&[("200", 1200)])),
                cycle,
                ScenarioResult::new("login", "POST /auth/login", 32).missing("POST /auth/register"),
                ScenarioResult::new("dashboard_summary@10", "GET /ops/dashboard/summary", 32).failed("seeding failed"),
            ],
        }
    }

    #[test]
    fn errors_cell_lists_non_success_statuses() {
        assert_eq!(errors_cell(&BTreeMap::new()), "—");
        assert_eq!(errors_cell(&statuses(&[("409", 3), ("503", 1)])), "409: 3, 503: 1");
        let r = ScenarioResult::new("x", "y", 1)
            .measured(Summary::default(), statuses(&[("200", 5), ("201", 1), ("404", 2)]));
        assert_eq!(r.errors_by_status, statuses(&[("404", 2)]));
    }

    #[test]
    fn markdown_table_has_one_row_per_scenario() {
        let md = render_markdown(&report());
        assert!(md.contains(
            "| scenario | requests | req/s | p50 ms | p99 ms | max ms | CPU µs/op: daemon · other · loadgen | errors by status |"
        ));
        assert!(
            md.contains("| health | 1200 | 600 | 1.23 | 9.88 | 20.50 | — | — |"),
            "{md}"
        );
        assert!(md.contains(
            "| full_cycle | 1200 | 600 | 1.23 | 9.88 | 20.50 | 310 · 540 · 120 | 409 open: 4, transport: 1 |"
        ));
        assert!(md.contains("| login | — | — | — | — | — | — | route missing (404) |"));
        assert!(md.contains("| dashboard_summary@10 | — | — | — | — | — | — | set-up failed (see notes) |"));
        assert!(md.contains("| idle after start | 10.0 MiB |"));
        assert!(md.contains("| with 10000 user actors just touched | not measured |"));
        assert!(md.contains("| 150 s after the last of them | 26.0 MiB |"));
        assert!(md.contains("| end of run | 20.0 MiB |"));
        assert!(md.contains("- **full_cycle** (create → claim → open → close): 15000 fresh users"));
        assert!(md.contains("route missing on this build: POST /auth/register answered 404 Not Found"));
    }

    #[test]
    fn json_has_the_summary_fields_at_the_top_level() {
        let json = serde_json::to_value(report()).unwrap();
        let health = &json["scenarios"][0];
        assert_eq!(health["name"], "health");
        assert_eq!(health["outcome"], "measured");
        assert_eq!(health["requests"], 1200);
        assert_eq!(health["statuses"]["200"], 1200);
        assert_eq!(json["scenarios"][2]["outcome"], "route_missing");
        assert_eq!(json["memory"]["idle_after_start_kb"], 10240);
        assert!(rate(12.34) == "12.3" && rate(1234.4) == "1234");
    }
}
