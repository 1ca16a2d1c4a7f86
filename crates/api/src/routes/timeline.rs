use super::IdPath;
use super::tasks::RefOut;
use crate::auth::Caller;
use crate::error::{ApiError, FieldError, Problem, Result};
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use crate::valid::{self, Valid};
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use crm_persistence::records::{self, NewCall, NewMessage};
use crm_persistence::timeline as store;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TimelineEntry, example = json!({
    "id": 41, "kind": "task_closed", "occurred_at": "2026-11-23T10:15:00Z",
    "actor": {"id": 3, "name": "Deborah"}, "summary": "Appointment closed as Positive: Subscription sale",
    "data": {"task_id": 17, "outcome": {"id": 2, "name": "Positive"}, "status": "done"}
}))]
pub struct EntryOut {
    pub id: i64,
    /// `task_closed`, `task_reopened`, `note`, `message`, `call`, `change`, `document` or `document_deleted`.
    pub kind: String,
    #[serde(serialize_with = "crate::dto_time::instant")]
    pub occurred_at: DateTime<Utc>,
    /// Who did it; null for what arrived by itself (forwarded email).
    pub actor: Option<RefOut>,
    /// One line for people.
    pub summary: String,
    /// The details, by kind: for `change`, `field`, `old` and `new`; for `task_closed`, the
    /// outcome; for `document_deleted`, the file; and so on.
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
}

impl From<store::Entry> for EntryOut {
    fn from(e: store::Entry) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            occurred_at: e.occurred_at,
            actor: e
                .actor_id
                .zip(e.actor_name)
                .map(|(id, name)| RefOut { id, name }),
            summary: e.summary,
            // Stored as written by this server: passed through as it is, once checked.
            data: serde_json::value::RawValue::from_string(e.data)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Comma-separated kinds to show: `task_closed`, `task_reopened`, `note`, `message`,
    /// `call`, `change`, `document`, `document_deleted`. All when absent.
    #[param(example = "message,call")]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TimelineCursor {
    at: DateTime<Utc>,
    id: i64,
}

/// Everything that happened with a customer, newest first: tasks closed and reopened, notes,
/// messages, calls, changes and documents.
#[utoipa::path(tag = "timeline", params(("id" = i64, Path, description = "Customer id"), TimelineQuery, PageParams), responses(
    (status = 200, body = ListOf<EntryOut>),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such customer")))]
#[get("/customers/{id}/timeline")]
pub async fn timeline(
    state: web::Data<AppState>,
    _: Caller,
    id: IdPath,
    q: web::Query<TimelineQuery>,
    page: web::Query<PageParams>,
) -> Result<web::Json<ListOf<EntryOut>>> {
    let customer = id.into_inner();
    let mut kinds: Vec<&str> = Vec::new();
    for k in q
        .kind
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let known = store::KINDS
            .iter()
            .find(|known| **known == k)
            .ok_or_else(|| ApiError::BadRequest {
                detail: format!(
                    "'{}' is not a timeline kind; use {}.",
                    k.chars().take(40).collect::<String>(),
                    store::KINDS.join(", ")
                ),
                errors: vec![FieldError::new("kind", "unknown kind")],
            })?;
        kinds.push(known);
    }
    let after = page.cursor::<TimelineCursor>()?.map(|c| (c.at, c.id));
    let limit = page.limit()?;
    let found = store::page(
        &state.reader(),
        &state.names,
        customer,
        &kinds,
        after,
        limit,
    )
    .await?;
    // An empty page is the one case where the customer may not exist.
    if found.items.is_empty() && !records::customer_exists(&state.reader(), customer).await? {
        return Err(ApiError::NotFound("No such customer.".into()));
    }
    Ok(web::Json(list_of(
        found,
        |e| TimelineCursor {
            at: e.occurred_at,
            id: e.id,
        },
        EntryOut::from,
    )))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Whatsapp,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

