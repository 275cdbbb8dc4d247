//! Converting the old service's rows into the new schema's values: ids parsed as UUIDs, names
//! checked against the daemon's closed sets, money floats turned into exact decimals, exchange
//! secrets opened with the old Fernet key and sealed under the current key ring, TOTP secrets
//! (plaintext in the old database) sealed under it before they reach any table of ours.

use std::str::FromStr;

use actors::crypto::{Credentials, KeyRing, SealedTotp, SecretText};
use actors::domain::{Exchange, PositionSide, PositionStatus, Role, SignalStatus, StrategyId, Symbol, UserId};
use actors::store::secrets;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use fernet::Fernet;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio_postgres::binary_copy::BinaryCopyOutRow;
use tokio_postgres::types::{FromSql, ToSql, Type};
use uuid::Uuid;

use super::legacy::{self, LegacyTable};
use super::{ImportError, Progress};

/// What converting a row may need besides the row.
pub struct Context<'a> {
    pub legacy_fernet: &'a Fernet,
    pub ring: &'a KeyRing,
    pub progress: Progress,
}

/// The old service's Fernet key: urlsafe_base64(SHA-256(ENCRYPTION_KEY as UTF-8)).
pub fn legacy_fernet(key: &SecretString) -> Fernet {
    let digest = Sha256::digest(key.expose_secret().as_bytes());
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(digest);
    Fernet::new(&encoded).expect("a SHA-256 digest is a 32-byte Fernet key")
}

/// One old row converted for a staging table of the target database.
pub trait Staged: Sized {
    const LEGACY: &'static LegacyTable;
    /// The staging table (temporary, dropped at commit).
    const STAGING: &'static str;
    /// Its columns (name and type) in the order of [`Staged::values`]: the staging table's
    /// definition and the binary COPY's types both come from here.
    const COLUMNS: &'static [(&'static str, Type)];

    fn convert(row: &Row<'_>, context: &Context<'_>) -> Result<Self, ImportError>;
    fn values(&self) -> Vec<&(dyn ToSql + Sync)>;
}

/// An old row with its id at hand, so every problem names the row.
pub struct Row<'a> {
    pub table: &'static str,
    pub id: String,
    raw: &'a BinaryCopyOutRow,
}

impl<'a> Row<'a> {
    pub fn new(table: &'static str, raw: &'a BinaryCopyOutRow) -> Row<'a> {
        let id = raw.try_get::<Option<&str>>(0).ok().flatten().unwrap_or("").to_string();
        Row { table, id, raw }
    }

    fn problem(&self, problem: impl Into<String>) -> ImportError {
        ImportError::row(self.table, self.id.clone(), problem)
    }

    fn get<T: FromSql<'a>>(&self, index: usize, column: &str) -> Result<T, ImportError> {
        self.raw
            .try_get(index)
            .map_err(|e| self.problem(format!("{column} cannot be read: {e}")))
    }

    fn text(&self, index: usize, column: &str) -> Result<&'a str, ImportError> {
        self.get::<Option<&str>>(index, column)?
            .ok_or_else(|| self.problem(format!("{column} is null")))
    }

    fn uuid(&self, index: usize, column: &str) -> Result<Uuid, ImportError> {
        let text = self.text(index, column)?;
        Uuid::parse_str(text.trim()).map_err(|_| self.problem(format!("{column} {text:?} is not a UUID")))
    }

    fn optional_uuid(&self, index: usize, column: &str) -> Result<Option<Uuid>, ImportError> {
        match self.get::<Option<&str>>(index, column)? {
            None => Ok(None),
            Some(_) => self.uuid(index, column).map(Some),
        }
    }

    fn name<T: FromStr<Err = String>>(&self, index: usize, column: &str) -> Result<T, ImportError> {
        let text = self.text(index, column)?;
        text.parse()
            .map_err(|e: String| self.problem(format!("{column} {text:?}: {e}")))
    }

    fn symbol(&self, index: usize) -> Result<String, ImportError> {
        let text = self.text(index, "symbol")?;
        Symbol::parse(text)
            .map(|s| s.as_str().to_string())
            .map_err(|e| self.problem(format!("symbol {text:?}: {e}")))
    }

    fn money(&self, index: usize, column: &str) -> Result<Option<Decimal>, ImportError> {
        self.get::<Option<f64>>(index, column)?
            .map(|value| exact_decimal(value).map_err(|e| self.problem(format!("{column}: {e}"))))
            .transpose()
    }

    fn required_money(&self, index: usize, column: &str) -> Result<Decimal, ImportError> {
        self.money(index, column)?
            .ok_or_else(|| self.problem(format!("{column} is null")))
    }

    fn time(&self, index: usize, column: &str) -> Result<DateTime<Utc>, ImportError> {
        self.get::<Option<DateTime<Utc>>>(index, column)?
            .ok_or_else(|| self.problem(format!("{column} is null")))
    }

    /// Opens one of the old service's Fernet tokens; the error names the column, never the value.
    fn open(&self, index: usize, column: &str, context: &Context<'_>) -> Result<SecretText, ImportError> {
        let token = self.text(index, column)?;
        let plain = context
            .legacy_fernet
            .decrypt(token.trim())
            .map_err(|_| self.problem(format!("{column} does not decrypt with the legacy encryption key")))?;
        String::from_utf8(plain)
            .map(SecretText::new)
            .map_err(|_| self.problem(format!("{column} does not decrypt to text")))
    }
}

