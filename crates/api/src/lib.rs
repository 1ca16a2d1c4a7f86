//! The CRM's HTTP API: actix-web handlers, authentication, problem+json errors and the
//! OpenAPI document.

pub mod auth;
pub mod config;
pub mod dto;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod state;

pub use config::Config;
pub use startup::{Application, openapi_document};
