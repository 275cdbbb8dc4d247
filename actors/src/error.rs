//! Every refusal the contract names, in one typed enum whose `Display` is the contract's `detail`
//! message. Handlers and actors return these; the HTTP facade maps them with [`ApiError::status`].

use crate::domain::Exchange;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    // ---- authentication and authorisation ----
    #[error("Not authenticated")]
    NotAuthenticated,
    #[error("Invalid authentication credentials")]
    InvalidCredentials,
    #[error("User not found")]
    UserNotFound,
    #[error("Insufficient permissions")]
    InsufficientPermissions,
    #[error("Incorrect email or password")]
    IncorrectLogin,
    #[error("2FA must be enabled for this account")]
    TwoFactorRequiredForAccount,
    #[error("OTP required")]
    OtpRequired,
    /// Wrong code at login (401).
    #[error("Invalid OTP")]
    InvalidOtpLogin,
    /// Wrong code when enabling or disabling 2FA (400).
    #[error("Invalid OTP")]
    InvalidOtp,
    #[error("2FA setup not found. Call /auth/2fa/setup first.")]
    TwoFactorSetupNotFound,
    #[error("2FA is not enabled")]
    TwoFactorNotEnabled,
    #[error("Too many failed login attempts. Try again later.")]
    LoginThrottled { retry_after_secs: u64 },

    // ---- users ----
    #[error("Email already registered")]
    EmailAlreadyRegistered,
    #[error("Email already exists")]
    EmailAlreadyExists,

    /// An admin named a user that does not exist (404, unlike the token case).
    #[error("User not found")]
    TargetUserNotFound,

    // ---- exchange secrets and segregation ----
    #[error("Exchange {0} is disabled for this user")]
    ExchangeDisabled(Exchange),
    #[error("exchange must be BINANCE or IBKR")]
    BadExchangePath,
    #[error("No credentials found for this exchange")]
    NoCredentials,
    #[error("Missing credentials for {0}")]
    MissingCredentials(Exchange),
    #[error("Stored credentials for {0} cannot be decrypted with the configured key ring")]
    CredentialsUndecryptable(Exchange),

    // ---- signals and positions ----
    #[error("Signal not found")]
    SignalNotFound,
    #[error("Cannot open another user's signal")]
    ForeignSignal,
    #[error("Signal status must be EXECUTING (got {0})")]
    SignalNotExecuting(String),
    #[error("Signal missing entry_price")]
    SignalMissingEntryPrice,
    #[error("{0}")]
    RiskBlock(crate::rules::risk::OpenBlock),
    #[error("Position not found")]
    PositionNotFound,
    #[error("Cannot close another user's position")]
    ForeignPosition,
    #[error("Position status must be OPEN (got {0})")]
    PositionNotOpen(String),

    // ---- upstreams ----
    #[error("Binance test order failed: {0}")]
    BinanceOrderFailed(String),
    #[error("IBKR test order failed: {0}")]
    IbkrOrderFailed(String),

    // ---- generic ----
    #[error("Not Found")]
    RouteNotFound,
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    BadRequest(String),
    #[error("Service temporarily unavailable, retry shortly")]
    Unavailable { retry_after_secs: u64 },
    #[error("Internal Server Error")]
    Internal,
}

impl ApiError {
    /// The HTTP status the contract gives this refusal.
    pub fn status(&self) -> u16 {
        use ApiError::*;
        match self {
            NotAuthenticated
            | InvalidCredentials
            | UserNotFound
            | IncorrectLogin
            | TwoFactorRequiredForAccount
            | OtpRequired
            | InvalidOtpLogin => 401,
            InsufficientPermissions | ExchangeDisabled(_) | ForeignSignal | ForeignPosition => 403,
            TwoFactorSetupNotFound
            | TwoFactorNotEnabled
            | NoCredentials
            | TargetUserNotFound
            | SignalNotFound
            | PositionNotFound
            | RouteNotFound => 404,
            MethodNotAllowed => 405,
            EmailAlreadyExists | SignalNotExecuting(_) | RiskBlock(_) | PositionNotOpen(_) => 409,
            PayloadTooLarge => 413,
            LoginThrottled { .. } => 429,
            InvalidOtp
            | EmailAlreadyRegistered
            | BadExchangePath
            | MissingCredentials(_)
            | SignalMissingEntryPrice
            | BadRequest(_) => 400,
            BinanceOrderFailed(_) | IbkrOrderFailed(_) => 502,
            Unavailable { .. } => 503,
            CredentialsUndecryptable(_) | Internal => 500,
        }
    }

    /// Seconds a client should wait before retrying, for the refusals that carry `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::LoginThrottled { retry_after_secs } | ApiError::Unavailable { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            crate::store::StoreError::Unavailable(_) => ApiError::Unavailable { retry_after_secs: 1 },
            crate::store::StoreError::Db(_) => ApiError::Internal,
        }
    }
}
