//! The ops dashboard's JSON routes against seeded data: filters, rounding, status colours,
//! trends bucketed by the Bogota date, service users, and permissions.
mod common;
use common::*;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::America::Bogota;
use reqwest::Method;
use serde_json::Value;

/// A token as `/auth/login` issues it (HS256 with the daemon's SECRET_KEY), so these tests do
/// not depend on the auth routes.
fn mint(email: &str, role: &str) -> String {
    let keys = crypto_saas::auth::jwt::JwtKeys::new(&secrecy::SecretString::from(SECRET_KEY));
    keys.issue(email, role)
}

fn bogota_today() -> NaiveDate {
    Utc::now().with_timezone(&Bogota).date_naive()
}

/// An instant given as a Bogota wall-clock time `days_ago` days before today.
fn bogota_at(days_ago: i64, h: u32, m: u32) -> DateTime<Utc> {
    let day = bogota_today() - Duration::days(days_ago);
    Bogota
        .from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.to_rfc3339())
}

/// Inserts a user row and returns its id.
fn user(db: &TestDb, email: &str, role: &str, totp: bool) -> String {
    db.sql(&format!(
        "INSERT INTO users (email, password_hash, role, totp_enabled) VALUES ('{email}', 'x', '{role}', {totp}) RETURNING id"
    ))
}

fn secret(db: &TestDb, user_id: &str, exchange: &str, updated: DateTime<Utc>) {
    db.sql(&format!(
        "INSERT INTO exchange_secrets (user_id, exchange, key_id, api_key_enc, api_secret_enc, updated_at)
         VALUES ('{user_id}', '{exchange}', 'k1', 'x', 'x', {})",
        ts(updated)
    ));
}

fn risk(db: &TestDb, user_id: &str, day: NaiveDate, trades: i32, pnl: &str) {
    db.sql(&format!(
        "INSERT INTO risk_daily (user_id, day, trades_count, realized_pnl) VALUES ('{user_id}', '{day}', {trades}, {pnl})"
    ));
}

fn audit(db: &TestDb, user_id: Option<&str>, action: &str, at: DateTime<Utc>) {
    let uid = user_id.map(|u| format!("'{u}'")).unwrap_or_else(|| "NULL".into());
    db.sql(&format!(
        "INSERT INTO audit_events (user_id, action, created_at) VALUES ({uid}, '{action}', {})",
        ts(at)
    ));
}

fn open_now(db: &TestDb, user_id: &str, n: i32) {
    db.sql(&format!(
        "INSERT INTO trading_state (user_id, open_positions) VALUES ('{user_id}', {n})"
    ));
}

fn closed_position(db: &TestDb, user_id: &str, closed_at: DateTime<Utc>) {
    db.sql(&format!(
        "INSERT INTO positions (user_id, symbol, qty, entry_price, status, closed_at)
         VALUES ('{user_id}', 'BTCUSDT', 1, 100, 'CLOSED', {})",
        ts(closed_at)
    ));
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn emails(body: &Value) -> Vec<String> {
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect()
}

fn find<'a>(body: &'a Value, email: &str) -> &'a Value {
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("{email} missing from {body}"))
}

struct World {
    db: TestDb,
    d: Daemon,
    admin: String,
    alice: String,
}

const ADMIN: &str = "ops.admin@corp.io";

