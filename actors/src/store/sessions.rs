//! Login sessions: their rows (V18), the rotation of their refresh tokens with reuse detection,
//! their revocation, and the set of revoked sessions every daemon holds in memory so that a
//! request learns whether its token still counts without a database read. The set is trusted
//! only while the daemon's `ChangeFeed` listens: the table's trigger announces each revocation;
//! on (re)connecting the recent revocations are read again; while the listener is down, every
//! question goes to the database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::audit::{self, AuditEvent};
use super::changes::{ChangeSubscriber, Trust};
use super::{Store, StoreError, Transaction, TxFuture};
use crate::domain::{Role, SessionId, UserId};

/// The channel the `sessions` trigger (V18) notifies with the id of each revoked session.
pub const CHANNEL: &str = "session_revoked";

/// A login's new session and its first refresh token.
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub refresh_id: uuid::Uuid,
    pub expires_at: DateTime<Utc>,
}

pub fn open<'a>(tx: &'a Transaction<'a>, new: &'a NewSession) -> TxFuture<'a, ()> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached("INSERT INTO sessions (id, user_id, refresh_id, expires_at) VALUES ($1, $2, $3, $4)")
            .await?;
        tx.execute(&stmt, &[&new.id, &new.user_id, &new.refresh_id, &new.expires_at])
            .await?;
        Ok(())
    })
}

/// A refresh token presented for rotation: its session, its own id, and the next token's.
pub struct Rotation {
    pub session_id: SessionId,
    pub presented: uuid::Uuid,
    pub next: uuid::Uuid,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated {
    /// The token was the session's current one: `next` is current now.
    Rotated { user_id: UserId, email: String, role: Role },
    /// No such session (or it expired and was removed).
    Unknown,
    /// A token of this session that was used already: the session is revoked now (or was).
    Reused,
    /// The session was revoked (logout, revoke-all, an admin).
    Revoked,
    /// The user is disabled: nothing rotated.
    Disabled,
}

const LOCK_SESSION: &str = "SELECT s.refresh_id, s.revoked_at, s.expires_at, u.id AS user_id, u.email, u.role \
                            FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 FOR UPDATE OF s";
const ROTATE: &str = "UPDATE sessions SET refresh_id = $2, refreshed_at = now(), expires_at = $3 WHERE id = $1";
const REVOKE_ONE: &str =
    "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL";

/// Rotates the session's refresh token when `presented` is its current one. Another token of the
/// session means the current one was used by someone: the whole session is revoked (audited
/// `auth.refresh.reuse_detected`), and that commits although the request is refused.
pub fn rotate<'a>(tx: &'a Transaction<'a>, rotation: &'a Rotation) -> TxFuture<'a, Rotated> {
    Box::pin(async move {
        let lock = tx.prepare_cached(LOCK_SESSION).await?;
        let Some(row) = tx.query_opt(&lock, &[&rotation.session_id]).await? else {
            return Ok(Rotated::Unknown);
        };
        let current: Option<uuid::Uuid> = row.try_get("refresh_id")?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get("revoked_at")?;
        let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
        let user_id: UserId = row.try_get("user_id")?;
        if current != Some(rotation.presented) {
            if current.is_none() {
                return Ok(Rotated::Unknown);
            }
            if revoked_at.is_none() {
                let revoke = tx.prepare_cached(REVOKE_ONE).await?;
                tx.execute(&revoke, &[&rotation.session_id, &"refresh_token_reused"])
                    .await?;
                let event = AuditEvent::new(Some(user_id), "auth.refresh.reuse_detected")
                    .entity("session", rotation.session_id)
                    .details(serde_json::json!({ "session_id": rotation.session_id }));
                audit::record(tx, &event).await?;
            }
            return Ok(Rotated::Reused);
        }
        if revoked_at.is_some() {
            return Ok(Rotated::Revoked);
        }
        if expires_at <= Utc::now() {
            return Ok(Rotated::Unknown);
        }
        let role: Role = row.try_get("role")?;
        if role == Role::Disabled {
            return Ok(Rotated::Disabled);
        }
        let stmt = tx.prepare_cached(ROTATE).await?;
        tx.execute(&stmt, &[&rotation.session_id, &rotation.next, &rotation.expires_at])
            .await?;
        Ok(Rotated::Rotated {
            user_id,
            email: row.try_get("email")?,
            role,
        })
    })
}

/// Why sessions are revoked, as stored in `revoked_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Logout,
    RevokeAll,
    Admin,
    Disabled,
    PasswordReset,
    TwoFactorReset,
}

impl RevokeReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::RevokeAll => "revoke_all",
            RevokeReason::Admin => "admin",
            RevokeReason::Disabled => "user_disabled",
            RevokeReason::PasswordReset => "password_reset",
            RevokeReason::TwoFactorReset => "two_factor_reset",
        }
    }
}

