//! The soak: `--minutes` of mixed traffic over the real routes from many traders, reported
//! minute by minute (per route: answers, errors by status, p50, p99; the daemon's VmRSS, the
//! machine's load and the churned tables' live and dead rows), then a verdict: no errors, flat
//! memory, and every route's p99 in the last minute within 2× of the first.
//!
//! Traders: `--soak-users` seeded accounts shared out over `--concurrency` desks. A desk visits
//! its traders in turn; a visit creates a signal, lists the signals, claims it, runs a pre-trade
//! check, reads today's risk, the positions, the audit trail and the health; one visit in
//! `--trade-every` also opens a position from the claimed signal and closes it (once per
//! trader: the default risk profile's cooldown allows one trade per half hour). So every
//! trader's lists grow by one signal a visit — a few dozen rows by the end, not thousands — and
//! the tables churn as a desk's would. Before the first minute every trader made one request
//! (an empty claim, as after a login), so the first minute is measured warm, like the last.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::Url;
use serde::Serialize;

use crate::scenarios::{Ctx, Id, PRETRADE_BODY, PRETRADE_PATH, SIGNAL_BODY};
use crate::stats::{is_success, percentile};
use crate::wire::{Request, Wire};
use crate::Args;

/// Most minutes one soak runs: the minted tokens live 60 minutes, set-up included.
pub const MAX_MINUTES: u64 = 50;
/// The last minute's p99 may be at most this many times the first's.
pub const P99_GROWTH_LIMIT: f64 = 2.0;
/// The last minute's VmRSS may be at most this many times the first's ("flat").
pub const RSS_GROWTH_LIMIT: f64 = 1.10;

/// The routes a visit uses, in the order a report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    CreateSignal,
    ListSignals,
    Claim,
    Open,
    Close,
    ListPositions,
    RiskToday,
    Pretrade,
    AuditMe,
    Health,
}

impl Route {
    pub const ALL: [Route; 10] = [
        Route::CreateSignal,
        Route::ListSignals,
        Route::Claim,
        Route::Open,
        Route::Close,
        Route::ListPositions,
        Route::RiskToday,
        Route::Pretrade,
        Route::AuditMe,
        Route::Health,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Route::CreateSignal => "POST /signals",
            Route::ListSignals => "GET /signals",
            Route::Claim => "POST /signals/claim",
            Route::Open => "POST /positions/open_from_signal",
            Route::Close => "POST /positions/close",
            Route::ListPositions => "GET /positions",
            Route::RiskToday => "GET /positions/risk/today",
            Route::Pretrade => "POST /ops/execution/pretrade/binance/check",
            Route::AuditMe => "GET /ops/audit/me",
            Route::Health => "GET /healthz",
        }
    }

    fn index(self) -> usize {
        Route::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// One minute's answers of one route: every latency (µs) and the answers by status.
#[derive(Default, Clone)]
struct Bucket {
    samples: Vec<u32>,
    statuses: BTreeMap<String, u64>,
}

/// Every answer, filed under the minute it came back in.
struct Recorder {
    started: Instant,
    minutes: Mutex<Vec<[Bucket; 10]>>,
}

impl Recorder {
    fn new(minutes: usize) -> Recorder {
        Recorder {
            started: Instant::now(),
            minutes: Mutex::new(vec![Default::default(); minutes.max(1)]),
        }
    }

    fn record(&self, route: Route, latency: Duration, key: String) {
        let minute = (self.started.elapsed().as_secs() / 60) as usize;
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        // An answer that comes back after the last minute ended counts in the last minute.
        let last = minutes.len() - 1;
        let bucket = &mut minutes[minute.min(last)][route.index()];
        bucket.samples.push(crate::stats::micros(latency));
        *bucket.statuses.entry(key).or_default() += 1;
    }

    fn snapshot(&self, minute: usize) -> Vec<Bucket> {
        let minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        minutes.get(minute).map(|m| m.to_vec()).unwrap_or_default()
    }
}

/// One route in one minute.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteMinute {
    pub route: &'static str,
    pub count: u64,
    pub errors_by_status: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl RouteMinute {
    fn of(route: Route, bucket: &mut Bucket) -> RouteMinute {
        bucket.samples.sort_unstable();
        let ms = |p: f64| {
            percentile(&bucket.samples, p)
                .map(|us| f64::from(us) / 1000.0)
                .unwrap_or(0.0)
        };
        RouteMinute {
            route: route.label(),
            count: bucket.samples.len() as u64,
            errors_by_status: bucket
                .statuses
                .iter()
                .filter(|(k, _)| !is_success(k))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            p50_ms: ms(50.0),
            p99_ms: ms(99.0),
        }
    }

    pub fn errors(&self) -> u64 {
        self.errors_by_status.values().sum()
    }
}

/// Live and dead rows of one table, and how often autovacuum has run on it so far.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableRows {
    pub table: String,
    pub live: u64,
    pub dead: u64,
    pub autovacuums: u64,
}

