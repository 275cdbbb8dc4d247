//! Auth routes against the contract: registration, login, TOTP (window, replay, enforcement),
//! throttling and token tampering.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The code of the step `offset` steps away from now, computed independently with totp-rs.
fn code(secret: &str, offset: i64) -> String {
    let bytes = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes).unwrap();
    totp.generate((unix_now() + offset * 30) as u64)
}

/// Waits until the current step has at least 8 seconds left, so a test's codes and the
/// daemon's clock agree on the step.
async fn away_from_step_edge() {
    let into = unix_now() % 30;
    if into >= 22 {
        tokio::time::sleep(Duration::from_secs((31 - into) as u64)).await;
    }
}

/// A 160-bit base32 secret for accounts whose 2FA is set up with SQL.
const FIXED_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

async fn setup_2fa(d: &Daemon, token: &str) -> String {
    let (status, body) = call(d, Method::POST, "/auth/2fa/setup", token, None).await;
    assert_eq!(status, 200, "{body}");
    body["secret"].as_str().unwrap().to_string()
}

async fn otp_call(d: &Daemon, path: &str, token: &str, otp: &str) -> (u16, Value) {
    call(d, Method::POST, path, token, Some(json!({ "otp": otp }))).await
}

fn audit_count(db: &TestDb, action: &str) -> i64 {
    db.sql(&format!("SELECT count(*) FROM audit_events WHERE action = '{action}'"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn register_success_duplicate_and_validation() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (status, body) = register(&d, "alice@desk.io").await;
    assert_eq!(status, 201);
    assert_eq!(body, json!({ "message": "User created successfully" }));
    assert_eq!(db.sql("SELECT role FROM users WHERE email = 'alice@desk.io'"), "trader");
    assert_eq!(audit_count(&db, "auth.register.success"), 1);

    let (status, body) = register(&d, "ALICE@desk.io").await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({ "detail": "Email already registered", "code": "email_already_registered" })
        )
    );

    let post = |body: Value| {
        let url = d.url("/auth/register");
        async move { json(client().post(url).json(&body).send().await.unwrap()).await }
    };
    let (status, body) = post(json!({ "email": "not-an-email", "password": PASSWORD })).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
    for short in ["", "short"] {
        let (status, body) = post(json!({ "email": "bob@desk.io", "password": short })).await;
        assert_eq!(status, 422, "{short:?}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
        assert_eq!(body["detail"][0]["type"], "string_too_short");
    }
    let (status, body) = post(json!({ "email": "bob@desk.io" })).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
    assert_eq!(db.sql("SELECT count(*) FROM users"), "1");
}

#[tokio::test]
async fn login_success_and_errors() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "carol@desk.io").await;
    assert!(get_text(&d, "/metrics").await.contains("\nuser_actors_active 0\n"));
    let (status, body) = login_with(&d, "Carol@Desk.io", PASSWORD, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    // Logging in starts the user's actor, ready for the first order.
    let metrics = get_text(&d, "/metrics").await;
    assert!(metrics.contains("\nuser_actors_active 1\n"), "{metrics}");
    let token = body["access_token"].as_str().unwrap();
    assert!(token.len() > 100);
    let (status, me) = call(&d, Method::GET, "/users/me", token, None).await;
    assert_eq!((status, me["email"].as_str()), (200, Some("carol@desk.io")));
    assert_eq!(audit_count(&db, "auth.login.success"), 1);

    let incorrect = json!({ "detail": "Incorrect email or password", "code": "login_incorrect" });
    assert_eq!(
        login_with(&d, "carol@desk.io", "wrong-password", None).await,
        (401, incorrect.clone())
    );
    assert_eq!(login_with(&d, "nobody@desk.io", PASSWORD, None).await, (401, incorrect));

    let (status, body) = json(
        client()
            .post(d.url("/auth/login"))
            .form(&[("username", "carol@desk.io")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
}

#[tokio::test]
async fn two_factor_setup_enable_login_and_replay() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let token = trader(&d, "dave@desk.io").await;

    let (status, body) = otp_call(&d, "/auth/2fa/verify-enable", &token, "123456").await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({ "detail": "2FA setup not found. Call /auth/2fa/setup first.", "code": "2fa_setup_not_found" })
        )
    );

    let (status, body) = call(&d, Method::POST, "/auth/2fa/setup", &token, None).await;
    assert_eq!(status, 200);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let secret = body["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32);
    assert!(data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).is_ok());
    assert_eq!(
        body["otpauth_uri"],
        format!("otpauth://totp/crypto-saas:dave@desk.io?secret={secret}&issuer=crypto-saas")
    );
    assert_eq!(db.sql("SELECT totp_enabled FROM users"), "f");
    assert_eq!(audit_count(&db, "auth.2fa.setup"), 1);
    assert!(!db
        .sql("SELECT coalesce(string_agg(details, ''), '') FROM audit_events")
        .contains(&secret));

    away_from_step_edge().await;
    let (status, body) = otp_call(&d, "/auth/2fa/verify-enable", &token, "000000x").await;
    assert_eq!(
        (status, body),
        (400, json!({ "detail": "Invalid OTP", "code": "2fa_invalid_otp" }))
    );
    // Two steps back is outside the window.
    let (status, _) = otp_call(&d, "/auth/2fa/verify-enable", &token, &code(&secret, -2)).await;
    assert_eq!(status, 400);
    // The previous step is inside it.
    let (status, body) = otp_call(&d, "/auth/2fa/verify-enable", &token, &code(&secret, -1)).await;
    assert_eq!((status, body), (200, json!({ "message": "2FA enabled" })));
    assert_eq!(audit_count(&db, "auth.2fa.enabled"), 1);

    assert_eq!(
        login_with(&d, "dave@desk.io", PASSWORD, None).await,
        (401, json!({ "detail": "OTP required", "code": "login_otp_required" }))
    );
    assert_eq!(
        login_with(&d, "dave@desk.io", PASSWORD, Some("")).await,
        (401, json!({ "detail": "OTP required", "code": "login_otp_required" }))
    );
    // The code that enabled 2FA is spent.
    assert_eq!(
        login_with(&d, "dave@desk.io", PASSWORD, Some(&code(&secret, -1))).await,
        (401, json!({ "detail": "Invalid OTP", "code": "login_invalid_otp" }))
    );
    // Two steps ahead is outside the window.
    let (status, _) = login_with(&d, "dave@desk.io", PASSWORD, Some(&code(&secret, 2))).await;
    assert_eq!(status, 401);
    // Wrong password with a right code: the password is checked first.
    assert_eq!(
        login_with(&d, "dave@desk.io", "wrong-password", Some(&code(&secret, 0))).await,
        (
            401,
            json!({ "detail": "Incorrect email or password", "code": "login_incorrect" })
        )
    );
    let now_code = code(&secret, 0);
    let (status, body) = login_with(&d, "dave@desk.io", PASSWORD, Some(&now_code)).await;
    assert_eq!(status, 200, "{body}");
    // Replay of the same code: refused.
    assert_eq!(
        login_with(&d, "dave@desk.io", PASSWORD, Some(&now_code)).await,
        (401, json!({ "detail": "Invalid OTP", "code": "login_invalid_otp" }))
    );
    // The next step is inside the window.
    let (status, body) = login_with(&d, "dave@desk.io", PASSWORD, Some(&code(&secret, 1))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn two_factor_disable() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let token = trader(&d, "erin@desk.io").await;
    let (status, body) = otp_call(&d, "/auth/2fa/disable", &token, "123456").await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({ "detail": "2FA is not enabled", "code": "2fa_not_enabled" })
        )
    );
    // Set up but not enabled is still "not enabled".
    let secret = setup_2fa(&d, &token).await;
    let (status, _) = otp_call(&d, "/auth/2fa/disable", &token, &code(&secret, 0)).await;
    assert_eq!(status, 404);

    away_from_step_edge().await;
    let enable_code = code(&secret, -1);
    assert_eq!(
        otp_call(&d, "/auth/2fa/verify-enable", &token, &enable_code).await.0,
        200
    );
    // Replaying the enabling code, or a wrong one, does not disable.
    assert_eq!(
        otp_call(&d, "/auth/2fa/disable", &token, &enable_code).await,
        (400, json!({ "detail": "Invalid OTP", "code": "2fa_invalid_otp" }))
    );
    assert_eq!(otp_call(&d, "/auth/2fa/disable", &token, "abc").await.0, 400);
    assert_eq!(
        otp_call(&d, "/auth/2fa/disable", &token, &code(&secret, 0)).await,
        (200, json!({ "message": "2FA disabled" }))
    );
    assert_eq!(audit_count(&db, "auth.2fa.disabled"), 1);
    assert_eq!(
        otp_call(&d, "/auth/2fa/disable", &token, &code(&secret, 1)).await.0,
        404
    );
    // Login needs no code any more.
    assert_eq!(login_with(&d, "erin@desk.io", PASSWORD, None).await.0, 200);
    let (status, body) = json(
        client()
            .post(d.url("/auth/2fa/disable"))
            .bearer_auth(&token)
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["detail"][0]["type"].as_str()),
        (422, Some("json_invalid"))
    );
}

