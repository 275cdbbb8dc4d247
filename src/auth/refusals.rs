//! Why the daemon's own operations on accounts refuse a request, by meaning; `Display` is the
//! contract's message. `http::ApiError` gives each its status and code.

/// Why a request is not let through authentication or authorisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthRefused {
    #[error("Not authenticated")]
    NotAuthenticated,
    /// Bad signature, algorithm or claims, expired, or not a token at all.
    #[error("Invalid authentication credentials")]
    InvalidToken,
    /// A valid token that is not an access token (a refresh token sent as a bearer token).
    #[error("Invalid token type")]
    WrongTokenType,
    /// The token names a user that no longer exists.
    #[error("User not found")]
    UserNotFound,
    #[error("Insufficient permissions")]
    Forbidden,
    /// An admin disabled the account: refused on every request, whatever the token.
    #[error("User is disabled")]
    Disabled,
    /// The token's session ended: logout, revoke-all, an admin, a reset, a reused refresh token.
    #[error("Session revoked")]
    SessionRevoked,
    /// Not a refresh token of a live session: malformed, expired, forged, unknown.
    #[error("Invalid refresh token")]
    InvalidRefreshToken,
    /// A refresh token used already: its whole session is revoked (reuse means theft).
    #[error("Refresh token revoked")]
    RefreshTokenReused,
}

/// Why a login is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    #[error("Incorrect email or password")]
    IncorrectCredentials,
    /// The account must use 2FA and has not enabled it.
    #[error("2FA must be enabled for this account")]
    TwoFactorRequired,
    #[error("OTP required")]
    OtpRequired,
    #[error("Invalid OTP")]
    InvalidOtp,
    #[error("Too many failed login attempts. Try again later.")]
    Throttled { retry_after_secs: u64 },
    /// The right password for an account an admin disabled.
    #[error("User is disabled")]
    Disabled,
}

/// Why enabling or disabling 2FA is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwoFactorRefused {
    #[error("2FA setup not found. Call /auth/2fa/setup first.")]
    SetupNotFound,
    #[error("2FA is not enabled")]
    NotEnabled,
    #[error("Invalid OTP")]
    InvalidOtp,
}

/// Why creating or finding an account is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountRefused {
    /// Self-registration with a taken email.
    #[error("Email already registered")]
    EmailAlreadyRegistered,
    /// An admin creating a user with a taken email.
    #[error("Email already exists")]
    EmailAlreadyExists,
    /// An admin named a user that does not exist.
    #[error("User not found")]
    UserNotFound,
    #[error("Cannot demote the last admin")]
    LastAdmin,
    #[error("Admins cannot change their own role")]
    OwnRole,
    /// `PUBLIC_REGISTRATION=false`: admins create users.
    #[error("Public registration is disabled")]
    RegistrationClosed,
}
