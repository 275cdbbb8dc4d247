//! The daemons sharing the database (`cluster_nodes`) and the leases on the user partitions whose
//! open positions each watches (`cluster_partitions`, V20). A lease round renews this daemon's
//! leases, takes free or lapsed ones up to its fair share of the live daemons, and lets go of any
//! beyond it (so a daemon that joins gets work); all in one transaction, on the database's clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Store, StoreError, Transaction};
use crate::cluster::{ClusterEvent, CHANNEL, PARTITIONS};
use crate::domain::UserId;

/// One daemon's lease round.
#[derive(Debug, Clone)]
pub struct LeaseRound {
    pub node_id: Uuid,
    pub started_at: DateTime<Utc>,
    /// How long a lease lasts without renewal; a daemon silent this long is dead to the others.
    pub lease: Duration,
}

/// What a round left this daemon with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leases {
    pub partitions: Vec<i16>,
    /// Partitions it let go of for others to take.
    pub released: usize,
    pub live_nodes: i64,
}

const HEARTBEAT: &str = "INSERT INTO cluster_nodes (node_id, started_at, last_heartbeat_at) VALUES ($1, $2, now()) \
                         ON CONFLICT (node_id) DO UPDATE SET started_at = $2, last_heartbeat_at = now(), stopped_at = NULL";
const RENEW: &str = "UPDATE cluster_partitions SET lease_until = now() + make_interval(secs => $2) \
                     WHERE owner = $1 RETURNING partition";
const LIVE_NODES: &str = "SELECT count(*) FROM cluster_nodes \
                          WHERE stopped_at IS NULL AND last_heartbeat_at > now() - make_interval(secs => $1)";
const TAKE: &str = "UPDATE cluster_partitions SET owner = $1, owner_since = now(), \
                    lease_until = now() + make_interval(secs => $2) \
                    WHERE partition IN (SELECT partition FROM cluster_partitions \
                                        WHERE owner IS NULL OR lease_until < now() \
                                        ORDER BY partition LIMIT $3 FOR UPDATE SKIP LOCKED) \
                    RETURNING partition";
const RELEASE: &str = "UPDATE cluster_partitions SET owner = NULL, lease_until = NULL, owner_since = NULL \
                       WHERE partition IN (SELECT partition FROM cluster_partitions WHERE owner = $1 \
                                           ORDER BY partition DESC LIMIT $2) RETURNING partition";
const WATCHED: &str = "UPDATE cluster_nodes SET positions_watched = \
                         (SELECT count(*) FROM positions WHERE status = 'OPEN' AND user_partition(user_id) = ANY($2)), \
                       partitions_held = cardinality($2::smallint[]) WHERE node_id = $1";
/// Whether another daemon holds more than its share (it lets go at its next round; asked to now).
const OTHERS_OVER_SHARE: &str =
    "SELECT EXISTS (SELECT 1 FROM cluster_partitions WHERE owner IS NOT NULL AND owner <> $1 \
                                 GROUP BY owner HAVING count(*) > $2)";
const NOTIFY: &str = "SELECT pg_notify($1, $2)";
const FORGET_OLD_NODES: &str = "DELETE FROM cluster_nodes WHERE last_heartbeat_at < now() - interval '1 day'";

/// Renews, takes and lets go of leases; the partitions held after it.
pub async fn lease_round(store: &Store, round: &LeaseRound) -> Result<Leases, StoreError> {
    let secs = round.lease.as_secs_f64();
    let mut client = store.reader().await?;
    let tx = client.transaction().await?;
    tx.execute(HEARTBEAT, &[&round.node_id, &round.started_at]).await?;
    let mut held: Vec<i16> = partitions(tx.query(RENEW, &[&round.node_id, &secs]).await?)?;
    let live: i64 = tx.query_one(LIVE_NODES, &[&secs]).await?.try_get(0)?;
    let live_nodes = live.max(1);
    let share = (i64::from(PARTITIONS) + live_nodes - 1) / live_nodes;
    let mut released = 0;
    let mut short = false;
    let holding = held.len() as i64;
    if holding < share {
        held.extend(partitions(
            tx.query(TAKE, &[&round.node_id, &secs, &(share - holding)]).await?,
        )?);
        short = (held.len() as i64) < share
            && tx
                .query_one(OTHERS_OVER_SHARE, &[&round.node_id, &share])
                .await?
                .try_get(0)?;
    } else if holding > share {
        let let_go = partitions(tx.query(RELEASE, &[&round.node_id, &(holding - share)]).await?)?;
        held.retain(|p| !let_go.contains(p));
        released = let_go.len();
    }
    held.sort_unstable();
    tx.execute(WATCHED, &[&round.node_id, &held]).await?;
    tx.execute(FORGET_OLD_NODES, &[]).await?;
    // Partitions let go of are free for the others now; a daemon short of its share (it just
    // joined) asks those over theirs to let go now rather than at their next round.
    if released > 0 || short {
        tx.execute(NOTIFY, &[&CHANNEL, &ClusterEvent::Rebalance.payload()])
            .await?;
    }
    tx.commit().await?;
    Ok(Leases {
        partitions: held,
        released,
        live_nodes: live,
    })
}

