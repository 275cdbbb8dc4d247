//! Bounded mailboxes, the one way work reaches an actor: `tell` delivers or refuses at once
//! (a full mailbox pushes back instead of queueing without limit), `ask` also waits — a bounded
//! time — for the answer.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Where an actor sends its answer.
pub type Reply<T> = oneshot::Sender<T>;

/// Why a message got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// The mailbox is full: the actor is behind; retry shortly.
    #[error("mailbox full")]
    Busy,
    /// The actor has stopped (or stopped before answering).
    #[error("actor stopped")]
    Stopped,
    /// No answer within the asker's bound.
    #[error("no answer in time")]
    Timeout,
}

/// A message that was not delivered, handed back with why.
#[derive(Debug)]
pub struct Undelivered<M> {
    pub error: MailboxError,
    pub message: M,
}

/// The sending side of an actor's bounded mailbox.
#[derive(Debug)]
pub struct Mailbox<M> {
    tx: mpsc::Sender<M>,
}

impl<M> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Mailbox { tx: self.tx.clone() }
    }
}

impl<M> Mailbox<M> {
    /// A mailbox holding at most `capacity` messages, and the actor's end of it.
    pub fn bounded(capacity: usize) -> (Mailbox<M>, mpsc::Receiver<M>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Mailbox { tx }, rx)
    }

    /// Delivers without waiting; a full or closed mailbox hands the message back.
    pub fn tell(&self, message: M) -> Result<(), Undelivered<M>> {
        self.tx.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(message) => Undelivered {
                error: MailboxError::Busy,
                message,
            },
            mpsc::error::TrySendError::Closed(message) => Undelivered {
                error: MailboxError::Stopped,
                message,
            },
        })
    }

    /// Delivers the message `make` builds around a reply channel and waits at most `within`.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> M, within: Duration) -> Result<T, MailboxError> {
        let (reply, answer) = oneshot::channel();
        self.tell(make(reply)).map_err(|undelivered| undelivered.error)?;
        answer_within(answer, within).await
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Messages waiting now.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// The answer of a delivered message, waited for at most `within`.
pub async fn answer_within<T>(answer: oneshot::Receiver<T>, within: Duration) -> Result<T, MailboxError> {
    match tokio::time::timeout(within, answer).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_dropped)) => Err(MailboxError::Stopped),
        Err(_elapsed) => Err(MailboxError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_mailbox_refuses_at_once_and_hands_the_message_back() {
        let (mailbox, _rx) = Mailbox::bounded(1);
        mailbox.tell(1).unwrap();
        let refused = mailbox.tell(2).unwrap_err();
        assert_eq!((refused.error, refused.message), (MailboxError::Busy, 2));
        assert_eq!(mailbox.depth(), 1);
    }

    #[tokio::test]
    async fn a_stopped_actor_is_told_apart_from_a_slow_one() {
        let (mailbox, rx) = Mailbox::<Reply<u8>>::bounded(4);
        drop(rx);
        assert_eq!(
            mailbox.ask(|reply| reply, Duration::from_secs(1)).await,
            Err(MailboxError::Stopped)
        );

        let (mailbox, mut rx) = Mailbox::<Reply<u8>>::bounded(4);
        let slow = tokio::spawn(async move {
            let reply = rx.recv().await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = reply.send(7);
        });
        assert_eq!(
            mailbox.ask(|reply| reply, Duration::from_millis(20)).await,
            Err(MailboxError::Timeout)
        );
        slow.await.unwrap();

        let (mailbox, mut rx) = Mailbox::<Reply<u8>>::bounded(4);
        tokio::spawn(async move { rx.recv().await.unwrap().send(9).unwrap() });
        assert_eq!(mailbox.ask(|reply| reply, Duration::from_secs(1)).await, Ok(9));
    }
}
