//! `Idempotency-Key` on creating POSTs: a retry with the same key gets the first response
//! and creates nothing; the same key with another request is refused (422).

use crate::auth::Caller;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::body::{MessageBody, to_bytes};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use crm_persistence::idempotency::{self, Claim, Stored};
use sha2::{Digest, Sha256};
use std::future::Future;

pub const HEADER: &str = "Idempotency-Key";

/// Headers worth replaying with a stored response.
const KEPT_HEADERS: [header::HeaderName; 3] =
    [header::LOCATION, header::ETAG, header::CONTENT_TYPE];

fn key_of(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("").trim();
    let ok = !key.is_empty()
        && key.len() <= 255
        && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if ok {
        Ok(Some(key.to_owned()))
    } else {
        Err(ApiError::BadRequest {
            detail: "Idempotency-Key must be 1 to 255 printable ASCII characters, starting with a visible one.".into(),
            errors: vec![FieldError::new(
                HEADER,
                "1 to 255 printable ASCII characters",
            )],
        })
    }
}

fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str());
    hash.update(b" ");
    hash.update(req.path());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn replay(stored: Stored) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.insert_header(("Idempotent-Replayed", "true"));
    response.body(stored.body)
}

/// Runs `handler` once per key: stores its response (success or client error) and replays it
/// for retries. Without the header, just runs it.
pub async fn idempotent<F, Fut>(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    body: &[u8],
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let Some(key) = key_of(req)? else {
        return handler().await;
    };
    match idempotency::claim(&state.db, caller.id, &key, &fingerprint(req, body)).await? {
        Claim::Replay(stored) => return Ok(replay(stored)),
        Claim::InProgress => {
            return Err(ApiError::Conflict(
                "A request with this Idempotency-Key is still being served; retry in a moment."
                    .into(),
            ));
        }
        Claim::Mismatch => {
            return Err(ApiError::Unprocessable {
                detail: "This Idempotency-Key was used for a different request.".into(),
                errors: vec![FieldError::new(
                    HEADER,
                    "already used for a different request",
                )],
            });
        }
        Claim::New => {}
    }
    let response = match handler().await {
        Ok(r) => r,
        Err(e) => e.error_response(),
    };
    if response.status().is_server_error() {
        if let Err(e) = idempotency::release(&state.db, caller.id, &key).await {
            log::warn!("releasing an idempotency key: {e}");
        }
        return Ok(response);
    }
    let (head, body) = response.into_parts();
    let bytes = to_bytes(body)
        .await
        .map_err(|_| ApiError::internal("reading a response body"))?;
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = head.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let stored = Stored {
        status: head.status().as_u16(),
        headers,
        body: bytes.to_vec(),
    };
    idempotency::finish(&state.db, caller.id, &key, &stored).await?;
    Ok(head.set_body(bytes.boxed()))
}
