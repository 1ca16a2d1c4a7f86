//! Tasks and notes: creation, the lifecycle steps, listing. Each step writes all or nothing:
//! in one transaction, or (creation, copy and Next on PostgreSQL) in one statement, see
//! `crate::write`. Every change is conditional on the version that was read, so two
//! concurrent steps on one task give one success and one conflict.

use crate::Reader;
use crate::catalog::settings_repo;
use crate::columns::Columns;
use crate::entities::{task, task_tag};
use crate::names::{self, Catalog, Names};
use crate::paging::{self, Page};
use crate::timeline::{self, NewEntry};
use crate::write::{Close, Insert, Session, Step};
use crate::{StoreError, StoreResult};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use crm_domain::task::{self as lifecycle, default_responsible};
use crm_domain::{
    FieldChange, NextAction, Ref, Role, TaskKind, TaskState, TaskStatus, TaskTypeRef, TaskView,
};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, Func, JoinType, LikeExpr, Order, Query, SelectStatement,
    UpdateStatement,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    FromQueryResult, IntoActiveModel, QueryFilter, QueryResult, QueryTrait, Statement, Value,
};
use serde_json::json;

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

#[derive(Debug)]
struct TaskRow {
    id: i64,
    kind: String,
    customer_id: i64,
    customer_name: String,
    description: String,
    type_id: i64,
    scheduled_date: NaiveDate,
    scheduled_time: Option<NaiveTime>,
    created_at: DateTime<Utc>,
    creator_id: i64,
    responsible_id: i64,
    status: String,
    outcome_id: Option<i64>,
    parent_id: Option<i64>,
    taken_by_id: Option<i64>,
    taken_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    closed_by_id: Option<i64>,
    version: i32,
    /// The task's tag ids, comma-separated (`NULL` without tags).
    tag_ids: Option<String>,
    catalog_version: i64,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Type(e.to_string()))
}

/// A task as stored, with its customer's name and tag ids, named from the catalog.
struct Stored {
    row: task::Model,
    customer_name: String,
    tag_ids: Vec<i64>,
}

impl Stored {
    fn into_view(self, names: &Catalog) -> StoreResult<TaskView> {
        let row = self.row;
        let ty = names
            .task_type(row.type_id)
            .ok_or_else(|| corrupt(format!("task type {} is not in the catalog", row.type_id)))?;
        let mut tags = self
            .tag_ids
            .iter()
            .map(|id| names.tag_ref(*id))
            .collect::<StoreResult<Vec<Ref>>>()?;
        tags.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        let optional = |id: Option<i64>, f: &dyn Fn(i64) -> StoreResult<Ref>| id.map(f).transpose();
        Ok(TaskView {
            id: row.id,
            kind: row.kind.parse().map_err(corrupt)?,
            customer: Ref {
                id: row.customer_id,
                name: self.customer_name,
            },
            description: row.description,
            task_type: TaskTypeRef {
                id: ty.id,
                name: ty.name.clone(),
                color: ty.color.clone(),
                priority: ty.priority,
            },
            tags,
            scheduled_date: row.scheduled_date,
            scheduled_time: row.scheduled_time,
            created_at: row.created_at,
            creator: names.operator_ref(row.creator_id)?,
            responsible: names.operator_ref(row.responsible_id)?,
            status: row.status.parse().map_err(corrupt)?,
            outcome: optional(row.outcome_id, &|id| names.outcome_ref(id))?,
            parent_id: row.parent_id,
            taken_by: optional(row.taken_by_id, &|id| names.operator_ref(id))?,
            taken_at: row.taken_at,
            closed_at: row.closed_at,
            closed_by: optional(row.closed_by_id, &|id| names.operator_ref(id))?,
            version: row.version,
        })
    }
}

fn parse_ids(list: Option<&str>) -> StoreResult<Vec<i64>> {
    list.map_or(Ok(Vec::new()), |s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.trim().parse::<i64>().map_err(corrupt))
            .collect()
    })
}

impl TaskRow {
    fn into_view(self, names: &Catalog) -> StoreResult<TaskView> {
        let tag_ids = parse_ids(self.tag_ids.as_deref())?;
        let model = task::Model {
            id: self.id,
            kind: self.kind,
            customer_id: self.customer_id,
            description: self.description,
            type_id: self.type_id,
            scheduled_date: self.scheduled_date,
            scheduled_time: self.scheduled_time,
            scheduled_at: lifecycle::scheduled_at(self.scheduled_date, self.scheduled_time),
            creator_id: self.creator_id,
            responsible_id: self.responsible_id,
            created_at: self.created_at,
            status: self.status,
            outcome_id: self.outcome_id,
            parent_id: self.parent_id,
            taken_by_id: self.taken_by_id,
            taken_at: self.taken_at,
            closed_at: self.closed_at,
            closed_by_id: self.closed_by_id,
            version: self.version,
            updated_at: self.created_at,
        };
        Stored {
            row: model,
            customer_name: self.customer_name,
            tag_ids,
        }
        .into_view(names)
    }
}

/// The task columns a view reads, in the order [`TaskRow`] decodes them; the customer's
/// name, the tag ids and the catalog version follow (`from_tasks`).
const VIEW_COLUMNS: [&str; 18] = [
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
];

/// The task columns, the customer's name, the tag ids and the catalog version, in one
/// query; the catalog names the rest.
fn view_select() -> SelectStatement {
    let mut q = Query::select();
    for col in VIEW_COLUMNS {
        q.column(("t", col));
    }
    from_tasks(&mut q);
    q
}

impl TaskRow {
    /// The rows of `statement`, a [`view_select`].
    async fn all(
        db: &impl ConnectionTrait,
        statement: sea_orm::Statement,
    ) -> StoreResult<Vec<Self>> {
        Columns::decode_all(db, statement, Self::decode).await
    }

    /// A row of [`view_select`], decoded by position. Decoded by name, each column of each
    /// row was looked up in the row's map of column names, 1,050 lookups for a page of 50
    /// tasks; by position, GET a task answered some 6% more requests a second and a page of
    /// tasks 4-10%.
    fn decode(row: Columns<'_>) -> Result<Self, sea_orm::DbErr> {
        Ok(Self {
            id: row.get(0)?,
            kind: row.get(1)?,
            customer_id: row.get(2)?,
            description: row.get(3)?,
            type_id: row.get(4)?,
            scheduled_date: row.get(5)?,
            scheduled_time: row.get(6)?,
            created_at: row.get(7)?,
            creator_id: row.get(8)?,
            responsible_id: row.get(9)?,
            status: row.get(10)?,
            outcome_id: row.get(11)?,
            parent_id: row.get(12)?,
            taken_by_id: row.get(13)?,
            taken_at: row.get(14)?,
            closed_at: row.get(15)?,
            closed_by_id: row.get(16)?,
            version: row.get(17)?,
            customer_name: row.get(VIEW_COLUMNS.len())?,
            tag_ids: row.get(VIEW_COLUMNS.len() + 1)?,
            catalog_version: row.get(VIEW_COLUMNS.len() + 2)?,
        })
    }
}

impl TaskRow {
    /// The rows of `statement` (a [`view_select`]) for a request: on SQLite read on the
    /// calling thread where they can be (see `crate::inline`), through `reader` otherwise.
    async fn read(reader: &Reader<'_>, statement: sea_orm::Statement) -> StoreResult<Vec<Self>> {
        match reader.inline(&statement, Self::decode_sqlite) {
            Some(rows) => Ok(rows),
            None => Self::all(reader, statement).await,
        }
    }

