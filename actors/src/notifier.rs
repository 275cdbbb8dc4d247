//! The NotifierActor: a task with a bounded queue that sends Telegram messages.
//!
//! [`Notifier::send`] never blocks and never fails its caller: a full queue drops the message and
//! counts it. The task sends one message at a time (one chat, so Telegram's per-chat limit is
//! the real bound), retries 5xx answers and transport errors with exponential backoff, waits
//! as long as a 429 answer's `parameters.retry_after` asks, and gives up after a bounded number
//! of attempts, counting that too. The bot token is part of the request URL only: it never
//! appears in a log line or an error (reqwest errors are stripped of their URL).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use metrics::{counter, gauge};
use rust_decimal::Decimal;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::crypto::SecretText;
use crate::domain::{Exchange, PositionId, UserId};

/// Everything the notifier needs; the timings are configurable so tests stay fast.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// `https://api.telegram.org` or a fake; no trailing slash needed.
    pub api_base_url: String,
    /// Without a token or a chat id nothing is sent (a disabled notifier).
    pub bot_token: Option<SecretText>,
    pub chat_id: Option<String>,
    /// Messages waiting to be sent; beyond it `send` drops.
    pub queue_capacity: usize,
    /// Attempts per message (the first one included) before giving up.
    pub max_attempts: u32,
    /// Backoff before the 2nd attempt; doubled each time up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest 429 `retry_after` honoured; a longer one gives up on the message.
    pub max_retry_after: Duration,
    /// Timeout of one HTTP request (connect included).
    pub request_timeout: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            api_base_url: "https://api.telegram.org".into(),
            bot_token: None,
            chat_id: None,
            queue_capacity: 1024,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What the team is told. Every text field is HTML-escaped when rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    PositionOpened {
        user_id: UserId,
        position_id: PositionId,
        exchange: Exchange,
        symbol: String,
        qty: Decimal,
        entry_price: Decimal,
        stop_loss: Option<Decimal>,
        take_profit: Option<Decimal>,
    },
    PositionClosed {
        user_id: UserId,
        position_id: PositionId,
        symbol: String,
        exit_price: Decimal,
        realized_pnl: Decimal,
        fees: Decimal,
    },
    /// An open refused by a risk limit; `reason` is the contract message (e.g. `Risk block: ...`).
    RiskBlocked {
        user_id: UserId,
        symbol: Option<String>,
        reason: String,
    },
    /// Alert mode: an exit trigger fired (reasons such as `stop_loss_hit`).
    ExitTriggered {
        user_id: UserId,
        position_id: PositionId,
        symbol: String,
        price: Decimal,
        reasons: Vec<String>,
    },
    /// Close mode: the monitor closed the position at the tick price.
    PositionAutoClosed {
        user_id: UserId,
        position_id: PositionId,
        symbol: String,
        exit_price: Decimal,
        realized_pnl: Decimal,
        exit_reason: String,
    },
    /// An order the exchange (or bridge) refused; `error` must already be free of secrets.
    UpstreamOrderError {
        user_id: UserId,
        exchange: Exchange,
        symbol: String,
        error: String,
    },
    DailySummary {
        user_id: UserId,
        email: String,
        day: NaiveDate,
        trades: i32,
        realized_pnl: Decimal,
        blocked_opens: i32,
        open_positions: i32,
        opened_positions: i64,
    },
}

/// Escapes the three characters Telegram's HTML mode reserves.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            other => out.push(other),
        }
    }
    out
}

/// Longest free text (an upstream error) put in a message, in characters.
const MAX_FREE_TEXT: usize = 300;

fn free_text(text: &str) -> String {
    let clipped: String = text.chars().take(MAX_FREE_TEXT).collect();
    let suffix = if text.chars().count() > MAX_FREE_TEXT {
        "…"
    } else {
        ""
    };
    format!("{}{suffix}", escape_html(&clipped))
}

fn opt(value: &Option<Decimal>) -> String {
    value.map(|v| v.normalize().to_string()).unwrap_or_else(|| "-".into())
}

fn money(value: &Decimal) -> String {
    let v = value.normalize();
    if v.is_sign_positive() && !v.is_zero() {
        format!("+{v}")
    } else {
        v.to_string()
    }
}

