use super::{IdPath, created};
use crate::auth::Caller;
use crate::dto::StatusDto;
use crate::dto_time;
use crate::error::{ApiError, FieldError, Problem, Result};
use crate::etag::{etag, if_match};
use crate::idempotency::idempotent;
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use crate::valid::{self, RawJson, Valid, decode};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use crm_domain::{Description, NextAction, Ref, TaskKind, TaskView, Urgency};
use crm_persistence::tasks::{
    self, Actor, NewTask, NextCommand, Successor, TaskFilter, TaskPatch, TaskQuery, TaskSort,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

// ---------------------------------------------------------------------------------------
// Shapes

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Reference)]
pub struct RefOut {
    pub id: i64,
    pub name: String,
}

impl From<Ref> for RefOut {
    fn from(r: Ref) -> Self {
        Self {
            id: r.id,
            name: r.name,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TaskTypeReference)]
pub struct TypeRefOut {
    pub id: i64,
    pub name: String,
    pub color: String,
    pub priority: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schema(as = Kind)]
pub enum KindDto {
    Task,
    Note,
}

impl From<KindDto> for TaskKind {
    fn from(k: KindDto) -> Self {
        match k {
            KindDto::Task => TaskKind::Task,
            KindDto::Note => TaskKind::Note,
        }
    }
}

impl From<TaskKind> for KindDto {
    fn from(k: TaskKind) -> Self {
        match k {
            TaskKind::Task => KindDto::Task,
            TaskKind::Note => KindDto::Note,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = UrgencyLevel)]
pub enum UrgencyDto {
    /// A planned task of a priority type that nobody has taken in charge (red).
    Urgent,
    /// Taken in charge, still planned (yellow).
    InCharge,
}

/// A task or a note. Both dates (creation, scheduled) and both people (creator, responsible)
/// are always given; a client may show one when they are equal.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Task)]
pub struct TaskOut {
    pub id: i64,
    pub kind: KindDto,
    pub customer: RefOut,
    pub description: String,
    #[serde(rename = "type")]
    pub task_type: TypeRefOut,
    pub tags: Vec<RefOut>,
    #[schema(example = "2026-11-24")]
    #[serde(serialize_with = "dto_time::day")]
    pub scheduled_date: NaiveDate,
    /// `HH:MM`, or null for a whole-day task.
    #[serde(with = "dto_time::opt")]
    #[schema(value_type = Option<String>, example = "09:30")]
    pub scheduled_time: Option<NaiveTime>,
    #[serde(serialize_with = "dto_time::instant")]
    pub created_at: DateTime<Utc>,
    pub creator: RefOut,
    pub responsible: RefOut,
    pub status: StatusDto,
    pub outcome: Option<RefOut>,
    /// The task this one continues.
    pub parent_id: Option<i64>,
    /// Who has taken the task in charge.
    pub taken_by: Option<RefOut>,
    #[serde(serialize_with = "dto_time::opt_instant")]
    pub taken_at: Option<DateTime<Utc>>,
    pub urgency: Option<UrgencyDto>,
    #[serde(serialize_with = "dto_time::opt_instant")]
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<RefOut>,
    /// Increases with every change; sent as the `ETag`.
    pub version: i32,
}

impl From<TaskView> for TaskOut {
    fn from(v: TaskView) -> Self {
        let urgency = v.urgency().map(|u| match u {
            Urgency::Urgent => UrgencyDto::Urgent,
            Urgency::InCharge => UrgencyDto::InCharge,
        });
        Self {
            id: v.id,
            kind: v.kind.into(),
            customer: v.customer.into(),
            description: v.description,
            task_type: TypeRefOut {
                id: v.task_type.id,
                name: v.task_type.name,
                color: v.task_type.color,
                priority: v.task_type.priority,
            },
            tags: v.tags.into_iter().map(Into::into).collect(),
            scheduled_date: v.scheduled_date,
            scheduled_time: v.scheduled_time,
            created_at: v.created_at,
            creator: v.creator.into(),
            responsible: v.responsible.into(),
            status: v.status.into(),
            outcome: v.outcome.map(Into::into),
            parent_id: v.parent_id,
            taken_by: v.taken_by.map(Into::into),
            taken_at: v.taken_at,
            urgency,
            closed_at: v.closed_at,
            closed_by: v.closed_by.map(Into::into),
            version: v.version,
        }
    }
}

fn ok_with_etag(v: TaskView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(v.version)))
        .json(TaskOut::from(v))
}

