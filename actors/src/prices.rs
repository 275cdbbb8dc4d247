//! Price fetching for the exit monitor: one [`PricePoller`] per exchange asks the
//! [`MarketHub`] which symbols have open positions, fetches their prices and publishes them.
//!
//! Sources:
//! - Binance: `GET {base}/api/v3/ticker/price?symbols=["BTCUSDT","ETHUSDT"]` (public, many
//!   symbols per request, chunked), answering `[{"symbol": "BTCUSDT", "price": "50000.01"}]`.
//!   Binance refuses a whole request when one symbol is unknown (400); the chunk is then asked
//!   symbol by symbol so one bad symbol does not blind the others.
//! - IBKR bridge: `GET {bridge}/ibkr/paper/prices?symbols=AAPL,MSFT` answering
//!   `{"prices": {"AAPL": 189.5, "MSFT": 411.2}}` (symbols it does not know are left out).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use metrics::counter;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::{normalize_symbol, Exchange};
use crate::market::MarketHub;

/// Symbols per upstream request.
pub const DEFAULT_CHUNK: usize = 100;

#[derive(Debug, Clone, thiserror::Error)]
pub enum PriceError {
    #[error("price request failed: {0}")]
    Transport(String),
    #[error("price source answered HTTP {0}")]
    Status(u16),
    #[error("price source answered an unreadable body: {0}")]
    Body(String),
}

fn transport(err: reqwest::Error) -> PriceError {
    PriceError::Transport(err.without_url().to_string())
}

/// Somewhere prices come from.
#[async_trait]
pub trait PriceSource: Send + Sync + 'static {
    fn exchange(&self) -> Exchange;
    /// Prices of the (normalised) symbols it knows; unknown symbols are left out.
    async fn fetch(&self, symbols: &[String]) -> Result<Vec<(String, Decimal)>, PriceError>;
}

/// A client with timeouts, for the price sources.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Binance's public ticker price endpoint.
pub struct BinancePrices {
    client: reqwest::Client,
    base_url: String,
    chunk: usize,
}

#[derive(Deserialize)]
struct BinanceTicker {
    symbol: String,
    price: String,
}

impl BinancePrices {
    pub fn new(client: reqwest::Client, base_url: &str) -> BinancePrices {
        BinancePrices::with_chunk(client, base_url, DEFAULT_CHUNK)
    }

    pub fn with_chunk(client: reqwest::Client, base_url: &str, chunk: usize) -> BinancePrices {
        BinancePrices {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            chunk: chunk.max(1),
        }
    }

    async fn request(&self, symbols: &[String]) -> Result<Vec<(String, Decimal)>, PriceError> {
        let list = serde_json::to_string(symbols).map_err(|e| PriceError::Body(e.to_string()))?;
        let response = self
            .client
            .get(format!("{}/api/v3/ticker/price", self.base_url))
            .query(&[("symbols", list)])
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(PriceError::Status(status));
        }
        let tickers: Vec<BinanceTicker> = response
            .json()
            .await
            .map_err(|e| PriceError::Body(e.without_url().to_string()))?;
        Ok(tickers
            .into_iter()
            .filter_map(|t| {
                let price: Decimal = t.price.trim().parse().ok()?;
                (price > Decimal::ZERO).then(|| (normalize_symbol(&t.symbol), price))
            })
            .collect())
    }
}

#[async_trait]
impl PriceSource for BinancePrices {
    fn exchange(&self) -> Exchange {
        Exchange::Binance
    }

    async fn fetch(&self, symbols: &[String]) -> Result<Vec<(String, Decimal)>, PriceError> {
        let mut prices = Vec::with_capacity(symbols.len());
        let mut first_error = None;
        for chunk in symbols.chunks(self.chunk) {
            match self.request(chunk).await {
                Ok(mut got) => prices.append(&mut got),
                // One unknown symbol fails the whole request: ask one by one.
                Err(PriceError::Status(400)) if chunk.len() > 1 => {
                    for symbol in chunk {
                        match self.request(std::slice::from_ref(symbol)).await {
                            Ok(mut got) => prices.append(&mut got),
                            Err(err) => {
                                tracing::debug!(symbol = %symbol, error = %err, "binance has no price");
                            }
                        }
                    }
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) if prices.is_empty() => Err(err),
            Some(err) => {
                tracing::warn!(error = %err, "some binance price requests failed");
                Ok(prices)
            }
            None => Ok(prices),
        }
    }
}

/// The IBKR paper bridge's price route.
pub struct IbkrBridgePrices {
    client: reqwest::Client,
    base_url: String,
    chunk: usize,
}

#[derive(Deserialize)]
struct BridgePrices {
    prices: HashMap<String, Option<Decimal>>,
}

impl IbkrBridgePrices {
    pub fn new(client: reqwest::Client, base_url: &str) -> IbkrBridgePrices {
        IbkrBridgePrices {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            chunk: DEFAULT_CHUNK,
        }
    }
}

#[async_trait]
impl PriceSource for IbkrBridgePrices {
    fn exchange(&self) -> Exchange {
        Exchange::Ibkr
    }

