//! Sessions: refresh tokens rotated with reuse detection, logout, revoke-all and the admin's
//! revocation, each seen by every daemon within a second; the resets and disabling end sessions;
//! tokens without a session (the old service's) are revoked too.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const REASON: &str = "laptop reported stolen";

/// A login's whole answer.
async fn login(d: &Daemon, email: &str) -> Value {
    let (status, body) = login_with(d, email, PASSWORD, None).await;
    assert_eq!(status, 200, "login {email}: {body}");
    body
}

fn access(pair: &Value) -> &str {
    pair["access_token"].as_str().expect("an access token")
}

fn refresh_token(pair: &Value) -> &str {
    pair["refresh_token"].as_str().expect("a refresh token")
}

async fn refresh(d: &Daemon, token: &str) -> (u16, Value) {
    let body = json!({ "refresh_token": token });
    json(client().post(d.url("/auth/refresh")).json(&body).send().await.unwrap()).await
}

async fn me(d: &Daemon, token: &str) -> (u16, Value) {
    call(d, Method::GET, "/users/me", token, None).await
}

/// Polls `/users/me` until the token is refused with `detail`; fails after a second.
async fn refused_within_a_second(d: &Daemon, token: &str, detail: &str) {
    let started = Instant::now();
    loop {
        let (status, body) = me(d, token).await;
        if status == 401 {
            assert_eq!(body["detail"], detail, "{body}");
            return;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{} still accepts the token",
            d.base
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn audit_count(db: &TestDb, action: &str) -> String {
    db.sql(&format!("SELECT count(*) FROM audit_events WHERE action = '{action}'"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_session_on_every_daemon() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    register(&a, "t@desk.io").await;
    let first = login(&a, "t@desk.io").await;
    assert_eq!(
        (&first["token_type"], &first["expires_in"]),
        (&json!("bearer"), &json!(3600))
    );
    let other_login = login(&b, "t@desk.io").await;

    let (status, second) = refresh(&b, refresh_token(&first)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        (&second["token_type"], &second["expires_in"]),
        (&json!("bearer"), &json!(3600))
    );
    assert_ne!(refresh_token(&second), refresh_token(&first));
    assert_eq!(me(&a, access(&second)).await.0, 200);
    assert_eq!(
        me(&a, access(&first)).await.0,
        200,
        "rotation alone ends no access token"
    );

    // The first refresh token was used: presenting it again means someone else holds it.
    let (status, body) = refresh(&a, refresh_token(&first)).await;
    assert_eq!(
        (status, &body["detail"]),
        (401, &json!("Refresh token revoked")),
        "{body}"
    );
    assert_eq!(body["code"], "refresh_token_reused");
    for daemon in [&a, &b] {
        refused_within_a_second(daemon, access(&second), "Session revoked").await;
        refused_within_a_second(daemon, access(&first), "Session revoked").await;
    }
    let (status, body) = refresh(&b, refresh_token(&second)).await;
    assert_eq!((status, &body["detail"]), (401, &json!("Session revoked")), "{body}");
    let (status, body) = refresh(&b, refresh_token(&first)).await;
    assert_eq!(
        (status, &body["detail"]),
        (401, &json!("Refresh token revoked")),
        "{body}"
    );
    assert_eq!(audit_count(&db, "auth.refresh.reuse_detected"), "1");

    // Another login of the same user is another session.
    assert_eq!(me(&b, access(&other_login)).await.0, 200);
    let (status, body) = refresh(&a, refresh_token(&other_login)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_refreshes_racing_with_one_token_never_both_win() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    register(&a, "race@desk.io").await;
    let pair = login(&a, "race@desk.io").await;
    let token = refresh_token(&pair).to_string();
    let (one, two) = tokio::join!(refresh(&a, &token), refresh(&b, &token));
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "{one:?} {two:?}");
    let winner = if one.0 == 200 { one.1 } else { two.1 };
    // The loser presented a used token: the session is gone, the winner's pair included.
    refused_within_a_second(&b, access(&winner), "Session revoked").await;
}

#[tokio::test]
async fn bad_refresh_tokens_and_refresh_tokens_as_bearer_tokens_are_refused() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "bad@desk.io").await;
    let pair = login(&d, "bad@desk.io").await;
    for bad in ["", "garbage", "a.b.c", access(&pair)] {
        let (status, body) = refresh(&d, bad).await;
        assert_eq!(
            (status, &body["detail"]),
            (401, &json!("Invalid refresh token")),
            "{bad}: {body}"
        );
        assert_eq!(body["code"], "invalid_refresh_token");
    }
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "00000000-0000-7000-8000-000000000000", "sid": "00000000-0000-7000-8000-000000000001",
                "jti": "00000000-0000-4000-8000-000000000002", "typ": "refresh", "iat": 0, "exp": 4_000_000_000i64}),
        &jsonwebtoken::EncodingKey::from_secret(b"another key"),
    )
    .unwrap();
    assert_eq!(refresh(&d, &forged).await.0, 401);
    let (status, body) = json(
        client()
            .post(d.url("/auth/refresh"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["detail"][0]["loc"]),
        (422, &json!(["body", "refresh_token"])),
        "{body}"
    );

    let (status, body) = me(&d, refresh_token(&pair)).await;
    assert_eq!((status, &body["detail"]), (401, &json!("Invalid token type")), "{body}");
    assert_eq!(
        me(&d, access(&pair)).await.0,
        200,
        "nothing bad was let through or lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_ends_that_session_on_every_daemon_and_no_other() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    register(&a, "out@desk.io").await;
    let leaving = login(&a, "out@desk.io").await;
    let staying = login(&b, "out@desk.io").await;
    assert_eq!(me(&b, access(&leaving)).await.0, 200);

    let body = json!({ "refresh_token": refresh_token(&leaving) });
    let (status, answer) = call(&a, Method::POST, "/auth/logout", access(&leaving), Some(body)).await;
    assert_eq!((status, answer), (200, json!({"message": "Session revoked"})));
    let (status, body) = me(&a, access(&leaving)).await;
    assert_eq!(
        (status, &body["detail"]),
        (401, &json!("Session revoked")),
        "at once on the daemon that did it"
    );
    assert_eq!(body["code"], "session_revoked");
    refused_within_a_second(&b, access(&leaving), "Session revoked").await;
    let (status, body) = refresh(&b, refresh_token(&leaving)).await;
    assert_eq!((status, &body["detail"]), (401, &json!("Session revoked")), "{body}");

    assert_eq!(me(&a, access(&staying)).await.0, 200, "the other session lives");
    // Without a body: the access token's session alone.
    let (status, _) = call(&b, Method::POST, "/auth/logout", access(&staying), None).await;
    assert_eq!(status, 200);
    refused_within_a_second(&a, access(&staying), "Session revoked").await;
    assert_eq!(audit_count(&db, "auth.logout"), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_with_someone_elses_or_a_bad_refresh_token_changes_nothing() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "me@desk.io").await;
    register(&d, "them@desk.io").await;
    let mine = login(&d, "me@desk.io").await;
    let theirs = login(&d, "them@desk.io").await;
    for bad in [refresh_token(&theirs), "garbage", access(&mine)] {
        let body = json!({ "refresh_token": bad });
        let (status, answer) = call(&d, Method::POST, "/auth/logout", access(&mine), Some(body)).await;
        assert_eq!(
            (status, &answer["detail"]),
            (401, &json!("Invalid refresh token")),
            "{answer}"
        );
    }
    assert_eq!(me(&d, access(&mine)).await.0, 200);
    assert_eq!(refresh(&d, refresh_token(&theirs)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoke_all_ends_every_token_issued_before_it_and_a_new_login_works_at_once() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    register(&a, "all@desk.io").await;
    let one = login(&a, "all@desk.io").await;
    let two = login(&b, "all@desk.io").await;
    // A token without a session, as the old service issued them.
    let old = mint_token("all@desk.io", "trader");
    for token in [access(&one), access(&two), old.as_str()] {
        assert_eq!(me(&b, token).await.0, 200);
    }

    let (status, body) = call(&a, Method::POST, "/auth/revoke-all", access(&one), None).await;
    assert_eq!((status, body), (200, json!({"message": "All sessions revoked"})));
    for daemon in [&a, &b] {
        for token in [access(&one), access(&two), old.as_str()] {
            refused_within_a_second(daemon, token, "Session revoked").await;
        }
    }
    for pair in [&one, &two] {
        assert_eq!(refresh(&b, refresh_token(pair)).await.1["detail"], "Session revoked");
    }
    let fresh = login(&b, "all@desk.io").await;
    for daemon in [&a, &b] {
        assert_eq!(me(daemon, access(&fresh)).await.0, 200, "a login after the revocation");
    }
    assert_eq!(audit_count(&db, "auth.sessions.revoked"), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_of_a_token_without_a_session_ends_that_token_alone() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    seed_trader(&db, "legacy@desk.io");
    let old = mint_token("legacy@desk.io", "trader");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let other_old = mint_token("legacy@desk.io", "trader");
    assert_ne!(old, other_old);
    let (status, _) = call(&a, Method::POST, "/auth/logout", &old, None).await;
    assert_eq!(status, 200);
    refused_within_a_second(&b, &old, "Session revoked").await;
    assert_eq!(me(&b, &other_old).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_revoke_sessions_and_resets_and_disabling_end_them_for_good() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    let admin = admin(&a, "root@desk.io").await;
    register(&a, "target@desk.io").await;
    let target = id_of(&me(&a, access(&login(&a, "target@desk.io").await)).await.1["id"]);

    let session = login(&a, "target@desk.io").await;
    let path = format!("/users/{target}/revoke-sessions");
    let (status, body) = call(&a, Method::POST, &path, access(&session), None).await;
    assert_eq!((status, &body["detail"]), (403, &json!("Insufficient permissions")));
    let (status, body) = call(&a, Method::POST, &path, &admin, None).await;
    assert_eq!((status, body), (200, json!({"message": "All sessions revoked"})));
    refused_within_a_second(&b, access(&session), "Session revoked").await;
    let unknown = "/users/00000000-0000-7000-8000-000000000000/revoke-sessions";
    let (status, body) = call(&a, Method::POST, unknown, &admin, None).await;
    assert_eq!((status, &body["detail"]), (404, &json!("User not found")));
    assert_eq!(audit_count(&db, "user.sessions.revoked"), "1");

    let session = login(&a, "target@desk.io").await;
    let reset = json!({"reason": REASON});
    let (status, _) = call(
        &a,
        Method::POST,
        &format!("/users/{target}/2fa/reset"),
        &admin,
        Some(reset),
    )
    .await;
    assert_eq!(status, 200);
    refused_within_a_second(&b, access(&session), "Session revoked").await;

    let session = login(&a, "target@desk.io").await;
    let reset = json!({"new_password": "a brand new passphrase", "reason": REASON});
    let (status, _) = call(
        &a,
        Method::PUT,
        &format!("/users/{target}/password"),
        &admin,
        Some(reset),
    )
    .await;
    assert_eq!(status, 200);
    refused_within_a_second(&b, access(&session), "Session revoked").await;
    assert_eq!(
        refresh(&b, refresh_token(&session)).await.1["detail"],
        "Session revoked"
    );

    let session = login_with(&a, "target@desk.io", "a brand new passphrase", None).await.1;
    let role = |role: &str| json!({"role": role, "reason": REASON});
    let path = format!("/users/{target}/role");
    assert_eq!(
        call(&a, Method::PATCH, &path, &admin, Some(role("disabled"))).await.0,
        200
    );
    assert_eq!(
        refresh(&b, refresh_token(&session)).await.1["detail"],
        "Session revoked"
    );
    assert_eq!(
        call(&a, Method::PATCH, &path, &admin, Some(role("trader"))).await.0,
        200
    );
    let (status, body) = me(&b, access(&session)).await;
    assert_eq!(
        (status, &body["detail"]),
        (401, &json!("Session revoked")),
        "enabling the user again does not bring back the sessions disabling ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_made_while_the_listener_was_down_still_holds() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "down@desk.io").await;
    let pair = login(&d, "down@desk.io").await;
    assert_eq!(me(&d, access(&pair)).await.0, 200);

    // Drop the daemon's LISTEN connection; a revocation meanwhile is announced to nobody.
    let terminated = db.sql(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    );
    assert_eq!(terminated, "1", "the daemon's one listener");
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.sql("UPDATE sessions SET revoked_at = now(), revoked_reason = 'by hand'");
    refused_within_a_second(&d, access(&pair), "Session revoked").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"),
        "1",
        "the listener is back"
    );
    let (status, _) = me(&d, access(&pair)).await;
    assert_eq!(status, 401, "reloaded once the listener was back");
}
