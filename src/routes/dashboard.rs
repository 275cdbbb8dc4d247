//! The ops dashboard: `GET /ops/risk/daily-compare`, `GET /ops/dashboard/summary` (admin JSON)
//! and the self-contained browser page `GET /ops/dashboard`.
//!
//! Handlers are thin: parse the query, run the store's fixed set of set-based queries
//! (actors::store::dashboard), roll the rows up with the pure rules (actors::rules::dashboard).

use actix_web::http::header;
use actix_web::{get, HttpResponse};
use actors::domain::{Exchange, Role, TradingState, UserId};
use actors::rules::dashboard::{
    missing_2fa, overall_status, profile_productivity, round4, status_reasons, utilization_pct, DayWindow,
    OverallStatus, ProfileInput, ProfileProductivity,
};
use actors::rules::risk::RiskProfile;
use actors::store::dashboard::{self as sql, ScopeFilter};
use actors::store::risk_profiles::ProfilesView;
use actors::store::trading_control::{self, TradingControl};
use std::sync::Arc;

use chrono::{NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::ViewerUser;
use crate::http::extract::Query;
use crate::http::{ApiError, HttpResult};
use crate::state::Shared;

/// The page, embedded in the binary (inline CSS and JS, no external resources).
const PAGE: &str = include_str!("../dashboard/index.html");
const TRACKER_PLACEHOLDER: &str = "__INCIDENT_TRACKER_URL__";

#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    #[serde(default)]
    real_only: bool,
}

#[derive(Serialize)]
struct Limits {
    max_risk_per_trade_pct: Decimal,
    max_daily_loss_pct: Decimal,
    max_trades_per_day: i32,
    max_open_positions: i32,
    cooldown_between_trades_minutes: i32,
    min_rr: Decimal,
}

impl From<&RiskProfile> for Limits {
    fn from(p: &RiskProfile) -> Self {
        Limits {
            max_risk_per_trade_pct: p.max_risk_per_trade_pct,
            max_daily_loss_pct: p.max_daily_loss_pct,
            max_trades_per_day: p.max_trades_per_day,
            max_open_positions: p.max_open_positions,
            cooldown_between_trades_minutes: p.cooldown_between_trades_minutes,
            min_rr: p.min_rr,
        }
    }
}

#[derive(Serialize)]
struct CompareToday {
    day: NaiveDate,
    trades_today: i32,
    realized_pnl_today: Decimal,
    daily_stop_threshold: Decimal,
    open_positions_now: i32,
    closed_positions_today: i64,
    blocked_open_attempts_today: i64,
    trades_utilization_pct: Decimal,
}

#[derive(Serialize)]
struct CompareUser {
    user_id: UserId,
    email: String,
    role: Role,
    risk_profile: String,
    limits: Limits,
    today: CompareToday,
}

#[derive(Serialize)]
struct CompareOut {
    day: NaiveDate,
    generated_for: String,
    users: Vec<CompareUser>,
}