    async fn fetch(&self, symbols: &[String]) -> Result<Vec<(String, Decimal)>, PriceError> {
        let mut prices = Vec::with_capacity(symbols.len());
        for chunk in symbols.chunks(self.chunk) {
            let response = self
                .client
                .get(format!("{}/ibkr/paper/prices", self.base_url))
                .query(&[("symbols", chunk.join(","))])
                .send()
                .await
                .map_err(transport)?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(PriceError::Status(status));
            }
            let body: BridgePrices = response
                .json()
                .await
                .map_err(|e| PriceError::Body(e.without_url().to_string()))?;
            prices.extend(body.prices.into_iter().filter_map(|(symbol, price)| {
                let price = price?;
                (price > Decimal::ZERO).then(|| (normalize_symbol(&symbol), price))
            }));
        }
        Ok(prices)
    }
}

/// Polls one source at a fixed interval and publishes what it gets through the hub.
pub struct PricePoller {
    source: Arc<dyn PriceSource>,
    hub: Arc<MarketHub>,
    interval: Duration,
}

impl PricePoller {
    pub fn new(source: Arc<dyn PriceSource>, hub: Arc<MarketHub>, interval: Duration) -> PricePoller {
        PricePoller { source, hub, interval }
    }

    /// One round: the hub's symbols for this exchange, fetched and published. `Ok(None)` when
    /// there was nothing to ask for; otherwise the number of deliveries.
    pub async fn poll_once(&self) -> Result<Option<usize>, PriceError> {
        let exchange = self.source.exchange();
        let symbols = self.hub.symbols(exchange);
        if symbols.is_empty() {
            return Ok(None);
        }
        let prices = self.source.fetch(&symbols).await?;
        counter!("price_polls_total", "exchange" => exchange.as_str()).increment(1);
        counter!("price_quotes_total", "exchange" => exchange.as_str()).increment(prices.len() as u64);
        Ok(Some(self.hub.publish(exchange, prices)))
    }

    /// Runs until the task is aborted, a round every interval or when the hub asks for one.
    /// Rounds never overlap: a slow round delays the next one. Errors are logged and counted;
    /// the loop goes on.
    pub async fn run(self) {
        let exchange = self.source.exchange();
        let mut ticker = tokio::time::interval(self.interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut asked = self.hub.poll_requests();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                Ok(()) = asked.changed() => ticker.reset(),
            }
            if let Err(err) = self.poll_once().await {
                counter!("price_poll_errors_total", "exchange" => exchange.as_str()).increment(1);
                tracing::warn!(%exchange, error = %err, "price poll failed");
            }
        }
    }

    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::NullTickSink;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Slow {
        calls: AtomicUsize,
        running: AtomicUsize,
        overlapped: AtomicUsize,
        fail: bool,
    }

    #[async_trait]
    impl PriceSource for Slow {
        fn exchange(&self) -> Exchange {
            Exchange::Binance
        }
        async fn fetch(&self, symbols: &[String]) -> Result<Vec<(String, Decimal)>, PriceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.running.fetch_add(1, Ordering::SeqCst) > 0 {
                self.overlapped.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if self.fail {
                return Err(PriceError::Status(500));
            }
            Ok(symbols.iter().map(|s| (s.clone(), Decimal::ONE)).collect())
        }
    }

    fn slow(fail: bool) -> Arc<Slow> {
        Arc::new(Slow {
            calls: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            overlapped: AtomicUsize::new(0),
            fail,
        })
    }

    #[tokio::test]
    async fn skips_when_no_symbols_and_publishes_otherwise() {
        let sink = Arc::new(NullTickSink::default());
        let hub = Arc::new(MarketHub::new(sink.clone()));
        let source = slow(false);
        let poller = PricePoller::new(source.clone(), hub.clone(), Duration::from_secs(1));
        assert_eq!(poller.poll_once().await.unwrap(), None);
        assert_eq!(source.calls.load(Ordering::SeqCst), 0);
        hub.subscribe(Exchange::Binance, "BTC/USDT", crate::domain::UserId::new());
        hub.subscribe(Exchange::Binance, "ETHUSDT", crate::domain::UserId::new());
        hub.subscribe(Exchange::Ibkr, "AAPL", crate::domain::UserId::new());
        assert_eq!(poller.poll_once().await.unwrap(), Some(2));
        assert_eq!(sink.delivered(), 2);
    }

    #[tokio::test]
    async fn slow_polls_never_overlap_and_errors_do_not_stop_the_loop() {
        for fail in [false, true] {
            let hub = Arc::new(MarketHub::new(Arc::new(NullTickSink::default())));
            hub.subscribe(Exchange::Binance, "BTCUSDT", crate::domain::UserId::new());
            let source = slow(fail);
            let task = PricePoller::new(source.clone(), hub, Duration::from_millis(10)).spawn();
            tokio::time::sleep(Duration::from_millis(400)).await;
            task.abort();
            let calls = source.calls.load(Ordering::SeqCst);
            assert!(calls >= 2, "polling goes on (fail={fail}): {calls}");
            assert!(calls <= 8, "a 60 ms fetch bounds the rate: {calls}");
            assert_eq!(source.overlapped.load(Ordering::SeqCst), 0);
        }
    }
}
