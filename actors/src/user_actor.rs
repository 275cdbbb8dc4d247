//! The per-user actor: every change to one user's trading state is a message handled here,
//! one at a time. It starts by loading its truth from Postgres (start-up is recovery), keeps
//! the user's open positions in memory, and stops itself after a quiet period.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::rules::risk::{self, ProfileSelector, RiskProfile};
use crate::store::trading::{self, CloseRequest, NewSignal, OpenRequest, PositionRow, SignalRow};
use crate::store::{Store, StoreError};
use futures::future::BoxFuture;

/// Where an answer goes.
pub type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What a user actor can be asked to do (commands, in the imperative).
pub enum UserCommand {
    CreateSignal {
        signal: NewSignal,
        reply: Reply<SignalRow>,
    },
    ClaimSignals {
        limit: i64,
        reply: Reply<Vec<SignalRow>>,
    },
    OpenPosition {
        signal_id: i64,
        qty: Decimal,
        reply: Reply<PositionRow>,
    },
    ClosePosition {
        position_id: i64,
        exit_price: Decimal,
        fees: Decimal,
        exit_reason: Option<String>,
        reply: Reply<PositionRow>,
    },
    /// Answers how many open positions the actor holds in memory (for tests and metrics).
    CountOpen {
        reply: Reply<usize>,
    },
}

impl UserCommand {
    /// Answers the command with `err` without running it.
    pub fn refuse(self, err: ApiError) {
        match self {
            UserCommand::CreateSignal { reply, .. } => drop(reply.send(Err(err))),
            UserCommand::ClaimSignals { reply, .. } => drop(reply.send(Err(err))),
            UserCommand::OpenPosition { reply, .. } | UserCommand::ClosePosition { reply, .. } => {
                drop(reply.send(Err(err)))
            }
            UserCommand::CountOpen { reply } => drop(reply.send(Err(err))),
        }
    }
}

/// A write queued in order, and the future of its commit.
pub type Submitted<T> = Result<BoxFuture<'static, Result<T, StoreError>>, StoreError>;

/// The writes and the start-up read a user actor needs, behind a trait so the actor can be
/// measured (and tested) with persistence stubbed out.
#[async_trait::async_trait]
pub trait TradingPersistence: Send + Sync + 'static {
    /// Queues the creation now (fixing its order) and returns the future of its commit.
    fn create_signal(&self, signal: NewSignal) -> Submitted<SignalRow>;
    /// Queues the claim now. Claims need not wait for each other: the shard runs them in
    /// order, and each sees the previous one's updates (same or later transaction).
    fn claim_signals(&self, claim: trading::Claim) -> Submitted<Vec<SignalRow>>;
    async fn open_position(&self, request: OpenRequest) -> Result<Result<PositionRow, ApiError>, StoreError>;
    async fn close_position(&self, request: CloseRequest) -> Result<Result<PositionRow, ApiError>, StoreError>;
    /// The user's email and open positions, or None when the user does not exist.
    async fn load_user(&self, user_id: i64) -> Result<Option<(String, Vec<PositionRow>)>, StoreError>;
}

/// The real persistence: group-committed writes on the user's shard.
#[async_trait::async_trait]
impl TradingPersistence for Store {
    fn create_signal(&self, signal: NewSignal) -> Submitted<SignalRow> {
        let user_id = signal.user_id;
        Ok(Box::pin(self.submit(user_id, None, signal, trading::create_signal)?))
    }
    fn claim_signals(&self, claim: trading::Claim) -> Submitted<Vec<SignalRow>> {
        Ok(Box::pin(self.submit(
            claim.user_id,
            None,
            claim,
            trading::claim_signals,
        )?))
    }
    async fn open_position(&self, request: OpenRequest) -> Result<Result<PositionRow, ApiError>, StoreError> {
        let user_id = request.user_id;
        self.write(user_id, Some(user_id), request, trading::open_from_signal)
            .await
    }
    async fn close_position(&self, request: CloseRequest) -> Result<Result<PositionRow, ApiError>, StoreError> {
        let user_id = request.user_id;
        self.write(user_id, Some(user_id), request, trading::close_position)
            .await
    }
    async fn load_user(&self, user_id: i64) -> Result<Option<(String, Vec<PositionRow>)>, StoreError> {
        trading::load_actor_state(self, user_id).await
    }
}

