use super::{ActiveFilter, IdPath, created};
use crate::auth::{Admin, Caller};
use crate::error::{Problem, Result};
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use crate::valid::{self, Valid, parsed};
use actix_web::{HttpResponse, get, patch, post, web};
use crm_domain::{Color, Name, TaskType};
use crm_persistence::catalog::{ListFilter, task_types};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TaskType, example = json!({"id": 3, "name": "Appointment", "color": "#2e7d32", "visible_in_agenda": true, "priority": false, "active": true}))]
pub struct TaskTypeOut {
    pub id: i64,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// Only tasks of such types show in agendas.
    pub visible_in_agenda: bool,
    /// Tasks of such types are urgent (red) until someone takes them in charge (yellow).
    pub priority: bool,
    pub active: bool,
}

impl From<TaskType> for TaskTypeOut {
    fn from(t: TaskType) -> Self {
        Self {
            id: t.id,
            name: t.name,
            color: t.color,
            visible_in_agenda: t.visible_in_agenda,
            priority: t.priority,
            active: t.active,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ProShop sales", "color": "#f57c00", "visible_in_agenda": true, "priority": false}))]
pub struct NewTaskType {
    #[validate(custom(function = "valid::name"))]
    pub name: String,
    /// `#RRGGBB`; default `#607d8b`.
    #[validate(custom(function = "valid::color"))]
    #[serde(default = "default_color")]
    pub color: String,
    #[serde(default = "super::yes")]
    pub visible_in_agenda: bool,
    #[serde(default)]
    pub priority: bool,
    #[serde(default = "super::yes")]
    pub active: bool,
}

fn default_color() -> String {
    "#607d8b".into()
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": true}))]
pub struct TaskTypeChanges {
    #[validate(custom(function = "valid::name"))]
    pub name: Option<String>,
    #[validate(custom(function = "valid::color"))]
    pub color: Option<String>,
    pub visible_in_agenda: Option<bool>,
    pub priority: Option<bool>,
    /// `false` deactivates the type: existing tasks keep it, new tasks cannot use it.
    pub active: Option<bool>,
}

/// List task types, oldest first.
#[utoipa::path(tag = "settings", params(PageParams, ActiveFilter),
    responses((status = 200, body = ListOf<TaskTypeOut>)))]
#[get("/task-types")]
pub async fn list(
    state: web::Data<AppState>,
    _: Caller,
    page: web::Query<PageParams>,
    filter: web::Query<ActiveFilter>,
) -> Result<web::Json<ListOf<TaskTypeOut>>> {
    let filter = ListFilter {
        active: filter.active,
        after_id: page.cursor()?,
        limit: page.limit()?,
    };
    let found = task_types::list(&state.db, filter).await?;
    Ok(web::Json(list_of(found, |t| t.id, TaskTypeOut::from)))
}

/// Create a task type (admins only).
#[utoipa::path(tag = "settings", request_body = NewTaskType, responses(
    (status = 201, body = TaskTypeOut, headers(("Location" = String, description = "The new type's URL"))),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "A type with this name exists")))]
#[post("/task-types")]
pub async fn create(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Valid<NewTaskType>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let task_type = TaskType {
        id: 0,
        name: parsed("name", Name::parse(&b.name))?.into_inner(),
        color: parsed("color", Color::parse(&b.color))?.into_inner(),
        visible_in_agenda: b.visible_in_agenda,
        priority: b.priority,
        active: b.active,
    };
    let saved = task_types::save(&state.db, task_type).await?;
    Ok(created(
        format!("/api/v1/task-types/{}", saved.id),
        TaskTypeOut::from(saved),
    ))
}

/// Read a task type.
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Task type id")), responses(
    (status = 200, body = TaskTypeOut),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such type")))]
#[get("/task-types/{id}")]
pub async fn read(
    state: web::Data<AppState>,
    _: Caller,
    id: IdPath,
) -> Result<web::Json<TaskTypeOut>> {
    Ok(web::Json(
        task_types::get(&state.db, id.into_inner()).await?.into(),
    ))
}

/// Change a task type (admins only).
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Task type id")), request_body = TaskTypeChanges, responses(
    (status = 200, body = TaskTypeOut),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such type"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "A type with this name exists")))]
#[patch("/task-types/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    id: IdPath,
    body: Valid<TaskTypeChanges>,
) -> Result<web::Json<TaskTypeOut>> {
    let c = body.into_inner();
    let mut t = task_types::get(&state.db, id.into_inner()).await?;
    if let Some(name) = &c.name {
        t.name = parsed("name", Name::parse(name))?.into_inner();
    }
    if let Some(color) = &c.color {
        t.color = parsed("color", Color::parse(color))?.into_inner();
    }
    t.visible_in_agenda = c.visible_in_agenda.unwrap_or(t.visible_in_agenda);
    t.priority = c.priority.unwrap_or(t.priority);
    t.active = c.active.unwrap_or(t.active);
    Ok(web::Json(task_types::save(&state.db, t).await?.into()))
}
