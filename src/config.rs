//! Configuration: defaults, then an optional TOML file, then the environment, then flags.
//! Every problem is collected and reported at once; secrets are wrapped so they never print.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};

/// Every setting the daemon reads, with its default (None = required or optional-empty).
/// Names are the environment variable names; a config file uses the same keys.
pub const SETTINGS: &[(&str, Option<&str>, &str)] = &[
    ("DATABASE_URL", None, "PostgreSQL connection URL (required)"),
    ("SECRET_KEY", None, "HS256 key for JWTs (required, secret)"),
    (
        "ENCRYPTION_KEY",
        None,
        "AES-256-GCM key for exchange secrets (secret; or ENCRYPTION_KEYS)",
    ),
    (
        "ENCRYPTION_KEYS",
        None,
        "key ring, newest first, comma separated `id:key` or `key` (secret)",
    ),
    ("HOST", Some("127.0.0.1"), "listen address"),
    ("PORT", Some("8000"), "listen port (0 = any free port)"),
    (
        "BINANCE_TESTNET_BASE_URL",
        Some("https://testnet.binance.vision"),
        "Binance testnet REST base URL",
    ),
    (
        "EXCHANGE_HTTP_TIMEOUT_MS",
        Some("10000"),
        "timeout of one Binance/IBKR upstream request (orders are never retried)",
    ),
    (
        "IBKR_BRIDGE_BASE_URL",
        Some(""),
        "IBKR paper bridge base URL (empty = simulated)",
    ),
    (
        "RISK_PROFILE_MODEL2_EMAIL",
        Some(""),
        "emails (comma separated) on model2_conservador_productivo",
    ),
    (
        "RISK_PROFILE_LOOSE_EMAIL",
        Some(""),
        "emails (comma separated) on modelo_suelto_controlado",
    ),
    (
        "RISK_TIMEZONE",
        Some("America/Bogota"),
        "zone whose calendar date is the risk day",
    ),
    (
        "ENFORCE_2FA_FOR_ADMINS",
        Some("false"),
        "require 2FA at login for every admin",
    ),
    (
        "PASSWORD_MIN_LENGTH",
        Some("8"),
        "fewest characters of a new password (8-128)",
    ),
    (
        "PUBLIC_REGISTRATION",
        Some("true"),
        "anyone may register with POST /auth/register (false: admins create users)",
    ),
    (
        "ENFORCE_2FA_EMAILS",
        Some(""),
        "emails (comma separated) that must use 2FA",
    ),
    (
        "TELEGRAM_BOT_TOKEN",
        Some(""),
        "Telegram bot token (secret; empty = no notifications)",
    ),
    ("TELEGRAM_CHAT_ID", Some(""), "Telegram chat id"),
    (
        "TELEGRAM_API_BASE_URL",
        Some("https://api.telegram.org"),
        "Telegram Bot API base URL",
    ),
    ("EXIT_MONITOR_MODE", Some("alert"), "alert | close | off"),
    ("PRICE_POLL_INTERVAL_SECONDS", Some("5"), "seconds between price polls"),
    (
        "EXIT_MAX_TICK_JUMP_PCT",
        Some("20"),
        "a tick further than this percent from the last accepted price waits for confirmation",
    ),
    (
        "EXIT_MAX_AUTO_CLOSES_PER_MINUTE",
        Some("50"),
        "automatic closes per minute across the cluster; beyond it, alerts",
    ),
    (
        "IDEMPOTENCY_KEY_MAX_AGE_DAYS",
        Some("30"),
        "days an idempotency key and its answer are kept",
    ),
    (
        "CLUSTER_FAILOVER_SECONDS",
        Some("10"),
        "seconds within which the positions a dead daemon watched are taken over (2-600)",
    ),
    (
        "CLUSTER_NODE_ID",
        Some(""),
        "this daemon's id among those sharing the database (a UUID; empty = derived from host and port)",
    ),
    (
        "MAX_OPEN_QTY_PER_SYMBOL",
        Some("0"),
        "cap on a user's open quantity of one symbol (0 = off)",
    ),
    (
        "MAX_OPEN_NOTIONAL_PER_EXCHANGE",
        Some("0"),
        "cap on a user's open qty x entry price on one exchange (0 = off)",
    ),
    (
        "INCIDENT_TRACKER_URL",
        Some("https://github.com/crypto-saas/ops/issues/new"),
        "where the dashboard's Open Incident button goes",
    ),
    ("LOG_FORMAT", Some("text"), "text | json"),
    (
        "LOG_LEVEL",
        Some("info"),
        "tracing filter, e.g. info or crypto_saas=debug",
    ),
    ("DB_POOL_SIZE", Some("16"), "read pool connections"),
    (
        "DB_WRITE_SHARDS",
        Some("auto"),
        "persistence shards (one connection each); auto = one per CPU core",
    ),
    (
        "DB_ACQUIRE_TIMEOUT_MS",
        Some("2000"),
        "wait for a connection before answering 503",
    ),
    (
        "REQUEST_BODY_LIMIT_BYTES",
        Some("65536"),
        "largest accepted request body",
    ),
    (
        "USER_ACTOR_IDLE_SECONDS",
        Some("300"),
        "an idle user actor stops after this long",
    ),
    (
        "BOOTSTRAP_ADMIN_EMAIL",
        Some(""),
        "create or promote this admin at start-up",
    ),
    (
        "BOOTSTRAP_ADMIN_PASSWORD",
        Some(""),
        "password for a bootstrap admin that does not exist yet (secret)",
    ),
    (
        "DAILY_STOP",
        Some(""),
        "accepted and ignored (the risk profiles decide)",
    ),
    (
        "MAX_TRADES",
        Some(""),
        "accepted and ignored (the risk profiles decide)",
    ),
];

