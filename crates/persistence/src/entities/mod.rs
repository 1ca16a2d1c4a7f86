//! One sea-orm entity per table; relations are joined explicitly in the repositories.

pub mod call;
pub mod customer;
pub mod document;
pub mod idempotency_key;
pub mod login_attempt;
pub mod message;
pub mod operator;
pub mod outcome;
pub mod server_secret;
pub mod settings;
pub mod tag;
pub mod task;
pub mod task_tag;
pub mod task_type;
pub mod team;
pub mod timeline_entry;