/// What every user actor shares.
pub struct ActorDeps {
    pub persistence: Arc<dyn TradingPersistence>,
    pub profiles: ProfileSelector,
    pub zone: Tz,
    pub idle: Duration,
}

pub(crate) struct UserActor {
    user_id: i64,
    profile: RiskProfile,
    open: HashMap<i64, PositionRow>,
    deps: Arc<ActorDeps>,
}

/// The actor's life: load, serve until idle or until the mailbox closes, drain, stop.
pub(crate) async fn run(user_id: i64, mut mailbox: mpsc::Receiver<UserCommand>, deps: Arc<ActorDeps>) {
    let mut actor = match deps.persistence.load_user(user_id).await {
        Ok(Some((email, open))) => UserActor {
            user_id,
            profile: deps.profiles.for_email(&email),
            open: open.into_iter().map(|p| (p.id, p)).collect(),
            deps: deps.clone(),
        },
        Ok(None) => return refuse_all(mailbox, ApiError::UserNotFound),
        Err(err) => return refuse_all(mailbox, err.into()),
    };
    loop {
        match tokio::time::timeout(deps.idle, mailbox.recv()).await {
            Ok(Some(command)) => actor.handle(command).await,
            Ok(None) => return,
            Err(_idle) => {
                // Refuse new messages (senders then start a fresh actor), finish what is queued.
                mailbox.close();
                while let Some(command) = mailbox.recv().await {
                    actor.handle(command).await;
                }
                return;
            }
        }
    }
}

fn refuse_all(mut mailbox: mpsc::Receiver<UserCommand>, err: ApiError) {
    mailbox.close();
    while let Ok(command) = mailbox.try_recv() {
        command.refuse(err.clone());
    }
}

impl UserActor {
    async fn handle(&mut self, command: UserCommand) {
        let persistence = &self.deps.persistence;
        let user_id = self.user_id;
        match command {
            // Creating and claiming touch no state the actor guards: queue the write in order
            // and let the commit answer the caller, without holding up the next message.
            UserCommand::CreateSignal { signal, reply } => answer_on_commit(persistence.create_signal(signal), reply),
            UserCommand::ClaimSignals { limit, reply } => {
                answer_on_commit(persistence.claim_signals(trading::Claim { user_id, limit }), reply)
            }
            UserCommand::OpenPosition { signal_id, qty, reply } => {
                let now = Utc::now();
                let request = OpenRequest {
                    user_id,
                    signal_id,
                    qty,
                    profile: self.profile.clone(),
                    day: risk::risk_day(now, self.deps.zone),
                    now,
                };
                let result = flatten(persistence.open_position(request).await);
                if let Ok(position) = &result {
                    self.open.insert(position.id, position.clone());
                }
                let _ = reply.send(result);
            }
            UserCommand::ClosePosition {
                position_id,
                exit_price,
                fees,
                exit_reason,
                reply,
            } => {
                let now = Utc::now();
                let request = CloseRequest {
                    user_id,
                    position_id,
                    exit_price,
                    fees,
                    exit_reason,
                    day: risk::risk_day(now, self.deps.zone),
                    now,
                };
                let result = flatten(persistence.close_position(request).await);
                if result.is_ok() || matches!(result, Err(ApiError::PositionNotOpen(_))) {
                    self.open.remove(&position_id);
                }
                let _ = reply.send(result);
            }
            UserCommand::CountOpen { reply } => {
                let _ = reply.send(Ok(self.open.len()));
            }
        }
    }
}

fn answer_on_commit<T: Send + 'static>(submitted: Submitted<T>, reply: Reply<T>) {
    match submitted {
        Ok(committed) => {
            tokio::spawn(async move {
                let _ = reply.send(committed.await.map_err(ApiError::from));
            });
        }
        Err(err) => drop(reply.send(Err(err.into()))),
    }
}

fn flatten<T>(result: Result<Result<T, ApiError>, StoreError>) -> Result<T, ApiError> {
    result.map_err(ApiError::from).and_then(|inner| inner)
}