const SECRET_SETTINGS: &[&str] = &[
    "SECRET_KEY",
    "ENCRYPTION_KEY",
    "ENCRYPTION_KEYS",
    "TELEGRAM_BOT_TOKEN",
    "BOOTSTRAP_ADMIN_PASSWORD",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitMonitorMode {
    Alert,
    Close,
    Off,
}

impl FromStr for ExitMonitorMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "alert" => Ok(ExitMonitorMode::Alert),
            "close" => Ok(ExitMonitorMode::Close),
            "off" => Ok(ExitMonitorMode::Off),
            _ => Err("must be alert, close or off".into()),
        }
    }
}

/// The effective configuration of one daemon.
#[derive(Clone)]
pub struct Settings {
    pub database_url: SecretString,
    pub secret_key: SecretString,
    /// Key ring entries `(id, raw key text)`, newest first.
    pub encryption_keys: Vec<(String, SecretString)>,
    pub host: String,
    pub port: u16,
    pub binance_base_url: String,
    pub ibkr_bridge_base_url: Option<String>,
    pub exchange_http_timeout_ms: u64,
    pub model2_emails: Vec<String>,
    pub loose_emails: Vec<String>,
    pub risk_timezone: Tz,
    pub enforce_2fa_for_admins: bool,
    /// `PASSWORD_MIN_LENGTH` (8–128).
    pub password_min_length: usize,
    /// `PUBLIC_REGISTRATION`: whether `POST /auth/register` is open.
    pub public_registration: bool,
    pub enforce_2fa_emails: Vec<String>,
    pub telegram_bot_token: Option<SecretString>,
    pub telegram_chat_id: Option<String>,
    pub telegram_api_base_url: String,
    pub exit_monitor_mode: ExitMonitorMode,
    pub price_poll_interval_secs: u64,
    /// `EXIT_MAX_TICK_JUMP_PCT` (> 0) as the guard it configures.
    pub exit_tick_guard: actors::rules::exit_guard::TickJumpGuard,
    /// `EXIT_MAX_AUTO_CLOSES_PER_MINUTE` (≥ 1).
    pub exit_max_auto_closes_per_minute: u32,
    /// `IDEMPOTENCY_KEY_MAX_AGE_DAYS` (1–3650).
    pub idempotency_key_max_age_days: i32,
    /// `CLUSTER_FAILOVER_SECONDS` (2–600).
    pub cluster_failover_secs: u64,
    /// `CLUSTER_NODE_ID`; `None`: derived from the host name and the port.
    pub cluster_node_id: Option<uuid::Uuid>,
    /// `MAX_OPEN_QTY_PER_SYMBOL` and `MAX_OPEN_NOTIONAL_PER_EXCHANGE` (off when 0).
    pub exposure_caps: actors::rules::risk::ExposureCaps,
    pub incident_tracker_url: String,
    pub log_json: bool,
    pub log_level: String,
    pub db_pool_size: usize,
    pub db_write_shards: usize,
    pub db_acquire_timeout_ms: u64,
    pub body_limit_bytes: usize,
    pub user_actor_idle_secs: u64,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<SecretString>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The raw key/value view before parsing, remembering where each value came from.
#[derive(Debug, Default, Clone)]
pub struct RawConfig {
    values: BTreeMap<String, (String, &'static str)>,
}

impl RawConfig {
    /// Layers: defaults < file < environment < overrides (flags).
    pub fn gather(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<RawConfig, Vec<String>> {
        let mut raw = RawConfig::default();
        for (name, default, _) in SETTINGS {
            if let Some(d) = default {
                raw.values.insert(name.to_string(), (d.to_string(), "default"));
            }
        }
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var("CONFIG_FILE").ok().map(PathBuf::from));
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(&path).map_err(|e| vec![format!("config file {}: {e}", path.display())])?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| vec![format!("config file {}: {e}", path.display())])?;
            let mut errors = Vec::new();
            for (key, value) in table {
                let name = key.to_ascii_uppercase();
                if !SETTINGS.iter().any(|(n, _, _)| *n == name) {
                    errors.push(format!("config file {}: unknown setting {key}", path.display()));
                    continue;
                }
                let text = match value {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                raw.values.insert(name, (text, "file"));
            }
            if !errors.is_empty() {
                return Err(errors);
            }
        }
        for (name, _, _) in SETTINGS {
            if let Ok(value) = std::env::var(name) {
                raw.values.insert(name.to_string(), (value, "env"));
            }
        }
        for (name, value) in overrides {
            raw.values.insert(name.to_string(), (value.clone(), "flag"));
        }
        Ok(raw)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    /// One line per setting, secrets redacted, for `config check`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (name, _, help) in SETTINGS {
            let shown = match self.values.get(*name) {
                None => "<unset>".to_string(),
                Some((v, source)) => {
                    let value = if SECRET_SETTINGS.contains(name) && !v.is_empty() {
                        "<redacted>".to_string()
                    } else if *name == "DATABASE_URL" {
                        redact_url_password(v)
                    } else {
                        v.clone()
                    };
                    format!("{value} ({source})")
                }
            };
            out.push_str(&format!("{name:<30} {shown:<50} # {help}\n"));
        }
        out
    }

