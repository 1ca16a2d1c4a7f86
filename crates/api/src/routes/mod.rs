//! Handlers, one module per resource. Each handler parses, calls one repository or domain
//! function, and maps the result.

pub mod auth;
pub mod health;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(auth::login).service(auth::me);
}

/// Operations endpoints outside the versioned API.
pub fn operations(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
}
