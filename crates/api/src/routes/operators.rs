use super::{IdPath, created};
use crate::auth::{self, Admin, Caller};
use crate::dto::{OperatorOut, RoleDto, double_option};
use crate::error::{ApiError, Problem, Result};
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use crate::valid::{self, Valid, parsed};
use actix_web::{HttpResponse, get, patch, post, web};
use crm_domain::{Email, Name};
use crm_persistence::operators::{self, NewOperator, OperatorChanges, OperatorFilter};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OperatorQuery {
    /// Only active (`true`) or inactive (`false`) operators.
    pub active: Option<bool>,
    /// Only members of this team.
    pub team_id: Option<i64>,
    #[param(inline)]
    pub role: Option<RoleDto>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Maribel", "email": "maribel@example.com", "password": "a long passphrase", "role": "operator", "team_id": null}))]
pub struct NewOperatorIn {
    #[validate(custom(function = "valid::name"))]
    pub name: String,
    /// Unique, compared without regard to case.
    #[validate(custom(function = "valid::email"))]
    pub email: String,
    /// 8 to 1024 characters. Never returned.
    #[validate(custom(function = "valid::password"))]
    #[schema(write_only)]
    pub password: String,
    #[serde(default = "default_role")]
    pub role: RoleDto,
    #[validate(custom(function = "valid::id"))]
    pub team_id: Option<i64>,
}

fn default_role() -> RoleDto {
    RoleDto::Operator
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"team_id": 2, "role": "admin"}))]
pub struct OperatorChangesIn {
    #[validate(custom(function = "valid::name"))]
    pub name: Option<String>,
    #[validate(custom(function = "valid::email"))]
    pub email: Option<String>,
    #[validate(custom(function = "valid::password"))]
    #[schema(write_only)]
    pub password: Option<String>,
    pub role: Option<RoleDto>,
    /// `null` removes the operator from its team.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    /// `false` deactivates the operator: it can no longer log in, and keeps its history.
    pub active: Option<bool>,
}

async fn hash(password: String) -> Result<String> {
    web::block(move || auth::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
}

/// List operators, oldest first.
#[utoipa::path(tag = "settings", params(PageParams, OperatorQuery),
    responses((status = 200, body = ListOf<OperatorOut>)))]
#[get("/operators")]
pub async fn list(
    state: web::Data<AppState>,
    _: Caller,
    page: web::Query<PageParams>,
    q: web::Query<OperatorQuery>,
) -> Result<web::Json<ListOf<OperatorOut>>> {
    let filter = OperatorFilter {
        active: q.active,
        team_id: q.team_id,
        role: q.role.map(Into::into),
        after_id: page.cursor()?,
        limit: page.limit()?,
    };
    let found = operators::list(&state.db, filter).await?;
    Ok(web::Json(list_of(found, |o| o.id, OperatorOut::from)))
}

/// Create an operator (admins only).
#[utoipa::path(tag = "settings", request_body = NewOperatorIn, responses(
    (status = 201, body = OperatorOut, headers(("Location" = String, description = "The new operator's URL"))),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The email is taken")))]
#[post("/operators")]
pub async fn create(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Valid<NewOperatorIn>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let new = NewOperator {
        name: parsed("name", Name::parse(&b.name))?.into_inner(),
        email: parsed("email", Email::parse(&b.email))?.into_inner(),
        password_hash: hash(b.password).await?,
        role: b.role.into(),
        team_id: b.team_id,
    };
    let saved = operators::create(&state.db, new).await?;
    Ok(created(
        format!("/api/v1/operators/{}", saved.id),
        OperatorOut::from(saved),
    ))
}

/// Read an operator.
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Operator id")), responses(
    (status = 200, body = OperatorOut),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such operator")))]
#[get("/operators/{id}")]
pub async fn read(
    state: web::Data<AppState>,
    _: Caller,
    id: IdPath,
) -> Result<web::Json<OperatorOut>> {
    Ok(web::Json(
        operators::get(&state.db, id.into_inner()).await?.into(),
    ))
}

/// Change an operator (admins only). The last active admin cannot be demoted or deactivated.
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Operator id")), request_body = OperatorChangesIn, responses(
    (status = 200, body = OperatorOut),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such operator"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The email is taken, or this is the last active admin")))]
#[patch("/operators/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    id: IdPath,
    body: Valid<OperatorChangesIn>,
) -> Result<web::Json<OperatorOut>> {
    let c = body.into_inner();
    if let Some(Some(team)) = c.team_id {
        valid::id(team).map_err(|_| ApiError::invalid_field("team_id", "must be a positive id"))?;
    }
    let changes = OperatorChanges {
        name: c
            .name
            .as_deref()
            .map(|n| parsed("name", Name::parse(n)).map(Name::into_inner))
            .transpose()?,
        email: c
            .email
            .as_deref()
            .map(|e| parsed("email", Email::parse(e)).map(Email::into_inner))
            .transpose()?,
        password_hash: match c.password {
            Some(p) => Some(hash(p).await?),
            None => None,
        },
        role: c.role.map(Into::into),
        team_id: c.team_id,
        active: c.active,
    };
    Ok(web::Json(
        operators::update(&state.db, id.into_inner(), changes)
            .await?
            .into(),
    ))
}
