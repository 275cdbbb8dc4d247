//! The per-user actor: every change to one user's trading state is a message handled here,
//! one at a time. It starts by loading its truth from Postgres (start-up is recovery), keeps
//! the user's open positions in memory, watches them on price ticks (the exit monitor), and
//! stops itself after a quiet period once it holds no open position.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::cluster::Ownership;
use crate::domain::{
    Exchange, ExitReason, NewSignal, Position, PositionId, Side, Signal, SignalId, StrategyId, UserId,
};
use crate::mailbox::Reply;
use crate::market::{MarketHub, PriceTick};
use crate::notifier::{Notification, Notifier};
use crate::refusals::{CloseRefused, Failure, OpenRefused};
use crate::rules::risk::{self, ExposureCaps, RiskSnapshot};
use crate::rules::strategy::{evaluate_exit, ExitInput};
use crate::store::idempotency::{Keyed, KeyedRequest, KeyedWrite, StoredAnswer};
use crate::store::risk_profiles::RiskProfileSource;
use crate::store::trading::{
    self, ActorState, AlertOutcome, AutoCloseRequest, AutoClosed, CloseRequest, ExitAlert, HeldTerms, OpenRequest,
    ThrottledAudit, Traded, TradingWrite, TradingWritten,
};
use crate::store::trading_control::TradingSwitches;
use crate::store::{Store, StoreError};

/// A command a user actor answers, and the answer it gives.
pub trait Command: Send + 'static {
    type Answer: Send + 'static;
    fn into_message(self, reply: Reply<Self::Answer>) -> UserMessage;
}

/// Creates a signal (the owner is the signal's user).
pub struct CreateSignal(pub NewSignal);

/// Claims the user's oldest CREATED signals, at most `limit`.
pub struct ClaimSignals {
    pub limit: i64,
}

/// Opens a position of `qty` from an EXECUTING signal.
pub struct OpenPosition {
    pub signal_id: SignalId,
    pub qty: Decimal,
}

/// Closes an open position at `exit_price`, paying `fees`.
pub struct ClosePosition {
    pub position_id: PositionId,
    pub exit_price: Decimal,
    pub fees: Decimal,
}

/// How many open positions the actor holds in memory (starting the actor if needed).
pub struct CountOpen;

/// One of the four trading commands, sent with an idempotency key: it runs at most once per key,
/// and every request with that key gets the answer `render` made of the first one's output.
pub struct KeyedTrading {
    pub command: TradingCommand,
    pub request: KeyedRequest,
    pub render: fn(&TradingWritten) -> StoredAnswer,
}

pub enum TradingCommand {
    CreateSignal(CreateSignal),
    ClaimSignals(ClaimSignals),
    OpenPosition(OpenPosition),
    ClosePosition(ClosePosition),
}

/// What reaches a user actor's mailbox.
pub enum UserMessage {
    CreateSignal(CreateSignal, Reply<Result<Signal, StoreError>>),
    ClaimSignals(ClaimSignals, Reply<Result<Vec<Signal>, StoreError>>),
    OpenPosition(OpenPosition, Reply<Result<Position, Failure<OpenRefused>>>),
    ClosePosition(ClosePosition, Reply<Result<Position, Failure<CloseRefused>>>),
    CountOpen(Reply<usize>),
    Keyed(KeyedTrading, Reply<Result<Keyed<()>, StoreError>>),
    /// A price for a market the user holds: evaluate the exit triggers of those positions.
    EvaluateTick(PriceTick),
    /// The user's positions changed elsewhere (another daemon), or this daemon just became their
    /// watcher: read the state again, as a fresh actor would.
    Reload,
}

macro_rules! command {
    ($command:ty, $variant:ident, $answer:ty) => {
        impl Command for $command {
            type Answer = $answer;
            fn into_message(self, reply: Reply<$answer>) -> UserMessage {
                UserMessage::$variant(self, reply)
            }
        }
    };
}
command!(CreateSignal, CreateSignal, Result<Signal, StoreError>);
command!(ClaimSignals, ClaimSignals, Result<Vec<Signal>, StoreError>);
command!(OpenPosition, OpenPosition, Result<Position, Failure<OpenRefused>>);
command!(ClosePosition, ClosePosition, Result<Position, Failure<CloseRefused>>);
command!(KeyedTrading, Keyed, Result<Keyed<()>, StoreError>);

