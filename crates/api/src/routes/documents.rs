use super::IdPath;
use crate::auth::Caller;
use crate::error::{ApiError, Problem, Result};
use crate::state::AppState;
use crate::storage::{DocumentStore, clean_filename};
use actix_multipart::Multipart;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use crm_persistence::records::{self, Document, StoredFile};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Document)]
pub struct DocumentOut {
    pub id: i64,
    pub customer_id: i64,
    /// The name the file was uploaded with, without any directory.
    pub filename: String,
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    pub uploaded_by: Option<i64>,
    #[serde(serialize_with = "crate::dto_time::instant")]
    pub uploaded_at: DateTime<Utc>,
}

impl From<Document> for DocumentOut {
    fn from(d: Document) -> Self {
        Self {
            id: d.id,
            customer_id: d.customer_id,
            filename: d.filename,
            content_type: d.content_type,
            size: d.size,
            uploaded_by: d.uploaded_by,
            uploaded_at: d.uploaded_at,
        }
    }
}

/// The multipart upload form: one file in the field `file`.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("A document may be at most {max} bytes."))
}

/// Writes `chunks` to a new file, at most `max` bytes; removes it on any failure.
pub async fn store_stream<S, E>(
    store: &dyn DocumentStore,
    mut chunks: S,
    max: u64,
) -> Result<(String, u64)>
where
    S: futures_util::Stream<Item = std::result::Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (key, mut writer) = store.create().await.map_err(ApiError::internal)?;
    let mut size: u64 = 0;
    let outcome: Result<()> = async {
        while let Some(chunk) = chunks.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request(format!("The upload broke off: {e}")))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(too_large(max));
            }
            writer.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        writer.shutdown().await.map_err(ApiError::internal)
    }
    .await;
    if let Err(e) = outcome {
        drop(writer);
        if let Err(failure) = store.remove(&key).await {
            log::warn!("removing a refused upload: {failure}");
        }
        return Err(e);
    }
    Ok((key, size))
}

/// Upload a document to a customer's timeline (multipart, field `file`). The file is streamed
/// to storage under a name of the server's choosing; at most `DOCUMENT_MAX_BYTES` (20 MiB).
#[utoipa::path(tag = "timeline", params(("id" = i64, Path, description = "Customer id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
    (status = 201, body = DocumentOut, headers(("Location" = String))),
    (status = 400, body = Problem, content_type = "application/problem+json", description = "A broken upload"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such customer"),
    (status = 413, body = Problem, content_type = "application/problem+json", description = "Larger than DOCUMENT_MAX_BYTES"),
    (status = 415, body = Problem, content_type = "application/problem+json", description = "Not multipart/form-data")))]
#[post("/customers/{id}/documents")]
pub async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: IdPath,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let customer = id.into_inner();
    let max = state.document_max_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max + 64 * 1024) {
        return Err(too_large(max));
    }
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::UnsupportedMediaType(
            "Send the file as multipart/form-data in the field `file`.".into(),
        ));
    }
    if !records::customer_exists(&state.db, customer).await? {
        return Err(ApiError::NotFound("No such customer.".into()));
    }
    let mut form = Multipart::new(req.headers(), payload);
    let mut stored: Option<StoredFile> = None;
    let outcome: Result<()> = async {
        while let Some(field) = form.next().await {
            let field = field
                .map_err(|e| ApiError::bad_request(format!("The form could not be read: {e}")))?;
            if field.name() != Some("file") || stored.is_some() {
                return Err(ApiError::invalid_field(
                    field
                        .name()
                        .unwrap_or("form")
                        .chars()
                        .take(64)
                        .collect::<String>(),
                    "the form takes one field, `file`",
                ));
            }
            let filename =
                clean_filename(field.content_disposition().and_then(|d| d.get_filename()));
            let content_type = field
                .content_type()
                .map(|m| m.essence_str().to_owned())
                .filter(|m| m.len() <= 255)
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            let (key, size) = store_stream(state.documents.as_ref(), field, max).await?;
            stored = Some(StoredFile {
                filename,
                content_type,
                size: size as i64,
                storage_key: key,
            });
        }
        Ok(())
    }
    .await;
    let file = match (outcome, stored) {
        (Ok(()), Some(file)) => file,
        (Ok(()), None) => {
            return Err(ApiError::invalid_field(
                "file",
                "the form has no field named `file`",
            ));
        }
        (Err(e), stored) => {
            if let Some(file) = stored {
                state.documents.remove(&file.storage_key).await.ok();
            }
            return Err(e);
        }
    };
    let key = file.storage_key.clone();
    match records::add_document(&state.db, customer, file, caller.id).await {
        Ok(doc) => Ok(HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/documents/{}/content", doc.id),
            ))
            .json(DocumentOut::from(doc))),
        Err(e) => {
            state.documents.remove(&key).await.ok();
            Err(e.into())
        }
    }
}

/// Download a document: the exact bytes, its stored content type, and its original name.
#[utoipa::path(tag = "timeline", params(("id" = i64, Path, description = "Document id")), responses(
    (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such document, or deleted")))]
#[get("/documents/{id}/content")]
pub async fn content(state: web::Data<AppState>, _: Caller, id: IdPath) -> Result<HttpResponse> {
    let doc = records::document(&state.db, id.into_inner()).await?;
    let reader = state
        .documents
        .open(&doc.storage_key)
        .await
        .map_err(|e| ApiError::internal(format!("document {} has no file: {e}", doc.id)))?;
    let ascii: String = doc
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(ascii.replace('"', "'")),
            DispositionParam::FilenameExt(header::ExtendedValue {
                charset: header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: doc.filename.clone().into_bytes(),
            }),
        ],
    };
    Ok(HttpResponse::Ok()
        .content_type(doc.content_type.as_str())
        .insert_header(disposition)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .no_chunking(doc.size as u64)
        .streaming(tokio_util::io::ReaderStream::new(reader)))
}

/// Delete a document for good, if the settings allow it for the caller (`delete_documents`).
/// The timeline keeps an entry saying who deleted it and when.
#[utoipa::path(tag = "timeline", params(("id" = i64, Path, description = "Document id")), responses(
    (status = 204, description = "Deleted"),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "The settings do not let the caller delete documents"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such document")))]
#[delete("/documents/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: IdPath,
) -> Result<HttpResponse> {
    let doc = records::delete_document(&state.db, id.into_inner(), caller.id, caller.role).await?;
    if let Err(e) = state.documents.remove(&doc.storage_key).await {
        log::warn!("document {} is deleted but its file stays: {e}", doc.id);
    }
    Ok(HttpResponse::NoContent().finish())
}
