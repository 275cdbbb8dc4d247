//! `GET /signals` and `GET /positions` a page at a time: `limit` and an opaque `cursor`, the next
//! page named in `Link` and `X-Next-Cursor`. Without them, the whole list exactly as before. Pages
//! are keyset pages: read while rows are being inserted, they still show every row that was there
//! once, in order.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

/// One list answer: status, body, and the next page as `X-Next-Cursor` and `Link` name it.
struct Listed {
    status: u16,
    body: Value,
    raw: String,
    next_cursor: Option<String>,
    link: Option<String>,
}

async fn list(d: &Daemon, path: &str, token: &str) -> Listed {
    let resp = client().get(d.url(path)).bearer_auth(token).send().await.unwrap();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    let (next_cursor, link) = (header("x-next-cursor"), header("link"));
    let status = resp.status().as_u16();
    let raw = resp.text().await.unwrap();
    let body = serde_json::from_str(&raw).unwrap_or(Value::String(raw.clone()));
    Listed {
        status,
        body,
        raw,
        next_cursor,
        link,
    }
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("a JSON array: {items}"))
        .iter()
        .map(|item| id_of(&item["id"]))
        .collect()
}

/// Follows the `Link` of every page from the first, returning the ids in the order shown.
async fn walk(d: &Daemon, first: &str, token: &str) -> Vec<String> {
    let mut shown = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next.take() {
        let page = list(d, &path, token).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        shown.extend(ids(&page.body));
        if let Some(link) = page.link {
            let target = link
                .strip_prefix('<')
                .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
                .unwrap_or_else(|| panic!("a Link to the next page: {link}"));
            let cursor = page.next_cursor.expect("X-Next-Cursor beside Link");
            assert!(
                target.ends_with(&format!("&cursor={cursor}")),
                "{target} carries {cursor}"
            );
            next = Some(target.to_string());
        } else {
            assert!(page.next_cursor.is_none(), "X-Next-Cursor without Link");
        }
    }
    shown
}

/// Seeds `count` signals for the user straight in the database, every three sharing one
/// `created_at` (so the id breaks ties), and returns their ids newest first.
fn seed_signals(db: &TestDb, user_id: &str, count: usize) -> Vec<String> {
    db.sql(&format!(
        "INSERT INTO signals (user_id, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, \
         status, created_at) \
         SELECT '{user_id}', 'BTCUSDT', 'seeded', 0.5, 100, 95, 110, \
                (ARRAY['CREATED','EXECUTING','OPENED','COMPLETED'])[1 + g % 4], \
                now() - interval '1 hour' + (g / 3) * interval '1 millisecond' \
         FROM generate_series(1, {count}) g"
    ));
    newest_first(db, "signals", "created_at", user_id)
}

fn seed_positions(db: &TestDb, user_id: &str, count: usize) -> Vec<String> {
    db.sql(&format!(
        "INSERT INTO positions (user_id, symbol, qty, entry_price, status, realized_pnl, fees, exit_price, \
         opened_at, closed_at) \
         SELECT '{user_id}', 'ETHUSDT', 1, 100, 'CLOSED', 1, 0, 101, \
                now() - interval '1 hour' + (g / 3) * interval '1 millisecond', now() \
         FROM generate_series(1, {count}) g"
    ));
    newest_first(db, "positions", "opened_at", user_id)
}

