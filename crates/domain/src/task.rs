//! The task lifecycle: planned → done or cancelled, through Next; reopen, take charge, copy.
//!
//! Each function takes the state it needs and returns the new state or a typed error;
//! storage applies the result atomically.

use crate::access::{Policy, Role};
use crate::catalog::Outcome;
use crate::status::{TaskKind, TaskStatus};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// A reference to a named record, as task views carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub id: i64,
    pub name: String,
}

/// The parts of a task that the lifecycle rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskState {
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub taken_by: Option<i64>,
}

/// What Next does besides closing the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextAction {
    /// Close with the outcome.
    Close,
    /// Close, and record a note linked to the task.
    CloseWithNote,
    /// Close, and plan a follow-up task whose parent is this one.
    Continue,
}

/// How a task is closed by Next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    pub status: TaskStatus,
    pub outcome_id: i64,
}

/// Whether someone must act on a priority task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Planned, of a priority type, and nobody has taken it in charge (red).
    Urgent,
    /// Planned, of a priority type, and taken in charge (yellow).
    InCharge,
}

/// Why a lifecycle step was refused; each says how the API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// 409: only planned tasks change.
    #[error(
        "the task is {0}; only a planned task can be changed, taken in charge or moved on with Next"
    )]
    NotPlanned(TaskStatus),
    /// 422: Next needs an outcome that closes the task.
    #[error(
        "outcome '{0}' leaves the task planned; Next needs an outcome whose status is done or cancelled"
    )]
    OutcomeKeepsPlanned(String),
    /// 422: the outcome is inactive.
    #[error("outcome '{0}' is inactive")]
    InactiveOutcome(String),
    /// 422: a new task's outcome must leave it planned; a note's must close it.
    #[error("a {kind} cannot be created with outcome '{outcome}', which leaves it {status}")]
    OutcomeDoesNotFit {
        kind: TaskKind,
        outcome: String,
        status: TaskStatus,
    },
    /// 409: reopening needs a closed task.
    #[error("the task is planned already")]
    AlreadyPlanned,
    /// 409: notes are records of what happened and stay closed.
    #[error("notes record what happened and cannot be reopened")]
    NoteCannotReopen,
    /// 403: the settings do not let this operator reopen tasks.
    #[error("the settings let {0} reopen tasks")]
    ReopenForbidden(&'static str),
    /// 409: only tasks of priority types are taken in charge.
    #[error("only tasks of a priority type are taken in charge")]
    NotPriority,
    /// 409: someone else has taken the task in charge.
    #[error("operator #{0} has already taken this task in charge")]
    TakenByOther(i64),
}

impl TaskState {
    fn require_planned(&self) -> Result<(), LifecycleError> {
        match self.status {
            TaskStatus::Planned => Ok(()),
            closed => Err(LifecycleError::NotPlanned(closed)),
        }
    }

    /// Editing is for planned tasks only; closed ones show their details.
    pub fn ensure_editable(&self) -> Result<(), LifecycleError> {
        self.require_planned()
    }

    /// Next: the task takes `outcome` and its status. The note or follow-up that the action
    /// asks for is created beside it, in the same transaction.
    pub fn next(&self, outcome: &Outcome, _action: NextAction) -> Result<Closing, LifecycleError> {
        self.require_planned()?;
        if !outcome.active {
            return Err(LifecycleError::InactiveOutcome(outcome.name.clone()));
        }
        if outcome.resulting_status == TaskStatus::Planned {
            return Err(LifecycleError::OutcomeKeepsPlanned(outcome.name.clone()));
        }
        Ok(Closing {
            status: outcome.resulting_status,
            outcome_id: outcome.id,
        })
    }

    /// Reopen: a closed task goes back to planned, if the settings allow it for `role`.
    pub fn reopen(&self, policy: Policy, role: Role) -> Result<(), LifecycleError> {
        if self.kind == TaskKind::Note {
            return Err(LifecycleError::NoteCannotReopen);
        }
        if !self.status.is_closed() {
            return Err(LifecycleError::AlreadyPlanned);
        }
        if !policy.allows(role) {
            return Err(LifecycleError::ReopenForbidden(policy.who()));
        }
        Ok(())
    }

