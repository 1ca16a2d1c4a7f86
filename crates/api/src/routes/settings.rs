use crate::auth::{Admin, Caller};
use crate::dto::PolicyDto;
use crate::error::{Problem, Result};
use crate::state::AppState;
use crate::valid::{self, Valid};
use actix_web::{get, patch, web};
use crm_domain::Settings;
use crm_persistence::catalog::settings_repo;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Settings, example = json!({"default_task_outcome_id": 1, "reopen_tasks": "admins", "delete_documents": "admins"}))]
pub struct SettingsOut {
    /// The outcome new tasks start with; an active outcome whose status is `planned`.
    pub default_task_outcome_id: i64,
    /// Who may reopen a closed task.
    pub reopen_tasks: PolicyDto,
    /// Who may delete a document from a timeline.
    pub delete_documents: PolicyDto,
}

impl From<Settings> for SettingsOut {
    fn from(s: Settings) -> Self {
        Self {
            default_task_outcome_id: s.default_task_outcome_id,
            reopen_tasks: s.reopen_tasks.into(),
            delete_documents: s.delete_documents.into(),
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reopen_tasks": "all"}))]
pub struct SettingsChanges {
    #[validate(custom(function = "valid::id"))]
    pub default_task_outcome_id: Option<i64>,
    pub reopen_tasks: Option<PolicyDto>,
    pub delete_documents: Option<PolicyDto>,
}

/// The installation's settings.
#[utoipa::path(tag = "settings", responses((status = 200, body = SettingsOut)))]
#[get("/settings")]
pub async fn read(state: web::Data<AppState>, _: Caller) -> Result<web::Json<SettingsOut>> {
    Ok(web::Json(settings_repo::get(&state.db).await?.into()))
}

/// Change the settings (admins only).
#[utoipa::path(tag = "settings", request_body = SettingsChanges, responses(
    (status = 200, body = SettingsOut),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an admin")))]
#[patch("/settings")]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Valid<SettingsChanges>,
) -> Result<web::Json<SettingsOut>> {
    let c = body.into_inner();
    let mut s = settings_repo::get(&state.db).await?;
    s.default_task_outcome_id = c
        .default_task_outcome_id
        .unwrap_or(s.default_task_outcome_id);
    s.reopen_tasks = c.reopen_tasks.map_or(s.reopen_tasks, Into::into);
    s.delete_documents = c.delete_documents.map_or(s.delete_documents, Into::into);
    Ok(web::Json(settings_repo::save(&state.db, s).await?.into()))
}