fn created_task(v: TaskView) -> HttpResponse {
    let mut response = created(format!("/api/v1/tasks/{}", v.id), TaskOut::from(v.clone()));
    if let Ok(value) = header::HeaderValue::from_str(&etag(v.version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn check_tag_ids(ids: &[i64]) -> std::result::Result<(), validator::ValidationError> {
    if ids.len() > 50 {
        let mut e = validator::ValidationError::new("tag_ids");
        e.message = Some("at most 50 tags".into());
        return Err(e);
    }
    ids.iter().try_for_each(|id| valid::id(*id))
}

fn description(field: &str, s: &str) -> Result<String> {
    Description::parse(s)
        .map(Description::into_inner)
        .map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "customer_id": 12, "kind": "task", "description": "Review Blanca's workout",
    "type_id": 3, "tag_ids": [4], "scheduled_date": "2026-11-24", "scheduled_time": "09:30"
}))]
pub struct NewTaskIn {
    #[validate(custom(function = "valid::id"))]
    pub customer_id: i64,
    /// `task` (default) plans something; `note` records something already done.
    #[serde(default = "default_kind")]
    pub kind: KindDto,
    /// 1 to 10,000 characters.
    #[validate(custom(function = "valid::description"))]
    pub description: String,
    /// An active task type.
    #[validate(custom(function = "valid::id"))]
    pub type_id: i64,
    /// Active tags.
    #[serde(default)]
    #[validate(custom(function = "check_tag_ids"))]
    pub tag_ids: Vec<i64>,
    /// Required for a task; a note defaults to today.
    pub scheduled_date: Option<NaiveDate>,
    /// `HH:MM`; none for a whole-day task.
    #[serde(default, with = "dto_time::opt")]
    #[schema(value_type = Option<String>, example = "09:30")]
    pub scheduled_time: Option<NaiveTime>,
    /// Defaults to the customer's consultant, else the caller.
    #[validate(custom(function = "valid::id"))]
    pub responsible_id: Option<i64>,
    /// A task: an outcome that leaves it planned (default: the settings' default outcome).
    /// A note: an outcome that closes it (default: none, status done).
    #[validate(custom(function = "valid::id"))]
    pub outcome_id: Option<i64>,
}