/// A small population: an admin without 2FA, two traders with 2FA on different profiles and
/// exchanges (bob's secret is stale), a clean trader, test users and a service user.
async fn world() -> World {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("RISK_PROFILE_LOOSE_EMAIL", "Bob@corp.io")]);
    let today = bogota_today();
    let admin_id = user(&db, ADMIN, "admin", false);
    let alice = user(&db, "alice@corp.io", "trader", true);
    let bob = user(&db, "bob@corp.io", "trader", true);
    let dave = user(&db, "dave@corp.io", "trader", true);
    let smoke = user(&db, "smoke.run1@corp.io", "trader", false);
    let carol = user(&db, "carol@example.com", "trader", false);
    let bot = user(&db, "ops.bot.feeder@corp.io", "service", false);
    let _ = (admin_id, dave, carol);

    secret(&db, &alice, "BINANCE", Utc::now() - Duration::days(2));
    secret(&db, &bob, "IBKR", Utc::now() - Duration::days(40));
    secret(&db, &bob, "BINANCE", Utc::now() - Duration::days(1));
    secret(&db, &bot, "BINANCE", Utc::now() - Duration::days(1));

    risk(&db, &alice, today, 2, "1.23456");
    risk(&db, &bob, today, 1, "-0.5");
    risk(&db, &smoke, today, 3, "7");
    risk(&db, &bot, today, 1, "0");
    open_now(&db, &alice, 1);
    open_now(&db, &bot, 2);

    // Alice: two blocked opens today, one at 20:00 Bogota yesterday (01:00 UTC today: not today).
    audit(
        &db,
        Some(&alice),
        "position.open.blocked.cooldown",
        Utc::now() - Duration::minutes(2),
    );
    audit(
        &db,
        Some(&alice),
        "position.open.blocked.max_trades",
        Utc::now() - Duration::minutes(1),
    );
    audit(
        &db,
        Some(&alice),
        "position.open.blocked.daily_stop",
        bogota_at(1, 20, 0),
    );
    audit(&db, Some(&alice), "position.open", Utc::now() - Duration::minutes(3));
    audit(
        &db,
        Some(&smoke),
        "position.open.blocked.cooldown",
        Utc::now() - Duration::minutes(1),
    );

    // Closed positions: one today, one at 20:00 Bogota yesterday (not today).
    closed_position(&db, &alice, Utc::now() - Duration::seconds(30));
    closed_position(&db, &alice, bogota_at(1, 20, 0));

    World {
        admin: mint(ADMIN, "admin"),
        db,
        d,
        alice,
    }
}

