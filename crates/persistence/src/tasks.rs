//! Tasks and notes: creation, the lifecycle steps, listing. Each step runs in one write
//! transaction, and every change is conditional on the version that was read, so two
//! concurrent steps on one task give one success and one conflict.

use crate::catalog::{outcomes, settings_repo};
use crate::entities::{customer, operator, outcome, tag, task, task_tag, task_type};
use crate::paging::{self, Page};
use crate::timeline::{self, NewEntry};
use crate::{StoreError, StoreResult};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use crm_domain::task::{self as lifecycle, default_responsible};
use crm_domain::{
    FieldChange, NextAction, Ref, Role, TaskKind, TaskState, TaskStatus, TaskTypeRef, TaskView,
};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, Func, JoinType, LikeExpr, Order, Query, SelectStatement,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, QueryFilter, Value,
};
use serde_json::json;
use std::collections::HashMap;

/// A task or note to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: TaskKind,
    pub customer_id: i64,
    pub description: String,
    pub type_id: i64,
    pub tag_ids: Vec<i64>,
    pub scheduled_date: NaiveDate,
    pub scheduled_time: Option<NaiveTime>,
    pub responsible_id: Option<i64>,
    pub outcome_id: Option<i64>,
}

/// The operator acting.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub id: i64,
    pub role: Role,
}

/// The note or follow-up that Next creates, without its customer (the task's own).
#[derive(Debug, Clone)]
pub struct Successor {
    pub description: String,
    pub type_id: i64,
    pub tag_ids: Vec<i64>,
    pub scheduled_date: NaiveDate,
    pub scheduled_time: Option<NaiveTime>,
    pub responsible_id: Option<i64>,
    /// For a note: its outcome (the task's closing outcome when none is given).
    pub outcome_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NextCommand {
    pub outcome_id: i64,
    pub action: NextAction,
    /// Required for `close_with_note` and `continue`.
    pub successor: Option<Successor>,
}

/// Changes to a planned task; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub description: Option<String>,
    pub type_id: Option<i64>,
    pub tag_ids: Option<Vec<i64>>,
    pub scheduled_date: Option<NaiveDate>,
    pub scheduled_time: Option<Option<NaiveTime>>,
    pub responsible_id: Option<i64>,
}

// ---------------------------------------------------------------------------------------
// Reading views

#[derive(Debug, FromQueryResult)]
struct TaskRow {
    id: i64,
    kind: String,
    customer_id: i64,
    customer_name: String,
    description: String,
    type_id: i64,
    type_name: String,
    type_color: String,
    type_priority: bool,
    scheduled_date: NaiveDate,
    scheduled_time: Option<NaiveTime>,
    created_at: DateTime<Utc>,
    creator_id: i64,
    creator_name: String,
    responsible_id: i64,
    responsible_name: String,
    status: String,
    outcome_id: Option<i64>,
    outcome_name: Option<String>,
    parent_id: Option<i64>,
    taken_by_id: Option<i64>,
    taken_by_name: Option<String>,
    taken_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    closed_by_id: Option<i64>,
    closed_by_name: Option<String>,
    version: i32,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Type(e.to_string()))
}

fn reference(id: Option<i64>, name: Option<String>) -> Option<Ref> {
    Some(Ref {
        id: id?,
        name: name?,
    })
}

impl TaskRow {
    fn into_view(self, tags: Vec<Ref>) -> StoreResult<TaskView> {
        Ok(TaskView {
            id: self.id,
            kind: self.kind.parse().map_err(corrupt)?,
            customer: Ref {
                id: self.customer_id,
                name: self.customer_name,
            },
            description: self.description,
            task_type: TaskTypeRef {
                id: self.type_id,
                name: self.type_name,
                color: self.type_color,
                priority: self.type_priority,
            },
            tags,
            scheduled_date: self.scheduled_date,
            scheduled_time: self.scheduled_time,
            created_at: self.created_at,
            creator: Ref {
                id: self.creator_id,
                name: self.creator_name,
            },
            responsible: Ref {
                id: self.responsible_id,
                name: self.responsible_name,
            },
            status: self.status.parse().map_err(corrupt)?,
            outcome: reference(self.outcome_id, self.outcome_name),
            parent_id: self.parent_id,
            taken_by: reference(self.taken_by_id, self.taken_by_name),
            taken_at: self.taken_at,
            closed_at: self.closed_at,
            closed_by: reference(self.closed_by_id, self.closed_by_name),
            version: self.version,
        })
    }
}

