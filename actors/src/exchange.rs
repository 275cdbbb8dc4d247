//! ExchangeActors: one task per exchange (BINANCE, IBKR) with a bounded mailbox, owning its HTTP
//! client (timeouts, no redirects, no automatic retry of an order), request signing and a
//! simple rate limit. Handlers talk to them through [`Exchanges`] / [`ExchangeHandle`].
//!
//! Quantities are written into signed payloads as the decimal was given (`0.010` stays `0.010`,
//! `1` stays `1`): Binance's `quantity`, the prepare preview and IBKR's `order_ref` all use
//! `Decimal`'s `Display`, which keeps the scale of the JSON number the client sent.
//!
//! Error texts never contain the api secret (nor the api key): upstream bodies are scrubbed of
//! both before they are reported.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use crate::crypto::Credentials;
use crate::domain::{Exchange, Side};

/// How the actors reach their upstreams.
#[derive(Debug, Clone)]
pub struct ExchangeConfig {
    pub binance_base_url: String,
    /// `None` = IBKR simulated mode (nothing leaves the process).
    pub ibkr_bridge_base_url: Option<String>,
    /// Whole-request timeout of one upstream call (connect included).
    pub http_timeout: Duration,
    pub mailbox_capacity: usize,
    /// Upstream requests per second, per exchange.
    pub max_requests_per_sec: u32,
    /// Upstream requests in flight at once, per exchange.
    pub max_in_flight: usize,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            binance_base_url: "https://testnet.binance.vision".into(),
            ibkr_bridge_base_url: None,
            http_timeout: Duration::from_secs(10),
            mailbox_capacity: 256,
            max_requests_per_sec: 10,
            max_in_flight: 16,
        }
    }
}

/// A test order as the route parsed it (symbol upper-cased).
#[derive(Debug, Clone, PartialEq)]
pub struct TestOrder {
    pub symbol: String,
    pub side: Side,
    pub qty: Decimal,
    /// Sent as Binance's `newClientOrderId` when the request carried an idempotency key, so the
    /// same key always names the same order upstream.
    pub client_order_id: Option<String>,
}

/// IBKR's answer: which mode ran, and the order reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IbkrAck {
    /// `paper_bridge_test` or `paper_simulated_test`.
    pub mode: &'static str,
    pub order_ref: String,
}

/// Why an order did not go through. `Failed` carries the reason shown after
/// `Binance test order failed: ` / `IBKR test order failed: ` (already scrubbed of secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("{0}")]
    Failed(String),
    /// The actor's mailbox is full (push back with 503).
    #[error("exchange actor busy")]
    Busy,
    #[error("exchange actor stopped")]
    Stopped,
}

/// Messages an ExchangeActor handles. Open for more (price polling, subscriptions).
///
/// `deadline` is when the caller's `EXCHANGE_HTTP_TIMEOUT_MS` runs out, counted from when it
/// asked: waiting for a free slot or the rate limit spends it too, and an order still waiting
/// at its deadline is answered "timed out" without being sent (never sent after its caller
/// was told it failed).
#[non_exhaustive]
#[derive(Debug)]
pub enum ExchangeCommand {
    BinanceTestOrder {
        credentials: Credentials,
        order: TestOrder,
        deadline: Instant,
        reply: oneshot::Sender<Result<(), OrderError>>,
    },
    IbkrTestOrder {
        credentials: Credentials,
        order: TestOrder,
        deadline: Instant,
        reply: oneshot::Sender<Result<IbkrAck, OrderError>>,
    },
}

/// The mailbox of one ExchangeActor.
#[derive(Clone, Debug)]
pub struct ExchangeHandle {
    pub exchange: Exchange,
    /// The whole time a caller waits for one upstream call, queueing included.
    timeout: Duration,
    tx: mpsc::Sender<ExchangeCommand>,
}

impl ExchangeHandle {
    /// Queues a command; `Busy` when the mailbox is full, `Stopped` when the actor is gone.
    pub fn send(&self, cmd: ExchangeCommand) -> Result<(), OrderError> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => OrderError::Busy,
            mpsc::error::TrySendError::Closed(_) => OrderError::Stopped,
        })
    }
}

/// Both exchange actors.
#[derive(Clone, Debug)]
pub struct Exchanges {
    pub binance: ExchangeHandle,
    pub ibkr: ExchangeHandle,
}

impl Exchanges {
    /// Starts one actor per exchange. Must run inside a Tokio runtime.
    pub fn start(cfg: &ExchangeConfig) -> Result<Exchanges, reqwest::Error> {
        Ok(Exchanges {
            binance: spawn_actor(Exchange::Binance, cfg)?,
            ibkr: spawn_actor(Exchange::Ibkr, cfg)?,
        })
    }

