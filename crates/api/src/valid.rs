//! `Valid<T>`: a JSON body read in one pass, with the path of any field serde rejects,
//! then checked with `validator`. Every rejected field is reported at once.

use crate::error::{ApiError, FieldError};
use crate::extract::MAX_JSON_BYTES;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{Datelike, NaiveDate};
use crm_domain::{Color, Description, Email, InvalidText, Name, Phone};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

/// A day given in a query parameter, of the years 1 to 9999: what ISO 8601 writes with four
/// digits and what both databases store. Outside them, 400 naming the field.
pub fn calendar_day(field: &str, day: Option<NaiveDate>) -> Result<Option<NaiveDate>, ApiError> {
    match day {
        Some(d) if !(1..=9999).contains(&d.year()) => Err(ApiError::BadRequest {
            detail: format!("{field} must be a day of the years 1 to 9999."),
            errors: vec![FieldError::new(field, "a day of the years 1 to 9999")],
        }),
        _ => Ok(day),
    }
}

pub struct Valid<T>(pub T);

impl<T> Valid<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// Turns `validator`'s nested report into dotted field paths.
pub fn flatten(errors: &ValidationErrors) -> Vec<FieldError> {
    fn walk(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
        for (field, kind) in errors.errors() {
            let path = if prefix.is_empty() {
                field.to_string()
            } else {
                format!("{prefix}.{field}")
            };
            match kind {
                ValidationErrorsKind::Field(list) => {
                    for e in list {
                        let message = e
                            .message
                            .as_ref()
                            .map_or_else(|| e.code.to_string(), |m| m.to_string());
                        out.push(FieldError::new(path.clone(), message));
                    }
                }
                ValidationErrorsKind::Struct(inner) => walk(&path, inner, out),
                ValidationErrorsKind::List(items) => {
                    for (i, inner) in items {
                        walk(&format!("{path}[{i}]"), inner, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk("", errors, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

/// Reads a JSON body: 415 when not JSON, 413 when over 1 MiB, 400 when malformed,
/// 422 naming the field when well-formed but of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is a JSON object; serde would otherwise read a struct from an array.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b == b'[') {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match crate::extract::serde_error(&inner) {
            ApiError::Unprocessable { detail, mut errors } => {
                if path != "." && !path.is_empty() {
                    for err in &mut errors {
                        if err.field == "body" {
                            err.field = path.clone();
                        }
                    }
                }
                ApiError::Unprocessable { detail, errors }
            }
            other => other,
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("The body has trailing characters: {e}")))?;
    Ok(value)
}

/// A JSON body's bytes, read whole: 415 when not sent as JSON, 413 over 1 MiB. For handlers
/// that need the raw bytes (idempotency fingerprints) before decoding them with [`decode`].
pub struct RawJson(pub web::Bytes);

impl FromRequest for RawJson {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType(
                    "The body must be JSON, sent with Content-Type: application/json.".into(),
                ));
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    ApiError::PayloadTooLarge(format!("The body exceeds {MAX_JSON_BYTES} bytes."))
                } else {
                    ApiError::bad_request(format!("The body could not be read: {e}"))
                }
            })?;
            Ok(RawJson(bytes))
        })
    }
}

/// Parses and validates a JSON body.
pub fn decode<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: T = parse_json(bytes)?;
    value
        .validate()
        .map_err(|e| ApiError::validation(flatten(&e)))?;
    Ok(value)
}

impl<T> FromRequest for Valid<T>
where
    T: DeserializeOwned + Validate + 'static,
{
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let raw = RawJson::from_request(req, payload);
        Box::pin(async move { decode(&raw.await?.0).map(Valid) })
    }
}

fn invalid(e: InvalidText) -> ValidationError {
    let mut err = ValidationError::new("invalid");
    err.message = Some(Cow::Owned(e.to_string()));
    err
}

// Field checks for `#[validate(custom(function = ...))]`, delegating to the domain's types.

pub fn name(s: &str) -> Result<(), ValidationError> {
    Name::parse(s).map(|_| ()).map_err(invalid)
}

pub fn description(s: &str) -> Result<(), ValidationError> {
    Description::parse(s).map(|_| ()).map_err(invalid)
}

pub fn color(s: &str) -> Result<(), ValidationError> {
    Color::parse(s).map(|_| ()).map_err(invalid)
}

pub fn email(s: &str) -> Result<(), ValidationError> {
    Email::parse(s).map(|_| ()).map_err(invalid)
}

pub fn phone(s: &str) -> Result<(), ValidationError> {
    Phone::parse(s).map(|_| ()).map_err(invalid)
}

/// Passwords: 8 to 1024 characters, no NUL.
pub fn password(s: &str) -> Result<(), ValidationError> {
    let n = s.chars().count();
    let message = if n < 8 {
        "must be at least 8 characters"
    } else if n > 1024 {
        "must be at most 1024 characters"
    } else if s.contains('\0') {
        "must not contain NUL"
    } else {
        return Ok(());
    };
    let mut err = ValidationError::new("password");
    err.message = Some(Cow::Borrowed(message));
    Err(err)
}

/// Ids are positive.
pub fn id(n: i64) -> Result<(), ValidationError> {
    if n >= 1 {
        Ok(())
    } else {
        let mut err = ValidationError::new("id");
        err.message = Some(Cow::Borrowed("must be a positive id"));
        Err(err)
    }
}

/// Converts an already validated text with the domain parser; the error arm only guards
/// against a check and its parser drifting apart.
pub fn parsed<T>(field: &str, r: Result<T, InvalidText>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::invalid_field(field, e.to_string()))
}
