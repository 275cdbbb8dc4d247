//! The `crypto-saas` command line: serve, migrate, healthcheck, admin create/promote, config check.

use std::io::Read;
use std::path::PathBuf;

use actors::domain::{Email, Role};
use actors::store::secrets;
use actors::store::users::{self, NewUser, RoleChange};
use actors::store::{Store, StoreConfig};
use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::config::RawConfig;
use crate::state::AppState;

#[derive(Parser)]
#[command(name = "crypto-saas", version, about = "Conservative trading-operations daemon")]
pub struct Cli {
    /// A TOML file of settings (same names as the environment variables).
    #[arg(long, global = true, env = "CONFIG_FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the daemon (migrates first).
    Serve {
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        port: Option<u16>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 when the daemon's /healthz answers `{"status":"ok"}` within two seconds, 1 otherwise
    /// (the container health check). Needs no secrets: the default URL comes from HOST and PORT.
    Healthcheck {
        /// The health URL to ask (default http://HOST:PORT/healthz; 0.0.0.0 means this host).
        #[arg(long)]
        url: Option<String>,
    },
    /// Manage administrators without SQL.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage encrypted exchange secrets.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Copy the old service's database into this one (DATABASE_URL, migrated first): every table,
    /// each row keeping its id and timestamps; rows already there are left as they are.
    ImportLegacy {
        /// The old service's database URL.
        #[arg(long = "from", env = "LEGACY_DATABASE_URL", hide_env_values = true)]
        from: String,
        /// The old service's ENCRYPTION_KEY (its exchange secrets are Fernet tokens under it).
        #[arg(long, env = "LEGACY_ENCRYPTION_KEY", hide_env_values = true)]
        legacy_encryption_key: String,
        /// Read, check and decrypt everything and print what would be imported; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Load-test helpers (users in the reserved `.test` domain only).
    Loadtest {
        #[command(subcommand)]
        command: LoadtestCommand,
    },
}

#[derive(Subcommand)]
pub enum LoadtestCommand {
    /// Create COUNT traders `<prefix><n>@<domain>` (n = start..start+count) sharing one password
    /// read from standard input, hashed once, in one transaction. Existing emails are skipped.
    SeedUsers {
        #[arg(long, default_value = "load.")]
        prefix: String,
        #[arg(long, default_value_t = 0)]
        start: u64,
        #[arg(long)]
        count: u64,
        /// Must be under the reserved `.test` top-level domain.
        #[arg(long, default_value = "load.test")]
        domain: String,
        /// Required: the password is the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an admin. The password is read from standard input with --password-stdin,
    /// otherwise a random one is generated and printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make an existing user an admin.
    Promote {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every stored exchange secret with the newest key of ENCRYPTION_KEYS, in one
    /// transaction (each row opened with the key it is tagged with). Nothing is written when any
    /// row cannot be opened.
    Reencrypt {
        /// Report what would change without writing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted) and every problem with it.
    Check,
}

/// Runs the chosen command; the process exit code follows from the result.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config_file = cli.config.clone();
    match cli.command {
        Command::Serve { host, port } => {
            let mut overrides = Vec::new();
            if let Some(host) = host {
                overrides.push(("HOST", host));
            }
            if let Some(port) = port {
                overrides.push(("PORT", port.to_string()));
            }
            let settings = load(config_file, &overrides)?;
            crate::telemetry::init(settings.log_json, &settings.log_level);
            let app = crate::startup::Application::build(settings.clone()).await?;
            // Tests and scripts read this line to find the port.
            println!("listening on http://{}:{}", settings.host, app.port());
            tracing::info!(port = app.port(), "crypto-saas serving");
            app.run_until_stopped().await?;
            tracing::info!("crypto-saas stopped");
            Ok(())
        }
        Command::Healthcheck { url } => {
            let url = match url {
                Some(url) => url,
                None => {
                    let raw =
                        RawConfig::gather(config_file.as_deref(), &[]).map_err(|errors| anyhow!(errors.join("\n")))?;
                    raw.health_url()
                }
            };
            healthcheck(&url).await?;
            println!("healthy: {url}");
            Ok(())
        }
        Command::Migrate => {
            let url = database_url(config_file)?;
            let applied = crate::startup::migrate(url.expose_secret()).await?;
            println!("migrations applied: {applied}");
            Ok(())
        }
        Command::Admin { command } => {
            let url = database_url(config_file)?;
            crate::startup::migrate(url.expose_secret()).await?;
            let store = Store::start(&StoreConfig {
                database_url: url.expose_secret().to_string(),
                read_pool_size: 2,
                shards: 1,
                ..Default::default()
            })?;
            match command {
                AdminCommand::Create { email, password_stdin } => {
                    let email = Email::parse(&email).map_err(|e| anyhow!("--email: {e}"))?;
                    let (password, generated) = if password_stdin {
                        let mut text = String::new();
                        std::io::stdin().read_to_string(&mut text)?;
                        let line = text.lines().next().unwrap_or("").to_string();
                        crate::auth::password_rules::check(&line, crate::auth::password_rules::LEAST_MIN_CHARS)
                            .map_err(|weak| anyhow!("the password read from standard input: {weak}"))?;
                        (SecretString::from(line), false)
                    } else {
                        (SecretString::from(random_password()), true)
                    };
                    create_admin(&store, email.as_str(), password.clone()).await?;
                    println!("admin created: {email}");
                    if generated {
                        println!("generated password (shown once): {}", password.expose_secret());
                    }
                    Ok(())
                }
                AdminCommand::Promote { email } => {
                    promote(&store, &email).await?;
                    println!("promoted to admin: {email}");
                    Ok(())
                }
            }
        }
        Command::Loadtest {
            command:
                LoadtestCommand::SeedUsers {
                    prefix,
                    start,
                    count,
                    domain,
                    password_stdin: _,
                },
        } => {
            let spec = crate::loadtest::SeedSpec {
                prefix,
                start,
                count,
                domain,
            };
            // Read standard input first (so the writer never meets a closed pipe), then refuse a
            // bad spec before touching the database.
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            crate::loadtest::emails(&spec).map_err(|e| anyhow!(e))?;
            let password = text.lines().next().unwrap_or("").to_string();
            if password.len() < 8 {
                bail!("the password read from standard input must have at least 8 characters");
            }
            let url = database_url(config_file)?;
            crate::startup::migrate(url.expose_secret()).await?;
            let store = Store::start(&StoreConfig {
                database_url: url.expose_secret().to_string(),
                read_pool_size: 1,
                shards: 1,
                statement_timeout: std::time::Duration::from_secs(60),
                ..Default::default()
            })?;
            let created = crate::loadtest::seed_users(&store, &spec, SecretString::from(password)).await?;
            println!("seeded {created} new trader(s) of {count} requested");
            Ok(())
        }
        Command::Secrets {
            command: SecretsCommand::Reencrypt { dry_run },
        } => {
            let settings = load(config_file, &[])?;
            crate::startup::migrate(settings.database_url.expose_secret()).await?;
            let store = Store::start(&StoreConfig {
                read_pool_size: 1,
                shards: 1,
                ..settings.store_config()
            })?;
            let ring = std::sync::Arc::new(settings.key_ring()?);
            let (new_id, new_key) = ring
                .newest()
                .map(|(id, key)| (id.to_string(), key.clone()))
                .context("no encryption key configured")?;
            let job = |dry_run: bool| secrets::Reencrypt {
                ring: ring.clone(),
                open_with: secrets::OpenWith::Ring,
                new_key_id: new_id.clone(),
                new_key: new_key.clone(),
                dry_run,
                skip_current: true,
                actor_id: None,
                audit_action: "security.key_rotation.reencrypt",
            };
            // Always check first: a row that does not open stops the rotation before any write.
            let check = store
                .write(actors::store::ShardKey::Exclusive, None, job(true), secrets::reencrypt)
                .await?;
            if check.failed > 0 {
                bail!(
                    "{} of {} secret rows cannot be opened with the configured key ring; nothing was changed",
                    check.failed,
                    check.scanned
                );
            }
            if check.totp.failed > 0 {
                bail!(
                    "{} of {} TOTP secrets cannot be opened with the configured key ring; nothing was changed",
                    check.totp.failed,
                    check.totp.scanned
                );
            }
            let report = if dry_run {
                check
            } else {
                store
                    .write(actors::store::ShardKey::Exclusive, None, job(false), secrets::reencrypt)
                    .await?
            };
            println!(
                "dry_run={dry_run} scanned={} updated={} key_id={new_id} totp_scanned={} totp_updated={} totp_plaintext={}",
                report.scanned, report.updated, report.totp.scanned, report.totp.updated, report.totp.plaintext
            );
            Ok(())
        }
        Command::ImportLegacy {
            from,
            legacy_encryption_key,
            dry_run,
        } => {
            let settings = load(config_file, &[])?;
            let target = settings.database_url.expose_secret();
            if !dry_run {
                crate::startup::migrate(target).await?;
            }
            let options = crate::import::Options {
                from: SecretString::from(from),
                legacy_key: SecretString::from(legacy_encryption_key),
                dry_run,
            };
            let summary = crate::import::run(target, &settings.key_ring()?, &options)
                .await
                .map_err(|e| e.context("import stopped; nothing was written"))?;
            print!("{summary}");
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let raw = RawConfig::gather(config_file.as_deref(), &[]).map_err(|errors| anyhow!(errors.join("\n")))?;
            print!("{}", raw.describe());
            match raw.parse() {
                Ok(_) => {
                    println!("configuration OK");
                    Ok(())
                }
                Err(errors) => {
                    for e in &errors {
                        println!("error: {e}");
                    }
                    bail!("configuration has {} problem(s)", errors.len())
                }
            }
        }
    }
}

fn load(file: Option<PathBuf>, overrides: &[(&str, String)]) -> anyhow::Result<crate::config::Settings> {
    let raw = RawConfig::gather(file.as_deref(), overrides).map_err(|errors| anyhow!(errors.join("\n")))?;
    raw.parse()
        .map_err(|errors| anyhow!("invalid configuration:\n  - {}", errors.join("\n  - ")))
}

fn database_url(file: Option<PathBuf>) -> anyhow::Result<SecretString> {
    let raw = RawConfig::gather(file.as_deref(), &[]).map_err(|errors| anyhow!(errors.join("\n")))?;
    raw.database_url()
        .ok_or_else(|| anyhow!("invalid configuration:\n  - DATABASE_URL is required but not set"))
}

/// How long the health check waits for the whole answer: a container runtime kills it after its
/// own timeout anyway, and a daemon slower than this is not healthy.
const HEALTHCHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn healthcheck(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(HEALTHCHECK_TIMEOUT).build()?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() && body["status"] == "ok" {
        Ok(())
    } else {
        bail!("{url} answered {status}: {body}")
    }
}

fn random_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

async fn create_admin(store: &Store, email: &str, password: SecretString) -> anyhow::Result<()> {
    let hash = crate::auth::password::hash(password).await?;
    let new = NewUser {
        email: email.to_string(),
        password_hash: hash,
        role: Role::Admin,
        audit_action: Some("user.admin.create"),
        actor_id: None,
    };
    match store
        .write(actors::store::ShardKey::Unowned, None, new, users::create)
        .await?
    {
        Some(_) => Ok(()),
        None => bail!("a user with email {email} already exists; use `crypto-saas admin promote --email {email}`"),
    }
}

async fn promote(store: &Store, email: &str) -> anyhow::Result<()> {
    let change = RoleChange {
        email: email.to_string(),
        role: Role::Admin,
        audit_action: "user.admin.promote",
    };
    store
        .write(actors::store::ShardKey::Unowned, None, change, users::set_role)
        .await?
        .with_context(|| format!("no user with email {email}"))?;
    Ok(())
}

/// Creates or promotes `BOOTSTRAP_ADMIN_EMAIL` at start-up.
pub async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let Some(email) = state.settings.bootstrap_admin_email.as_deref() else {
        return Ok(());
    };
    match users::find_by_email(&state.store, email).await? {
        Some(user) if user.role == Role::Admin => Ok(()),
        Some(_) => promote(&state.store, email).await,
        None => {
            let password =
                state.settings.bootstrap_admin_password.clone().context(
                    "BOOTSTRAP_ADMIN_EMAIL names a user that does not exist; set BOOTSTRAP_ADMIN_PASSWORD too",
                )?;
            create_admin(&state.store, email, password).await
        }
    }
}
