//! The MarketHub: which users hold open positions in which (exchange, symbol), and the fan-out of
//! price ticks to them.
//!
//! Subscriptions are indexed by (exchange, normalised symbol), so publishing a tick costs the
//! number of users subscribed to that symbol, not the number of subscriptions overall. Each
//! symbol keeps its subscribers in a copy-on-write list: `publish` takes an `Arc` of the list
//! under a short read lock and delivers outside any lock, so a sink may call back into the hub.
//!
//! With a tick guard (`with_tick_guard`), every tick of a held symbol first passes the pure
//! `rules::exit_guard` rule: one lookup in a small map under a mutex per tick (not per
//! subscriber). A held tick is not delivered, is counted (`market_ticks_held_total`), and is
//! reported to a `SuspectSink` at most once per market and hour by this daemon.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use metrics::counter;
use rust_decimal::Decimal;

use crate::domain::{normalize_symbol, Exchange, UserId};
use crate::rules::exit_guard::{MarketPrices, TickJumpGuard, TickVerdict};

/// One price for one market at one moment, as delivered to a user.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTick {
    pub exchange: Exchange,
    /// Normalised (`BTCUSDT`); shared between the deliveries of one tick.
    pub symbol: Arc<str>,
    pub price: Decimal,
    pub at: DateTime<Utc>,
}

/// Where ticks go: implemented over the user-actor registry. Must not block (queue and return).
pub trait TickSink: Send + Sync + 'static {
    fn deliver(&self, user_id: UserId, tick: PriceTick);
}

/// A sink that only counts: used until the user actors are wired.
#[derive(Debug, Default)]
pub struct NullTickSink {
    delivered: AtomicU64,
}

impl NullTickSink {
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

impl TickSink for NullTickSink {
    fn deliver(&self, _user_id: UserId, _tick: PriceTick) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// The subscribers of one symbol: a count per user (one per open position) and the users as a
/// list that publish can share without copying.
#[derive(Default)]
struct SymbolSubs {
    /// user id -> (positions subscribed, index in `users`)
    counts: HashMap<UserId, (u32, usize)>,
    users: Arc<Vec<UserId>>,
}

type Key = (Exchange, Arc<str>);

/// A tick the guard held back, as reported for the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspectTick {
    pub exchange: Exchange,
    pub symbol: Arc<str>,
    pub price: Decimal,
    pub last_accepted_price: Decimal,
    pub jump_pct: Option<Decimal>,
    pub at: DateTime<Utc>,
}

/// Where held ticks are reported (the audit of `market.tick.suspect`). Must not block.
pub trait SuspectSink: Send + Sync + 'static {
    fn report(&self, suspect: SuspectTick);
}

/// The guard's state per market: the rule's memory and the hour last reported from here.
#[derive(Default)]
struct Guarded {
    prices: MarketPrices,
    reported_hour: Option<i64>,
}

struct Guard {
    rule: TickJumpGuard,
    markets: Mutex<HashMap<Key, Guarded>>,
    suspects: Arc<dyn SuspectSink>,
}

/// The registry of subscriptions and the tick fan-out. Shared (`Arc<MarketHub>`) by HTTP
/// handlers, pollers and actors.
pub struct MarketHub {
    subs: RwLock<HashMap<Key, SymbolSubs>>,
    sink: RwLock<Arc<dyn TickSink>>,
    guard: Option<Guard>,
    /// Bumped when positions start being watched here at once (a takeover): every price poller
    /// polls without waiting for its interval.
    poll_requests: tokio::sync::watch::Sender<u64>,
}

impl fmt::Debug for MarketHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarketHub")
            .field("symbols", &self.read().len())
            .finish_non_exhaustive()
    }
}

impl MarketHub {
    pub fn new(sink: Arc<dyn TickSink>) -> MarketHub {
        MarketHub {
            subs: RwLock::new(HashMap::new()),
            sink: RwLock::new(sink),
            guard: None,
            poll_requests: tokio::sync::watch::channel(0).0,
        }
    }

    /// Asks every price poller for a round now (several asks before it runs make one round).
    pub fn poll_soon(&self) {
        self.poll_requests.send_modify(|asked| *asked = asked.wrapping_add(1));
    }

