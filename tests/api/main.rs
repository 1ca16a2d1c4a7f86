//! End-to-end tests: one binary, a module per resource.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agenda;
mod auth;
mod bad_input;
mod concurrency;
mod customers;
mod demo;
mod errors;
mod health;
mod openapi;
mod operators;
mod security;
mod settings;
mod tasks;
mod timeline;
