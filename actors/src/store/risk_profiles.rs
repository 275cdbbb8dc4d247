//! Risk profiles and per-user overrides (migration V14), and the copy of them every daemon holds
//! in memory, so an open learns its user's limits without a database read. Kept current exactly
//! as the kill switch is (`trading_control.rs`): a `ChangeFeed` subscriber trusted only while the
//! feed listens; each change arrives with its version (one sequence for both kinds) and is
//! applied at once; on (re)connecting everything is read again; while the listener is down, each
//! question goes to the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::changes::{ChangeSubscriber, Trust};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::UserId;
use crate::rules::risk::RiskProfile;
use crate::rules::risk_profiles::{EmailProfiles, ProfileSource};

/// The channel V14's triggers notify, with a JSON payload: a profile with all its numbers, or a
/// user's override.
pub const CHANNEL: &str = "risk_profiles_changed";

const READ_PROFILES: &str = "SELECT name, max_risk_per_trade_pct, max_daily_loss_pct, max_trades_per_day, \
     max_open_positions, cooldown_between_trades_minutes, max_leverage, stop_loss_required, min_rr, updated_at, \
     updated_by, version FROM risk_profiles ORDER BY name";
/// Every override ever set (a cleared one too: its version must win over an older notification).
const READ_OVERRIDES: &str =
    "SELECT id, risk_profile_override, risk_profile_version FROM users WHERE risk_profile_version > 0";
/// The profile that applies to user $1 when the email settings (or the default) name $2.
const READ_RESOLVED: &str = "WITH o AS (SELECT (SELECT risk_profile_override FROM users WHERE id = $1) AS name) \
     SELECT p.name, p.max_risk_per_trade_pct, p.max_daily_loss_pct, p.max_trades_per_day, p.max_open_positions, \
            p.cooldown_between_trades_minutes, p.max_leverage, p.stop_loss_required, p.min_rr, p.updated_at, \
            p.updated_by, p.version, o.name AS override_name \
     FROM o JOIN risk_profiles p ON p.name = COALESCE(o.name, $2)";
const READ_USERS: &str = "SELECT id, email, risk_profile_override FROM users ORDER BY email, id";
const UPDATE: &str = include_str!("sql/update_risk_profile.sql");
const SET_OVERRIDE: &str = include_str!("sql/set_risk_profile_override.sql");

/// A profile as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProfile {
    pub profile: RiskProfile,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
    pub version: i64,
}

impl StoredProfile {
    fn from_row(row: &tokio_postgres::Row) -> Result<StoredProfile, tokio_postgres::Error> {
        Ok(StoredProfile {
            profile: RiskProfile {
                profile_name: row.try_get("name")?,
                max_risk_per_trade_pct: row.try_get("max_risk_per_trade_pct")?,
                max_daily_loss_pct: row.try_get("max_daily_loss_pct")?,
                max_trades_per_day: row.try_get("max_trades_per_day")?,
                max_open_positions: row.try_get("max_open_positions")?,
                cooldown_between_trades_minutes: row.try_get("cooldown_between_trades_minutes")?,
                max_leverage: row.try_get("max_leverage")?,
                stop_loss_required: row.try_get("stop_loss_required")?,
                min_rr: row.try_get("min_rr")?,
            },
            updated_at: row.try_get("updated_at")?,
            updated_by: row.try_get("updated_by")?,
            version: row.try_get("version")?,
        })
    }
}

/// Every profile, by name.
pub async fn list(store: &Store) -> Result<Vec<StoredProfile>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(READ_PROFILES).await?;
    let rows = client.query(&stmt, &[]).await?;
    Ok(rows.iter().map(StoredProfile::from_row).collect::<Result<_, _>>()?)
}

/// A user and the override an admin set for them, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct UserOverride {
    pub user_id: UserId,
    pub email: String,
    pub override_name: Option<String>,
}

/// Every user with their override, by email.
pub async fn users(store: &Store) -> Result<Vec<UserOverride>, StoreError> {
    let client = store.reader().await?;
    let stmt = client.prepare_cached(READ_USERS).await?;
    let rows = client.query(&stmt, &[]).await?;
    let mut all = Vec::with_capacity(rows.len());
    for row in rows {
        all.push(UserOverride {
            user_id: row.try_get("id")?,
            email: row.try_get("email")?,
            override_name: row.try_get("risk_profile_override")?,
        });
    }
    Ok(all)
}

