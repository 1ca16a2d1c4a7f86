//! The CRM's own vocabulary and rules, free of storage and HTTP.
//!
//! Values here are validated once, when they are built, so nothing downstream checks them again.

pub mod access;
pub mod catalog;
pub mod customer;
pub mod directory;
pub mod status;
pub mod task;
pub mod text;

pub use access::{Policy, Role};
pub use catalog::{Outcome, Settings, SettingsError, Tag, TaskType, Team};
pub use customer::{ChangeValue, Customer, CustomerPatch, FieldChange};
pub use directory::{DirectoryError, Operator};
pub use status::{OutcomeStatus, ParseError, TaskKind, TaskStatus};
pub use task::{
    Closing, LifecycleError, NextAction, Opening, Ref, TaskState, TaskTypeRef, TaskView, Urgency,
};
pub use text::{Color, Description, Email, InvalidText, Name, Phone};
