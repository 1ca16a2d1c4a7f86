//! What happened with a customer besides tasks: messages, calls and documents. Each is
//! written with its timeline entry in one transaction.

use crate::catalog::settings_repo;
use crate::entities::{call, customer, document, message, operator};
use crate::timeline::{self, NewEntry};
use crate::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use crm_domain::Role;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter,
};
use serde_json::json;

async fn check_customer(db: &impl ConnectionTrait, id: i64) -> StoreResult<()> {
    customer::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub customer_id: i64,
    pub channel: String,
    pub direction: String,
    pub sender: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub sent_at: DateTime<Utc>,
    /// The RFC 5322 Message-ID of forwarded email; a second message with it is a duplicate.
    pub message_id: Option<String>,
    pub created_by: Option<i64>,
}

/// A file already written to the document store.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub storage_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: i64,
    pub customer_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub storage_key: String,
    pub message_id: Option<i64>,
    pub uploaded_by: Option<i64>,
    pub uploaded_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<i64>,
}

fn to_document(r: document::Model) -> Document {
    Document {
        id: r.id,
        customer_id: r.customer_id,
        filename: r.filename,
        content_type: r.content_type,
        size: r.size,
        storage_key: r.storage_key,
        message_id: r.message_id,
        uploaded_by: r.uploaded_by,
        uploaded_at: r.uploaded_at,
        deleted_at: r.deleted_at,
        deleted_by: r.deleted_by,
    }
}

async fn insert_document(
    db: &impl ConnectionTrait,
    customer_id: i64,
    file: StoredFile,
    message_id: Option<i64>,
    by: Option<i64>,
    at: DateTime<Utc>,
) -> StoreResult<Document> {
    let row = document::ActiveModel {
        customer_id: Set(customer_id),
        filename: Set(file.filename),
        content_type: Set(file.content_type),
        size: Set(file.size),
        storage_key: Set(file.storage_key),
        message_id: Set(message_id),
        uploaded_by: Set(by),
        uploaded_at: Set(at),
        deleted_at: Set(None),
        deleted_by: Set(None),
        ..Default::default()
    };
    let id = document::Entity::insert(row).exec(db).await?.last_insert_id;
    document::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(to_document)
        .ok_or(StoreError::NotFound)
}