#[tokio::test]
async fn replay_protection_is_per_user() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let a = trader(&d, "a@desk.io").await;
    let b = trader(&d, "b@desk.io").await;
    setup_2fa(&d, &a).await;
    setup_2fa(&d, &b).await;
    db.set_totp("%", FIXED_SECRET, false);
    away_from_step_edge().await;
    let shared = code(FIXED_SECRET, 0);
    assert_eq!(otp_call(&d, "/auth/2fa/verify-enable", &a, &shared).await.0, 200);
    assert_eq!(otp_call(&d, "/auth/2fa/verify-enable", &b, &shared).await.0, 200);
    let next = code(FIXED_SECRET, 1);
    assert_eq!(login_with(&d, "a@desk.io", PASSWORD, Some(&next)).await.0, 200);
    assert_eq!(login_with(&d, "b@desk.io", PASSWORD, Some(&next)).await.0, 200);
    assert_eq!(login_with(&d, "a@desk.io", PASSWORD, Some(&next)).await.0, 401);
}

#[tokio::test]
async fn enforcement_by_email_list() {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("ENFORCE_2FA_EMAILS", " Boss@Desk.io ,other@x.io")]);
    register(&d, "boss@desk.io").await;
    register(&d, "free@desk.io").await;
    assert_eq!(
        login_with(&d, "boss@desk.io", PASSWORD, None).await,
        (
            401,
            json!({ "detail": "2FA must be enabled for this account", "code": "login_2fa_must_be_enabled" })
        )
    );
    // The password is checked before enforcement.
    assert_eq!(
        login_with(&d, "boss@desk.io", "wrong-password", None).await,
        (
            401,
            json!({ "detail": "Incorrect email or password", "code": "login_incorrect" })
        )
    );
    assert_eq!(login_with(&d, "free@desk.io", PASSWORD, None).await.0, 200);
    db.set_totp("boss@desk.io", FIXED_SECRET, true);
    assert_eq!(
        login_with(&d, "boss@desk.io", PASSWORD, None).await,
        (401, json!({ "detail": "OTP required", "code": "login_otp_required" }))
    );
    away_from_step_edge().await;
    let (status, body) = login_with(&d, "boss@desk.io", PASSWORD, Some(&code(FIXED_SECRET, 0))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn enforcement_for_admins() {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("ENFORCE_2FA_FOR_ADMINS", "true")]);
    let out = cli(
        &d.db_url,
        &["admin", "create", "--email", "root@desk.io", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(out.status.success());
    assert_eq!(
        login_with(&d, "root@desk.io", PASSWORD, None).await,
        (
            401,
            json!({ "detail": "2FA must be enabled for this account", "code": "login_2fa_must_be_enabled" })
        )
    );
    trader(&d, "trader@desk.io").await;
    db.set_totp("root@desk.io", FIXED_SECRET, true);
    assert_eq!(login_with(&d, "root@desk.io", PASSWORD, None).await.0, 401);
    away_from_step_edge().await;
    assert_eq!(
        login_with(&d, "root@desk.io", PASSWORD, Some(&code(FIXED_SECRET, 0)))
            .await
            .0,
        200
    );
}

async fn raw_login(d: &Daemon, email: &str, password: &str) -> reqwest::Response {
    client()
        .post(d.url("/auth/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn assert_throttled(d: &Daemon, email: &str, password: &str) {
    let resp = raw_login(d, email, password).await;
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    let (status, body) = json(resp).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({ "detail": "Too many failed login attempts. Try again later.", "code": "login_throttled" })
    );
}

#[tokio::test]
async fn throttling_per_account_known_and_unknown_alike() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "victim@desk.io").await;
    for email in ["victim@desk.io", "ghost@desk.io"] {
        for _ in 0..10 {
            assert_eq!(login_with(&d, email, "wrong-password", None).await.0, 401);
        }
        // Even the right password waits: the answer does not reveal it.
        assert_throttled(&d, email, PASSWORD).await;
        assert_throttled(&d, &email.to_uppercase(), "wrong-password").await;
    }
    // Other accounts from the same address are not affected.
    trader(&d, "bystander@desk.io").await;
}