/// The exact decimal of a float's shortest round-trip form (`{}` of f64): `0.1` stays `0.1`,
/// not `0.1000000000000000055511151231257827`.
pub fn exact_decimal(value: f64) -> Result<Decimal, String> {
    if !value.is_finite() {
        return Err(format!("{value} is not a number the new schema can hold"));
    }
    let shortest = format!("{value}");
    Decimal::from_str_exact(&shortest).map_err(|_| format!("{shortest} does not fit an exact decimal"))
}

pub struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    role: &'static str,
    /// Sealed.
    totp_secret: Option<String>,
    totp_enabled: bool,
}

impl Staged for UserRow {
    const LEGACY: &'static LegacyTable = &legacy::USERS;
    const STAGING: &'static str = "import_users";
    const COLUMNS: &'static [(&'static str, Type)] = &[
        ("id", Type::UUID),
        ("email", Type::TEXT),
        ("password_hash", Type::TEXT),
        ("role", Type::TEXT),
        ("totp_secret", Type::TEXT),
        ("totp_enabled", Type::BOOL),
    ];

    fn convert(row: &Row<'_>, context: &Context<'_>) -> Result<Self, ImportError> {
        let password_hash = row.text(2, "hashed_password")?;
        if !crate::auth::password::is_legacy(password_hash) {
            return Err(row.problem("hashed_password is not a bcrypt hash"));
        }
        let role = match row.get::<Option<&str>>(3, "role")? {
            None => Role::Trader,
            Some(_) => row.name::<Role>(3, "role")?,
        };
        let id = row.uuid(0, "id")?;
        // Sealed for the id the daemon reads it with; the staging table never sees the base32 text.
        let totp_secret = row
            .get::<Option<&str>>(4, "user_two_factor.secret")?
            .map(|plain| {
                SealedTotp::seal(context.ring, UserId::from_uuid(id), plain.trim())
                    .map(|sealed| sealed.stored().to_string())
                    .map_err(|e| {
                        row.problem(format!(
                            "user_two_factor.secret: sealing under the current key ring: {e}"
                        ))
                    })
            })
            .transpose()?;
        Ok(UserRow {
            id,
            email: row.text(1, "email")?.trim().to_string(),
            password_hash: password_hash.to_string(),
            role: role.as_str(),
            totp_secret,
            totp_enabled: row.get::<Option<bool>>(5, "user_two_factor.enabled")?.unwrap_or(false),
        })
    }

    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.email,
            &self.password_hash,
            &self.role,
            &self.totp_secret,
            &self.totp_enabled,
        ]
    }
}

