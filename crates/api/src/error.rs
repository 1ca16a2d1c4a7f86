//! The API's one error type. Every failure leaves as RFC 9457 `application/problem+json`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use crm_persistence::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path into the request (`follow_up.type_id`), or the query parameter.
    #[schema(example = "name")]
    pub field: String,
    #[schema(example = "must not be empty")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation-error",
    "title": "Validation failed",
    "status": 422,
    "detail": "The request is well-formed but breaks 1 rule.",
    "errors": [{"field": "name", "message": "must not be empty"}]
}))]
pub struct Problem {
    /// A stable identifier of the kind of problem; clients branch on it.
    #[serde(rename = "type")]
    #[schema(example = "/problems/not-found")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// Each rejected field, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For internal errors: quote it when reporting the problem; the server log has the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Everything a handler can fail with. Each variant's comment gives its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON, query string or path.
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 401: no token, or a bad or expired one; also bad login credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource or route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not with this method.
    #[error("{detail}")]
    MethodNotAllowed { allow: Vec<String>, detail: String },
    /// 409: the resource's state forbids this (a closed task, a duplicate name).
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` names a version that is no longer current.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413: the body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not of a type this operation reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed, but breaks a rule.
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 429: too many attempts; try again after the given seconds.
    #[error("{detail}")]
    TooManyRequests { retry_after: u64, detail: String },
    /// 503: the database cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a defect or an unexpected fault; logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!(
                "The request is well-formed but breaks {} rules.",
                many.len()
            ),
        };
        ApiError::Unprocessable { detail, errors }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    fn code_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest { .. } => ("bad-request", "Malformed request"),
            ApiError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict with the current state"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "Precondition failed"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "Payload too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::Unprocessable { .. } => ("validation-error", "Validation failed"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::Unavailable(_) => ("service-unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("internal-error", "Internal error"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("No such record.".into()),
            StoreError::Duplicate(_) => {
                ApiError::Conflict("A record with the same unique value already exists.".into())
            }
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Lifecycle(e) => e.into(),
            StoreError::Forbidden(message) => ApiError::Forbidden(message),
            StoreError::Rejected { field, message } => ApiError::invalid_field(field, message),
            StoreError::MissingReference(_) => ApiError::Unprocessable {
                detail: "The request refers to a record that does not exist.".into(),
                errors: Vec::new(),
            },
            StoreError::VersionConflict => ApiError::PreconditionFailed(
                "The record was changed by someone else; read it again and retry.".into(),
            ),
            StoreError::Unavailable(e) => {
                log::warn!("database unavailable: {e}");
                ApiError::Unavailable("The database is unavailable; retry shortly.".into())
            }
            // A server error, so that an idempotency key is not kept for it and the retry
            // the message asks for runs again.
            StoreError::Contention(e) => {
                log::warn!("transaction undone by the database: {e}");
                ApiError::Unavailable(
                    "Another change to the same records ran at the same time; nothing was \
                     changed. Retry the request."
                        .into(),
                )
            }
            StoreError::Database(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<crm_domain::LifecycleError> for ApiError {
    fn from(e: crm_domain::LifecycleError) -> Self {
        use crm_domain::LifecycleError as L;
        let text = e.to_string();
        let mut chars = text.chars();
        let message = match chars.next() {
            Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
            None => text.clone(),
        };
        match e {
            L::ReopenForbidden(_) => ApiError::Forbidden(message),
            L::OutcomeKeepsPlanned(_) | L::InactiveOutcome(_) | L::OutcomeDoesNotFit { .. } => {
                ApiError::invalid_field("outcome_id", e.to_string())
            }
            L::NotPlanned(_)
            | L::AlreadyPlanned
            | L::NoteCannotReopen
            | L::NotPriority
            | L::TakenByOther(_) => ApiError::Conflict(message),
        }
    }
}

fn request_id() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (code, title) = self.code_and_title();
        let (detail, errors, request_id) = match self {
            ApiError::Internal(cause) => {
                let id = request_id();
                log::error!("request {id} failed: {cause}");
                (
                    "The server failed to handle the request.".to_owned(),
                    Vec::new(),
                    Some(id),
                )
            }
            ApiError::BadRequest { errors, .. } | ApiError::Unprocessable { errors, .. } => {
                (self.to_string(), errors.clone(), None)
            }
            other => (other.to_string(), Vec::new(), None),
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, allow.join(", ")));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.json(Problem {
            kind: format!("/problems/{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
            request_id,
        })
    }
}