/// The task columns with every name a view shows, joined in one query.
fn view_select() -> SelectStatement {
    let mut q = Query::select();
    for col in [
        "id",
        "kind",
        "customer_id",
        "description",
        "type_id",
        "scheduled_date",
        "scheduled_time",
        "created_at",
        "creator_id",
        "responsible_id",
        "status",
        "outcome_id",
        "parent_id",
        "taken_by_id",
        "taken_at",
        "closed_at",
        "closed_by_id",
        "version",
    ] {
        q.column(("t", col));
    }
    q.expr_as(Expr::col(("c", "name")), "customer_name")
        .expr_as(Expr::col(("ty", "name")), "type_name")
        .expr_as(Expr::col(("ty", "color")), "type_color")
        .expr_as(Expr::col(("ty", "priority")), "type_priority")
        .expr_as(Expr::col(("cr", "name")), "creator_name")
        .expr_as(Expr::col(("rs", "name")), "responsible_name")
        .expr_as(Expr::col(("o", "name")), "outcome_name")
        .expr_as(Expr::col(("tk", "name")), "taken_by_name")
        .expr_as(Expr::col(("cl", "name")), "closed_by_name")
        .from_as("tasks", "t")
        .join_as(
            JoinType::InnerJoin,
            "customers",
            "c",
            Expr::col(("c", "id")).equals(("t", "customer_id")),
        )
        .join_as(
            JoinType::InnerJoin,
            "task_types",
            "ty",
            Expr::col(("ty", "id")).equals(("t", "type_id")),
        )
        .join_as(
            JoinType::InnerJoin,
            "operators",
            "cr",
            Expr::col(("cr", "id")).equals(("t", "creator_id")),
        )
        .join_as(
            JoinType::InnerJoin,
            "operators",
            "rs",
            Expr::col(("rs", "id")).equals(("t", "responsible_id")),
        )
        .join_as(
            JoinType::LeftJoin,
            "outcomes",
            "o",
            Expr::col(("o", "id")).equals(("t", "outcome_id")),
        )
        .join_as(
            JoinType::LeftJoin,
            "operators",
            "tk",
            Expr::col(("tk", "id")).equals(("t", "taken_by_id")),
        )
        .join_as(
            JoinType::LeftJoin,
            "operators",
            "cl",
            Expr::col(("cl", "id")).equals(("t", "closed_by_id")),
        );
    q
}

#[derive(Debug, FromQueryResult)]
struct TagRow {
    task_id: i64,
    id: i64,
    name: String,
}

/// The tags of `ids`, in one query.
async fn tags_of(db: &impl ConnectionTrait, ids: &[i64]) -> StoreResult<HashMap<i64, Vec<Ref>>> {
    let mut map: HashMap<i64, Vec<Ref>> = HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let q = Query::select()
        .column(("tt", "task_id"))
        .column(("g", "id"))
        .column(("g", "name"))
        .from_as("task_tags", "tt")
        .join_as(
            JoinType::InnerJoin,
            "tags",
            "g",
            Expr::col(("g", "id")).equals(("tt", "tag_id")),
        )
        .and_where(Expr::col(("tt", "task_id")).is_in(ids.iter().copied()))
        .order_by(("g", "name"), Order::Asc)
        .to_owned();
    let rows = TagRow::find_by_statement(db.get_database_backend().build(&q))
        .all(db)
        .await?;
    for r in rows {
        map.entry(r.task_id).or_default().push(Ref {
            id: r.id,
            name: r.name,
        });
    }
    Ok(map)
}