fn default_kind() -> KindDto {
    KindDto::Task
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Offer the new supplements", "type_id": 7, "scheduled_date": "2026-11-30", "scheduled_time": "18:00"}))]
pub struct SuccessorIn {
    #[validate(custom(function = "valid::description"))]
    pub description: String,
    #[validate(custom(function = "valid::id"))]
    pub type_id: i64,
    #[serde(default)]
    #[validate(custom(function = "check_tag_ids"))]
    pub tag_ids: Vec<i64>,
    /// Required for a follow-up; a note defaults to today.
    pub scheduled_date: Option<NaiveDate>,
    #[serde(default, with = "dto_time::opt")]
    #[schema(value_type = Option<String>, example = "18:00")]
    pub scheduled_time: Option<NaiveTime>,
    /// Defaults to the customer's consultant, else the caller.
    #[validate(custom(function = "valid::id"))]
    pub responsible_id: Option<i64>,
    /// Notes only: their outcome, by default the task's closing outcome.
    #[validate(custom(function = "valid::id"))]
    pub outcome_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionDto {
    Close,
    CloseWithNote,
    Continue,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "outcome_id": 2, "action": "continue",
    "follow_up": {"description": "Offer the new supplements", "type_id": 7, "scheduled_date": "2026-11-30"}
}))]
pub struct NextIn {
    /// An active outcome whose status is `done` or `cancelled`.
    #[validate(custom(function = "valid::id"))]
    pub outcome_id: i64,
    pub action: ActionDto,
    /// Required with `close_with_note`.
    #[validate(nested)]
    pub note: Option<SuccessorIn>,
    /// Required with `continue`.
    #[validate(nested)]
    pub follow_up: Option<SuccessorIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NextOut {
    /// The closed task.
    pub task: TaskOut,
    /// The note or follow-up task created, or null for `close`.
    pub created: Option<TaskOut>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scheduled_date": "2026-11-25", "scheduled_time": null}))]
pub struct TaskChangesIn {
    #[validate(custom(function = "valid::description"))]
    pub description: Option<String>,
    #[validate(custom(function = "valid::id"))]
    pub type_id: Option<i64>,
    #[validate(custom(function = "check_tag_ids"))]
    pub tag_ids: Option<Vec<i64>>,
    pub scheduled_date: Option<NaiveDate>,
    /// `HH:MM`; `null` makes it a whole-day task.
    #[serde(default, deserialize_with = "dto_time::patch::deserialize")]
    #[schema(value_type = Option<String>, example = "10:00")]
    pub scheduled_time: Option<Option<NaiveTime>>,
    #[validate(custom(function = "valid::id"))]
    pub responsible_id: Option<i64>,
}

fn actor(caller: &Caller) -> Actor {
    Actor {
        id: caller.id,
        role: caller.role,
    }
}

// ---------------------------------------------------------------------------------------
// Handlers

/// Create a task or a note.
///
/// A task starts with the default outcome (normally Planned); a note records something done
/// and is created closed. The responsible operator defaults to the customer's consultant.
/// Send an `Idempotency-Key` to retry safely.
#[utoipa::path(tag = "tasks", request_body = NewTaskIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response", pattern = r"^[!-~][ -~]{0,254}$")),
    responses(
        (status = 201, body = TaskOut, headers(("Location" = String), ("ETag" = String))),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The key's first request is still running")))]
#[post("/tasks")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: RawJson,
) -> Result<HttpResponse> {
    idempotent(&state, &caller, &req, &body.0, || async {
        let b: NewTaskIn = decode(&body.0)?;
        let kind: TaskKind = b.kind.into();
        let scheduled_date = match (b.scheduled_date, kind) {
            (Some(d), _) => d,
            (None, TaskKind::Note) => state.today(),
            (None, TaskKind::Task) => {
                return Err(ApiError::invalid_field(
                    "scheduled_date",
                    "a task needs a date",
                ));
            }
        };
        let new = NewTask {
            kind,
            customer_id: b.customer_id,
            description: description("description", &b.description)?,
            type_id: b.type_id,
            tag_ids: b.tag_ids,
            scheduled_date,
            scheduled_time: b.scheduled_time,
            responsible_id: b.responsible_id,
            outcome_id: b.outcome_id,
        };
        Ok(created_task(
            tasks::create(state.reader(), &state.names, new, caller.id).await?,
        ))
    })
    .await
}

/// Read a task or note.
#[utoipa::path(tag = "tasks", params(("id" = i64, Path)), responses(
    (status = 200, body = TaskOut, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such task")))]
#[get("/tasks/{id}")]
pub async fn read(state: web::Data<AppState>, _: Caller, id: IdPath) -> Result<HttpResponse> {
    Ok(ok_with_etag(
        tasks::read(&state.reader(), &state.names, id.into_inner()).await?,
    ))
}

/// Edit a planned task. Closed tasks and notes only show their details (409).
#[utoipa::path(tag = "tasks", params(("id" = i64, Path),
        ("If-Match" = Option<String>, Header, description = "The ETag read; 412 if the task changed since", pattern = r#"^(\*|(W/)?"[0-9]+")$"#)),
    request_body = TaskChangesIn, responses(
    (status = 200, body = TaskOut, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such task"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The task is closed"),
    (status = 412, body = Problem, content_type = "application/problem+json", description = "If-Match names an older version")))]
#[patch("/tasks/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: IdPath,
    body: Valid<TaskChangesIn>,
) -> Result<HttpResponse> {
    let expected = if_match(&req)?;
    let c = body.into_inner();
    let patch = TaskPatch {
        description: c
            .description
            .as_deref()
            .map(|d| description("description", d))
            .transpose()?,
        type_id: c.type_id,
        tag_ids: c.tag_ids,
        scheduled_date: c.scheduled_date,
        scheduled_time: c.scheduled_time,
        responsible_id: c.responsible_id,
    };
    Ok(ok_with_etag(
        tasks::update(
            &state.db,
            &state.names,
            id.into_inner(),
            patch,
            actor(&caller),
            expected,
        )
        .await?,
    ))
}

/// Next: close a planned task with an outcome, and optionally record a note or plan a follow-up.
///
/// All in one transaction. `close_with_note` needs `note`; `continue` needs `follow_up`, which
/// becomes a planned task whose parent is this one. Concurrent Nexts on one task: one wins,
/// the others get 409.
#[utoipa::path(tag = "tasks", params(("id" = i64, Path),
        ("If-Match" = Option<String>, Header, description = "The ETag read; 412 if the task changed since", pattern = r#"^(\*|(W/)?"[0-9]+")$"#),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response", pattern = r"^[!-~][ -~]{0,254}$")),
    request_body = NextIn, responses(
    (status = 200, body = NextOut, headers(("ETag" = String, description = "The closed task's new version"))),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such task"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The task is already closed, or was closed at the same moment"),
    (status = 412, body = Problem, content_type = "application/problem+json", description = "If-Match names an older version")))]