    /// A row of [`view_select`] read by rusqlite (`crate::inline`), its values taken as sqlx
    /// takes them; `None` for one it would not decode.
    fn decode_sqlite(row: &rusqlite::Row<'_>) -> Option<Self> {
        use crate::inline::{date, date_time, optional, time};
        let value = |i: usize| row.get_ref(i).ok();
        Some(Self {
            id: row.get(0).ok()?,
            kind: row.get(1).ok()?,
            customer_id: row.get(2).ok()?,
            description: row.get(3).ok()?,
            type_id: row.get(4).ok()?,
            scheduled_date: date(value(5)?)?,
            scheduled_time: optional(value(6)?, time)?,
            created_at: date_time(value(7)?)?,
            creator_id: row.get(8).ok()?,
            responsible_id: row.get(9).ok()?,
            status: row.get(10).ok()?,
            outcome_id: row.get(11).ok()?,
            parent_id: row.get(12).ok()?,
            taken_by_id: row.get(13).ok()?,
            taken_at: optional(value(14)?, date_time)?,
            closed_at: optional(value(15)?, date_time)?,
            closed_by_id: row.get(16).ok()?,
            version: row.get(17).ok()?,
            customer_name: row.get(VIEW_COLUMNS.len()).ok()?,
            tag_ids: row.get(VIEW_COLUMNS.len() + 1).ok()?,
            catalog_version: row.get(VIEW_COLUMNS.len() + 2).ok()?,
        })
    }
}

/// `FROM tasks t`, selecting the customer's name, the tag ids and the catalog version. The
/// name and the tag ids are kept on the task's row by triggers (migrations 10 and 11), so a
/// view reads `tasks` alone.
fn from_tasks(q: &mut SelectStatement) {
    q.expr_as(Expr::col(("t", "customer_name")), "customer_name")
        .expr_as(Expr::col(("t", "tag_ids")), "tag_ids")
        .expr_as(Expr::cust(names::VERSION_EXPR), "catalog_version")
        .from_as("tasks", "t");
}

/// Joins `table` as `alias` on `alias.id = t.column`. On SQLite the join is written
/// `CROSS JOIN`, which its planner never reorders, so `tasks` stays the outer loop and its
/// index gives the page in order: left free, the planner walked customers by name (or a
/// team's operators) and sorted their tasks afterwards, 600 ms for page 1,000 of a list
/// instead of 0.5 ms.
fn join_to_task(
    q: &mut SelectStatement,
    backend: DbBackend,
    table: &'static str,
    alias: &'static str,
    column: &'static str,
) {
    let on = Expr::col((alias, "id")).equals(("t", column));
    match backend {
        // A cross join takes no ON clause: the condition goes into WHERE.
        DbBackend::Sqlite => {
            q.join_as(JoinType::CrossJoin, table, alias, Condition::all())
                .and_where(on);
        }
        _ => {
            q.join_as(JoinType::InnerJoin, table, alias, on);
        }
    }
}

/// The default outcome of new tasks, as a column.
const DEFAULT_OUTCOME_EXPR: &str = "(SELECT default_task_outcome_id FROM settings WHERE id = 1)";

/// Joins the table a filter or sort needs beyond the view's own (`ty` for task types, `rs`
/// for the responsible operator), once.
fn join_for(
    q: &mut SelectStatement,
    backend: DbBackend,
    joined: &mut Vec<&'static str>,
    alias: &'static str,
) {
    if joined.contains(&alias) {
        return;
    }
    joined.push(alias);
    let (table, column) = match alias {
        "ty" => ("task_types", "type_id"),
        _ => ("operators", "responsible_id"),
    };
    join_to_task(q, backend, table, alias, column);
}

/// The views of the tasks `statement` (a [`view_select`]) finds.
async fn views(
    db: &impl ConnectionTrait,
    names: &Names,
    statement: sea_orm::Statement,
) -> StoreResult<Vec<TaskView>> {
    named_rows(db, names, TaskRow::all(db, statement).await?).await
}

/// `rows` as views, named from the catalog they were read at or a later one.
async fn named_rows(
    db: &impl ConnectionTrait,
    names: &Names,
    rows: Vec<TaskRow>,
) -> StoreResult<Vec<TaskView>> {
    let Some(version) = rows.iter().map(|r| r.catalog_version).max() else {
        return Ok(Vec::new());
    };
    named(db, names, rows, version).await
}

/// `rows` as views, named from the catalog at `version` (the one they were read at) or later.
async fn named(
    db: &impl ConnectionTrait,
    names: &Names,
    rows: Vec<TaskRow>,
    version: i64,
) -> StoreResult<Vec<TaskView>> {
    let catalog = names.at_least(db, version).await?;
    rows.into_iter().map(|r| r.into_view(&catalog)).collect()
}

