//! The trading routes under an idempotency key: the command goes to the caller's user actor with
//! the key, and every request with that key gets the bytes rendered here from the first one's output.

use actix_web::HttpResponse;
use actors::store::idempotency::{KeyedRequest, StoredAnswer};
use actors::store::trading::{Traded, TradingWritten};
use actors::user_actor::{KeyedTrading, TradingCommand};

use crate::http::idempotency::{capture, respond};
use crate::http::{ApiError, HttpResult};
use crate::routes::positions::PositionOut;
use crate::routes::signals::SignalOut;
use crate::state::Shared;

/// The answer each route gives for what its write produced.
fn render(written: &TradingWritten) -> StoredAnswer {
    capture(match written {
        TradingWritten::Created(signal) => Ok(HttpResponse::Ok().json(SignalOut::from(signal.clone()))),
        TradingWritten::Claimed(signals) => {
            Ok(HttpResponse::Ok().json(signals.iter().cloned().map(SignalOut::from).collect::<Vec<_>>()))
        }
        TradingWritten::Opened(result) => position_answer(result),
        TradingWritten::Closed(result) => position_answer(result),
    })
}

/// An open's or a close's answer: the position, or the refusal.
fn position_answer<R: Clone + Into<ApiError>>(result: &Result<Traded, R>) -> HttpResult<HttpResponse> {
    match result {
        Ok(traded) => Ok(HttpResponse::Ok().json(PositionOut::from(traded.position.clone()))),
        Err(refused) => Err(refused.clone().into()),
    }
}

/// Sends `command` under the request's key and answers with the recorded answer.
pub async fn send(state: &Shared, keyed: KeyedRequest, command: TradingCommand) -> HttpResult<HttpResponse> {
    let user_id = keyed.user_id;
    let command = KeyedTrading {
        command,
        request: keyed,
        render,
    };
    respond(state.users.ask(user_id, command).await??)
}
