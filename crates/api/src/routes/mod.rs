//! Handlers, one module per resource. Each handler parses, calls one repository or domain
//! function, and maps the result.

pub mod agenda;
pub mod auth;
pub mod customers;
pub mod dashboard;
pub mod documents;
pub mod health;
pub mod inbound;
pub mod operators;
pub mod outcomes;
pub mod settings;
pub mod tags;
pub mod task_types;
pub mod tasks;
pub mod teams;
pub mod timeline;

use actix_web::{HttpResponse, http::header, web};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(auth::login).service(auth::me);
    cfg.service(teams::list)
        .service(teams::create)
        .service(teams::read)
        .service(teams::update);
    cfg.service(operators::list)
        .service(operators::create)
        .service(operators::read)
        .service(operators::update);
    cfg.service(task_types::list)
        .service(task_types::create)
        .service(task_types::read)
        .service(task_types::update);
    cfg.service(outcomes::list)
        .service(outcomes::create)
        .service(outcomes::read)
        .service(outcomes::update);
    cfg.service(tags::list)
        .service(tags::create)
        .service(tags::read)
        .service(tags::update);
    cfg.service(settings::read).service(settings::update);
    cfg.service(tasks::list)
        .service(tasks::create)
        .service(tasks::read)
        .service(tasks::update)
        .service(tasks::next)
        .service(tasks::copy)
        .service(tasks::reopen)
        .service(tasks::take)
        .service(tasks::chain);
    cfg.service(dashboard::dashboard)
        .service(dashboard::outcomes)
        .service(agenda::agenda)
        .service(agenda::agenda_ics)
        .service(agenda::calendar_token);
    cfg.service(timeline::timeline)
        .service(timeline::add_message)
        .service(timeline::add_call)
        .service(documents::upload)
        .service(documents::content)
        .service(documents::remove)
        .service(inbound::email);
    cfg.service(customers::list)
        .service(customers::create)
        .service(customers::read)
        .service(customers::update);
}

/// Operations endpoints outside the versioned API.
pub fn operations(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
}

/// A numeric id in the path.
pub type IdPath = web::Path<i64>;

/// `?active=` on the admin-managed lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActiveFilter {
    /// Only active (`true`) or only inactive (`false`) entries; all when absent.
    pub active: Option<bool>,
}

/// 201 with the new resource's `Location`.
pub fn created(location: String, body: impl Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(body)
}

pub(crate) fn yes() -> bool {
    true
}