pub struct SecretRow {
    id: Uuid,
    user_id: Uuid,
    exchange: &'static str,
    key_id: String,
    api_key_enc: String,
    api_secret_enc: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Staged for SecretRow {
    const LEGACY: &'static LegacyTable = &legacy::EXCHANGE_SECRETS;
    const STAGING: &'static str = "import_exchange_secrets";
    const COLUMNS: &'static [(&'static str, Type)] = &[
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("exchange", Type::TEXT),
        ("key_id", Type::TEXT),
        ("api_key_enc", Type::TEXT),
        ("api_secret_enc", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
        ("updated_at", Type::TIMESTAMPTZ),
    ];

    fn convert(row: &Row<'_>, context: &Context<'_>) -> Result<Self, ImportError> {
        let user_id = row.uuid(1, "user_id")?;
        let exchange: Exchange = row.name(2, "exchange")?;
        let creds = Credentials {
            api_key: row.open(3, "api_key_encrypted", context)?,
            api_secret: row.open(4, "api_secret_encrypted", context)?,
        };
        // The daemon's own sealing, so its reads (same user id, exchange and field) open them.
        let sealed = secrets::seal(context.ring, UserId::from_uuid(user_id), exchange, &creds)
            .map_err(|e| row.problem(format!("sealing under the current key ring: {e}")))?;
        Ok(SecretRow {
            id: row.uuid(0, "id")?,
            user_id,
            exchange: exchange.as_str(),
            key_id: sealed.key_id,
            api_key_enc: sealed.api_key_enc,
            api_secret_enc: sealed.api_secret_enc,
            created_at: row.time(5, "created_at")?,
            updated_at: row.time(6, "updated_at")?,
        })
    }

    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.user_id,
            &self.exchange,
            &self.key_id,
            &self.api_key_enc,
            &self.api_secret_enc,
            &self.created_at,
            &self.updated_at,
        ]
    }
}

pub struct AssignmentRow {
    id: Uuid,
    user_id: Uuid,
    exchange: &'static str,
    strategy_id: &'static str,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Staged for AssignmentRow {
    const LEGACY: &'static LegacyTable = &legacy::ASSIGNMENTS;
    const STAGING: &'static str = "import_strategy_assignments";
    const COLUMNS: &'static [(&'static str, Type)] = &[
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("exchange", Type::TEXT),
        ("strategy_id", Type::TEXT),
        ("enabled", Type::BOOL),
        ("created_at", Type::TIMESTAMPTZ),
        ("updated_at", Type::TIMESTAMPTZ),
    ];

    fn convert(row: &Row<'_>, _: &Context<'_>) -> Result<Self, ImportError> {
        Ok(AssignmentRow {
            id: row.uuid(0, "id")?,
            user_id: row.uuid(1, "user_id")?,
            exchange: row.name::<Exchange>(2, "exchange")?.as_str(),
            strategy_id: row.name::<StrategyId>(3, "strategy_id")?.as_str(),
            enabled: row
                .get::<Option<bool>>(4, "enabled")?
                .ok_or_else(|| row.problem("enabled is null"))?,
            created_at: row.time(5, "created_at")?,
            updated_at: row.time(6, "updated_at")?,
        })
    }

    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.user_id,
            &self.exchange,
            &self.strategy_id,
            &self.enabled,
            &self.created_at,
            &self.updated_at,
        ]
    }
}

