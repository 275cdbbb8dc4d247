//! `/users`: the caller's profile and the admin routes, with the role read from the database.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn me_answers_the_contract_shape() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let token = trader(&d, "gina@desk.io").await;
    let id = db.sql("SELECT id FROM users WHERE email = 'gina@desk.io'");
    let (status, body) = call(&d, Method::GET, "/users/me", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "id": id, "email": "gina@desk.io", "display_name": null, "role": "trader" })
    );
}

#[tokio::test]
async fn admin_creates_and_lists_users() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let admin_token = admin(&d, "root@desk.io").await;
    trader(&d, "zed@desk.io").await;

    let (status, body) = call(
        &d,
        Method::POST,
        "/users",
        &admin_token,
        Some(json!({ "email": "Maya@desk.io", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = id_of(&body["id"]);
    assert_eq!(
        body,
        json!({ "id": id, "email": "Maya@desk.io", "display_name": null, "role": "trader" })
    );
    let admin_id = db.sql("SELECT id FROM users WHERE email = 'root@desk.io'");
    assert_eq!(
        db.sql("SELECT user_id || ' ' || entity_id FROM audit_events WHERE action = 'user.create'"),
        format!("{admin_id} {id}")
    );
    // The new user can log in.
    assert_eq!(login_with(&d, "maya@desk.io", PASSWORD, None).await.0, 200);

    let (status, body) = call(
        &d,
        Method::POST,
        "/users",
        &admin_token,
        Some(json!({ "email": "maya@DESK.io", "password": PASSWORD })),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({ "detail": "Email already exists", "code": "email_already_exists" })
        )
    );
    let (status, body) = call(
        &d,
        Method::POST,
        "/users",
        &admin_token,
        Some(json!({ "email": "nope", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));

    let (status, body) = call(&d, Method::GET, "/users", &admin_token, None).await;
    assert_eq!(status, 200);
    let emails: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["Maya@desk.io", "root@desk.io", "zed@desk.io"]);
    assert_eq!(body[1]["role"], "admin");
    assert!(body[0].get("password_hash").is_none());
}

#[tokio::test]
async fn traders_get_403_and_roles_change_at_once() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let trader_token = trader(&d, "tom@desk.io").await;
    let admin_token = admin(&d, "boss@desk.io").await;
    let forbidden = json!({ "detail": "Insufficient permissions", "code": "insufficient_permissions" });
    for (method, path) in [
        (Method::GET, "/users"),
        (Method::POST, "/users"),
        (Method::GET, "/ops/audit/all"),
    ] {
        let body = (method == Method::POST).then(|| json!({ "email": "x@desk.io", "password": PASSWORD }));
        assert_eq!(
            call(&d, method.clone(), path, &trader_token, body).await,
            (403, forbidden.clone()),
            "{method} {path}"
        );
    }
    assert_eq!(call(&d, Method::GET, "/users", &admin_token, None).await.0, 200);

    // Demoted in the database: the still-valid admin token loses admin routes at once.
    db.sql("UPDATE users SET role = 'trader' WHERE email = 'boss@desk.io'");
    assert_eq!(
        call(&d, Method::GET, "/users", &admin_token, None).await,
        (403, forbidden.clone())
    );
    let (_, me) = call(&d, Method::GET, "/users/me", &admin_token, None).await;
    assert_eq!(me["role"], "trader");

    // Promoted with the CLI: the trader's token gains them at once.
    let out = cli(&d.db_url, &["admin", "promote", "--email", "tom@desk.io"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(call(&d, Method::GET, "/users", &trader_token, None).await.0, 200);
}