impl Notification {
    /// A short stable name, used as a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::PositionOpened { .. } => "position_opened",
            Notification::PositionClosed { .. } => "position_closed",
            Notification::RiskBlocked { .. } => "risk_blocked",
            Notification::ExitTriggered { .. } => "exit_triggered",
            Notification::PositionAutoClosed { .. } => "position_auto_closed",
            Notification::UpstreamOrderError { .. } => "upstream_order_error",
            Notification::DailySummary { .. } => "daily_summary",
        }
    }

    /// The message text in Telegram's HTML mode; everything that came from outside is escaped.
    pub fn render(&self) -> String {
        match self {
            Notification::PositionOpened {
                user_id,
                position_id,
                exchange,
                symbol,
                qty,
                entry_price,
                stop_loss,
                take_profit,
            } => format!(
                "🟢 <b>Position opened</b> #{position_id}\nuser {user_id} · {exchange} {}\nqty {} @ {}\nstop {} · take {}",
                escape_html(symbol),
                qty.normalize(),
                entry_price.normalize(),
                opt(stop_loss),
                opt(take_profit),
            ),
            Notification::PositionClosed {
                user_id,
                position_id,
                symbol,
                exit_price,
                realized_pnl,
                fees,
            } => format!(
                "🔵 <b>Position closed</b> #{position_id}\nuser {user_id} · {}\nexit @ {} · fees {}\nPnL <b>{}</b>",
                escape_html(symbol),
                exit_price.normalize(),
                fees.normalize(),
                money(realized_pnl),
            ),
            Notification::RiskBlocked {
                user_id,
                symbol,
                reason,
            } => format!(
                "🛑 <b>Open blocked</b>\nuser {user_id}{}\n{}",
                symbol
                    .as_deref()
                    .map(|s| format!(" · {}", escape_html(s)))
                    .unwrap_or_default(),
                free_text(reason),
            ),
            Notification::ExitTriggered {
                user_id,
                position_id,
                symbol,
                price,
                reasons,
            } => format!(
                "⚠️ <b>Exit triggered</b> #{position_id}\nuser {user_id} · {} @ {}\n{}",
                escape_html(symbol),
                price.normalize(),
                free_text(&reasons.join(", ")),
            ),
            Notification::PositionAutoClosed {
                user_id,
                position_id,
                symbol,
                exit_price,
                realized_pnl,
                exit_reason,
            } => format!(
                "🤖 <b>Position auto-closed</b> #{position_id}\nuser {user_id} · {} @ {}\nreason {}\nPnL <b>{}</b>",
                escape_html(symbol),
                exit_price.normalize(),
                free_text(exit_reason),
                money(realized_pnl),
            ),
            Notification::UpstreamOrderError {
                user_id,
                exchange,
                symbol,
                error,
            } => format!(
                "❗ <b>{exchange} order failed</b>\nuser {user_id} · {}\n{}",
                escape_html(symbol),
                free_text(error),
            ),
            Notification::DailySummary {
                user_id,
                email,
                day,
                trades,
                realized_pnl,
                blocked_opens,
                open_positions,
                opened_positions,
            } => format!(
                "📊 <b>Daily summary {day}</b>\n{} (user {user_id})\ntrades {trades} · opened {opened_positions} · blocked opens {blocked_opens}\nrealized PnL <b>{}</b> · open positions {open_positions}",
                escape_html(email),
                money(realized_pnl),
            ),
        }
    }
}

/// Counters of one notifier, readable in tests (the same numbers go to `/metrics`).
#[derive(Debug, Default)]
struct Stats {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
    queued: AtomicU64,
}

/// A snapshot of a notifier's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifierStats {
    /// Messages Telegram accepted.
    pub sent: u64,
    /// Messages given up on (retries exhausted or refused by Telegram).
    pub failed: u64,
    /// Messages dropped because the queue was full (or the task had stopped).
    pub dropped: u64,
    /// Extra attempts made after a failed one.
    pub retries: u64,
    /// Messages waiting in the queue now.
    pub queued: u64,
}

/// The handle every actor and handler holds: cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    tx: Option<mpsc::Sender<Notification>>,
    stats: Arc<Stats>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            tx: None,
            stats: Arc::new(Stats::default()),
        }
    }

    /// Starts the notifier task (a disabled notifier when the token or the chat id is missing).
    /// Must run inside a Tokio runtime. The task ends when every handle is dropped, after
    /// sending what is queued.
    pub fn start(config: NotifierConfig) -> Notifier {
        let (Some(token), Some(chat_id)) = (config.bot_token.clone(), config.chat_id.clone()) else {
            tracing::info!("telegram notifications disabled (no bot token or chat id)");
            return Notifier::disabled();
        };
        if token.expose().trim().is_empty() || chat_id.trim().is_empty() {
            return Notifier::disabled();
        }
        let client = match reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
        {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(error = %err.without_url(), "cannot build the telegram client; notifications disabled");
                return Notifier::disabled();
            }
        };
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let stats = Arc::new(Stats::default());
        let worker = Worker {
            url: format!(
                "{}/bot{}/sendMessage",
                config.api_base_url.trim_end_matches('/'),
                token.expose()
            ),
            chat_id,
            client,
            config,
            stats: stats.clone(),
        };
        tokio::spawn(worker.run(rx));
        Notifier { tx: Some(tx), stats }
    }

    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues a message. Never blocks, never fails: a full queue drops it (counted).
    pub fn send(&self, notification: Notification) {
        let Some(tx) = &self.tx else {
            return;
        };
        let kind = notification.kind();
        // Counted before the send so the worker's decrement can never come first.
        let depth = self.stats.queued.fetch_add(1, Ordering::Relaxed) + 1;
        match tx.try_send(notification) {
            Ok(()) => gauge!("notifier_queue_depth").set(depth as f64),
            Err(_) => {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                counter!("notifications_dropped_total", "kind" => kind).increment(1);
                tracing::warn!(kind, "notification dropped: queue full");
            }
        }
    }

    pub fn stats(&self) -> NotifierStats {
        NotifierStats {
            sent: self.stats.sent.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            queued: self.stats.queued.load(Ordering::Relaxed),
        }
    }
}