#[post("/tasks/{id}/next")]
pub async fn next(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: IdPath,
    body: RawJson,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    idempotent(&state, &caller, &req, &body.0, || async {
        let expected = if_match(&req)?;
        let b: NextIn = decode(&body.0)?;
        let (action, successor, field) = match b.action {
            ActionDto::Close => (NextAction::Close, None, ""),
            ActionDto::CloseWithNote => (NextAction::CloseWithNote, b.note, "note"),
            ActionDto::Continue => (NextAction::Continue, b.follow_up, "follow_up"),
        };
        let successor = match (action, successor) {
            (NextAction::Close, _) => None,
            (_, None) => {
                return Err(ApiError::invalid_field(
                    field,
                    format!("required with action {}", field_action(action)),
                ));
            }
            (_, Some(s)) => {
                let scheduled_date = match (s.scheduled_date, action) {
                    (Some(d), _) => d,
                    (None, NextAction::CloseWithNote) => state.today(),
                    _ => {
                        return Err(ApiError::invalid_field(
                            format!("{field}.scheduled_date"),
                            "a follow-up needs a date",
                        ));
                    }
                };
                if action == NextAction::Continue && s.outcome_id.is_some() {
                    return Err(ApiError::invalid_field(
                        format!("{field}.outcome_id"),
                        "a follow-up starts planned; it takes no outcome",
                    ));
                }
                Some(Successor {
                    description: description(&format!("{field}.description"), &s.description)?,
                    type_id: s.type_id,
                    tag_ids: s.tag_ids,
                    scheduled_date,
                    scheduled_time: s.scheduled_time,
                    responsible_id: s.responsible_id,
                    outcome_id: s.outcome_id,
                })
            }
        };
        let cmd = NextCommand {
            outcome_id: b.outcome_id,
            action,
            successor,
        };
        let (task, created) = tasks::next(
            state.reader(),
            &state.names,
            id,
            cmd,
            actor(&caller),
            expected,
        )
        .await?;
        let version = task.version;
        Ok(HttpResponse::Ok()
            .insert_header((header::ETAG, etag(version)))
            .json(NextOut {
                task: task.into(),
                created: created.map(Into::into),
            }))
    })
    .await
}

fn field_action(a: NextAction) -> &'static str {
    match a {
        NextAction::Close => "close",
        NextAction::CloseWithNote => "close_with_note",
        NextAction::Continue => "continue",
    }
}