fn newest_first(db: &TestDb, table: &str, at: &str, user_id: &str) -> Vec<String> {
    let out = db.sql(&format!(
        "SELECT id FROM {table} WHERE user_id = '{user_id}' ORDER BY {at} DESC, id DESC"
    ));
    out.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn without_parameters_each_list_is_the_whole_list_newest_first_with_no_next_page() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (user_id, t) = seed_trader(&db, "whole@lists.test");
    let signals = seed_signals(&db, &user_id, 1500);
    let positions = seed_positions(&db, &user_id, 1200);

    for (path, expected, fields) in [
        (
            "/signals",
            &signals,
            &[
                "id",
                "user_id",
                "symbol",
                "module",
                "base_risk_percent",
                "entry_price",
                "stop_loss",
                "take_profit",
                "status",
                "reason_codes",
                "exchange",
                "created_at",
            ][..],
        ),
        (
            "/positions",
            &positions,
            &[
                "id",
                "user_id",
                "signal_id",
                "exchange",
                "symbol",
                "side",
                "qty",
                "entry_price",
                "stop_loss",
                "take_profit",
                "status",
                "realized_pnl",
                "fees",
                "exit_price",
                "exit_reason",
                "opened_at",
                "closed_at",
            ][..],
        ),
    ] {
        let whole = list(&d, path, &t).await;
        assert_eq!(whole.status, 200, "{}", whole.body);
        assert_eq!(
            &ids(&whole.body),
            expected,
            "{path}: every row, newest first (more than one page's worth)"
        );
        assert_eq!((whole.link, whole.next_cursor), (None, None), "{path}: no next page");
        let mut got: Vec<&str> = whole.body[0].as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = fields.to_vec();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{path}: the fields it always had");

        // The pages put together are the whole list, byte for byte.
        let mut pieces = Vec::new();
        let mut next = Some(format!("{path}?limit=1000"));
        while let Some(page_path) = next.take() {
            let page = list(&d, &page_path, &t).await;
            let inner = page.raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap();
            pieces.push(inner.to_string());
            next = page.next_cursor.map(|c| format!("{path}?limit=1000&cursor={c}"));
        }
        assert!(pieces.len() > 1, "{path}: more than one page");
        assert_eq!(format!("[{}]", pieces.join(",")), whole.raw, "{path}");
    }
}

#[tokio::test]
async fn pages_show_every_row_once_in_order_while_rows_are_inserted() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (user_id, t) = seed_trader(&db, "busy@lists.test");
    let signals_before = seed_signals(&db, &user_id, 300);
    let positions_before = seed_positions(&db, &user_id, 300);

    // New rows arrive the whole time the pages are read: signals through the API (newest of
    // all), positions committed straight into the table, half of them dated inside the seeded
    // range (as a transaction that began long before it committed would date them).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (base, t, stop) = (d.base.clone(), t.clone(), stop.clone());
        tokio::spawn(async move {
            let mut created = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let resp = client()
                    .post(format!("{base}/signals"))
                    .bearer_auth(&t)
                    .json(&signal_body("SOLUSDT"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 200);
                created += 1;
            }
            created
        })
    };
    let position_writer = {
        let (url, user_id, stop) = (db.url.clone(), user_id.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut inserted = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                psql(
                    &url,
                    &format!(
                        "INSERT INTO positions (user_id, symbol, qty, entry_price, status, opened_at) \
                         SELECT '{user_id}', 'SOLUSDT', 1, 100, 'CLOSED', CASE WHEN random() < 0.5 THEN now() \
                         ELSE min(opened_at) + random() * interval '100 milliseconds' END \
                         FROM positions WHERE user_id = '{user_id}'"
                    ),
                );
                inserted += 1;
            }
            inserted
        })
    };

    let signal_pages = walk(&d, "/signals?limit=7", &t).await;
    let position_pages = walk(&d, "/positions?limit=7", &t).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let created = writer.await.unwrap();
    let inserted = position_writer.join().unwrap();
    assert!(
        created > 0 && inserted > 0,
        "rows were inserted while paging ({created}, {inserted})"
    );

    for (what, shown, before, table, at) in [
        ("signals", signal_pages, signals_before, "signals", "created_at"),
        ("positions", position_pages, positions_before, "positions", "opened_at"),
    ] {
        let unique: HashSet<&String> = shown.iter().collect();
        assert_eq!(unique.len(), shown.len(), "{what}: no row shown twice");
        let before_shown: Vec<&String> = shown.iter().filter(|id| before.contains(id)).collect();
        assert_eq!(
            before_shown,
            before.iter().collect::<Vec<_>>(),
            "{what}: every row that was there is shown, in order"
        );
        // What was shown is in the list's order, new rows included.
        let now = newest_first(&db, table, at, &user_id);
        let positions_in_list: Vec<usize> = shown
            .iter()
            .map(|id| now.iter().position(|x| x == id).expect("a shown row exists"))
            .collect();
        assert!(
            positions_in_list.windows(2).all(|w| w[0] < w[1]),
            "{what}: newest first throughout"
        );
    }
}

