//! crypto-saas load generator: loopback only, bounded in time and count.
//!
//! It creates its users through the daemon's CLI (`crypto-saas loadtest seed-users`, one argon2
//! hash for thousands of `@load.test` traders; `crypto-saas admin create` for the admin) and
//! through the API (`POST /auth/register` for the login scenario), mints HS256 tokens for the
//! seeded users with the SECRET_KEY it is given, then measures each scenario with N concurrent
//! clients and writes `results.json` and `results.md` to `--out`.

mod engine;
mod procfs;
mod report;
mod scenarios;
mod soak;
mod stats;
mod target;
mod token;
mod wire;

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(name = "loadgen", about = "Load generator for crypto-saas (loopback only)")]
pub struct Args {
    /// The daemon under test; must be a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// The daemon's SECRET_KEY, to mint the seeded users' tokens.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: String,
    /// The daemon's database, for the CLI that seeds users (must be local).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The `crypto-saas` binary used to seed users (default: target/release/crypto-saas, then
    /// target/debug/crypto-saas, then `crypto-saas` on PATH).
    #[arg(long)]
    pub daemon_bin: Option<PathBuf>,
    /// The daemon's process id, for its memory (default: the process listening on the port).
    #[arg(long)]
    pub daemon_pid: Option<u32>,
    /// `all` or a comma list of: health, dashboard, actors, create_signal, claim, full_cycle,
    /// full_cycle_active, pretrade, login, mixed, login_storm.
    #[arg(long, default_value = "all")]
    pub scenarios: String,
    /// Seconds measured per scenario (at most 600).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Concurrent clients per scenario.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Where results.json and results.md go.
    #[arg(long, default_value = "target/loadgen")]
    pub out: PathBuf,
    /// Most requests (or cycles) in one measured phase.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_requests: u64,
    /// Users the create/pretrade/mixed scenarios spread their requests over.
    #[arg(long, default_value_t = 1024)]
    pub pool_users: u64,
    /// Claims per second to prepare for: the claim scenario pre-creates rate × duration
    /// signals (one per fresh user) through the API so its claims return data.
    #[arg(long, default_value_t = 15000.0)]
    pub claim_rate: f64,
    /// Cycles per second to prepare for: the full cycles use a fresh user per cycle (cooldown and
    /// 3 trades a day), so rate × duration users are seeded (for each of the two scenarios).
    #[arg(long, default_value_t = 2500.0)]
    pub cycle_rate: f64,
    /// User counts at which the dashboard summary is measured.
    #[arg(long, default_value = "10,100,1000,10000")]
    pub dashboard_users: String,
    /// Users whose actors are woken (one claim each) before reading the daemon's memory.
    #[arg(long, default_value_t = 10_000)]
    pub actor_users: u64,
    /// Seconds to wait after waking the actors before reading the daemon's memory again (0:
    /// not measured). Meant for a daemon with a short `USER_ACTOR_IDLE_SECONDS`, to see what
    /// stopped actors give back.
    #[arg(long, default_value_t = 0)]
    pub actors_idle_wait: u64,
    /// Users registered through POST /auth/register for the login scenarios.
    #[arg(long, default_value_t = 8)]
    pub login_users: usize,
    /// Clients logging in during the login-storm scenario.
    #[arg(long, default_value_t = 8)]
    pub storm_clients: usize,
    /// Threads of the load generator's own runtime.
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Bound on each set-up phase (seeding, pre-creating signals, waking actors), in seconds.
    #[arg(long, default_value_t = 180)]
    pub setup_timeout: u64,
    /// Run the soak instead of the scenarios: `--minutes` of mixed traffic from `--soak-users`
    /// traders at `--concurrency` desks, reported minute by minute (soak.json, soak.md); the exit
    /// status is 3 when its target is not held.
    #[arg(long)]
    pub soak: bool,
    /// Minutes the soak runs (at most 50).
    #[arg(long, default_value_t = 10)]
    pub minutes: u64,
    /// Traders the soak seeds and shares out over its desks.
    #[arg(long, default_value_t = 8192)]
    pub soak_users: u64,
    /// One soak visit in this many also opens and closes a position (once per trader).
    #[arg(long, default_value_t = 10)]
    pub trade_every: u64,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(3),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs what the arguments ask for; false when a soak did not hold its target.
fn run(args: Args) -> anyhow::Result<bool> {
    let base = target::loopback_base_url(&args.base_url).map_err(anyhow::Error::msg)?;
    if let Some(db) = &args.database_url {
        target::check_local_database(db).map_err(anyhow::Error::msg)?;
    }
    if !(args.duration > 0.0 && args.duration <= 600.0) {
        bail!("--duration must be more than 0 and at most 600 seconds");
    }
    if args.concurrency == 0 || args.concurrency > 1024 {
        bail!("--concurrency must be between 1 and 1024");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let command = target::redact_args(&std::env::args().collect::<Vec<_>>()).join(" ");
    if args.soak {
        let report = runtime.block_on(soak::run(args.clone(), base, command))?;
        std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        let (json_path, md_path) = (args.out.join("soak.json"), args.out.join("soak.md"));
        std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
        let md = soak::render_markdown(&report);
        std::fs::write(&md_path, &md)?;
        println!("{md}");
        println!("wrote {} and {}", json_path.display(), md_path.display());
        return Ok(report.verdict.held);
    }
    let chosen = scenarios::parse_list(&args.scenarios).map_err(anyhow::Error::msg)?;
    let levels = scenarios::parse_levels(&args.dashboard_users).map_err(anyhow::Error::msg)?;
    let report = runtime.block_on(scenarios::run_all(args.clone(), base, chosen, levels, command))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let json_path = args.out.join("results.json");
    let md_path = args.out.join("results.md");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    let md = report::render_markdown(&report);
    std::fs::write(&md_path, &md)?;
    println!("{md}");
    println!("wrote {} and {}", json_path.display(), md_path.display());
    Ok(true)
}
