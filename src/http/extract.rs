//! Body, query and form extractors that answer bad input with the FastAPI 422 shape,
//! naming the field (`loc`) that is wrong.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ValidationIssue};

/// Turns a deserialisation error into a 422 issue at `location` (body or query).
fn issue_from<E: std::fmt::Display>(location: &str, err: serde_path_to_error::Error<E>) -> ValidationIssue {
    let path = err.path().to_string();
    let message = err.inner().to_string();
    // serde reports a missing field at the parent; name the field itself, as FastAPI does.
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let full = if path == "." || path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        return ValidationIssue::new(location, Some(&full), "Field required", "missing");
    }
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let field = if path == "." { None } else { Some(path.as_str()) };
    let kind = if message.starts_with("invalid type") {
        "type_error"
    } else {
        "value_error"
    };
    ValidationIssue::new(location, field, message, kind)
}

/// Parses a JSON body into `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::Validation(vec![ValidationIssue::new(
            "body",
            None,
            "Field required",
            "missing",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => match de.end() {
            Ok(()) => Ok(value),
            Err(_) => Err(json_invalid()),
        },
        Err(err) if err.inner().is_syntax() || err.inner().is_eof() => Err(json_invalid()),
        Err(err) => Err(ApiError::Validation(vec![issue_from("body", err)])),
    }
}

fn json_invalid() -> ApiError {
    ApiError::Validation(vec![ValidationIssue::new(
        "body",
        None,
        "JSON decode error",
        "json_invalid",
    )])
}

/// Parses `a=1&b=2` (a query string or a form body) into `T`.
pub fn parse_urlencoded<T: DeserializeOwned>(location: &str, text: &[u8]) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(text));
    serde_path_to_error::deserialize(de).map_err(|err| ApiError::Validation(vec![issue_from(location, err)]))
}

fn form_urlencoded_parse(text: &[u8]) -> url_parse::Parse<'_> {
    url_parse::parse(text)
}

mod url_parse {
    pub use form_urlencoded::{parse, Parse};
}

/// The request's body bytes; too large is 413, unreadable is 400.
async fn read_body(bytes: <web::Bytes as FromRequest>::Future) -> Result<web::Bytes, ApiError> {
    bytes.await.map_err(|err| {
        if err.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::UnreadableBody
        }
    })
}

macro_rules! extractor {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        pub struct $name<T>(pub T);

        impl<T: DeserializeOwned + 'static> FromRequest for $name<T> {
            type Error = ApiError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let req = req.clone();
                let bytes = web::Bytes::from_request(&req, payload);
                Box::pin(async move {
                    let parse: fn(&HttpRequest, &[u8]) -> Result<T, ApiError> = $body;
                    let bytes = read_body(bytes).await?;
                    parse(&req, &bytes).map($name)
                })
            }
        }
    };
}

/// A JSON request body, with the bytes it was parsed from (what an idempotency key is bound to).
pub struct RawJson<T> {
    pub value: T,
    pub raw: web::Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for RawJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let raw = read_body(bytes).await?;
            Ok(RawJson {
                value: parse_json(&raw)?,
                raw,
            })
        })
    }
}

extractor!(
    /// A JSON request body.
    Json, |_, bytes| parse_json(bytes)
);

/// A JSON request body that may be left out: an empty body is `None`.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let raw = read_body(bytes).await?;
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(OptionalJson(None));
            }
            parse_json(&raw).map(|value| OptionalJson(Some(value)))
        })
    }
}
extractor!(
    /// An `application/x-www-form-urlencoded` request body.
    Form, |_, bytes| parse_urlencoded("body", bytes)
);

/// Query parameters.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_urlencoded("query", req.query_string().as_bytes()).map(Query))
    }
}

/// The `{name}` segment of the matched path parsed into `T` (an id): a malformed one is 422
/// naming it, as FastAPI answers.
pub fn path_param<T>(req: &HttpRequest, name: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw = req.match_info().get(name).unwrap_or_default();
    raw.parse()
        .map_err(|err: T::Err| ApiError::invalid("path", name, err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: actors::domain::Email,
        qty: rust_decimal::Decimal,
    }

    fn issues(err: ApiError) -> serde_json::Value {
        match err {
            ApiError::Validation(issues) => serde_json::to_value(issues).unwrap(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn missing_field_is_named() {
        let v = issues(parse_json::<Body>(br#"{"email":"a@b.co"}"#).unwrap_err());
        assert_eq!(v[0]["loc"], serde_json::json!(["body", "qty"]));
        assert_eq!(v[0]["type"], "missing");
    }

    #[test]
    fn bad_email_and_bad_json() {
        let v = issues(parse_json::<Body>(br#"{"email":"nope","qty":1}"#).unwrap_err());
        assert_eq!(v[0]["loc"], serde_json::json!(["body", "email"]));
        let v = issues(parse_json::<Body>(br#"{"email":"#).unwrap_err());
        assert_eq!(v[0]["type"], "json_invalid");
        let v = issues(parse_json::<Body>(b"").unwrap_err());
        assert_eq!(v[0]["type"], "missing");
    }

    #[test]
    fn query_errors_name_the_parameter() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Q {
            limit: u32,
        }
        let v = issues(parse_urlencoded::<Q>("query", b"limit=abc").unwrap_err());
        assert_eq!(v[0]["loc"], serde_json::json!(["query", "limit"]));
    }
}