fn partitions(rows: Vec<tokio_postgres::Row>) -> Result<Vec<i16>, tokio_postgres::Error> {
    rows.iter().map(|row| row.try_get("partition")).collect()
}

/// A graceful stop: every lease let go and the others told at once.
pub async fn leave(store: &Store, node_id: Uuid) -> Result<(), StoreError> {
    let mut client = store.reader().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "UPDATE cluster_partitions SET owner = NULL, lease_until = NULL, owner_since = NULL WHERE owner = $1",
        &[&node_id],
    )
    .await?;
    tx.execute(
        "UPDATE cluster_nodes SET stopped_at = now(), positions_watched = 0, partitions_held = 0 WHERE node_id = $1",
        &[&node_id],
    )
    .await?;
    tx.execute(NOTIFY, &[&CHANNEL, &ClusterEvent::Rebalance.payload()])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Tells every daemon of `event`.
pub async fn announce(store: &Store, event: ClusterEvent) -> Result<(), StoreError> {
    let client = store.reader().await?;
    client.execute(NOTIFY, &[&CHANNEL, &event.payload()]).await?;
    Ok(())
}

/// After a trade changed the user's positions: when another daemon watches the user
/// (`watched_elsewhere`), it is told, when (and only if) the transaction commits.
pub async fn tell_watcher(
    tx: &Transaction<'_>,
    user_id: UserId,
    watched_elsewhere: bool,
) -> Result<(), tokio_postgres::Error> {
    if watched_elsewhere {
        let stmt = tx.prepare_cached(NOTIFY).await?;
        tx.execute(&stmt, &[&CHANNEL, &ClusterEvent::UserChanged(user_id).payload()])
            .await?;
    }
    Ok(())
}

/// The users with open positions in these partitions.
pub async fn users_with_open_positions_in(store: &Store, partitions: &[i16]) -> Result<Vec<UserId>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(
            "SELECT DISTINCT user_id FROM positions WHERE status = 'OPEN' AND user_partition(user_id) = ANY($1)",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&partitions])
        .await?
        .iter()
        .map(|row| row.try_get("user_id"))
        .collect::<Result<_, _>>()?)
}

/// A daemon as `GET /ops/cluster` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    pub node_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    pub positions_watched: i32,
    pub partitions_held: i32,
    /// Heard from within a lease's length and not stopped.
    pub alive: bool,
    pub stopped_at: Option<DateTime<Utc>>,
}

/// The daemons heard from in the last day, newest first; alive when heard from within `lease`.
pub async fn nodes(store: &Store, lease: Duration) -> Result<Vec<NodeRow>, StoreError> {
    let client = store.reader().await?;
    let stmt = client
        .prepare_cached(
            "SELECT node_id, started_at, last_heartbeat_at, positions_watched, partitions_held, stopped_at, \
                    (stopped_at IS NULL AND last_heartbeat_at > now() - make_interval(secs => $1)) AS alive \
             FROM cluster_nodes ORDER BY started_at DESC, node_id",
        )
        .await?;
    let rows = client.query(&stmt, &[&lease.as_secs_f64()]).await?;
    let mut nodes = Vec::with_capacity(rows.len());
    for row in rows {
        nodes.push(NodeRow {
            node_id: row.try_get("node_id")?,
            started_at: row.try_get("started_at")?,
            last_heartbeat_at: row.try_get("last_heartbeat_at")?,
            positions_watched: row.try_get("positions_watched")?,
            partitions_held: row.try_get("partitions_held")?,
            alive: row.try_get("alive")?,
            stopped_at: row.try_get("stopped_at")?,
        });
    }
    Ok(nodes)
}