/// One minute of the soak.
#[derive(Debug, Clone, Serialize)]
pub struct Minute {
    pub minute: usize,
    pub requests: u64,
    pub rps: f64,
    /// The daemon's VmRSS at the end of the minute, and the most it reached during it.
    pub rss_kb: Option<u64>,
    pub rss_max_kb: Option<u64>,
    /// The machine's 1-minute load average at the end of the minute.
    pub load1: Option<f64>,
    pub routes: Vec<RouteMinute>,
    pub tables: Vec<TableRows>,
}

impl Minute {
    pub fn errors(&self) -> u64 {
        self.routes.iter().map(RouteMinute::errors).sum()
    }
}

/// A route's p99 in the first and the last minute.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct P99Growth {
    pub route: &'static str,
    pub first_ms: f64,
    pub last_ms: f64,
    pub ratio: f64,
    pub held: bool,
}

/// Whether the soak held its target, and each part of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    pub errors: u64,
    pub rss_first_kb: Option<u64>,
    pub rss_last_kb: Option<u64>,
    pub rss_ratio: Option<f64>,
    pub p99: Vec<P99Growth>,
    pub held: bool,
}

/// The verdict over the minutes: no errors, the last minute's VmRSS within
/// [`RSS_GROWTH_LIMIT`] of the first's, every route's p99 within [`P99_GROWTH_LIMIT`].
pub fn verdict(minutes: &[Minute]) -> Verdict {
    let errors = minutes.iter().map(Minute::errors).sum();
    let (first, last) = (minutes.first(), minutes.last());
    let rss_first_kb = first.and_then(|m| m.rss_kb);
    let rss_last_kb = last.and_then(|m| m.rss_kb);
    let rss_ratio = match (rss_first_kb, rss_last_kb) {
        (Some(a), Some(b)) if a > 0 => Some(b as f64 / a as f64),
        _ => None,
    };
    let p99: Vec<P99Growth> = match (first, last) {
        (Some(first), Some(last)) if minutes.len() >= 2 => first
            .routes
            .iter()
            .zip(&last.routes)
            .map(|(a, b)| {
                let ratio = if a.p99_ms > 0.0 {
                    b.p99_ms / a.p99_ms
                } else {
                    f64::INFINITY
                };
                P99Growth {
                    route: a.route,
                    first_ms: a.p99_ms,
                    last_ms: b.p99_ms,
                    ratio,
                    held: a.count > 0 && b.count > 0 && ratio <= P99_GROWTH_LIMIT,
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let held = errors == 0
        && rss_ratio.is_some_and(|r| r <= RSS_GROWTH_LIMIT)
        && !p99.is_empty()
        && p99.iter().all(|g| g.held);
    Verdict {
        errors,
        rss_first_kb,
        rss_last_kb,
        rss_ratio,
        p99,
        held,
    }
}

/// Everything the soak measured.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub generated_at: String,
    pub base_url: String,
    pub command: String,
    pub users: u64,
    pub desks: usize,
    pub trade_every: u64,
    pub minutes_planned: u64,
    pub warm_up: String,
    pub rss_idle_kb: Option<u64>,
    pub minutes: Vec<Minute>,
    pub verdict: Verdict,
}

/// What every desk shares.
struct Floor {
    wire: Arc<Wire>,
    bearers: Arc<Vec<String>>,
    traded: Vec<AtomicBool>,
    visits: AtomicU64,
    trade_every: u64,
    deadline: Instant,
    recorder: Arc<Recorder>,
}

impl Floor {
    /// Sends one request of `route` on desk `slot`'s connection and records it; `None` once the
    /// soak is over (nothing sent).
    async fn send(&self, slot: usize, route: Route, request: Request) -> Option<(u16, Vec<u8>)> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let began = Instant::now();
        let answer = self.wire.send(slot, &request).await;
        let (key, out) = match answer {
            Ok(a) => (a.status.to_string(), Some((a.status, a.body))),
            Err(_) => ("transport".to_string(), Some((0, Vec::new()))),
        };
        self.recorder.record(route, began.elapsed(), key);
        out
    }

    /// One visit of trader `user` from desk `slot`; false once the soak is over.
    async fn visit(&self, slot: usize, user: usize) -> bool {
        let bearer = self.bearers[user].as_str();
        let get = |path: &str| self.wire.request("GET", path).bearer(bearer);
        let post = |path: &str| self.wire.request("POST", path).bearer(bearer);
        if self
            .send(slot, Route::CreateSignal, post("/signals").json(SIGNAL_BODY))
            .await
            .is_none()
            || self.send(slot, Route::ListSignals, get("/signals")).await.is_none()
        {
            return false;
        }
        let Some((status, body)) = self.send(slot, Route::Claim, post("/signals/claim?limit=1")).await else {
            return false;
        };
        let claimed = match status {
            200 => serde_json::from_slice::<Vec<Id>>(&body)
                .ok()
                .and_then(|v| v.into_iter().next()),
            _ => None,
        };
        for (route, request) in [
            (Route::Pretrade, post(PRETRADE_PATH).json(PRETRADE_BODY)),
            (Route::RiskToday, get("/positions/risk/today")),
            (Route::ListPositions, get("/positions")),
            (Route::AuditMe, get("/ops/audit/me?limit=50")),
            (Route::Health, self.wire.request("GET", "/healthz")),
        ] {
            if self.send(slot, route, request).await.is_none() {
                return false;
            }
        }
        let due = self
            .visits
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.trade_every.max(1));
        if let Some(signal) = claimed.filter(|_| due && !self.traded[user].swap(true, Ordering::Relaxed)) {
            return self.trade(slot, user, &signal.id).await;
        }
        true
    }

    /// Opens a position from the claimed signal, lists the positions, closes it at a profit.
    async fn trade(&self, slot: usize, user: usize, signal_id: &str) -> bool {
        let bearer = self.bearers[user].as_str();
        let open = format!("/positions/open_from_signal?signal_id={signal_id}&qty=0.01");
        let request = self.wire.request("POST", &open).bearer(bearer);
        let Some((status, body)) = self.send(slot, Route::Open, request).await else {
            return false;
        };
        let Some(position) = (status == 200)
            .then(|| serde_json::from_slice::<Id>(&body).ok())
            .flatten()
        else {
            return true;
        };
        let list = self.wire.request("GET", "/positions").bearer(bearer);
        if self.send(slot, Route::ListPositions, list).await.is_none() {
            return false;
        }
        let close = format!("/positions/close?position_id={}&exit_price=50500&fees=0.1", position.id);
        let request = self.wire.request("POST", &close).bearer(bearer);
        self.send(slot, Route::Close, request).await.is_some()
    }
}

/// Desk `slot` visits traders slot, slot + desks, slot + 2 × desks… in turn until the end.
async fn desk(floor: Arc<Floor>, slot: usize, desks: usize) {
    let users = floor.bearers.len();
    let mine: Vec<usize> = (slot..users).step_by(desks.max(1)).collect();
    if mine.is_empty() {
        return;
    }
    for user in mine.iter().cycle() {
        if !floor.visit(slot, *user).await {
            return;
        }
    }
}

/// The 1-minute load average from the text of /proc/loadavg.
pub fn parse_load1(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// The churned tables' rows from `psql -At` output (`table|live|dead|autovacuums` lines).
pub fn parse_table_rows(text: &str) -> Vec<TableRows> {
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split('|');
            Some(TableRows {
                table: cols.next()?.to_string(),
                live: cols.next()?.trim().parse().ok()?,
                dead: cols.next()?.trim().parse().ok()?,
                autovacuums: cols.next()?.trim().parse().ok()?,
            })
        })
        .collect()
}