#[tokio::test]
async fn throttling_counts_only_wrong_secrets_and_success_clears() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "twofa@desk.io").await;
    register(&d, "sometimes@desk.io").await;
    db.set_totp("twofa@desk.io", FIXED_SECRET, true);
    // A right password answered `OTP required` is not a failure.
    for _ in 0..12 {
        assert_eq!(
            login_with(&d, "twofa@desk.io", PASSWORD, None).await,
            (401, json!({ "detail": "OTP required", "code": "login_otp_required" }))
        );
    }
    // Wrong codes are.
    for _ in 0..10 {
        assert_eq!(login_with(&d, "twofa@desk.io", PASSWORD, Some("000000")).await.0, 401);
    }
    assert_throttled(&d, "twofa@desk.io", PASSWORD).await;

    // A success clears the account's count.
    for round in 0..2 {
        for _ in 0..9 {
            assert_eq!(login_with(&d, "sometimes@desk.io", "wrong-password", None).await.0, 401);
        }
        assert_eq!(
            login_with(&d, "sometimes@desk.io", PASSWORD, None).await.0,
            200,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn throttling_per_address() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    register(&d, "late@desk.io").await;
    for i in 0..50 {
        let (status, _) = login_with(&d, &format!("spray{i}@desk.io"), "wrong-password", None).await;
        assert_eq!(status, 401, "attempt {i}");
    }
    assert_throttled(&d, "late@desk.io", PASSWORD).await;
    assert_throttled(&d, "never-seen@desk.io", "whatever-pass").await;
}

#[tokio::test]
async fn failures_through_two_daemons_count_together() {
    let db = TestDb::new();
    let a = Daemon::start(&db);
    let b = Daemon::start(&db);
    register(&a, "split@desk.io").await;
    for i in 0..10 {
        let d = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            login_with(d, "split@desk.io", "wrong-password", None).await.0,
            401,
            "attempt {i}"
        );
    }
    assert_throttled(&a, "split@desk.io", PASSWORD).await;
    assert_throttled(&b, "split@desk.io", PASSWORD).await;
    assert_eq!(
        db.sql("SELECT cardinality(failures) FROM login_failures WHERE key = 'account:split@desk.io'"),
        "10"
    );
    // A success through one daemon clears the count for both.
    db.sql("DELETE FROM login_failures WHERE key LIKE 'address:%'");
    db.sql("UPDATE login_failures SET failures = failures[1:9]");
    assert_eq!(login_with(&b, "split@desk.io", PASSWORD, None).await.0, 200);
    for _ in 0..9 {
        assert_eq!(login_with(&a, "split@desk.io", "wrong-password", None).await.0, 401);
    }
    assert_eq!(login_with(&b, "split@desk.io", PASSWORD, None).await.0, 200);
}