/// An admin's new numbers for one profile (validated: `ProfileLimits::validate`).
#[derive(Debug, Clone)]
pub struct ProfileUpdate {
    pub profile: RiskProfile,
    pub by_id: UserId,
    pub by_email: String,
}

/// The profile after the change; `None` when there is no profile of that name. Audited
/// `risk.profile.updated` (before and after) in the same statement.
pub fn update<'a>(tx: &'a Transaction<'a>, cmd: &'a ProfileUpdate) -> TxFuture<'a, Option<StoredProfile>> {
    Box::pin(async move {
        let p = &cmd.profile;
        let stmt = tx.prepare_cached(UPDATE).await?;
        let row = tx
            .query_opt(
                &stmt,
                &[
                    &cmd.by_id,
                    &p.profile_name,
                    &p.max_risk_per_trade_pct,
                    &p.max_daily_loss_pct,
                    &p.max_trades_per_day,
                    &p.max_open_positions,
                    &p.cooldown_between_trades_minutes,
                    &p.max_leverage,
                    &p.stop_loss_required,
                    &p.min_rr,
                    &cmd.by_email,
                ],
            )
            .await?;
        row.as_ref().map(StoredProfile::from_row).transpose()
    })
}

/// An admin sets (or clears, `None`) one user's override.
#[derive(Debug, Clone)]
pub struct OverrideChange {
    pub by: UserId,
    pub user_id: UserId,
    pub profile_name: Option<String>,
}

/// What setting an override did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideOutcome {
    /// Set (or cleared) at this version; audited `user.risk_profile.updated`.
    Set {
        email: String,
        profile_name: Option<String>,
        version: i64,
    },
    UserNotFound,
    ProfileNotFound,
}

/// Sets the override and audits it in one statement. The user is looked for first: an unknown
/// user is `UserNotFound` whatever the profile.
pub fn set_override<'a>(tx: &'a Transaction<'a>, cmd: &'a OverrideChange) -> TxFuture<'a, OverrideOutcome> {
    Box::pin(async move {
        let stmt = tx.prepare_cached(SET_OVERRIDE).await?;
        let row = tx.query_one(&stmt, &[&cmd.by, &cmd.user_id, &cmd.profile_name]).await?;
        Ok(
            match (
                row.try_get::<_, bool>("user_found")?,
                row.try_get::<_, bool>("profile_found")?,
            ) {
                (false, _) => OverrideOutcome::UserNotFound,
                (true, false) => OverrideOutcome::ProfileNotFound,
                (true, true) => OverrideOutcome::Set {
                    email: row.try_get("email")?,
                    profile_name: row.try_get("profile_name")?,
                    version: row.try_get("version")?,
                },
            },
        )
    })
}

/// The profile that applies to a user, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub profile: Arc<RiskProfile>,
    pub source: ProfileSource,
}

/// Where a user actor learns its user's profile at each open: the daemon's `RiskProfiles`, or
/// one fixed profile for everyone (tests and benchmarks).
#[async_trait::async_trait]
pub trait RiskProfileSource: Send + Sync + 'static {
    async fn profile_for(&self, user_id: UserId, email: &str) -> Result<Arc<RiskProfile>, StoreError>;
}

#[async_trait::async_trait]
impl RiskProfileSource for RiskProfile {
    async fn profile_for(&self, _user_id: UserId, _email: &str) -> Result<Arc<RiskProfile>, StoreError> {
        Ok(Arc::new(self.clone()))
    }
}

#[async_trait::async_trait]
impl RiskProfileSource for RiskProfiles {
    async fn profile_for(&self, user_id: UserId, email: &str) -> Result<Arc<RiskProfile>, StoreError> {
        Ok(self.resolve(user_id, email).await?.profile)
    }
}

/// Every profile and override at one moment, to resolve many users with (the dashboard).
#[derive(Debug, Clone, Default)]
pub struct ProfilesView {
    profiles: HashMap<String, Arc<RiskProfile>>,
    overrides: HashMap<UserId, String>,
    emails: EmailProfiles,
}

impl ProfilesView {
    pub fn resolve(&self, user_id: UserId, email: &str) -> Resolved {
        let override_name = self.overrides.get(&user_id).map(String::as_str);
        resolve_in(&self.profiles, &self.emails, override_name, email)
    }
}

