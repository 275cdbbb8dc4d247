//! Body, query and form extractors that answer bad input with the FastAPI 422 shape,
//! naming the field (`loc`) that is wrong.

use std::future::{Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::Either;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ValidationIssue};
use super::precedence::{self, Decoding, Judging, Underway};

/// Turns a deserialisation error into a 422 issue at `location` (body or query).
fn issue_from<E: std::fmt::Display>(location: &str, err: serde_path_to_error::Error<E>) -> ValidationIssue {
    // serde_json's arbitrary-precision numbers are a map with one private key: not a field of the body.
    let path = err.path().to_string();
    let path = path
        .strip_suffix(".$serde_json::private::Number")
        .unwrap_or(&path)
        .to_string();
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

/// PostgreSQL's text cannot hold U+0000: a string with it is refused at the edge (a 422 at
/// `location`, naming the `field` when there is one) instead of failing the database batch it
/// would have joined.
fn nul_refused(location: &str, field: Option<&str>) -> ApiError {
    ApiError::Validation(vec![ValidationIssue::new(
        location,
        field,
        "String should not contain the NUL character (\\u0000)",
        "string_nul",
    )])
}

/// Whether a JSON text holds the escape `\u0000` (an escaped backslash before `u0000` is text).
fn json_has_nul(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && b == b'u' && bytes.get(i + 1..i + 5) == Some(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// The pair of a query string or form body that decodes to a NUL (`%00`, or the byte itself):
/// `Some(Some(name))` for a value, `Some(None)` when the name itself holds it.
fn urlencoded_nul_field(bytes: &[u8]) -> Option<Option<String>> {
    form_urlencoded::parse(bytes).find_map(|(name, value)| {
        if name.contains('\0') {
            Some(None)
        } else if value.contains('\0') {
            Some(Some(name.into_owned()))
        } else {
            None
        }
    })
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
    if json_has_nul(bytes) {
        return Err(nul_refused("body", None));
    }
    // Every body is an object, and serde would fill a struct from an array too.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => not_an_object(),
            Err(_) => json_invalid(),
        });
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

/// The media type of the request's body (`application/json` of `application/json; charset=utf-8`).
fn media_type(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(actix_web::http::header::CONTENT_TYPE)?;
    let text = value.to_str().unwrap_or("invalid");
    Some(text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// FastAPI reads a body as JSON under a JSON media type or none; under any other it is not an
/// object, and the answer is its 422 at `body`.
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    match media_type(req) {
        None => Ok(()),
        Some(m) if m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")) => Ok(()),
        Some(_) => Err(not_an_object()),
    }
}

fn not_an_object() -> ApiError {
    ApiError::Validation(vec![ValidationIssue::new(
        "body",
        None,
        "Input should be a valid dictionary or object to extract fields from",
        "model_attributes_type",
    )])
}

/// Parses a JSON body into `T`, under a media type that says JSON.
fn parse_json_body<T: DeserializeOwned>(req: &HttpRequest, bytes: &[u8]) -> Result<T, ApiError> {
    require_json(req)?;
    parse_json(bytes)
}

/// A form's fields come only from a form body: under another media type it has none (so the
/// answer names each missing field, as FastAPI's does).
fn form_fields<'a>(req: &HttpRequest, bytes: &'a [u8]) -> &'a [u8] {
    match media_type(req).as_deref() {
        Some("application/x-www-form-urlencoded") => bytes,
        _ => b"",
    }
}

/// The `type` of a body that is not JSON at all.
const JSON_INVALID: &str = "json_invalid";

fn json_invalid() -> ApiError {
    ApiError::Validation(vec![ValidationIssue::new(
        "body",
        None,
        "JSON decode error",
        JSON_INVALID,
    )])
}

/// A refusal of what was sent, in FastAPI's order (`http::precedence`): a body that is not JSON
/// at all at once, any other once the caller has been judged. Ends the body's decoding first, so
/// a caller's refusal waiting for it can go.
async fn after_the_caller(req: &HttpRequest, err: ApiError, decoding: Option<Underway>) -> ApiError {
    drop(decoding);
    let undecodable = matches!(&err, ApiError::Validation(issues) if issues.iter().any(|i| i.kind == JSON_INVALID));
    if !undecodable {
        precedence::finished::<Judging>(req).await;
    }
    err
}

/// Parses `a=1&b=2` (a query string or a form body) into `T`.
pub fn parse_urlencoded<T: DeserializeOwned>(location: &str, text: &[u8]) -> Result<T, ApiError> {
    if let Some(field) = urlencoded_nul_field(text) {
        return Err(nul_refused(location, field.as_deref()));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(text));
    serde_path_to_error::deserialize(de).map_err(|err| ApiError::Validation(vec![issue_from(location, err)]))
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
                let decoding = precedence::begin::<Decoding>(&req);
                Box::pin(async move {
                    let parse: fn(&HttpRequest, &[u8]) -> Result<T, ApiError> = $body;
                    let bytes = read_body(bytes).await?;
                    match parse(&req, &bytes) {
                        Ok(value) => Ok($name(value)),
                        Err(err) => Err(after_the_caller(&req, err, Some(decoding)).await),
                    }
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
        let req = req.clone();
        let bytes = web::Bytes::from_request(&req, payload);
        let decoding = precedence::begin::<Decoding>(&req);
        Box::pin(async move {
            let raw = read_body(bytes).await?;
            match parse_json_body(&req, &raw) {
                Ok(value) => Ok(RawJson { value, raw }),
                Err(err) => Err(after_the_caller(&req, err, Some(decoding)).await),
            }
        })
    }
}

extractor!(
    /// A JSON request body.
    Json, parse_json_body
);

/// A JSON request body that may be left out: an empty body is `None`.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let bytes = web::Bytes::from_request(&req, payload);
        let decoding = precedence::begin::<Decoding>(&req);
        Box::pin(async move {
            let raw = read_body(bytes).await?;
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(OptionalJson(None));
            }
            match parse_json_body(&req, &raw) {
                Ok(value) => Ok(OptionalJson(Some(value))),
                Err(err) => Err(after_the_caller(&req, err, Some(decoding)).await),
            }
        })
    }
}
extractor!(
    /// An `application/x-www-form-urlencoded` request body.
    Form, |req, bytes| parse_urlencoded("body", form_fields(req, bytes))
);