const TABLE_ROWS_SQL: &str = "SELECT relname, n_live_tup, n_dead_tup, autovacuum_count FROM pg_stat_user_tables \
     WHERE relname IN ('signals', 'positions', 'audit_events', 'trading_state', 'risk_daily') ORDER BY relname";

/// The churned tables' rows, read with `psql` (nothing when it is missing or slow).
async fn table_rows(database_url: Option<&str>) -> Vec<TableRows> {
    let Some(url) = database_url else { return Vec::new() };
    let run = tokio::process::Command::new("psql")
        .args([url, "-qAt", "-c", TABLE_ROWS_SQL])
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(out)) if out.status.success() => parse_table_rows(&String::from_utf8_lossy(&out.stdout)),
        _ => Vec::new(),
    }
}

/// One line per route, then the minute's memory, load and tables (printed as each minute ends).
pub fn minute_lines(m: &Minute) -> String {
    let mut out = String::new();
    for r in &m.routes {
        let _ = writeln!(
            out,
            "minute {:>2}  {:<42} {:>7}  p50 {:>7.2} ms  p99 {:>8.2} ms  errors {}",
            m.minute,
            r.route,
            r.count,
            r.p50_ms,
            r.p99_ms,
            errors_text(&r.errors_by_status)
        );
    }
    let _ = writeln!(
        out,
        "minute {:>2}  {} requests ({:.0}/s), VmRSS {} (max {}), load {}, {}",
        m.minute,
        m.requests,
        m.rps,
        mib(m.rss_kb),
        mib(m.rss_max_kb),
        m.load1.map(|l| format!("{l:.2}")).unwrap_or_else(|| "?".into()),
        tables_text(&m.tables)
    );
    out
}