pub async fn get(db: &impl ConnectionTrait, names: &Names, id: i64) -> StoreResult<TaskView> {
    views(db, names, get_statement(db.get_database_backend(), id))
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// [`get`] for a request: on PostgreSQL the reads that arrive together go in one statement
/// (see `crate::loads`); on SQLite the row is read on the calling thread where it can be (see
/// `crate::inline`), through `reader` otherwise.
pub async fn read(reader: &Reader<'_>, names: &Names, id: i64) -> StoreResult<TaskView> {
    let backend = reader.get_database_backend();
    let rows = match backend {
        DbBackend::Postgres => {
            let rows = crate::loads::Loads::load(reader, |h| &h.task_reads, id).await?;
            rows.iter()
                .map(|row| TaskRow::decode(Columns::of(row)))
                .collect::<Result<_, _>>()?
        }
        _ => TaskRow::read(reader, get_statement(backend, id)).await?,
    };
    named_rows(reader, names, rows)
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// The statement of [`read`] for several tasks at once (PostgreSQL; see `crate::loads`).
pub(crate) fn views_statement(ids: &[&i64]) -> Statement {
    let select = view_select()
        .and_where(Expr::col(("t", "id")).is_in(ids.iter().map(|id| **id)))
        .to_owned();
    DbBackend::Postgres.build(&select)
}

/// The statement of [`get`]. Its text is the same for every task (the id is bound), so it
/// is built once per backend: building it at each request was some 8% of the server's CPU
/// on GET a task (`perf record`).
fn get_statement(backend: DbBackend, id: i64) -> sea_orm::Statement {
    static SQL: [std::sync::OnceLock<String>; 3] = [const { std::sync::OnceLock::new() }; 3];
    let cell = match backend {
        DbBackend::Postgres => &SQL[0],
        DbBackend::Sqlite => &SQL[1],
        _ => &SQL[2],
    };
    let sql = cell.get_or_init(|| {
        let select = view_select()
            .and_where(Expr::col(("t", "id")).eq(0i64))
            .to_owned();
        backend.build(&select).sql
    });
    sea_orm::Statement::from_sql_and_values(backend, sql.clone(), [id.into()])
}

// ---------------------------------------------------------------------------------------
// Checks on what a task refers to

fn check_type(names: &Catalog, field: &str, id: i64) -> StoreResult<()> {
    match names.task_type(id) {
        Some(t) if t.active => Ok(()),
        Some(t) => Err(StoreError::rejected(
            field,
            format!("task type '{}' is inactive", t.name),
        )),
        None => Err(StoreError::rejected(field, "no task type has this id")),
    }
}

fn check_operator(names: &Catalog, field: &str, id: i64) -> StoreResult<()> {
    match names.operator(id) {
        Some(o) if o.active => Ok(()),
        Some(o) => Err(StoreError::rejected(
            field,
            format!("operator '{}' is inactive", o.name),
        )),
        None => Err(StoreError::rejected(field, "no operator has this id")),
    }
}

fn check_tags(names: &Catalog, field: &str, ids: &[i64]) -> StoreResult<()> {
    for id in ids {
        match names.tag(*id) {
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

fn load_outcome(names: &Catalog, field: &str, id: i64) -> StoreResult<crm_domain::Outcome> {
    names
        .outcome(id)
        .cloned()
        .ok_or_else(|| StoreError::rejected(field, "no outcome has this id"))
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

/// `ids` in order, without repeats.
fn unique(ids: &[i64]) -> Vec<i64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The `task_tags` rows giving task `task_id` the tags `tag_ids`.
fn tag_rows(task_id: i64, tag_ids: &[i64]) -> impl Iterator<Item = task_tag::ActiveModel> + '_ {
    tag_ids.iter().map(move |tag_id| task_tag::ActiveModel {
        task_id: Set(task_id),
        tag_id: Set(*tag_id),
    })
}

/// Replaces a task's tags with `tag_ids` (given without repeats).
async fn set_tags(db: &impl ConnectionTrait, task_id: i64, tag_ids: &[i64]) -> StoreResult<()> {
    task_tag::Entity::delete_many()
        .filter(task_tag::Column::TaskId.eq(task_id))
        .exec(db)
        .await?;
    if !tag_ids.is_empty() {
        task_tag::Entity::insert_many(tag_rows(task_id, tag_ids))
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

/// What a new task needs to know of its customer and of the settings, read in one query
/// with the catalog version.
#[derive(Debug, Clone, FromQueryResult)]
struct Target {
    name: String,
    consultant_id: Option<i64>,
    default_outcome_id: i64,
    catalog_version: i64,
}

/// The id the next task will have, taken as a column of the step's read so that the rows
/// naming the new task are written with it. On PostgreSQL a value of the sequence behind
/// `tasks.id` (named as PostgreSQL names it; one taken and not used leaves a gap, as a
/// failed insert does); on SQLite the table's autoincrement counter plus one, which the
/// step's write transaction keeps for it.
fn next_task_id(backend: DbBackend) -> Expr {
    Expr::cust(match backend {
        DbBackend::Postgres => "nextval('tasks_id_seq')",
        _ => "(SELECT COALESCE(MAX(seq), 0) + 1 FROM sqlite_sequence WHERE name = 'tasks')",
    })
}

/// The customer a new task is for, with the new task's id.
async fn target(db: &impl ConnectionTrait, customer_id: i64) -> StoreResult<(Target, i64)> {
    let backend = db.get_database_backend();
    let q = Query::select()
        .expr_as(Expr::col(("c", "name")), "name")
        .expr_as(Expr::col(("c", "consultant_id")), "consultant_id")
        .expr_as(Expr::cust(DEFAULT_OUTCOME_EXPR), "default_outcome_id")
        .expr_as(Expr::cust(names::VERSION_EXPR), "catalog_version")
        .expr_as(next_task_id(backend), "new_task_id")
        .from_as("customers", "c")
        .and_where(Expr::col(("c", "id")).eq(customer_id))
        .to_owned();
    let row = db
        .query_one_raw(backend.build(&q))
        .await?
        .ok_or_else(|| StoreError::rejected("customer_id", "no customer has this id"))?;
    Ok((
        Target::from_query_result(&row, "")?,
        row.try_get("", "new_task_id")?,
    ))
}

/// Adds to `step` a task or note `id` for `customer`, after checking everything it refers
/// to, with its tags and (for a note) its timeline entry; returns its view.
#[allow(clippy::too_many_arguments)]
fn insert(
    step: &mut Step,
    names: &Catalog,
    customer: &Target,
    mut new: NewTask,
    id: i64,
    parent_id: Option<i64>,
    creator: i64,
    now: DateTime<Utc>,
) -> StoreResult<TaskView> {
    check_type(names, "type_id", new.type_id)?;
    check_tags(names, "tag_ids", &new.tag_ids)?;
    if let Some(r) = new.responsible_id {
        check_operator(names, "responsible_id", r)?;
    }
    let outcome_id = match (new.outcome_id, new.kind) {
        (Some(id), _) => Some(id),
        (None, TaskKind::Task) => Some(customer.default_outcome_id),
        (None, TaskKind::Note) => None,
    };
    let outcome = match outcome_id {
        Some(id) => Some(load_outcome(names, "outcome_id", id)?),
        None => None,
    };
    let opening =
        lifecycle::open(new.kind, outcome.as_ref()).map_err(lifecycle_in("outcome_id"))?;
    new.outcome_id = opening.outcome_id;
    let row = task::Model {
        id,
        kind: new.kind.as_str().to_owned(),
        customer_id: new.customer_id,
        description: new.description.clone(),
        type_id: new.type_id,
        scheduled_date: new.scheduled_date,
        scheduled_time: new.scheduled_time,
        scheduled_at: lifecycle::scheduled_at(new.scheduled_date, new.scheduled_time),
        creator_id: creator,
        responsible_id: default_responsible(new.responsible_id, customer.consultant_id, creator),
        created_at: now,
        status: opening.status.as_str().to_owned(),
        outcome_id: opening.outcome_id,
        parent_id,
        taken_by_id: None,
        taken_at: None,
        closed_at: opening.closed.then_some(now),
        closed_by_id: opening.closed.then_some(creator),
        version: 1,
        updated_at: now,
    };
    step.insert(Insert::of([row.clone().into_active_model()]));
    let tag_ids = unique(&new.tag_ids);
    step.insert(Insert::of(tag_rows(id, &tag_ids)));
    if new.kind == TaskKind::Note {
        step.insert(timeline::insert_of(vec![note_entry(
            id, &new, creator, now,
        )]));
    }
    Stored {
        row,
        customer_name: customer.name.clone(),
        tag_ids,
    }
    .into_view(names)
}

/// Creates a task or note: one statement on PostgreSQL, one transaction on SQLite.
pub async fn create(
    db: Reader<'_>,
    names: &Names,
    new: NewTask,
    creator: i64,
) -> StoreResult<TaskView> {
    let session = Session::begin(db).await?;
    let view = create_in(&session, names, new, creator).await?;
    session.finish().await?;
    Ok(view)
}

/// Writes a new task or note in `session`, reading its customer first.
async fn create_in(
    session: &Session<'_>,
    names: &Names,
    new: NewTask,
    creator: i64,
) -> StoreResult<TaskView> {
    let (customer, id) = target(session, new.customer_id).await?;
    let catalog = names.at_least(session, customer.catalog_version).await?;
    let mut step = Step::default();
    let now = crate::now();
    let view = insert(&mut step, &catalog, &customer, new, id, None, creator, now)?;
    session.apply(step).await?;
    Ok(view)
}

/// A task read for a step: the row, what a successor needs of the customer, its tag ids
/// and the catalog version, in one query; with the id a new task would take, when asked.
struct Loaded {
    row: task::Model,
    customer: Target,
    tag_ids: Vec<i64>,
    new_task_id: Option<i64>,
}

/// The read of a step's task: the row and what [`Loaded`] holds, the new task id when
/// `new_task_id` (an expression) is given.
fn step_select(backend: DbBackend, new_task_id: Option<Expr>) -> SelectStatement {
    use sea_orm::sea_query::{Alias, Asterisk};
    let mut q = Query::select();
    q.column((Alias::new("t"), Asterisk))
        .expr_as(Expr::col(("c", "consultant_id")), "customer_consultant_id")
        .expr_as(Expr::cust(DEFAULT_OUTCOME_EXPR), "default_outcome_id");
    if let Some(expr) = new_task_id {
        q.expr_as(expr, "new_task_id");
    }
    from_tasks(&mut q);
    join_to_task(&mut q, backend, "customers", "c", "customer_id");
    q
}

/// A Next's read of its task (PostgreSQL; see `crate::loads`).
#[derive(Debug)]
pub(crate) struct StepRead {
    pub(crate) id: i64,
    /// Whether it takes a new task id, for a follow-up.
    pub(crate) new_id: bool,
}

impl crate::loads::Ask for StepRead {
    fn key(&self) -> i64 {
        self.id
    }
}

/// The read of several steps' tasks at once (PostgreSQL), a new task id taken for each that
/// asks; its rows carry the task's `id` (see `crate::loads`).
pub(crate) fn steps_statement(reads: &[&StepRead]) -> Statement {
    let backend = DbBackend::Postgres;
    let ids = reads.iter().map(|r| r.id);
    let new_ids: Vec<i64> = reads.iter().filter(|r| r.new_id).map(|r| r.id).collect();
    let new_task_id = if new_ids.is_empty() {
        Expr::cust("CAST(NULL AS BIGINT)")
    } else {
        Expr::case(Expr::col(("t", "id")).is_in(new_ids), next_task_id(backend)).into()
    };
    let mut q = step_select(backend, Some(new_task_id));
    q.and_where(Expr::col(("t", "id")).is_in(ids));
    backend.build(&q)
}

/// Loads the task for a step, checking `If-Match` when given.
async fn load_for_step(
    db: &impl ConnectionTrait,
    id: i64,
    expected_version: Option<i32>,
    with_new_task_id: bool,
) -> StoreResult<Loaded> {
    let backend = db.get_database_backend();
    let mut q = step_select(backend, with_new_task_id.then(|| next_task_id(backend)));
    q.and_where(Expr::col(("t", "id")).eq(id));
    let result = db
        .query_one_raw(backend.build(&q))
        .await?
        .ok_or(StoreError::NotFound)?;
    loaded_from(&result, expected_version, with_new_task_id)
}

/// Loads the task for Next: on PostgreSQL the reads of Nexts that arrive together go in
/// one statement (see `crate::loads`).
async fn load_for_next(
    session: &Session<'_>,
    id: i64,
    expected_version: Option<i32>,
    with_new_task_id: bool,
) -> StoreResult<Loaded> {
    match session {
        Session::Single(reader) => {
            let read = StepRead {
                id,
                new_id: with_new_task_id,
            };
            let result = crate::loads::Loads::load(reader, |h| &h.step_reads, read)
                .await?
                .pop()
                .ok_or(StoreError::NotFound)?;
            loaded_from(&result, expected_version, with_new_task_id)
        }
        Session::Transaction(_) => {
            load_for_step(session, id, expected_version, with_new_task_id).await
        }
    }
}

/// What a step's read gave, checking `If-Match` when given.
fn loaded_from(
    result: &QueryResult,
    expected_version: Option<i32>,
    with_new_task_id: bool,
) -> StoreResult<Loaded> {
    let row = task::Model::from_query_result(result, "")?;
    if expected_version.is_some_and(|v| v != row.version) {
        return Err(StoreError::VersionConflict);
    }
    let customer = Target {
        name: result.try_get("", "customer_name")?,
        consultant_id: result.try_get("", "customer_consultant_id")?,
        default_outcome_id: result.try_get("", "default_outcome_id")?,
        catalog_version: result.try_get("", "catalog_version")?,
    };
    let tag_ids = parse_ids(result.try_get::<Option<String>>("", "tag_ids")?.as_deref())?;
    let new_task_id = if with_new_task_id {
        Some(result.try_get("", "new_task_id")?)
    } else {
        None
    };
    Ok(Loaded {
        row,
        customer,
        tag_ids,
        new_task_id,
    })
}

fn state_of(row: &task::Model) -> StoreResult<TaskState> {
    Ok(TaskState {
        kind: row.kind.parse().map_err(corrupt)?,
        status: row.status.parse().map_err(corrupt)?,
        taken_by: row.taken_by_id,
    })
}

/// The update of `changes` to the task, guarded by the version read: it matches no row when
/// a concurrent step got there first.
fn guarded(
    row: &task::Model,
    changes: impl FnOnce(sea_orm::UpdateMany<task::Entity>) -> sea_orm::UpdateMany<task::Entity>,
    now: DateTime<Utc>,
) -> UpdateStatement {
    let update = task::Entity::update_many()
        .col_expr(task::Column::Version, Expr::val(row.version + 1))
        .col_expr(task::Column::UpdatedAt, Expr::val(now))
        .filter(task::Column::Id.eq(row.id))
        .filter(task::Column::Version.eq(row.version));
    changes(update).into_query()
}

/// On PostgreSQL, makes `guard` take the customer's row `FOR SHARE` before it locks the task
/// (the condition is evaluated before the row it passes is locked). For a step that updates a
/// task and then inserts one: the insert takes that lock anyway (migration 11's trigger), and
/// a rename of the customer takes the customer's row before its tasks'; taken in the same
/// order, the two wait for each other instead of deadlocking.
fn customer_first(guard: &mut UpdateStatement, backend: DbBackend, customer_id: i64) {
    if backend != DbBackend::Postgres {
        return;
    }
    guard.and_where(Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from("customers")
            .and_where(Expr::col("id").eq(customer_id))
            .lock_shared()
            .to_owned(),
    ));
}

/// The error for a step whose guard matched no row: 412 when the client named the version.
fn stale(expected_version: Option<i32>) -> StoreError {
    if expected_version.is_some() {
        return StoreError::VersionConflict;
    }
    StoreError::Conflict(
        "The task was changed by another request at the same moment; read it again.".into(),
    )
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
    let result = db.execute(&guarded(row, changes, now)).await?;
    if result.rows_affected() == 0 {
        return Err(stale(expected_version));
    }
    Ok(())
}

/// Next: closes the task with the outcome and creates the note or follow-up, all or none
/// (one statement on PostgreSQL, one transaction on SQLite).
pub async fn next(
    db: Reader<'_>,
    names: &Names,
    id: i64,
    cmd: NextCommand,
    actor: Actor,
    expected_version: Option<i32>,
) -> StoreResult<(TaskView, Option<TaskView>)> {
    let session = Session::begin(db).await?;
    let successor = match (cmd.action, cmd.successor) {
        (NextAction::Close, _) => None,
        (_, Some(s)) => Some(s),
        (action, None) => {
            return Err(StoreError::rejected(
                if action == NextAction::CloseWithNote {
                    "note"
                } else {
                    "follow_up"
                },
                "this action needs it",
            ));
        }
    };
    let Loaded {
        row,
        customer,
        tag_ids,
        new_task_id,
    } = load_for_next(&session, id, expected_version, successor.is_some()).await?;
    let catalog = names.at_least(&session, customer.catalog_version).await?;
    let outcome = load_outcome(&catalog, "outcome_id", cmd.outcome_id)?;
    let closing = state_of(&row)?
        .next(&outcome, cmd.action)
        .map_err(lifecycle_in("outcome_id"))?;
    let now = crate::now();
    // The close as data, and the guard that writes it alone, from the same values.
    let close = Close {
        id: row.id,
        version: row.version,
        status: closing.status.as_str(),
        outcome_id: closing.outcome_id,
        closed_by_id: actor.id,
        at: now,
        customer_id: row.customer_id,
    };
    let mut step = Step {
        guard: Some(guarded(
            &row,
            |u| {
                u.col_expr(task::Column::Status, Expr::val(close.status))
                    .col_expr(task::Column::OutcomeId, Expr::val(close.outcome_id))
                    .col_expr(task::Column::ClosedAt, Expr::val(close.at))
                    .col_expr(task::Column::ClosedById, Expr::val(close.closed_by_id))
            },
            close.at,
        )),
        inserts: Vec::new(),
        close: None,
    };
    let type_name = catalog
        .task_type(row.type_id)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    step.insert(timeline::insert_of(vec![NewEntry {
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
    }]));
    let created = match successor {
        Some(s) => {
            let new_id = new_task_id.ok_or_else(|| corrupt("no id was taken for the new task"))?;
            let note = cmd.action == NextAction::CloseWithNote;
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
            let view = insert(
                &mut step,
                &catalog,
                &customer,
                new,
                new_id,
                Some(row.id),
                actor.id,
                now,
            )
            .map_err(|e| match e {
                StoreError::Rejected { field: f, message } => StoreError::Rejected {
                    field: format!("{field}.{f}"),
                    message,
                },
                other => other,
            })?;
            Some(view)
        }
        None => None,
    };
    if created.is_some()
        && let Some(guard) = step.guard.as_mut()
    {
        customer_first(guard, session.get_database_backend(), row.customer_id);
    }
    step.close = Some(close);
    if !session.apply(step).await? {
        return Err(stale(expected_version));
    }
    session.finish().await?;
    // The closed task as the update above left it.
    let closed = task::Model {
        status: closing.status.as_str().to_owned(),
        outcome_id: Some(closing.outcome_id),
        closed_at: Some(now),
        closed_by_id: Some(actor.id),
        version: row.version + 1,
        updated_at: now,
        ..row
    };
    let view = Stored {
        row: closed,
        customer_name: customer.name,
        tag_ids,
    }
    .into_view(&catalog)?;
    Ok((view, created))
}

/// Reopen: a closed task goes back to planned with the default outcome, if the settings allow.
pub async fn reopen(
    db: &DatabaseConnection,
    names: &Names,
    id: i64,
    actor: Actor,
    expected_version: Option<i32>,
) -> StoreResult<TaskView> {
    let txn = crate::write_txn(db).await?;
    let row = load_for_step(&txn, id, expected_version, false).await?.row;
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
    let view = get(&txn, names, id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Take charge of a planned priority task.
pub async fn take(
    db: &DatabaseConnection,
    names: &Names,
    id: i64,
    actor: Actor,
) -> StoreResult<TaskView> {
    let txn = crate::write_txn(db).await?;
    let Loaded { row, customer, .. } = load_for_step(&txn, id, None, false).await?;
    let priority = names
        .at_least(&txn, customer.catalog_version)
        .await?
        .task_type(row.type_id)
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
    let view = get(&txn, names, id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Edits a planned task, writing one `change` timeline entry per changed field.
pub async fn update(
    db: &DatabaseConnection,
    names: &Names,
    id: i64,
    patch: TaskPatch,
    actor: Actor,
    expected_version: Option<i32>,
) -> StoreResult<TaskView> {
    let txn = crate::write_txn(db).await?;
    let Loaded {
        row,
        customer,
        tag_ids,
        ..
    } = load_for_step(&txn, id, expected_version, false).await?;
    state_of(&row)?.ensure_editable()?;
    let catalog = names.at_least(&txn, customer.catalog_version).await?;
    if let Some(t) = patch.type_id {
        check_type(&catalog, "type_id", t)?;
    }
    if let Some(tags) = &patch.tag_ids {
        check_tags(&catalog, "tag_ids", tags)?;
    }
    if let Some(r) = patch.responsible_id {
        check_operator(&catalog, "responsible_id", r)?;
    }
    let before = Stored {
        row: row.clone(),
        customer_name: customer.name,
        tag_ids,
    }
    .into_view(&catalog)?;
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
    let new_tags = patch.tag_ids.as_deref().map(unique);
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
    let view = get(&txn, names, id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Copy: a new task like this one, created now by `actor`. A task's copy is planned with the
/// default outcome; a note's copy is a note with the same outcome.
pub async fn copy(db: Reader<'_>, names: &Names, id: i64, actor: Actor) -> StoreResult<TaskView> {
    let session = Session::begin(db).await?;
    let source = get(&session, names, id).await?;
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
    let view = create_in(&session, names, new, actor.id).await?;
    session.finish().await?;
    Ok(view)
}

/// The whole chain `id` belongs to: its first ancestor and every descendant, oldest first.
pub async fn chain(db: &DatabaseConnection, names: &Names, id: i64) -> StoreResult<Vec<TaskView>> {
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
    views(db, names, db.get_database_backend().build(&select)).await
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
            TaskSort::Customer => ("t", "customer_name"),
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

impl TaskFilter {
    /// Whether a condition names catalog rows by a property of theirs (a team's operators,
    /// priority or agenda-visible types), which the catalog in memory answers.
    fn uses_catalog(&self) -> bool {
        self.team_id.is_some() || self.priority.is_some() || self.agenda_only
    }
}

/// Adds the filter's conditions. Those on a property of catalog rows become lists of ids
/// from `catalog` (`t.responsible_id IN (..)` for a team, `t.type_id IN (..)` for priority
/// and agenda-visible types), so the query reads `tasks` alone: fewer joins to plan at every
/// execution, and an index on the task's own columns to serve them. The caller checks that
/// the rows came from the same catalog version (see [`list`]).
fn apply_filter(q: &mut SelectStatement, backend: DbBackend, catalog: &Catalog, f: &TaskFilter) {
    if let Some(team) = f.team_id {
        q.and_where(names::in_ids(
            ("t", "responsible_id"),
            &catalog.team_members(team),
        ));
    }
    if f.priority.is_some() || f.agenda_only {
        let types = catalog.type_ids(|t| {
            f.priority.is_none_or(|p| t.priority == p) && (!f.agenda_only || t.visible_in_agenda)
        });
        q.and_where(names::in_ids(("t", "type_id"), &types));
    }
    let eq = |q: &mut SelectStatement, col: (&'static str, &'static str), v: Option<i64>| {
        if let Some(v) = v {
            q.and_where(Expr::col(col).eq(v));
        }
    };
    eq(q, ("t", "customer_id"), f.customer_id);
    eq(q, ("t", "type_id"), f.type_id);
    eq(q, ("t", "responsible_id"), f.responsible_id);
    eq(q, ("t", "creator_id"), f.creator_id);
    // Kind and status are written into the SQL (they are names from a closed set), so that
    // the planner can choose partial indexes such as the one of planned tasks.
    if let Some(kind) = f.kind {
        q.and_where(Expr::col(("t", "kind")).eq(Expr::cust(format!("'{}'", kind.as_str()))));
    }
    if let Some(status) = f.status {
        q.and_where(Expr::col(("t", "status")).eq(Expr::cust(format!("'{}'", status.as_str()))));
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
    scheduled_range(q, backend, f.scheduled_from, f.scheduled_to);
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
    match f.taken {
        Some(true) => {
            q.and_where(Expr::col(("t", "taken_by_id")).is_not_null());
        }
        Some(false) => {
            q.and_where(Expr::col(("t", "taken_by_id")).is_null());
        }
        None => {}
    }
}

/// Tasks scheduled from the day `from` to the day `to`, both included.
///
/// On PostgreSQL, a range of `scheduled_at` (a task's day at its time, or at the start of the
/// day), which the indexes of tasks by schedule answer, with the days written into the SQL
/// (timestamps of digits and separators). Given them as parameters, the planner found its
/// custom plans cheaper than a generic one, which guesses a narrow range, and planned the
/// agenda's statement again at every request, 0.36 ms of its 0.8 ms: the agenda of a team's
/// month answered 2,450 requests a second instead of 3,350. Ranges of days are few (this
/// week, this month), and each is its own prepared statement.
///
/// On SQLite, on `scheduled_date`: a `scheduled_at` range there leads the planner through
/// the index of kinds and statuses, and the same agenda was no faster under load, in some
/// runs slower (810-1,590 requests a second against 1,170-1,660). The days are written into
/// the SQL too (`YYYY-MM-DD`, as sqlx binds a day): SQLite plans a statement once, whatever
/// values are bound (`.cargo/config.toml`), and with the days bound it read the planned
/// tasks of a team's month three times slower than with the days in its text, by the same
/// plan (1.6 ms against 0.5 ms, on the benchmark's million tasks after ANALYZE).
fn scheduled_range(
    q: &mut SelectStatement,
    backend: DbBackend,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) {
    if backend != DbBackend::Postgres {
        let day = |day: NaiveDate| day_literal(day, "%Y-%m-%d").unwrap_or_else(|| Expr::val(day));
        if let Some(from) = from {
            q.and_where(Expr::col(("t", "scheduled_date")).gte(day(from)));
        }
        if let Some(to) = to {
            q.and_where(Expr::col(("t", "scheduled_date")).lte(day(to)));
        }
        return;
    }
    // Days outside the years `day_start_literal` writes are bound on `scheduled_date`, which
    // takes any day PostgreSQL has.
    if let Some(from) = from {
        q.and_where(match day_start_literal(from) {
            Some(at) => Expr::col(("t", "scheduled_at")).gte(at),
            None => Expr::col(("t", "scheduled_date")).gte(from),
        });
    }
    if let Some(to) = to {
        // The last day ends where the next begins.
        q.and_where(match to.succ_opt().and_then(day_start_literal) {
            Some(at) => Expr::col(("t", "scheduled_at")).lt(at),
            None => Expr::col(("t", "scheduled_date")).lte(to),
        });
    }
}

/// The start of `day` as a PostgreSQL timestamp literal, for a statement that is planned
/// once whatever day it is run on (see [`scheduled_range`]); `None` outside the years 1 to
/// 9999, which a timestamp of four-digit years cannot write.
pub(crate) fn day_start_literal(day: NaiveDate) -> Option<Expr> {
    day_literal(day, "%Y-%m-%d 00:00:00")
}

/// `day` as an SQL string literal in `format` (digits and separators), for the years 1 to
/// 9999; `None` for the others, whose written forms a four-digit format does not hold.
fn day_literal(day: NaiveDate, format: &str) -> Option<Expr> {
    (1..=9999)
        .contains(&day.year())
        .then(|| Expr::cust(format!("'{}'", day.format(format))))
}

/// Rows after `(values, id)` in the lexicographic order of `keys` then id. When every key
/// runs the same way, a row comparison `(a, b, id) > (x, y, z)`, which both databases answer
/// with one index range scan; mixed directions need the expanded form.
fn after_condition(
    backend: DbBackend,
    keys: &[(TaskSort, bool)],
    values: &[Value],
    id: i64,
) -> Condition {
    let id_desc = keys.first().is_some_and(|(_, desc)| *desc);
    let mut columns: Vec<(Expr, bool, Expr)> = keys
        .iter()
        .zip(values)
        .map(|((k, desc), v)| {
            let v = paging::cursor_value(backend, v.clone());
            (Expr::col(k.column()), *desc, v)
        })
        .collect();
    columns.push((
        Expr::col(("t", "id")),
        id_desc,
        paging::cursor_value(backend, id),
    ));
    if columns.iter().all(|(_, desc, _)| *desc == id_desc) {
        let left = Expr::tuple(columns.iter().map(|(c, _, _)| c.clone()));
        let right = Expr::tuple(columns.iter().map(|(_, _, v)| v.clone()));
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

pub async fn list(db: &Reader<'_>, names: &Names, query: TaskQuery) -> StoreResult<Page<TaskView>> {
    let limit = query.limit.clamp(1, paging::MAX_LIMIT);
    let backend = db.get_database_backend();
    let keys = if query.sort.is_empty() {
        vec![(TaskSort::ScheduledAt, false)]
    } else {
        query.sort.clone()
    };
    let after = match &query.after {
        None => None,
        Some((values, id)) => {
            let typed: Option<Vec<Value>> = keys
                .iter()
                .zip(values)
                .map(|((k, _), v)| k.value(v))
                .collect();
            match typed {
                Some(typed) if typed.len() == keys.len() => {
                    Some(after_condition(backend, &keys, &typed, *id))
                }
                _ => {
                    return Err(StoreError::rejected(
                        "cursor",
                        "the cursor does not fit this sort",
                    ));
                }
            }
        }
    };
    let mut catalog = names.held();
    for _ in 0..names::CATALOG_RETRIES {
        let mut select = view_select();
        apply_filter(&mut select, backend, &catalog, &query.filter);
        let mut joined = Vec::new();
        for (key, _) in &keys {
            match key {
                TaskSort::Type => join_for(&mut select, backend, &mut joined, "ty"),
                TaskSort::Responsible => join_for(&mut select, backend, &mut joined, "rs"),
                _ => {}
            }
        }
        if let Some(after) = &after {
            select.cond_where(after.clone());
        }
        for (key, desc) in &keys {
            select.order_by(key.column(), if *desc { Order::Desc } else { Order::Asc });
        }
        let id_desc = keys.first().is_some_and(|(_, d)| *d);
        select.order_by(("t", "id"), if id_desc { Order::Desc } else { Order::Asc });
        let statement = paging::limited(backend.build(&select), limit + 1);
        let rows = TaskRow::read(db, statement).await?;
        // The catalog version the rows were read at; for an empty page, the database's now.
        let version = match rows.iter().map(|r| r.catalog_version).max() {
            Some(v) => v,
            None if query.filter.uses_catalog() => names::read_version(db).await?,
            None => return Ok(paging::split(Vec::new(), limit)),
        };
        if query.filter.uses_catalog() && version > catalog.version {
            // The filter named operators or types as an older catalog had them.
            catalog = names.at_least(db, version).await?;
            continue;
        }
        let views = named(db, names, rows, version).await?;
        return Ok(paging::split(views, limit));
    }
    Err(StoreError::Conflict(
        "The settings kept changing while the list was read; retry.".into(),
    ))
}

// ---------------------------------------------------------------------------------------
// The dashboard's lists

/// The dashboard's two lists: the first `n` planned tasks of priority types in the scope
/// (one operator's as responsible, a team's, or everyone's), by schedule, and the first `n`
/// of those nobody has taken in charge.
///
/// On PostgreSQL one operator's lists are read together with the other operators' lists
/// asked at the same time on the server worker, in one statement (see `crate::loads`); a
/// team's, everyone's, and SQLite's are read as two pages of [`list`].
pub async fn priority_lists(
    db: &Reader<'_>,
    names: &Names,
    scope: crate::dashboard::Scope,
    n: u64,
) -> StoreResult<(Vec<TaskView>, Vec<TaskView>)> {
    let n = n.clamp(1, paging::MAX_LIMIT);
    if let (DbBackend::Postgres, Some(operator_id), None) =
        (db.get_database_backend(), scope.operator_id, scope.team_id)
    {
        let ask = PriorityLists { operator_id, n };
        let rows = crate::loads::Loads::load(db, |h| &h.priority_lists, ask).await?;
        let (mut urgent, mut unassigned) = (Vec::new(), Vec::new());
        for row in &rows {
            let at: NaiveDateTime = row.try_get("", "sort_at")?;
            let task = TaskRow::decode(Columns::of(row))?;
            match row.try_get::<i32>("", "list")? {
                0 => urgent.push((at, task)),
                _ => unassigned.push((at, task)),
            }
        }
        urgent.sort_unstable_by_key(|(at, task)| (*at, task.id));
        unassigned.sort_unstable_by_key(|(at, task)| (*at, task.id));
        let split = urgent.len();
        let rows = urgent.into_iter().chain(unassigned).map(|(_, task)| task);
        let mut views = named_rows(db, names, rows.collect()).await?;
        let unassigned = views.split_off(split);
        return Ok((views, unassigned));
    }
    let first = |untaken_only: bool| {
        let filter = TaskFilter {
            kind: Some(TaskKind::Task),
            status: Some(TaskStatus::Planned),
            responsible_id: scope.operator_id,
            team_id: scope.team_id,
            priority: Some(true),
            taken: untaken_only.then_some(false),
            ..Default::default()
        };
        let query = TaskQuery {
            filter,
            sort: vec![(TaskSort::ScheduledAt, false)],
            after: None,
            limit: n,
        };
        list(db, names, query)
    };
    let urgent = first(false).await?.items;
    let unassigned = first(true).await?.items;
    Ok((urgent, unassigned))
}

/// One operator's dashboard lists, read with other operators' (PostgreSQL; see
/// `crate::loads`).
#[derive(Debug)]
pub(crate) struct PriorityLists {
    operator_id: i64,
    /// How many tasks each list shows.
    n: u64,
}

impl crate::loads::Ask for PriorityLists {
    fn key(&self) -> i64 {
        self.operator_id
    }
}

/// The statement that reads the lists `asked`: for each operator, the rows of [`view_select`]
/// of both lists (`list` 0 for the urgent tasks, 1 for the unassigned ones), each with its
/// `scheduled_at` as `sort_at` and the operator's id as `for_operator`, in no set order.
///
/// Priority types are read from `task_types` in the statement itself, so that the lists
/// agree with the settings as of the statement whatever the catalog held in memory says.
/// Each list walks the operator's planned tasks in schedule order in `ix_tasks_planned`, as a
/// page of [`list`] does.
pub(crate) fn priority_lists_statement(asked: &[&PriorityLists]) -> Statement {
    static LISTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let lists = LISTS.get_or_init(|| {
        let list = |number: u8, untaken_only: bool| {
            let mut q = view_select();
            q.expr_as(Expr::col(("t", "scheduled_at")), "sort_at")
                .expr_as(Expr::cust(number.to_string()), "list")
                .and_where(Expr::cust(crate::dashboard::PLANNED_TASKS))
                .and_where(Expr::cust("t.responsible_id = r.operator_id"))
                .and_where(Expr::cust(
                    "t.type_id IN (SELECT id FROM task_types WHERE priority)",
                ));
            if untaken_only {
                q.and_where(Expr::col(("t", "taken_by_id")).is_null());
            }
            q.order_by(("t", "scheduled_at"), Order::Asc)
                .order_by(("t", "id"), Order::Asc);
            let sql = q.to_string(sea_orm::sea_query::PostgresQueryBuilder);
            format!("({sql} LIMIT r.n)")
        };
        format!("{} UNION ALL {}", list(0, false), list(1, true))
    });
    let values = crate::loads::bigint_rows(asked.len(), 2);
    let sql = format!(
        "SELECT x.*, r.operator_id AS for_operator FROM (VALUES {values}) AS r (operator_id, n) \
         CROSS JOIN LATERAL ({lists}) AS x"
    );
    let values = asked.iter().flat_map(|a| {
        [
            Value::from(a.operator_id),
            Value::from(i64::try_from(a.n).unwrap_or(i64::MAX)),
        ]
    });
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values.collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_read_by_the_statement_built_for_it() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            for id in [1, 7, -3, i64::MAX] {
                let built = backend.build(
                    &view_select()
                        .and_where(Expr::col(("t", "id")).eq(id))
                        .to_owned(),
                );
                let kept = get_statement(backend, id);
                assert_eq!(kept.sql, built.sql, "{backend:?}");
                assert_eq!(kept.values, built.values, "{backend:?} {id}");
                assert_eq!(kept.db_backend, built.db_backend);
            }
        }
    }

    /// Every page of lists with each kind of condition, sort and cursor, read on the calling
    /// thread and through the pool, is the same page.
    #[tokio::test]
    async fn pages_read_on_the_calling_thread_are_the_pages_the_pool_reads() {
        let (_dir, db, names) = crate::bulk::sample::sqlite().await;
        let inline = crate::HotConnections::new(2);
        let pooled = crate::HotConnections::new(0);
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let filters = [
            TaskFilter::default(),
            TaskFilter {
                status: Some(TaskStatus::Planned),
                responsible_id: Some(3),
                ..Default::default()
            },
            TaskFilter {
                team_id: Some(1),
                agenda_only: true,
                scheduled_from: Some(day(1)),
                scheduled_to: Some(day(30)),
                ..Default::default()
            },
            TaskFilter {
                created_from: Some(Utc::now() - chrono::Duration::days(200)),
                created_before: Some(Utc::now()),
                kind: Some(TaskKind::Task),
                ..Default::default()
            },
            TaskFilter {
                q: Some("a".into()),
                tag_id: Some(2),
                ..Default::default()
            },
            TaskFilter {
                priority: Some(true),
                taken: Some(false),
                customer_id: Some(5),
                ..Default::default()
            },
        ];
        let sorts = [
            vec![],
            vec![(TaskSort::CreatedAt, true)],
            vec![(TaskSort::Customer, false), (TaskSort::ScheduledAt, true)],
            vec![(TaskSort::Type, false)],
            vec![(TaskSort::Responsible, true), (TaskSort::Status, false)],
        ];
        let mut read = 0;
        for filter in &filters {
            for sort in &sorts {
                let mut query = TaskQuery {
                    filter: filter.clone(),
                    sort: sort.clone(),
                    after: None,
                    limit: 40,
                };
                loop {
                    let a = list(&Reader::new(&db, &inline), &names, query.clone()).await;
                    let b = list(&Reader::new(&db, &pooled), &names, query.clone()).await;
                    let (a, b) = (a.unwrap(), b.unwrap());
                    assert_eq!(a, b, "{query:?}");
                    read += a.items.len();
                    let Some(last) = a.items.last().filter(|_| a.has_more) else {
                        break;
                    };
                    let keys = if sort.is_empty() {
                        vec![TaskSort::ScheduledAt.key_of(last)]
                    } else {
                        sort.iter().map(|(k, _)| k.key_of(last)).collect()
                    };
                    query.after = Some((keys, last.id));
                }
            }
        }
        assert!(read > 2_000, "{read} tasks compared");
        assert!(inline.inline_reads() > 50, "read on the calling thread");
        assert_eq!(pooled.inline_reads(), 0);
    }

    /// Every task of a generated dataset, read on the calling thread (rusqlite) and through
    /// the pool (sqlx), gives the same view; so does an id that names no task.
    #[tokio::test]
    async fn a_task_read_on_the_calling_thread_is_the_task_the_pool_reads() {
        let (_dir, db, names) = crate::bulk::sample::sqlite().await;
        let hot = crate::HotConnections::new(2);
        let reader = Reader::new(&db, &hot);
        let (mut timed, mut closed, mut tagged, mut missing) = (0, 0, 0, 0);
        for id in 0..=410 {
            let inline = reader.inline(
                &get_statement(DbBackend::Sqlite, id),
                TaskRow::decode_sqlite,
            );
            assert!(inline.is_some(), "task {id} read on this thread");
            let pooled = get(&db, &names, id).await;
            match (read(&reader, &names, id).await, pooled) {
                (Ok(read), Ok(pooled)) => {
                    assert_eq!(read, pooled);
                    timed += usize::from(read.scheduled_time.is_some());
                    closed += usize::from(read.closed_at.is_some());
                    tagged += usize::from(!read.tags.is_empty());
                }
                (Err(StoreError::NotFound), Err(StoreError::NotFound)) => missing += 1,
                other => panic!("task {id}: {other:?}"),
            }
        }
        assert!(timed > 0 && closed > 0 && tagged > 0 && missing > 0);
        assert_eq!(missing, 11, "ids 0 and 401-410");
    }

    #[test]
    fn task_views_read_tasks_alone() {
        let mut q = view_select();
        q.and_where(Expr::col(("t", "id")).eq(7));
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let sql = backend.build(&q).to_string();
            assert!(sql.contains(r#""t"."customer_name""#), "{sql}");
            assert!(!sql.contains("JOIN"), "{sql}");
        }
    }

    #[test]
    fn catalog_filters_read_tasks_alone_and_an_empty_team_matches_nothing() {
        let filter = TaskFilter {
            team_id: Some(4),
            agenda_only: true,
            ..Default::default()
        };
        assert!(filter.uses_catalog());
        assert!(!TaskFilter::default().uses_catalog());
        let mut q = view_select();
        apply_filter(&mut q, DbBackend::Postgres, &Catalog::default(), &filter);
        let sql = DbBackend::Postgres.build(&q).to_string();
        assert!(!sql.contains("JOIN"), "{sql}");
        assert!(sql.contains("1 = 2"), "{sql}");
    }

    #[test]
    fn a_range_of_days_is_written_into_the_statement_as_schedules_on_postgresql_and_days_on_sqlite()
    {
        let day = |d| NaiveDate::from_ymd_opt(2027, 2, d).expect("a date");
        let filter = TaskFilter {
            scheduled_from: Some(day(1)),
            scheduled_to: Some(day(28)),
            ..Default::default()
        };
        // The statement's text holds both bounds, and nothing is bound.
        let written = |backend: DbBackend, from: &str, to: &str| {
            let mut q = view_select();
            apply_filter(&mut q, backend, &Catalog::default(), &filter);
            let st = backend.build(&q);
            assert!(st.sql.contains(from) && st.sql.contains(to), "{}", st.sql);
            assert!(st.values.is_none_or(|v| v.0.is_empty()));
        };
        written(
            DbBackend::Postgres,
            r#""t"."scheduled_at" >= ('2027-02-01 00:00:00')"#,
            r#""t"."scheduled_at" < ('2027-03-01 00:00:00')"#,
        );
        written(
            DbBackend::Sqlite,
            r#""t"."scheduled_date" >= ('2027-02-01')"#,
            r#""t"."scheduled_date" <= ('2027-02-28')"#,
        );
        let mut q = view_select();
        let far = TaskFilter {
            scheduled_from: Some(NaiveDate::MIN),
            scheduled_to: Some(day(28)),
            ..Default::default()
        };
        apply_filter(&mut q, DbBackend::Sqlite, &Catalog::default(), &far);
        let st = DbBackend::Sqlite.build(&q);
        assert!(
            st.sql.contains(r#""t"."scheduled_date" >= ?"#),
            "{}",
            st.sql
        );
        assert_eq!(st.values.map_or(0, |v| v.0.len()), 1);
        // Days whose start is not a four-digit year's are bound.
        for (from, to) in [
            (
                day(1),
                NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date"),
            ),
            (NaiveDate::MIN, NaiveDate::MAX),
        ] {
            let mut q = view_select();
            let far = TaskFilter {
                scheduled_from: Some(from),
                scheduled_to: Some(to),
                ..Default::default()
            };
            apply_filter(&mut q, DbBackend::Postgres, &Catalog::default(), &far);
            let sql = DbBackend::Postgres.build(&q).sql;
            assert!(sql.contains(r#""t"."scheduled_date" <= $"#), "{sql}");
            assert!(!sql.contains('+'), "{sql}");
        }
    }

    #[test]
    fn a_guard_can_take_the_customer_first_on_postgresql() {
        let row = task::Model {
            id: 7,
            kind: "task".into(),
            customer_id: 3,
            description: String::new(),
            type_id: 1,
            scheduled_date: NaiveDate::MIN,
            scheduled_time: None,
            scheduled_at: NaiveDate::MIN.and_time(NaiveTime::MIN),
            creator_id: 1,
            responsible_id: 1,
            created_at: DateTime::<Utc>::MIN_UTC,
            status: "planned".into(),
            outcome_id: None,
            parent_id: None,
            taken_by_id: None,
            taken_at: None,
            closed_at: None,
            closed_by_id: None,
            version: 1,
            updated_at: DateTime::<Utc>::MIN_UTC,
        };
        let mut guard = guarded(&row, |u| u, DateTime::<Utc>::MIN_UTC);
        customer_first(&mut guard, DbBackend::Postgres, row.customer_id);
        let sql = DbBackend::Postgres.build(&guard).to_string();
        assert!(
            sql.contains(r#"EXISTS(SELECT 1 FROM "customers" WHERE "id" = 3 FOR SHARE)"#),
            "{sql}"
        );
        let mut guard = guarded(&row, |u| u, DateTime::<Utc>::MIN_UTC);
        customer_first(&mut guard, DbBackend::Sqlite, row.customer_id);
        assert!(
            !DbBackend::Sqlite
                .build(&guard)
                .to_string()
                .contains("EXISTS")
        );
    }

    #[test]
    fn joins_keep_tasks_outer_on_sqlite() {
        let mut q = view_select();
        join_to_task(&mut q, DbBackend::Sqlite, "customers", "c", "customer_id");
        let sql = DbBackend::Sqlite.build(&q).to_string();
        assert!(sql.contains(r#"CROSS JOIN "customers" AS "c""#), "{sql}");
        assert!(sql.contains(r#""c"."id" = "t"."customer_id""#), "{sql}");
        let mut q = view_select();
        join_to_task(&mut q, DbBackend::Postgres, "customers", "c", "customer_id");
        let sql = DbBackend::Postgres.build(&q).to_string();
        assert!(
            sql.contains(r#"INNER JOIN "customers" AS "c" ON "c"."id" = "t"."customer_id""#),
            "{sql}"
        );
    }

    /// Every operator's dashboard lists asked at once (PostgreSQL, read together), one of
    /// them twice with another size, and a missing operator's, are the two pages of `list`
    /// that filter for them; lists longer than their size are cut in the same place.
    #[tokio::test]
    async fn priority_lists_read_together_are_the_pages_of_the_list() {
        let Some((_dropped, db, names)) = crate::bulk::sample::postgres().await else {
            return;
        };
        let hot = crate::HotConnections::new(2);
        let reader = Reader::new(&db, &hot);
        let asked: Vec<(i64, u64)> = (1..=52).map(|op| (op, 1)).chain([(2, 3)]).collect();
        let together = futures_util::future::join_all(asked.iter().map(|(op, n)| {
            let scope = crate::dashboard::Scope {
                operator_id: Some(*op),
                team_id: None,
            };
            priority_lists(&reader, &names, scope, *n)
        }))
        .await;
        let (mut read, mut cut) = ([0, 0], [0, 0]);
        for ((op, n), lists) in asked.iter().zip(together) {
            let (urgent, unassigned) = lists.unwrap();
            for (i, got) in [urgent, unassigned].into_iter().enumerate() {
                let filter = TaskFilter {
                    kind: Some(TaskKind::Task),
                    status: Some(TaskStatus::Planned),
                    responsible_id: Some(*op),
                    priority: Some(true),
                    taken: (i == 1).then_some(false),
                    ..Default::default()
                };
                let sort = vec![(TaskSort::ScheduledAt, false)];
                let query = TaskQuery {
                    filter,
                    sort,
                    after: None,
                    limit: *n,
                };
                let page = list(&reader, &names, query).await.unwrap();
                assert_eq!(got, page.items, "operator {op}, list {i} of {n}");
                read[i] += got.len();
                cut[i] += usize::from(page.has_more);
            }
        }
        assert!(read[0] > 15 && read[1] > 10, "{read:?} read");
        assert!(cut[0] > 3 && cut[1] > 1, "{cut:?} cut short");
        assert!(hot.priority_lists.read_together() >= 1);
        assert_eq!(hot.priority_lists.read_again(), 0);
    }
}