pub struct SignalRow {
    id: Uuid,
    user_id: Uuid,
    symbol: String,
    module: String,
    base_risk_percent: Option<Decimal>,
    entry_price: Option<Decimal>,
    stop_loss: Option<Decimal>,
    take_profit: Option<Decimal>,
    status: &'static str,
    reason_codes: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Staged for SignalRow {
    const LEGACY: &'static LegacyTable = &legacy::SIGNALS;
    const STAGING: &'static str = "import_signals";
    const COLUMNS: &'static [(&'static str, Type)] = &[
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("symbol", Type::TEXT),
        ("module", Type::TEXT),
        ("base_risk_percent", Type::NUMERIC),
        ("entry_price", Type::NUMERIC),
        ("stop_loss", Type::NUMERIC),
        ("take_profit", Type::NUMERIC),
        ("status", Type::TEXT),
        ("reason_codes", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
        ("updated_at", Type::TIMESTAMPTZ),
    ];

    fn convert(row: &Row<'_>, _: &Context<'_>) -> Result<Self, ImportError> {
        Ok(SignalRow {
            id: row.uuid(0, "id")?,
            user_id: row.uuid(1, "user_id")?,
            symbol: row.symbol(2)?,
            module: row.text(3, "module")?.to_string(),
            base_risk_percent: row.money(4, "base_risk_percent")?,
            entry_price: row.money(5, "entry_price")?,
            stop_loss: row.money(6, "stop_loss")?,
            take_profit: row.money(7, "take_profit")?,
            status: row.name::<SignalStatus>(8, "status")?.as_str(),
            reason_codes: row.get::<Option<&str>>(9, "reason_codes")?.map(str::to_string),
            created_at: row.time(10, "created_at")?,
            updated_at: row.time(11, "updated_at")?,
        })
    }

    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.user_id,
            &self.symbol,
            &self.module,
            &self.base_risk_percent,
            &self.entry_price,
            &self.stop_loss,
            &self.take_profit,
            &self.status,
            &self.reason_codes,
            &self.created_at,
            &self.updated_at,
        ]
    }
}

pub struct PositionRow {
    id: Uuid,
    user_id: Uuid,
    signal_id: Option<Uuid>,
    symbol: String,
    side: &'static str,
    qty: Decimal,
    entry_price: Decimal,
    stop_loss: Option<Decimal>,
    take_profit: Option<Decimal>,
    status: &'static str,
    opened_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    realized_pnl: Option<Decimal>,
    fees: Option<Decimal>,
}

impl Staged for PositionRow {
    const LEGACY: &'static LegacyTable = &legacy::POSITIONS;
    const STAGING: &'static str = "import_positions";
    const COLUMNS: &'static [(&'static str, Type)] = &[
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("signal_id", Type::UUID),
        ("symbol", Type::TEXT),
        ("side", Type::TEXT),
        ("qty", Type::NUMERIC),
        ("entry_price", Type::NUMERIC),
        ("stop_loss", Type::NUMERIC),
        ("take_profit", Type::NUMERIC),
        ("status", Type::TEXT),
        ("opened_at", Type::TIMESTAMPTZ),
        ("closed_at", Type::TIMESTAMPTZ),
        ("realized_pnl", Type::NUMERIC),
        ("fees", Type::NUMERIC),
    ];

    fn convert(row: &Row<'_>, _: &Context<'_>) -> Result<Self, ImportError> {
        Ok(PositionRow {
            id: row.uuid(0, "id")?,
            user_id: row.uuid(1, "user_id")?,
            signal_id: row.optional_uuid(2, "signal_id")?,
            symbol: row.symbol(3)?,
            side: row.name::<PositionSide>(4, "side")?.as_str(),
            qty: row.required_money(5, "qty")?,
            entry_price: row.required_money(6, "entry_price")?,
            stop_loss: row.money(7, "stop_loss")?,
            take_profit: row.money(8, "take_profit")?,
            status: row.name::<PositionStatus>(9, "status")?.as_str(),
            opened_at: row.time(10, "opened_at")?,
            closed_at: row.get(11, "closed_at")?,
            realized_pnl: row.money(12, "realized_pnl")?,
            fees: row.money(13, "fees")?,
        })
    }

    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.user_id,
            &self.signal_id,
            &self.symbol,
            &self.side,
            &self.qty,
            &self.entry_price,
            &self.stop_loss,
            &self.take_profit,
            &self.status,
            &self.opened_at,
            &self.closed_at,
            &self.realized_pnl,
            &self.fees,
        ]
    }
}