/// A logout: the caller's sessions to end (the access token's, and the refresh token's if one
/// was given); a token without a session (the old service's) is revoked by a row of its own.
pub struct Logout {
    pub user_id: UserId,
    pub sessions: Vec<SessionId>,
    /// The revoking row of a session-less token: its derived id and when it expires.
    pub sessionless: Option<(SessionId, DateTime<Utc>)>,
}

/// The sessions the logout revoked (those of `user_id` among the named ones); audited `auth.logout`.
pub fn logout<'a>(tx: &'a Transaction<'a>, logout: &'a Logout) -> TxFuture<'a, Vec<SessionId>> {
    Box::pin(async move {
        let stmt = tx
            .prepare_cached(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' \
                 WHERE id = ANY($1) AND user_id = $2 AND revoked_at IS NULL RETURNING id",
            )
            .await?;
        let mut revoked: Vec<SessionId> = tx
            .query(&stmt, &[&logout.sessions, &logout.user_id])
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?;
        if let Some((id, expires_at)) = &logout.sessionless {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO sessions (id, user_id, expires_at, revoked_at, revoked_reason) \
                     VALUES ($1, $2, $3, now(), 'logout') ON CONFLICT (id) DO NOTHING",
                )
                .await?;
            if tx.execute(&insert, &[id, &logout.user_id, expires_at]).await? == 1 {
                revoked.push(*id);
            }
        }
        let event = AuditEvent::new(Some(logout.user_id), "auth.logout")
            .entity("user", logout.user_id)
            .details(serde_json::json!({ "sessions_revoked": revoked.len() }));
        audit::record(tx, &event).await?;
        Ok(revoked)
    })
}

/// Revokes every session of the user, and every session-less token issued until now; the ids
/// revoked are returned. Run inside the change that calls for it (disable, resets), or alone.
pub async fn revoke_all_of(
    tx: &Transaction<'_>,
    user_id: UserId,
    reason: RevokeReason,
) -> Result<Vec<SessionId>, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 \
             WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
        )
        .await?;
    let revoked = tx
        .query(&stmt, &[&user_id, &reason.as_str()])
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let sessionless = tx
        .prepare_cached("UPDATE users SET sessionless_tokens_revoked_at = now() WHERE id = $1")
        .await?;
    tx.execute(&sessionless, &[&user_id]).await?;
    Ok(revoked)
}

/// A revoke-all, by the user (`by == user_id`) or by an admin.
pub struct RevokeAll {
    pub by: UserId,
    pub user_id: UserId,
}

/// Whose sessions a revocation ended (the email names the identity cached for the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSessions {
    pub email: String,
    pub sessions: Vec<SessionId>,
}

/// The sessions revoked; `None` when the user does not exist. Audited `auth.sessions.revoked`
/// (the user's own) or `user.sessions.revoked` (an admin's, naming the target).
pub fn revoke_all<'a>(tx: &'a Transaction<'a>, cmd: &'a RevokeAll) -> TxFuture<'a, Option<RevokedSessions>> {
    Box::pin(async move {
        let lock = tx
            .prepare_cached("SELECT email FROM users WHERE id = $1 FOR UPDATE")
            .await?;
        let Some(user) = tx.query_opt(&lock, &[&cmd.user_id]).await? else {
            return Ok(None);
        };
        let own = cmd.by == cmd.user_id;
        let reason = if own {
            RevokeReason::RevokeAll
        } else {
            RevokeReason::Admin
        };
        let revoked = revoke_all_of(tx, cmd.user_id, reason).await?;
        let action = if own {
            "auth.sessions.revoked"
        } else {
            "user.sessions.revoked"
        };
        let event = AuditEvent::new(Some(cmd.by), action)
            .entity("user", cmd.user_id)
            .details(serde_json::json!({ "target_user_id": cmd.user_id, "sessions_revoked": revoked.len() }));
        audit::record(tx, &event).await?;
        Ok(Some(RevokedSessions {
            email: user.try_get("email")?,
            sessions: revoked,
        }))
    })
}

/// Removes sessions that expired more than a day ago, at most `limit` (housekeeping); a revoked
/// session is kept while its access tokens may live (`keep_revoked_for`).
pub async fn remove_expired(store: &Store, keep_revoked_for: Duration, limit: i64) -> Result<u64, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
             WHERE expires_at < now() - interval '1 day' \
               AND (revoked_at IS NULL OR revoked_at < now() - make_interval(secs => $1)) LIMIT $2)",
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&keep_revoked_for.as_secs_f64(), &limit])
        .await?)
}