    /// Take charge: `operator` marks a planned priority task as being handled. Taking a task
    /// one has already taken changes nothing.
    pub fn take(&self, priority_type: bool, operator: i64) -> Result<bool, LifecycleError> {
        self.require_planned()?;
        if !priority_type {
            return Err(LifecycleError::NotPriority);
        }
        match self.taken_by {
            None => Ok(true),
            Some(by) if by == operator => Ok(false),
            Some(by) => Err(LifecycleError::TakenByOther(by)),
        }
    }

    /// Red until someone takes the task in charge, yellow while in charge, nothing once closed.
    pub fn urgency(&self, priority_type: bool) -> Option<Urgency> {
        urgency(self.status, priority_type, self.taken_by.is_some())
    }
}

pub fn urgency(status: TaskStatus, priority_type: bool, taken: bool) -> Option<Urgency> {
    match (status, priority_type, taken) {
        (TaskStatus::Planned, true, false) => Some(Urgency::Urgent),
        (TaskStatus::Planned, true, true) => Some(Urgency::InCharge),
        _ => None,
    }
}

/// The status and closing of a new task or note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub status: TaskStatus,
    pub outcome_id: Option<i64>,
    /// Notes are created closed: by their creator, when created.
    pub closed: bool,
}

/// A new task takes `outcome` (the default outcome when none is given), which must leave it
/// planned. A note records something already done: it takes its outcome's status, `done`
/// when none is given, and a planned outcome does not fit it.
pub fn open(kind: TaskKind, outcome: Option<&Outcome>) -> Result<Opening, LifecycleError> {
    if let Some(o) = outcome
        && !o.active
    {
        return Err(LifecycleError::InactiveOutcome(o.name.clone()));
    }
    match (kind, outcome) {
        (TaskKind::Task, Some(o)) if o.resulting_status == TaskStatus::Planned => Ok(Opening {
            status: TaskStatus::Planned,
            outcome_id: Some(o.id),
            closed: false,
        }),
        (TaskKind::Task, None) => Ok(Opening {
            status: TaskStatus::Planned,
            outcome_id: None,
            closed: false,
        }),
        (TaskKind::Note, None) => Ok(Opening {
            status: TaskStatus::Done,
            outcome_id: None,
            closed: true,
        }),
        (TaskKind::Note, Some(o)) if o.resulting_status.is_closed() => Ok(Opening {
            status: o.resulting_status,
            outcome_id: Some(o.id),
            closed: true,
        }),
        (kind, Some(o)) => Err(LifecycleError::OutcomeDoesNotFit {
            kind,
            outcome: o.name.clone(),
            status: o.resulting_status,
        }),
    }
}

/// The responsible operator: the one given, else the customer's consultant, else the creator.
pub fn default_responsible(given: Option<i64>, consultant: Option<i64>, creator: i64) -> i64 {
    given.or(consultant).unwrap_or(creator)
}

/// The key every schedule sort uses: the date, at the time when there is one, else at midnight.
pub fn scheduled_at(date: NaiveDate, time: Option<NaiveTime>) -> NaiveDateTime {
    date.and_time(time.unwrap_or(NaiveTime::MIN))
}

/// A planned task is overdue once its time has passed, or, for a whole-day task, once its
/// day has ended. `now` is the business's local time.
pub fn is_overdue(date: NaiveDate, time: Option<NaiveTime>, now: NaiveDateTime) -> bool {
    match time {
        Some(t) => date.and_time(t) < now,
        None => date < now.date(),
    }
}

