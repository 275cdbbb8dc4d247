//! Risk profiles in the database (API.md, "Trading controls"): the seeded profiles and their
//! routes, the ranges, the audit, per-user overrides and their precedence over the email settings,
//! the resolved profile on the risk and dashboard reads, and a change made through one daemon
//! applied by another within a second (an open refused or admitted by the new numbers), kept
//! across restarts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const MODEL2: &str = "model2_conservador_productivo";
const LOOSE: &str = "modelo_suelto_controlado";
const PROFILES: &str = "/ops/admin/risk/profiles";

/// A user made directly in the database with a token signed by the daemon's key; admin routes
/// read the role from the database.
fn seed_user(db: &TestDb, email: &str, role: &str) -> (String, String) {
    let id = db.sql(&format!(
        "WITH u AS (INSERT INTO users (email, password_hash, role) VALUES ('{email}', 'x', '{role}') RETURNING id), \
         t AS (INSERT INTO trading_state (user_id) SELECT id FROM u) SELECT id FROM u"
    ));
    assert_eq!(id.len(), 36, "a user id: {id}");
    (id, mint_token(email, role))
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.sql(sql).parse().unwrap()
}

/// model2's numbers as the contract's table has them, with `changes` applied.
fn model2_with(changes: Value) -> Value {
    let mut body = json!({
        "max_risk_per_trade_pct": 0.50, "max_daily_loss_pct": 1.50, "max_trades_per_day": 3,
        "max_open_positions": 2, "cooldown_between_trades_minutes": 30, "max_leverage": 1.0,
        "stop_loss_required": true, "min_rr": 1.5
    });
    for (k, v) in changes.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn put_profile(d: &Daemon, admin: &str, name: &str, body: Value) -> (u16, Value) {
    call(d, Method::PUT, &format!("{PROFILES}/{name}"), admin, Some(body)).await
}

async fn put_override(d: &Daemon, admin: &str, user_id: &str, body: Value) -> (u16, Value) {
    call(
        d,
        Method::PUT,
        &format!("/users/{user_id}/risk-profile"),
        admin,
        Some(body),
    )
    .await
}

async fn risk_today(d: &Daemon, token: &str) -> Value {
    let (status, body) = call(d, Method::GET, "/positions/risk/today", token, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn open(d: &Daemon, token: &str, signal_id: &str) -> (u16, Value) {
    let path = format!("/positions/open_from_signal?signal_id={signal_id}&qty=1");
    call(d, Method::POST, &path, token, None).await
}

/// Polls the risk read of `token` on `d` until `field` is `expected`; fails after a second.
async fn seen_within_a_second(d: &Daemon, token: &str, field: &str, expected: Value) -> Duration {
    let started = Instant::now();
    loop {
        let body = risk_today(d, token).await;
        if body[field] == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{field} is still {} after a second, expected {expected}",
            body[field]
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Numbers compare by value (the daemon keeps each decimal's scale: `1.50`, as the table writes it).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn by_name<'a>(profiles: &'a Value, name: &str) -> &'a Value {
    profiles
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["profile_name"] == name)
        .unwrap_or_else(|| panic!("{name} in {profiles}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seeded_profiles_are_listed_and_changed_only_within_their_ranges() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (admin_id, admin) = seed_user(&db, "ops@desk.io", "admin");
    let (_, trader) = seed_user(&db, "t1@desk.io", "trader");

    let (status, profiles) = call(&d, Method::GET, PROFILES, &admin, None).await;
    assert_eq!(status, 200, "{profiles}");
    assert_eq!(profiles.as_array().unwrap().len(), 2, "{profiles}");
    let model2 = by_name(&profiles, MODEL2);
    for (field, value) in model2_with(json!({})).as_object().unwrap() {
        assert!(
            same(&model2[field], value),
            "{MODEL2}.{field}: {} != {value}",
            model2[field]
        );
    }
    assert_eq!(model2["who"], "default, and RISK_PROFILE_MODEL2_EMAIL");
    assert_eq!(model2["updated_by"], Value::Null);
    let loose = by_name(&profiles, LOOSE);
    let expected = json!({
        "max_risk_per_trade_pct": 0.75, "max_daily_loss_pct": 2.00, "max_trades_per_day": 4,
        "max_open_positions": 2, "cooldown_between_trades_minutes": 20, "max_leverage": 1.0,
        "stop_loss_required": true, "min_rr": 1.3
    });
    for (field, value) in expected.as_object().unwrap() {
        assert!(
            same(&loose[field], value),
            "{LOOSE}.{field}: {} != {value}",
            loose[field]
        );
    }

    // Outside each range: 422 naming the field, nothing changed.
    for (field, bad) in [
        ("max_risk_per_trade_pct", json!(0)),
        ("max_risk_per_trade_pct", json!(5.01)),
        ("max_daily_loss_pct", json!(0)),
        ("max_daily_loss_pct", json!(20.5)),
        ("max_trades_per_day", json!(0)),
        ("max_trades_per_day", json!(101)),
        ("max_open_positions", json!(0)),
        ("max_open_positions", json!(51)),
        ("cooldown_between_trades_minutes", json!(-1)),
        ("cooldown_between_trades_minutes", json!(1441)),
        ("max_leverage", json!(0.99)),
        ("max_leverage", json!(10.5)),
        ("min_rr", json!(0.49)),
        ("min_rr", json!(10.01)),
        ("max_trades_per_day", json!(2.5)),
        ("stop_loss_required", json!("yes")),
    ] {
        let (status, body) = put_profile(&d, &admin, MODEL2, model2_with(json!({ field: bad }))).await;
        assert_eq!(status, 422, "{field} = {bad}: {body}");
        assert_eq!(body["code"], "validation_error");
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["body", field]),
            "{field} = {bad}: {body}"
        );
    }
    let mut missing = model2_with(json!({}));
    missing.as_object_mut().unwrap().remove("min_rr");
    let (status, body) = put_profile(&d, &admin, MODEL2, missing).await;
    assert_eq!(
        (status, &body["detail"][0]["loc"]),
        (422, &json!(["body", "min_rr"])),
        "{body}"
    );
    let (status, body) = put_profile(&d, &admin, MODEL2, model2_with(json!({"profile_name": LOOSE}))).await;
    assert_eq!(
        (status, &body["detail"][0]["loc"]),
        (422, &json!(["body", "profile_name"])),
        "{body}"
    );
    // The edges are inside.
    let edges = json!({"max_risk_per_trade_pct": 5, "max_daily_loss_pct": 20, "max_trades_per_day": 100,
                       "max_open_positions": 50, "cooldown_between_trades_minutes": 1440,
                       "max_leverage": 10, "min_rr": 0.5});
    let (status, body) = put_profile(&d, &admin, LOOSE, model2_with(edges.clone())).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = put_profile(&d, &admin, "no_such_profile", model2_with(json!({}))).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("Risk profile not found")),
        "{body}"
    );
    assert_eq!(body["code"], "risk_profile_not_found");
    let (status, _) = put_profile(&d, &trader, MODEL2, model2_with(json!({}))).await;
    assert_eq!(status, 403);
    let (status, _) = call(&d, Method::GET, PROFILES, &trader, None).await;
    assert_eq!(status, 403);

    let change = model2_with(json!({"max_open_positions": 1, "max_risk_per_trade_pct": 0.25}));
    let (status, body) = put_profile(&d, &admin, MODEL2, change).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["max_open_positions"], 1, "{body}");
    assert_eq!(body["max_risk_per_trade_pct"], 0.25, "{body}");
    assert_eq!(body["updated_by"], "ops@desk.io");
    let (_, profiles) = call(&d, Method::GET, PROFILES, &admin, None).await;
    assert_eq!(by_name(&profiles, MODEL2)["max_open_positions"], 1);
    assert_eq!(by_name(&profiles, LOOSE)["cooldown_between_trades_minutes"], 1440);

    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_events WHERE action = 'risk.profile.updated'"
        ),
        2,
        "one per accepted change, none for a refusal"
    );
    let details: Value = serde_json::from_str(&db.sql(&format!(
        "SELECT details FROM audit_events WHERE action = 'risk.profile.updated' AND user_id = '{admin_id}' \
         AND entity_id = '{MODEL2}'"
    )))
    .unwrap();
    assert_eq!(details["profile_name"], MODEL2);
    assert_eq!(
        (
            &details["before"]["max_open_positions"],
            &details["after"]["max_open_positions"]
        ),
        (&json!(2), &json!(1))
    );
    assert_eq!(details["before"]["max_risk_per_trade_pct"], 0.5, "{details}");
    assert_eq!(details["after"]["max_risk_per_trade_pct"], 0.25, "{details}");
    assert_eq!(details["after"]["updated_by"], "ops@desk.io");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_override_wins_over_the_email_settings_which_win_over_the_default() {
    let db = TestDb::new();
    let d = Daemon::start_with(
        &db,
        &[
            ("RISK_PROFILE_LOOSE_EMAIL", "loose@desk.io"),
            ("RISK_PROFILE_MODEL2_EMAIL", "m2@desk.io"),
        ],
    );
    let (admin_id, admin) = seed_user(&db, "ops@desk.io", "admin");
    let (loose_id, loose) = seed_user(&db, "loose@desk.io", "trader");
    let (m2_id, _) = seed_user(&db, "m2@desk.io", "trader");
    let (plain_id, plain) = seed_user(&db, "plain@desk.io", "trader");

    let listing = || async {
        let (status, body) = call(&d, Method::GET, "/users/risk-profiles", &admin, None).await;
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["email"].as_str().unwrap().to_string(),
                    u["risk_profile"].as_str().unwrap().to_string(),
                    u["risk_profile_source"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let row = |email: &str, profile: &str, source: &str| (email.to_string(), profile.to_string(), source.to_string());
    assert_eq!(
        listing().await,
        [
            row("loose@desk.io", LOOSE, "email"),
            row("m2@desk.io", MODEL2, "email"),
            row("ops@desk.io", MODEL2, "default"),
            row("plain@desk.io", MODEL2, "default"),
        ]
    );

    let (status, body) = put_override(&d, &admin, &plain_id, json!({"profile_name": LOOSE})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"user_id": plain_id, "email": "plain@desk.io", "risk_profile": LOOSE, "risk_profile_source": "override"})
    );
    let (status, _) = put_override(&d, &admin, &loose_id, json!({"profile_name": MODEL2})).await;
    assert_eq!(status, 200);
    assert_eq!(
        listing().await,
        [
            row("loose@desk.io", MODEL2, "override"),
            row("m2@desk.io", MODEL2, "email"),
            row("ops@desk.io", MODEL2, "default"),
            row("plain@desk.io", LOOSE, "override"),
        ]
    );

    // The resolved profile, with its numbers, on the risk and dashboard reads.
    let today = risk_today(&d, &plain).await;
    assert_eq!(
        (
            &today["risk_profile"],
            &today["cooldown_between_trades_minutes"],
            &today["max_trades"]
        ),
        (&json!(LOOSE), &json!(20), &json!(4))
    );
    assert_eq!(risk_today(&d, &loose).await["risk_profile"], MODEL2);
    let (status, compare) = call(&d, Method::GET, "/ops/risk/daily-compare", &admin, None).await;
    assert_eq!(status, 200, "{compare}");
    let plain_row = compare["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == plain_id.as_str())
        .unwrap_or_else(|| panic!("{compare}"));
    assert_eq!(plain_row["risk_profile"], LOOSE);
    assert_eq!(plain_row["limits"]["max_trades_per_day"], 4);
    assert_eq!(plain_row["limits"]["max_risk_per_trade_pct"], 0.75);
    assert_eq!(plain_row["today"]["daily_stop_threshold"], -2.00);
    let (status, summary) = call(&d, Method::GET, "/ops/dashboard/summary?real_only=false", &admin, None).await;
    assert_eq!(status, 200, "{summary}");
    let summary_row = summary["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == plain_id.as_str())
        .unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(summary_row["risk_profile"], LOOSE);
    let groups = groups_of(&summary);
    assert!(groups_contains(&groups, &(LOOSE, 1)), "{groups:?}");
    assert!(groups.iter().any(|(name, _)| name == MODEL2), "{groups:?}");
    let loose_group = summary["profile_productivity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["risk_profile"] == LOOSE)
        .unwrap();
    assert_eq!(loose_group["limits"]["max_trades_per_day"], 4, "{loose_group}");
    assert_eq!(loose_group["limits"]["cooldown_between_trades_minutes"], 20);

    // Clearing falls back to the email settings.
    let (status, body) = put_override(&d, &admin, &loose_id, json!({"profile_name": null})).await;
    assert_eq!(
        (status, &body["risk_profile"], &body["risk_profile_source"]),
        (200, &json!(LOOSE), &json!("email"))
    );
    let (status, body) = put_override(&d, &admin, &plain_id, json!({})).await;
    assert_eq!(
        (status, &body["risk_profile_source"]),
        (200, &json!("default")),
        "an absent name clears too"
    );

    // Refusals.
    let (status, body) = put_override(&d, &admin, &m2_id, json!({"profile_name": "no_such_profile"})).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("Risk profile not found")),
        "{body}"
    );
    assert_eq!(body["code"], "risk_profile_not_found");
    let nobody = "0190c6a2-0000-7000-8000-000000000000";
    let (status, body) = put_override(&d, &admin, nobody, json!({"profile_name": "no_such_profile"})).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("User not found")),
        "the user is looked for first"
    );
    let (status, body) = put_override(&d, &admin, "not-a-uuid", json!({"profile_name": LOOSE})).await;
    assert_eq!(
        (status, &body["detail"][0]["loc"]),
        (422, &json!(["path", "user_id"])),
        "{body}"
    );
    let (status, _) = put_override(&d, &plain, &plain_id, json!({"profile_name": LOOSE})).await;
    assert_eq!(status, 403);
    let (status, _) = call(&d, Method::GET, "/users/risk-profiles", &plain, None).await;
    assert_eq!(status, 403);

    let audits = db.sql(&format!(
        "SELECT (details::jsonb->>'target_user_id') || ' ' || COALESCE(details::jsonb->>'profile_name', '-') || ' ' || \
         COALESCE(details::jsonb->>'previous_profile_name', '-') FROM audit_events \
         WHERE action = 'user.risk_profile.updated' AND user_id = '{admin_id}' ORDER BY id"
    ));
    assert_eq!(
        audits,
        format!("{plain_id} {LOOSE} -\n{loose_id} {MODEL2} -\n{loose_id} - {MODEL2}\n{plain_id} - {LOOSE}")
    );
}

fn groups_of(summary: &Value) -> Vec<(String, u64)> {
    summary["profile_productivity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["risk_profile"].as_str().unwrap().to_string(),
                g["users_count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn groups_contains(groups: &[(String, u64)], g: &(&str, u64)) -> bool {
    groups.iter().any(|(name, n)| name == g.0 && *n == g.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_through_one_daemon_applies_on_another_within_a_second_and_survives_restarts() {
    let db = TestDb::new();
    let mut a = Daemon::start(&db);
    let b = Daemon::start_url(&db.url, &[]);
    let (_, admin) = seed_user(&db, "ops@desk.io", "admin");
    let (user_id, trader) = seed_user(&db, "t1@desk.io", "trader");

    // Through B: one open, then the next is refused by model2's 30-minute cooldown.
    let first = executing_signal(&b, &trader, "BTC/USDT").await;
    assert_eq!(open(&b, &trader, &first).await.0, 200);
    let second = executing_signal(&b, &trader, "ETH/USDT").await;
    let (status, body) = open(&b, &trader, &second).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Risk block: cooldown active (30.0m)")),
        "{body}"
    );

    // A removes the cooldown: B's next open is admitted by the new numbers.
    let (status, body) = put_profile(
        &a,
        &admin,
        MODEL2,
        model2_with(json!({"cooldown_between_trades_minutes": 0})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let took = seen_within_a_second(&b, &trader, "cooldown_between_trades_minutes", json!(0)).await;
    eprintln!("the profile change reached the other daemon in {took:?}");
    let (status, body) = open(&b, &trader, &second).await;
    assert_eq!(status, 200, "admitted with no cooldown: {body}");

    // A gives the user the loose profile: B refuses by loose's 20-minute cooldown.
    let position = id_of(&body["id"]);
    let (status, _) = call(
        &b,
        Method::POST,
        &format!("/positions/close?position_id={position}&exit_price=101"),
        &trader,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = put_override(&a, &admin, &user_id, json!({"profile_name": LOOSE})).await;
    assert_eq!(status, 200);
    let took = seen_within_a_second(&b, &trader, "risk_profile", json!(LOOSE)).await;
    eprintln!("the override reached the other daemon in {took:?}");
    let third = executing_signal(&b, &trader, "SOL/USDT").await;
    let (status, body) = open(&b, &trader, &third).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Risk block: cooldown active (20.0m)")),
        "{body}"
    );

    // A change made in the database by anyone (here SQL) is announced the same way.
    db.sql(&format!(
        "UPDATE users SET risk_profile_override = NULL WHERE id = '{user_id}'"
    ));
    seen_within_a_second(&b, &trader, "risk_profile", json!(MODEL2)).await;
    seen_within_a_second(&a, &trader, "risk_profile", json!(MODEL2)).await;
    let (status, body) = open(&b, &trader, &third).await;
    assert_eq!(status, 200, "model2 without cooldown again: {body}");

    // Both kinds of change survive a restart.
    put_override(&a, &admin, &user_id, json!({"profile_name": LOOSE})).await;
    a.restart();
    let today = risk_today(&a, &trader).await;
    assert_eq!(today["risk_profile"], LOOSE);
    let (_, profiles) = call(&a, Method::GET, PROFILES, &admin, None).await;
    assert_eq!(by_name(&profiles, MODEL2)["cooldown_between_trades_minutes"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_made_while_the_listener_was_down_is_read_again() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (_, trader) = seed_user(&db, "t1@desk.io", "trader");
    assert_eq!(risk_today(&d, &trader).await["cooldown_between_trades_minutes"], 30);

    // Drop the daemon's LISTEN connection; it reconnects after a backoff of at least 200 ms, so a
    // change made meanwhile is announced to nobody.
    let terminated = db.sql(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    );
    assert_eq!(terminated, "1", "the daemon's one listener");
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.sql(&format!(
        "UPDATE risk_profiles SET cooldown_between_trades_minutes = 5 WHERE name = '{MODEL2}'"
    ));
    // Read from the database while the listener is down, then reloaded when it is back.
    seen_within_a_second(&d, &trader, "cooldown_between_trades_minutes", json!(5)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"),
        "1",
        "the listener is back"
    );
    assert_eq!(risk_today(&d, &trader).await["cooldown_between_trades_minutes"], 5);
}