    /// What a price poller waits on besides its interval.
    pub fn poll_requests(&self) -> tokio::sync::watch::Receiver<u64> {
        self.poll_requests.subscribe()
    }

    /// Screens every tick of a held symbol with `rule` before delivery; held ticks go to
    /// `suspects`. The guard remembers a market's last accepted price while nobody holds it
    /// (one small entry per market ever held), so a position opened again is still guarded.
    pub fn with_tick_guard(mut self, rule: TickJumpGuard, suspects: Arc<dyn SuspectSink>) -> MarketHub {
        self.guard = Some(Guard {
            rule,
            markets: Mutex::new(HashMap::new()),
            suspects,
        });
        self
    }

    /// Replaces the sink (for wiring a registry that itself needs the hub).
    pub fn set_sink(&self, sink: Arc<dyn TickSink>) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = sink;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, SymbolSubs>> {
        self.subs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Key, SymbolSubs>> {
        self.subs.write().unwrap_or_else(|e| e.into_inner())
    }

    /// One more open position of `user_id` in this market.
    pub fn subscribe(&self, exchange: Exchange, symbol: &str, user_id: UserId) {
        let symbol: Arc<str> = normalize_symbol(symbol).into();
        let mut subs = self.write();
        let entry = subs.entry((exchange, symbol)).or_default();
        match entry.counts.get_mut(&user_id) {
            Some((count, _)) => *count += 1,
            None => {
                let users = Arc::make_mut(&mut entry.users);
                users.push(user_id);
                entry.counts.insert(user_id, (1, users.len() - 1));
            }
        }
    }

    /// One open position fewer; the user stops receiving ticks when the count reaches zero.
    /// Returns false when the user was not subscribed.
    pub fn unsubscribe(&self, exchange: Exchange, symbol: &str, user_id: UserId) -> bool {
        let symbol: Arc<str> = normalize_symbol(symbol).into();
        let key = (exchange, symbol);
        let mut subs = self.write();
        let Some(entry) = subs.get_mut(&key) else {
            return false;
        };
        let Some((count, index)) = entry.counts.get_mut(&user_id) else {
            return false;
        };
        if *count > 1 {
            *count -= 1;
            return true;
        }
        let index = *index;
        entry.counts.remove(&user_id);
        let users = Arc::make_mut(&mut entry.users);
        users.swap_remove(index);
        if let Some(moved) = users.get(index) {
            if let Some((_, moved_index)) = entry.counts.get_mut(moved) {
                *moved_index = index;
            }
        }
        if entry.counts.is_empty() {
            subs.remove(&key);
        }
        true
    }

    /// Drops every subscription of `user_id` (a user actor that starts again re-subscribes
    /// exactly the positions it loads). Costs one pass over the subscribed symbols.
    pub fn clear_user(&self, user_id: UserId) {
        let held: Vec<(Exchange, Arc<str>, u32)> = self
            .read()
            .iter()
            .filter_map(|((exchange, symbol), entry)| {
                entry.counts.get(&user_id).map(|(n, _)| (*exchange, symbol.clone(), *n))
            })
            .collect();
        for (exchange, symbol, count) in held {
            for _ in 0..count {
                self.unsubscribe(exchange, &symbol, user_id);
            }
        }
    }

    /// The symbols of `exchange` with at least one subscriber, sorted.
    pub fn symbols(&self, exchange: Exchange) -> Vec<String> {
        let mut symbols: Vec<String> = self
            .read()
            .keys()
            .filter(|(e, _)| *e == exchange)
            .map(|(_, s)| s.to_string())
            .collect();
        symbols.sort();
        symbols
    }

    /// The users subscribed to a market (in no particular order).
    pub fn subscribers(&self, exchange: Exchange, symbol: &str) -> Vec<UserId> {
        let key = (exchange, Arc::from(normalize_symbol(symbol)));
        self.read()
            .get(&key)
            .map(|s| s.users.as_ref().clone())
            .unwrap_or_default()
    }

    /// How many positions of `user_id` are subscribed to a market.
    pub fn subscription_count(&self, exchange: Exchange, symbol: &str, user_id: UserId) -> u32 {
        let key = (exchange, Arc::from(normalize_symbol(symbol)));
        self.read()
            .get(&key)
            .and_then(|s| s.counts.get(&user_id).map(|(count, _)| *count))
            .unwrap_or(0)
    }

    /// Delivers each price to every user subscribed to its symbol; returns the deliveries made.
    /// Symbols are normalised; a symbol nobody holds costs one map lookup.
    pub fn publish(&self, exchange: Exchange, prices: Vec<(String, Decimal)>) -> usize {
        let at = Utc::now();
        let mut ticked: Vec<(Arc<Vec<UserId>>, PriceTick)> = {
            let subs = self.read();
            prices
                .into_iter()
                .filter_map(|(symbol, price)| {
                    let key = (exchange, Arc::from(normalize_symbol(&symbol)));
                    let entry = subs.get(&key)?;
                    let tick = PriceTick {
                        exchange,
                        symbol: key.1.clone(),
                        price,
                        at,
                    };
                    Some((entry.users.clone(), tick))
                })
                .collect()
        };
        if let Some(guard) = &self.guard {
            guard.screen(exchange, at, &mut ticked);
        }
        let sink = self.sink.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut delivered = 0;
        for (users, tick) in ticked {
            for &user_id in users.iter() {
                sink.deliver(user_id, tick.clone());
            }
            delivered += users.len();
        }
        counter!("market_tick_deliveries_total", "exchange" => exchange.as_str()).increment(delivered as u64);
        delivered
    }
}

impl Guard {
    /// Drops the ticks the rule holds, and reports each held market once per hour.
    fn screen(&self, exchange: Exchange, at: DateTime<Utc>, ticked: &mut Vec<(Arc<Vec<UserId>>, PriceTick)>) {
        let hour = at.timestamp().div_euclid(3600);
        let mut held = 0u64;
        let mut reports = Vec::new();
        {
            let mut markets = self.markets.lock().unwrap_or_else(|e| e.into_inner());
            ticked.retain(|(_, tick)| {
                let market = markets.entry((tick.exchange, tick.symbol.clone())).or_default();
                let TickVerdict::Held(suspect) = self.rule.judge(&mut market.prices, tick.price) else {
                    return true;
                };
                held += 1;
                if market.reported_hour != Some(hour) {
                    market.reported_hour = Some(hour);
                    reports.push(SuspectTick {
                        exchange: tick.exchange,
                        symbol: tick.symbol.clone(),
                        price: suspect.price,
                        last_accepted_price: suspect.last_accepted_price,
                        jump_pct: suspect.jump_pct,
                        at,
                    });
                }
                false
            });
        }
        if held > 0 {
            counter!("market_ticks_held_total", "exchange" => exchange.as_str()).increment(held);
            tracing::warn!(%exchange, held, "price ticks held by the tick-jump guard");
        }
        for report in reports {
            self.suspects.report(report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A user id from a small number, so the tests read as numbers.
    fn u(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[derive(Default)]
    struct Recording(Mutex<Vec<(UserId, PriceTick)>>);

    impl TickSink for Recording {
        fn deliver(&self, user_id: UserId, tick: PriceTick) {
            self.0.lock().unwrap().push((user_id, tick));
        }
    }

    impl Recording {
        fn take(&self) -> Vec<(UserId, String, Decimal)> {
            let mut got: Vec<_> = std::mem::take(&mut *self.0.lock().unwrap())
                .into_iter()
                .map(|(u, t)| (u, t.symbol.to_string(), t.price))
                .collect();
            got.sort();
            got
        }
    }

    fn dec(v: i64) -> Decimal {
        Decimal::from(v)
    }

    fn hub() -> (Arc<Recording>, MarketHub) {
        let sink = Arc::new(Recording::default());
        (sink.clone(), MarketHub::new(sink))
    }

    #[test]
    fn publish_reaches_only_subscribers_of_the_ticked_symbol() {
        let (sink, hub) = hub();
        hub.subscribe(Exchange::Binance, "BTC/USDT", u(1));
        hub.subscribe(Exchange::Binance, "btcusdt", u(2));
        hub.subscribe(Exchange::Binance, "ETHUSDT", u(3));
        hub.subscribe(Exchange::Ibkr, "BTCUSDT", u(4));
        let n = hub.publish(
            Exchange::Binance,
            vec![("BTC-USDT".into(), dec(50_000)), ("XRPUSDT".into(), dec(1))],
        );
        assert_eq!(n, 2);
        assert_eq!(
            sink.take(),
            vec![
                (u(1), "BTCUSDT".into(), dec(50_000)),
                (u(2), "BTCUSDT".into(), dec(50_000))
            ]
        );
        assert_eq!(hub.symbols(Exchange::Binance), vec!["BTCUSDT", "ETHUSDT"]);
        assert_eq!(hub.symbols(Exchange::Ibkr), vec!["BTCUSDT"]);
    }

    #[test]
    fn ticks_carry_exchange_and_time() {
        let (sink, hub) = hub();
        hub.subscribe(Exchange::Ibkr, "AAPL", u(9));
        let before = Utc::now();
        assert_eq!(hub.publish(Exchange::Ibkr, vec![("aapl".into(), dec(189))]), 1);
        let (user, tick) = sink.0.lock().unwrap().pop().unwrap();
        assert_eq!((user, tick.exchange, &*tick.symbol), (u(9), Exchange::Ibkr, "AAPL"));
        assert!(tick.at >= before && tick.at <= Utc::now());
    }

    #[test]
    fn unsubscribe_is_reference_counted_per_user() {
        let (sink, hub) = hub();
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(1));
        hub.subscribe(Exchange::Binance, "BTC/USDT", u(1));
        assert_eq!(hub.subscription_count(Exchange::Binance, "BTCUSDT", u(1)), 2);
        // One user, one delivery per tick, however many positions.
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(1))]), 1);
        assert!(hub.unsubscribe(Exchange::Binance, "btc/usdt", u(1)));
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(2))]), 1);
        assert!(hub.unsubscribe(Exchange::Binance, "BTCUSDT", u(1)));
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(3))]), 0);
        assert!(!hub.unsubscribe(Exchange::Binance, "BTCUSDT", u(1)));
        assert!(hub.symbols(Exchange::Binance).is_empty());
        assert_eq!(sink.take().len(), 2);
    }

    #[test]
    fn removing_a_user_keeps_the_others_indexed() {
        let (sink, hub) = hub();
        for user in 1..=5 {
            hub.subscribe(Exchange::Binance, "ETHUSDT", u(user));
        }
        assert!(hub.unsubscribe(Exchange::Binance, "ETHUSDT", u(2)));
        assert!(hub.unsubscribe(Exchange::Binance, "ETHUSDT", u(5)));
        assert!(hub.unsubscribe(Exchange::Binance, "ETHUSDT", u(1)));
        hub.publish(Exchange::Binance, vec![("ETHUSDT".into(), dec(7))]);
        let users: Vec<UserId> = sink.take().into_iter().map(|(u, _, _)| u).collect();
        assert_eq!(users, vec![u(3), u(4)]);
        assert!(hub.unsubscribe(Exchange::Binance, "ETHUSDT", u(4)));
        assert!(hub.unsubscribe(Exchange::Binance, "ETHUSDT", u(3)));
        assert!(hub.symbols(Exchange::Binance).is_empty());
    }

    /// A sink that unsubscribes on delivery: publish must not hold a lock while delivering.
    struct Reentrant(Arc<MarketHub>, AtomicU64);

    impl TickSink for Reentrant {
        fn deliver(&self, user_id: UserId, tick: PriceTick) {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.unsubscribe(tick.exchange, &tick.symbol, user_id);
        }
    }

    #[test]
    fn a_sink_may_call_back_into_the_hub() {
        let hub = Arc::new(MarketHub::new(Arc::new(NullTickSink::default())));
        let sink = Arc::new(Reentrant(hub.clone(), AtomicU64::new(0)));
        hub.set_sink(sink.clone());
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(1));
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(2));
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(1))]), 2);
        assert_eq!(sink.1.load(Ordering::Relaxed), 2);
        assert!(hub.symbols(Exchange::Binance).is_empty());
    }

    #[derive(Default)]
    struct Suspects(Mutex<Vec<SuspectTick>>);

    impl SuspectSink for Suspects {
        fn report(&self, suspect: SuspectTick) {
            self.0.lock().unwrap().push(suspect);
        }
    }

    fn guarded_hub() -> (Arc<Recording>, Arc<Suspects>, MarketHub) {
        let sink = Arc::new(Recording::default());
        let suspects = Arc::new(Suspects::default());
        let rule = TickJumpGuard::new(dec(20)).unwrap();
        let hub = MarketHub::new(sink.clone()).with_tick_guard(rule, suspects.clone());
        (sink, suspects, hub)
    }

    fn prices(sink: &Recording) -> Vec<Decimal> {
        sink.take().into_iter().map(|(_, _, p)| p).collect()
    }

    #[test]
    fn the_guard_holds_a_jump_until_a_second_tick_confirms_it() {
        let (sink, suspects, hub) = guarded_hub();
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(1));
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(2));
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(100))]), 2);
        // 30 % down: held for every subscriber, nothing delivered.
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTC/USDT".into(), dec(70))]), 0);
        // Back to normal: delivered, the suspect dropped.
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(99))]), 2);
        // A real move: the second tick near the first one is delivered.
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(70))]), 0);
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(71))]), 2);
        // (sorted by user, then price)
        assert_eq!(
            prices(&sink),
            vec![dec(71), dec(99), dec(100), dec(71), dec(99), dec(100)]
        );
        // Two suspects in one hour: reported once.
        let reported = suspects.0.lock().unwrap().clone();
        assert_eq!(reported.len(), 1, "{reported:?}");
        assert_eq!(
            (
                reported[0].exchange,
                &*reported[0].symbol,
                reported[0].price,
                reported[0].last_accepted_price,
                reported[0].jump_pct
            ),
            (Exchange::Binance, "BTCUSDT", dec(70), dec(100), Some(dec(30)))
        );
    }

    #[test]
    fn the_guard_keeps_markets_apart_and_ignores_symbols_nobody_holds() {
        let (sink, suspects, hub) = guarded_hub();
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(1));
        hub.subscribe(Exchange::Ibkr, "BTCUSDT", u(2));
        hub.publish(
            Exchange::Binance,
            vec![("BTCUSDT".into(), dec(100)), ("ETHUSDT".into(), dec(1))],
        );
        // The first IBKR tick is that market's first: accepted however far from Binance's.
        assert_eq!(hub.publish(Exchange::Ibkr, vec![("BTCUSDT".into(), dec(500))]), 1);
        // ETHUSDT had no subscriber: the guard never saw it, so its first held tick is accepted.
        hub.subscribe(Exchange::Binance, "ETHUSDT", u(3));
        assert_eq!(hub.publish(Exchange::Binance, vec![("ETHUSDT".into(), dec(1000))]), 1);
        assert_eq!(sink.take().len(), 3);
        assert!(suspects.0.lock().unwrap().is_empty());
    }

    #[test]
    fn the_guard_remembers_a_market_while_nobody_holds_it() {
        let (sink, suspects, hub) = guarded_hub();
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(1));
        hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(100))]);
        assert!(hub.unsubscribe(Exchange::Binance, "BTCUSDT", u(1)));
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(2));
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(10))]), 0);
        assert_eq!(prices(&sink), vec![dec(100)]);
        assert_eq!(suspects.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn without_a_guard_every_tick_is_delivered() {
        let (sink, hub) = hub();
        hub.subscribe(Exchange::Binance, "BTCUSDT", u(1));
        for p in [100, 10, 1000] {
            assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(p))]), 1);
        }
        assert_eq!(prices(&sink), vec![dec(10), dec(100), dec(1000)]);
    }

    #[test]
    fn concurrent_subscribers_and_publishers() {
        let sink = Arc::new(NullTickSink::default());
        let hub = Arc::new(MarketHub::new(sink.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let hub = hub.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let user = t * 1000 + i;
                        hub.subscribe(Exchange::Binance, "BTCUSDT", u(user));
                        hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(1))]);
                        if i % 2 == 0 {
                            hub.unsubscribe(Exchange::Binance, "BTCUSDT", u(user));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut users = hub.subscribers(Exchange::Binance, "BTCUSDT");
        users.sort();
        let mut expected: Vec<UserId> = (0..4)
            .flat_map(|t| (0..500).filter(|i| i % 2 == 1).map(move |i| u(t * 1000 + i)))
            .collect();
        expected.sort();
        assert_eq!(users, expected);
        assert_eq!(hub.publish(Exchange::Binance, vec![("BTCUSDT".into(), dec(1))]), 1000);
        assert!(sink.delivered() >= 1000);
    }
}
