//! HTTP conventions: 422/413/404/405 shapes, the OpenAPI document and `/docs`, and
//! `config check`.

mod common;

use std::process::{Command, Stdio};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Every method and path of the contract (../shared/API.md), kept here so CI needs nothing
/// outside the repository.
const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/"),
    ("GET", "/ops/health"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/2fa/setup"),
    ("POST", "/auth/2fa/verify-enable"),
    ("POST", "/auth/2fa/disable"),
    ("GET", "/users/me"),
    ("POST", "/users"),
    ("GET", "/users"),
    ("POST", "/users/exchange-secrets"),
    ("GET", "/users/exchange-secrets"),
    ("DELETE", "/users/exchange-secrets/{exchange}"),
    ("POST", "/signals"),
    ("GET", "/signals"),
    ("POST", "/signals/claim"),
    ("POST", "/positions/open_from_signal"),
    ("POST", "/positions/close"),
    ("GET", "/positions"),
    ("GET", "/positions/risk/today"),
    ("POST", "/ops/strategy/assign"),
    ("GET", "/ops/strategy/assignments"),
    ("POST", "/ops/execution/pretrade/binance/check"),
    ("POST", "/ops/execution/pretrade/ibkr/check"),
    ("POST", "/ops/execution/exit/binance/check"),
    ("POST", "/ops/execution/exit/ibkr/check"),
    ("POST", "/ops/execution/prepare"),
    ("POST", "/ops/execution/binance/test-order"),
    ("POST", "/ops/execution/ibkr/test-order"),
    ("GET", "/ops/audit/me"),
    ("GET", "/ops/audit/all"),
    ("GET", "/ops/risk/daily-compare"),
    ("POST", "/ops/security/reencrypt-exchange-secrets"),
    ("GET", "/ops/security/posture"),
    ("POST", "/ops/admin/cleanup-smoke-users"),
    ("GET", "/ops/dashboard/summary"),
    ("GET", "/ops/dashboard"),
    ("POST", "/ops/market/prices"),
    ("GET", "/ops/admin/risk/profiles"),
    ("PUT", "/ops/admin/risk/profiles/{profile_name}"),
    ("PUT", "/users/{user_id}/risk-profile"),
    ("GET", "/users/risk-profiles"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/revoke-all"),
    ("POST", "/users/{user_id}/revoke-sessions"),
    ("PATCH", "/users/{user_id}/role"),
    ("PUT", "/users/{user_id}/password"),
    ("POST", "/users/{user_id}/2fa/reset"),
    ("GET", "/ops/cluster"),
];

/// The contract routes this branch serves itself (the others arrive with other modules).
const SERVED_HERE: &[&str] = &[
    "/healthz",
    "/",
    "/ops/health",
    "/docs",
    "/openapi.json",
    "/metrics",
    "/auth/register",
    "/auth/login",
    "/auth/2fa/setup",
    "/auth/2fa/verify-enable",
    "/auth/2fa/disable",
    "/users/me",
    "/users",
    "/ops/audit/me",
    "/ops/audit/all",
];

#[test]
fn openapi_document_lists_every_contract_route() {
    let doc: Value = serde_json::from_str(include_str!("../docs/openapi.json")).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut missing = Vec::new();
    for (method, path) in CONTRACT_ROUTES {
        let operation = &doc["paths"][*path][method.to_ascii_lowercase()];
        if !operation.is_object() || !operation["responses"].is_object() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "missing from docs/openapi.json: {missing:?}");
}

#[tokio::test]
async fn served_routes_exist_and_wrong_methods_answer_405() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path) in CONTRACT_ROUTES.iter().filter(|(_, p)| SERVED_HERE.contains(p)) {
        let resp = no_redirect
            .request(Method::from_bytes(method.as_bytes()).unwrap(), d.url(path))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!(status != 404 && status != 405, "{method} {path} answered {status}");
    }
    let method_not_allowed = json!({ "detail": "Method Not Allowed", "code": "method_not_allowed" });
    for (method, path) in [
        (Method::GET, "/auth/login"),
        (Method::DELETE, "/users/me"),
        (Method::PUT, "/users"),
        (Method::POST, "/healthz"),
        (Method::POST, "/openapi.json"),
        (Method::POST, "/ops/audit/me"),
    ] {
        let (status, body) = json(client().request(method.clone(), d.url(path)).send().await.unwrap()).await;
        assert_eq!((status, body), (405, method_not_allowed.clone()), "{method} {path}");
    }
    let (status, body) = json(client().post(d.url("/auth/nothing")).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (404, json!({ "detail": "Not Found", "code": "route_not_found" }))
    );
}

#[tokio::test]
async fn openapi_and_interactive_docs_are_served() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (status, served) = json(client().get(d.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let committed: Value = serde_json::from_str(include_str!("../docs/openapi.json")).unwrap();
    assert_eq!(served, committed);

    // `/docs` (no slash) reaches the Swagger UI page, served from the binary.
    let resp = client().get(d.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.url().path().starts_with("/docs"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let init = get_text(&d, "/docs/swagger-initializer.js").await;
    assert!(init.contains("/openapi.json"), "{init}");
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let db = TestDb::new();
    let d = Daemon::start_with(&db, &[("REQUEST_BODY_LIMIT_BYTES", "1024")]);
    let (status, body) = json(
        client()
            .post(d.url("/auth/register"))
            .header("content-type", "application/json")
            .body(r#"{"email": "a@b.co", "password": "#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "json_invalid");

    let big = json!({ "email": "big@desk.io", "password": "x".repeat(4096) });
    let (status, body) = json(client().post(d.url("/auth/register")).json(&big).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            413,
            json!({ "detail": "Request body too large", "code": "payload_too_large" })
        )
    );
    let long_form = format!("username=a%40b.co&password={}", "y".repeat(4096));
    let (status, body) = json(
        client()
            .post(d.url("/auth/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(long_form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["detail"].as_str()), (413, Some("Request body too large")));
    assert_eq!(db.sql("SELECT count(*) FROM users"), "0");
}

#[test]
fn config_check_names_missing_secrets_and_prints_none() {
    let telegram_token = "123456:telegram-token-that-must-not-print";
    let out = Command::new(binary())
        .args(["config", "check"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TELEGRAM_BOT_TOKEN", telegram_token)
        .env("BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-password-secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["SECRET_KEY", "DATABASE_URL"] {
        assert!(
            text.lines().any(|l| l.contains(name) && l.contains("required")),
            "{name} not named: {text}"
        );
    }
    assert!(!text.contains(telegram_token), "{text}");
    assert!(!text.contains("bootstrap-password-secret"), "{text}");
}
