use super::{ActiveFilter, IdPath, created};
use crate::auth::{Admin, Caller};
use crate::error::{Problem, Result};
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use crate::valid::{self, Valid, parsed};
use actix_web::{HttpResponse, get, patch, post, web};
use crm_domain::{Name, Team};
use crm_persistence::catalog::{ListFilter, teams};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Team, example = json!({"id": 1, "name": "Front desk", "active": true}))]
pub struct TeamOut {
    pub id: i64,
    pub name: String,
    pub active: bool,
}

impl From<Team> for TeamOut {
    fn from(t: Team) -> Self {
        Self {
            id: t.id,
            name: t.name,
            active: t.active,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Front desk"}))]
pub struct NewTeam {
    /// 1 to 200 characters, unique among teams (ignoring case).
    #[validate(custom(function = "valid::name"))]
    pub name: String,
    #[serde(default = "super::yes")]
    pub active: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": false}))]
pub struct TeamChanges {
    #[validate(custom(function = "valid::name"))]
    pub name: Option<String>,
    /// `false` deactivates the team: it stays readable but new operators cannot join it.
    pub active: Option<bool>,
}

/// List teams, oldest first.
#[utoipa::path(tag = "settings", params(PageParams, ActiveFilter),
    responses((status = 200, body = ListOf<TeamOut>)))]
#[get("/teams")]
pub async fn list(
    state: web::Data<AppState>,
    _: Caller,
    page: web::Query<PageParams>,
    filter: web::Query<ActiveFilter>,
) -> Result<web::Json<ListOf<TeamOut>>> {
    let filter = ListFilter {
        active: filter.active,
        after_id: page.cursor()?,
        limit: page.limit()?,
    };
    let found = teams::list(&state.db, filter).await?;
    Ok(web::Json(list_of(found, |t| t.id, TeamOut::from)))
}

/// Create a team (admins only).
#[utoipa::path(tag = "settings", request_body = NewTeam, responses(
    (status = 201, body = TeamOut, headers(("Location" = String, description = "The new team's URL"))),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "A team with this name exists")))]
#[post("/teams")]
pub async fn create(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Valid<NewTeam>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let team = Team {
        id: 0,
        name: parsed("name", Name::parse(&body.name))?.into_inner(),
        active: body.active,
    };
    let saved = teams::save(&state.db, team).await?;
    Ok(created(
        format!("/api/v1/teams/{}", saved.id),
        TeamOut::from(saved),
    ))
}

/// Read a team.
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Team id")), responses(
    (status = 200, body = TeamOut),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such team")))]
#[get("/teams/{id}")]
pub async fn read(state: web::Data<AppState>, _: Caller, id: IdPath) -> Result<web::Json<TeamOut>> {
    Ok(web::Json(
        teams::get(&state.db, id.into_inner()).await?.into(),
    ))
}

/// Rename or (de)activate a team (admins only).
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Team id")), request_body = TeamChanges, responses(
    (status = 200, body = TeamOut),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such team"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "A team with this name exists")))]
#[patch("/teams/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    id: IdPath,
    body: Valid<TeamChanges>,
) -> Result<web::Json<TeamOut>> {
    let changes = body.into_inner();
    let mut team = teams::get(&state.db, id.into_inner()).await?;
    if let Some(name) = &changes.name {
        team.name = parsed("name", Name::parse(name))?.into_inner();
    }
    team.active = changes.active.unwrap_or(team.active);
    Ok(web::Json(teams::save(&state.db, team).await?.into()))
}