#[derive(Deserialize)]
struct TelegramError {
    parameters: Option<TelegramParameters>,
}

#[derive(Deserialize)]
struct TelegramParameters {
    retry_after: Option<u64>,
}

/// What one attempt came to.
enum Attempt {
    Sent,
    /// Worth another try after this long (None = the usual backoff).
    Retry(Option<Duration>, &'static str),
    /// Telegram refused the message itself; trying again will not help.
    Refused(u16),
}

struct Worker {
    url: String,
    chat_id: String,
    client: reqwest::Client,
    config: NotifierConfig,
    stats: Arc<Stats>,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Notification>) {
        while let Some(notification) = rx.recv().await {
            let depth = self.stats.queued.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
            gauge!("notifier_queue_depth").set(depth as f64);
            self.deliver(&notification).await;
        }
    }

    async fn deliver(&self, notification: &Notification) {
        let kind = notification.kind();
        let body = serde_json::json!({
            "chat_id": self.chat_id,
            "text": notification.render(),
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        let mut backoff = self.config.initial_backoff;
        let attempts = self.config.max_attempts.max(1);
        for attempt in 1..=attempts {
            let (wait, reason) = match self.attempt(&body).await {
                Attempt::Sent => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    counter!("notifications_sent_total", "kind" => kind).increment(1);
                    return;
                }
                Attempt::Refused(status) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    counter!("notifications_failed_total", "reason" => "refused").increment(1);
                    tracing::warn!(kind, status, "telegram refused the notification");
                    return;
                }
                Attempt::Retry(wait, reason) => (wait, reason),
            };
            if attempt == attempts {
                break;
            }
            let wait = match wait {
                Some(asked) if asked > self.config.max_retry_after => {
                    tracing::warn!(
                        kind,
                        retry_after_secs = asked.as_secs(),
                        "telegram asked to wait too long"
                    );
                    break;
                }
                Some(asked) => asked,
                None => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    wait
                }
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            counter!("notifications_retries_total", "reason" => reason).increment(1);
            tokio::time::sleep(wait).await;
        }
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        counter!("notifications_failed_total", "reason" => "gave_up").increment(1);
        tracing::warn!(kind, attempts, "telegram notification given up");
    }

