//! The scenarios, in the order they run (the dashboard first, while the user count is still
//! controlled), and the set-up each needs: users seeded through the daemon's CLI, signals
//! created through the API, tokens minted locally.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use reqwest::{Client, Url};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::engine::{self, is_route_missing, Measured, Op};
use crate::procfs::{self, CpuPerOp, CpuSample};
use crate::report::{Memory, Report, ScenarioResult};
use crate::token::Minter;
use crate::wire::{Request, Wire};
use crate::Args;

/// The scenarios `--scenarios all` runs, in this order.
pub const ALL: &[&str] = &[
    "health",
    "dashboard",
    "actors",
    "create_signal",
    "claim",
    "full_cycle",
    "full_cycle_active",
    "pretrade",
    "login",
    "mixed",
    "login_storm",
];

/// `all`, or a comma list of scenario names (kept in the canonical order).
pub fn parse_list(raw: &str) -> Result<Vec<&'static str>, String> {
    let wanted: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err("--scenarios is empty".into());
    }
    if wanted.iter().any(|w| w == "all") {
        return Ok(ALL.to_vec());
    }
    if let Some(bad) = wanted.iter().find(|w| !ALL.contains(&w.as_str())) {
        return Err(format!("unknown scenario {bad:?}; known: all, {}", ALL.join(", ")));
    }
    Ok(ALL.iter().copied().filter(|s| wanted.iter().any(|w| w == s)).collect())
}