/// A day's risk counters. The old `daily_stop` and `max_trades` columns are not kept: the new
/// daemon takes those limits from the user's risk profile.
pub struct RiskRow {
    id: Uuid,
    user_id: Uuid,
    day: NaiveDate,
    trades_count: i32,
    realized_pnl: Decimal,
}

impl Staged for RiskRow {
    const LEGACY: &'static LegacyTable = &legacy::DAILY_RISK;
    const STAGING: &'static str = "import_risk_daily";
    const COLUMNS: &'static [(&'static str, Type)] = &[
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("day", Type::DATE),
        ("trades_count", Type::INT4),
        ("realized_pnl", Type::NUMERIC),
    ];

    fn convert(row: &Row<'_>, _: &Context<'_>) -> Result<Self, ImportError> {
        Ok(RiskRow {
            id: row.uuid(0, "id")?,
            user_id: row.uuid(1, "user_id")?,
            day: row
                .get::<Option<NaiveDate>>(2, "day")?
                .ok_or_else(|| row.problem("day is null"))?,
            trades_count: row
                .get::<Option<i32>>(3, "trades_today")?
                .ok_or_else(|| row.problem("trades_today is null"))?,
            realized_pnl: row.required_money(4, "realized_pnl_today")?,
        })
    }

    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.user_id,
            &self.day,
            &self.trades_count,
            &self.realized_pnl,
        ]
    }
}

pub struct AuditRow {
    id: Uuid,
    user_id: Option<Uuid>,
    action: String,
    entity_type: Option<String>,
    entity_id: Option<String>,
    details: Option<String>,
    created_at: DateTime<Utc>,
}

impl Staged for AuditRow {
    const LEGACY: &'static LegacyTable = &legacy::AUDIT;
    const STAGING: &'static str = "import_audit_events";
    const COLUMNS: &'static [(&'static str, Type)] = &[
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("action", Type::TEXT),
        ("entity_type", Type::TEXT),
        ("entity_id", Type::TEXT),
        ("details", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
    ];

    fn convert(row: &Row<'_>, _: &Context<'_>) -> Result<Self, ImportError> {
        let text = |index, column| row.get::<Option<&str>>(index, column).map(|v| v.map(str::to_string));
        Ok(AuditRow {
            id: row.uuid(0, "id")?,
            user_id: row.optional_uuid(1, "user_id")?,
            action: row.text(2, "action")?.to_string(),
            entity_type: text(3, "entity_type")?,
            entity_id: text(4, "entity_id")?,
            details: text(5, "details")?,
            created_at: row.time(6, "created_at")?,
        })
    }

    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.user_id,
            &self.action,
            &self.entity_type,
            &self.entity_id,
            &self.details,
            &self.created_at,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_become_their_shortest_decimal() {
        for (float, text) in [
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (65432.1, "65432.1"),
            (-5.0, "-5"),
            (1e-7, "0.0000001"),
            (123456789.125, "123456789.125"),
        ] {
            assert_eq!(exact_decimal(float).unwrap().to_string(), text, "{float}");
        }
        assert!(exact_decimal(f64::NAN).is_err());
        assert!(exact_decimal(f64::INFINITY).is_err());
        assert!(exact_decimal(1e300).is_err());
    }

    #[test]
    fn the_legacy_key_is_the_old_services_derivation() {
        let key = SecretString::from("old service key");
        let token = legacy_fernet(&key).encrypt(b"api-key-value");
        let again = legacy_fernet(&key).decrypt(&token).unwrap();
        assert_eq!(again, b"api-key-value");
        assert!(legacy_fernet(&SecretString::from("another key"))
            .decrypt(&token)
            .is_err());
    }
}
