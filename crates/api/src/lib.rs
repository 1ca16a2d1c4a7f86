//! The CRM's HTTP API: actix-web handlers, authentication, problem+json errors and the
//! OpenAPI document.

pub mod auth;
pub mod config;
pub mod dto;
pub mod dto_time;
pub mod error;
pub mod etag;
pub mod extract;
pub mod ics;
pub mod idempotency;
pub mod openapi;
pub mod paging;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod state;
pub mod storage;
pub mod valid;

pub use config::Config;
pub use startup::{Application, openapi_document};
