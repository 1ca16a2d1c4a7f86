use crate::error::{ApiError, Problem, Result};
use crate::state::AppState;
use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up. Answers without touching the database.
#[utoipa::path(
    tag = "operations",
    security(()),
    responses((status = 200, description = "Up", body = Health))
)]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// The database answers; 503 otherwise, so a load balancer stops sending traffic here.
#[utoipa::path(
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database is unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Health>> {
    let pinged = match crm_persistence::ping(&state.db).await {
        Ok(()) => crm_persistence::ping(&state.shared_db).await,
        Err(e) => Err(e),
    };
    pinged.map_err(|e| {
        log::warn!("readiness check failed: {e}");
        ApiError::Unavailable("The database is unreachable.".into())
    })?;
    Ok(web::Json(Health { status: "ready" }))
}