    async fn attempt(&self, body: &serde_json::Value) -> Attempt {
        let response = match self.client.post(&self.url).json(body).send().await {
            Ok(response) => response,
            Err(err) => {
                // The URL holds the token: never let it reach a log line.
                let err = err.without_url();
                tracing::debug!(error = %err, "telegram request failed");
                return Attempt::Retry(None, "transport");
            }
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => Attempt::Sent,
            429 => {
                let header_wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let body_wait = response
                    .json::<TelegramError>()
                    .await
                    .ok()
                    .and_then(|e| e.parameters)
                    .and_then(|p| p.retry_after);
                let wait = body_wait.or(header_wait).map(Duration::from_secs);
                tracing::debug!(retry_after = ?wait, "telegram rate limited");
                Attempt::Retry(wait, "rate_limited")
            }
            500..=599 => Attempt::Retry(None, "server_error"),
            other => Attempt::Refused(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn position(n: u128) -> PositionId {
        PositionId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn escapes_reserved_characters() {
        assert_eq!(escape_html("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(escape_html("plain"), "plain");
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
    }

    #[test]
    fn renders_every_variant_with_escaping() {
        let all = vec![
            Notification::PositionOpened {
                user_id: user(7),
                position_id: position(3),
                exchange: Exchange::Binance,
                symbol: "<BTC&USDT>".into(),
                qty: dec("0.010"),
                entry_price: dec("50000.00"),
                stop_loss: Some(dec("49000")),
                take_profit: None,
            },
            Notification::PositionClosed {
                user_id: user(7),
                position_id: position(3),
                symbol: "<BTC&USDT>".into(),
                exit_price: dec("51000"),
                realized_pnl: dec("10.5"),
                fees: dec("0"),
            },
            Notification::RiskBlocked {
                user_id: user(7),
                symbol: Some("<BTC&USDT>".into()),
                reason: "Risk block: <max> & more".into(),
            },
            Notification::ExitTriggered {
                user_id: user(7),
                position_id: position(3),
                symbol: "<BTC&USDT>".into(),
                price: dec("48000"),
                reasons: vec!["stop_loss_hit".into(), "<x>".into()],
            },
            Notification::PositionAutoClosed {
                user_id: user(7),
                position_id: position(3),
                symbol: "<BTC&USDT>".into(),
                exit_price: dec("48000"),
                realized_pnl: dec("-20"),
                exit_reason: "stop_loss_hit".into(),
            },
            Notification::UpstreamOrderError {
                user_id: user(7),
                exchange: Exchange::Ibkr,
                symbol: "<BTC&USDT>".into(),
                error: "<html>bad & worse</html>".into(),
            },
            Notification::DailySummary {
                user_id: user(7),
                email: "a<b>@x.io".into(),
                day: NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
                trades: 2,
                realized_pnl: dec("12.50"),
                blocked_opens: 1,
                open_positions: 0,
                opened_positions: 2,
            },
        ];
        let mut kinds = std::collections::HashSet::new();
        for n in &all {
            let text = n.render();
            assert!(kinds.insert(n.kind()), "kinds are distinct");
            // Only our own tags remain; everything from outside is escaped.
            let stripped = text.replace("<b>", "").replace("</b>", "");
            assert!(!stripped.contains('<') && !stripped.contains('>'), "{text}");
            assert!(!text.contains("&U") && !text.contains("& "), "{text}");
        }
        assert_eq!(
            all[0].render(),
            "🟢 <b>Position opened</b> #00000000-0000-0000-0000-000000000003\nuser 00000000-0000-0000-0000-000000000007 · BINANCE &lt;BTC&amp;USDT&gt;\nqty 0.01 @ 50000\nstop 49000 · take -"
        );
        assert!(all[1].render().ends_with("PnL <b>+10.5</b>"));
        assert!(all[2].render().contains("Risk block: &lt;max&gt; &amp; more"));
        assert!(all[3].render().contains("stop_loss_hit, &lt;x&gt;"));
        assert!(all[4].render().contains("PnL <b>-20</b>"));
        assert!(all[5].render().starts_with("❗ <b>IBKR order failed</b>"));
        assert!(all[6].render().contains("Daily summary 2026-01-02"));
        assert!(all[6].render().contains("a&lt;b&gt;@x.io"));
        assert!(all[6].render().contains("realized PnL <b>+12.5</b>"));
    }

    #[test]
    fn long_upstream_errors_are_clipped() {
        let n = Notification::UpstreamOrderError {
            user_id: user(1),
            exchange: Exchange::Binance,
            symbol: "X".into(),
            error: "e".repeat(1000),
        };
        let text = n.render();
        assert!(text.chars().count() < 400, "{}", text.len());
        assert!(text.ends_with('…'));
    }

    #[test]
    fn the_bot_token_never_prints() {
        let config = NotifierConfig {
            bot_token: Some(SecretText::new("123:SECRET")),
            ..Default::default()
        };
        assert!(!format!("{config:?}").contains("SECRET"));
    }

    #[tokio::test]
    async fn disabled_without_token_or_chat() {
        for (token, chat) in [(None, Some("1")), (Some("t"), None), (Some(""), Some("1"))] {
            let n = Notifier::start(NotifierConfig {
                bot_token: token.map(SecretText::new),
                chat_id: chat.map(String::from),
                ..Default::default()
            });
            assert!(!n.is_enabled());
            n.send(Notification::RiskBlocked {
                user_id: user(1),
                symbol: None,
                reason: "x".into(),
            });
            assert_eq!(n.stats(), NotifierStats::default());
        }
    }

    #[tokio::test]
    async fn full_queue_drops_and_counts() {
        // Nothing listens on port 9: every attempt fails, the single worker is busy backing off.
        let n = Notifier::start(NotifierConfig {
            api_base_url: "http://127.0.0.1:9".into(),
            bot_token: Some(SecretText::new("t")),
            chat_id: Some("1".into()),
            queue_capacity: 2,
            max_attempts: 2,
            initial_backoff: Duration::from_secs(5),
            ..Default::default()
        });
        for _ in 0..10 {
            n.send(Notification::RiskBlocked {
                user_id: user(1),
                symbol: None,
                reason: "x".into(),
            });
        }
        let stats = n.stats();
        // The worker may have taken one message already; at most capacity + 1 were accepted.
        assert!(stats.queued <= 2 && stats.dropped >= 7, "{stats:?}");
        let taken_by_worker = 10 - stats.dropped - stats.queued;
        assert!(taken_by_worker <= 1, "{stats:?}");
        assert_eq!(stats.sent, 0);
    }
}