    /// Parses every setting; on failure, every problem is named.
    pub fn parse(&self) -> Result<Settings, Vec<String>> {
        let mut errors = Vec::new();
        let mut required = |name: &str| match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => {
                errors.push(format!("{name} is required but not set"));
                String::new()
            }
        };
        let database_url = required("DATABASE_URL");
        let secret_key = required("SECRET_KEY");
        let optional = |name: &str| {
            self.get(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let list = |name: &str| -> Vec<String> {
            self.get(name)
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        fn number<T: FromStr + Default>(raw: &RawConfig, name: &str, errors: &mut Vec<String>) -> T {
            let value = raw.get(name).unwrap_or("").trim();
            value.parse().unwrap_or_else(|_| {
                errors.push(format!("{name} must be a number (got {value:?})"));
                T::default()
            })
        }
        let encryption_keys = match (optional("ENCRYPTION_KEYS"), optional("ENCRYPTION_KEY")) {
            (Some(ring), _) => parse_key_ring(&ring),
            (None, Some(single)) => vec![("k1".to_string(), SecretString::from(single))],
            (None, None) => {
                errors.push("ENCRYPTION_KEY (or ENCRYPTION_KEYS) is required but not set".into());
                Vec::new()
            }
        };
        let bool_of = |name: &str, errors: &mut Vec<String>| match self
            .get(name)
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "false" | "0" | "no" | "off" => false,
            "true" | "1" | "yes" | "on" => true,
            other => {
                errors.push(format!("{name} must be true or false (got {other:?})"));
                false
            }
        };
        let enforce_2fa_for_admins = bool_of("ENFORCE_2FA_FOR_ADMINS", &mut errors);
        let public_registration = bool_of("PUBLIC_REGISTRATION", &mut errors);
        let password_min_length: usize = number(self, "PASSWORD_MIN_LENGTH", &mut errors);
        if !(crate::auth::password_rules::LEAST_MIN_CHARS..=128).contains(&password_min_length) {
            errors.push("PASSWORD_MIN_LENGTH must be between 8 and 128".into());
        }
        let risk_timezone = self
            .get("RISK_TIMEZONE")
            .unwrap_or("America/Bogota")
            .trim()
            .parse::<Tz>()
            .unwrap_or_else(|_| {
                errors.push("RISK_TIMEZONE must be an IANA zone such as America/Bogota".into());
                chrono_tz::America::Bogota
            });
        let exit_monitor_mode = self
            .get("EXIT_MONITOR_MODE")
            .unwrap_or("alert")
            .parse()
            .unwrap_or_else(|e| {
                errors.push(format!("EXIT_MONITOR_MODE {e}"));
                ExitMonitorMode::Alert
            });
        let log_json = match self.get("LOG_FORMAT").unwrap_or("text").trim() {
            "json" => true,
            "text" | "" => false,
            other => {
                errors.push(format!("LOG_FORMAT must be text or json (got {other:?})"));
                false
            }
        };
        let port: u16 = number(self, "PORT", &mut errors);
        let price_poll_interval_secs: u64 = number(self, "PRICE_POLL_INTERVAL_SECONDS", &mut errors);
        let exit_tick_guard =
            actors::rules::exit_guard::TickJumpGuard::new(number(self, "EXIT_MAX_TICK_JUMP_PCT", &mut errors))
                .unwrap_or_else(|| {
                    errors.push("EXIT_MAX_TICK_JUMP_PCT must be greater than 0".into());
                    Default::default()
                });
        let exit_max_auto_closes_per_minute: u32 = number(self, "EXIT_MAX_AUTO_CLOSES_PER_MINUTE", &mut errors);
        if exit_max_auto_closes_per_minute == 0 {
            errors.push("EXIT_MAX_AUTO_CLOSES_PER_MINUTE must be at least 1".into());
        }
        let idempotency_key_max_age_days: i32 = number(self, "IDEMPOTENCY_KEY_MAX_AGE_DAYS", &mut errors);
        if !(1..=3650).contains(&idempotency_key_max_age_days) {
            errors.push("IDEMPOTENCY_KEY_MAX_AGE_DAYS must be between 1 and 3650".into());
        }
        let cluster_failover_secs: u64 = number(self, "CLUSTER_FAILOVER_SECONDS", &mut errors);
        if !(2..=600).contains(&cluster_failover_secs) {
            errors.push("CLUSTER_FAILOVER_SECONDS must be between 2 and 600".into());
        }
        let cluster_node_id = match self.get("CLUSTER_NODE_ID").map(str::trim).unwrap_or_default() {
            "" => None,
            text => match text.parse::<uuid::Uuid>() {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.push("CLUSTER_NODE_ID must be a UUID".into());
                    None
                }
            },
        };
        let db_pool_size: usize = number(self, "DB_POOL_SIZE", &mut errors);
        let max_open_qty_per_symbol: rust_decimal::Decimal = number(self, "MAX_OPEN_QTY_PER_SYMBOL", &mut errors);
        let max_open_notional_per_exchange: rust_decimal::Decimal =
            number(self, "MAX_OPEN_NOTIONAL_PER_EXCHANGE", &mut errors);
        for (name, cap) in [
            ("MAX_OPEN_QTY_PER_SYMBOL", max_open_qty_per_symbol),
            ("MAX_OPEN_NOTIONAL_PER_EXCHANGE", max_open_notional_per_exchange),
        ] {
            if cap < rust_decimal::Decimal::ZERO {
                errors.push(format!("{name} must be 0 (off) or positive"));
            }
        }
        let db_write_shards: usize = match self.get("DB_WRITE_SHARDS").map(str::trim) {
            // One shard per core: each shard's batches keep one Postgres backend busy, and
            // more shards than cores only split the batches (docs/performance.md).
            Some("auto") => std::thread::available_parallelism().map_or(1, |n| n.get()),
            _ => number(self, "DB_WRITE_SHARDS", &mut errors),
        };
        let db_acquire_timeout_ms: u64 = number(self, "DB_ACQUIRE_TIMEOUT_MS", &mut errors);
        let body_limit_bytes: usize = number(self, "REQUEST_BODY_LIMIT_BYTES", &mut errors);
        let user_actor_idle_secs: u64 = number(self, "USER_ACTOR_IDLE_SECONDS", &mut errors);
        let exchange_http_timeout_ms: u64 = number(self, "EXCHANGE_HTTP_TIMEOUT_MS", &mut errors);
        if exchange_http_timeout_ms == 0 {
            errors.push("EXCHANGE_HTTP_TIMEOUT_MS must be at least 1".into());
        }
        {
            // Every key of the ring must be usable; the error names the setting, never the key.
            let setting = if optional("ENCRYPTION_KEYS").is_some() {
                "ENCRYPTION_KEYS"
            } else {
                "ENCRYPTION_KEY"
            };
            for (id, key) in &encryption_keys {
                if let Err(e) = actors::crypto::KeyMaterial::parse(key.expose_secret(), setting, id) {
                    errors.push(e.to_string());
                }
            }
        }
        if price_poll_interval_secs == 0 {
            errors.push("PRICE_POLL_INTERVAL_SECONDS must be at least 1".into());
        }
        if db_pool_size == 0 || db_write_shards == 0 {
            errors.push("DB_POOL_SIZE and DB_WRITE_SHARDS must be at least 1".into());
        }
        for (name, url) in [
            ("BINANCE_TESTNET_BASE_URL", self.get("BINANCE_TESTNET_BASE_URL")),
            ("TELEGRAM_API_BASE_URL", self.get("TELEGRAM_API_BASE_URL")),
        ] {
            let url = url.unwrap_or("");
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errors.push(format!("{name} must be an http(s) URL"));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            database_url: SecretString::from(database_url),
            secret_key: SecretString::from(secret_key),
            encryption_keys,
            host: self.get("HOST").unwrap_or("127.0.0.1").trim().to_string(),
            port,
            binance_base_url: self
                .get("BINANCE_TESTNET_BASE_URL")
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
            ibkr_bridge_base_url: optional("IBKR_BRIDGE_BASE_URL").map(|u| u.trim_end_matches('/').to_string()),
            exchange_http_timeout_ms,
            model2_emails: list("RISK_PROFILE_MODEL2_EMAIL"),
            loose_emails: list("RISK_PROFILE_LOOSE_EMAIL"),
            risk_timezone,
            enforce_2fa_for_admins,
            public_registration,
            password_min_length,
            enforce_2fa_emails: list("ENFORCE_2FA_EMAILS"),
            telegram_bot_token: optional("TELEGRAM_BOT_TOKEN").map(SecretString::from),
            telegram_chat_id: optional("TELEGRAM_CHAT_ID"),
            telegram_api_base_url: self
                .get("TELEGRAM_API_BASE_URL")
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
            exit_monitor_mode,
            price_poll_interval_secs,
            exit_tick_guard,
            exit_max_auto_closes_per_minute,
            idempotency_key_max_age_days,
            cluster_failover_secs,
            cluster_node_id,
            exposure_caps: actors::rules::risk::ExposureCaps::from_settings(
                max_open_qty_per_symbol,
                max_open_notional_per_exchange,
            ),
            incident_tracker_url: self.get("INCIDENT_TRACKER_URL").unwrap_or_default().to_string(),
            log_json,
            log_level: self.get("LOG_LEVEL").unwrap_or("info").to_string(),
            db_pool_size,
            db_write_shards,
            db_acquire_timeout_ms,
            body_limit_bytes,
            user_actor_idle_secs,
            bootstrap_admin_email: optional("BOOTSTRAP_ADMIN_EMAIL"),
            bootstrap_admin_password: optional("BOOTSTRAP_ADMIN_PASSWORD").map(SecretString::from),
        })
    }
}

