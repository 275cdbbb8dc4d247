//! `/ops/audit/me` and `/ops/audit/all`.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn actions(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

/// When an event was recorded.
fn created_at(event: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(event["created_at"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn own_events_newest_first_with_the_contract_fields() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let token = trader(&d, "ivy@desk.io").await;
    trader(&d, "other@desk.io").await;
    call(&d, Method::POST, "/auth/2fa/setup", &token, None).await;
    let id = db.sql("SELECT id FROM users WHERE email = 'ivy@desk.io'");

    let (status, body) = call(&d, Method::GET, "/ops/audit/me", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        actions(&body),
        ["auth.2fa.setup", "auth.login.success", "auth.register.success"]
    );
    let event = &body[2];
    let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "{event}");
    assert_eq!(event["user_id"], json!(id));
    assert_eq!(event["entity_type"], "user");
    assert_eq!(event["entity_id"], json!(id));
    let details: Value = serde_json::from_str(event["details"].as_str().expect("details is a string")).unwrap();
    assert_eq!(details["email"], "ivy@desk.io");
    assert_eq!(id_of(&event["id"]).len(), 36, "a UUID string");
    assert!(created_at(&body[0]) > created_at(&body[1]));

    let (status, body) = call(&d, Method::GET, "/ops/audit/me?limit=1", &token, None).await;
    assert_eq!((status, actions(&body)), (200, vec!["auth.2fa.setup".to_string()]));
}

#[tokio::test]
async fn limit_is_validated() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let token = trader(&d, "jay@desk.io").await;
    let admin_token = admin(&d, "root@desk.io").await;
    for (path, t) in [("/ops/audit/me", &token), ("/ops/audit/all", &admin_token)] {
        for bad in ["0", "1001", "-5", "abc"] {
            let (status, body) = call(&d, Method::GET, &format!("{path}?limit={bad}"), t, None).await;
            assert_eq!(status, 422, "{path} {bad}");
            assert_eq!(body["detail"][0]["loc"], json!(["query", "limit"]));
        }
        assert_eq!(
            call(&d, Method::GET, &format!("{path}?limit=1000"), t, None).await.0,
            200
        );
    }
}

#[tokio::test]
async fn all_events_for_admins() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let token = trader(&d, "kim@desk.io").await;
    let admin_token = admin(&d, "root@desk.io").await;
    let (status, body) = call(&d, Method::GET, "/ops/audit/all", &admin_token, None).await;
    assert_eq!(status, 200);
    let all = actions(&body);
    assert_eq!(
        all.len() as i64,
        db.sql("SELECT count(*) FROM audit_events").parse::<i64>().unwrap()
    );
    assert!(all.contains(&"auth.register.success".to_string()));
    assert!(all.contains(&"user.admin.create".to_string()));
    let times: Vec<_> = body.as_array().unwrap().iter().map(created_at).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let (_, body) = call(&d, Method::GET, "/ops/audit/all?limit=2", &admin_token, None).await;
    assert_eq!(body.as_array().unwrap().len(), 2);
    // A trader's own list holds only their events.
    let (_, mine) = call(&d, Method::GET, "/ops/audit/me", &token, None).await;
    let kim = db.sql("SELECT id FROM users WHERE email = 'kim@desk.io'");
    assert!(mine.as_array().unwrap().iter().all(|e| e["user_id"] == json!(kim)));
}
