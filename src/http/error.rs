//! The one error every handler returns. Each refusal, from the trading core or from this daemon's
//! own layers, maps here to its HTTP status, its contract `detail` (the refusal's `Display`) and
//! a stable machine-readable `code` sent beside it, in the FastAPI shapes clients expect.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use actors::domain::InvalidIdempotencyKey;
use actors::mailbox::MailboxError;
use actors::refusals::{
    CloseRefused, ExecutionRefused, Failure, IdempotencyRefused, OpenRefused, RiskProfileRefused, SecretRefused,
};
use actors::rules::risk::OpenBlock;
use actors::rules::trading_control::TradingBlocked;
use actors::store::StoreError;
use serde::Serialize;

use crate::auth::{AccountRefused, AuthRefused, LoginRefused, TwoFactorRefused};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthRefused),
    #[error(transparent)]
    Login(#[from] LoginRefused),
    #[error(transparent)]
    TwoFactor(#[from] TwoFactorRefused),
    #[error(transparent)]
    Account(#[from] AccountRefused),
    #[error(transparent)]
    Open(#[from] OpenRefused),
    #[error(transparent)]
    Close(#[from] CloseRefused),
    #[error(transparent)]
    Secret(#[from] SecretRefused),
    #[error(transparent)]
    Execution(#[from] ExecutionRefused),
    #[error(transparent)]
    Trading(#[from] TradingBlocked),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyRefused),
    #[error(transparent)]
    RiskProfile(#[from] RiskProfileRefused),
    /// The request does not have the shape the route takes (FastAPI's 422 list).
    #[error("validation failed: {} issue(s)", .0.len())]
    Validation(Vec<ValidationIssue>),
    /// `DELETE /users/exchange-secrets/{exchange}` with a name that is not an exchange.
    #[error("exchange must be BINANCE or IBKR")]
    BadExchangePath,
    #[error("Not Found")]
    RouteNotFound,
    /// A known path with another method; `allow` lists the methods it takes.
    #[error("Method Not Allowed")]
    MethodNotAllowed { allow: String },
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("Could not read the request body")]
    UnreadableBody,
    #[error("Service temporarily unavailable, retry shortly")]
    Unavailable,
    #[error("Internal Server Error")]
    Internal,
}

/// One entry of a 422 `detail` list: `{loc, msg, type}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ValidationIssue {
    /// Where: `body` or `query`, then the field's path.
    #[schema(value_type = Vec<Object>)]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl ValidationIssue {
    pub fn new(location: &str, field: Option<&str>, msg: impl Into<String>, kind: &str) -> Self {
        let mut loc = vec![serde_json::Value::from(location)];
        if let Some(field) = field {
            loc.extend(
                field
                    .split('.')
                    .filter(|p| !p.is_empty())
                    .map(|part| match part.parse::<u64>() {
                        Ok(index) => serde_json::Value::from(index),
                        Err(_) => serde_json::Value::from(part),
                    }),
            );
        }
        ValidationIssue {
            loc,
            msg: msg.into(),
            kind: kind.into(),
        }
    }
}

/// Seconds a client should wait before retrying a request the daemon could not take now.
pub const RETRY_AFTER_SECS: u64 = 1;

impl ApiError {
    /// A single 422 issue naming `field` at `location` (`body` or `query`).
    pub fn invalid(location: &str, field: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![ValidationIssue::new(location, Some(field), msg, "value_error")])
    }

    /// The HTTP status and the stable code of this refusal.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::Auth(refused) => match refused {
                AuthRefused::NotAuthenticated => (S::UNAUTHORIZED, "not_authenticated"),
                AuthRefused::InvalidToken => (S::UNAUTHORIZED, "invalid_token"),
                AuthRefused::WrongTokenType => (S::UNAUTHORIZED, "invalid_token_type"),
                AuthRefused::UserNotFound => (S::UNAUTHORIZED, "token_user_not_found"),
                AuthRefused::Forbidden => (S::FORBIDDEN, "insufficient_permissions"),
                AuthRefused::Disabled => (S::FORBIDDEN, "user_disabled"),
                AuthRefused::SessionRevoked => (S::UNAUTHORIZED, "session_revoked"),
                AuthRefused::InvalidRefreshToken => (S::UNAUTHORIZED, "invalid_refresh_token"),
                AuthRefused::RefreshTokenReused => (S::UNAUTHORIZED, "refresh_token_reused"),
            },
            ApiError::Login(refused) => match refused {
                LoginRefused::IncorrectCredentials => (S::UNAUTHORIZED, "login_incorrect"),
                LoginRefused::TwoFactorRequired => (S::UNAUTHORIZED, "login_2fa_must_be_enabled"),
                LoginRefused::OtpRequired => (S::UNAUTHORIZED, "login_otp_required"),
                LoginRefused::InvalidOtp => (S::UNAUTHORIZED, "login_invalid_otp"),
                LoginRefused::Throttled { .. } => (S::TOO_MANY_REQUESTS, "login_throttled"),
                LoginRefused::Disabled => (S::FORBIDDEN, "user_disabled"),
            },
            ApiError::TwoFactor(refused) => match refused {
                TwoFactorRefused::SetupNotFound => (S::NOT_FOUND, "2fa_setup_not_found"),
                TwoFactorRefused::NotEnabled => (S::NOT_FOUND, "2fa_not_enabled"),
                TwoFactorRefused::InvalidOtp => (S::BAD_REQUEST, "2fa_invalid_otp"),
            },
            ApiError::Account(refused) => match refused {
                AccountRefused::EmailAlreadyRegistered => (S::BAD_REQUEST, "email_already_registered"),
                AccountRefused::EmailAlreadyExists => (S::CONFLICT, "email_already_exists"),
                AccountRefused::UserNotFound => (S::NOT_FOUND, "user_not_found"),
                AccountRefused::LastAdmin => (S::CONFLICT, "last_admin"),
                AccountRefused::OwnRole => (S::CONFLICT, "own_role"),
                AccountRefused::RegistrationClosed => (S::FORBIDDEN, "registration_disabled"),
            },
            ApiError::Open(refused) => match refused {
                OpenRefused::NotFound => (S::NOT_FOUND, "signal_not_found"),
                OpenRefused::Foreign => (S::FORBIDDEN, "signal_of_another_user"),
                OpenRefused::NotExecuting(_) => (S::CONFLICT, "signal_not_executing"),
                OpenRefused::MissingEntryPrice => (S::BAD_REQUEST, "signal_missing_entry_price"),
                OpenRefused::Trading(blocked) => (S::CONFLICT, trading_blocked_code(blocked)),
                OpenRefused::Risk(block) => (S::CONFLICT, risk_block_code(block)),
            },
            ApiError::Close(refused) => match refused {
                CloseRefused::NotFound => (S::NOT_FOUND, "position_not_found"),
                CloseRefused::Foreign => (S::FORBIDDEN, "position_of_another_user"),
                CloseRefused::NotOpen(_) => (S::CONFLICT, "position_not_open"),
            },
            ApiError::Secret(refused) => match refused {
                SecretRefused::ExchangeDisabled(_) => (S::FORBIDDEN, "exchange_disabled"),
                SecretRefused::NotFound => (S::NOT_FOUND, "credentials_not_found"),
            },
            ApiError::Execution(refused) => match refused {
                ExecutionRefused::ExchangeDisabled(_) => (S::FORBIDDEN, "exchange_disabled"),
                ExecutionRefused::MissingCredentials(_) => (S::BAD_REQUEST, "credentials_missing"),
                ExecutionRefused::Undecryptable(_) => (S::INTERNAL_SERVER_ERROR, "credentials_undecryptable"),
                ExecutionRefused::UpstreamFailed { .. } => (S::BAD_GATEWAY, "upstream_order_failed"),
            },
            ApiError::Trading(blocked) => (S::CONFLICT, trading_blocked_code(blocked)),
            ApiError::Idempotency(refused) => match refused {
                IdempotencyRefused::Invalid(InvalidIdempotencyKey::TooLong) => {
                    (S::BAD_REQUEST, "idempotency_key_too_long")
                }
                IdempotencyRefused::Invalid(InvalidIdempotencyKey::NotPrintable) => {
                    (S::BAD_REQUEST, "idempotency_key_invalid")
                }
                IdempotencyRefused::Reused => (S::CONFLICT, "idempotency_key_reused"),
                IdempotencyRefused::InProgress => (S::CONFLICT, "idempotency_key_in_progress"),
            },
            ApiError::RiskProfile(refused) => match refused {
                RiskProfileRefused::NotFound => (S::NOT_FOUND, "risk_profile_not_found"),
            },
            ApiError::Validation(_) => (S::UNPROCESSABLE_ENTITY, "validation_error"),
            ApiError::BadExchangePath => (S::BAD_REQUEST, "bad_exchange"),
            ApiError::RouteNotFound => (S::NOT_FOUND, "route_not_found"),
            ApiError::MethodNotAllowed { .. } => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnreadableBody => (S::BAD_REQUEST, "unreadable_body"),
            ApiError::Unavailable => (S::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal => (S::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    /// Seconds to wait before retrying, for the refusals that carry `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Login(LoginRefused::Throttled { retry_after_secs }) => Some(*retry_after_secs),
            ApiError::Unavailable => Some(RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

fn trading_blocked_code(blocked: &TradingBlocked) -> &'static str {
    match blocked {
        TradingBlocked::Global(_) => "trading_disabled_globally",
        TradingBlocked::User(_) => "trading_disabled_for_user",
    }
}

fn risk_block_code(block: &OpenBlock) -> &'static str {
    match block {
        OpenBlock::MaxOpenPositions => "risk_block_max_open_positions",
        OpenBlock::Cooldown { .. } => "risk_block_cooldown",
        OpenBlock::DailyStop => "risk_block_daily_stop",
        OpenBlock::MaxTrades => "risk_block_max_trades",
        OpenBlock::StopLossRequired => "risk_block_stop_loss_required",
        OpenBlock::InvalidStopDistance => "risk_block_invalid_stop_distance",
        OpenBlock::RiskPerTrade(_) => "risk_block_risk_per_trade",
        OpenBlock::SymbolExposure { .. } => "risk_block_symbol_exposure",
        OpenBlock::ExchangeExposure { .. } => "risk_block_exchange_exposure",
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ApiError::Unavailable,
            StoreError::Db(message) => {
                tracing::error!(error = %message, "database error");
                ApiError::Internal
            }
        }
    }
}

impl From<MailboxError> for ApiError {
    fn from(_: MailboxError) -> Self {
        ApiError::Unavailable
    }
}

impl<R: Into<ApiError>> From<Failure<R>> for ApiError {
    fn from(failure: Failure<R>) -> Self {
        match failure {
            Failure::Refused(refused) => refused.into(),
            Failure::Store(store) => store.into(),
        }
    }
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The contract's message (a list of issues for 422).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// A stable, machine-readable name of the refusal.
    pub code: &'static str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.status_and_code();
        let mut response = HttpResponse::build(status);
        if matches!(self, ApiError::Auth(AuthRefused::NotAuthenticated)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(secs) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        let detail = match self {
            ApiError::Validation(issues) => serde_json::to_value(issues).unwrap_or_default(),
            other => serde_json::Value::String(other.to_string()),
        };
        response.json(ErrorBody { detail, code })
    }
}

pub type HttpResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actors::domain::SignalStatus;

    fn answer(err: ApiError) -> (u16, serde_json::Value, Option<String>) {
        let response = err.error_response();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        let status = response.status().as_u16();
        let bytes = response.into_body().try_into_bytes().unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[test]
    fn a_refusal_answers_its_status_detail_and_code() {
        let (status, body, _) = answer(OpenRefused::NotExecuting(SignalStatus::Created).into());
        assert_eq!(status, 409);
        assert_eq!(body["detail"], "Signal status must be EXECUTING (got CREATED)");
        assert_eq!(body["code"], "signal_not_executing");
        let (status, body, _) = answer(OpenRefused::Risk(OpenBlock::Cooldown { minutes: 30 }).into());
        assert_eq!((status, body["code"].as_str()), (409, Some("risk_block_cooldown")));
    }

    #[test]
    fn the_same_meaning_answers_by_the_operation_that_refused() {
        let (login, _, _) = answer(LoginRefused::InvalidOtp.into());
        let (enable, _, _) = answer(TwoFactorRefused::InvalidOtp.into());
        assert_eq!((login, enable), (401, 400));
        let (token, body, _) = answer(AuthRefused::UserNotFound.into());
        let (target, other, _) = answer(AccountRefused::UserNotFound.into());
        assert_eq!((token, target), (401, 404));
        assert_eq!(body["detail"], other["detail"]);
    }

    #[test]
    fn unavailable_and_throttled_say_when_to_retry() {
        let (status, _, retry) = answer(StoreError::Unavailable("down".into()).into());
        assert_eq!((status, retry.as_deref()), (503, Some("1")));
        let (status, _, retry) = answer(LoginRefused::Throttled { retry_after_secs: 42 }.into());
        assert_eq!((status, retry.as_deref()), (429, Some("42")));
        let (status, body, retry) = answer(MailboxError::Busy.into());
        assert_eq!(
            (status, retry.as_deref(), body["code"].as_str()),
            (503, Some("1"), Some("unavailable"))
        );
    }

    #[test]
    fn an_unknown_risk_profile_is_404_with_its_own_code() {
        let (status, body, _) = answer(RiskProfileRefused::NotFound.into());
        assert_eq!(status, 404);
        assert_eq!(body["detail"], "Risk profile not found");
        assert_eq!(body["code"], "risk_profile_not_found");
    }

    #[test]
    fn a_database_error_hides_its_text() {
        let (status, body, _) = answer(StoreError::Db("relation secret_table does not exist".into()).into());
        assert_eq!(status, 500);
        assert_eq!(body["detail"], "Internal Server Error");
    }
}