/// A task or note as listings and details show it: both dates, both people, urgency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub id: i64,
    pub kind: TaskKind,
    pub customer: Ref,
    pub description: String,
    pub task_type: TaskTypeRef,
    pub tags: Vec<Ref>,
    pub scheduled_date: NaiveDate,
    pub scheduled_time: Option<NaiveTime>,
    pub created_at: DateTime<Utc>,
    pub creator: Ref,
    pub responsible: Ref,
    pub status: TaskStatus,
    pub outcome: Option<Ref>,
    pub parent_id: Option<i64>,
    pub taken_by: Option<Ref>,
    pub taken_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<Ref>,
    pub version: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTypeRef {
    pub id: i64,
    pub name: String,
    pub color: String,
    pub priority: bool,
}

impl TaskView {
    pub fn state(&self) -> TaskState {
        TaskState {
            kind: self.kind,
            status: self.status,
            taken_by: self.taken_by.as_ref().map(|r| r.id),
        }
    }

    pub fn urgency(&self) -> Option<Urgency> {
        self.state().urgency(self.task_type.priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::{Cancelled, Done, Planned};

    fn outcome(id: i64, status: TaskStatus) -> Outcome {
        Outcome {
            id,
            name: format!("outcome {id}"),
            resulting_status: status,
            active: true,
        }
    }

    fn task(status: TaskStatus) -> TaskState {
        TaskState {
            kind: TaskKind::Task,
            status,
            taken_by: None,
        }
    }

    const ACTIONS: [NextAction; 3] = [
        NextAction::Close,
        NextAction::CloseWithNote,
        NextAction::Continue,
    ];

    #[test]
    fn next_closes_a_planned_task_with_the_outcomes_status() {
        for action in ACTIONS {
            for (id, status) in [(2, Done), (5, Cancelled)] {
                assert_eq!(
                    task(Planned).next(&outcome(id, status), action),
                    Ok(Closing {
                        status,
                        outcome_id: id
                    }),
                    "{action:?} with a {status} outcome"
                );
            }
        }
    }

    #[test]
    fn next_on_a_closed_task_is_refused_whatever_the_action() {
        for state in [Done, Cancelled] {
            for action in ACTIONS {
                assert_eq!(
                    task(state).next(&outcome(2, Done), action),
                    Err(LifecycleError::NotPlanned(state)),
                    "{action:?} on {state}"
                );
            }
        }
    }

    #[test]
    fn next_needs_an_active_outcome_that_closes() {
        for action in ACTIONS {
            assert!(matches!(
                task(Planned).next(&outcome(1, Planned), action),
                Err(LifecycleError::OutcomeKeepsPlanned(_))
            ));
            let mut inactive = outcome(2, Done);
            inactive.active = false;
            assert!(matches!(
                task(Planned).next(&inactive, action),
                Err(LifecycleError::InactiveOutcome(_))
            ));
        }
    }

    #[test]
    fn only_planned_tasks_are_editable() {
        assert_eq!(task(Planned).ensure_editable(), Ok(()));
        assert_eq!(
            task(Done).ensure_editable(),
            Err(LifecycleError::NotPlanned(Done))
        );
        assert_eq!(
            task(Cancelled).ensure_editable(),
            Err(LifecycleError::NotPlanned(Cancelled))
        );
    }

    #[test]
    fn reopen_follows_the_policy_for_closed_tasks() {
        for state in [Planned, Done, Cancelled] {
            for policy in [Policy::None, Policy::Admins, Policy::All] {
                for role in [Role::Admin, Role::Operator] {
                    let got = task(state).reopen(policy, role);
                    let case = format!("{state} under {policy} as {role}");
                    match got {
                        Ok(()) => assert!(state != Planned && policy.allows(role), "{case}"),
                        Err(LifecycleError::AlreadyPlanned) => assert_eq!(state, Planned, "{case}"),
                        Err(LifecycleError::ReopenForbidden(_)) => {
                            assert!(state != Planned && !policy.allows(role), "{case}")
                        }
                        other => panic!("{case}: {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn notes_are_never_reopened() {
        let note = TaskState {
            kind: TaskKind::Note,
            status: Done,
            taken_by: None,
        };
        assert_eq!(
            note.reopen(Policy::All, Role::Admin),
            Err(LifecycleError::NoteCannotReopen)
        );
    }

    #[test]
    fn take_charge_is_for_planned_priority_tasks() {
        assert_eq!(task(Planned).take(true, 7), Ok(true));
        assert_eq!(
            task(Planned).take(false, 7),
            Err(LifecycleError::NotPriority)
        );
        assert_eq!(
            task(Done).take(true, 7),
            Err(LifecycleError::NotPlanned(Done))
        );
        assert_eq!(
            task(Cancelled).take(true, 7),
            Err(LifecycleError::NotPlanned(Cancelled))
        );
        let taken = TaskState {
            taken_by: Some(7),
            ..task(Planned)
        };
        assert_eq!(
            taken.take(true, 7),
            Ok(false),
            "taking twice changes nothing"
        );
        assert_eq!(taken.take(true, 8), Err(LifecycleError::TakenByOther(7)));
    }

    #[test]
    fn urgency_is_red_until_taken_yellow_while_taken_and_gone_when_closed() {
        let taken = TaskState {
            taken_by: Some(7),
            ..task(Planned)
        };
        assert_eq!(task(Planned).urgency(true), Some(Urgency::Urgent));
        assert_eq!(taken.urgency(true), Some(Urgency::InCharge));
        assert_eq!(task(Planned).urgency(false), None);
        for closed in [Done, Cancelled] {
            assert_eq!(task(closed).urgency(true), None);
            let was_taken = TaskState {
                taken_by: Some(7),
                ..task(closed)
            };
            assert_eq!(was_taken.urgency(true), None);
        }
    }

    #[test]
    fn new_tasks_open_planned_and_notes_open_closed() {
        assert_eq!(
            open(TaskKind::Task, Some(&outcome(1, Planned))),
            Ok(Opening {
                status: Planned,
                outcome_id: Some(1),
                closed: false
            })
        );
        assert_eq!(
            open(TaskKind::Note, None),
            Ok(Opening {
                status: Done,
                outcome_id: None,
                closed: true
            })
        );
        assert_eq!(
            open(TaskKind::Note, Some(&outcome(5, Cancelled))),
            Ok(Opening {
                status: Cancelled,
                outcome_id: Some(5),
                closed: true
            })
        );
        assert!(matches!(
            open(TaskKind::Task, Some(&outcome(2, Done))),
            Err(LifecycleError::OutcomeDoesNotFit { .. })
        ));
        assert!(matches!(
            open(TaskKind::Note, Some(&outcome(1, Planned))),
            Err(LifecycleError::OutcomeDoesNotFit { .. })
        ));
    }

    #[test]
    fn the_responsible_defaults_to_the_consultant_then_the_creator() {
        assert_eq!(default_responsible(Some(3), Some(4), 5), 3);
        assert_eq!(default_responsible(None, Some(4), 5), 4);
        assert_eq!(default_responsible(None, None, 5), 5);
    }

    #[test]
    fn overdue_means_the_time_or_the_whole_day_has_passed() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let at = |h, m| day.and_hms_opt(h, m, 0).unwrap();
        let t = |h, m| Some(NaiveTime::from_hms_opt(h, m, 0).unwrap());
        assert!(
            !is_overdue(day, t(23, 30), at(23, 0)),
            "23:30 is not overdue at 23:00"
        );
        assert!(is_overdue(day, t(23, 30), at(23, 31)));
        assert!(
            !is_overdue(day, None, at(23, 59)),
            "a whole-day task lasts all day"
        );
        let next_day = day.succ_opt().unwrap().and_hms_opt(0, 0, 1).unwrap();
        assert!(
            is_overdue(day, None, next_day),
            "and is overdue just after midnight"
        );
        assert!(!is_overdue(day.succ_opt().unwrap(), t(0, 0), at(23, 59)));
    }

    #[test]
    fn schedules_without_a_time_sort_at_midnight() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(scheduled_at(day, None), day.and_hms_opt(0, 0, 0).unwrap());
        let t = NaiveTime::from_hms_opt(9, 30, 0).unwrap();
        assert_eq!(scheduled_at(day, Some(t)), day.and_time(t));
    }
}