impl Command for CountOpen {
    type Answer = usize;
    fn into_message(self, reply: Reply<usize>) -> UserMessage {
        UserMessage::CountOpen(reply)
    }
}

/// A write queued in order, and the future of its commit.
pub type Submitted<T> = Result<BoxFuture<'static, Result<T, StoreError>>, StoreError>;

/// The writes and the start-up read a user actor needs, behind a trait so the actor can be
/// measured (and tested) with persistence stubbed out.
#[async_trait::async_trait]
pub trait TradingPersistence: Send + Sync + 'static {
    /// Queues the creation now (fixing its order) and returns the future of its commit.
    fn create_signal(&self, signal: NewSignal) -> Submitted<Signal>;
    /// Queues the claim now. Claims need not wait for each other: the shard runs them in
    /// order, and each sees the previous one's updates (same or later transaction).
    fn claim_signals(&self, claim: trading::Claim) -> Submitted<Vec<Signal>>;
    async fn open_position(&self, request: OpenRequest) -> Result<Result<Traded, OpenRefused>, StoreError>;
    async fn close_position(&self, request: CloseRequest) -> Result<Result<Traded, CloseRefused>, StoreError>;
    async fn record_exit_alert(&self, alert: ExitAlert) -> Result<AlertOutcome, StoreError>;
    /// An exit-monitor close, within the cluster's cap of automatic closes per minute. Without
    /// a shared cap to enforce (stubs), it is a close.
    async fn auto_close_position(
        &self,
        request: AutoCloseRequest,
    ) -> Result<Result<AutoClosed, CloseRefused>, StoreError> {
        Ok(self
            .close_position(request.close)
            .await?
            .map(|traded| AutoClosed::Closed(Box::new(traded))))
    }
    /// A trading write under an idempotency key (store/idempotency.rs). Persistence without a
    /// database keeps no keys, and refuses.
    async fn keyed_write(
        &self,
        _write: KeyedWrite<TradingWrite, TradingWritten>,
    ) -> Result<Keyed<TradingWritten>, StoreError> {
        Err(StoreError::Unavailable(
            "this persistence keeps no idempotency keys".into(),
        ))
    }
    /// The user's email, open positions, strategies and risk snapshot for `day`, or None when
    /// the user does not exist.
    async fn load_user(&self, user_id: UserId, day: NaiveDate) -> Result<Option<ActorState>, StoreError>;
}

/// The real persistence: group-committed writes on the user's shard.
#[async_trait::async_trait]
impl TradingPersistence for Store {
    fn create_signal(&self, signal: NewSignal) -> Submitted<Signal> {
        let user_id = signal.user_id;
        Ok(Box::pin(self.submit(
            user_id.into(),
            None,
            signal,
            trading::create_signal,
        )?))
    }
    fn claim_signals(&self, claim: trading::Claim) -> Submitted<Vec<Signal>> {
        Ok(Box::pin(self.submit(
            claim.user_id.into(),
            None,
            claim,
            trading::claim_signals,
        )?))
    }
    async fn open_position(&self, request: OpenRequest) -> Result<Result<Traded, OpenRefused>, StoreError> {
        let user_id = request.user_id;
        self.write(user_id.into(), Some(user_id), request, trading::open_from_signal)
            .await
    }
    async fn close_position(&self, request: CloseRequest) -> Result<Result<Traded, CloseRefused>, StoreError> {
        let user_id = request.user_id;
        self.write(user_id.into(), Some(user_id), request, trading::close_position)
            .await
    }
    async fn record_exit_alert(&self, alert: ExitAlert) -> Result<AlertOutcome, StoreError> {
        self.write(alert.user_id.into(), None, alert, trading::record_exit_alert)
            .await
    }
    async fn auto_close_position(
        &self,
        request: AutoCloseRequest,
    ) -> Result<Result<AutoClosed, CloseRefused>, StoreError> {
        let user_id = request.close.user_id;
        self.write(user_id.into(), Some(user_id), request, trading::auto_close_position)
            .await
    }
    async fn keyed_write(
        &self,
        write: KeyedWrite<TradingWrite, TradingWritten>,
    ) -> Result<Keyed<TradingWritten>, StoreError> {
        let user_id = write.request.user_id;
        let lock_user = write.input.lock_user();
        self.write_keyed(user_id.into(), lock_user, write).await
    }
    async fn load_user(&self, user_id: UserId, day: NaiveDate) -> Result<Option<ActorState>, StoreError> {
        trading::load_actor_state(self, user_id, day).await
    }
}

