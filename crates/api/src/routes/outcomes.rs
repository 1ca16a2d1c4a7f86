use super::{ActiveFilter, IdPath, created};
use crate::auth::{Admin, Caller};
use crate::dto::StatusDto;
use crate::error::{Problem, Result};
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use crate::valid::{self, Valid, parsed};
use actix_web::{HttpResponse, get, patch, post, web};
use crm_domain::{Name, Outcome};
use crm_persistence::catalog::{ListFilter, outcomes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Outcome, example = json!({"id": 2, "name": "Positive", "resulting_status": "done", "active": true}))]
pub struct OutcomeOut {
    pub id: i64,
    pub name: String,
    /// The status a task takes when closed with this outcome.
    pub resulting_status: StatusDto,
    pub active: bool,
}

impl From<Outcome> for OutcomeOut {
    fn from(o: Outcome) -> Self {
        Self {
            id: o.id,
            name: o.name,
            resulting_status: o.resulting_status.into(),
            active: o.active,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "No show", "resulting_status": "cancelled"}))]
pub struct NewOutcome {
    #[validate(custom(function = "valid::name"))]
    pub name: String,
    pub resulting_status: StatusDto,
    #[serde(default = "super::yes")]
    pub active: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": false}))]
pub struct OutcomeChanges {
    #[validate(custom(function = "valid::name"))]
    pub name: Option<String>,
    pub resulting_status: Option<StatusDto>,
    /// `false` deactivates the outcome: closed tasks keep it, Next cannot use it.
    pub active: Option<bool>,
}

/// List outcomes, oldest first.
#[utoipa::path(tag = "settings", params(PageParams, ActiveFilter),
    responses((status = 200, body = ListOf<OutcomeOut>)))]
#[get("/outcomes")]
pub async fn list(
    state: web::Data<AppState>,
    _: Caller,
    page: web::Query<PageParams>,
    filter: web::Query<ActiveFilter>,
) -> Result<web::Json<ListOf<OutcomeOut>>> {
    let filter = ListFilter {
        active: filter.active,
        after_id: page.cursor()?,
        limit: page.limit()?,
    };
    let found = outcomes::list(&state.db, filter).await?;
    Ok(web::Json(list_of(found, |o| o.id, OutcomeOut::from)))
}

/// Create an outcome (admins only).
#[utoipa::path(tag = "settings", request_body = NewOutcome, responses(
    (status = 201, body = OutcomeOut, headers(("Location" = String, description = "The new outcome's URL"))),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "An outcome with this name exists")))]
#[post("/outcomes")]
pub async fn create(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Valid<NewOutcome>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let outcome = Outcome {
        id: 0,
        name: parsed("name", Name::parse(&b.name))?.into_inner(),
        resulting_status: b.resulting_status.into(),
        active: b.active,
    };
    let saved = outcomes::save(&state.db, outcome).await?;
    Ok(created(
        format!("/api/v1/outcomes/{}", saved.id),
        OutcomeOut::from(saved),
    ))
}

/// Read an outcome.
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Outcome id")), responses(
    (status = 200, body = OutcomeOut),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such outcome")))]
#[get("/outcomes/{id}")]
pub async fn read(
    state: web::Data<AppState>,
    _: Caller,
    id: IdPath,
) -> Result<web::Json<OutcomeOut>> {
    Ok(web::Json(
        outcomes::get(&state.db, id.into_inner()).await?.into(),
    ))
}

/// Change an outcome (admins only). The default outcome of new tasks must stay active and planned.
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Outcome id")), request_body = OutcomeChanges, responses(
    (status = 200, body = OutcomeOut),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such outcome"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The name is taken, or the change would break the default outcome")))]
#[patch("/outcomes/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    id: IdPath,
    body: Valid<OutcomeChanges>,
) -> Result<web::Json<OutcomeOut>> {
    let c = body.into_inner();
    let mut o = outcomes::get(&state.db, id.into_inner()).await?;
    if let Some(name) = &c.name {
        o.name = parsed("name", Name::parse(name))?.into_inner();
    }
    if let Some(status) = c.resulting_status {
        o.resulting_status = status.into();
    }
    o.active = c.active.unwrap_or(o.active);
    Ok(web::Json(outcomes::save(&state.db, o).await?.into()))
}
