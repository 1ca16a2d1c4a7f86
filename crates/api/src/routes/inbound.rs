use crate::error::{ApiError, Problem, Result};
use crate::state::AppState;
use crate::storage::clean_filename;
use actix_web::{HttpResponse, post, web};
use crm_persistence::records::{self, NewMessage, StoredFile};
use futures_util::StreamExt;
use mail_parser::MimeHeaders;
use serde::Serialize;
use utoipa::ToSchema;

/// The largest forwarded email accepted.
pub const MAX_EMAIL_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct InboundResult {
    /// The stored message, or the one already stored with the same Message-ID.
    pub message_id: Option<i64>,
    /// True when this email was already in the timeline; nothing was added.
    pub duplicate: bool,
    /// Attachments kept as documents.
    pub attachments: usize,
}

/// Text fit to store: no NUL (PostgreSQL refuses it), at most `max` characters.
fn fit(s: &str, max: usize) -> String {
    s.chars().filter(|c| *c != '\0').take(max).collect()
}

fn addresses(list: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    list.map(|l| {
        l.iter()
            .filter_map(|m| {
                let address = m.address()?;
                Some(match m.name() {
                    Some(name) if !name.is_empty() => format!("{name} <{address}>"),
                    _ => address.to_owned(),
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Receive an email forwarded to a customer's archive address (raw RFC 5322, `message/rfc822`).
///
/// No bearer token: the archive code in the path is the secret. The sender, recipients,
/// subject, date and text (from the HTML when there is no plain part) go to the customer's
/// timeline; attachments become documents. The same Message-ID twice is stored once.
#[utoipa::path(tag = "timeline", security(()),
    params(("archive_code" = String, Path, description = "The customer's archive code")),
    request_body(description = "The raw message, as `message/rfc822` (or `text/plain`)",
        content((String = "message/rfc822"), (String = "text/plain"))),
    responses(
    (status = 202, body = InboundResult),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No customer has this archive code"),
    (status = 413, body = Problem, content_type = "application/problem+json", description = "Over 10 MiB"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "Not an email message")))]
#[post("/inbound/email/{archive_code}")]
pub async fn email(
    state: web::Data<AppState>,
    code: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse> {
    let code = code.into_inner();
    if code.len() > 64
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::NotFound(
            "No customer has this archive code.".into(),
        ));
    }
    let customer = crm_persistence::customers::find_by_archive_code(&state.db, &code)
        .await
        .map_err(|e| match e {
            crm_persistence::StoreError::NotFound => {
                ApiError::NotFound("No customer has this archive code.".into())
            }
            other => other.into(),
        })?;
    let mut raw = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("The body could not be read: {e}")))?;
        if raw.len() + chunk.len() > MAX_EMAIL_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "A forwarded email may be at most {MAX_EMAIL_BYTES} bytes."
            )));
        }
        raw.extend_from_slice(&chunk);
    }
    let not_email = || ApiError::Unprocessable {
        detail: "The body is not an email message (RFC 5322) with a From address.".into(),
        errors: Vec::new(),
    };
    let message = mail_parser::MessageParser::default()
        .parse(&raw[..])
        .ok_or_else(not_email)?;
    let from = addresses(message.from());
    let Some(sender) = from.first() else {
        return Err(not_email());
    };
    let mut to = addresses(message.to());
    to.extend(addresses(message.cc()));
    let message_id = match message.message_id() {
        Some(id) if !id.trim().is_empty() => fit(id.trim(), 998),
        _ => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(&raw[..]);
            format!(
                "sha256:{}",
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
        }
    };
    let sent_at = message
        .date()
        .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0))
        .unwrap_or_else(crm_persistence::now);
    let body: Vec<String> = (0..message.text_body_count())
        .filter_map(|i| message.body_text(i).map(|t| t.into_owned()))
        .collect();
    let new = NewMessage {
        customer_id: customer.id,
        channel: "email".into(),
        direction: "in".into(),
        sender: fit(sender, 320),
        recipient: fit(&to.join(", "), 1000),
        subject: message
            .subject()
            .map(|s| fit(s, 1000))
            .filter(|s| !s.trim().is_empty()),
        body: fit(body.join("\n").trim(), 1_000_000),
        sent_at,
        message_id: Some(message_id),
        created_by: None,
    };
    // Attachments are written first, then recorded with the message in one transaction.
    let mut files = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        let bytes = part.contents();
        let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(
            web::Bytes::copy_from_slice(bytes),
        )]);
        let stored = crate::routes::documents::store_stream(
            state.documents.as_ref(),
            chunks,
            state.document_max_bytes,
        )
        .await;
        let (key, size) = match stored {
            Ok(s) => s,
            Err(e) => {
                for f in &files {
                    let f: &StoredFile = f;
                    state.documents.remove(&f.storage_key).await.ok();
                }
                return Err(e);
            }
        };
        let content_type = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(sub) => format!("{}/{}", c.ctype(), sub),
                None => c.ctype().to_owned(),
            })
            .map(|c| fit(&c.to_ascii_lowercase(), 255))
            .unwrap_or_else(|| "application/octet-stream".into());
        let name = part
            .attachment_name()
            .map(|n| fit(n, 255))
            .unwrap_or_else(|| format!("attachment-{}", i + 1));
        files.push(StoredFile {
            filename: clean_filename(Some(&name)),
            content_type,
            size: size as i64,
            storage_key: key,
        });
    }
    let attachments = files.len();
    let keys: Vec<String> = files.iter().map(|f| f.storage_key.clone()).collect();
    let stored = records::add_message(&state.db, new, files).await;
    let result = match stored {
        Ok(Some((m, _))) => InboundResult {
            message_id: Some(m.id),
            duplicate: false,
            attachments,
        },
        Ok(None) => {
            for key in &keys {
                state.documents.remove(key).await.ok();
            }
            InboundResult {
                message_id: None,
                duplicate: true,
                attachments: 0,
            }
        }
        Err(e) => {
            for key in &keys {
                state.documents.remove(key).await.ok();
            }
            return Err(e.into());
        }
    };
    Ok(HttpResponse::Accepted().json(result))
}