/// What the exit monitor does when a trigger fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitMode {
    /// Audit `exit.monitor.triggered` and notify, once per position and reason.
    Alert,
    /// Close the position at the tick price, exactly as a manual close, with `exit_reason`.
    Close,
    /// Ignore ticks.
    Off,
}

/// What every user actor shares.
pub struct ActorDeps {
    pub persistence: Arc<dyn TradingPersistence>,
    /// The risk profile of each open: the daemon's in-memory profiles and overrides (with the
    /// email settings), or one fixed profile.
    pub profiles: Arc<dyn RiskProfileSource>,
    /// The exposure caps every open is judged by (`MAX_OPEN_QTY_PER_SYMBOL`, `MAX_OPEN_NOTIONAL_PER_EXCHANGE`).
    pub caps: ExposureCaps,
    pub zone: Tz,
    pub idle: Duration,
    pub market: Arc<MarketHub>,
    pub notifier: Notifier,
    pub exit_mode: ExitMode,
    /// The operators' switches: new exposure refused, automatic closes paused when halted.
    pub trading: Arc<dyn TradingSwitches>,
    /// `EXIT_MAX_AUTO_CLOSES_PER_MINUTE`: automatic closes per minute across the cluster.
    pub max_auto_closes_per_minute: u32,
    /// Which users' positions this daemon watches (ticks reach only theirs); a position changed
    /// here for a user watched elsewhere is announced to its watcher.
    pub cluster: Arc<Ownership>,
}

/// What the actor updates after a keyed write that ran now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    Nothing,
    Open(NaiveDate),
    Close(NaiveDate, PositionId),
}

pub(crate) struct UserActor {
    user_id: UserId,
    /// What the email settings of the risk profiles look at.
    email: String,
    open: HashMap<PositionId, Position>,
    strategies: HashMap<Exchange, StrategyId>,
    /// (position, reason) pairs already alerted, so a steady price does not write each tick.
    alerted: HashSet<(PositionId, ExitReason)>,
    /// Positions whose automatic close was throttled (audited once per position).
    throttled: HashSet<PositionId>,
    /// The user's risk snapshot for a risk day, as the last load, open or close left it: offered
    /// to the next open of that day, which commits in one statement if the database agrees.
    /// Forgotten when an open or close fails (the truth is then read again).
    risk: Option<(NaiveDate, RiskSnapshot)>,
    deps: Arc<ActorDeps>,
}

/// The actor's life: load, serve until idle or until the mailbox closes, drain, stop. An actor
/// that cannot load (no such user, or the database is down) stops at once: the messages queued
/// for it are dropped unanswered, and their askers learn that it stopped.
pub(crate) async fn run(user_id: UserId, mut mailbox: mpsc::Receiver<UserMessage>, deps: Arc<ActorDeps>) {
    let day = risk::risk_day(Utc::now(), deps.zone);
    let mut actor = match deps.persistence.load_user(user_id, day).await {
        Ok(Some(state)) => UserActor::start(user_id, state, day, deps.clone()),
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(%user_id, error = %err, "user actor could not load its state");
            return;
        }
    };
    loop {
        match tokio::time::timeout(deps.idle, mailbox.recv()).await {
            Ok(Some(message)) => actor.handle(message).await,
            Ok(None) => return,
            // An actor holding open positions is watching them: it is never idle.
            Err(_idle) if !actor.open.is_empty() => {}
            Err(_idle) => {
                // Refuse new messages (senders then start a fresh actor), finish what is queued.
                mailbox.close();
                while let Some(message) = mailbox.recv().await {
                    actor.handle(message).await;
                }
                return;
            }
        }
    }
}