/// The precedence rule over the profiles held.
fn resolve_in(
    profiles: &HashMap<String, Arc<RiskProfile>>,
    emails: &EmailProfiles,
    override_name: Option<&str>,
    email: &str,
) -> Resolved {
    let (name, source) = emails.resolve(override_name, email);
    let profile = match profiles.get(name) {
        Some(profile) => profile.clone(),
        // The override's foreign key and the seed keep every name that can be asked for in the
        // table; were one missing, the seeded numbers (or the default's) still apply.
        None => {
            tracing::warn!(profile = name, "risk profile not held; using the seeded one");
            Arc::new(RiskProfile::seeded(name).unwrap_or_else(RiskProfile::model2))
        }
    };
    Resolved { profile, source }
}

/// The profiles and overrides as one daemon holds them.
pub struct RiskProfiles {
    store: Store,
    emails: EmailProfiles,
    held: Mutex<Held>,
    trust: Trust,
    me: Weak<RiskProfiles>,
}

/// Each profile and each override ever set, with the version it was written at.
#[derive(Debug, Default)]
struct Held {
    profiles: HashMap<String, (Arc<RiskProfile>, i64)>,
    overrides: HashMap<UserId, (Option<String>, i64)>,
}

impl Held {
    fn apply_profile(&mut self, profile: RiskProfile, version: i64) {
        match self.profiles.get_mut(&profile.profile_name) {
            Some(held) if version < held.1 => {}
            Some(held) => *held = (Arc::new(profile), version),
            None => {
                self.profiles
                    .insert(profile.profile_name.clone(), (Arc::new(profile), version));
            }
        }
    }

    fn apply_override(&mut self, user_id: UserId, name: Option<String>, version: i64) {
        let slot = self.overrides.entry(user_id).or_insert((None, version));
        if version >= slot.1 {
            *slot = (name, version);
        }
    }

    fn profiles(&self) -> HashMap<String, Arc<RiskProfile>> {
        self.profiles
            .iter()
            .map(|(name, (profile, _))| (name.clone(), profile.clone()))
            .collect()
    }

    fn override_of(&self, user_id: UserId) -> Option<&str> {
        self.overrides.get(&user_id).and_then(|(name, _)| name.as_deref())
    }
}

/// V14's payload: `kind` is `profile` (with every number, as text) or `override`.
#[derive(Debug, Deserialize)]
struct Payload {
    kind: String,
    version: i64,
    profile_name: Option<String>,
    user_id: Option<UserId>,
    max_risk_per_trade_pct: Option<Decimal>,
    max_daily_loss_pct: Option<Decimal>,
    max_trades_per_day: Option<i32>,
    max_open_positions: Option<i32>,
    cooldown_between_trades_minutes: Option<i32>,
    max_leverage: Option<Decimal>,
    stop_loss_required: Option<bool>,
    min_rr: Option<Decimal>,
}

/// A change as announced.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Profile(RiskProfile, i64),
    Override(UserId, Option<String>, i64),
}

fn parse_payload(payload: &str) -> Option<Change> {
    let p: Payload = serde_json::from_str(payload).ok()?;
    match p.kind.as_str() {
        "profile" => Some(Change::Profile(
            RiskProfile {
                profile_name: p.profile_name?,
                max_risk_per_trade_pct: p.max_risk_per_trade_pct?,
                max_daily_loss_pct: p.max_daily_loss_pct?,
                max_trades_per_day: p.max_trades_per_day?,
                max_open_positions: p.max_open_positions?,
                cooldown_between_trades_minutes: p.cooldown_between_trades_minutes?,
                max_leverage: p.max_leverage?,
                stop_loss_required: p.stop_loss_required?,
                min_rr: p.min_rr?,
            },
            p.version,
        )),
        "override" => Some(Change::Override(p.user_id?, p.profile_name, p.version)),
        _ => None,
    }
}

impl RiskProfiles {
    pub fn new(store: Store, emails: EmailProfiles) -> Arc<RiskProfiles> {
        Arc::new_cyclic(|me| RiskProfiles {
            store,
            emails,
            held: Mutex::new(Held::default()),
            trust: Trust::default(),
            me: me.clone(),
        })
    }

