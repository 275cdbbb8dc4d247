//! The parts around the user actors, against fake upstreams:
//! - the NotifierActor against a fake Telegram: the exact request, 429 with retry_after, 5xx
//!   retries, refusals, and an outage that never blocks the caller nor leaks the token;
//! - the price sources against a fake Binance ticker and a fake IBKR bridge, and the poller;
//! - the daily summary against a real Postgres and the fake Telegram.

mod common;
mod fakes;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actors::crypto::SecretText;
use actors::domain::{Exchange, PositionId, UserId};
use actors::notifier::{Notification, Notifier, NotifierConfig, NotifierStats};
use fakes::*;

const TOKEN: &str = "123456:AAH-secret-bot-token";

/// A user id from a small number, and the same as SQL text.
fn user(n: u128) -> UserId {
    UserId::from_uuid(uuid::Uuid::from_u128(n))
}

fn position(n: u128) -> PositionId {
    PositionId::from_uuid(uuid::Uuid::from_u128(n))
}

fn config(base: &str) -> NotifierConfig {
    NotifierConfig {
        api_base_url: base.to_string(),
        bot_token: Some(SecretText::new(TOKEN)),
        chat_id: Some("-1001234".into()),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(80),
        request_timeout: Duration::from_secs(2),
        ..NotifierConfig::default()
    }
}

fn closed() -> Notification {
    Notification::PositionClosed {
        user_id: user(7),
        position_id: position(42),
        symbol: "BTC<USDT>".into(),
        exit_price: "51000.5".parse().unwrap(),
        realized_pnl: "10.25".parse().unwrap(),
        fees: "0.1".parse().unwrap(),
    }
}

async fn settle(notifier: &Notifier, done: impl Fn(&NotifierStats) -> bool) -> NotifierStats {
    let start = Instant::now();
    loop {
        let stats = notifier.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "notifier did not settle: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn sends_the_contract_request() {
    let telegram = Fake::start(telegram_ok());
    let notifier = Notifier::start(config(&telegram.base));
    assert!(notifier.is_enabled());
    notifier.send(closed());
    let got = telegram.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, format!("/bot{TOKEN}/sendMessage"));
    let body = got[0].json();
    assert_eq!(body["chat_id"], "-1001234");
    assert_eq!(body["parse_mode"], "HTML");
    assert_eq!(body["disable_web_page_preview"], true);
    assert_eq!(body["text"], closed().render());
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("BTC&lt;USDT&gt;") && text.contains("PnL <b>+10.25</b>"),
        "{text}"
    );
    let stats = settle(&notifier, |s| s.sent == 1).await;
    assert_eq!((stats.failed, stats.dropped, stats.retries, stats.queued), (0, 0, 0, 0));
}