impl UserActor {
    fn start(user_id: UserId, state: ActorState, day: NaiveDate, deps: Arc<ActorDeps>) -> UserActor {
        // This actor owns its user's market subscriptions: exactly its open positions.
        deps.market.clear_user(user_id);
        for position in &state.open {
            subscribe(&deps.market, position);
        }
        UserActor {
            user_id,
            email: state.email,
            open: state.open.into_iter().map(|p| (p.id, p)).collect(),
            strategies: state.strategies.into_iter().collect(),
            alerted: HashSet::new(),
            throttled: HashSet::new(),
            risk: Some((day, state.risk)),
            deps,
        }
    }

    async fn handle(&mut self, message: UserMessage) {
        let persistence = &self.deps.persistence;
        let user_id = self.user_id;
        match message {
            // Creating and claiming touch no state the actor guards: queue the write in order
            // and let the commit answer the caller, without holding up the next message.
            UserMessage::CreateSignal(CreateSignal(signal), reply) => {
                answer_on_commit(persistence.create_signal(signal), reply)
            }
            UserMessage::ClaimSignals(ClaimSignals { limit }, reply) => {
                answer_on_commit(persistence.claim_signals(trading::Claim { user_id, limit }), reply)
            }
            UserMessage::OpenPosition(command, reply) => {
                let result = self.open(command).await;
                let _ = reply.send(result);
            }
            UserMessage::ClosePosition(command, reply) => {
                let (day, request) = self.close_request(command.position_id, command.exit_price, command.fees, None);
                let written = self.deps.persistence.close_position(request).await;
                let _ = reply.send(self.closed_manually(day, command.position_id, written));
            }
            UserMessage::Keyed(keyed, reply) => {
                let _ = reply.send(self.keyed(keyed).await);
            }
            UserMessage::EvaluateTick(tick) => self.evaluate_tick(tick).await,
            UserMessage::Reload => self.reload().await,
            UserMessage::CountOpen(reply) => {
                let _ = reply.send(self.open.len());
            }
        }
    }