    /// The email settings this daemon was started with.
    pub fn emails(&self) -> &EmailProfiles {
        &self.emails
    }

    /// The profile that applies to `user_id` (whose email is `email`) now: from memory while it
    /// is kept current, else from the database (one statement).
    pub async fn resolve(&self, user_id: UserId, email: &str) -> Result<Resolved, StoreError> {
        if self.trust.is_trusted() {
            let held = self.lock();
            let override_name = held.override_of(user_id);
            let (name, source) = self.emails.resolve(override_name, email);
            if let Some((profile, _)) = held.profiles.get(name) {
                return Ok(Resolved {
                    profile: profile.clone(),
                    source,
                });
            }
        }
        let (fallback, _) = self.emails.resolve(None, email);
        let client = self.store.reader().await?;
        let stmt = client.prepare_cached(READ_RESOLVED).await?;
        let row = client.query_opt(&stmt, &[&user_id, &fallback]).await?;
        Ok(match row {
            Some(row) => {
                let override_name: Option<String> = row.try_get("override_name")?;
                let (_, source) = self.emails.resolve(override_name.as_deref(), email);
                Resolved {
                    profile: Arc::new(StoredProfile::from_row(&row)?.profile),
                    source,
                }
            }
            None => resolve_in(&HashMap::new(), &self.emails, None, email),
        })
    }

    /// Every profile and override, to resolve many users at once: from memory while it is kept
    /// current, else from the database (two statements, whatever the number of users).
    pub async fn view(&self) -> Result<ProfilesView, StoreError> {
        if self.trust.is_trusted() {
            let held = self.lock();
            return Ok(ProfilesView {
                profiles: held.profiles(),
                overrides: held
                    .overrides
                    .iter()
                    .filter_map(|(id, (name, _))| Some((*id, name.clone()?)))
                    .collect(),
                emails: self.emails.clone(),
            });
        }
        let (profiles, overrides) = self.read_all().await?;
        Ok(ProfilesView {
            profiles: profiles
                .into_iter()
                .map(|s| (s.profile.profile_name.clone(), Arc::new(s.profile)))
                .collect(),
            overrides: overrides
                .into_iter()
                .filter_map(|(id, name, _)| Some((id, name?)))
                .collect(),
            emails: self.emails.clone(),
        })
    }

    /// A change this daemon just committed, applied before its answer goes out (the
    /// notification follows; its version makes it a no-op).
    pub fn applied_profile(&self, stored: &StoredProfile) {
        self.lock().apply_profile(stored.profile.clone(), stored.version);
    }

    /// See [`RiskProfiles::applied_profile`].
    pub fn applied_override(&self, user_id: UserId, profile_name: Option<String>, version: i64) {
        self.lock().apply_override(user_id, profile_name, version);
    }

    /// Whether the in-memory copy answers (false while the listener is down or reloading).
    pub fn is_current(&self) -> bool {
        self.trust.is_trusted()
    }

    async fn reload(&self, generation: u64) {
        self.trust
            .reload(generation, "risk profiles", || async {
                let (profiles, overrides) = self.read_all().await?;
                let mut held = self.lock();
                for stored in profiles {
                    held.apply_profile(stored.profile, stored.version);
                }
                for (user_id, name, version) in overrides {
                    held.apply_override(user_id, name, version);
                }
                Ok(())
            })
            .await
    }