fn dir_text(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

fn bounded(max: usize) -> impl Fn(&str) -> std::result::Result<(), validator::ValidationError> {
    move |s: &str| {
        let message = if s.trim().is_empty() {
            "must not be empty".to_owned()
        } else if s.chars().count() > max {
            format!("must be at most {max} characters")
        } else if s.contains('\0') {
            "must not contain NUL".to_owned()
        } else {
            return Ok(());
        };
        let mut e = validator::ValidationError::new("text");
        e.message = Some(message.into());
        Err(e)
    }
}

fn check_party(s: &str) -> std::result::Result<(), validator::ValidationError> {
    bounded(320)(s)
}
fn check_recipients(s: &str) -> std::result::Result<(), validator::ValidationError> {
    bounded(1000)(s)
}
fn check_subject(s: &str) -> std::result::Result<(), validator::ValidationError> {
    if s.is_empty() {
        Ok(())
    } else {
        bounded(1000)(s)
    }
}
fn check_body(s: &str) -> std::result::Result<(), validator::ValidationError> {
    if s.is_empty() {
        Ok(())
    } else {
        bounded(100_000)(s)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "channel": "whatsapp", "direction": "in", "from": "+34 600 123 456", "to": "+34 911 000 000",
    "body": "Can I move my appointment to Friday?", "sent_at": "2026-11-23T09:12:00Z"
}))]
pub struct NewMessageIn {
    pub channel: Channel,
    pub direction: Direction,
    /// Sender: an address or a phone number.
    #[validate(custom(function = "check_party"))]
    pub from: String,
    /// Recipients.
    #[validate(custom(function = "check_recipients"))]
    pub to: String,
    #[validate(custom(function = "check_subject"))]
    pub subject: Option<String>,
    #[serde(default)]
    #[validate(custom(function = "check_body"))]
    pub body: String,
    /// When it was sent (default: now).
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageOut {
    pub id: i64,
    pub customer_id: i64,
    pub channel: String,
    pub direction: String,
    pub from: String,
    pub to: String,
    pub subject: Option<String>,
    pub body: String,
    #[serde(serialize_with = "crate::dto_time::instant")]
    pub sent_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::dto_time::instant")]
    pub created_at: DateTime<Utc>,
}

/// Record a message exchanged with the customer (email, SMS or WhatsApp); it appears in the timeline.
#[utoipa::path(tag = "timeline", params(("id" = i64, Path, description = "Customer id")), request_body = NewMessageIn, responses(
    (status = 201, body = MessageOut),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such customer")))]
#[post("/customers/{id}/messages")]
pub async fn add_message(
    state: web::Data<AppState>,
    caller: Caller,
    id: IdPath,
    body: Valid<NewMessageIn>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let new = NewMessage {
        customer_id: id.into_inner(),
        channel: serde_json::to_value(b.channel)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        direction: dir_text(b.direction).to_owned(),
        sender: b.from.trim().to_owned(),
        recipient: b.to.trim().to_owned(),
        subject: b.subject.filter(|s| !s.trim().is_empty()),
        body: b.body,
        sent_at: b.sent_at.unwrap_or_else(crm_persistence::now),
        message_id: None,
        created_by: Some(caller.id),
    };
    let Some((m, _)) = records::add_message(&state.db, new, Vec::new()).await? else {
        return Err(ApiError::internal(
            "a message without Message-ID was taken for a duplicate",
        ));
    };
    Ok(HttpResponse::Created().json(MessageOut {
        id: m.id,
        customer_id: m.customer_id,
        channel: m.channel,
        direction: m.direction,
        from: m.sender,
        to: m.recipient,
        subject: m.subject,
        body: m.body,
        sent_at: m.sent_at,
        created_at: m.created_at,
    }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"direction": "out", "phone": "+34 600 123 456", "started_at": "2026-11-23T11:00:00Z", "duration_seconds": 185, "operator_id": 3}))]
pub struct NewCallIn {
    pub direction: Direction,
    #[validate(custom(function = "valid::phone"))]
    pub phone: String,
    pub started_at: DateTime<Utc>,
    /// 0 to 86,400.
    #[validate(range(min = 0, max = 86_400))]
    pub duration_seconds: i32,
    /// Who was on the call (default: the caller).
    #[validate(custom(function = "valid::id"))]
    pub operator_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Call)]
pub struct CallOut {
    pub id: i64,
    pub customer_id: i64,
    pub direction: String,
    pub phone: String,
    #[serde(serialize_with = "crate::dto_time::instant")]
    pub started_at: DateTime<Utc>,
    pub duration_seconds: i32,
    pub operator_id: Option<i64>,
}

/// Record a call with the customer, as a call-log synchronisation pushes it.
#[utoipa::path(tag = "timeline", params(("id" = i64, Path, description = "Customer id")), request_body = NewCallIn, responses(
    (status = 201, body = CallOut),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such customer")))]
#[post("/customers/{id}/calls")]
pub async fn add_call(
    state: web::Data<AppState>,
    caller: Caller,
    id: IdPath,
    body: Valid<NewCallIn>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let phone = crm_domain::Phone::parse(&b.phone)
        .map_err(|e| ApiError::invalid_field("phone", e.to_string()))?;
    let new = NewCall {
        customer_id: id.into_inner(),
        direction: dir_text(b.direction).to_owned(),
        phone: phone.into_inner(),
        started_at: b.started_at,
        duration_seconds: b.duration_seconds,
        operator_id: Some(b.operator_id.unwrap_or(caller.id)),
        created_by: caller.id,
    };
    let c = records::add_call(&state.db, new).await?;
    Ok(HttpResponse::Created().json(CallOut {
        id: c.id,
        customer_id: c.customer_id,
        direction: c.direction,
        phone: c.phone,
        started_at: c.started_at,
        duration_seconds: c.duration_seconds,
        operator_id: c.operator_id,
    }))
}