fn forge(header: jsonwebtoken::Header, claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(key)).unwrap()
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    use base64::Engine;
    use jsonwebtoken::{Algorithm, Header};
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let good = trader(&d, "frank@desk.io").await;
    assert_eq!(call(&d, Method::GET, "/users/me", &good, None).await.0, 200);

    let exp = unix_now() + 3600;
    let claims = json!({ "sub": "frank@desk.io", "role": "admin", "exp": exp });
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.encode(claims.to_string());
    let alg_none = format!("{}.{}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#), payload);
    let hs512 = forge(Header::new(Algorithm::HS512), &claims, SECRET_KEY.as_bytes());
    let wrong_key = forge(Header::new(Algorithm::HS256), &claims, b"not-the-secret-key");
    let expired = forge(
        Header::new(Algorithm::HS256),
        &json!({ "sub": "frank@desk.io", "role": "trader", "exp": unix_now() - 5 }),
        SECRET_KEY.as_bytes(),
    );
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[1] = payload.clone();
    let swapped_payload = parts.join(".");
    for (name, token) in [
        ("alg none", alg_none.as_str()),
        ("HS512", hs512.as_str()),
        ("wrong key", wrong_key.as_str()),
        ("expired", expired.as_str()),
        ("swapped payload", swapped_payload.as_str()),
        ("garbage", "garbage"),
        ("two dots", "a.b.c"),
    ] {
        let (status, body) = call(&d, Method::GET, "/users/me", token, None).await;
        assert_eq!(
            (status, body),
            (
                401,
                json!({ "detail": "Invalid authentication credentials", "code": "invalid_token" })
            ),
            "{name}"
        );
    }

    // Tokens this daemon issues are access tokens with their own id; another type is refused.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let issued: Value = serde_json::from_slice(&b64.decode(good.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(issued["typ"], "access", "{issued}");
    assert!(
        issued["jti"].as_str().is_some_and(|j| j.len() == 36) && issued["iat"].is_i64(),
        "{issued}"
    );
    let refresh = forge(
        Header::new(Algorithm::HS256),
        &json!({ "sub": "frank@desk.io", "role": "trader", "exp": exp, "typ": "refresh" }),
        SECRET_KEY.as_bytes(),
    );
    assert_eq!(
        call(&d, Method::GET, "/users/me", &refresh, None).await,
        (
            401,
            json!({ "detail": "Invalid token type", "code": "invalid_token_type" })
        )
    );

    let resp = client().get(d.url("/users/me")).send().await.unwrap();
    assert_eq!(
        resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_eq!(
        json(resp).await,
        (
            401,
            json!({ "detail": "Not authenticated", "code": "not_authenticated" })
        )
    );

    db.sql("DELETE FROM users WHERE email = 'frank@desk.io'");
    assert_eq!(
        eventually(&d, "/users/me", &good).await,
        (
            401,
            json!({ "detail": "User not found", "code": "token_user_not_found" })
        )
    );
}

#[tokio::test]
async fn a_code_is_accepted_once_across_two_daemons() {
    let db = TestDb::new();
    let first = Daemon::start(&db);
    let second = Daemon::start(&db);
    register(&first, "twin@desk.io").await;
    db.set_totp("twin@desk.io", FIXED_SECRET, true);
    away_from_step_edge().await;
    let otp = code(FIXED_SECRET, 0);
    let (a, b) = tokio::join!(
        login_with(&first, "twin@desk.io", PASSWORD, Some(&otp)),
        login_with(&second, "twin@desk.io", PASSWORD, Some(&otp)),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "{a:?} {b:?}");
    let refused = if a.0 == 401 { a.1 } else { b.1 };
    assert_eq!(refused, json!({ "detail": "Invalid OTP", "code": "login_invalid_otp" }));
    assert_eq!(audit_count(&db, "auth.login.success"), 1);
}