    async fn reload(&mut self) {
        let day = risk::risk_day(Utc::now(), self.deps.zone);
        match self.deps.persistence.load_user(self.user_id, day).await {
            Ok(Some(state)) => {
                *self = UserActor::start(self.user_id, state, day, self.deps.clone());
                // Positions this daemon may have just taken over: fresh prices now (they are
                // subscribed), not at the next poll.
                if !self.open.is_empty() {
                    self.deps.market.poll_soon();
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(user_id = %self.user_id, error = %err, "user actor could not reload its state"),
        }
    }

    async fn open(&mut self, command: OpenPosition) -> Result<Position, Failure<OpenRefused>> {
        let (day, request) = self.open_request(command).await?;
        let written = self.deps.persistence.open_position(request).await;
        self.opened(day, written)
    }

    /// A command under an idempotency key: the same write, with the key claimed and answered in
    /// its transaction. The actor's state follows only a write that ran now; a replay changed nothing.
    async fn keyed(&mut self, keyed: KeyedTrading) -> Result<Keyed<()>, StoreError> {
        let user_id = self.user_id;
        let (follow, input) = match keyed.command {
            TradingCommand::CreateSignal(CreateSignal(signal)) => (Follow::Nothing, TradingWrite::Create(signal)),
            TradingCommand::ClaimSignals(ClaimSignals { limit }) => {
                (Follow::Nothing, TradingWrite::Claim(trading::Claim { user_id, limit }))
            }
            TradingCommand::OpenPosition(command) => {
                let (day, request) = self.open_request(command).await?;
                (Follow::Open(day), TradingWrite::Open(request))
            }
            TradingCommand::ClosePosition(c) => {
                let (day, request) = self.close_request(c.position_id, c.exit_price, c.fees, None);
                (Follow::Close(day, c.position_id), TradingWrite::Close(request))
            }
        };
        let write = KeyedWrite {
            request: keyed.request,
            input,
            write: trading::write_trading,
            render: keyed.render,
        };
        let outcome = match self.deps.persistence.keyed_write(write).await {
            Ok(outcome) => outcome,
            Err(err) => {
                if follow != Follow::Nothing {
                    self.risk = None;
                }
                return Err(err);
            }
        };
        let Keyed::Fresh(written, answer) = outcome else {
            return Ok(outcome.answer_only());
        };
        match (written, follow) {
            (TradingWritten::Opened(result), Follow::Open(day)) => {
                let _ = self.opened(day, Ok(result));
            }
            (TradingWritten::Closed(result), Follow::Close(day, position_id)) => {
                let _ = self.closed_manually(day, position_id, Ok(result));
            }
            _ => {}
        }
        Ok(Keyed::Fresh((), answer))
    }

    /// The open's request on today's risk day, with the operators' switches as they stand.
    async fn open_request(&self, command: OpenPosition) -> Result<(NaiveDate, OpenRequest), StoreError> {
        let trading_blocked = self.deps.trading.gate(self.user_id).await?.new_exposure().err();
        // Resolved at each open: a profile or override changed anywhere applies from the next one.
        let profile = self.deps.profiles.profile_for(self.user_id, &self.email).await?;
        let now = Utc::now();
        let day = risk::risk_day(now, self.deps.zone);
        let request = OpenRequest {
            user_id: self.user_id,
            signal_id: command.signal_id,
            position_id: PositionId::new(),
            qty: command.qty,
            profile,
            caps: self.deps.caps,
            day,
            now,
            expected: self.expected_risk(day),
            trading_blocked,
            watched_elsewhere: !self.deps.cluster.watches(self.user_id),
        };
        Ok((day, request))
    }

    /// What follows an open's write: the actor keeps the position and watches it, the team hears of it.
    fn opened(
        &mut self,
        day: NaiveDate,
        written: Result<Result<Traded, OpenRefused>, StoreError>,
    ) -> Result<Position, Failure<OpenRefused>> {
        let result = self.settle(day, written);
        match &result {
            Ok(position) => {
                subscribe(&self.deps.market, position);
                self.open.insert(position.id, position.clone());
                self.deps.notifier.send(Notification::PositionOpened {
                    user_id: self.user_id,
                    position_id: position.id,
                    exchange: position.exchange,
                    symbol: position.symbol.to_string(),
                    qty: position.qty,
                    entry_price: position.entry_price,
                    stop_loss: position.stop_loss,
                    take_profit: position.take_profit,
                });
            }
            Err(Failure::Refused(OpenRefused::Risk(block))) => self.deps.notifier.send(Notification::RiskBlocked {
                user_id: self.user_id,
                symbol: None,
                reason: block.to_string(),
            }),
            Err(_) => {}
        }
        result
    }

    /// What follows a manual close's write: the actor forgets the position once it is no longer
    /// open (closed now, or already closed elsewhere), and the team hears of a close.
    fn closed_manually(
        &mut self,
        day: NaiveDate,
        position_id: PositionId,
        written: Result<Result<Traded, CloseRefused>, StoreError>,
    ) -> Result<Position, Failure<CloseRefused>> {
        let result = self.settle(day, written);
        self.forget_unless_open(position_id, &result);
        if let Ok(position) = &result {
            self.deps.notifier.send(Notification::PositionClosed {
                user_id: self.user_id,
                position_id: position.id,
                symbol: position.symbol.to_string(),
                exit_price: position.exit_price.unwrap_or_default(),
                realized_pnl: position.realized_pnl.unwrap_or_default(),
                fees: position.fees.unwrap_or_default(),
            });
        }
        result
    }

    /// An exit-monitor close: `close`, within the cluster's cap of automatic closes per
    /// minute; Ok(None) when the cap was reached (nothing changed but the throttle's audit).
    async fn close_automatically(
        &mut self,
        position_id: PositionId,
        tick: &PriceTick,
        reasons: &[ExitReason],
    ) -> Result<Option<Position>, Failure<CloseRefused>> {
        let (day, close) = self.close_request(position_id, tick.price, Decimal::ZERO, Some(reasons[0]));
        let throttled_audit = match self.throttled.contains(&position_id) {
            true => None,
            false => self.open.get(&position_id).map(|p| ThrottledAudit {
                symbol: p.symbol.clone(),
                reasons: reasons.to_vec(),
            }),
        };
        let request = AutoCloseRequest {
            close,
            cap: self.deps.max_auto_closes_per_minute,
            throttled_audit,
        };
        let result = match self.deps.persistence.auto_close_position(request).await {
            Ok(Ok(AutoClosed::Throttled)) => {
                self.throttled.insert(position_id);
                return Ok(None);
            }
            Ok(Ok(AutoClosed::Closed(traded))) => Ok(Ok(*traded)),
            Ok(Err(refused)) => Ok(Err(refused)),
            Err(err) => Err(err),
        };
        let result = self.settle(day, result);
        self.forget_unless_open(position_id, &result);
        result.map(Some)
    }

    /// A close of `position_id` on today's risk day, with the terms the actor holds.
    fn close_request(
        &self,
        position_id: PositionId,
        exit_price: Decimal,
        fees: Decimal,
        exit_reason: Option<ExitReason>,
    ) -> (NaiveDate, CloseRequest) {
        let now = Utc::now();
        let day = risk::risk_day(now, self.deps.zone);
        let request = CloseRequest {
            user_id: self.user_id,
            position_id,
            exit_price,
            fees,
            exit_reason,
            day,
            now,
            held: self.open.get(&position_id).map(|p| HeldTerms {
                entry_price: p.entry_price,
                qty: p.qty,
            }),
            watched_elsewhere: !self.deps.cluster.watches(self.user_id),
        };
        (day, request)
    }

    /// Forgets the position once a close found it no longer open (closed now, or elsewhere).
    fn forget_unless_open(&mut self, position_id: PositionId, result: &Result<Position, Failure<CloseRefused>>) {
        if matches!(result, Ok(_) | Err(Failure::Refused(CloseRefused::NotOpen(_)))) {
            self.forget(position_id);
        }
    }

    /// The snapshot to offer an open on risk day `day`.
    fn expected_risk(&self, day: NaiveDate) -> Option<RiskSnapshot> {
        self.risk
            .as_ref()
            .filter(|(known, _)| *known == day)
            .map(|(_, snapshot)| snapshot.clone())
    }

    /// Keeps the snapshot an open or a close on `day` left, and answers with its position.
    fn settle<R>(
        &mut self,
        day: NaiveDate,
        result: Result<Result<Traded, R>, StoreError>,
    ) -> Result<Position, Failure<R>> {
        match Failure::flatten(result) {
            Ok(traded) => {
                self.risk = Some((day, traded.risk_after));
                Ok(traded.position)
            }
            Err(err) => {
                self.risk = None;
                Err(err)
            }
        }
    }

    fn forget(&mut self, position_id: PositionId) {
        if let Some(position) = self.open.remove(&position_id) {
            self.deps
                .market
                .unsubscribe(position.exchange, position.symbol.as_str(), self.user_id);
        }
        self.alerted.retain(|(id, _)| *id != position_id);
        self.throttled.remove(&position_id);
    }

    /// The exit triggers of this user's positions in the ticked market — work proportional to
    /// those positions, never to all of the user's (or everyone's).
    async fn evaluate_tick(&mut self, tick: PriceTick) {
        if self.deps.exit_mode == ExitMode::Off {
            return;
        }
        let strategy = self
            .strategies
            .get(&tick.exchange)
            .copied()
            .unwrap_or(StrategyId::SwingV1);
        let fired: Vec<(PositionId, Vec<ExitReason>)> = self
            .open
            .values()
            .filter(|p| p.exchange == tick.exchange && p.symbol.normalized() == *tick.symbol)
            .filter_map(|p| {
                let opened_minutes = Decimal::from((tick.at - p.opened_at).num_seconds().max(0)) / Decimal::from(60);
                let input = ExitInput {
                    side: Side::of_position(p.side),
                    entry_price: p.entry_price,
                    current_price: tick.price,
                    stop_loss: p.stop_loss,
                    take_profit: p.take_profit,
                    opened_minutes,
                    trend_break: false,
                    signal_reverse: false,
                    macro_event_block: false,
                    earnings_within_24h: false,
                };
                let decision = evaluate_exit(strategy, tick.exchange, &input);
                decision.should_exit.then_some((p.id, decision.reasons))
            })
            .collect();
        if fired.is_empty() {
            return;
        }
        let mode = match self.deps.exit_mode {
            ExitMode::Close if self.auto_close_paused().await => ExitMode::Alert,
            mode => mode,
        };
        for (position_id, reasons) in fired {
            match mode {
                ExitMode::Close => self.auto_close(position_id, &tick, reasons).await,
                ExitMode::Alert => self.alert(position_id, &tick, reasons).await,
                ExitMode::Off => {}
            }
        }
    }

    /// Whether an operator halted trading for this user (or everyone): positions are then alerted,
    /// not closed. When the switches cannot be read, closing goes ahead — a stop loss left
    /// unexecuted is the worse failure.
    async fn auto_close_paused(&self) -> bool {
        match self.deps.trading.gate(self.user_id).await {
            Ok(gate) => gate.auto_close_paused(),
            Err(err) => {
                tracing::warn!(user_id = %self.user_id, error = %err, "trading switches unreadable; auto-close goes ahead");
                false
            }
        }
    }

    /// Closes at the tick price with the first reason; beyond the cluster's cap of automatic
    /// closes this minute, alerts instead (the next tick tries the close again).
    async fn auto_close(&mut self, position_id: PositionId, tick: &PriceTick, reasons: Vec<ExitReason>) {
        let reason = reasons[0];
        match self.close_automatically(position_id, tick, &reasons).await {
            Ok(None) => {
                metrics::counter!("exit_monitor_throttled_total").increment(1);
                self.alert(position_id, tick, reasons).await;
            }
            Ok(Some(position)) => {
                metrics::counter!("exit_monitor_closed_total", "reason" => reason.as_str()).increment(1);
                self.deps.notifier.send(Notification::PositionAutoClosed {
                    user_id: self.user_id,
                    position_id,
                    symbol: position.symbol.to_string(),
                    exit_price: tick.price,
                    realized_pnl: position.realized_pnl.unwrap_or_default(),
                    exit_reason: reason.as_str().to_string(),
                });
            }
            Err(Failure::Refused(CloseRefused::NotOpen(_))) => {}
            // The next tick tries again.
            Err(err) => tracing::warn!(user_id = %self.user_id, %position_id, error = %err, "auto-close failed"),
        }
    }

    async fn alert(&mut self, position_id: PositionId, tick: &PriceTick, reasons: Vec<ExitReason>) {
        let new: Vec<ExitReason> = reasons
            .into_iter()
            .filter(|r| !self.alerted.contains(&(position_id, *r)))
            .collect();
        if new.is_empty() {
            return;
        }
        let Some(symbol) = self.open.get(&position_id).map(|p| p.symbol.clone()) else {
            return;
        };
        let alert = ExitAlert {
            user_id: self.user_id,
            position_id,
            symbol: symbol.clone(),
            price: tick.price,
            reasons: new.clone(),
        };
        match self.deps.persistence.record_exit_alert(alert).await {
            Ok(AlertOutcome::Recorded(reasons)) => {
                self.alerted.extend(new.iter().map(|r| (position_id, *r)));
                metrics::counter!("exit_monitor_alerts_total").increment(1);
                self.deps.notifier.send(Notification::ExitTriggered {
                    user_id: self.user_id,
                    position_id,
                    symbol: symbol.to_string(),
                    price: tick.price,
                    reasons: reasons.iter().map(|r| r.as_str().to_string()).collect(),
                });
            }
            Ok(AlertOutcome::AlreadyAlerted) => self.alerted.extend(new.iter().map(|r| (position_id, *r))),
            Ok(AlertOutcome::NotOpen) => self.forget(position_id),
            Err(err) => tracing::warn!(user_id = %self.user_id, %position_id, error = %err, "exit alert not recorded"),
        }
    }
}

fn subscribe(market: &MarketHub, position: &Position) {
    market.subscribe(position.exchange, position.symbol.as_str(), position.user_id);
}

fn answer_on_commit<T: Send + 'static>(submitted: Submitted<T>, reply: Reply<Result<T, StoreError>>) {
    match submitted {
        Ok(committed) => {
            tokio::spawn(async move {
                let _ = reply.send(committed.await);
            });
        }
        Err(err) => drop(reply.send(Err(err))),
    }
}
