use super::{ActiveFilter, IdPath, created};
use crate::auth::{Admin, Caller};
use crate::error::{Problem, Result};
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use crate::valid::{self, Valid, parsed};
use actix_web::{HttpResponse, get, patch, post, web};
use crm_domain::{Color, Name, Tag};
use crm_persistence::catalog::{ListFilter, tags};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Tag, example = json!({"id": 4, "name": "supplements", "color": "#8e24aa", "active": true}))]
pub struct TagOut {
    pub id: i64,
    pub name: String,
    pub color: String,
    pub active: bool,
}

impl From<Tag> for TagOut {
    fn from(t: Tag) -> Self {
        Self {
            id: t.id,
            name: t.name,
            color: t.color,
            active: t.active,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "supplements", "color": "#8e24aa"}))]
pub struct NewTag {
    #[validate(custom(function = "valid::name"))]
    pub name: String,
    /// `#RRGGBB`; default `#9e9e9e`.
    #[validate(custom(function = "valid::color"))]
    #[serde(default = "default_color")]
    pub color: String,
    #[serde(default = "super::yes")]
    pub active: bool,
}

fn default_color() -> String {
    "#9e9e9e".into()
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"color": "#6a1b9a"}))]
pub struct TagChanges {
    #[validate(custom(function = "valid::name"))]
    pub name: Option<String>,
    #[validate(custom(function = "valid::color"))]
    pub color: Option<String>,
    /// `false` deactivates the tag: tasks keep it, new tasks cannot use it.
    pub active: Option<bool>,
}

/// List tags, oldest first.
#[utoipa::path(tag = "settings", params(PageParams, ActiveFilter),
    responses((status = 200, body = ListOf<TagOut>)))]
#[get("/tags")]
pub async fn list(
    state: web::Data<AppState>,
    _: Caller,
    page: web::Query<PageParams>,
    filter: web::Query<ActiveFilter>,
) -> Result<web::Json<ListOf<TagOut>>> {
    let filter = ListFilter {
        active: filter.active,
        after_id: page.cursor()?,
        limit: page.limit()?,
    };
    let found = tags::list(&state.db, filter).await?;
    Ok(web::Json(list_of(found, |t| t.id, TagOut::from)))
}

/// Create a tag (admins only).
#[utoipa::path(tag = "settings", request_body = NewTag, responses(
    (status = 201, body = TagOut, headers(("Location" = String, description = "The new tag's URL"))),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "A tag with this name exists")))]
#[post("/tags")]
pub async fn create(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Valid<NewTag>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let tag = Tag {
        id: 0,
        name: parsed("name", Name::parse(&b.name))?.into_inner(),
        color: parsed("color", Color::parse(&b.color))?.into_inner(),
        active: b.active,
    };
    let saved = tags::save(&state.db, tag).await?;
    Ok(created(
        format!("/api/v1/tags/{}", saved.id),
        TagOut::from(saved),
    ))
}

/// Read a tag.
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Tag id")), responses(
    (status = 200, body = TagOut),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such tag")))]
#[get("/tags/{id}")]
pub async fn read(state: web::Data<AppState>, _: Caller, id: IdPath) -> Result<web::Json<TagOut>> {
    Ok(web::Json(
        tags::get(&state.db, id.into_inner()).await?.into(),
    ))
}

/// Change a tag (admins only).
#[utoipa::path(tag = "settings", params(("id" = i64, Path, description = "Tag id")), request_body = TagChanges, responses(
    (status = 200, body = TagOut),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such tag"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "A tag with this name exists")))]
#[patch("/tags/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    id: IdPath,
    body: Valid<TagChanges>,
) -> Result<web::Json<TagOut>> {
    let c = body.into_inner();
    let mut t = tags::get(&state.db, id.into_inner()).await?;
    if let Some(name) = &c.name {
        t.name = parsed("name", Name::parse(name))?.into_inner();
    }
    if let Some(color) = &c.color {
        t.color = parsed("color", Color::parse(color))?.into_inner();
    }
    t.active = c.active.unwrap_or(t.active);
    Ok(web::Json(tags::save(&state.db, t).await?.into()))
}
