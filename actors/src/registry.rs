//! The user-actor registry and supervisor: finds or starts a user's actor, restarts one that
//! panicked (it reloads from Postgres), and forgets one that stopped because it was idle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::domain::UserId;
use crate::mailbox::{answer_within, Mailbox, MailboxError};
use crate::user_actor::{self, ActorDeps, Command, CountOpen, UserMessage};

/// How many messages wait for one user before the next is refused.
pub const MAILBOX_CAPACITY: usize = 256;
/// How long a caller waits for an actor's answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
struct Handle {
    mailbox: Mailbox<UserMessage>,
    generation: u64,
}

struct Inner {
    actors: Mutex<HashMap<UserId, Handle>>,
    deps: Arc<ActorDeps>,
    /// Where actors run: the runtime the registry was made on, not the caller's. An HTTP
    /// worker's runtime stops with the worker at shutdown, and would take the actors it
    /// started with it while other workers still wait on them.
    runtime: tokio::runtime::Handle,
    generation: AtomicU64,
    restarts: AtomicU64,
    stopped: AtomicU64,
}

#[derive(Clone)]
pub struct UserRegistry {
    inner: Arc<Inner>,
}

impl UserRegistry {
    /// A registry whose actors run on the current Tokio runtime (call it inside one).
    pub fn new(deps: ActorDeps) -> Self {
        UserRegistry {
            inner: Arc::new(Inner {
                actors: Mutex::new(HashMap::new()),
                deps: Arc::new(deps),
                runtime: tokio::runtime::Handle::current(),
                generation: AtomicU64::new(0),
                restarts: AtomicU64::new(0),
                stopped: AtomicU64::new(0),
            }),
        }
    }

    /// Sends `command` to the user's actor and waits for its answer.
    pub async fn ask<C: Command>(&self, user_id: UserId, command: C) -> Result<C::Answer, MailboxError> {
        let (reply, answer) = oneshot::channel();
        self.tell(user_id, command.into_message(reply))?;
        answer_within(answer, ASK_TIMEOUT).await
    }

    /// Delivers a message without waiting; a full mailbox refuses at once. A mailbox that closed
    /// because its actor went idle gets a fresh actor.
    pub fn tell(&self, user_id: UserId, mut message: UserMessage) -> Result<(), MailboxError> {
        for _ in 0..2 {
            let handle = self.handle(user_id);
            match handle.mailbox.tell(message) {
                Ok(()) => return Ok(()),
                Err(undelivered) if undelivered.error == MailboxError::Busy => {
                    metrics::counter!("user_actor_mailbox_full_total").increment(1);
                    return Err(MailboxError::Busy);
                }
                Err(undelivered) => {
                    self.forget(user_id, handle.generation);
                    message = undelivered.message;
                }
            }
        }
        Err(MailboxError::Stopped)
    }

    /// Starts the user's actor (it loads the user's state) unless it runs already, without
    /// waiting: at boot for users with open positions, and at login, whose next requests trade.
    pub fn wake(&self, user_id: UserId) {
        let (reply, _) = oneshot::channel();
        let _ = self.tell(user_id, CountOpen.into_message(reply));
    }

    /// Has the user's actor read its state again (starting it if it is not running): its
    /// positions changed elsewhere, or this daemon became their watcher.
    pub fn reload(&self, user_id: UserId) {
        if self.tell(user_id, UserMessage::Reload).is_err() {
            tracing::warn!(%user_id, "user actor busy: not reloaded");
        }
    }

    /// Actors alive now.
    pub fn active(&self) -> usize {
        self.lock().len()
    }

    /// Actors restarted after a panic since start.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    /// Actors that have stopped since start (idle, or a panic before their restart).
    pub fn stopped(&self) -> u64 {
        self.inner.stopped.load(Ordering::Relaxed)
    }

    /// The deepest mailbox right now.
    pub fn max_mailbox_depth(&self) -> usize {
        self.lock().values().map(|h| h.mailbox.depth()).max().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Handle>> {
        self.inner
            .actors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn handle(&self, user_id: UserId) -> Handle {
        let mut actors = self.lock();
        if let Some(handle) = actors.get(&user_id).filter(|h| !h.mailbox.is_closed()) {
            return handle.clone();
        }
        let handle = self.spawn(user_id);
        actors.insert(user_id, handle.clone());
        handle
    }

    fn forget(&self, user_id: UserId, generation: u64) {
        let mut actors = self.lock();
        if actors.get(&user_id).is_some_and(|h| h.generation == generation) {
            actors.remove(&user_id);
        }
    }

    /// Starts an actor and its supervisor. The supervisor restarts it after a panic.
    fn spawn(&self, user_id: UserId) -> Handle {
        let (mailbox, receiver) = Mailbox::bounded(MAILBOX_CAPACITY);
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
        let runtime = &self.inner.runtime;
        let task = runtime.spawn(user_actor::run(user_id, receiver, self.inner.deps.clone()));
        let registry = self.clone();
        runtime.spawn(async move {
            let outcome = task.await;
            registry.forget(user_id, generation);
            registry.inner.stopped.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = outcome {
                if err.is_panic() {
                    registry.inner.restarts.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("user_actor_restarts_total").increment(1);
                    tracing::error!(%user_id, "user actor panicked; restarting it from the database");
                    let mut actors = registry.lock();
                    actors.entry(user_id).or_insert_with(|| registry.spawn(user_id));
                }
            }
        });
        Handle { mailbox, generation }
    }
}

/// Price ticks reach user actors through the registry: a tick for a user whose actor stopped
/// starts it again (it reloads its positions). Never blocks: a full mailbox drops the tick
/// (the next poll brings a fresh price) and counts it.
impl crate::market::TickSink for UserRegistry {
    fn deliver(&self, user_id: UserId, tick: crate::market::PriceTick) {
        // Another daemon watches this user's positions.
        if !self.inner.deps.cluster.watches(user_id) {
            return;
        }
        if self.tell(user_id, UserMessage::EvaluateTick(tick)).is_err() {
            metrics::counter!("exit_monitor_ticks_dropped_total").increment(1);
        }
    }
}