impl Settings {
    pub fn store_config(&self) -> actors::store::StoreConfig {
        actors::store::StoreConfig {
            database_url: self.database_url.expose_secret().to_string(),
            read_pool_size: self.db_pool_size,
            shards: self.db_write_shards,
            acquire_timeout: std::time::Duration::from_millis(self.db_acquire_timeout_ms),
            ..Default::default()
        }
    }

    /// The exchange-secret key ring (keys were validated when the settings were parsed).
    pub fn key_ring(&self) -> Result<actors::crypto::KeyRing, actors::crypto::CryptoError> {
        let entries: Vec<(String, &str)> = self
            .encryption_keys
            .iter()
            .map(|(id, key)| (id.clone(), key.expose_secret()))
            .collect();
        actors::crypto::KeyRing::from_texts("ENCRYPTION_KEYS", &entries)
    }

    pub fn exchange_config(&self) -> actors::exchange::ExchangeConfig {
        actors::exchange::ExchangeConfig {
            binance_base_url: self.binance_base_url.clone(),
            ibkr_bridge_base_url: self.ibkr_bridge_base_url.clone(),
            http_timeout: std::time::Duration::from_millis(self.exchange_http_timeout_ms),
            ..Default::default()
        }
    }

    /// Which emails the settings give each risk profile (below a per-user override).
    pub fn email_profiles(&self) -> actors::rules::risk_profiles::EmailProfiles {
        actors::rules::risk_profiles::EmailProfiles {
            model2_emails: self.model2_emails.clone(),
            loose_emails: self.loose_emails.clone(),
        }
    }
}