/// The revoked sessions one daemon holds: those revoked within `keep_for` (the life of an access
/// token; older ones have no live token left), with when each was learned of, for pruning.
pub struct Revocations {
    store: Store,
    keep_for: Duration,
    revoked: RwLock<HashMap<SessionId, std::time::Instant>>,
    trust: Trust,
    me: Weak<Revocations>,
}

const IS_REVOKED: &str = "SELECT revoked_at IS NOT NULL AS revoked FROM sessions WHERE id = $1";
const RECENTLY_REVOKED: &str =
    "SELECT id FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at > now() - make_interval(secs => $1)";

impl Revocations {
    pub fn new(store: Store, keep_for: Duration) -> Arc<Revocations> {
        Arc::new_cyclic(|me| Revocations {
            store,
            keep_for,
            revoked: RwLock::new(HashMap::new()),
            trust: Trust::default(),
            me: me.clone(),
        })
    }

    /// Whether the session was revoked: from memory while it is kept current, else from the
    /// database.
    pub async fn is_revoked(&self, session: SessionId) -> Result<bool, StoreError> {
        match self.held(session) {
            Some(revoked) => Ok(revoked),
            // Boxed: the read's future is kilobytes, and inlined it would make every caller's
            // future (each authentication's) that large even when memory answers.
            None => Box::pin(self.read_revoked(session)).await,
        }
    }

    /// What memory says, while it is kept current.
    fn held(&self, session: SessionId) -> Option<bool> {
        self.trust.is_trusted().then(|| self.read().contains_key(&session))
    }

    async fn read_revoked(&self, session: SessionId) -> Result<bool, StoreError> {
        let client = self.store.reader().await?;
        let stmt = client.prepare_cached(IS_REVOKED).await?;
        Ok(match client.query_opt(&stmt, &[&session]).await? {
            Some(row) => row.try_get("revoked")?,
            None => false,
        })
    }

    /// Applies revocations this daemon just committed, so its own next request sees them without
    /// waiting for the notifications.
    pub fn applied(&self, sessions: &[SessionId]) {
        if sessions.is_empty() {
            return;
        }
        let now = std::time::Instant::now();
        let mut revoked = self.write();
        for session in sessions {
            revoked.insert(*session, now);
        }
    }

    /// Forgets revocations older than any access token they could still stop; returns how many.
    pub fn prune(&self) -> usize {
        let mut revoked = self.write();
        let before = revoked.len();
        let keep_for = self.keep_for;
        revoked.retain(|_, at| at.elapsed() < keep_for);
        before - revoked.len()
    }

    /// Whether the in-memory set answers (false while the listener is down or reloading).
    pub fn is_current(&self) -> bool {
        self.trust.is_trusted()
    }

    async fn reload(&self, generation: u64) {
        self.trust
            .reload(generation, "session revocations", || async {
                let client = self.store.reader().await?;
                let stmt = client.prepare_cached(RECENTLY_REVOKED).await?;
                let rows = client.query(&stmt, &[&self.keep_for.as_secs_f64()]).await?;
                let ids = rows
                    .iter()
                    .map(|row| row.try_get("id"))
                    .collect::<Result<Vec<SessionId>, _>>()?;
                self.applied(&ids);
                Ok(())
            })
            .await
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<SessionId, std::time::Instant>> {
        self.revoked.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionId, std::time::Instant>> {
        self.revoked.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ChangeSubscriber for Revocations {
    fn notified(&self, payload: &str) {
        match payload.parse::<SessionId>() {
            Ok(session) => self.applied(&[session]),
            Err(_) => tracing::warn!(payload, "unreadable session revocation notification"),
        }
    }

    fn connected(&self) {
        self.trust
            .reload_on_connect(&self.me, |me, generation| async move { me.reload(generation).await });
    }

    fn disconnected(&self) {
        self.trust.disconnected();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revocations(keep_for: Duration) -> Arc<Revocations> {
        let store = Store::start(&super::super::StoreConfig {
            database_url: "postgres://nobody@127.0.0.1:1/none".into(),
            ..Default::default()
        })
        .expect("a store starts without connecting");
        Revocations::new(store, keep_for)
    }

    #[tokio::test]
    async fn applied_revocations_are_held_and_pruned_after_an_access_tokens_life() {
        let held = revocations(Duration::from_millis(50));
        let (a, b) = (SessionId::new(), SessionId::new());
        held.applied(&[a]);
        assert!(held.read().contains_key(&a));
        assert!(!held.read().contains_key(&b));
        held.notified(&b.to_string());
        held.notified("not-a-session");
        assert!(held.read().contains_key(&b));
        assert_eq!(held.prune(), 0);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(held.prune(), 2);
        assert!(held.read().is_empty());
    }
}
