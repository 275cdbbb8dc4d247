//! Roles and admin account powers: what an operator and a viewer may use (403 `Insufficient permissions` beyond it),
//! a disabled user refused at login and on every request through every daemon, and the admin's
//! role change with its reason, audit and the last-admin rule; password and 2FA resets; closed registration.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const FORBIDDEN: &str = "Insufficient permissions";
const REASON: &str = "moved to the operations desk";

async fn set_role(d: &Daemon, admin: &str, user_id: &str, role: &str) -> (u16, Value) {
    let body = json!({"role": role, "reason": REASON});
    call(d, Method::PATCH, &format!("/users/{user_id}/role"), admin, Some(body)).await
}

/// A user with `role`, and their token.
async fn user_with_role(d: &Daemon, db: &TestDb, admin: &str, email: &str, role: &str) -> (String, String) {
    let (id, token) = seed_trader(db, email);
    let (status, body) = set_role(d, admin, &id, role).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"id": id, "email": email, "role": role}));
    (id, token)
}

/// Every route the roles are judged on, with a request that is valid for an admin.
fn routes(user_id: &str) -> Vec<(Method, String, Option<Value>)> {
    let halt = json!({"state": "REDUCING", "reason": "checking the feed first"});
    vec![
        (Method::GET, "/ops/dashboard/summary".into(), None),
        (Method::GET, "/ops/risk/daily-compare".into(), None),
        (Method::GET, "/ops/security/posture".into(), None),
        (Method::GET, "/ops/audit/all".into(), None),
        (Method::GET, "/ops/strategy/assignments".into(), None),
        (Method::GET, "/ops/admin/trading-control".into(), None),
        (Method::POST, "/ops/admin/trading-control".into(), Some(halt)),
        (Method::GET, "/users".into(), None),
        (Method::GET, format!("/users/{user_id}/risk-settings"), None),
        (Method::POST, "/signals".into(), Some(signal_body("BTC/USDT"))),
        (Method::GET, "/ops/admin/risk/profiles".into(), None),
        (Method::GET, "/users/risk-profiles".into(), None),
    ]
}

