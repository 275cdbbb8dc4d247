//! One LISTEN connection per daemon for every kind of shared state held in memory (identities
//! today; trading state, risk profiles and the like as they come). PostgreSQL announces each
//! change with `pg_notify(channel, payload)`, from a trigger or from the statement that made it,
//! and the feed hands it to the subscriber of that channel. A subscriber may trust what it holds
//! only between `connected` and `disconnected`: a notification sent while no connection listened
//! is lost, so after `disconnected` it must read the database (or drop what it holds) until the
//! next `connected`, when it reloads.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio_postgres::AsyncMessage;

/// What holds shared state in memory and is told when it changes.
pub trait ChangeSubscriber: Send + Sync + 'static {
    /// A change was announced on this subscriber's channel.
    fn notified(&self, payload: &str);
    /// LISTEN is in place: from now on every change is announced. Changes made before may have
    /// been missed, so state held from before must be reloaded (or dropped).
    fn connected(&self);
    /// The connection is gone: changes are no longer announced until the next `connected`.
    fn disconnected(&self);
}

/// Whether a subscriber's in-memory copy may answer: only once a reload begun after the latest
/// (re)connection has completed, and never after a disconnection. Each (dis)connection starts a
/// new generation, so a reload that began before it cannot mark the copy trusted.
#[derive(Debug, Default)]
pub struct Trust {
    trusted: AtomicBool,
    generation: AtomicU64,
}

impl Trust {
    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// A (re)connection: the generation the reload it calls for belongs to.
    pub fn connected(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub fn disconnected(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.trusted.store(false, Ordering::Release);
    }

    /// A (re)connection of the copy `me`: starts `reload(copy, generation)` for the new generation
    /// (what a subscriber's `connected` does).
    pub fn reload_on_connect<T, F, Fut>(&self, me: &Weak<T>, reload: F)
    where
        T: Send + Sync + 'static,
        F: FnOnce(Arc<T>, u64) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let generation = self.connected();
        if let Some(me) = me.upgrade() {
            tokio::spawn(reload(me, generation));
        }
    }

    /// Runs `load` (which reads and applies the whole copy) until it succeeds, backing off
    /// between failures, while `generation` is current; the copy is trusted if it still is after.
    pub async fn reload<F, Fut>(&self, generation: u64, what: &str, mut load: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), super::StoreError>>,
    {
        let mut backoff = Duration::from_millis(200);
        while self.generation.load(Ordering::Acquire) == generation {
            match load().await {
                Ok(()) => {
                    if self.generation.load(Ordering::Acquire) == generation {
                        self.trusted.store(true, Ordering::Release);
                    }
                    return;
                }
                Err(err) => tracing::warn!(error = %err, "{what} could not be loaded; retrying"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

#[derive(Default)]
pub struct ChangeFeedBuilder {
    subscribers: Vec<(&'static str, Arc<dyn ChangeSubscriber>)>,
}

impl ChangeFeedBuilder {
    /// `channel` must be a plain SQL identifier (it is sent in `LISTEN`); one subscriber each.
    pub fn on(mut self, channel: &'static str, subscriber: Arc<dyn ChangeSubscriber>) -> Self {
        assert!(
            channel.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "channel names are lowercase identifiers"
        );
        assert!(
            self.subscribers.iter().all(|(c, _)| *c != channel),
            "one subscriber per channel"
        );
        self.subscribers.push((channel, subscriber));
        self
    }

    /// Keeps the connection open for as long as the feed lives, reconnecting with backoff.
    pub fn start(self, database_url: String) -> Arc<ChangeFeed> {
        let feed = Arc::new(ChangeFeed {
            subscribers: self.subscribers,
            live: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&feed);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let Some(feed) = weak.upgrade() else { return };
                match feed.listen(&database_url).await {
                    Ok(()) => backoff = Duration::from_millis(200),
                    Err(err) => tracing::warn!(error = %err, "change listener disconnected"),
                }
                feed.set_live(false);
                drop(feed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        feed
    }
}

pub struct ChangeFeed {
    subscribers: Vec<(&'static str, Arc<dyn ChangeSubscriber>)>,
    live: AtomicBool,
}

impl ChangeFeed {
    pub fn builder() -> ChangeFeedBuilder {
        ChangeFeedBuilder::default()
    }

    /// Whether changes are being announced right now.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    fn set_live(&self, live: bool) {
        if self.live.swap(live, Ordering::AcqRel) == live {
            return;
        }
        for (_, subscriber) in &self.subscribers {
            if live {
                subscriber.connected();
            } else {
                subscriber.disconnected();
            }
        }
    }

    fn dispatch(&self, channel: &str, payload: &str) {
        if let Some((_, subscriber)) = self.subscribers.iter().find(|(c, _)| *c == channel) {
            subscriber.notified(payload);
        }
    }

    async fn listen(&self, database_url: &str) -> Result<(), tokio_postgres::Error> {
        let (client, mut connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
        let (tx, mut messages) = futures::channel::mpsc::unbounded();
        let driver = tokio::spawn(async move {
            let mut incoming = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = incoming.next().await {
                if tx.unbounded_send(message?).is_err() {
                    break;
                }
            }
            Ok::<(), tokio_postgres::Error>(())
        });
        let statements: String = self
            .subscribers
            .iter()
            .map(|(channel, _)| format!("LISTEN {channel};"))
            .collect();
        client.batch_execute(&statements).await?;
        self.set_live(true);
        while let Some(message) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                self.dispatch(n.channel(), n.payload());
            }
        }
        self.set_live(false);
        driver.await.unwrap_or(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_reload_overtaken_by_a_reconnection_does_not_mark_the_copy_trusted() {
        let trust = Trust::default();
        let first = trust.connected();
        let second = trust.connected();
        trust.reload(first, "test state", || async { Ok(()) }).await;
        assert!(!trust.is_trusted(), "the older generation's reload");
        trust.reload(second, "test state", || async { Ok(()) }).await;
        assert!(trust.is_trusted());
        trust.disconnected();
        assert!(!trust.is_trusted());
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl ChangeSubscriber for Recorder {
        fn notified(&self, payload: &str) {
            self.0.lock().unwrap().push(format!("notified {payload}"));
        }
        fn connected(&self) {
            self.0.lock().unwrap().push("connected".into());
        }
        fn disconnected(&self) {
            self.0.lock().unwrap().push("disconnected".into());
        }
    }

    fn feed(subscribers: Vec<(&'static str, Arc<dyn ChangeSubscriber>)>) -> ChangeFeed {
        ChangeFeed {
            subscribers,
            live: AtomicBool::new(false),
        }
    }

    #[test]
    fn each_channel_reaches_only_its_subscriber() {
        let users = Arc::new(Recorder::default());
        let other = Arc::new(Recorder::default());
        let feed = feed(vec![("user_changed", users.clone()), ("other_changed", other.clone())]);
        feed.dispatch("user_changed", "a@x.test");
        feed.dispatch("nobody_listens", "b@x.test");
        assert_eq!(*users.0.lock().unwrap(), ["notified a@x.test"]);
        assert!(other.0.lock().unwrap().is_empty());
    }

    #[test]
    fn subscribers_hear_each_change_of_liveness_once() {
        let users = Arc::new(Recorder::default());
        let feed = feed(vec![("user_changed", users.clone())]);
        feed.set_live(true);
        feed.set_live(true);
        feed.set_live(false);
        feed.set_live(false);
        assert!(!feed.is_live());
        assert_eq!(*users.0.lock().unwrap(), ["connected", "disconnected"]);
    }
}