fn errors_text(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "0".into();
    }
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tables_text(tables: &[TableRows]) -> String {
    if tables.is_empty() {
        return "tables not read".into();
    }
    tables
        .iter()
        .map(|t| format!("{} {}/{} dead ({} autovacuums)", t.table, t.live, t.dead, t.autovacuums))
        .collect::<Vec<_>>()
        .join("; ")
}

fn mib(kb: Option<u64>) -> String {
    kb.map(|kb| format!("{:.1} MiB", kb as f64 / 1024.0))
        .unwrap_or_else(|| "?".into())
}

/// Runs the soak against the daemon at `base`.
pub async fn run(args: Args, base: Url, command: String) -> anyhow::Result<SoakReport> {
    if !(1..=MAX_MINUTES).contains(&args.minutes) {
        bail!("--minutes must be between 1 and {MAX_MINUTES}");
    }
    let users = args.soak_users.max(1);
    let desks = args.concurrency;
    let mut ctx = Ctx::new(args.clone(), base)?;
    let rss_idle_kb = ctx.rss();
    eprintln!("soak: seeding {users} traders…");
    ctx.seed_to(users).await?;
    let bearers = ctx.bearers(0..users);
    let wire = ctx.wire(desks)?;
    eprintln!("soak: one request from each trader (warm-up, not measured)…");
    let warm = ctx.one_post_each(&wire, &bearers, "/signals/claim?limit=1").await;
    let warmed = warm.statuses.get("200").copied().unwrap_or(0);
    if warmed != users {
        bail!(
            "warm-up: {warmed} of {users} traders answered 200 ({:?})",
            warm.statuses
        );
    }
    let warm_up = format!(
        "each of the {users} traders sent one empty claim first ({:.1} s, not measured)",
        warm.summary.elapsed_s
    );
    let minutes = args.minutes as usize;
    let recorder = Arc::new(Recorder::new(minutes));
    let floor = Arc::new(Floor {
        wire,
        bearers: bearers.clone(),
        traded: (0..users).map(|_| AtomicBool::new(false)).collect(),
        visits: AtomicU64::new(0),
        trade_every: args.trade_every,
        deadline: recorder.started + Duration::from_secs(60 * args.minutes),
        recorder: recorder.clone(),
    });
    eprintln!("soak: {minutes} minutes, {users} traders at {desks} desks…");
    let tasks: Vec<_> = (0..desks)
        .map(|slot| tokio::spawn(desk(floor.clone(), slot, desks)))
        .collect();
    let mut report_minutes = Vec::with_capacity(minutes);
    let mut rss_max: Option<u64> = None;
    for minute in 0..minutes {
        let end = recorder.started + Duration::from_secs(60 * (minute as u64 + 1));
        // Memory every second, to catch a peak between the minute marks.
        while Instant::now() < end {
            tokio::time::sleep((end - Instant::now()).min(Duration::from_secs(1))).await;
            rss_max = rss_max.max(ctx.rss());
        }
        let mut buckets = recorder.snapshot(minute);
        let routes: Vec<RouteMinute> = Route::ALL
            .iter()
            .zip(buckets.iter_mut())
            .map(|(route, bucket)| RouteMinute::of(*route, bucket))
            .collect();
        let requests = routes.iter().map(|r| r.count).sum();
        let m = Minute {
            minute: minute + 1,
            requests,
            rps: requests as f64 / 60.0,
            rss_kb: ctx.rss(),
            rss_max_kb: rss_max.take(),
            load1: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .as_deref()
                .and_then(parse_load1),
            routes,
            tables: table_rows(args.database_url.as_deref()).await,
        };
        eprint!("{}", minute_lines(&m));
        report_minutes.push(m);
    }
    for task in tasks {
        task.await.context("a desk failed")?;
    }
    // Answers that came back after the last minute's mark count in the last minute.
    if let Some(last) = report_minutes.last_mut() {
        let mut buckets = recorder.snapshot(minutes - 1);
        last.routes = Route::ALL
            .iter()
            .zip(buckets.iter_mut())
            .map(|(route, bucket)| RouteMinute::of(*route, bucket))
            .collect();
        last.requests = last.routes.iter().map(|r| r.count).sum();
        last.rps = last.requests as f64 / 60.0;
    }
    let verdict = verdict(&report_minutes);
    Ok(SoakReport {
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        base_url: ctx.base().to_string(),
        command,
        users,
        desks,
        trade_every: args.trade_every,
        minutes_planned: args.minutes,
        warm_up,
        rss_idle_kb,
        minutes: report_minutes,
        verdict,
    })
}

