//! Maps contract errors to HTTP responses in the FastAPI shapes the clients expect.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use actors::ApiError;
use serde::Serialize;

/// The error every handler returns: a contract refusal or a request-validation failure.
#[derive(Debug)]
pub enum HttpError {
    Api(ApiError),
    Validation(Vec<ValidationIssue>),
}

/// One entry of a 422 `detail` list: `{loc, msg, type}`.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationIssue {
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

impl HttpError {
    /// A single 422 issue.
    pub fn invalid(location: &str, field: &str, msg: impl Into<String>) -> Self {
        HttpError::Validation(vec![ValidationIssue::new(location, Some(field), msg, "value_error")])
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Api(e) => write!(f, "{e}"),
            HttpError::Validation(issues) => write!(f, "validation failed: {} issue(s)", issues.len()),
        }
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError::Api(e)
    }
}

impl From<actors::store::StoreError> for HttpError {
    fn from(e: actors::store::StoreError) -> Self {
        if let actors::store::StoreError::Db(ref message) = e {
            tracing::error!(error = %message, "database error");
        }
        HttpError::Api(e.into())
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::Api(e) => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            HttpError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            HttpError::Api(e) => {
                if matches!(e, ApiError::NotAuthenticated) {
                    response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
                }
                if let Some(secs) = e.retry_after() {
                    response.insert_header((header::RETRY_AFTER, secs.to_string()));
                }
                response.json(serde_json::json!({ "detail": e.to_string() }))
            }
            HttpError::Validation(issues) => response.json(serde_json::json!({ "detail": issues })),
        }
    }
}

pub type HttpResult<T> = Result<T, HttpError>;