#[tokio::test]
async fn a_limit_a_cursor_and_the_last_page() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (user_id, t) = seed_trader(&db, "pages@lists.test");
    let signals = seed_signals(&db, &user_id, 10);

    let first = list(&d, "/signals?limit=4", &t).await;
    assert_eq!(ids(&first.body), signals[..4]);
    let cursor = first.next_cursor.clone().expect("a next page");
    assert_eq!(
        first.link.unwrap(),
        format!("</signals?limit=4&cursor={cursor}>; rel=\"next\"")
    );

    // A cursor without a limit: the rest of the list, and no next page.
    let rest = list(&d, &format!("/signals?cursor={cursor}"), &t).await;
    assert_eq!(ids(&rest.body), signals[4..]);
    assert_eq!((rest.link, rest.next_cursor), (None, None));

    // A page that ends exactly at the list's end names no next page (no empty page to fetch).
    let exact = list(&d, &format!("/signals?limit=6&cursor={cursor}"), &t).await;
    assert_eq!(ids(&exact.body), signals[4..]);
    assert_eq!((exact.link, exact.next_cursor), (None, None));

    let one = list(&d, "/signals?limit=1", &t).await;
    assert_eq!(ids(&one.body), signals[..1]);
    let all = list(&d, "/signals?limit=1000", &t).await;
    assert_eq!((ids(&all.body), all.next_cursor), (signals.clone(), None));

    // An empty list: an empty page, no next.
    let (_, other) = seed_trader(&db, "empty@lists.test");
    let empty = list(&d, "/positions?limit=5", &other).await;
    assert_eq!((empty.status, empty.body, empty.next_cursor), (200, json!([]), None));
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_422_naming_the_parameter() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (user_id, t) = seed_trader(&db, "bad@lists.test");
    seed_signals(&db, &user_id, 3);
    seed_positions(&db, &user_id, 3);
    let signals_cursor = list(&d, "/signals?limit=1", &t).await.next_cursor.unwrap();

    for list_path in ["/signals", "/positions"] {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=-5", "limit"),
            ("limit=ten", "limit"),
            ("limit=1.5", "limit"),
            ("cursor=", "cursor"),
            ("cursor=not-a-cursor", "cursor"),
            ("limit=2&cursor=%00%01", "cursor"),
            ("cursor=czEuMTIzLm5vdC1hLXV1aWQ", "cursor"),
        ] {
            let path = format!("{list_path}?{query}");
            let answer = list(&d, &path, &t).await;
            assert_eq!(answer.status, 422, "{path}: {}", answer.body);
            assert_eq!(
                answer.body["detail"][0]["loc"],
                json!(["query", field]),
                "{path}: {}",
                answer.body
            );
        }
    }
    // One list's cursor is not the other's.
    let answer = list(&d, &format!("/positions?limit=1&cursor={signals_cursor}"), &t).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.body["detail"][0]["loc"], json!(["query", "cursor"]));
    // The bounds are the document's.
    let answer = list(&d, "/signals?limit=1000", &t).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn another_user_s_cursor_shows_only_the_caller_s_own_rows() {
    let db = TestDb::new();
    let d = Daemon::start(&db);
    let (a_id, a) = seed_trader(&db, "a@lists.test");
    let (b_id, b) = seed_trader(&db, "b@lists.test");
    // B's rows are older than A's, so that they all lie after A's cursor.
    let b_signals = seed_signals(&db, &b_id, 6);
    let b_positions = seed_positions(&db, &b_id, 6);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let a_signals = seed_signals(&db, &a_id, 6);
    let a_positions = seed_positions(&db, &a_id, 6);

    for (path, a_rows, b_rows) in [
        ("/signals", &a_signals, &b_signals),
        ("/positions", &a_positions, &b_positions),
    ] {
        let a_cursor = list(&d, &format!("{path}?limit=2"), &a).await.next_cursor.unwrap();
        let b_view = list(&d, &format!("{path}?limit=100&cursor={a_cursor}"), &b).await;
        assert_eq!(b_view.status, 200, "{}", b_view.body);
        let shown = ids(&b_view.body);
        assert!(shown.iter().all(|id| !a_rows.contains(id)), "{path}: none of A's");
        assert_eq!(&shown, b_rows, "{path}: B's own rows after that key");
        for item in b_view.body.as_array().unwrap() {
            assert_eq!(item["user_id"], b_id);
        }
    }
}