#[tokio::test]
async fn rate_limited_then_delivered_once_after_the_wait() {
    let telegram = Fake::start(telegram_ok());
    telegram.script(vec![(
        429,
        serde_json::json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    )]);
    let notifier = Notifier::start(config(&telegram.base));
    notifier.send(Notification::RiskBlocked {
        user_id: user(3),
        symbol: Some("ETHUSDT".into()),
        reason: "Risk block: max trades reached".into(),
    });
    let stats = settle(&notifier, |s| s.sent == 1).await;
    let got = telegram.received();
    assert_eq!(got.len(), 2, "one refused attempt, one delivery");
    assert_eq!(got[0].body, got[1].body);
    let waited = got[1].at - got[0].at;
    // The backoff is 20 ms: only honouring retry_after explains a one-second wait.
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}");
    assert_eq!((stats.retries, stats.failed), (1, 0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(telegram.received().len(), 2, "nothing sent twice");
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_given_up() {
    let telegram = Fake::start(Arc::new(|_| (502, serde_json::json!({"ok": false}))));
    let notifier = Notifier::start(config(&telegram.base));
    notifier.send(closed());
    let stats = settle(&notifier, |s| s.failed == 1).await;
    let got = telegram.received();
    assert_eq!(got.len(), 3, "max_attempts bounds the tries");
    assert!(got[1].at - got[0].at >= Duration::from_millis(18));
    assert!(
        got[2].at - got[1].at >= Duration::from_millis(38),
        "the backoff doubles"
    );
    assert_eq!((stats.sent, stats.retries), (0, 2));
}

#[tokio::test]
async fn a_refused_message_is_not_retried() {
    let telegram = Fake::start(Arc::new(|_| {
        (
            400,
            serde_json::json!({"ok": false, "description": "Bad Request: chat not found"}),
        )
    }));
    let notifier = Notifier::start(config(&telegram.base));
    notifier.send(closed());
    let stats = settle(&notifier, |s| s.failed == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(telegram.received().len(), 1);
    assert_eq!((stats.sent, stats.retries), (0, 0));
}

#[tokio::test]
async fn a_later_message_still_goes_out_after_one_is_given_up() {
    let telegram = Fake::start(telegram_ok());
    telegram.script(vec![(500, serde_json::json!({})); 3]);
    let notifier = Notifier::start(config(&telegram.base));
    notifier.send(closed());
    notifier.send(Notification::ExitTriggered {
        user_id: user(1),
        position_id: position(2),
        symbol: "BTCUSDT".into(),
        price: "48000".parse().unwrap(),
        reasons: vec!["stop_loss_hit".into()],
    });
    let stats = settle(&notifier, |s| s.failed + s.sent == 2).await;
    assert_eq!((stats.failed, stats.sent), (1, 1));
    let got = telegram.received();
    assert!(got.last().unwrap().json()["text"]
        .as_str()
        .unwrap()
        .contains("Exit triggered"));
}

/// Captures log lines (the notifier's worker runs on this test's single thread).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn telegram_down_never_blocks_the_caller_and_leaks_no_token() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let notifier = Notifier::start(NotifierConfig {
        queue_capacity: 8,
        ..config(&closed_port_url())
    });
    let burst = 200;
    let start = Instant::now();
    for i in 0..burst {
        notifier.send(Notification::UpstreamOrderError {
            user_id: user(i),
            exchange: Exchange::Binance,
            symbol: "BTCUSDT".into(),
            error: "connection reset".into(),
        });
    }
    let elapsed = start.elapsed();
    // A send that waited for Telegram would take at least one backoff (20 ms) per message.
    assert!(elapsed < Duration::from_millis(250), "200 sends took {elapsed:?}");
    let stats = settle(&notifier, |s| s.queued == 0 && s.failed + s.dropped == burst as u64).await;
    assert_eq!(stats.sent, 0);
    assert!(
        stats.dropped >= burst as u64 - 9,
        "a bounded queue drops the rest: {stats:?}"
    );
    assert!(
        stats.failed >= 8,
        "every queued message is tried, then given up: {stats:?}"
    );
    assert_eq!(stats.retries, stats.failed * 2, "max_attempts = 3 per message");

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("given up"), "the give-up is logged: {text}");
    assert!(text.contains("telegram request failed"), "{text}");
    assert!(
        !text.contains(TOKEN) && !text.contains("AAH-secret"),
        "token leaked: {text}"
    );
}