/// The dashboard's user counts, ascending.
pub fn parse_levels(raw: &str) -> Result<Vec<u64>, String> {
    let mut levels = raw
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .replace('_', "")
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| format!("--dashboard-users: {s:?} is not a count between 1 and 1000000"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    levels.sort_unstable();
    levels.dedup();
    Ok(levels)
}

/// The operation of the mixed profile for sequence number `seq`: out of every 20 requests,
/// 10 create a signal, 4 claim, 3 run a pre-trade check, 2 read today's risk, 1 lists positions.
pub fn mixed_op(seq: u64) -> MixedOp {
    match seq % 20 {
        0..=9 => MixedOp::CreateSignal,
        10..=13 => MixedOp::Claim,
        14..=16 => MixedOp::Pretrade,
        17..=18 => MixedOp::RiskToday,
        _ => MixedOp::ListPositions,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixedOp {
    CreateSignal,
    Claim,
    Pretrade,
    RiskToday,
    ListPositions,
}

pub(crate) const SIGNAL_BODY: &str = r#"{"symbol":"BTCUSDT","module":"loadgen","base_risk_percent":0.5,"entry_price":50000,"stop_loss":49000,"take_profit":52000}"#;
pub(crate) const PRETRADE_BODY: &str = r#"{"symbol":"BTCUSDT","side":"BUY","qty":0.01}"#;
pub(crate) const PRETRADE_PATH: &str = "/ops/execution/pretrade/binance/check";
const DASHBOARD_PATH: &str = "/ops/dashboard/summary";
const CLAIM_PATH: &str = "/signals/claim?limit=10";

/// Everything the scenarios (and the soak) share.
pub(crate) struct Ctx {
    pub(crate) args: Args,
    base_url: Url,
    client: Client,
    minter: Minter,
    run_id: String,
    password: String,
    seeded: u64,
    admin: Option<String>,
    pub(crate) pid: Option<u32>,
}

impl Ctx {
    /// The shared state of a run against the daemon at `base`: the HTTP client, the token
    /// minter, a fresh run id for the emails, and the daemon's process (for its memory).
    pub(crate) fn new(args: Args, base: Url) -> anyhow::Result<Ctx> {
        let clients = args.concurrency + args.storm_clients + 8;
        let client = Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(clients)
            // Below the server's keep-alive (5 s), so an idle pooled connection is never reused
            // just as the server closes it (which would count as a transport error).
            .pool_idle_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
            .build()?;
        let pid = args
            .daemon_pid
            .or_else(|| base.port_or_known_default().and_then(procfs::find_listener));
        // Fresh emails each run (seconds and process id), so reruns on one database never collide.
        let run_id = format!("{:x}{:x}", chrono::Utc::now().timestamp(), std::process::id() & 0xfff);
        Ok(Ctx {
            minter: Minter::new(&args.secret_key),
            base_url: base,
            client,
            run_id,
            password: random_hex(12),
            seeded: 0,
            admin: None,
            pid,
            args,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }

    /// The daemon's address without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.base_url.as_str().trim_end_matches('/')
    }

    /// Fresh connections for a measured phase of `clients` clients.
    pub(crate) fn wire(&self, clients: usize) -> anyhow::Result<Arc<Wire>> {
        Ok(Arc::new(Wire::new(&self.base_url, clients)?))
    }

    fn email(&self, n: u64) -> String {
        format!("load.{}.u{n}@load.test", self.run_id)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.args.duration)
    }

    fn setup_timeout(&self) -> Duration {
        Duration::from_secs(self.args.setup_timeout)
    }

    /// One `POST path` from each user of `tokens`, as set-up (bounded by `--setup-timeout`, not
    /// `--duration`): each user's identity gets cached and their actor started.
    pub(crate) async fn one_post_each(&self, wire: &Arc<Wire>, tokens: &[String], path: &str) -> Measured {
        let requests = tokens.iter().map(|b| wire.request("POST", path).bearer(b)).collect();
        let op = round_robin(wire.clone(), requests);
        self.measure_bounded(self.args.concurrency, self.setup_timeout(), tokens.len() as u64, op)
            .await
    }

    pub(crate) fn rss(&self) -> Option<u64> {
        self.pid.and_then(procfs::rss_kb)
    }

    fn daemon_bin(&self) -> PathBuf {
        if let Some(bin) = &self.args.daemon_bin {
            return bin.clone();
        }
        ["target/release/crypto-saas", "target/debug/crypto-saas"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("crypto-saas"))
    }

    /// Runs the daemon's CLI with the password on standard input.
    async fn cli(&self, cli_args: &[String]) -> anyhow::Result<String> {
        let db = self
            .args
            .database_url
            .as_deref()
            .context("--database-url (or DATABASE_URL) is needed to create users with the CLI")?;
        let bin = self.daemon_bin();
        let mut child = tokio::process::Command::new(&bin)
            .args(cli_args)
            .env("DATABASE_URL", db)
            .env("LOG_LEVEL", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {}", bin.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(format!("{}\n", self.password).as_bytes()).await?;
        }
        let out = tokio::time::timeout(self.setup_timeout(), child.wait_with_output())
            .await
            .map_err(|_| anyhow!("{} {} timed out", bin.display(), cli_args.join(" ")))??;
        if !out.status.success() {
            bail!(
                "{} {} failed: {}",
                bin.display(),
                cli_args.first().map(String::as_str).unwrap_or(""),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Makes sure users u0..u{n-1} exist.
    pub(crate) async fn seed_to(&mut self, n: u64) -> anyhow::Result<()> {
        if n <= self.seeded {
            return Ok(());
        }
        let args: Vec<String> = [
            "loadtest",
            "seed-users",
            "--prefix",
            &format!("load.{}.u", self.run_id),
            "--domain",
            "load.test",
            "--start",
            &self.seeded.to_string(),
            "--count",
            &(n - self.seeded).to_string(),
            "--password-stdin",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.cli(&args).await?;
        self.seeded = n;
        Ok(())
    }

    /// `count` users never used before.
    async fn fresh(&mut self, count: u64) -> anyhow::Result<std::ops::Range<u64>> {
        let start = self.seeded;
        self.seed_to(start + count).await?;
        Ok(start..start + count)
    }

    /// The bearer headers of users `range`.
    pub(crate) fn bearers(&self, range: std::ops::Range<u64>) -> Arc<Vec<String>> {
        Arc::new(range.map(|n| self.minter.bearer(&self.email(n), "trader")).collect())
    }

    async fn admin(&mut self) -> anyhow::Result<String> {
        if let Some(token) = &self.admin {
            return Ok(token.clone());
        }
        let email = format!("load.{}.admin@load.test", self.run_id);
        let args: Vec<String> = ["admin", "create", "--email", &email, "--password-stdin"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        self.cli(&args).await?;
        let token = self.minter.bearer(&email, "admin");
        self.admin = Some(token.clone());
        Ok(token)
    }

    /// One request first: `Some(route)` when the daemon has no such route.
    async fn probe(&self, req: reqwest::RequestBuilder, route: &str) -> anyhow::Result<(u16, Option<Value>)> {
        let (status, body) = engine::json(req).await.map_err(|e| anyhow!("probing {route}: {e}"))?;
        if is_route_missing(status, body.as_ref()) {
            return Err(RouteMissing(route.to_string()).into());
        }
        Ok((status, body))
    }

    /// Measures `op` for the configured time and clients, and the CPU time spent meanwhile.
    async fn measure(&self, clients: usize, op: Op) -> Measured {
        self.measure_bounded(clients, self.duration(), self.args.max_requests, op)
            .await
    }

    /// As `measure`, with its own time and operation bounds.
    async fn measure_bounded(&self, clients: usize, duration: Duration, max_ops: u64, op: Op) -> Measured {
        let before = CpuSample::now(self.pid);
        let mut measured = engine::run(clients, duration, max_ops, op).await;
        measured.cpu_per_op = CpuPerOp::between(before, CpuSample::now(self.pid), measured.summary.requests);
        measured
    }

    fn finish(&self, result: ScenarioResult, measured: Measured) -> ScenarioResult {
        let mut result = result.measured(measured.summary, measured.statuses);
        result.cpu_per_op = measured.cpu_per_op;
        result.rss_kb_after = self.rss();
        result
    }
}

#[derive(Debug)]
struct RouteMissing(String);

impl std::fmt::Display for RouteMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "route missing: {}", self.0)
    }
}

impl std::error::Error for RouteMissing {}

/// Turns a scenario's set-up error into its result: a missing route, or a failure.
fn settle(result: ScenarioResult, outcome: anyhow::Result<ScenarioResult>) -> ScenarioResult {
    match outcome {
        Ok(r) => r,
        Err(e) => match e.downcast_ref::<RouteMissing>() {
            Some(RouteMissing(route)) => result.missing(route),
            None => result.failed(format!("{e:#}")),
        },
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    let nanos = chrono::Utc::now().timestamp_subsec_nanos();
    buf.iter()
        .enumerate()
        .map(|(i, b)| format!("{:02x}", b ^ (nanos >> ((i % 4) * 8)) as u8))
        .collect()
}

pub async fn run_all(
    args: Args,
    base: Url,
    chosen: Vec<&'static str>,
    levels: Vec<u64>,
    command: String,
) -> anyhow::Result<Report> {
    let mut ctx = Ctx::new(args.clone(), base)?;
    let mut memory = Memory {
        daemon_pid: ctx.pid,
        idle_after_start_kb: ctx.rss(),
        ..Memory::default()
    };
    let mut results = Vec::new();
    let (n, d) = (args.concurrency, args.duration);
    for name in chosen {
        eprintln!("loadgen: {name}…");
        match name {
            "health" => {
                let r = ScenarioResult::new("health", "GET /healthz", n);
                let out = health(&ctx, r.clone()).await;
                results.push(settle(r, out));
            }
            "dashboard" => results.extend(dashboard(&mut ctx, &levels).await),
            "actors" => {
                let r = ScenarioResult::new(
                    format!("wake_{}_actors", args.actor_users),
                    "POST /signals/claim?limit=1 once for each of N users, then VmRSS",
                    n,
                );
                let out = actors(&mut ctx, r.clone(), &mut memory).await;
                results.push(settle(r, out));
            }
            "create_signal" => {
                let r = ScenarioResult::new("create_signal", "POST /signals", n);
                let out = create_signal(&mut ctx, r.clone()).await;
                results.push(settle(r, out));
            }
            "claim" => {
                let r = ScenarioResult::new("claim", "POST /signals/claim?limit=10 on pre-created signals", n);
                let out = claim(&mut ctx, r.clone()).await;
                results.push(settle(r, out));
            }
            "full_cycle" => {
                let r = ScenarioResult::new(
                    "full_cycle",
                    "create → claim → open → close, one fresh user per cycle, its first request (rates are cycles/s)",
                    n,
                );
                let out = full_cycle(&mut ctx, r.clone(), Users::Cold).await;
                results.push(settle(r, out));
            }
            "full_cycle_active" => {
                let r = ScenarioResult::new(
                    "full_cycle_active",
                    "as full_cycle, each user having made one request first (as after a login)",
                    n,
                );
                let out = full_cycle(&mut ctx, r.clone(), Users::Active).await;
                results.push(settle(r, out));
            }
            "pretrade" => {
                let r = ScenarioResult::new("pretrade", "POST /ops/execution/pretrade/binance/check", n);
                let out = pretrade(&mut ctx, r.clone()).await;
                results.push(settle(r, out));
            }
            "login" => {
                let r = ScenarioResult::new("login", "POST /auth/login (argon2), users registered via the API", n);
                let out = login(&mut ctx, r.clone()).await;
                results.push(settle(r, out));
            }
            "mixed" => {
                let r = ScenarioResult::new(
                    "mixed",
                    "50% create signal, 20% claim, 15% pre-trade, 10% risk/today, 5% list positions",
                    n,
                );
                let out = mixed(&mut ctx, r.clone()).await;
                results.push(settle(r, out));
            }
            "login_storm" => results.extend(login_storm(&mut ctx).await),
            _ => {}
        }
    }
    memory.end_of_run_kb = ctx.rss();
    Ok(Report {
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        base_url: ctx.base().to_string(),
        command,
        concurrency: n,
        duration_s: d,
        memory,
        scenarios: results,
    })
}

fn boxed<F>(f: F) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>
where
    F: std::future::Future<Output = String> + Send + 'static,
{
    Box::pin(f)
}

async fn health(ctx: &Ctx, r: ScenarioResult) -> anyhow::Result<ScenarioResult> {
    ctx.probe(ctx.client.get(ctx.url("/healthz")), "GET /healthz").await?;
    let wire = ctx.wire(ctx.args.concurrency)?;
    let op = round_robin(wire.clone(), vec![wire.request("GET", "/healthz")]);
    Ok(ctx.finish(r, ctx.measure(ctx.args.concurrency, op).await))
}

/// An operation that sends `requests[seq % len]`, each on its client's connection.
fn round_robin(wire: Arc<Wire>, requests: Vec<Request>) -> Op {
    let requests = Arc::new(requests);
    Arc::new(move |slot, seq| {
        let (wire, requests) = (wire.clone(), requests.clone());
        boxed(async move {
            let request = &requests[(seq % requests.len() as u64) as usize];
            engine::outcome(&wire, slot, request).await
        })
    })
}

/// A POST /signals request for the user with `bearer` (reqwest, for probes).
fn create_request(client: &Client, url: &str, bearer: &str) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("authorization", bearer)
        .header("content-type", "application/json")
        .body(SIGNAL_BODY)
}

/// The lean client's POST /signals for the user with `bearer`.
fn signal_request(wire: &Wire, bearer: &str) -> Request {
    wire.request("POST", "/signals").bearer(bearer).json(SIGNAL_BODY)
}

/// `signal_request` for each bearer.
fn create_requests(wire: &Wire, bearers: &[String]) -> Vec<Request> {
    bearers.iter().map(|b| signal_request(wire, b)).collect()
}

fn pool_size(ctx: &Ctx) -> u64 {
    ctx.args.pool_users.max(1)
}

async fn create_signal(ctx: &mut Ctx, mut r: ScenarioResult) -> anyhow::Result<ScenarioResult> {
    let pool = pool_size(ctx);
    ctx.seed_to(pool).await?;
    let tokens = ctx.bearers(0..pool);
    let (client, url) = (ctx.client.clone(), ctx.url("/signals"));
    ctx.probe(create_request(&client, &url, &tokens[0]), "POST /signals")
        .await?;
    let wire = ctx.wire(ctx.args.concurrency)?;
    let op = round_robin(wire.clone(), create_requests(&wire, &tokens));
    r.note(format!("spread over {pool} users"));
    Ok(ctx.finish(r, ctx.measure(ctx.args.concurrency, op).await))
}

/// How many fresh users a rate × duration plan needs, within the request budget.
pub fn planned(rate: f64, duration_s: f64, max_requests: u64) -> u64 {
    ((rate * duration_s).ceil().max(1.0) as u64).min(max_requests.max(1))
}

async fn claim(ctx: &mut Ctx, mut r: ScenarioResult) -> anyhow::Result<ScenarioResult> {
    let count = planned(ctx.args.claim_rate, ctx.args.duration, ctx.args.max_requests);
    let users = ctx.fresh(count).await?;
    let tokens = ctx.bearers(users);
    ctx.probe(
        ctx.client.post(ctx.url(CLAIM_PATH)).header("authorization", &tokens[0]),
        "POST /signals/claim",
    )
    .await?;
    // Pre-create one signal per user through the API (not measured).
    let wire = ctx.wire(ctx.args.concurrency)?;
    let prefill = round_robin(wire.clone(), create_requests(&wire, &tokens));
    let pre = engine::run(ctx.args.concurrency, ctx.setup_timeout(), count, prefill).await;
    let created = pre.statuses.get("200").copied().unwrap_or(0);
    r.note(format!(
        "pre-created {created} of {count} signals (one per fresh user) through POST /signals in {:.1} s",
        pre.summary.elapsed_s
    ));
    let with_data = Arc::new(AtomicU64::new(0));
    let seen = with_data.clone();
    let claims: Arc<Vec<Request>> = Arc::new(
        tokens
            .iter()
            .map(|b| wire.request("POST", CLAIM_PATH).bearer(b))
            .collect(),
    );
    let op: Op = Arc::new(move |slot, seq| {
        let (wire, claims, seen) = (wire.clone(), claims.clone(), seen.clone());
        boxed(async move {
            match wire.send(slot, &claims[(seq % count) as usize]).await {
                Ok(answer) => {
                    if answer.body.len() > 2 && answer.body.starts_with(b"[") {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                    answer.status.to_string()
                }
                Err(_) => "transport".to_string(),
            }
        })
    });
    // At most one claim per pre-created signal: a claim that finds nothing left is cheaper than
    // one that takes a signal, and would flatter the rate.
    let measured = ctx
        .measure_bounded(ctx.args.concurrency, ctx.duration(), count, op)
        .await;
    r.note(format!(
        "{} of {} claims returned signals",
        with_data.load(Ordering::Relaxed),
        measured.summary.requests
    ));
    if measured.summary.requests >= count {
        r.note("ran out of pre-created signals before the time was up: raise --claim-rate");
    }
    Ok(ctx.finish(r, measured))
}

/// The `id` of a created signal or opened position (other fields are skipped unread), kept as
/// the text to send back: a UUID string, or a number from builds that used integer ids.
#[derive(serde::Deserialize)]
pub(crate) struct Id {
    #[serde(deserialize_with = "id_text")]
    pub(crate) id: String,
}

fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match <Value as serde::Deserialize>::deserialize(d)? {
        Value::String(text) => Ok(text),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "an id is a string or a number, not {other}"
        ))),
    }
}

/// One create → claim → open → close cycle on client `slot`'s connection; `"200"` or the
/// failing status and step.
async fn cycle(wire: &Wire, slot: usize, bearer: &str) -> String {
    let fail = |step: &str, e: Result<u16, String>| match e {
        Ok(status) => format!("{status} {step}"),
        Err(t) => format!("{t} {step}"),
    };
    let send = |request: Request| async move {
        let answer = wire.send(slot, &request).await.map_err(|_| "transport".to_string())?;
        Ok::<_, String>((answer.status, answer.body))
    };
    let created = send(signal_request(wire, bearer)).await;
    let signal_id = match created {
        Ok((200, body)) => match serde_json::from_slice::<Id>(&body) {
            Ok(signal) => signal.id,
            Err(_) => return "bad-body create".into(),
        },
        Ok((s, _)) => return fail("create", Ok(s)),
        Err(e) => return fail("create", Err(e)),
    };
    match send(wire.request("POST", CLAIM_PATH).bearer(bearer)).await {
        Ok((200, body)) => match serde_json::from_slice::<Vec<Id>>(&body) {
            Ok(claimed) if claimed.iter().any(|s| s.id == signal_id) => {}
            _ => return "not-claimed claim".into(),
        },
        Ok((s, _)) => return fail("claim", Ok(s)),
        Err(e) => return fail("claim", Err(e)),
    }
    let open = format!("/positions/open_from_signal?signal_id={signal_id}&qty=0.01");
    let position_id = match send(wire.request("POST", &open).bearer(bearer)).await {
        Ok((200, body)) => match serde_json::from_slice::<Id>(&body) {
            Ok(position) => position.id,
            Err(_) => return "bad-body open".into(),
        },
        Ok((s, _)) => return fail("open", Ok(s)),
        Err(e) => return fail("open", Err(e)),
    };
    let close = format!("/positions/close?position_id={position_id}&exit_price=50500&fees=0.1");
    match send(wire.request("POST", &close).bearer(bearer)).await {
        Ok((200, _)) => "200".into(),
        Ok((s, _)) => fail("close", Ok(s)),
        Err(e) => fail("close", Err(e)),
    }
}

/// Whether a full cycle's users come to it cold or already active.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Users {
    /// The cycle is each user's first request: the daemon reads the identity and starts the
    /// user's actor (it reads the user's state) inside the measured phase.
    Cold,
    /// Each user made one request (an empty claim) before the measured phase, as a trader who
    /// logged in has (login caches the identity and wakes the actor); only the cycle is measured.
    Active,
}

async fn full_cycle(ctx: &mut Ctx, mut r: ScenarioResult, users_are: Users) -> anyhow::Result<ScenarioResult> {
    let count = planned(ctx.args.cycle_rate, ctx.args.duration, ctx.args.max_requests);
    let users = ctx.fresh(count).await?;
    let tokens = ctx.bearers(users);
    let client = &ctx.client;
    for (path, route) in [
        (
            "/positions/open_from_signal?signal_id=00000000-0000-0000-0000-000000000000&qty=1",
            "POST /positions/open_from_signal",
        ),
        (
            "/positions/close?position_id=00000000-0000-0000-0000-000000000000&exit_price=1",
            "POST /positions/close",
        ),
    ] {
        // A contract 404 (`Signal not found`) proves the route; the generic one means missing.
        ctx.probe(client.post(ctx.url(path)).header("authorization", &tokens[0]), route)
            .await?;
    }
    let wire = ctx.wire(ctx.args.concurrency)?;
    if users_are == Users::Active {
        let warm = ctx.one_post_each(&wire, &tokens, CLAIM_PATH).await;
        let answered = warm.statuses.get("200").copied().unwrap_or(0);
        r.note(format!(
            "{answered} of {count} users made one request (an empty claim) before the measured phase, in {:.1} s",
            warm.summary.elapsed_s
        ));
    }
    let op: Op = Arc::new(move |slot, seq| {
        let (wire, tokens) = (wire.clone(), tokens.clone());
        boxed(async move { cycle(&wire, slot, &tokens[seq as usize]).await })
    });
    let measured = ctx
        .measure_bounded(ctx.args.concurrency, ctx.duration(), count, op)
        .await;
    r.note(format!(
        "{count} fresh users seeded (cycle rate {} × {} s); each cycle is 4 requests, its latency the sum",
        ctx.args.cycle_rate, ctx.args.duration
    ));
    if measured.summary.requests >= count {
        r.note("ran out of fresh users before the time was up: raise --cycle-rate");
    }
    Ok(ctx.finish(r, measured))
}

fn pretrade_request(wire: &Wire, bearer: &str) -> Request {
    wire.request("POST", PRETRADE_PATH).bearer(bearer).json(PRETRADE_BODY)
}

async fn pretrade(ctx: &mut Ctx, mut r: ScenarioResult) -> anyhow::Result<ScenarioResult> {
    let pool = pool_size(ctx);
    ctx.seed_to(pool).await?;
    let tokens = ctx.bearers(0..pool);
    let probe = ctx
        .client
        .post(ctx.url(PRETRADE_PATH))
        .header("authorization", &tokens[0])
        .header("content-type", "application/json")
        .body(PRETRADE_BODY);
    ctx.probe(probe, &format!("POST {PRETRADE_PATH}")).await?;
    let wire = ctx.wire(ctx.args.concurrency)?;
    let requests = tokens.iter().map(|b| pretrade_request(&wire, b)).collect();
    let op = round_robin(wire, requests);
    r.note(format!("spread over {pool} users, body {PRETRADE_BODY}"));
    Ok(ctx.finish(r, ctx.measure(ctx.args.concurrency, op).await))
}

/// The dashboard at each user count: seeds up to the count (reading the count from the
/// summary itself), then measures one client alone and N clients together.
async fn dashboard(ctx: &mut Ctx, levels: &[u64]) -> Vec<ScenarioResult> {
    let n = ctx.args.concurrency;
    let mut results = Vec::new();
    for &level in levels {
        let single = ScenarioResult::new(
            format!("dashboard_summary@{level} (1 client)"),
            format!("GET {DASHBOARD_PATH} as an admin with {level} users"),
            1,
        );
        let many = ScenarioResult::new(
            format!("dashboard_summary@{level}"),
            format!("GET {DASHBOARD_PATH} as an admin with {level} users"),
            n,
        );
        match dashboard_level(ctx, level, single.clone(), many.clone()).await {
            Ok(pair) => results.extend(pair),
            Err(e) => {
                let missing = e.downcast_ref::<RouteMissing>().is_some();
                let why = format!("{e:#}");
                let route = format!("GET {DASHBOARD_PATH}");
                let mark = |r: ScenarioResult| {
                    if missing {
                        r.missing(&route)
                    } else {
                        r.failed(why.clone())
                    }
                };
                results.push(mark(single));
                results.push(mark(many));
                if missing {
                    // The route is absent: the other levels would say the same.
                    for &rest in levels.iter().filter(|&&l| l > level) {
                        let what = format!("GET {DASHBOARD_PATH} as an admin with {rest} users");
                        results.push(mark(ScenarioResult::new(
                            format!("dashboard_summary@{rest} (1 client)"),
                            what.clone(),
                            1,
                        )));
                        results.push(mark(ScenarioResult::new(format!("dashboard_summary@{rest}"), what, n)));
                    }
                    break;
                }
            }
        }
    }
    results
}

/// `security.total_users` of a summary.
fn total_users(body: Option<&Value>) -> Option<u64> {
    body?.get("security")?.get("total_users")?.as_u64()
}

async fn dashboard_level(
    ctx: &mut Ctx,
    level: u64,
    mut single: ScenarioResult,
    mut many: ScenarioResult,
) -> anyhow::Result<Vec<ScenarioResult>> {
    let admin = ctx.admin().await?;
    let url = ctx.url(DASHBOARD_PATH);
    let route = format!("GET {DASHBOARD_PATH}");
    let (status, body) = ctx
        .probe(ctx.client.get(&url).header("authorization", &admin), &route)
        .await?;
    if status != 200 {
        bail!(
            "{route} answered {status} to the admin: {}",
            body.unwrap_or(Value::Null)
        );
    }
    let mut total = total_users(body.as_ref()).context("the summary has no security.total_users")?;
    if total < level {
        let add = level - total;
        ctx.seed_to(ctx.seeded + add).await?;
        let (_, body) = ctx
            .probe(ctx.client.get(&url).header("authorization", &admin), &route)
            .await?;
        total = total_users(body.as_ref()).unwrap_or(total + add);
    }
    let note = format!("the summary counted {total} users (security.total_users, real_only=true)");
    single.note(note.clone());
    many.note(note);
    let wire = ctx.wire(ctx.args.concurrency)?;
    let op = round_robin(wire.clone(), vec![wire.request("GET", DASHBOARD_PATH).bearer(&admin)]);
    let alone = ctx.measure(1, op.clone()).await;
    let together = ctx.measure(ctx.args.concurrency, op).await;
    Ok(vec![ctx.finish(single, alone), ctx.finish(many, together)])
}

/// Wakes one actor per user (a claim is a message to the user's actor), then reads VmRSS.
async fn actors(ctx: &mut Ctx, mut r: ScenarioResult, memory: &mut Memory) -> anyhow::Result<ScenarioResult> {
    let count = ctx.args.actor_users.max(1);
    ctx.seed_to(count).await?;
    let tokens = ctx.bearers(0..count);
    let path = "/signals/claim?limit=1";
    ctx.probe(
        ctx.client.post(ctx.url(path)).header("authorization", &tokens[0]),
        "POST /signals/claim",
    )
    .await?;
    let wire = ctx.wire(ctx.args.concurrency)?;
    let measured = ctx.one_post_each(&wire, &tokens, path).await;
    memory.active_actors_touched = Some(measured.summary.requests);
    memory.with_active_actors_kb = ctx.rss();
    if ctx.args.actors_idle_wait > 0 {
        tokio::time::sleep(Duration::from_secs(ctx.args.actors_idle_wait)).await;
        memory.after_idle_wait_kb = Some((ctx.args.actors_idle_wait, ctx.rss()));
    }
    r.note(format!(
        "each of {count} users sent one claim, so each has a live actor (set-up bound {} s, not --duration)",
        ctx.args.setup_timeout
    ));
    Ok(ctx.finish(r, measured))
}

/// Registers the login users through the API; their emails.
async fn login_users(ctx: &mut Ctx) -> anyhow::Result<Arc<Vec<String>>> {
    let mut emails = Vec::new();
    for i in 0..ctx.args.login_users.max(1) {
        let email = format!("load.{}.login{i}@load.test", ctx.run_id);
        let req = ctx
            .client
            .post(ctx.url("/auth/register"))
            .json(&json!({"email": email, "password": ctx.password}));
        let (status, body) = ctx.probe(req, "POST /auth/register").await?;
        if status != 201 && status != 400 {
            bail!("POST /auth/register answered {status}: {}", body.unwrap_or(Value::Null));
        }
        emails.push(email);
    }
    Ok(Arc::new(emails))
}

fn login_op(ctx: &Ctx, clients: usize, emails: &[String]) -> anyhow::Result<Op> {
    let wire = ctx.wire(clients)?;
    let requests = emails
        .iter()
        .map(|email| {
            wire.request("POST", "/auth/login")
                .form(&[("username", email), ("password", &ctx.password)])
        })
        .collect();
    Ok(round_robin(wire, requests))
}

async fn login(ctx: &mut Ctx, mut r: ScenarioResult) -> anyhow::Result<ScenarioResult> {
    let emails = login_users(ctx).await?;
    let op = login_op(ctx, ctx.args.concurrency, &emails)?;
    r.note(format!(
        "{} users registered through POST /auth/register, logged in in turn",
        emails.len()
    ));
    Ok(ctx.finish(r, ctx.measure(ctx.args.concurrency, op).await))
}

/// The mixed profile over the pool users.
async fn mixed_ops(ctx: &mut Ctx) -> anyhow::Result<Op> {
    let pool = pool_size(ctx);
    ctx.seed_to(pool).await?;
    let tokens = ctx.bearers(0..pool);
    let wire = ctx.wire(ctx.args.concurrency)?;
    // Each user's five requests, built once.
    let requests: Arc<Vec<[Request; 5]>> = Arc::new(
        tokens
            .iter()
            .map(|b| {
                [
                    signal_request(&wire, b),
                    wire.request("POST", CLAIM_PATH).bearer(b),
                    pretrade_request(&wire, b),
                    wire.request("GET", "/positions/risk/today").bearer(b),
                    wire.request("GET", "/positions").bearer(b),
                ]
            })
            .collect(),
    );
    Ok(Arc::new(move |slot, seq| {
        let (wire, requests) = (wire.clone(), requests.clone());
        let (index, label) = match mixed_op(seq) {
            MixedOp::CreateSignal => (0, "create"),
            MixedOp::Claim => (1, "claim"),
            MixedOp::Pretrade => (2, "pretrade"),
            MixedOp::RiskToday => (3, "risk_today"),
            MixedOp::ListPositions => (4, "positions"),
        };
        boxed(async move {
            let key = engine::outcome(&wire, slot, &requests[(seq % pool) as usize][index]).await;
            if crate::stats::is_success(&key) {
                key
            } else {
                format!("{key} {label}")
            }
        })
    }))
}

async fn mixed(ctx: &mut Ctx, mut r: ScenarioResult) -> anyhow::Result<ScenarioResult> {
    let op = mixed_ops(ctx).await?;
    r.note(format!(
        "spread over {} users; a failure is keyed by status and operation",
        pool_size(ctx)
    ));
    Ok(ctx.finish(r, ctx.measure(ctx.args.concurrency, op).await))
}

/// The mixed profile measured while other clients log in as fast as they can.
async fn login_storm(ctx: &mut Ctx) -> Vec<ScenarioResult> {
    let n = ctx.args.concurrency;
    let storm = ctx.args.storm_clients.max(1);
    let r_mixed = ScenarioResult::new(
        "mixed_during_login_storm",
        format!("the mixed profile while {storm} other clients log in non-stop"),
        n,
    );
    let r_login = ScenarioResult::new("login_storm", "POST /auth/login alongside the mixed profile", storm);
    let emails = match login_users(ctx).await {
        Ok(e) => e,
        Err(e) => {
            let missing = e.downcast_ref::<RouteMissing>().is_some();
            let why = format!("{e:#}");
            let settle_one = |r: ScenarioResult| {
                if missing {
                    r.missing("POST /auth/register")
                } else {
                    r.failed(why.clone())
                }
            };
            return vec![settle_one(r_mixed), settle_one(r_login)];
        }
    };
    let mixed_op = match mixed_ops(ctx).await {
        Ok(op) => op,
        Err(e) => return vec![r_mixed.failed(format!("{e:#}")), r_login.failed(format!("{e:#}"))],
    };
    let login_op = match login_op(ctx, storm, &emails) {
        Ok(op) => op,
        Err(e) => return vec![r_mixed.failed(format!("{e:#}")), r_login.failed(format!("{e:#}"))],
    };
    let (a, b) = tokio::join!(ctx.measure(n, mixed_op), ctx.measure(storm, login_op));
    vec![ctx.finish(r_mixed, a), ctx.finish(r_login, b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_lists() {
        assert_eq!(parse_list("all").unwrap(), ALL.to_vec());
        assert_eq!(parse_list("login, health").unwrap(), vec!["health", "login"]);
        assert!(parse_list("health,nope").unwrap_err().contains("unknown scenario"));
        assert!(parse_list(" , ").is_err());
    }

    #[test]
    fn dashboard_levels() {
        assert_eq!(
            parse_levels("10000,10,100,1_000,10").unwrap(),
            vec![10, 100, 1000, 10000]
        );
        assert!(parse_levels("10,x").is_err());
        assert!(parse_levels("0").is_err());
    }

    #[test]
    fn mixed_profile_proportions() {
        let mut counts = [0u32; 5];
        for seq in 0..2000 {
            let i = match mixed_op(seq) {
                MixedOp::CreateSignal => 0,
                MixedOp::Claim => 1,
                MixedOp::Pretrade => 2,
                MixedOp::RiskToday => 3,
                MixedOp::ListPositions => 4,
            };
            counts[i] += 1;
        }
        assert_eq!(counts, [1000, 400, 300, 200, 100]);
    }

    #[test]
    fn planned_users_follow_rate_and_budget() {
        assert_eq!(planned(1500.0, 10.0, 2_000_000), 15_000);
        assert_eq!(planned(1500.0, 10.0, 100), 100);
        assert_eq!(planned(0.0, 10.0, 100), 1);
        assert_eq!(planned(5000.0, 0.5, 1_000_000), 2500);
    }

    #[test]
    fn total_users_is_read_from_the_summary() {
        assert_eq!(total_users(Some(&json!({"security": {"total_users": 42}}))), Some(42));
        assert_eq!(total_users(Some(&json!({"detail": "x"}))), None);
        assert_eq!(total_users(None), None);
    }
}
