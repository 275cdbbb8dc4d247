mod common;

use common::*;

#[tokio::test]
async fn health_root_and_unknown_routes_answer_json() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (status, body) = json(client().get(d.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["status"].as_str(), body["db"].as_str()),
        (200, Some("ok"), Some("ok"))
    );
    let (status, body) = json(client().get(d.url("/")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"app": "crypto-saas", "docs": "/docs"}));
    let (status, body) = json(client().get(d.url("/ops/health")).send().await.unwrap()).await;
    assert_eq!((status, body["system_state"].as_str()), (200, Some("OK")));
    let (status, body) = json(client().get(d.url("/no/such/route")).send().await.unwrap()).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("Not Found")));
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    client().get(d.url("/healthz")).send().await.unwrap();
    let text = get_text(&d, "/metrics").await;
    assert!(text.contains("http_requests_total{"), "{text}");
    assert!(text.contains("persistence_mailbox_depth{shard=\"0\"}"), "{text}");
    assert!(text.contains("db_read_pool_max_size"), "{text}");
}

#[tokio::test]
async fn the_tables_that_churn_are_vacuumed_after_two_percent_of_their_rows_change() {
    let db = TestDb::new();
    let _d = Daemon::start(&db);
    for table in [
        "signals",
        "positions",
        "trading_state",
        "risk_daily",
        "idempotency_keys",
        "login_failures",
        "sessions",
    ] {
        let options = db.sql(&format!(
            "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = '{table}'"
        ));
        assert!(
            options.contains("autovacuum_vacuum_scale_factor=0.02")
                && options.contains("autovacuum_vacuum_threshold=500"),
            "{table}: {options}"
        );
    }
}