/// The stored message, or `None` when its Message-ID was already recorded for this customer.
pub async fn add_message(
    db: &DatabaseConnection,
    new: NewMessage,
    attachments: Vec<StoredFile>,
) -> StoreResult<Option<(message::Model, Vec<Document>)>> {
    let txn = crate::write_txn(db).await?;
    check_customer(&txn, new.customer_id).await?;
    let now = crate::now();
    let row = message::ActiveModel {
        customer_id: Set(new.customer_id),
        channel: Set(new.channel.clone()),
        direction: Set(new.direction.clone()),
        sender: Set(new.sender.clone()),
        recipient: Set(new.recipient.clone()),
        subject: Set(new.subject.clone()),
        body: Set(new.body.clone()),
        sent_at: Set(new.sent_at),
        message_id: Set(new.message_id.clone()),
        created_by: Set(new.created_by),
        created_at: Set(now),
        ..Default::default()
    };
    let inserted = message::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([message::Column::CustomerId, message::Column::MessageId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    if inserted == 0 {
        return Ok(None);
    }
    let mut query = message::Entity::find().filter(message::Column::CustomerId.eq(new.customer_id));
    query = match &new.message_id {
        Some(mid) => query.filter(message::Column::MessageId.eq(mid.clone())),
        None => query
            .filter(message::Column::CreatedAt.eq(now))
            .filter(message::Column::Sender.eq(new.sender.clone())),
    };
    use sea_orm::QueryOrder;
    let stored = query
        .order_by_desc(message::Column::Id)
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut documents = Vec::new();
    for file in attachments {
        documents.push(
            insert_document(
                &txn,
                new.customer_id,
                file,
                Some(stored.id),
                new.created_by,
                now,
            )
            .await?,
        );
    }
    let party = if new.direction == "in" {
        format!("from {}", new.sender)
    } else {
        format!("to {}", new.recipient)
    };
    let channel = match new.channel.as_str() {
        "sms" => "SMS",
        "whatsapp" => "WhatsApp",
        _ => "Email",
    };
    let headline = new
        .subject
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| clip(&new.body, 80));
    timeline::record(
        &txn,
        vec![NewEntry {
            customer_id: new.customer_id,
            kind: "message",
            occurred_at: new.sent_at,
            actor_id: new.created_by,
            summary: format!("{channel} {party}: {headline}"),
            data: json!({
                "message_id": stored.id,
                "channel": new.channel,
                "direction": new.direction,
                "from": new.sender,
                "to": new.recipient,
                "subject": new.subject,
                "body": clip(&new.body, 2000),
                "sent_at": new.sent_at,
                "attachments": documents.iter().map(|d| json!({"document_id": d.id, "filename": d.filename, "size": d.size})).collect::<Vec<_>>(),
            }),
            task_id: None,
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(Some((stored, documents)))
}

#[derive(Debug, Clone)]
pub struct NewCall {
    pub customer_id: i64,
    pub direction: String,
    pub phone: String,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: i32,
    pub operator_id: Option<i64>,
    pub created_by: i64,
}

pub async fn add_call(db: &DatabaseConnection, new: NewCall) -> StoreResult<call::Model> {
    let txn = crate::write_txn(db).await?;
    check_customer(&txn, new.customer_id).await?;
    let operator_name = match new.operator_id {
        Some(id) => Some(
            operator::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| StoreError::rejected("operator_id", "no operator has this id"))?
                .name,
        ),
        None => None,
    };
    let now = crate::now();
    let row = call::ActiveModel {
        customer_id: Set(new.customer_id),
        direction: Set(new.direction.clone()),
        phone: Set(new.phone.clone()),
        started_at: Set(new.started_at),
        duration_seconds: Set(new.duration_seconds),
        operator_id: Set(new.operator_id),
        created_by: Set(Some(new.created_by)),
        created_at: Set(now),
        ..Default::default()
    };
    let id = call::Entity::insert(row).exec(&txn).await?.last_insert_id;
    let stored = call::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let (minutes, seconds) = (new.duration_seconds / 60, new.duration_seconds % 60);
    let way = if new.direction == "in" { "from" } else { "to" };
    timeline::record(
        &txn,
        vec![NewEntry {
            customer_id: new.customer_id,
            kind: "call",
            occurred_at: new.started_at,
            actor_id: new.operator_id,
            summary: format!("Call {way} {} ({minutes}:{seconds:02})", new.phone),
            data: json!({
                "call_id": stored.id,
                "direction": new.direction,
                "phone": new.phone,
                "started_at": new.started_at,
                "duration_seconds": new.duration_seconds,
                "operator": new.operator_id.map(|id| json!({"id": id, "name": operator_name})),
            }),
            task_id: None,
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(stored)
}

/// Records an uploaded document and its `document` timeline entry.
pub async fn add_document(
    db: &DatabaseConnection,
    customer_id: i64,
    file: StoredFile,
    by: i64,
) -> StoreResult<Document> {
    let txn = crate::write_txn(db).await?;
    check_customer(&txn, customer_id).await?;
    let now = crate::now();
    let doc = insert_document(&txn, customer_id, file, None, Some(by), now).await?;
    timeline::record(
        &txn,
        vec![NewEntry {
            customer_id,
            kind: "document",
            occurred_at: now,
            actor_id: Some(by),
            summary: format!("Document uploaded: {}", doc.filename),
            data: json!({"document_id": doc.id, "filename": doc.filename, "content_type": doc.content_type, "size": doc.size}),
            task_id: None,
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(doc)
}

pub async fn customer_exists(db: &impl ConnectionTrait, id: i64) -> StoreResult<bool> {
    Ok(customer::Entity::find_by_id(id).one(db).await?.is_some())
}

/// A document that has not been deleted.
pub async fn document(db: &DatabaseConnection, id: i64) -> StoreResult<Document> {
    document::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|d| d.deleted_at.is_none())
        .map(to_document)
        .ok_or(StoreError::NotFound)
}

/// Marks a document deleted, if the settings let `role` delete documents, and records who
/// and when. The caller then removes the file for good.
pub async fn delete_document(
    db: &DatabaseConnection,
    id: i64,
    by: i64,
    role: Role,
) -> StoreResult<Document> {
    let txn = crate::write_txn(db).await?;
    let row = document::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .filter(|d| d.deleted_at.is_none())
        .ok_or(StoreError::NotFound)?;
    let policy = settings_repo::get(&txn).await?.delete_documents;
    if !policy.allows(role) {
        return Err(StoreError::Forbidden(format!(
            "The settings let {} delete documents.",
            policy.who()
        )));
    }
    let now = crate::now();
    let mut active = row.clone().into_active_model();
    active.deleted_at = Set(Some(now));
    active.deleted_by = Set(Some(by));
    let updated = document::Entity::update(active).exec(&txn).await?;
    timeline::record(
        &txn,
        vec![NewEntry {
            customer_id: row.customer_id,
            kind: "document_deleted",
            occurred_at: now,
            actor_id: Some(by),
            summary: format!("Document deleted: {}", row.filename),
            data: json!({"document_id": row.id, "filename": row.filename}),
            task_id: None,
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(to_document(updated))
}