/// Query parameters.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    /// Parsed at once; only a refusal waits (for the caller's judgement), so only it is boxed.
    type Future = Either<Ready<Result<Self, ApiError>>, Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        match parse_urlencoded("query", req.query_string().as_bytes()) {
            Ok(value) => Either::Left(std::future::ready(Ok(Query(value)))),
            Err(err) => {
                let req = req.clone();
                Either::Right(Box::pin(async move { Err(after_the_caller(&req, err, None).await) }))
            }
        }
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
    if raw.contains('\0') {
        return Err(nul_refused("path", Some(name)));
    }
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
    fn a_body_that_is_not_an_object_is_refused_as_such() {
        let v = issues(parse_json::<Body>(br#" ["a@b.co", 1]"#).unwrap_err());
        assert_eq!(v[0]["type"], "model_attributes_type");
        let v = issues(parse_json::<Body>(b"\"text\"").unwrap_err());
        assert_eq!(v[0]["type"], "model_attributes_type");
        let v = issues(parse_json::<Body>(b"[1,").unwrap_err());
        assert_eq!(v[0]["type"], "json_invalid");
    }

    #[test]
    fn a_nul_anywhere_is_refused_but_an_escaped_backslash_is_text() {
        let v = issues(parse_json::<Body>(br#"{"email":"a\u0000@b.co","qty":1}"#).unwrap_err());
        assert_eq!(v[0]["type"], "string_nul");
        let text: serde_json::Value = parse_json(br#"{"note":"a\\u0000 and \\\u0041"}"#).unwrap();
        assert_eq!(text["note"], "a\\u0000 and \\A");
        let v = issues(parse_urlencoded::<Body>("query", b"email=a%00b").unwrap_err());
        assert_eq!(v[0]["loc"], serde_json::json!(["query", "email"]));
        let v = issues(parse_urlencoded::<Body>("query", b"e%00mail=ab").unwrap_err());
        assert_eq!(v[0]["loc"], serde_json::json!(["query"]));
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
