//! The lists a user reads: signals and positions, newest first — whole, or a page at a time.
//!
//! A page is a keyset page: it continues strictly after the sort key of the previous page's last
//! item (`created_at, id` for signals, `opened_at, id` for positions; both never change once a row
//! is written). Unlike an offset, the key does not move when rows are inserted, so every row that
//! existed when a client started reading appears exactly once, in order, however many rows arrive
//! meanwhile; and a page deep in the list is one index range, as cheap as the first.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::super::{Store, StoreError};
use super::{position_from_row, signal_from_row};
use crate::domain::{Position, PositionId, Signal, SignalId, UserId};

const LIST_SIGNALS: &str = include_str!("sql/list_signals.sql");
const LIST_SIGNALS_FIRST: &str = include_str!("sql/list_signals_first.sql");
const LIST_SIGNALS_AFTER: &str = include_str!("sql/list_signals_after.sql");
const LIST_POSITIONS: &str = include_str!("sql/list_positions.sql");
const LIST_POSITIONS_FIRST: &str = include_str!("sql/list_positions_first.sql");
const LIST_POSITIONS_AFTER: &str = include_str!("sql/list_positions_after.sql");

/// The sort key of a list item: where a page ended, and the next one starts (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After<Id> {
    pub at: DateTime<Utc>,
    pub id: Id,
}

/// Which part of a list to read: without `after` from the newest item, without `limit` to the
/// end; with neither, the whole list by the very statement the unpaged list always ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<Id> {
    pub after: Option<After<Id>>,
    pub limit: Option<i64>,
}

/// A page of a list, and the key the next page starts after (`None`: this page is the last).
#[derive(Debug, Clone)]
pub struct Page<T, Id> {
    pub items: Vec<T>,
    pub next: Option<After<Id>>,
}

/// A page of the user's signals, newest first.
pub async fn signals_page(
    store: &Store,
    user_id: UserId,
    page: PageRequest<SignalId>,
) -> Result<Page<Signal, SignalId>, StoreError> {
    let statements = Statements {
        whole: LIST_SIGNALS,
        first: LIST_SIGNALS_FIRST,
        after: LIST_SIGNALS_AFTER,
    };
    let rows = read(store, statements, user_id, page.after.map(|a| (a.at, a.id)), page.limit).await?;
    let items: Vec<Signal> = rows.iter().map(signal_from_row).collect::<Result<_, _>>()?;
    Ok(paged(items, page.limit, |s| After {
        at: s.created_at,
        id: s.id,
    }))
}

/// A page of the user's positions, newest first.
pub async fn positions_page(
    store: &Store,
    user_id: UserId,
    page: PageRequest<PositionId>,
) -> Result<Page<Position, PositionId>, StoreError> {
    let statements = Statements {
        whole: LIST_POSITIONS,
        first: LIST_POSITIONS_FIRST,
        after: LIST_POSITIONS_AFTER,
    };
    let rows = read(store, statements, user_id, page.after.map(|a| (a.at, a.id)), page.limit).await?;
    let items: Vec<Position> = rows.iter().map(position_from_row).collect::<Result<_, _>>()?;
    Ok(paged(items, page.limit, |p| After {
        at: p.opened_at,
        id: p.id,
    }))
}

/// One list's three reads: the whole list (the unpaged answer, unchanged), a first page, a page
/// after a key.
struct Statements {
    whole: &'static str,
    first: &'static str,
    after: &'static str,
}

/// Runs the statement the request needs, asking for one row more than `limit` so that a full
/// page knows whether another follows without a second query.
async fn read<Id: ToSql + Sync>(
    store: &Store,
    statements: Statements,
    user_id: UserId,
    after: Option<(DateTime<Utc>, Id)>,
    limit: Option<i64>,
) -> Result<Vec<Row>, StoreError> {
    let client = store.reader().await?;
    let probe = limit.map(|l| l + 1);
    let rows = match (&after, &probe) {
        (None, None) => {
            let stmt = client.prepare_cached(statements.whole).await?;
            client.query(&stmt, &[&user_id]).await?
        }
        (None, Some(probe)) => {
            let stmt = client.prepare_cached(statements.first).await?;
            client.query(&stmt, &[&user_id, probe]).await?
        }
        (Some((at, id)), probe) => {
            let stmt = client.prepare_cached(statements.after).await?;
            client.query(&stmt, &[&user_id, at, id, probe]).await?
        }
    };
    Ok(rows)
}

/// Cuts the probe row off a full page and names the key the next page starts after.
fn paged<T, Id>(mut items: Vec<T>, limit: Option<i64>, key: impl Fn(&T) -> After<Id>) -> Page<T, Id> {
    let shown = limit.and_then(|l| usize::try_from(l).ok());
    match shown {
        Some(shown) if items.len() > shown => {
            items.truncate(shown);
            let next = items.last().map(key);
            Page { items, next }
        }
        _ => Page { items, next: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &i64) -> After<i64> {
        After {
            at: DateTime::from_timestamp(*n, 0).unwrap(),
            id: *n,
        }
    }

    #[test]
    fn a_full_page_with_a_probe_row_names_its_last_item_as_the_next_start() {
        let page = paged(vec![5, 4, 3], Some(2), key);
        assert_eq!(page.items, vec![5, 4]);
        assert_eq!(page.next, Some(key(&4)));
    }

    #[test]
    fn a_page_without_the_probe_row_is_the_last() {
        assert_eq!(paged(vec![5, 4], Some(2), key).next, None);
        assert_eq!(paged(vec![5], Some(2), key).next, None);
        assert_eq!(paged(Vec::<i64>::new(), Some(2), key).next, None);
    }

    #[test]
    fn an_unlimited_read_is_always_the_last_page() {
        let page = paged(vec![5, 4, 3], None, key);
        assert_eq!((page.items, page.next), (vec![5, 4, 3], None));
    }
}