    #[allow(clippy::type_complexity)]
    async fn read_all(&self) -> Result<(Vec<StoredProfile>, Vec<(UserId, Option<String>, i64)>), StoreError> {
        let profiles = list(&self.store).await?;
        let client = self.store.reader().await?;
        let stmt = client.prepare_cached(READ_OVERRIDES).await?;
        let rows = client.query(&stmt, &[]).await?;
        let mut overrides = Vec::with_capacity(rows.len());
        for row in rows {
            overrides.push((
                row.try_get("id")?,
                row.try_get("risk_profile_override")?,
                row.try_get("risk_profile_version")?,
            ));
        }
        Ok((profiles, overrides))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ChangeSubscriber for RiskProfiles {
    fn notified(&self, payload: &str) {
        match parse_payload(payload) {
            Some(Change::Profile(profile, version)) => self.lock().apply_profile(profile, version),
            Some(Change::Override(user_id, name, version)) => self.lock().apply_override(user_id, name, version),
            None => tracing::warn!(payload, "unreadable risk profile notification"),
        }
    }

    fn connected(&self) {
        self.trust
            .reload_on_connect(&self.me, |me, generation| async move { me.reload(generation).await });
    }

    fn disconnected(&self) {
        self.trust.disconnected();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::risk::{LOOSE, MODEL2};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn payloads_parse_as_the_triggers_send_them() {
        let profile = r#"{"kind" : "profile", "profile_name" : "model2_conservador_productivo",
            "max_risk_per_trade_pct" : "0.40", "max_daily_loss_pct" : "1.50", "max_trades_per_day" : 3,
            "max_open_positions" : 1, "cooldown_between_trades_minutes" : 0, "max_leverage" : "1.0",
            "stop_loss_required" : false, "min_rr" : "1.5", "version" : 9}"#;
        let expected = RiskProfile {
            max_risk_per_trade_pct: d("0.40"),
            max_open_positions: 1,
            cooldown_between_trades_minutes: 0,
            stop_loss_required: false,
            ..RiskProfile::model2()
        };
        assert_eq!(parse_payload(profile), Some(Change::Profile(expected, 9)));
        assert_eq!(
            parse_payload(profile)
                .map(|c| match c {
                    Change::Profile(p, _) => p.max_risk_per_trade_pct.to_string(),
                    _ => String::new(),
                })
                .as_deref(),
            Some("0.40"),
            "the scale is kept"
        );
        let id = UserId::new();
        let set = format!(r#"{{"kind" : "override", "user_id" : "{id}", "profile_name" : "{LOOSE}", "version" : 12}}"#);
        assert_eq!(parse_payload(&set), Some(Change::Override(id, Some(LOOSE.into()), 12)));
        let cleared = format!(r#"{{"kind" : "override", "user_id" : "{id}", "profile_name" : null, "version" : 13}}"#);
        assert_eq!(parse_payload(&cleared), Some(Change::Override(id, None, 13)));
        assert_eq!(parse_payload(r#"{"kind": "profile", "version": 1}"#), None);
        assert_eq!(parse_payload(r#"{"kind": "other", "version": 1}"#), None);
        assert_eq!(parse_payload("not json"), None);
    }

    #[test]
    fn an_older_version_never_overwrites_a_newer_one() {
        let id = UserId::new();
        let mut held = Held::default();
        let strict = RiskProfile {
            max_open_positions: 1,
            ..RiskProfile::model2()
        };
        held.apply_profile(strict.clone(), 5);
        held.apply_profile(RiskProfile::model2(), 4);
        assert_eq!(*held.profiles[MODEL2].0, strict);
        held.apply_override(id, Some(LOOSE.into()), 9);
        held.apply_override(id, None, 8);
        assert_eq!(held.override_of(id), Some(LOOSE));
        held.apply_override(id, None, 10);
        assert_eq!(held.override_of(id), None);
        held.apply_override(id, Some(LOOSE.into()), 9);
        assert_eq!(held.override_of(id), None, "a cleared override stays cleared");
    }

    #[test]
    fn a_view_resolves_by_precedence_and_falls_back_to_the_seeded_numbers() {
        let id = UserId::new();
        let custom = RiskProfile {
            profile_name: "custom".into(),
            ..RiskProfile::loose()
        };
        let view = ProfilesView {
            profiles: [custom.clone(), RiskProfile::model2()]
                .into_iter()
                .map(|p| (p.profile_name.clone(), Arc::new(p)))
                .collect(),
            overrides: [(id, "custom".to_string())].into_iter().collect(),
            emails: EmailProfiles {
                model2_emails: vec![],
                loose_emails: vec!["l@x.io".into()],
            },
        };
        assert_eq!(
            view.resolve(id, "l@x.io"),
            Resolved {
                profile: Arc::new(custom),
                source: ProfileSource::Override
            }
        );
        let other = view.resolve(UserId::new(), "l@x.io");
        assert_eq!(
            (other.profile.as_ref(), other.source),
            (&RiskProfile::loose(), ProfileSource::Email),
            "loose is not held: its seeded numbers"
        );
        let default = view.resolve(UserId::new(), "z@x.io");
        assert_eq!(default.source, ProfileSource::Default);
        assert_eq!(default.profile.profile_name, MODEL2);
    }
}