async fn views(db: &impl ConnectionTrait, select: &SelectStatement) -> StoreResult<Vec<TaskView>> {
    let rows = TaskRow::find_by_statement(db.get_database_backend().build(select))
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut tags = tags_of(db, &ids).await?;
    rows.into_iter()
        .map(|r| {
            let t = tags.remove(&r.id).unwrap_or_default();
            r.into_view(t)
        })
        .collect()
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> StoreResult<TaskView> {
    let select = view_select()
        .and_where(Expr::col(("t", "id")).eq(id))
        .to_owned();
    views(db, &select).await?.pop().ok_or(StoreError::NotFound)
}

// ---------------------------------------------------------------------------------------
// Checks on what a task refers to

async fn check_type(db: &impl ConnectionTrait, field: &str, id: i64) -> StoreResult<()> {
    match task_type::Entity::find_by_id(id).one(db).await? {
        Some(t) if t.active => Ok(()),
        Some(t) => Err(StoreError::rejected(
            field,
            format!("task type '{}' is inactive", t.name),
        )),
        None => Err(StoreError::rejected(field, "no task type has this id")),
    }
}

async fn check_operator(db: &impl ConnectionTrait, field: &str, id: i64) -> StoreResult<()> {
    match operator::Entity::find_by_id(id).one(db).await? {
        Some(o) if o.active => Ok(()),
        Some(o) => Err(StoreError::rejected(
            field,
            format!("operator '{}' is inactive", o.name),
        )),
        None => Err(StoreError::rejected(field, "no operator has this id")),
    }
}

async fn check_tags(db: &impl ConnectionTrait, field: &str, ids: &[i64]) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = tag::Entity::find()
        .filter(tag::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    for id in ids {
        match found.iter().find(|t| t.id == *id) {
            Some(t) if t.active => {}
            Some(t) => {
                return Err(StoreError::rejected(
                    field,
                    format!("tag '{}' is inactive", t.name),
                ));
            }
            None => {
                return Err(StoreError::rejected(
                    field,
                    format!("no tag has the id {id}"),
                ));
            }
        }
    }
    Ok(())
}

async fn load_outcome(
    db: &impl ConnectionTrait,
    field: &str,
    id: i64,
) -> StoreResult<crm_domain::Outcome> {
    match outcome::Entity::find_by_id(id).one(db).await? {
        Some(row) => outcomes::convert(row),
        None => Err(StoreError::rejected(field, "no outcome has this id")),
    }
}

fn lifecycle_in(field: &str) -> impl Fn(crm_domain::LifecycleError) -> StoreError + '_ {
    use crm_domain::LifecycleError as L;
    move |e| match e {
        L::OutcomeKeepsPlanned(_) | L::InactiveOutcome(_) | L::OutcomeDoesNotFit { .. } => {
            StoreError::rejected(field, e.to_string())
        }
        other => StoreError::Lifecycle(other),
    }
}

// ---------------------------------------------------------------------------------------
// Writing

