//! The admin-managed lists and settings that tasks are described with.

use crate::access::Policy;
use crate::status::{OutcomeStatus, TaskStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub active: bool,
}

/// What kind of task: appointment, call, quote...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskType {
    pub id: i64,
    pub name: String,
    pub color: String,
    /// Only tasks of such types show in agendas.
    pub visible_in_agenda: bool,
    /// Tasks of such types are urgent until someone takes them in charge.
    pub priority: bool,
    pub active: bool,
}

/// How a task ended, or that it is still planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: i64,
    pub name: String,
    pub resulting_status: OutcomeStatus,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    pub color: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub default_task_outcome_id: i64,
    pub reopen_tasks: Policy,
    pub delete_documents: Policy,
}

/// Why a settings change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("the default outcome of new tasks must be active")]
    InactiveOutcome,
    #[error("the default outcome of new tasks must leave them planned, not {0}")]
    NotPlanned(OutcomeStatus),
}

/// New tasks take the default outcome, so it must be one that leaves them planned.
pub fn check_default_outcome(outcome: &Outcome) -> Result<(), SettingsError> {
    if !outcome.active {
        return Err(SettingsError::InactiveOutcome);
    }
    if outcome.resulting_status != TaskStatus::Planned {
        return Err(SettingsError::NotPlanned(outcome.resulting_status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: OutcomeStatus, active: bool) -> Outcome {
        Outcome {
            id: 1,
            name: "x".into(),
            resulting_status: status,
            active,
        }
    }

    #[test]
    fn only_an_active_planned_outcome_can_be_the_default() {
        assert_eq!(
            check_default_outcome(&outcome(TaskStatus::Planned, true)),
            Ok(())
        );
        assert_eq!(
            check_default_outcome(&outcome(TaskStatus::Done, true)),
            Err(SettingsError::NotPlanned(TaskStatus::Done))
        );
        assert_eq!(
            check_default_outcome(&outcome(TaskStatus::Cancelled, true)),
            Err(SettingsError::NotPlanned(TaskStatus::Cancelled))
        );
        assert_eq!(
            check_default_outcome(&outcome(TaskStatus::Planned, false)),
            Err(SettingsError::InactiveOutcome)
        );
    }
}