#[get("/ops/risk/daily-compare")]
pub async fn daily_compare(state: Shared, viewer: ViewerUser, query: Query<CompareQuery>) -> HttpResult<HttpResponse> {
    let today = DayWindow::containing(Utc::now(), state.settings.risk_timezone);
    let rows = sql::daily_compare(&state.store, &today, query.0.real_only).await?;
    let profiles = state.risk_profiles.view().await?;
    let users = rows
        .into_iter()
        .map(|r| {
            let profile = profiles.resolve(r.user_id, &r.email).profile;
            CompareUser {
                today: CompareToday {
                    day: today.day,
                    trades_today: r.trades_today,
                    realized_pnl_today: r.realized_pnl_today.normalize(),
                    daily_stop_threshold: profile.daily_stop(),
                    open_positions_now: r.open_positions_now,
                    closed_positions_today: r.closed_positions_today,
                    blocked_open_attempts_today: r.blocked_open_attempts_today,
                    trades_utilization_pct: utilization_pct(
                        i64::from(r.trades_today),
                        i64::from(profile.max_trades_per_day),
                    ),
                },
                user_id: r.user_id,
                email: r.email,
                role: r.role,
                risk_profile: profile.profile_name.clone(),
                limits: Limits::from(profile.as_ref()),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(CompareOut {
        day: today.day,
        generated_for: viewer.0.email,
        users,
    }))
}

fn default_true() -> bool {
    true
}
fn default_secret_age() -> i32 {
    30
}
fn default_recent_hours() -> i32 {
    24
}

#[derive(Debug, Deserialize)]
pub struct SummaryQuery {
    #[serde(default = "default_true")]
    real_only: bool,
    #[serde(default = "default_secret_age")]
    max_secret_age_days: i32,
    #[serde(default = "default_recent_hours")]
    recent_hours: i32,
    #[serde(default)]
    email_contains: Option<String>,
    #[serde(default)]
    exchange: Option<String>,
    #[serde(default)]
    include_service_users: bool,
}

impl SummaryQuery {
    /// The store's filter, or the 422 naming the bad parameter.
    fn filter(&self) -> Result<ScopeFilter, ApiError> {
        if !(0..=36_500).contains(&self.max_secret_age_days) {
            return Err(ApiError::invalid(
                "query",
                "max_secret_age_days",
                "Input should be between 0 and 36500",
            ));
        }
        if !(0..=87_600).contains(&self.recent_hours) {
            return Err(ApiError::invalid(
                "query",
                "recent_hours",
                "Input should be between 0 and 87600",
            ));
        }
        let exchange = match self.exchange.as_deref().map(|e| e.trim().to_ascii_uppercase()) {
            None => None,
            Some(e) if e.is_empty() || e == "ALL" => None,
            Some(e) if e.parse::<Exchange>().is_ok() => e.parse().ok(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "query",
                    "exchange",
                    "Input should be 'ALL', 'BINANCE' or 'IBKR'",
                ))
            }
        };
        Ok(ScopeFilter {
            real_only: self.real_only,
            include_service_users: self.include_service_users,
            email_contains: self
                .email_contains
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            exchange,
            max_secret_age_days: self.max_secret_age_days,
        })
    }
}

#[derive(Serialize)]
struct Security {
    total_users: i64,
    users_missing_2fa: i64,
    users_with_stale_secrets: i64,
    max_secret_age_days: i32,
}

#[derive(Serialize)]
struct Operations {
    trades_today_total: i64,
    open_positions_total: i64,
    blocked_open_attempts_total: i64,
}

#[derive(Serialize)]
struct RecentEvents {
    errors_last_24h: i64,
    pretrade_blocked_last_24h: i64,
}

#[derive(Serialize)]
struct TrendDay {
    day: NaiveDate,
    trades_total: i64,
    blocked_open_attempts_total: i64,
    errors_total: i64,
}

/// A profile's productivity and, beyond the contract, its numbers (the profile as resolved now).
#[derive(Serialize)]
struct ProfileRow {
    #[serde(flatten)]
    productivity: ProfileProductivity,
    limits: Option<Limits>,
}

#[derive(Serialize)]
struct SummaryUser {
    user_id: UserId,
    email: String,
    role: Role,
    risk_profile: String,
    two_factor_enabled: bool,
    binance_secret_configured: bool,
    ibkr_secret_configured: bool,
    trades_today: i32,
    open_positions_now: i32,
    blocked_open_attempts_today: i64,
    realized_pnl_today: Decimal,
    /// Beyond the contract: the user's own kill switch.
    trading_state: TradingState,
}

#[derive(Serialize)]
struct TradingControlOut {
    state: TradingState,
    reason: Option<String>,
    updated_by: Option<String>,
    updated_at: Option<chrono::DateTime<Utc>>,
}