/// Which of `routes` each role may use (true) or gets 403 for (false).
fn allowed(role: &str) -> [bool; 12] {
    match role {
        "operator" => [
            true, true, true, true, true, true, true, false, false, false, true, false,
        ],
        "viewer" => [
            true, true, true, false, false, false, false, false, false, false, true, false,
        ],
        "trader" => [
            false, false, false, false, false, false, false, false, false, true, false, false,
        ],
        other => panic!("no expectation for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_and_viewers_use_what_their_role_allows_and_nothing_more() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = admin(&d, "root@desk.io").await;
    let (target, _) = seed_trader(&db, "target@desk.io");
    let (_, operator) = user_with_role(&d, &db, &admin, "op@desk.io", "operator").await;
    let (_, viewer) = user_with_role(&d, &db, &admin, "view@desk.io", "viewer").await;
    let (_, trader) = seed_trader(&db, "trader@desk.io");
    for (role, token) in [("operator", &operator), ("viewer", &viewer), ("trader", &trader)] {
        for ((method, path, body), may) in routes(&target).into_iter().zip(allowed(role)) {
            let (status, answer) = call(&d, method.clone(), &path, token, body).await;
            if may {
                assert!(
                    (200..300).contains(&status),
                    "{role} {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(
                    (status, answer["detail"].as_str()),
                    (403, Some(FORBIDDEN)),
                    "{role} {method} {path}"
                );
            }
        }
    }
    // The operator's halt above applies to everyone, including the admin's own trading.
    let (status, body) = call(&d, Method::GET, "/ops/admin/trading-control", &admin, None).await;
    assert_eq!((status, &body["updated_by"]), (200, &json!("op@desk.io")));
    // No role changes by anyone but an admin.
    let (status, _) = set_role(&d, &operator, &target, "admin").await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_user_is_refused_at_login_and_on_every_request_on_every_daemon() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    let admin = admin(&a, "root@desk.io").await;
    let token = trader(&a, "leaver@desk.io").await;
    let id = id_of(&call(&b, Method::GET, "/users/me", &token, None).await.1["id"]);
    let (status, _) = call(&b, Method::GET, "/signals", &token, None).await;
    assert_eq!(status, 200);

    let (status, body) = set_role(&a, &admin, &id, "disabled").await;
    assert_eq!((status, &body["role"]), (200, &json!("disabled")), "{body}");
    let started = Instant::now();
    loop {
        let (status, body) = call(&b, Method::GET, "/signals", &token, None).await;
        if status == 403 {
            assert_eq!(body["detail"], "User is disabled");
            assert_eq!(body["code"], "user_disabled");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still {status} after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = login_with(&a, "leaver@desk.io", PASSWORD, None).await;
    assert_eq!((status, body["detail"].as_str()), (403, Some("User is disabled")));
    let (status, body) = login_with(&b, "leaver@desk.io", "not-the-password", None).await;
    assert_eq!(status, 401, "a wrong password learns nothing about the account: {body}");

    let (status, _) = set_role(&a, &admin, &id, "trader").await;
    assert_eq!(status, 200);
    let (status, _) = login_with(&b, "leaver@desk.io", PASSWORD, None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn role_changes_need_a_reason_are_audited_and_never_leave_no_admin() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let first = admin(&d, "first@desk.io").await;
    let second = admin(&d, "second@desk.io").await;
    let first_id = id_of(&call(&d, Method::GET, "/users/me", &first, None).await.1["id"]);
    let second_id = id_of(&call(&d, Method::GET, "/users/me", &second, None).await.1["id"]);
    let (target, _) = seed_trader(&db, "t@desk.io");

    let short = json!({"role": "viewer", "reason": "because"});
    let (status, body) = call(&d, Method::PATCH, &format!("/users/{target}/role"), &first, Some(short)).await;
    assert_eq!(
        (status, &body["detail"][0]["loc"]),
        (422, &json!(["body", "reason"])),
        "{body}"
    );
    let bad = json!({"role": "superuser", "reason": REASON});
    let (status, body) = call(&d, Method::PATCH, &format!("/users/{target}/role"), &first, Some(bad)).await;
    assert_eq!(
        (status, &body["detail"][0]["loc"]),
        (422, &json!(["body", "role"])),
        "{body}"
    );
    let (status, body) = set_role(&d, &first, &first_id, "trader").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Admins cannot change their own role"))
    );
    let (status, _) = set_role(&d, &first, "0190c6a2-0000-7000-8000-000000000000", "trader").await;
    assert_eq!(status, 404);

    let (status, _) = set_role(&d, &first, &target, "viewer").await;
    assert_eq!(status, 200);
    let audit = db.sql(&format!(
        "SELECT details FROM audit_events WHERE action = 'user.role.updated' AND user_id = '{first_id}'"
    ));
    let details: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(
        (&details["role"], &details["previous_role"], &details["reason"]),
        (&json!("viewer"), &json!("trader"), &json!(REASON))
    );

    // Two admins demoting each other at once: one wins, one admin is left.
    let (x, y) = tokio::join!(
        set_role(&d, &first, &second_id, "trader"),
        set_role(&d, &second, &first_id, "trader")
    );
    let mut statuses = [x.0, y.0];
    statuses.sort();
    assert_eq!(statuses[0], 200, "{x:?} {y:?}");
    assert!(matches!(statuses[1], 403 | 409), "{x:?} {y:?}");
    for (status, body) in [&x, &y] {
        if *status == 409 {
            assert_eq!(body["detail"], "Cannot demote the last admin");
        }
    }
    assert_eq!(db.sql("SELECT count(*) FROM users WHERE role = 'admin'"), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_reset_a_password_and_2fa_with_a_reason_and_see_no_secret() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin = admin(&d, "root@desk.io").await;
    let token = trader(&d, "forgetful@desk.io").await;
    let id = id_of(&call(&d, Method::GET, "/users/me", &token, None).await.1["id"]);
    let path = format!("/users/{id}/password");

    let short = json!({"new_password": "short", "reason": REASON});
    let (status, body) = call(&d, Method::PUT, &path, &admin, Some(short)).await;
    assert_eq!(
        (status, &body["detail"][0]["loc"]),
        (422, &json!(["body", "new_password"])),
        "{body}"
    );
    let no_reason = json!({"new_password": "a-new-long-password", "reason": "x"});
    let (status, _) = call(&d, Method::PUT, &path, &admin, Some(no_reason)).await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &d,
        Method::PUT,
        &path,
        &token,
        Some(json!({"new_password": "a-new-long-password", "reason": REASON})),
    )
    .await;
    assert_eq!(status, 403, "a trader cannot reset anyone");

    let reset = json!({"new_password": "a-new-long-password", "reason": REASON});
    let (status, body) = call(&d, Method::PUT, &path, &admin, Some(reset)).await;
    assert_eq!((status, body), (200, json!({"message": "Password reset"})));
    assert_eq!(login_with(&d, "forgetful@desk.io", PASSWORD, None).await.0, 401);
    assert_eq!(
        login_with(&d, "forgetful@desk.io", "a-new-long-password", None).await.0,
        200
    );
    let audit = db.sql("SELECT details FROM audit_events WHERE action = 'user.password.reset'");
    assert!(
        audit.contains(REASON) && !audit.contains("a-new-long-password") && !audit.contains("argon2"),
        "{audit}"
    );

    db.set_totp("forgetful@desk.io", "JBSWY3DPEHPK3PXP", true);
    let (status, body) = login_with(&d, "forgetful@desk.io", "a-new-long-password", None).await;
    assert_eq!((status, body["detail"].as_str()), (401, Some("OTP required")));
    let (status, body) = call(
        &d,
        Method::POST,
        &format!("/users/{id}/2fa/reset"),
        &admin,
        Some(json!({"reason": "lost the phone on a trip"})),
    )
    .await;
    assert_eq!((status, body), (200, json!({"message": "2FA reset"})));
    assert_eq!(
        login_with(&d, "forgetful@desk.io", "a-new-long-password", None).await.0,
        200
    );
    assert_eq!(
        db.sql(&format!(
            "SELECT totp_enabled::text || coalesce(totp_secret, '-') FROM users WHERE id = '{id}'"
        )),
        "false-"
    );
    let (status, _) = call(
        &d,
        Method::POST,
        "/users/0190c6a2-0000-7000-8000-000000000000/2fa/reset",
        &admin,
        Some(json!({"reason": "lost the phone on a trip"})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closed_registration_leaves_user_creation_to_admins() {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("PUBLIC_REGISTRATION", "false")]);
    let (status, body) = register(&d, "walk.in@desk.io").await;
    assert_eq!(
        (status, body["detail"].as_str(), body["code"].as_str()),
        (
            403,
            Some("Public registration is disabled"),
            Some("registration_disabled")
        )
    );
    let admin = admin(&d, "root@desk.io").await;
    let (status, body) = call(
        &d,
        Method::POST,
        "/users",
        &admin,
        Some(json!({"email": "walk.in@desk.io", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(login_with(&d, "walk.in@desk.io", PASSWORD, None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_and_breached_passwords_are_refused_naming_the_rule() {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("PASSWORD_MIN_LENGTH", "12")]);
    let post = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password});
        let url = d.url("/auth/register");
        async move { json(client().post(url).json(&body).send().await.unwrap()).await }
    };
    let (status, body) = post("short@desk.io", "elevenchars").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        (
            &body["detail"][0]["loc"],
            &body["detail"][0]["msg"],
            &body["detail"][0]["type"]
        ),
        (
            &json!(["body", "password"]),
            &json!("String should have at least 12 characters"),
            &json!("string_too_short")
        )
    );
    // Entries of the breached list, also in capitals.
    for breached in ["qwerty123456", "LEAVEMEALONE", "1qaz2wsx3edc"] {
        let (status, body) = post("common@desk.io", breached).await;
        assert_eq!(
            (status, &body["detail"][0]["type"]),
            (422, &json!("password_breached")),
            "{breached}: {body}"
        );
    }
    let (status, body) = post("common@desk.io", "qwertyuiop12").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        (&body["detail"][0]["loc"], &body["detail"][0]["msg"]),
        (
            &json!(["body", "password"]),
            &json!("Password is too common: it appears in lists of breached passwords")
        )
    );
    assert_eq!(db.sql("SELECT count(*) FROM users"), "0");
    let (status, _) = post("fine@desk.io", "a-long-unlisted-phrase").await;
    assert_eq!(status, 201);
}
