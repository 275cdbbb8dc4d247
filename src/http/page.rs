//! Pages of the lists a user reads (`GET /signals`, `GET /positions`): the optional `limit` and
//! `cursor` query parameters, the cursor's opaque text, and the headers that name the next page.
//! The body stays the JSON array it always was; the next page travels in `Link: <…>; rel="next"`
//! (RFC 8288) and `X-Next-Cursor`, present only when another page follows.

use actix_web::{HttpRequest, HttpResponse};
use actors::domain::{PositionId, SignalId};
use actors::store::trading::{After, PageRequest};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ApiError;

/// The most items one page holds (the bound `POST /signals/claim?limit` has too).
pub const MAX_LIMIT: i64 = 1000;

/// The header that carries the next page's cursor by itself.
pub const NEXT_CURSOR_HEADER: &str = "X-Next-Cursor";

/// An id a list is keyed by; its tag keeps one list's cursor from being read by another.
pub trait CursorId: Copy {
    const TAG: &'static str;
    fn from_uuid(uuid: Uuid) -> Self;
    fn uuid(&self) -> Uuid;
}

impl CursorId for SignalId {
    const TAG: &'static str = "s1";
    fn from_uuid(uuid: Uuid) -> Self {
        SignalId::from_uuid(uuid)
    }
    fn uuid(&self) -> Uuid {
        self.as_uuid()
    }
}

impl CursorId for PositionId {
    const TAG: &'static str = "p1";
    fn from_uuid(uuid: Uuid) -> Self {
        PositionId::from_uuid(uuid)
    }
    fn uuid(&self) -> Uuid {
        self.as_uuid()
    }
}

/// `?limit=&cursor=`, both optional: without either, the whole list as it always was.
#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

impl ListQuery {
    /// The page asked for; a limit out of 1..=1000 or a cursor this list did not issue is 422.
    pub fn page<Id: CursorId>(&self) -> Result<PageRequest<Id>, ApiError> {
        if let Some(limit) = self.limit {
            if !(1..=MAX_LIMIT).contains(&limit) {
                return Err(ApiError::invalid("query", "limit", "limit must be between 1 and 1000"));
            }
        }
        let after = match &self.cursor {
            Some(text) => Some(decode(text).ok_or_else(|| {
                ApiError::invalid(
                    "query",
                    "cursor",
                    "cursor must be a value this list returned in X-Next-Cursor",
                )
            })?),
            None => None,
        };
        Ok(PageRequest {
            after,
            limit: self.limit,
        })
    }
}

/// The cursor's text: the list's tag, then the sort key of the page's last item (microseconds
/// since the epoch, the id as 32 lower-case hex digits), e.g. `s1.1780000000123456.0190…`. Clients
/// treat it as opaque; it is plain and exact so that the document's pattern
/// (`^s1\.[0-9]{1,17}\.[0-9a-f]{32}$`) admits exactly the cursors the server reads: a fuzzer's
/// well-formed one is answered, anything else is 422.
pub fn encode<Id: CursorId>(key: &After<Id>) -> String {
    format!("{}.{}.{}", Id::TAG, key.at.timestamp_micros(), key.id.uuid().simple())
}

fn decode<Id: CursorId>(text: &str) -> Option<After<Id>> {
    let mut parts = text.split('.');
    let (tag, micros, id) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, max: usize, ok: fn(&u8) -> bool| (1..=max).contains(&s.len()) && s.bytes().all(|b| ok(&b));
    let well_formed = tag == Id::TAG
        && parts.next().is_none()
        && digits(micros, 17, u8::is_ascii_digit)
        && id.len() == 32
        && digits(id, 32, |b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    if !well_formed {
        return None;
    }
    Some(After {
        at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: Id::from_uuid(Uuid::try_parse(id).ok()?),
    })
}

/// 200 with the page's items as the JSON array the list always answered, and, when another page
/// follows, its address (the same path, the same limit, the new cursor) in `Link` and the cursor
/// alone in `X-Next-Cursor`.
pub fn respond<T: Serialize, Id: CursorId>(
    req: &HttpRequest,
    items: &[T],
    page: &PageRequest<Id>,
    next: Option<After<Id>>,
) -> HttpResponse {
    let mut answer = HttpResponse::Ok();
    if let (Some(next), Some(limit)) = (next, page.limit) {
        let cursor = encode(&next);
        let link = format!("<{}?limit={limit}&cursor={cursor}>; rel=\"next\"", req.path());
        answer.insert_header((actix_web::http::header::LINK, link));
        answer.insert_header((NEXT_CURSOR_HEADER, cursor));
    }
    answer.json(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<i64>, cursor: Option<&str>) -> ListQuery {
        ListQuery {
            limit,
            cursor: cursor.map(str::to_string),
        }
    }

    fn key() -> After<SignalId> {
        After {
            at: DateTime::from_timestamp_micros(1_780_000_000_123_456).unwrap(),
            id: SignalId::new(),
        }
    }

    #[test]
    fn a_cursor_reads_back_as_the_key_it_was_made_from_to_the_microsecond() {
        let key = key();
        let text = encode(&key);
        assert!(text.starts_with("s1.1780000000123456."), "{text}");
        let page = query(Some(5), Some(&text)).page::<SignalId>().unwrap();
        assert_eq!(page.after, Some(key));
        assert_eq!(page.limit, Some(5));
    }

    #[test]
    fn without_parameters_the_request_is_the_whole_list() {
        let page = query(None, None).page::<SignalId>().unwrap();
        assert_eq!((page.after, page.limit), (None, None));
    }

    #[test]
    fn a_limit_outside_one_to_a_thousand_is_refused() {
        for limit in [0, -1, 1001, i64::MAX, i64::MIN] {
            assert!(query(Some(limit), None).page::<SignalId>().is_err(), "{limit}");
        }
        for limit in [1, 1000] {
            assert!(query(Some(limit), None).page::<SignalId>().is_ok(), "{limit}");
        }
    }

    #[test]
    fn exactly_the_cursors_the_document_s_pattern_admits_are_read() {
        let hex = "0190aa55bb66cc77dd88ee99ff001122";
        for good in [format!("s1.0.{hex}"), format!("s1.99999999999999999.{hex}")] {
            assert!(query(None, Some(&good)).page::<SignalId>().is_ok(), "{good}");
        }
        for bad in [
            String::new(),
            "not a cursor".into(),
            format!("s1..{hex}"),
            format!("s1.-1.{hex}"),
            format!("s1.+1.{hex}"),
            format!("s1.123456789012345678.{hex}"),
            format!("s1.1.{}", hex.to_uppercase()),
            format!("s1.1.{}", &hex[1..]),
            format!("s1.1.{hex}0"),
            "s1.1.0190aa55-bb66-cc77-dd88-ee99ff00".into(),
            format!("s1.1.{hex}.x"),
            format!(" s1.1.{hex}"),
            format!("p1.1.{hex}"),
        ] {
            assert!(query(None, Some(&bad)).page::<SignalId>().is_err(), "{bad:?}");
        }
        let signals_cursor = encode(&key());
        assert!(
            query(None, Some(&signals_cursor)).page::<PositionId>().is_err(),
            "a signals cursor on the positions list"
        );
    }
}