impl From<TradingControl> for TradingControlOut {
    fn from(c: TradingControl) -> Self {
        TradingControlOut {
            state: c.state,
            reason: c.reason,
            updated_by: c.updated_by,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Serialize)]
struct SummaryOut {
    generated_at: String,
    day: NaiveDate,
    overall_status: OverallStatus,
    /// Beyond the contract: what made the status yellow or red (empty when green).
    status_reasons: Vec<String>,
    /// Beyond the contract: the global kill switch.
    trading_control: TradingControlOut,
    generated_for: String,
    security: Security,
    operations: Operations,
    recent_events: RecentEvents,
    profile_productivity: Vec<ProfileRow>,
    trends_7d: Vec<TrendDay>,
    users: Box<RawValue>,
}

#[get("/ops/dashboard/summary")]
pub async fn summary(state: Shared, viewer: ViewerUser, query: Query<SummaryQuery>) -> HttpResult<HttpResponse> {
    let filter = query.0.filter()?;
    let now = Utc::now();
    let zone = state.settings.risk_timezone;
    let today = DayWindow::containing(now, zone);
    let first = today.days_before(6, zone);
    let since = now - chrono::Duration::hours(i64::from(query.0.recent_hours));

    // Four statements, whatever the number of users. The scope, the recent events and the kill
    // switch run side by side; the trend needs the scope's ids, and runs while the users table is
    // built and serialized (joining polls the query first, which sends it).
    // The risk profiles come from memory (two statements more only while the listener is down).
    let (rows, (errors, pretrade_blocked), global, profiles) = tokio::try_join!(
        sql::scope_users(&state.store, &filter, &today, now),
        sql::recent_events(&state.store, since),
        trading_control::read(&state.store, None),
        state.risk_profiles.view(),
    )?;
    let ids: Vec<UserId> = rows.iter().filter(|r| r.in_scope).map(|r| r.user_id).collect();
    let (trends, scope) = tokio::join!(sql::trends(&state.store, &ids, first.day, today.day), async {
        summarise_scope(&profiles, rows)
    });
    let scope = scope?;

    let out = SummaryOut {
        generated_at: now.to_rfc3339_opts(SecondsFormat::Micros, false),
        day: today.day,
        overall_status: overall_status(scope.security.missing, scope.security.stale, scope.blocked),
        status_reasons: status_reasons(scope.security.missing, scope.security.stale, scope.blocked),
        trading_control: global.into(),
        generated_for: viewer.0.email,
        security: Security {
            total_users: scope.security.total_users,
            users_missing_2fa: scope.security.missing,
            users_with_stale_secrets: scope.security.stale,
            max_secret_age_days: filter.max_secret_age_days,
        },
        operations: Operations {
            trades_today_total: scope.trades,
            open_positions_total: scope.open,
            blocked_open_attempts_total: scope.blocked,
        },
        recent_events: RecentEvents {
            errors_last_24h: errors,
            pretrade_blocked_last_24h: pretrade_blocked,
        },
        profile_productivity: scope.productivity,
        trends_7d: trends?
            .into_iter()
            .map(|t| TrendDay {
                day: t.day,
                trades_total: t.trades_total,
                blocked_open_attempts_total: t.blocked_open_attempts_total,
                errors_total: t.errors_total,
            })
            .collect(),
        users: scope.users,
    };
    Ok(HttpResponse::Ok().json(out))
}

/// The summary's parts that come from the posture users (security) and the users in scope
/// (the rest), the users table already serialized (the largest part of the answer: ~3 MB at
/// 10,000 users).
struct ScopeSummary {
    security: SecurityCounts,
    trades: i64,
    open: i64,
    blocked: i64,
    productivity: Vec<ProfileRow>,
    users: Box<RawValue>,
}

/// The security block counts every posture user (after `real_only` only): a service user
/// without 2FA is a finding even when the users table hides service users.
struct SecurityCounts {
    total_users: i64,
    missing: i64,
    stale: i64,
}

fn summarise_scope(view: &ProfilesView, rows: Vec<sql::ScopeUserRow>) -> HttpResult<ScopeSummary> {
    let security = SecurityCounts {
        total_users: rows.len() as i64,
        missing: rows
            .iter()
            .filter(|r| missing_2fa(r.role, r.two_factor_enabled))
            .count() as i64,
        stale: rows.iter().filter(|r| r.stale_secret).count() as i64,
    };
    let rows: Vec<sql::ScopeUserRow> = rows.into_iter().filter(|r| r.in_scope).collect();
    let profiles: Vec<Arc<RiskProfile>> = rows.iter().map(|r| view.resolve(r.user_id, &r.email).profile).collect();
    let productivity = profile_productivity(rows.iter().zip(&profiles).map(|(r, p)| ProfileInput {
        risk_profile: &p.profile_name,
        max_trades_per_day: p.max_trades_per_day,
        trades_today: i64::from(r.trades_today),
        blocked_open_attempts_today: r.blocked_open_attempts_today,
        realized_pnl_today: r.realized_pnl_today,
    }))
    .into_iter()
    .map(|productivity| {
        let limits = profiles
            .iter()
            .find(|p| p.profile_name == productivity.risk_profile)
            .map(|p| Limits::from(p.as_ref()));
        ProfileRow { productivity, limits }
    })
    .collect();
    let trades = rows.iter().map(|r| i64::from(r.trades_today)).sum();
    let open = rows.iter().map(|r| i64::from(r.open_positions_now)).sum();
    let blocked = rows.iter().map(|r| r.blocked_open_attempts_today).sum();
    let users: Vec<SummaryUser> = rows
        .into_iter()
        .zip(profiles)
        .map(|(r, p)| SummaryUser {
            user_id: r.user_id,
            email: r.email,
            role: r.role,
            risk_profile: p.profile_name.clone(),
            two_factor_enabled: r.two_factor_enabled,
            binance_secret_configured: r.binance_secret_configured,
            ibkr_secret_configured: r.ibkr_secret_configured,
            trades_today: r.trades_today,
            open_positions_now: r.open_positions_now,
            blocked_open_attempts_today: r.blocked_open_attempts_today,
            realized_pnl_today: round4(r.realized_pnl_today),
            trading_state: r.trading_state,
        })
        .collect();
    let users = serde_json::value::to_raw_value(&users).map_err(|err| {
        tracing::error!(error = %err, "serializing the dashboard's users");
        ApiError::Internal
    })?;
    Ok(ScopeSummary {
        security,
        trades,
        open,
        blocked,
        productivity,
        users,
    })
}

/// Escapes text for an HTML attribute value.
fn html_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page itself: no auth to load it; the data routes check the token.
#[get("/ops/dashboard")]
pub async fn page(state: Shared) -> HttpResponse {
    let body = PAGE.replace(TRACKER_PLACEHOLDER, &html_attr(&state.settings.incident_tracker_url));
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; \
             frame-ancestors 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(daily_compare).service(summary).service(page);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained() {
        assert!(PAGE.contains(TRACKER_PLACEHOLDER));
        for external in ["http://", "https://", "//cdn", "src=\""] {
            assert!(!PAGE.contains(external), "page references {external}");
        }
        // The one link is the favicon, inline, so the browser asks the server for nothing.
        assert_eq!(PAGE.matches("<link ").count(), 1);
        assert!(PAGE.contains(r#"<link rel="icon" href="data:,">"#));
        assert!(!PAGE.contains("innerHTML"), "page must not insert HTML");
    }

    #[test]
    fn attribute_escaping() {
        assert_eq!(
            html_attr("https://x/new?a=1&b=\"<x>\""),
            "https://x/new?a=1&amp;b=&quot;&lt;x&gt;&quot;"
        );
    }
}