#[tokio::test]
async fn without_token_or_chat_nothing_is_sent() {
    let telegram = Fake::start(telegram_ok());
    for (token, chat) in [(None, Some("1".to_string())), (Some(SecretText::new(TOKEN)), None)] {
        let notifier = Notifier::start(NotifierConfig {
            bot_token: token,
            chat_id: chat,
            ..config(&telegram.base)
        });
        assert!(!notifier.is_enabled());
        notifier.send(closed());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(telegram.received().is_empty());
}

// ---------------------------------------------------------------- prices

use actors::market::{MarketHub, PriceTick, TickSink};
use actors::prices::{BinancePrices, IbkrBridgePrices, PriceError, PricePoller, PriceSource};
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// A fake Binance: knows BTCUSDT, ETHUSDT, SOLUSDT, XRPUSDT, BNBUSDT; an unknown symbol fails
/// the whole request with 400, as Binance does.
fn binance() -> Fake {
    Fake::start(Arc::new(|req| {
        let known = [
            ("BTCUSDT", "50000.01000000"),
            ("ETHUSDT", "2500.5"),
            ("SOLUSDT", "150"),
            ("XRPUSDT", "0.61"),
            ("BNBUSDT", "600"),
        ];
        if req.path != "/api/v3/ticker/price" {
            return (404, serde_json::json!({}));
        }
        let Some(list) = req.param("symbols") else {
            return (400, serde_json::json!({"code": -1102, "msg": "missing symbols"}));
        };
        let Ok(asked) = serde_json::from_str::<Vec<String>>(&list) else {
            return (400, serde_json::json!({"code": -1100, "msg": "bad symbols"}));
        };
        let mut out = Vec::new();
        for symbol in asked {
            match known.iter().find(|(s, _)| *s == symbol) {
                Some((s, p)) => out.push(serde_json::json!({"symbol": s, "price": p})),
                None => return (400, serde_json::json!({"code": -1121, "msg": "Invalid symbol."})),
            }
        }
        (200, serde_json::Value::Array(out))
    }))
}

fn client() -> reqwest::Client {
    actors::prices::http_client(Duration::from_secs(2))
}

fn symbols(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn binance_asks_many_symbols_per_request_in_chunks() {
    let fake = binance();
    let source = BinancePrices::with_chunk(client(), &format!("{}/", fake.base), 2);
    let mut got = source
        .fetch(&symbols(&["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT"]))
        .await
        .unwrap();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("BNBUSDT".to_string(), dec("600")),
            ("BTCUSDT".to_string(), dec("50000.01")),
            ("ETHUSDT".to_string(), dec("2500.5")),
            ("SOLUSDT".to_string(), dec("150")),
            ("XRPUSDT".to_string(), dec("0.61")),
        ]
    );
    let requests = fake.received();
    assert_eq!(requests.len(), 3, "5 symbols in chunks of 2");
    assert!(requests
        .iter()
        .all(|r| r.method == "GET" && r.path == "/api/v3/ticker/price"));
    assert_eq!(requests[0].param("symbols").unwrap(), r#"["BTCUSDT","ETHUSDT"]"#);
    assert_eq!(requests[2].param("symbols").unwrap(), r#"["BNBUSDT"]"#);
    // The JSON array travels URL-encoded.
    assert!(requests[0].query.contains("%5B%22BTCUSDT%22"), "{}", requests[0].query);
}

#[tokio::test]
async fn binance_default_chunk_is_one_request_for_few_symbols() {
    let fake = binance();
    let source = BinancePrices::new(client(), &fake.base);
    let got = source.fetch(&symbols(&["BTCUSDT", "ETHUSDT"])).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn one_unknown_symbol_does_not_blind_the_others() {
    let fake = binance();
    let source = BinancePrices::new(client(), &fake.base);
    let got = source
        .fetch(&symbols(&["BTCUSDT", "NOPEUSDT", "ETHUSDT"]))
        .await
        .unwrap();
    let mut names: Vec<String> = got.into_iter().map(|(s, _)| s).collect();
    names.sort();
    assert_eq!(names, ["BTCUSDT", "ETHUSDT"]);
}

#[tokio::test]
async fn binance_errors_and_timeouts_are_errors_not_hangs() {
    let down = BinancePrices::new(client(), &closed_port_url());
    assert!(matches!(
        down.fetch(&symbols(&["BTCUSDT"])).await,
        Err(PriceError::Transport(_))
    ));
    let broken = Fake::start(Arc::new(|_| (503, serde_json::json!({}))));
    let source = BinancePrices::new(client(), &broken.base);
    assert!(matches!(
        source.fetch(&symbols(&["BTCUSDT"])).await,
        Err(PriceError::Status(503))
    ));
    let slow = Fake::start_slow(Arc::new(|_| (200, serde_json::json!([]))), Duration::from_secs(3));
    let source = BinancePrices::new(actors::prices::http_client(Duration::from_millis(300)), &slow.base);
    let start = Instant::now();
    assert!(matches!(
        source.fetch(&symbols(&["BTCUSDT"])).await,
        Err(PriceError::Transport(_))
    ));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn ibkr_bridge_prices() {
    let bridge = Fake::start(Arc::new(|req| {
        if req.path != "/ibkr/paper/prices" {
            return (404, serde_json::json!({}));
        }
        assert_eq!(req.param("symbols").as_deref(), Some("AAPL,MSFT,ZZZZ"));
        (
            200,
            serde_json::json!({"prices": {"AAPL": 189.5, "MSFT": 411.25, "ZZZZ": null}}),
        )
    }));
    let source = IbkrBridgePrices::new(client(), &bridge.base);
    let mut got = source.fetch(&symbols(&["AAPL", "MSFT", "ZZZZ"])).await.unwrap();
    got.sort();
    assert_eq!(
        got,
        vec![("AAPL".to_string(), dec("189.5")), ("MSFT".to_string(), dec("411.25"))]
    );
    assert_eq!(bridge.received().len(), 1);
}

#[derive(Default)]
struct Recording(Mutex<Vec<(UserId, PriceTick)>>);

impl TickSink for Recording {
    fn deliver(&self, user_id: UserId, tick: PriceTick) {
        self.0.lock().unwrap().push((user_id, tick));
    }
}

#[tokio::test]
async fn the_poller_asks_for_the_hub_symbols_and_publishes_ticks() {
    let fake = binance();
    let sink = Arc::new(Recording::default());
    let hub = Arc::new(MarketHub::new(sink.clone()));
    let poller = PricePoller::new(
        Arc::new(BinancePrices::new(client(), &fake.base)),
        hub.clone(),
        Duration::from_millis(50),
    );
    assert_eq!(poller.poll_once().await.unwrap(), None);
    assert!(fake.received().is_empty(), "no symbols, no request");
    hub.subscribe(Exchange::Binance, "BTC/USDT", user(10));
    hub.subscribe(Exchange::Binance, "ETHUSDT", user(11));
    hub.subscribe(Exchange::Ibkr, "AAPL", user(12));
    let task = poller.spawn();
    let requests = fake.wait_for(2, Duration::from_secs(5)).await;
    task.abort();
    assert_eq!(requests[0].param("symbols").unwrap(), r#"["BTCUSDT","ETHUSDT"]"#);
    let ticks = sink.0.lock().unwrap().clone();
    assert!(ticks.len() >= 2, "{ticks:?}");
    let btc = ticks.iter().find(|(u, _)| *u == user(10)).unwrap();
    assert_eq!(
        (&*btc.1.symbol, btc.1.price, btc.1.exchange),
        ("BTCUSDT", dec("50000.01"), Exchange::Binance)
    );
    assert!(
        ticks.iter().all(|(u, _)| *u != user(12)),
        "IBKR users get no Binance ticks"
    );
}

// ---------------------------------------------------------------- daily summary

#[tokio::test]
async fn daily_summary_goes_to_users_active_that_day() {
    let db = common::TestDb::new();
    crypto_saas::startup::migrate(&db.url).await.unwrap();
    let store = actors::store::Store::start(&actors::store::StoreConfig {
        database_url: db.url.clone(),
        read_pool_size: 2,
        shards: 1,
        ..Default::default()
    })
    .unwrap();
    // Bogota is UTC-5: 2026-03-01 (Bogota) runs from 05:00 UTC on the 1st to 05:00 UTC on the 2nd.
    let sql = "INSERT INTO users (id, email, password_hash) VALUES
           (1, 'active<1>@desk.io', 'x'), (2, 'blocked@desk.io', 'x'),
           (3, 'idle@desk.io', 'x'), (4, 'opener@desk.io', 'x'), (5, 'other-day@desk.io', 'x');
         INSERT INTO trading_state (user_id, open_positions) VALUES (1, 1), (2, 0), (3, 2), (4, 1), (5, 0);
         INSERT INTO risk_daily (user_id, day, trades_count, realized_pnl, blocked_opens) VALUES
           (1, '2026-03-01', 2, 12.5, 0), (2, '2026-03-01', 0, 0, 3), (3, '2026-03-01', 0, 0, 0),
           (5, '2026-02-28', 1, -4, 0);
         INSERT INTO positions (user_id, symbol, qty, entry_price, opened_at) VALUES
           (4, 'BTCUSDT', 1, 100, '2026-03-02 04:59:00+00'),
           (5, 'BTCUSDT', 1, 100, '2026-03-01 04:59:00+00');";
    // Users 1..5, their ids written as UUID literals.
    let sql = (1..=5u128).fold(sql.to_string(), |sql, n| {
        sql.replace(&format!("({n}, "), &format!("('{}', ", user(n)))
    });
    db.sql(&sql);
    let zone: chrono_tz::Tz = "America/Bogota".parse().unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();

    let rows = actors::store::summary::daily_summaries(&store, day, zone)
        .await
        .unwrap();
    let users: Vec<UserId> = rows.iter().map(|r| r.user_id).collect();
    assert_eq!(users, [user(1), user(2), user(4)], "active users only, by email");
    assert_eq!(
        (
            rows[0].trades,
            rows[0].realized_pnl,
            rows[0].blocked_opens,
            rows[0].open_positions
        ),
        (2, dec("12.5"), 0, 1)
    );
    assert_eq!((rows[1].blocked_opens, rows[1].trades), (3, 0));
    assert_eq!((rows[2].opened_positions, rows[2].open_positions), (1, 1));

    let telegram = Fake::start(telegram_ok());
    let notifier = Notifier::start(config(&telegram.base));
    let queued = actors::daily_summary::send_daily_summaries(&store, &notifier, day, zone)
        .await
        .unwrap();
    assert_eq!(queued, 3);
    let got = telegram.wait_for(3, Duration::from_secs(5)).await;
    let texts: Vec<String> = got
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert!(
        texts.iter().all(|t| t.contains("Daily summary 2026-03-01")),
        "{texts:?}"
    );
    assert!(
        texts[0].contains("active&lt;1&gt;@desk.io") && texts[0].contains("trades 2"),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains("realized PnL <b>+12.5</b>"), "{}", texts[0]);
    assert!(texts[1].contains("blocked opens 3"), "{}", texts[1]);
    assert!(
        texts[2].contains("opener@desk.io") && texts[2].contains("opened 1"),
        "{}",
        texts[2]
    );
    assert!(!texts.iter().any(|t| t.contains("idle@") || t.contains("other-day@")));
}