    pub fn handle(&self, exchange: Exchange) -> &ExchangeHandle {
        match exchange {
            Exchange::Binance => &self.binance,
            Exchange::Ibkr => &self.ibkr,
        }
    }

    /// Sends Binance's signed `order/test`.
    pub async fn binance_test_order(&self, credentials: Credentials, order: TestOrder) -> Result<(), OrderError> {
        let (reply, answer) = oneshot::channel();
        self.binance.send(ExchangeCommand::BinanceTestOrder {
            credentials,
            order,
            deadline: Instant::now() + self.binance.timeout,
            reply,
        })?;
        answer.await.map_err(|_| OrderError::Stopped)?
    }

    /// Validates and sends (bridge) or simulates an IBKR paper test order.
    pub async fn ibkr_test_order(&self, credentials: Credentials, order: TestOrder) -> Result<IbkrAck, OrderError> {
        let (reply, answer) = oneshot::channel();
        self.ibkr.send(ExchangeCommand::IbkrTestOrder {
            credentials,
            order,
            deadline: Instant::now() + self.ibkr.timeout,
            reply,
        })?;
        answer.await.map_err(|_| OrderError::Stopped)?
    }
}

fn spawn_actor(exchange: Exchange, cfg: &ExchangeConfig) -> Result<ExchangeHandle, reqwest::Error> {
    let client = reqwest::Client::builder()
        .timeout(cfg.http_timeout)
        .connect_timeout(cfg.http_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(cfg.max_in_flight)
        .build()?;
    let (tx, rx) = mpsc::channel(cfg.mailbox_capacity.max(1));
    let actor = ExchangeActor {
        exchange,
        client,
        cfg: cfg.clone(),
        limiter: RateLimiter::new(cfg.max_requests_per_sec),
        in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
    };
    tokio::spawn(actor.run(rx));
    Ok(ExchangeHandle {
        exchange,
        timeout: cfg.http_timeout,
        tx,
    })
}

/// Spaces upstream requests at least `1 / rate` apart.
struct RateLimiter {
    interval: Duration,
    next: Instant,
}

impl RateLimiter {
    fn new(per_sec: u32) -> Self {
        RateLimiter {
            interval: Duration::from_secs(1) / per_sec.max(1),
            next: Instant::now(),
        }
    }

    /// Waits for the next slot; false (taking no slot) when it comes after `deadline`.
    async fn wait(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if self.next > deadline {
            return false;
        }
        if self.next > now {
            tokio::time::sleep_until(self.next).await;
        }
        self.next = self.next.max(now) + self.interval;
        true
    }
}

struct ExchangeActor {
    exchange: Exchange,
    client: reqwest::Client,
    cfg: ExchangeConfig,
    limiter: RateLimiter,
    in_flight: Arc<Semaphore>,
}

impl ExchangeActor {
    /// Takes commands one at a time; each upstream call runs in its own task (bounded by
    /// `max_in_flight`) so one slow upstream call does not stall the mailbox.
    async fn run(mut self, mut rx: mpsc::Receiver<ExchangeCommand>) {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                ExchangeCommand::BinanceTestOrder {
                    credentials,
                    order,
                    deadline,
                    reply,
                } => {
                    if self.exchange != Exchange::Binance {
                        let _ = reply.send(Err(OrderError::Failed("not the Binance actor".into())));
                        continue;
                    }
                    let permit = match self.slot(deadline).await {
                        Slot::Ready(permit) => permit,
                        Slot::TimedOut => {
                            let _ = reply.send(Err(self.timed_out("Binance testnet")));
                            continue;
                        }
                        Slot::Closed => break,
                    };
                    let client = self.client.clone();
                    let base = self.cfg.binance_base_url.clone();
                    let timeout = self.cfg.http_timeout;
                    tokio::spawn(async move {
                        let result = binance_test_order(&client, &base, timeout, deadline, &credentials, &order).await;
                        let _ = reply.send(result);
                        drop(permit);
                    });
                }
                ExchangeCommand::IbkrTestOrder {
                    credentials,
                    order,
                    deadline,
                    reply,
                } => {
                    if self.exchange != Exchange::Ibkr {
                        let _ = reply.send(Err(OrderError::Failed("not the IBKR actor".into())));
                        continue;
                    }
                    let order_ref = match validate_ibkr(&credentials, &order) {
                        Ok(order_ref) => order_ref,
                        Err(reason) => {
                            let _ = reply.send(Err(OrderError::Failed(reason)));
                            continue;
                        }
                    };
                    let Some(bridge) = self.cfg.ibkr_bridge_base_url.clone() else {
                        let _ = reply.send(Ok(IbkrAck {
                            mode: "paper_simulated_test",
                            order_ref,
                        }));
                        continue;
                    };
                    let permit = match self.slot(deadline).await {
                        Slot::Ready(permit) => permit,
                        Slot::TimedOut => {
                            let _ = reply.send(Err(self.timed_out("IBKR bridge")));
                            continue;
                        }
                        Slot::Closed => break,
                    };
                    let client = self.client.clone();
                    let timeout = self.cfg.http_timeout;
                    tokio::spawn(async move {
                        let result =
                            ibkr_bridge_order(&client, &bridge, timeout, deadline, &credentials, &order, order_ref)
                                .await;
                        let _ = reply.send(result);
                        drop(permit);
                    });
                }
            }
        }
        tracing::info!(exchange = self.exchange.as_str(), "exchange actor stopped");
    }

    /// A free in-flight slot and a rate-limit turn before `deadline`. Bounded by the deadline,
    /// so an upstream that hangs holds the waiting orders no longer than their timeout.
    async fn slot(&mut self, deadline: Instant) -> Slot {
        let permit = match tokio::time::timeout_at(deadline, self.in_flight.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Slot::Closed,
            Err(_elapsed) => return Slot::TimedOut,
        };
        match self.limiter.wait(deadline).await {
            true => Slot::Ready(permit),
            false => Slot::TimedOut,
        }
    }

    fn timed_out(&self, upstream: &str) -> OrderError {
        OrderError::Failed(timed_out_text(upstream, self.cfg.http_timeout))
    }
}

