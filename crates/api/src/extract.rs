//! Extractor settings that turn actix's plain-text rejections into problem documents.

use crate::error::{ApiError, FieldError};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{HttpRequest, web};

/// The largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BYTES)
        .error_handler(|err, _req| json_error(err).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(err).into())
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, req| path_error(err, req).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::PayloadTooLarge(
            format!("The body is {length} bytes; at most {limit} are accepted."),
        ),
        JsonPayloadError::Overflow { limit } => {
            ApiError::PayloadTooLarge(format!("The body exceeds {limit} bytes."))
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "The body must be JSON, sent with Content-Type: application/json.".into(),
        ),
        JsonPayloadError::Deserialize(e) => serde_error(&e),
        JsonPayloadError::Serialize(e) => ApiError::internal(e),
        other => ApiError::bad_request(format!("The body could not be read: {other}")),
    }
}

/// Syntax errors are malformed requests (400); well-formed JSON of the wrong shape or with
/// values out of range breaks the contract's rules (422).
pub fn serde_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("The body is not valid JSON: {e}"))
        }
        Category::Data => {
            let message = e.to_string();
            let field = field_of(&message).unwrap_or("body").to_owned();
            ApiError::Unprocessable {
                detail: format!("The body does not match the schema: {message}"),
                errors: vec![FieldError::new(field, strip_position(&message))],
            }
        }
    }
}

/// serde names an unknown or missing field in backquotes: "missing field `name`".
fn field_of(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    let field = &message[start..start + len];
    (message.starts_with("missing field") || message.starts_with("unknown field")).then_some(field)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn query_error(err: QueryPayloadError) -> ApiError {
    let message = match &err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::BadRequest {
        detail: format!("The query string is invalid: {message}"),
        errors: vec![FieldError::new("query", message)],
    }
}

fn path_error(err: PathError, req: &HttpRequest) -> ApiError {
    let message = match &err {
        PathError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::BadRequest {
        detail: format!("The path {} is invalid: {message}", req.path()),
        errors: vec![FieldError::new("path", message)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_400_and_shape_errors_422() {
        let syntax = serde_json::from_str::<serde_json::Value>("{\"a\":").unwrap_err();
        assert!(matches!(serde_error(&syntax), ApiError::BadRequest { .. }));

        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Login {
            email: String,
        }
        let shape = serde_json::from_str::<Login>("{}").unwrap_err();
        match serde_error(&shape) {
            ApiError::Unprocessable { errors, .. } => {
                assert_eq!(
                    errors,
                    vec![FieldError::new("email", "missing field `email`")]
                );
            }
            other => panic!("expected 422, got {other:?}"),
        }
    }
}