async fn summary(w: &World, query: &str) -> Value {
    let (status, body) = call(
        &w.d,
        Method::GET,
        &format!("/ops/dashboard/summary{query}"),
        &w.admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

#[tokio::test]
async fn summary_scope_filters_rounding_and_status() {
    let w = world().await;

    let body = summary(&w, "").await;
    assert_eq!(body["day"], bogota_today().to_string());
    assert_eq!(body["generated_for"], ADMIN);
    assert!(body["generated_at"].as_str().unwrap().contains('T'));
    // real_only=true by default; service users hidden; ordered by email.
    assert_eq!(emails(&body), ["alice@corp.io", "bob@corp.io", "dave@corp.io", ADMIN]);
    // The admin misses 2FA and bob's IBKR secret is 40 days old: red. The security block counts
    // every posture user after real_only, the service user the table hides included.
    assert_eq!(body["overall_status"], "red");
    assert_eq!(body["security"]["total_users"], 5);
    assert_eq!(body["security"]["users_missing_2fa"], 1);
    assert_eq!(body["security"]["users_with_stale_secrets"], 1);
    assert_eq!(body["security"]["max_secret_age_days"], 30);
    assert_eq!(body["operations"]["trades_today_total"], 3);
    assert_eq!(body["operations"]["open_positions_total"], 1);
    assert_eq!(body["operations"]["blocked_open_attempts_total"], 2);

    let alice = find(&body, "alice@corp.io");
    assert_eq!(alice["user_id"], w.alice.as_str());
    assert_eq!(alice["role"], "trader");
    assert_eq!(alice["risk_profile"], "model2_conservador_productivo");
    assert_eq!(alice["two_factor_enabled"], true);
    assert_eq!(alice["binance_secret_configured"], true);
    assert_eq!(alice["ibkr_secret_configured"], false);
    assert_eq!(alice["trades_today"], 2);
    assert_eq!(alice["open_positions_now"], 1);
    assert_eq!(alice["blocked_open_attempts_today"], 2);
    assert_eq!(f(&alice["realized_pnl_today"]), 1.2346);
    let bob = find(&body, "bob@corp.io");
    assert_eq!(bob["risk_profile"], "modelo_suelto_controlado");
    assert_eq!(bob["ibkr_secret_configured"], true);
    assert_eq!(bob["binance_secret_configured"], true);

    // Profiles: model2 = alice, dave, admin (capacity 9, 2 trades); loose = bob (capacity 4, 1 trade).
    let profiles = body["profile_productivity"].as_array().unwrap();
    assert_eq!(profiles.len(), 2);
    let m2 = &profiles[0];
    assert_eq!(m2["risk_profile"], "model2_conservador_productivo");
    assert_eq!(m2["users_count"], 3);
    assert_eq!(m2["trades_today_total"], 2);
    assert_eq!(m2["blocked_open_attempts_total"], 2);
    assert_eq!(f(&m2["realized_pnl_today_total"]), 1.2346);
    assert_eq!(f(&m2["avg_realized_pnl_per_user"]), 0.4115);
    assert_eq!(f(&m2["trades_utilization_pct"]), 22.22);
    let loose = &profiles[1];
    assert_eq!(loose["risk_profile"], "modelo_suelto_controlado");
    assert_eq!(loose["users_count"], 1);
    assert_eq!(f(&loose["realized_pnl_today_total"]), -0.5);
    assert_eq!(f(&loose["trades_utilization_pct"]), 25.0);

    // Filters: email_contains is case-insensitive; exchange means that secret is configured.
    let only_alice = summary(&w, "?email_contains=ALICE").await;
    assert_eq!(emails(&only_alice), ["alice@corp.io"]);
    assert_eq!(
        only_alice["overall_status"], "red",
        "the security block, and so the status, counts every posture user whatever the filter"
    );
    let dave = summary(&w, "?email_contains=dave").await;
    assert_eq!(dave["operations"]["trades_today_total"], 0);
    assert_eq!(
        emails(&summary(&w, "?exchange=binance").await),
        ["alice@corp.io", "bob@corp.io"]
    );
    assert_eq!(emails(&summary(&w, "?exchange=IBKR").await), ["bob@corp.io"]);
    assert_eq!(emails(&summary(&w, "?exchange=ALL").await).len(), 4);
    // A tighter age limit makes alice's 2-day-old secret stale too, and the service user's
    // day-old one (the security block counts service users).
    let strict = summary(&w, "?max_secret_age_days=1").await;
    assert_eq!(strict["security"]["users_with_stale_secrets"], 3);
    assert_eq!(strict["security"]["max_secret_age_days"], 1);

    // Service users only when asked; test users only without real_only.
    let with_bots = summary(&w, "?include_service_users=true").await;
    assert!(emails(&with_bots).contains(&"ops.bot.feeder@corp.io".to_string()));
    assert_eq!(with_bots["operations"]["open_positions_total"], 3);
    assert_eq!(
        with_bots["security"]["users_missing_2fa"], 1,
        "service accounts need no 2FA"
    );
    let everyone = summary(&w, "?real_only=false").await;
    assert_eq!(
        emails(&everyone),
        [
            "alice@corp.io",
            "bob@corp.io",
            "carol@example.com",
            "dave@corp.io",
            ADMIN,
            "smoke.run1@corp.io"
        ]
    );
    assert_eq!(everyone["operations"]["blocked_open_attempts_total"], 3);
    assert_eq!(everyone["security"]["users_missing_2fa"], 3);

    // Bad filter values are 422 in the FastAPI shape.
    let (status, body) = call(
        &w.d,
        Method::GET,
        "/ops/dashboard/summary?exchange=KRAKEN",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"][1], "exchange");

    // With the security findings fixed, the filtered views show their own operations.
    w.db.sql(&format!(
        "UPDATE users SET totp_enabled = true WHERE email = '{ADMIN}'; \
         UPDATE exchange_secrets SET updated_at = now() \
         WHERE user_id = (SELECT id FROM users WHERE email = 'bob@corp.io')"
    ));
    let only_alice = summary(&w, "?email_contains=ALICE").await;
    assert_eq!(
        only_alice["overall_status"], "yellow",
        "blocked opens today, nothing red"
    );
    assert_eq!(summary(&w, "?email_contains=dave").await["overall_status"], "green");
    drop(w.db);
}

#[tokio::test]
async fn daily_compare_counts_by_the_bogota_day() {
    let w = world().await;
    let (status, body) = call(&w.d, Method::GET, "/ops/risk/daily-compare", &w.admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["day"], bogota_today().to_string());
    assert_eq!(body["generated_for"], ADMIN);
    // real_only=false by default: everyone, service users included, by email.
    assert_eq!(
        emails(&body),
        [
            "alice@corp.io",
            "bob@corp.io",
            "carol@example.com",
            "dave@corp.io",
            ADMIN,
            "ops.bot.feeder@corp.io",
            "smoke.run1@corp.io"
        ]
    );
    let alice = find(&body, "alice@corp.io");
    assert_eq!(alice["user_id"], w.alice.as_str());
    assert_eq!(alice["role"], "trader");
    assert_eq!(alice["risk_profile"], "model2_conservador_productivo");
    let limits = &alice["limits"];
    assert_eq!(f(&limits["max_risk_per_trade_pct"]), 0.5);
    assert_eq!(f(&limits["max_daily_loss_pct"]), 1.5);
    assert_eq!(limits["max_trades_per_day"], 3);
    assert_eq!(limits["max_open_positions"], 2);
    assert_eq!(limits["cooldown_between_trades_minutes"], 30);
    assert_eq!(f(&limits["min_rr"]), 1.5);
    let today = &alice["today"];
    assert_eq!(today["day"], bogota_today().to_string());
    assert_eq!(today["trades_today"], 2);
    assert_eq!(f(&today["realized_pnl_today"]), 1.23456);
    assert_eq!(f(&today["daily_stop_threshold"]), -1.5);
    assert_eq!(today["open_positions_now"], 1);
    // The position closed and the open blocked at 20:00 Bogota yesterday are not today's.
    assert_eq!(today["closed_positions_today"], 1);
    assert_eq!(today["blocked_open_attempts_today"], 2);
    assert_eq!(f(&today["trades_utilization_pct"]), 66.67);

    let bob = find(&body, "bob@corp.io");
    assert_eq!(bob["risk_profile"], "modelo_suelto_controlado");
    assert_eq!(bob["limits"]["max_trades_per_day"], 4);
    assert_eq!(bob["limits"]["cooldown_between_trades_minutes"], 20);
    assert_eq!(f(&bob["limits"]["min_rr"]), 1.3);
    assert_eq!(f(&bob["today"]["daily_stop_threshold"]), -2.0);
    assert_eq!(f(&bob["today"]["trades_utilization_pct"]), 25.0);
    let dave = find(&body, "dave@corp.io");
    assert_eq!(dave["today"]["trades_today"], 0);
    assert_eq!(f(&dave["today"]["realized_pnl_today"]), 0.0);
    assert_eq!(dave["today"]["open_positions_now"], 0);

    let (status, real) = call(
        &w.d,
        Method::GET,
        "/ops/risk/daily-compare?real_only=true",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        emails(&real),
        [
            "alice@corp.io",
            "bob@corp.io",
            "dave@corp.io",
            ADMIN,
            "ops.bot.feeder@corp.io"
        ]
    );
}

#[tokio::test]
async fn trends_are_seven_bogota_days_oldest_first() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = mint(ADMIN, "admin");
    user(&db, ADMIN, "admin", true);
    let alice = user(&db, "alice@corp.io", "trader", true);
    let smoke = user(&db, "smoke.t@corp.io", "trader", true);
    let today = bogota_today();

    risk(&db, &alice, today, 1, "0");
    risk(&db, &alice, today - Duration::days(1), 4, "0");
    risk(&db, &alice, today - Duration::days(6), 2, "0");
    risk(&db, &alice, today - Duration::days(7), 9, "0"); // outside the window
    risk(&db, &smoke, today - Duration::days(1), 5, "0"); // outside the scope (real_only)

    // 20:00 Bogota is 01:00 UTC of the next day: these belong to the Bogota date.
    audit(&db, Some(&alice), "position.open.blocked.cooldown", bogota_at(2, 20, 0));
    audit(
        &db,
        Some(&alice),
        "position.open.blocked.max_trades",
        bogota_at(2, 23, 59),
    );
    audit(
        &db,
        Some(&alice),
        "execution.binance.test_order.error",
        bogota_at(1, 20, 0),
    );
    audit(
        &db,
        Some(&alice),
        "execution.blocked.exchange_disabled",
        bogota_at(3, 0, 0),
    );
    audit(
        &db,
        Some(&alice),
        "execution.ibkr.test_order.error",
        bogota_at(7, 23, 59),
    ); // outside
    audit(&db, Some(&alice), "execution.prepare", bogota_at(1, 10, 0)); // not an error
    audit(&db, Some(&alice), "pretrade.check.blocked", bogota_at(1, 10, 0)); // not an error
    audit(
        &db,
        Some(&smoke),
        "execution.binance.test_order.error",
        bogota_at(1, 10, 0),
    ); // not in scope
    audit(&db, None, "execution.binance.test_order.error", bogota_at(1, 11, 0)); // no user

    let (status, body) = call(&d, Method::GET, "/ops/dashboard/summary", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    let trends = body["trends_7d"].as_array().unwrap();
    let days: Vec<String> = trends.iter().map(|t| t["day"].as_str().unwrap().to_string()).collect();
    let expected: Vec<String> = (0..7).rev().map(|k| (today - Duration::days(k)).to_string()).collect();
    assert_eq!(days, expected, "7 days, oldest first, ending today");
    let row = |k: usize| &trends[6 - k];
    let triple = |k: usize| {
        (
            row(k)["trades_total"].as_i64().unwrap(),
            row(k)["blocked_open_attempts_total"].as_i64().unwrap(),
            row(k)["errors_total"].as_i64().unwrap(),
        )
    };
    assert_eq!(triple(0), (1, 0, 0));
    assert_eq!(triple(1), (4, 0, 1));
    assert_eq!(triple(2), (0, 2, 0));
    assert_eq!(triple(3), (0, 0, 1));
    assert_eq!(triple(4), (0, 0, 0));
    assert_eq!(triple(5), (0, 0, 0));
    assert_eq!(triple(6), (2, 0, 0));

    // With real_only=false the smoke user joins the scope.
    let (_, all) = call(&d, Method::GET, "/ops/dashboard/summary?real_only=false", &admin, None).await;
    assert_eq!(all["trends_7d"][5]["trades_total"], 9);
    assert_eq!(all["trends_7d"][5]["errors_total"], 2);
}

#[tokio::test]
async fn recent_events_count_every_user_within_the_window() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = mint(ADMIN, "admin");
    user(&db, ADMIN, "admin", true);
    let alice = user(&db, "alice@corp.io", "trader", true);
    let smoke = user(&db, "smoke.t@corp.io", "trader", true);
    let now = Utc::now();
    audit(
        &db,
        Some(&alice),
        "execution.binance.test_order.error",
        now - Duration::hours(1),
    );
    audit(
        &db,
        Some(&smoke),
        "execution.blocked.exchange_disabled",
        now - Duration::hours(2),
    );
    audit(&db, None, "notify.telegram.error", now - Duration::hours(3));
    audit(
        &db,
        Some(&alice),
        "execution.ibkr.test_order.error",
        now - Duration::hours(30),
    );
    audit(&db, Some(&alice), "execution.error.retry", now - Duration::hours(1)); // not an error
    audit(&db, Some(&alice), "pretrade.check.blocked", now - Duration::hours(1));
    audit(&db, Some(&smoke), "pretrade.check.blocked", now - Duration::hours(5));
    audit(&db, Some(&alice), "pretrade.check.blocked", now - Duration::hours(40));
    audit(&db, Some(&alice), "pretrade.check.passed", now - Duration::hours(1));

    let get = |q: &'static str| {
        let d = &d;
        let admin = &admin;
        async move {
            let (status, body) = call(d, Method::GET, &format!("/ops/dashboard/summary{q}"), admin, None).await;
            assert_eq!(status, 200, "{body}");
            (
                body["recent_events"]["errors_last_24h"].as_i64().unwrap(),
                body["recent_events"]["pretrade_blocked_last_24h"].as_i64().unwrap(),
            )
        }
    };
    assert_eq!(get("").await, (3, 2));
    assert_eq!(get("?recent_hours=48").await, (4, 3));
    assert_eq!(get("?recent_hours=2&email_contains=nobody").await.1, 1);
}

#[tokio::test]
async fn only_admins_read_the_dashboard() {
    let db = TestDb::new();
    let d = Daemon::start_with(
        &db,
        &[(
            "INCIDENT_TRACKER_URL",
            "https://tracker.example.org/new?team=ops&x=\"1\"",
        )],
    );
    user(&db, "trader@corp.io", "trader", false);
    let trader = mint("trader@corp.io", "trader");
    for path in ["/ops/dashboard/summary", "/ops/risk/daily-compare"] {
        let (status, body) = call(&d, Method::GET, path, &trader, None).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["detail"], "Insufficient permissions");
        let resp = client().get(d.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        let (status, body) = call(&d, Method::GET, path, "not-a-token", None).await;
        assert_eq!(status, 401);
        assert_eq!(body["detail"], "Invalid authentication credentials");
    }
    // A demoted admin's token stops working at once: the role comes from the database.
    let stale_admin = mint("trader@corp.io", "admin");
    let (status, _) = call(&d, Method::GET, "/ops/dashboard/summary", &stale_admin, None).await;
    assert_eq!(status, 403);

    // The page itself needs no token and carries the configured tracker URL, escaped.
    let resp = client().get(d.url("/ops/dashboard")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("content=\"https://tracker.example.org/new?team=ops&amp;x=&quot;1&quot;\""));
    assert!(html.contains("id=\"login-form\""));
}

/// The dashboard filters on the generated columns `users.test_account` / `service_account`;
/// they must classify exactly as the domain rules the rest of the daemon uses.
#[test]
fn account_kind_columns_follow_the_domain_rules() {
    use actors::domain::{is_service_email, is_test_email};
    let db = TestDb::new();
    for email in [
        "smoke.a@corp.io",
        "SMOKE.B@corp.io",
        "disabled_c@corp.io",
        "d@Example.COM",
        "e@example.invalid",
        "f@example.community",
        "smoke@corp.io",
        "ops.bot.g@corp.io",
        "OPS.Bot.h@corp.io",
        "ops.botany@corp.io",
        "trader@desk.io",
    ] {
        let id = user(&db, email, "trader", false);
        let kinds = db.sql(&format!(
            "SELECT test_account::text || ',' || service_account::text FROM users WHERE id = '{id}'"
        ));
        assert_eq!(
            kinds,
            format!("{},{}", is_test_email(email), is_service_email(email)),
            "{email}"
        );
    }
}

/// The per-day counts of blocked opens and errors, straight from the audit trail in `zone`, with
/// the daemon's own error predicate: what the `audit_daily` roll-up must always equal.
fn recount(db: &TestDb, zone: &str) -> String {
    let errors = actors::store::dashboard::ERROR_PREDICATE;
    db.sql(&format!(
        "SELECT a.user_id, (a.created_at AT TIME ZONE '{zone}')::date,
                count(*) FILTER (WHERE a.action LIKE 'position.open.blocked.%'),
                count(*) FILTER (WHERE {errors})
         FROM audit_events a
         WHERE a.user_id IS NOT NULL AND (a.action LIKE 'position.open.blocked.%' OR {errors})
         GROUP BY 1, 2 ORDER BY 1, 2"
    ))
}

fn rolled_up(db: &TestDb) -> String {
    db.sql(
        "SELECT user_id, day, blocked_opens, errors FROM audit_daily
         WHERE blocked_opens <> 0 OR errors <> 0 ORDER BY 1, 2",
    )
}

#[test]
fn the_audit_roll_up_follows_every_change_to_the_audit_trail() {
    let db = TestDb::new();
    let alice = user(&db, "alice@corp.io", "trader", true);
    let bob = user(&db, "bob@corp.io", "trader", true);
    let day = |k: i64| bogota_today() - Duration::days(k);

    audit(&db, Some(&alice), "position.open.blocked.cooldown", bogota_at(1, 20, 0));
    audit(
        &db,
        Some(&alice),
        "position.open.blocked.max_trades",
        bogota_at(1, 23, 59),
    );
    audit(
        &db,
        Some(&alice),
        "execution.binance.test_order.error",
        bogota_at(1, 21, 0),
    );
    audit(
        &db,
        Some(&bob),
        "execution.blocked.exchange_disabled",
        bogota_at(2, 0, 0),
    );
    audit(&db, Some(&bob), "position.open", bogota_at(2, 1, 0)); // not counted
    audit(&db, Some(&bob), "pretrade.check.blocked", bogota_at(2, 1, 0)); // not counted
    audit(&db, None, "execution.ibkr.test_order.error", bogota_at(2, 2, 0)); // no user
    let expected = format!("{alice}|{}|2|1\n{bob}|{}|0|1", day(1), day(2));
    assert_eq!(rolled_up(&db), expected, "inserts, bucketed by the Bogota date");
    assert_eq!(rolled_up(&db), recount(&db, "America/Bogota"));

    // Changes made behind the daemon's back: a moved event, a re-labelled one, a re-assigned one.
    db.sql("UPDATE audit_events SET created_at = created_at - interval '3 days' WHERE action = 'position.open.blocked.cooldown'");
    db.sql("UPDATE audit_events SET action = 'execution.ibkr.test_order.error' WHERE action = 'position.open'");
    db.sql(&format!(
        "UPDATE audit_events SET user_id = '{alice}' WHERE action = 'execution.blocked.exchange_disabled'"
    ));
    let expected = format!(
        "{alice}|{}|1|0\n{alice}|{}|0|1\n{alice}|{}|1|1\n{bob}|{}|0|1",
        day(4),
        day(2),
        day(1),
        day(2)
    );
    assert_eq!(rolled_up(&db), expected, "after updates");
    assert_eq!(rolled_up(&db), recount(&db, "America/Bogota"));

    db.sql("DELETE FROM audit_events WHERE action LIKE '%.error'"); // not execution.blocked.*
    let expected = format!("{alice}|{}|1|0\n{alice}|{}|0|1\n{alice}|{}|1|0", day(4), day(2), day(1));
    assert_eq!(rolled_up(&db), expected, "after deletes");
    assert_eq!(rolled_up(&db), recount(&db, "America/Bogota"));

    db.sql("TRUNCATE audit_events");
    assert_eq!(db.sql("SELECT count(*) FROM audit_daily"), "0", "after truncation");
}

#[tokio::test]
async fn a_daemon_with_another_risk_zone_rebuilds_the_roll_up_before_serving() {
    let db = TestDb::new();
    let admin = mint(ADMIN, "admin");
    user(&db, ADMIN, "admin", true);
    let alice = user(&db, "alice@corp.io", "trader", true);
    // 20:00 Bogota yesterday is 01:00 UTC today: the error moves a day with the zone.
    let at = bogota_at(1, 20, 0);
    audit(&db, Some(&alice), "execution.binance.test_order.error", at);
    assert_eq!(
        rolled_up(&db),
        format!("{alice}|{}|0|1", bogota_today() - Duration::days(1))
    );

    let d = Daemon::start_with(&db, &[("RISK_TIMEZONE", "UTC")]);
    assert_eq!(db.sql("SELECT zone FROM audit_daily_zone"), "UTC");
    assert_eq!(rolled_up(&db), format!("{alice}|{}|0|1", at.date_naive()));
    assert_eq!(rolled_up(&db), recount(&db, "UTC"));
    let (status, body) = call(&d, Method::GET, "/ops/dashboard/summary", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    let trends = body["trends_7d"].as_array().unwrap();
    let errors: Vec<(String, i64)> = trends
        .iter()
        .filter(|t| t["errors_total"].as_i64() != Some(0))
        .map(|t| {
            (
                t["day"].as_str().unwrap().to_string(),
                t["errors_total"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(errors, vec![(at.date_naive().to_string(), 1)]);
}