/// What waiting for an upstream call's turn came to.
enum Slot {
    Ready(tokio::sync::OwnedSemaphorePermit),
    TimedOut,
    Closed,
}

fn timed_out_text(upstream: &str, timeout: Duration) -> String {
    format!("{upstream} request timed out after {} ms", timeout.as_millis())
}

/// Hex HMAC-SHA256 of `message` keyed with `secret`.
pub fn hmac_sha256_hex(secret: &str, message: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The query Binance signs (everything but `signature`), in the order Binance documents.
pub fn binance_query(order: &TestOrder, timestamp_ms: i64) -> String {
    let client_order_id = order
        .client_order_id
        .as_ref()
        .map(|id| format!("&newClientOrderId={id}"))
        .unwrap_or_default();
    format!(
        "symbol={}&side={}&type=MARKET&quantity={}{client_order_id}&timestamp={timestamp_ms}",
        order.symbol,
        order.side.as_str(),
        order.qty
    )
}

/// The dry-run signature preview: first 12 hex characters of
/// HMAC-SHA256(api_secret, "EX|SYMBOL|SIDE|qty").
pub fn signature_preview(api_secret: &str, exchange: Exchange, symbol: &str, side: Side, qty: Decimal) -> String {
    let payload = format!("{}|{symbol}|{}|{qty}", exchange.as_str(), side.as_str());
    hmac_sha256_hex(api_secret, payload.as_bytes())[..12].to_string()
}

/// First 16 hex characters of SHA-256("api_key|SYMBOL|SIDE|qty").
pub fn ibkr_order_ref(api_key: &str, symbol: &str, side: Side, qty: Decimal) -> String {
    let digest = Sha256::digest(format!("{api_key}|{symbol}|{}|{qty}", side.as_str()).as_bytes());
    hex::encode(digest)[..16].to_string()
}

/// The compact JSON body the IBKR bridge receives, keys in this order.
#[derive(Serialize)]
struct IbkrBridgeBody<'a> {
    symbol: &'a str,
    side: &'a str,
    qty: Decimal,
    order_ref: &'a str,
    mode: &'static str,
}

pub fn ibkr_bridge_body(order: &TestOrder, order_ref: &str) -> Vec<u8> {
    serde_json::to_vec(&IbkrBridgeBody {
        symbol: &order.symbol,
        side: order.side.as_str(),
        qty: order.qty,
        order_ref,
        mode: "paper_test",
    })
    .unwrap_or_default()
}

/// IBKR's checks before anything is sent; the `order_ref` when they pass.
pub fn validate_ibkr(credentials: &Credentials, order: &TestOrder) -> Result<String, String> {
    if credentials.api_key.expose().chars().count() < 8 {
        return Err("api_key must have at least 8 characters".into());
    }
    if credentials.api_secret.expose().chars().count() < 8 {
        return Err("api_secret must have at least 8 characters".into());
    }
    if order.symbol.is_empty() || !order.symbol.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("symbol must be alphanumeric".into());
    }
    if order.qty <= Decimal::ZERO {
        return Err("qty must be greater than 0".into());
    }
    Ok(ibkr_order_ref(
        credentials.api_key.expose(),
        &order.symbol,
        order.side,
        order.qty,
    ))
}