/// The report as markdown: the minutes, then every route minute by minute, then the verdict.
pub fn render_markdown(r: &SoakReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Soak, {}\n", r.generated_at);
    let _ = writeln!(
        out,
        "{} traders at {} desks, {} minutes; a trade (open + close) every {} visits, once per trader; {}. \
         Daemon VmRSS idle before the soak: {}.\n",
        r.users,
        r.desks,
        r.minutes_planned,
        r.trade_every,
        r.warm_up,
        mib(r.rss_idle_kb)
    );
    let _ = writeln!(out, "Command: `{}`\n", r.command);
    let _ = writeln!(out, "## Minute by minute\n");
    let _ = writeln!(
        out,
        "| minute | requests | req/s | errors | VmRSS (end · max) | load | signals live / dead (autovacuums) | positions live / dead (autovacuums) |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---|---:|---|---|");
    for m in &r.minutes {
        let table = |name: &str| {
            m.tables
                .iter()
                .find(|t| t.table == name)
                .map(|t| format!("{} / {} ({})", t.live, t.dead, t.autovacuums))
                .unwrap_or_else(|| "?".into())
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} · {} | {} | {} | {} |",
            m.minute,
            m.requests,
            m.rps,
            m.errors(),
            mib(m.rss_kb),
            mib(m.rss_max_kb),
            m.load1.map(|l| format!("{l:.2}")).unwrap_or_else(|| "?".into()),
            table("signals"),
            table("positions")
        );
    }
    let _ = writeln!(out, "\n## Every route, minute by minute (latency in ms)\n");
    let _ = writeln!(out, "| route | minute | answers | errors by status | p50 | p99 |");
    let _ = writeln!(out, "|---|---:|---:|---|---:|---:|");
    for (i, route) in Route::ALL.iter().enumerate() {
        for m in &r.minutes {
            if let Some(rm) = m.routes.get(i) {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {:.2} | {:.2} |",
                    route.label(),
                    m.minute,
                    rm.count,
                    errors_text(&rm.errors_by_status),
                    rm.p50_ms,
                    rm.p99_ms
                );
            }
        }
    }
    let v = &r.verdict;
    let _ = writeln!(
        out,
        "\n## Verdict: {}\n",
        if v.held { "target held" } else { "target NOT held" }
    );
    let _ = writeln!(out, "- errors: {} (target 0)", v.errors);
    let _ = writeln!(
        out,
        "- VmRSS: first minute {}, last minute {}, ratio {} (target ≤ {RSS_GROWTH_LIMIT:.2})",
        mib(v.rss_first_kb),
        mib(v.rss_last_kb),
        v.rss_ratio.map(|x| format!("{x:.3}")).unwrap_or_else(|| "?".into())
    );
    let _ = writeln!(
        out,
        "\n| route | p99 first minute | p99 last minute | last / first | ≤ {P99_GROWTH_LIMIT:.0}× |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for g in &v.p99 {
        let _ = writeln!(
            out,
            "| `{}` | {:.2} | {:.2} | {:.2} | {} |",
            g.route,
            g.first_ms,
            g.last_ms,
            g.ratio,
            if g.held { "yes" } else { "**no**" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(n: usize, rss: u64, p99: &[f64], errors: u64) -> Minute {
        Minute {
            minute: n,
            requests: 100,
            rps: 100.0 / 60.0,
            rss_kb: Some(rss),
            rss_max_kb: Some(rss),
            load1: Some(1.0),
            routes: p99
                .iter()
                .zip(Route::ALL)
                .enumerate()
                .map(|(i, (p, route))| RouteMinute {
                    route: route.label(),
                    count: 10,
                    errors_by_status: if errors > 0 && i == 0 {
                        BTreeMap::from([("503".to_string(), errors)])
                    } else {
                        BTreeMap::new()
                    },
                    p50_ms: p / 4.0,
                    p99_ms: *p,
                })
                .collect(),
            tables: Vec::new(),
        }
    }

    #[test]
    fn the_target_holds_only_with_no_errors_flat_memory_and_bounded_p99() {
        let steady = [minute(1, 100_000, &[10.0, 4.0], 0), minute(2, 105_000, &[19.0, 8.0], 0)];
        let v = verdict(&steady);
        assert!(v.held, "{v:?}");
        assert_eq!(v.rss_ratio, Some(1.05));
        assert_eq!(v.p99.len(), 2);
        assert!((v.p99[0].ratio - 1.9).abs() < 1e-9);

        let slower = [minute(1, 100_000, &[10.0, 4.0], 0), minute(2, 100_000, &[10.0, 8.1], 0)];
        let v = verdict(&slower);
        assert!(!v.held && v.p99[0].held && !v.p99[1].held);

        let growing = [minute(1, 100_000, &[10.0], 0), minute(2, 111_000, &[10.0], 0)];
        assert!(!verdict(&growing).held);

        let failing = [minute(1, 100_000, &[10.0], 0), minute(2, 100_000, &[10.0], 3)];
        let v = verdict(&failing);
        assert_eq!(v.errors, 3);
        assert!(!v.held);

        // One minute has nothing to compare with.
        assert!(!verdict(&[minute(1, 100_000, &[10.0], 0)]).held);
    }

    #[test]
    fn a_route_without_answers_in_a_minute_does_not_hold() {
        let mut last = minute(2, 100_000, &[10.0], 0);
        last.routes[0].count = 0;
        last.routes[0].p99_ms = 0.0;
        assert!(!verdict(&[minute(1, 100_000, &[10.0], 0), last]).held);
    }

    #[test]
    fn recorder_files_answers_by_minute_and_route() {
        let recorder = Recorder::new(2);
        recorder.record(Route::Claim, Duration::from_millis(3), "200".into());
        recorder.record(Route::Claim, Duration::from_millis(5), "503".into());
        recorder.record(Route::Health, Duration::from_millis(1), "200".into());
        let mut buckets = recorder.snapshot(0);
        let claim = RouteMinute::of(Route::Claim, &mut buckets[Route::Claim.index()]);
        assert_eq!(claim.count, 2);
        assert_eq!(claim.errors_by_status, BTreeMap::from([("503".to_string(), 1)]));
        assert_eq!((claim.p50_ms, claim.p99_ms), (3.0, 5.0));
        assert_eq!(
            RouteMinute::of(Route::Health, &mut buckets[Route::Health.index()]).count,
            1
        );
        assert!(recorder.snapshot(1).iter().all(|b| b.samples.is_empty()));
    }

    #[test]
    fn reads_load_and_table_rows() {
        assert_eq!(parse_load1("2.31 0.85 0.31 3/412 9999\n"), Some(2.31));
        assert_eq!(parse_load1(""), None);
        let rows = parse_table_rows("positions|10|2|0\nsignals|135000|145000|3\nbroken|x\n");
        assert_eq!(
            rows,
            vec![
                TableRows {
                    table: "positions".into(),
                    live: 10,
                    dead: 2,
                    autovacuums: 0
                },
                TableRows {
                    table: "signals".into(),
                    live: 135000,
                    dead: 145000,
                    autovacuums: 3
                },
            ]
        );
    }

    #[test]
    fn every_route_is_listed_once() {
        let labels: std::collections::BTreeSet<_> = Route::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), Route::ALL.len());
        assert!(Route::ALL.iter().enumerate().all(|(i, r)| r.index() == i));
    }

    #[test]
    fn markdown_names_the_verdict() {
        let minutes = vec![minute(1, 100_000, &[10.0], 0), minute(2, 100_000, &[30.0], 0)];
        let report = SoakReport {
            generated_at: "2026-12-04T14:00:00Z".into(),
            base_url: "http://127.0.0.1:1".into(),
            command: "loadgen --soak".into(),
            users: 8,
            desks: 2,
            trade_every: 10,
            minutes_planned: 2,
            warm_up: "none".into(),
            rss_idle_kb: Some(20_000),
            verdict: verdict(&minutes),
            minutes,
        };
        let md = render_markdown(&report);
        assert!(md.contains("## Verdict: target NOT held"), "{md}");
        assert!(
            md.contains("| `POST /signals` | 10.00 | 30.00 | 3.00 | **no** |"),
            "{md}"
        );
    }
}
