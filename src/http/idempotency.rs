//! `X-Idempotency-Key` at the edge: the header parsed and bound to its caller, route and content,
//! and answers given from what the store recorded (`actors::store::idempotency`).

use std::future::{ready, Future, Ready};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::Payload;
use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use actors::domain::{IdempotencyKey, UserId};
use actors::refusals::IdempotencyRefused;
use actors::store::idempotency::{self, Keyed, KeyedRequest, StoredAnswer};
use sha2::{Digest, Sha256};

use super::{ApiError, HttpResult};
use crate::state::Shared;

pub const KEY_HEADER: &str = "x-idempotency-key";
/// Set on an answer that was recorded before and sent again.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// A claimed request that has not answered after this long is taken to have died with its daemon.
pub const CLAIM_STALE_AFTER: Duration = Duration::from_secs(30);

/// The request's idempotency key, when it sent one; a malformed one is a 400.
pub struct IdempotencyHeader(Option<IdempotencyKey>);

impl FromRequest for IdempotencyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.headers().get(KEY_HEADER) {
            None => Ok(IdempotencyHeader(None)),
            Some(value) => IdempotencyKey::parse(value.as_bytes())
                .map(|key| IdempotencyHeader(Some(key)))
                .map_err(|invalid| IdempotencyRefused::from(invalid).into()),
        })
    }
}

impl IdempotencyHeader {
    /// The key bound to this caller, route (`route`, its pattern) and content (path, query and
    /// `body`); `None` when the request carried no key.
    pub fn bind(self, req: &HttpRequest, user_id: UserId, route: &'static str, body: &[u8]) -> Option<KeyedRequest> {
        let key = self.0?;
        let fingerprint = Sha256::new()
            .chain_update(req.path().as_bytes())
            .chain_update(b"?")
            .chain_update(req.query_string().as_bytes())
            .chain_update(b"\n")
            .chain_update(body)
            .finalize()
            .to_vec();
        Some(KeyedRequest {
            user_id,
            route,
            key,
            fingerprint,
        })
    }
}

/// What a handler answered, as it is recorded and sent again.
pub fn capture(result: HttpResult<HttpResponse>) -> StoredAnswer {
    let response = result.unwrap_or_else(|err| err.error_response());
    let status = response.status().as_u16();
    let body = match response.into_body().try_into_bytes() {
        Ok(bytes) => bytes.to_vec(),
        // Every answer these routes give is a complete JSON body; a streamed one is not recorded.
        Err(_) => {
            return StoredAnswer {
                status: 500,
                body: Vec::new(),
            }
        }
    };
    StoredAnswer { status, body }
}

/// The answer to a keyed request: the recorded one (marked when replayed), or why there is none.
pub fn respond(outcome: Keyed<()>) -> HttpResult<HttpResponse> {
    match outcome {
        Keyed::Fresh((), answer) => Ok(answer_response(answer, false)),
        Keyed::Replayed(answer) => Ok(answer_response(answer, true)),
        Keyed::Reused => Err(IdempotencyRefused::Reused.into()),
        Keyed::InProgress => Err(IdempotencyRefused::InProgress.into()),
    }
}

fn answer_response(answer: StoredAnswer, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.insert_header(ContentType::json());
    if replayed {
        response.insert_header((REPLAYED_HEADER, "true"));
    }
    response.body(answer.body)
}

/// Runs a handler whose effects are not one shard job, at most once per key: the key is claimed
/// first, a duplicate waits for the first request's answer, and the answer is recorded after it
/// (a 5xx answer releases the claim instead, so a retry runs again).
pub async fn run_once<F>(state: &Shared, keyed: Option<KeyedRequest>, handler: F) -> HttpResult<HttpResponse>
where
    F: Future<Output = HttpResult<HttpResponse>>,
{
    let Some(keyed) = keyed else {
        return handler.await;
    };
    let deadline = tokio::time::Instant::now() + CLAIM_STALE_AFTER + Duration::from_secs(1);
    let mut pause = Duration::from_millis(20);
    loop {
        match idempotency::claim(&state.store, &keyed, CLAIM_STALE_AFTER).await? {
            None => break,
            Some(Keyed::InProgress) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            Some(earlier) => return respond(earlier),
        }
    }
    let result = handler.await;
    let server_error = match &result {
        Ok(response) => response.status().is_server_error(),
        Err(err) => err.status_code().is_server_error(),
    };
    if server_error {
        idempotency::release(&state.store, &keyed).await?;
        return result;
    }
    let answer = capture(result);
    idempotency::record(&state.store, &keyed, &answer).await?;
    respond(Keyed::Fresh((), answer))
}