/// `id:key,id:key` or bare keys (then named k1, k2, … from the oldest up, so ids stay stable
/// as new keys are put in front).
fn parse_key_ring(ring: &str) -> Vec<(String, SecretString)> {
    let entries: Vec<&str> = ring.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let count = entries.len();
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| match entry.split_once(':') {
            Some((id, key))
                if !id.is_empty()
                    && id.len() <= 16
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                (id.to_string(), SecretString::from(key.to_string()))
            }
            _ => (format!("k{}", count - i), SecretString::from(entry.to_string())),
        })
        .collect()
}

fn redact_url_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}://{}:<redacted>@{}", &url[..scheme_end], user, &url[at + 1..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl RawConfig {
    /// The daemon's own /healthz URL from HOST and PORT (a wildcard address means this host).
    pub fn health_url(&self) -> String {
        let host = match self.get("HOST").map(str::trim).unwrap_or("127.0.0.1") {
            "" | "0.0.0.0" => "127.0.0.1".to_string(),
            "::" | "[::]" => "[::1]".to_string(),
            h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            h => h.to_string(),
        };
        let port = self.get("PORT").map(str::trim).unwrap_or("8000");
        format!("http://{host}:{port}/healthz")
    }

    /// Only the database URL, for the commands that need nothing else.
    pub fn database_url(&self) -> Option<SecretString> {
        self.get("DATABASE_URL")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| SecretString::from(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ring_ids() {
        let ring = parse_key_ring("new:abc, old:def");
        assert_eq!(
            ring.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["new", "old"]
        );
        let ring = parse_key_ring("aaa,bbb");
        assert_eq!(ring.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["k2", "k1"]);
    }

    fn parse_with(pairs: &[(&str, &str)]) -> Result<Settings, Vec<String>> {
        let mut overrides: Vec<(&str, String)> = vec![
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x".into()),
            ("SECRET_KEY", "0123456789abcdef0123456789abcdef".into()),
            ("ENCRYPTION_KEY", "0123456789abcdef0123456789abcdef".into()),
        ];
        overrides.extend(pairs.iter().map(|(k, v)| (*k, v.to_string())));
        RawConfig::gather(None, &overrides)?.parse()
    }

    #[test]
    fn write_shards_default_to_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            parse_with(&[("DB_WRITE_SHARDS", "auto")]).unwrap().db_write_shards,
            cores
        );
        assert_eq!(parse_with(&[("DB_WRITE_SHARDS", "3")]).unwrap().db_write_shards, 3);
        let errors = parse_with(&[("DB_WRITE_SHARDS", "0")]).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("DB_WRITE_SHARDS must be at least 1")),
            "{errors:?}"
        );
        let errors = parse_with(&[("DB_WRITE_SHARDS", "many")]).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("DB_WRITE_SHARDS must be a number")),
            "{errors:?}"
        );
    }

    #[test]
    fn exit_guard_settings_have_defaults_and_bounds() {
        let settings = parse_with(&[]).unwrap();
        assert_eq!(settings.exit_tick_guard.max_jump_pct(), rust_decimal::Decimal::from(20));
        assert_eq!(settings.exit_max_auto_closes_per_minute, 50);
        let settings = parse_with(&[
            ("EXIT_MAX_TICK_JUMP_PCT", "12.5"),
            ("EXIT_MAX_AUTO_CLOSES_PER_MINUTE", "1"),
        ])
        .unwrap();
        assert_eq!(settings.exit_tick_guard.max_jump_pct(), "12.5".parse().unwrap());
        assert_eq!(settings.exit_max_auto_closes_per_minute, 1);
        for (jump, closes, closes_error) in [("0", "0", "must be at least 1"), ("-5", "many", "must be a number")] {
            let errors = parse_with(&[
                ("EXIT_MAX_TICK_JUMP_PCT", jump),
                ("EXIT_MAX_AUTO_CLOSES_PER_MINUTE", closes),
            ])
            .unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| e == "EXIT_MAX_TICK_JUMP_PCT must be greater than 0"),
                "{errors:?}"
            );
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&format!("EXIT_MAX_AUTO_CLOSES_PER_MINUTE {closes_error}"))),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn passwords_need_eight_characters_unless_configured_longer() {
        assert_eq!(parse_with(&[]).unwrap().password_min_length, 8);
        assert_eq!(
            parse_with(&[("PASSWORD_MIN_LENGTH", "12")])
                .unwrap()
                .password_min_length,
            12
        );
        for bad in ["7", "129", "long"] {
            assert!(parse_with(&[("PASSWORD_MIN_LENGTH", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn registration_is_public_unless_closed() {
        assert!(parse_with(&[]).unwrap().public_registration);
        assert!(
            !parse_with(&[("PUBLIC_REGISTRATION", "false")])
                .unwrap()
                .public_registration
        );
        assert!(parse_with(&[("PUBLIC_REGISTRATION", "maybe")]).is_err());
    }

    #[test]
    fn idempotency_keys_are_kept_30_days_unless_configured() {
        assert_eq!(parse_with(&[]).unwrap().idempotency_key_max_age_days, 30);
        assert_eq!(parse_with(&[]).unwrap().cluster_failover_secs, 10);
        assert_eq!(parse_with(&[]).unwrap().cluster_node_id, None);
        let id = "0191b2c3-0000-7000-8000-000000000001";
        assert_eq!(
            parse_with(&[("CLUSTER_NODE_ID", id)]).unwrap().cluster_node_id,
            Some(id.parse().unwrap())
        );
        for (name, bad) in [
            ("CLUSTER_FAILOVER_SECONDS", "1"),
            ("CLUSTER_FAILOVER_SECONDS", "601"),
            ("CLUSTER_NODE_ID", "node-1"),
        ] {
            assert!(parse_with(&[(name, bad)]).is_err(), "{name}={bad}");
        }
        let settings = parse_with(&[("IDEMPOTENCY_KEY_MAX_AGE_DAYS", "7")]).unwrap();
        assert_eq!(settings.idempotency_key_max_age_days, 7);
        for bad in ["0", "3651", "a month"] {
            let errors = parse_with(&[("IDEMPOTENCY_KEY_MAX_AGE_DAYS", bad)]).unwrap_err();
            assert!(
                errors.iter().any(|e| e.starts_with("IDEMPOTENCY_KEY_MAX_AGE_DAYS")),
                "{bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn health_url_follows_host_and_port() {
        let url = |pairs: &[(&str, &str)]| {
            let overrides: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
            RawConfig::gather(None, &overrides).unwrap().health_url()
        };
        assert_eq!(
            url(&[("HOST", "0.0.0.0"), ("PORT", "9000")]),
            "http://127.0.0.1:9000/healthz"
        );
        assert_eq!(url(&[("HOST", "::"), ("PORT", "1")]), "http://[::1]:1/healthz");
        assert_eq!(
            url(&[("HOST", "10.0.0.5"), ("PORT", "8000")]),
            "http://10.0.0.5:8000/healthz"
        );
    }

    #[test]
    fn url_password_is_redacted() {
        assert_eq!(
            redact_url_password("postgres://u:pw@h/db"),
            "postgres://u:<redacted>@h/db"
        );
        assert_eq!(redact_url_password("postgres://h/db"), "postgres://h/db");
    }
}
