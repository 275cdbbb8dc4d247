//! Request ids, panic containment, request metrics and the security headers of every answer, as
//! one middleware around the app.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use futures::FutureExt;
use tracing::Instrument;

use super::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Gives each request an id (echoed in `X-Request-Id` and in every log line of the request),
/// turns a panicking handler into a JSON 500 that names the id, and records metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.path());

    let outcome = AssertUnwindSafe(next.call(req))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    let response = match outcome {
        Ok(Ok(res)) => ensure_json_error(res.map_into_boxed_body()),
        Ok(Err(err)) => {
            let status = err.as_response_error().status_code().as_u16();
            record(&span, &method, "<unmatched>", status, started);
            return Err(err);
        }
        Err(_) => {
            span.in_scope(|| tracing::error!("handler panicked"));
            metrics::counter!("http_panics_total").increment(1);
            record(&span, &method, "<panicked>", 500, started);
            return Err(PanicError { request_id }.into());
        }
    };
    let mut response = response;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_string());
    record(&span, &method, &route, response.status().as_u16(), started);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    secure(response.headers_mut());
    Ok(response)
}

/// Answers carry tokens, credentials and personal data: no cache keeps one (RFC 6749 §5.1 asks
/// it of token answers) unless its route says otherwise, and no browser reads one as another
/// content type than the one declared.
fn secure(headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

fn record(span: &tracing::Span, method: &str, route: &str, status: u16, started: Instant) {
    let elapsed = started.elapsed();
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    if status >= 500 {
        span.in_scope(|| tracing::warn!(status, elapsed_ms = elapsed.as_millis() as u64, "request failed"));
    } else {
        span.in_scope(|| tracing::debug!(status, elapsed_ms = elapsed.as_millis() as u64, "request"));
    }
}

/// A handler panicked: the client gets a JSON 500 naming the request id to quote.
#[derive(Debug)]
struct PanicError {
    request_id: String,
}

impl std::fmt::Display for PanicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Internal Server Error (request {})", self.request_id)
    }
}

impl actix_web::ResponseError for PanicError {
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::InternalServerError()
            .insert_header((REQUEST_ID_HEADER, self.request_id.clone()))
            .json(serde_json::json!({
                "detail": ApiError::Internal.to_string(),
                "code": ApiError::Internal.status_and_code().1,
                "request_id": self.request_id,
            }));
        secure(response.headers_mut());
        response
    }
}

/// Errors produced by the framework itself (wrong method, bad path segment, …) come without a
/// JSON body; give every error the contract's `{"detail": …}` shape.
fn ensure_json_error(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() && !status.is_server_error() || is_json {
        return response;
    }
    let known = match status.as_u16() {
        404 => Some(ApiError::RouteNotFound),
        413 => Some(ApiError::PayloadTooLarge),
        _ => None,
    };
    let (detail, code) = match &known {
        Some(err) => (err.to_string(), err.status_and_code().1),
        None => (status.canonical_reason().unwrap_or("Error").to_string(), "http_error"),
    };
    let (req, res) = response.into_parts();
    let mut json = HttpResponse::build(status);
    for (name, value) in res
        .headers()
        .iter()
        .filter(|(n, _)| *n != actix_web::http::header::CONTENT_TYPE && *n != actix_web::http::header::CONTENT_LENGTH)
    {
        json.append_header((name.clone(), value.clone()));
    }
    ServiceResponse::new(req, json.json(serde_json::json!({ "detail": detail, "code": code })))
}