/// Copy: a new task identical to this one, created now by the caller, planned with the default
/// outcome (a note's copy is a note). Edit it afterwards.
#[utoipa::path(tag = "tasks", params(("id" = i64, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response", pattern = r"^[!-~][ -~]{0,254}$")),
    responses(
    (status = 201, body = TaskOut, headers(("Location" = String), ("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such task"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The key's first request is still running"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "The task's type, tags or people are no longer active, or the key was used for another request")))]
#[post("/tasks/{id}/copy")]
pub async fn copy(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: IdPath,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    idempotent(&state, &caller, &req, b"", || async {
        Ok(created_task(
            tasks::copy(state.reader(), &state.names, id, actor(&caller)).await?,
        ))
    })
    .await
}

/// Reopen a closed task, if the settings allow it for the caller (`reopen_tasks`).
/// Recorded in the customer's timeline.
#[utoipa::path(tag = "tasks", params(("id" = i64, Path),
        ("If-Match" = Option<String>, Header, description = "The ETag read; 412 if the task changed since", pattern = r#"^(\*|(W/)?"[0-9]+")$"#)),
    responses(
    (status = 200, body = TaskOut, headers(("ETag" = String))),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "The settings do not let the caller reopen tasks"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such task"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The task is planned already, or is a note"),
    (status = 412, body = Problem, content_type = "application/problem+json", description = "If-Match names an older version")))]
#[post("/tasks/{id}/reopen")]
pub async fn reopen(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: IdPath,
) -> Result<HttpResponse> {
    let expected = if_match(&req)?;
    Ok(ok_with_etag(
        tasks::reopen(
            &state.db,
            &state.names,
            id.into_inner(),
            actor(&caller),
            expected,
        )
        .await?,
    ))
}

/// Take a planned task of a priority type in charge: it stops being urgent ("in preparation").
#[utoipa::path(tag = "tasks", params(("id" = i64, Path)), responses(
    (status = 200, body = TaskOut, headers(("ETag" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such task"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "Closed, not of a priority type, or taken by someone else")))]
#[post("/tasks/{id}/take")]
pub async fn take(state: web::Data<AppState>, caller: Caller, id: IdPath) -> Result<HttpResponse> {
    Ok(ok_with_etag(
        tasks::take(&state.db, &state.names, id.into_inner(), actor(&caller)).await?,
    ))
}

/// The whole chain of follow-ups the task belongs to, from its first task, oldest first.
#[utoipa::path(tag = "tasks", params(("id" = i64, Path)), responses(
    (status = 200, body = ListOf<TaskOut>),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such task")))]
#[get("/tasks/{id}/chain")]
pub async fn chain(
    state: web::Data<AppState>,
    _: Caller,
    id: IdPath,
) -> Result<web::Json<ListOf<TaskOut>>> {
    let members = tasks::chain(&state.db, &state.names, id.into_inner()).await?;
    Ok(web::Json(ListOf {
        items: members.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

// ---------------------------------------------------------------------------------------
// Listing

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    pub customer_id: Option<i64>,
    #[param(inline)]
    pub kind: Option<KindDto>,
    #[param(inline)]
    pub status: Option<StatusDto>,
    pub type_id: Option<i64>,
    pub tag_id: Option<i64>,
    pub responsible_id: Option<i64>,
    pub creator_id: Option<i64>,
    /// The responsible operator's team.
    pub team_id: Option<i64>,
    /// Created on or after this date (in the business's time zone).
    pub created_from: Option<NaiveDate>,
    /// Created on or before this date.
    pub created_to: Option<NaiveDate>,
    /// Scheduled on or after this date.
    pub scheduled_from: Option<NaiveDate>,
    /// Scheduled on or before this date.
    pub scheduled_to: Option<NaiveDate>,
    /// Case-insensitive text in the description.
    pub q: Option<String>,
    /// `true`: only tasks of priority types.
    pub priority: Option<bool>,
    /// `false`: only tasks nobody has taken in charge; `true`: only taken ones.
    pub taken: Option<bool>,
    /// Comma-separated keys among `scheduled_at`, `created_at`, `customer`, `type`,
    /// `responsible`, `status`; `-` for descending. Default `scheduled_at`. Ties go by id.
    #[param(example = "-scheduled_at,customer")]
    pub sort: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TaskCursor {
    sort: String,
    keys: Vec<serde_json::Value>,
    id: i64,
}

fn parse_sort(s: Option<&str>) -> Result<Vec<(TaskSort, bool)>> {
    let Some(s) = s.filter(|s| !s.trim().is_empty()) else {
        return Ok(vec![(TaskSort::ScheduledAt, false)]);
    };
    let bad = |detail: String| ApiError::BadRequest {
        errors: vec![FieldError::new("sort", detail.clone())],
        detail,
    };
    let mut keys: Vec<(TaskSort, bool)> = Vec::new();
    for part in s.split(',').map(str::trim) {
        let (name, desc) = part.strip_prefix('-').map_or((part, false), |n| (n, true));
        let key = TaskSort::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| bad(format!("cannot sort by '{name}'; use scheduled_at, created_at, customer, type, responsible or status")))?;
        if keys.iter().any(|(k, _)| *k == key) {
            return Err(bad(format!("'{name}' is given twice")));
        }
        keys.push((key, desc));
    }
    Ok(keys)
}

fn sort_text(keys: &[(TaskSort, bool)]) -> String {
    keys.iter()
        .map(|(k, desc)| {
            let name = TaskSort::ALL
                .iter()
                .find(|(_, s)| s == k)
                .map_or("", |(n, _)| *n);
            if *desc {
                format!("-{name}")
            } else {
                name.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// List tasks and notes with filters and any sort; keyset pages.
#[utoipa::path(tag = "tasks", params(PageParams, TaskListQuery), responses((status = 200, body = ListOf<TaskOut>)))]
#[get("/tasks")]
pub async fn list(
    state: web::Data<AppState>,
    _: Caller,
    page: web::Query<PageParams>,
    q: web::Query<TaskListQuery>,
) -> Result<web::Json<ListOf<TaskOut>>> {
    let q = q.into_inner();
    for (field, day) in [
        ("created_from", q.created_from),
        ("created_to", q.created_to),
        ("scheduled_from", q.scheduled_from),
        ("scheduled_to", q.scheduled_to),
    ] {
        crate::valid::calendar_day(field, day)?;
    }
    let sort = parse_sort(q.sort.as_deref())?;
    let sort_key = sort_text(&sort);
    if q.q
        .as_deref()
        .is_some_and(|t| t.contains('\0') || t.chars().count() > 200)
    {
        return Err(ApiError::BadRequest {
            detail: "q must be at most 200 characters, without NUL.".into(),
            errors: vec![FieldError::new("q", "at most 200 characters, without NUL")],
        });
    }
    let after = match page.cursor::<TaskCursor>()? {
        Some(c) if c.sort == sort_key && c.keys.len() == sort.len() => Some((c.keys, c.id)),
        Some(_) => {
            return Err(ApiError::BadRequest {
                detail: "The cursor belongs to another sort order; start again without it.".into(),
                errors: vec![FieldError::new("cursor", "issued for another sort")],
            });
        }
        None => None,
    };
    let filter = TaskFilter {
        customer_id: q.customer_id,
        kind: q.kind.map(Into::into),
        status: q.status.map(Into::into),
        type_id: q.type_id,
        tag_id: q.tag_id,
        responsible_id: q.responsible_id,
        creator_id: q.creator_id,
        team_id: q.team_id,
        created_from: q.created_from.map(|d| state.start_of(d)),
        created_before: q
            .created_to
            .and_then(|d| d.succ_opt())
            .map(|d| state.start_of(d)),
        scheduled_from: q.scheduled_from,
        scheduled_to: q.scheduled_to,
        q: q.q,
        priority: q.priority,
        taken: q.taken,
        ..Default::default()
    };
    let query = TaskQuery {
        filter,
        sort: sort.clone(),
        after,
        limit: page.limit()?,
    };
    let found = tasks::list(&state.reader(), &state.names, query)
        .await
        .map_err(|e| match e {
            crm_persistence::StoreError::Rejected { field, message } if field == "cursor" => {
                ApiError::BadRequest {
                    detail: format!("The cursor is invalid: {message}."),
                    errors: vec![FieldError::new(field, message)],
                }
            }
            other => other.into(),
        })?;
    let cursor = |v: &TaskView| TaskCursor {
        sort: sort_key.clone(),
        keys: sort.iter().map(|(k, _)| k.key_of(v)).collect(),
        id: v.id,
    };
    Ok(web::Json(list_of(found, cursor, TaskOut::from)))
}