/// Removes the credentials from any text that came back from an upstream.
fn scrub(text: &str, credentials: &Credentials) -> String {
    let mut out = text.to_string();
    for secret in [credentials.api_secret.expose(), credentials.api_key.expose()] {
        if secret.len() >= 4 {
            out = out.replace(secret, "***");
        }
    }
    const MAX: usize = 512;
    if out.len() > MAX {
        let mut cut = MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

fn transport_error(err: &reqwest::Error, timeout: Duration, upstream: &str) -> String {
    if err.is_timeout() {
        return timed_out_text(upstream, timeout);
    }
    let mut root: &dyn std::error::Error = err;
    while let Some(source) = root.source() {
        root = source;
    }
    if err.is_connect() {
        format!("{upstream} connection failed: {root}")
    } else {
        format!("{upstream} request failed: {root}")
    }
}

async fn binance_test_order(
    client: &reqwest::Client,
    base: &str,
    timeout: Duration,
    deadline: Instant,
    credentials: &Credentials,
    order: &TestOrder,
) -> Result<(), OrderError> {
    let query = binance_query(order, chrono::Utc::now().timestamp_millis());
    let signature = hmac_sha256_hex(credentials.api_secret.expose(), query.as_bytes());
    let url = format!("{base}/api/v3/order/test?{query}&signature={signature}");
    let response = client
        .post(url)
        .header("X-MBX-APIKEY", credentials.api_key.expose())
        .timeout(deadline.saturating_duration_since(Instant::now()))
        .send()
        .await
        .map_err(|e| OrderError::Failed(scrub(&transport_error(&e, timeout, "Binance testnet"), credentials)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(OrderError::Failed(scrub(
        &format!("Binance testnet error {}: {body}", status.as_u16()),
        credentials,
    )))
}

async fn ibkr_bridge_order(
    client: &reqwest::Client,
    bridge: &str,
    timeout: Duration,
    deadline: Instant,
    credentials: &Credentials,
    order: &TestOrder,
    order_ref: String,
) -> Result<IbkrAck, OrderError> {
    let body = ibkr_bridge_body(order, &order_ref);
    let signature = hmac_sha256_hex(credentials.api_secret.expose(), &body);
    let response = client
        .post(format!("{bridge}/ibkr/paper/test-order"))
        .header("Content-Type", "application/json")
        .header("X-API-KEY", credentials.api_key.expose())
        .header("X-SIGNATURE", signature)
        .body(body)
        .timeout(deadline.saturating_duration_since(Instant::now()))
        .send()
        .await
        .map_err(|e| OrderError::Failed(scrub(&transport_error(&e, timeout, "IBKR bridge"), credentials)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(IbkrAck {
            mode: "paper_bridge_test",
            order_ref,
        });
    }
    let text = response.text().await.unwrap_or_default();
    Err(OrderError::Failed(scrub(
        &format!("IBKR bridge error {}: {text}", status.as_u16()),
        credentials,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretText;

    fn creds(key: &str, secret: &str) -> Credentials {
        Credentials {
            api_key: SecretText::new(key),
            api_secret: SecretText::new(secret),
        }
    }

    fn order(symbol: &str, qty: &str) -> TestOrder {
        TestOrder {
            symbol: symbol.into(),
            side: Side::Buy,
            qty: qty.parse().unwrap(),
            client_order_id: None,
        }
    }

    #[test]
    fn binance_signature_matches_the_documented_example() {
        // Binance API docs, "SIGNED endpoint examples for POST /api/v3/order" (HMAC).
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            hmac_sha256_hex(secret, query.as_bytes()),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn binance_query_keeps_the_decimal_as_given() {
        assert_eq!(
            binance_query(&order("BTCUSDT", "0.010"), 1_700_000_000_000),
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&timestamp=1700000000000"
        );
        let keyed = TestOrder {
            client_order_id: Some("cs-0123".into()),
            ..order("BTCUSDT", "1")
        };
        assert_eq!(
            binance_query(&keyed, 1),
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&newClientOrderId=cs-0123&timestamp=1"
        );
    }

    #[test]
    fn preview_order_ref_and_body() {
        let qty: Decimal = "0.5".parse().unwrap();
        let preview = signature_preview("secret-123", Exchange::Binance, "BTCUSDT", Side::Sell, qty);
        assert_eq!(
            preview,
            &hmac_sha256_hex("secret-123", b"BINANCE|BTCUSDT|SELL|0.5")[..12]
        );
        assert_eq!(preview.len(), 12);
        let r = ibkr_order_ref("key-1234", "AAPL", Side::Buy, "2".parse().unwrap());
        assert_eq!(r, &hex::encode(Sha256::digest(b"key-1234|AAPL|BUY|2"))[..16]);
        let body = ibkr_bridge_body(&order("AAPL", "2.5"), "abcdef0123456789");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"symbol":"AAPL","side":"BUY","qty":2.5,"order_ref":"abcdef0123456789","mode":"paper_test"}"#
        );
    }

    #[test]
    fn ibkr_validation() {
        let ok = creds("key-1234", "secret-1");
        assert!(validate_ibkr(&ok, &order("AAPL", "1")).is_ok());
        let cases = [
            (
                creds("short", "secret-1"),
                order("AAPL", "1"),
                "api_key must have at least 8 characters",
            ),
            (
                creds("key-1234", "short"),
                order("AAPL", "1"),
                "api_secret must have at least 8 characters",
            ),
            (ok.clone(), order("BRK.B", "1"), "symbol must be alphanumeric"),
            (ok.clone(), order("", "1"), "symbol must be alphanumeric"),
            (ok.clone(), order("AAPL", "0"), "qty must be greater than 0"),
            (ok.clone(), order("AAPL", "-1"), "qty must be greater than 0"),
        ];
        for (c, o, msg) in cases {
            assert_eq!(validate_ibkr(&c, &o), Err(msg.to_string()));
        }
    }

    #[test]
    fn scrub_removes_credentials() {
        let c = creds("my-api-key", "my-api-secret");
        let out = scrub("echo my-api-secret and my-api-key", &c);
        assert!(!out.contains("my-api-secret") && !out.contains("my-api-key"), "{out}");
        assert!(scrub(&"x".repeat(2000), &c).chars().count() <= 513);
    }

    #[tokio::test]
    async fn simulated_ibkr_needs_no_network_and_full_mailbox_is_busy() {
        let ex = Exchanges::start(&ExchangeConfig::default()).unwrap();
        let ack = ex
            .ibkr_test_order(creds("key-1234", "secret-1"), order("AAPL", "1"))
            .await
            .unwrap();
        assert_eq!(ack.mode, "paper_simulated_test");
        assert_eq!(ack.order_ref.len(), 16);
        let err = ex
            .ibkr_test_order(creds("key-1234", "secret-1"), order("AA PL", "1"))
            .await
            .unwrap_err();
        assert_eq!(err, OrderError::Failed("symbol must be alphanumeric".into()));
    }

    #[tokio::test]
    async fn orders_waiting_behind_a_hanging_upstream_answer_within_their_timeout() {
        // An upstream that accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut sockets = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                sockets.push(socket);
            }
        });
        // One request in flight and one a second: without a deadline on the wait, the fifth
        // order would be sent four seconds late and answered after five.
        let cfg = ExchangeConfig {
            binance_base_url: base,
            http_timeout: Duration::from_millis(400),
            max_in_flight: 1,
            max_requests_per_sec: 1,
            ..Default::default()
        };
        let ex = Exchanges::start(&cfg).unwrap();
        let started = Instant::now();
        let orders = (0..5).map(|_| ex.binance_test_order(creds("key-1234", "secret-1"), order("BTCUSDT", "1")));
        for result in futures::future::join_all(orders).await {
            assert_eq!(
                result,
                Err(OrderError::Failed(
                    "Binance testnet request timed out after 400 ms".into()
                ))
            );
        }
        assert!(
            started.elapsed() < Duration::from_millis(700),
            "{:?}",
            started.elapsed()
        );
        held.abort();
    }

    #[tokio::test]
    async fn refused_connection_is_a_clean_error() {
        let cfg = ExchangeConfig {
            binance_base_url: "http://127.0.0.1:9".into(),
            http_timeout: Duration::from_millis(500),
            ..Default::default()
        };
        let ex = Exchanges::start(&cfg).unwrap();
        let err = ex
            .binance_test_order(creds("key-1234", "super-secret-value"), order("BTCUSDT", "1"))
            .await
            .unwrap_err();
        let OrderError::Failed(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.starts_with("Binance testnet "), "{text}");
        assert!(
            !text.contains("super-secret-value") && !text.contains("signature"),
            "{text}"
        );
    }
}