async fn set_tags(db: &impl ConnectionTrait, task_id: i64, tag_ids: &[i64]) -> StoreResult<()> {
    task_tag::Entity::delete_many()
        .filter(task_tag::Column::TaskId.eq(task_id))
        .exec(db)
        .await?;
    let mut unique = tag_ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if !unique.is_empty() {
        let rows = unique.into_iter().map(|tag_id| task_tag::ActiveModel {
            task_id: Set(task_id),
            tag_id: Set(tag_id),
        });
        task_tag::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn note_entry(id: i64, new: &NewTask, actor: i64, at: DateTime<Utc>) -> NewEntry {
    let mut summary: String = new.description.chars().take(200).collect();
    if new.description.chars().count() > 200 {
        summary.push('…');
    }
    NewEntry {
        customer_id: new.customer_id,
        kind: "note",
        occurred_at: at,
        actor_id: Some(actor),
        summary,
        data: json!({"task_id": id, "type_id": new.type_id, "outcome_id": new.outcome_id, "description": new.description}),
        task_id: Some(id),
    }
}

/// Inserts a task or note after checking everything it refers to; returns its id.
async fn insert(
    db: &impl ConnectionTrait,
    mut new: NewTask,
    parent_id: Option<i64>,
    creator: i64,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    let customer = customer::Entity::find_by_id(new.customer_id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::rejected("customer_id", "no customer has this id"))?;
    check_type(db, "type_id", new.type_id).await?;
    check_tags(db, "tag_ids", &new.tag_ids).await?;
    if let Some(r) = new.responsible_id {
        check_operator(db, "responsible_id", r).await?;
    }
    let outcome_id = match (new.outcome_id, new.kind) {
        (Some(id), _) => Some(id),
        (None, TaskKind::Task) => Some(settings_repo::get(db).await?.default_task_outcome_id),
        (None, TaskKind::Note) => None,
    };
    let outcome = match outcome_id {
        Some(id) => Some(load_outcome(db, "outcome_id", id).await?),
        None => None,
    };
    let opening =
        lifecycle::open(new.kind, outcome.as_ref()).map_err(lifecycle_in("outcome_id"))?;
    new.outcome_id = opening.outcome_id;
    let responsible = default_responsible(new.responsible_id, customer.consultant_id, creator);
    let row = task::ActiveModel {
        kind: Set(new.kind.as_str().to_owned()),
        customer_id: Set(new.customer_id),
        description: Set(new.description.clone()),
        type_id: Set(new.type_id),
        scheduled_date: Set(new.scheduled_date),
        scheduled_time: Set(new.scheduled_time),
        scheduled_at: Set(lifecycle::scheduled_at(
            new.scheduled_date,
            new.scheduled_time,
        )),
        creator_id: Set(creator),
        responsible_id: Set(responsible),
        created_at: Set(now),
        status: Set(opening.status.as_str().to_owned()),
        outcome_id: Set(opening.outcome_id),
        parent_id: Set(parent_id),
        taken_by_id: Set(None),
        taken_at: Set(None),
        closed_at: Set(opening.closed.then_some(now)),
        closed_by_id: Set(opening.closed.then_some(creator)),
        version: Set(1),
        updated_at: Set(now),
        ..Default::default()
    };
    let id = task::Entity::insert(row).exec(db).await?.last_insert_id;
    set_tags(db, id, &new.tag_ids).await?;
    if new.kind == TaskKind::Note {
        timeline::record(db, vec![note_entry(id, &new, creator, now)]).await?;
    }
    Ok(id)
}

pub async fn create(db: &DatabaseConnection, new: NewTask, creator: i64) -> StoreResult<TaskView> {
    let txn = crate::write_txn(db).await?;
    let id = insert(&txn, new, None, creator, crate::now()).await?;
    let view = get(&txn, id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Loads the task row for a step, checking `If-Match` when given.
async fn load_for_step(
    db: &impl ConnectionTrait,
    id: i64,
    expected_version: Option<i32>,
) -> StoreResult<task::Model> {
    let row = task::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    if expected_version.is_some_and(|v| v != row.version) {
        return Err(StoreError::VersionConflict);
    }
    Ok(row)
}

fn state_of(row: &task::Model) -> StoreResult<TaskState> {
    Ok(TaskState {
        kind: row.kind.parse().map_err(corrupt)?,
        status: row.status.parse().map_err(corrupt)?,
        taken_by: row.taken_by_id,
    })
}

/// Applies `changes` to the task only if it still has the version read; a concurrent step
/// that got there first makes this one a conflict (412 when the client named the version).
async fn update_if_current(
    db: &impl ConnectionTrait,
    row: &task::Model,
    expected_version: Option<i32>,
    changes: impl FnOnce(sea_orm::UpdateMany<task::Entity>) -> sea_orm::UpdateMany<task::Entity>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let update = task::Entity::update_many()
        .col_expr(task::Column::Version, Expr::val(row.version + 1))
        .col_expr(task::Column::UpdatedAt, Expr::val(now))
        .filter(task::Column::Id.eq(row.id))
        .filter(task::Column::Version.eq(row.version));
    let result = changes(update).exec(db).await?;
    if result.rows_affected == 0 {
        if expected_version.is_some() {
            return Err(StoreError::VersionConflict);
        }
        return Err(StoreError::Conflict(
            "The task was changed by another request at the same moment; read it again.".into(),
        ));
    }
    Ok(())
}

/// Next: closes the task with the outcome and creates the note or follow-up, in one transaction.
pub async fn next(
    db: &DatabaseConnection,
    id: i64,
    cmd: NextCommand,
    actor: Actor,
    expected_version: Option<i32>,
) -> StoreResult<(TaskView, Option<TaskView>)> {
    let txn = crate::write_txn(db).await?;
    let row = load_for_step(&txn, id, expected_version).await?;
    let outcome = load_outcome(&txn, "outcome_id", cmd.outcome_id).await?;
    let closing = state_of(&row)?
        .next(&outcome, cmd.action)
        .map_err(lifecycle_in("outcome_id"))?;
    let now = crate::now();
    update_if_current(
        &txn,
        &row,
        expected_version,
        |u| {
            u.col_expr(task::Column::Status, Expr::val(closing.status.as_str()))
                .col_expr(task::Column::OutcomeId, Expr::val(closing.outcome_id))
                .col_expr(task::Column::ClosedAt, Expr::val(now))
                .col_expr(task::Column::ClosedById, Expr::val(actor.id))
        },
        now,
    )
    .await?;
    let type_name = task_type::Entity::find_by_id(row.type_id)
        .one(&txn)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    timeline::record(
        &txn,
        vec![NewEntry {
            customer_id: row.customer_id,
            kind: "task_closed",
            occurred_at: now,
            actor_id: Some(actor.id),
            summary: format!(
                "{type_name} closed as {}: {}",
                outcome.name,
                row.description.chars().take(160).collect::<String>()
            ),
            data: json!({
                "task_id": row.id,
                "outcome": {"id": outcome.id, "name": outcome.name},
                "status": closing.status.as_str(),
                "type": {"id": row.type_id, "name": type_name},
                "action": match cmd.action {
                    NextAction::Close => "close",
                    NextAction::CloseWithNote => "close_with_note",
                    NextAction::Continue => "continue",
                },
            }),
            task_id: Some(row.id),
        }],
    )
    .await?;
    let created = match (cmd.action, cmd.successor) {
        (NextAction::Close, _) => None,
        (action, Some(s)) => {
            let note = action == NextAction::CloseWithNote;
            let new = NewTask {
                kind: if note { TaskKind::Note } else { TaskKind::Task },
                customer_id: row.customer_id,
                description: s.description,
                type_id: s.type_id,
                tag_ids: s.tag_ids,
                scheduled_date: s.scheduled_date,
                scheduled_time: s.scheduled_time,
                responsible_id: s.responsible_id,
                outcome_id: if note {
                    s.outcome_id.or(Some(closing.outcome_id))
                } else {
                    None
                },
            };
            let field = if note { "note" } else { "follow_up" };
            let new_id = insert(&txn, new, Some(row.id), actor.id, now)
                .await
                .map_err(|e| match e {
                    StoreError::Rejected { field: f, message } => StoreError::Rejected {
                        field: format!("{field}.{f}"),
                        message,
                    },
                    other => other,
                })?;
            Some(get(&txn, new_id).await?)
        }
        (_, None) => {
            return Err(StoreError::rejected(
                if cmd.action == NextAction::CloseWithNote {
                    "note"
                } else {
                    "follow_up"
                },
                "this action needs it",
            ));
        }
    };
    let view = get(&txn, id).await?;
    txn.commit().await?;
    Ok((view, created))
}

/// Reopen: a closed task goes back to planned with the default outcome, if the settings allow.
pub async fn reopen(
    db: &DatabaseConnection,
    id: i64,
    actor: Actor,
    expected_version: Option<i32>,
) -> StoreResult<TaskView> {
    let txn = crate::write_txn(db).await?;
    let row = load_for_step(&txn, id, expected_version).await?;
    let settings = settings_repo::get(&txn).await?;
    state_of(&row)?.reopen(settings.reopen_tasks, actor.role)?;
    let now = crate::now();
    let default_outcome = settings.default_task_outcome_id;
    update_if_current(
        &txn,
        &row,
        expected_version,
        |u| {
            u.col_expr(
                task::Column::Status,
                Expr::val(TaskStatus::Planned.as_str()),
            )
            .col_expr(task::Column::OutcomeId, Expr::val(default_outcome))
            .col_expr(
                task::Column::ClosedAt,
                Expr::val(Option::<DateTime<Utc>>::None),
            )
            .col_expr(task::Column::ClosedById, Expr::val(Option::<i64>::None))
        },
        now,
    )
    .await?;
    timeline::record(
        &txn,
        vec![NewEntry {
            customer_id: row.customer_id,
            kind: "task_reopened",
            occurred_at: now,
            actor_id: Some(actor.id),
            summary: format!("Reopened: {}", row.description.chars().take(160).collect::<String>()),
            data: json!({"task_id": row.id, "previous_status": row.status, "previous_outcome_id": row.outcome_id}),
            task_id: Some(row.id),
        }],
    )
    .await?;
    let view = get(&txn, id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Take charge of a planned priority task.
pub async fn take(db: &DatabaseConnection, id: i64, actor: Actor) -> StoreResult<TaskView> {
    let txn = crate::write_txn(db).await?;
    let row = load_for_step(&txn, id, None).await?;
    let priority = task_type::Entity::find_by_id(row.type_id)
        .one(&txn)
        .await?
        .is_some_and(|t| t.priority);
    if state_of(&row)?.take(priority, actor.id)? {
        let now = crate::now();
        update_if_current(
            &txn,
            &row,
            None,
            |u| {
                u.col_expr(task::Column::TakenById, Expr::val(actor.id))
                    .col_expr(task::Column::TakenAt, Expr::val(now))
            },
            now,
        )
        .await?;
    }
    let view = get(&txn, id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Edits a planned task, writing one `change` timeline entry per changed field.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    patch: TaskPatch,
    actor: Actor,
    expected_version: Option<i32>,
) -> StoreResult<TaskView> {
    let txn = crate::write_txn(db).await?;
    let row = load_for_step(&txn, id, expected_version).await?;
    state_of(&row)?.ensure_editable()?;
    if let Some(t) = patch.type_id {
        check_type(&txn, "type_id", t).await?;
    }
    if let Some(tags) = &patch.tag_ids {
        check_tags(&txn, "tag_ids", tags).await?;
    }
    if let Some(r) = patch.responsible_id {
        check_operator(&txn, "responsible_id", r).await?;
    }
    let before = get(&txn, id).await?;
    let mut changes: Vec<FieldChange> = Vec::new();
    let mut description = row.description.clone();
    crm_domain::customer::track(
        &mut changes,
        "description",
        &mut description,
        patch.description,
    );
    let mut type_id = row.type_id;
    crm_domain::customer::track(&mut changes, "type_id", &mut type_id, patch.type_id);
    let mut date = row.scheduled_date.to_string();
    crm_domain::customer::track(
        &mut changes,
        "scheduled_date",
        &mut date,
        patch.scheduled_date.map(|d| d.to_string()),
    );
    let mut time = row.scheduled_time.map(|t| t.format("%H:%M").to_string());
    crm_domain::customer::track(
        &mut changes,
        "scheduled_time",
        &mut time,
        patch
            .scheduled_time
            .map(|t| t.map(|t| t.format("%H:%M").to_string())),
    );
    let mut responsible = row.responsible_id;
    crm_domain::customer::track(
        &mut changes,
        "responsible_id",
        &mut responsible,
        patch.responsible_id,
    );
    let old_tags: Vec<i64> = before.tags.iter().map(|t| t.id).collect();
    let new_tags = patch.tag_ids.map(|mut t| {
        t.sort_unstable();
        t.dedup();
        t
    });
    let mut sorted_old = old_tags.clone();
    sorted_old.sort_unstable();
    let tags_changed = new_tags.as_ref().is_some_and(|t| *t != sorted_old);
    if tags_changed {
        let list = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        changes.push(FieldChange {
            field: "tag_ids",
            old: crm_domain::ChangeValue::Text(list(&sorted_old)),
            new: crm_domain::ChangeValue::Text(list(new_tags.as_deref().unwrap_or_default())),
        });
    }
    if changes.is_empty() {
        txn.commit().await?;
        return Ok(before);
    }
    let now = crate::now();
    let scheduled_date = patch.scheduled_date.unwrap_or(row.scheduled_date);
    let scheduled_time = patch.scheduled_time.unwrap_or(row.scheduled_time);
    update_if_current(
        &txn,
        &row,
        expected_version,
        |u| {
            u.col_expr(task::Column::Description, Expr::val(description))
                .col_expr(task::Column::TypeId, Expr::val(type_id))
                .col_expr(task::Column::ScheduledDate, Expr::val(scheduled_date))
                .col_expr(task::Column::ScheduledTime, Expr::val(scheduled_time))
                .col_expr(
                    task::Column::ScheduledAt,
                    Expr::val(lifecycle::scheduled_at(scheduled_date, scheduled_time)),
                )
                .col_expr(task::Column::ResponsibleId, Expr::val(responsible))
        },
        now,
    )
    .await?;
    if let (true, Some(tags)) = (tags_changed, &new_tags) {
        set_tags(&txn, id, tags).await?;
    }
    timeline::record(
        &txn,
        timeline::change_entries(
            row.customer_id,
            "task",
            id,
            Some(id),
            actor.id,
            now,
            &changes,
        ),
    )
    .await?;
    let view = get(&txn, id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Copy: a new task like this one, created now by `actor`. A task's copy is planned with the
/// default outcome; a note's copy is a note with the same outcome.
pub async fn copy(db: &DatabaseConnection, id: i64, actor: Actor) -> StoreResult<TaskView> {
    let txn = crate::write_txn(db).await?;
    let source = get(&txn, id).await?;
    let new = NewTask {
        kind: source.kind,
        customer_id: source.customer.id,
        description: source.description,
        type_id: source.task_type.id,
        tag_ids: source.tags.iter().map(|t| t.id).collect(),
        scheduled_date: source.scheduled_date,
        scheduled_time: source.scheduled_time,
        responsible_id: Some(source.responsible.id),
        outcome_id: match source.kind {
            TaskKind::Task => None,
            TaskKind::Note => source.outcome.map(|o| o.id),
        },
    };
    let new_id = insert(&txn, new, None, actor.id, crate::now()).await?;
    let view = get(&txn, new_id).await?;
    txn.commit().await?;
    Ok(view)
}

/// The whole chain `id` belongs to: its first ancestor and every descendant, oldest first.
pub async fn chain(db: &DatabaseConnection, id: i64) -> StoreResult<Vec<TaskView>> {
    let mut root = task::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    // Chains are short; a guard stops a cycle that a corrupted database might contain.
    for _ in 0..10_000 {
        let Some(parent) = root.parent_id else { break };
        match task::Entity::find_by_id(parent).one(db).await? {
            Some(p) => root = p,
            None => break,
        }
    }
    let mut members = vec![root.id];
    let mut level = vec![root.id];
    while !level.is_empty() && members.len() < 10_000 {
        let children = task::Entity::find()
            .filter(task::Column::ParentId.is_in(level.iter().copied()))
            .all(db)
            .await?;
        level = children
            .iter()
            .map(|c| c.id)
            .filter(|c| !members.contains(c))
            .collect();
        members.extend(&level);
    }
    let select = view_select()
        .and_where(Expr::col(("t", "id")).is_in(members))
        .order_by(("t", "created_at"), Order::Asc)
        .order_by(("t", "id"), Order::Asc)
        .to_owned();
    views(db, &select).await
}

// ---------------------------------------------------------------------------------------
// Listing

/// The columns a task list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskSort {
    ScheduledAt,
    CreatedAt,
    Customer,
    Type,
    Responsible,
    Status,
}

impl TaskSort {
    pub const ALL: [(&'static str, TaskSort); 6] = [
        ("scheduled_at", TaskSort::ScheduledAt),
        ("created_at", TaskSort::CreatedAt),
        ("customer", TaskSort::Customer),
        ("type", TaskSort::Type),
        ("responsible", TaskSort::Responsible),
        ("status", TaskSort::Status),
    ];

    fn column(self) -> (&'static str, &'static str) {
        match self {
            TaskSort::ScheduledAt => ("t", "scheduled_at"),
            TaskSort::CreatedAt => ("t", "created_at"),
            TaskSort::Customer => ("c", "name"),
            TaskSort::Type => ("ty", "name"),
            TaskSort::Responsible => ("rs", "name"),
            TaskSort::Status => ("t", "status"),
        }
    }

    /// The value of this key in `v`, as a cursor keeps it.
    pub fn key_of(self, v: &TaskView) -> serde_json::Value {
        match self {
            TaskSort::ScheduledAt => {
                json!(lifecycle::scheduled_at(v.scheduled_date, v.scheduled_time))
            }
            TaskSort::CreatedAt => json!(v.created_at),
            TaskSort::Customer => json!(v.customer.name),
            TaskSort::Type => json!(v.task_type.name),
            TaskSort::Responsible => json!(v.responsible.name),
            TaskSort::Status => json!(v.status.as_str()),
        }
    }

    /// A cursor's value back as a query value; `None` when it has the wrong shape.
    fn value(self, key: &serde_json::Value) -> Option<Value> {
        match self {
            TaskSort::ScheduledAt => serde_json::from_value::<NaiveDateTime>(key.clone())
                .ok()
                .map(Into::into),
            TaskSort::CreatedAt => serde_json::from_value::<DateTime<Utc>>(key.clone())
                .ok()
                .map(Into::into),
            _ => key.as_str().map(|s| s.to_owned().into()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub customer_id: Option<i64>,
    pub kind: Option<TaskKind>,
    pub status: Option<TaskStatus>,
    pub type_id: Option<i64>,
    pub tag_id: Option<i64>,
    pub responsible_id: Option<i64>,
    pub creator_id: Option<i64>,
    pub team_id: Option<i64>,
    /// Created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    pub scheduled_from: Option<NaiveDate>,
    pub scheduled_to: Option<NaiveDate>,
    pub q: Option<String>,
    /// Only tasks of priority types (`Some(true)`) or of other types (`Some(false)`).
    pub priority: Option<bool>,
    /// Only tasks taken in charge (`Some(true)`) or nobody has taken (`Some(false)`).
    pub taken: Option<bool>,
    /// Only tasks of agenda-visible types.
    pub agenda_only: bool,
}

#[derive(Debug, Clone)]
pub struct TaskQuery {
    pub filter: TaskFilter,
    /// Sort keys, each descending or not; `id` breaks ties in the first key's direction.
    pub sort: Vec<(TaskSort, bool)>,
    /// The previous page's last keys (one per sort key) and id.
    pub after: Option<(Vec<serde_json::Value>, i64)>,
    pub limit: u64,
}

fn apply_filter(q: &mut SelectStatement, f: &TaskFilter) {
    let eq = |q: &mut SelectStatement, col: (&'static str, &'static str), v: Option<i64>| {
        if let Some(v) = v {
            q.and_where(Expr::col(col).eq(v));
        }
    };
    eq(q, ("t", "customer_id"), f.customer_id);
    eq(q, ("t", "type_id"), f.type_id);
    eq(q, ("t", "responsible_id"), f.responsible_id);
    eq(q, ("t", "creator_id"), f.creator_id);
    eq(q, ("rs", "team_id"), f.team_id);
    if let Some(kind) = f.kind {
        q.and_where(Expr::col(("t", "kind")).eq(kind.as_str()));
    }
    if let Some(status) = f.status {
        q.and_where(Expr::col(("t", "status")).eq(status.as_str()));
    }
    if let Some(tag) = f.tag_id {
        q.and_where(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from_as("task_tags", "ft")
                .and_where(Expr::col(("ft", "task_id")).equals(("t", "id")))
                .and_where(Expr::col(("ft", "tag_id")).eq(tag))
                .to_owned(),
        ));
    }
    if let Some(from) = f.created_from {
        q.and_where(Expr::col(("t", "created_at")).gte(from));
    }
    if let Some(before) = f.created_before {
        q.and_where(Expr::col(("t", "created_at")).lt(before));
    }
    if let Some(from) = f.scheduled_from {
        q.and_where(Expr::col(("t", "scheduled_date")).gte(from));
    }
    if let Some(to) = f.scheduled_to {
        q.and_where(Expr::col(("t", "scheduled_date")).lte(to));
    }
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q.and_where(
            Expr::expr(Func::lower(Expr::col(("t", "description"))))
                .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    if let Some(priority) = f.priority {
        q.and_where(Expr::col(("ty", "priority")).eq(priority));
    }
    match f.taken {
        Some(true) => {
            q.and_where(Expr::col(("t", "taken_by_id")).is_not_null());
        }
        Some(false) => {
            q.and_where(Expr::col(("t", "taken_by_id")).is_null());
        }
        None => {}
    }
    if f.agenda_only {
        q.and_where(Expr::col(("ty", "visible_in_agenda")).eq(true));
    }
}

/// Rows after `(values, id)` in the lexicographic order of `keys` then id. When every key
/// runs the same way, a row comparison `(a, b, id) > (x, y, z)`, which both databases answer
/// with one index range scan; mixed directions need the expanded form.
fn after_condition(keys: &[(TaskSort, bool)], values: &[Value], id: i64) -> Condition {
    let id_desc = keys.first().is_some_and(|(_, desc)| *desc);
    let mut columns: Vec<(Expr, bool, Value)> = keys
        .iter()
        .zip(values)
        .map(|((k, desc), v)| (Expr::col(k.column()), *desc, v.clone()))
        .collect();
    columns.push((Expr::col(("t", "id")), id_desc, id.into()));
    if columns.iter().all(|(_, desc, _)| *desc == id_desc) {
        let left = Expr::tuple(columns.iter().map(|(c, _, _)| c.clone()));
        let right = Expr::tuple(columns.iter().map(|(_, _, v)| Expr::val(v.clone())));
        return Condition::all().add(if id_desc {
            left.lt(right)
        } else {
            left.gt(right)
        });
    }
    let mut any = Condition::any();
    for i in 0..columns.len() {
        let mut all = Condition::all();
        for (col, _, v) in &columns[..i] {
            all = all.add(col.clone().eq(v.clone()));
        }
        let (col, desc, v) = &columns[i];
        all = all.add(if *desc {
            col.clone().lt(v.clone())
        } else {
            col.clone().gt(v.clone())
        });
        any = any.add(all);
    }
    any
}

pub async fn list(db: &DatabaseConnection, query: TaskQuery) -> StoreResult<Page<TaskView>> {
    let limit = query.limit.clamp(1, paging::MAX_LIMIT);
    let mut select = view_select();
    apply_filter(&mut select, &query.filter);
    let keys = if query.sort.is_empty() {
        vec![(TaskSort::ScheduledAt, false)]
    } else {
        query.sort
    };
    if let Some((values, id)) = &query.after {
        let typed: Option<Vec<Value>> = keys
            .iter()
            .zip(values)
            .map(|((k, _), v)| k.value(v))
            .collect();
        match typed {
            Some(typed) if typed.len() == keys.len() => {
                select.cond_where(after_condition(&keys, &typed, *id));
            }
            _ => {
                return Err(StoreError::rejected(
                    "cursor",
                    "the cursor does not fit this sort",
                ));
            }
        }
    }
    for (key, desc) in &keys {
        select.order_by(key.column(), if *desc { Order::Desc } else { Order::Asc });
    }
    let id_desc = keys.first().is_some_and(|(_, d)| *d);
    select.order_by(("t", "id"), if id_desc { Order::Desc } else { Order::Asc });
    select.limit(limit + 1);
    let rows = views(db, &select).await?;
    Ok(paging::split(rows, limit))
}
