//! The dashboard's counts and the outcome reports, each in one aggregate query.

use crate::names::{self, Catalog};
use crate::{Names, Reader, StoreError, StoreResult};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement, UnionType,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement, TransactionTrait,
};

/// Whose tasks: one operator's (as responsible), a team's, or everyone's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope {
    pub operator_id: Option<i64>,
    pub team_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromQueryResult)]
pub struct Counts {
    /// Planned tasks.
    pub planned: i64,
    /// Planned tasks whose time has passed (whole-day ones: whose day has ended).
    pub overdue: i64,
    /// Planned tasks scheduled today.
    pub due_today: i64,
    /// Planned tasks of priority types.
    pub urgent: i64,
    /// Planned tasks of priority types that nobody has taken in charge.
    pub unassigned: i64,
}

/// `COUNT(*) FILTER (WHERE cond)`: cheaper per row than a sum of `CASE`s (1.4 ms instead of
/// 2.5 ms over an operator's 4,350 planned tasks).
fn count_if(backend: DbBackend, cond: Condition) -> Expr {
    // The place of the condition, as each backend's writer marks it.
    let sql = match backend {
        DbBackend::Postgres => "COUNT(*) FILTER (WHERE $1)",
        _ => "COUNT(*) FILTER (WHERE ?)",
    };
    Expr::cust_with_expr(sql, cond)
}

/// The sum of `k.n` over the rows that meet `cond`, 0 without any, as a 64-bit integer
/// (PostgreSQL sums `BIGINT`s into a `NUMERIC`).
fn sum_if(backend: DbBackend, cond: Condition) -> Expr {
    let sql = match backend {
        DbBackend::Postgres => "CAST(COALESCE(SUM(k.n) FILTER (WHERE $1), 0) AS BIGINT)",
        _ => "CAST(COALESCE(SUM(k.n) FILTER (WHERE ?), 0) AS BIGINT)",
    };
    Expr::cust_with_expr(sql, cond)
}

/// The scope as conditions on an operator column (`responsible_id` of `table`), a team as
/// its members' ids from the catalog.
fn scoped(q: &mut SelectStatement, table: &'static str, catalog: &Catalog, scope: Scope) {
    if let Some(op) = scope.operator_id {
        q.and_where(Expr::col((table, "responsible_id")).eq(op));
    }
    if let Some(team) = scope.team_id {
        q.and_where(names::in_ids(
            (table, "responsible_id"),
            &catalog.team_members(team),
        ));
    }
}

/// The condition every dashboard count and list starts from, with its values written into
/// the SQL so that the planner can use the partial index of planned tasks
/// (`ix_tasks_planned`) whatever the parameters.
pub const PLANNED_TASKS: &str = "t.status = 'planned' AND t.kind = 'task'";

#[derive(Debug, FromQueryResult)]
struct CountsRow {
    #[sea_orm(nested)]
    counts: Counts,
    catalog_version: i64,
}

impl CountsRow {
    /// The row of [`counts_query`] read by rusqlite, in its columns' order.
    fn decode_sqlite(row: &rusqlite::Row<'_>) -> Option<Self> {
        let n = |i: usize| row.get::<_, i64>(i).ok();
        Some(Self {
            counts: Counts {
                planned: n(0)?,
                overdue: n(1)?,
                due_today: n(2)?,
                urgent: n(3)?,
                unassigned: n(4)?,
            },
            catalog_version: n(5)?,
        })
    }
}

/// The counts over planned tasks, with "today" and "now" in the business's time zone.
///
/// Planned, urgent and unassigned are sums over the kept counts per responsible operator,
/// type and whether the task was taken (`planned_task_counts`, with the changes not folded
/// in yet): a few dozen rows per operator, where counting the tasks themselves read each of
/// an operator's thousands of planned tasks. Overdue and due today depend on the clock, and
/// are counted over the tasks scheduled before tomorrow only, in the index of planned tasks.
/// The overdue rule is the domain's `is_overdue`, written over `scheduled_at` (a whole-day
/// task's is the start of its day).
///
/// Priority types and a team's operators are lists of ids from the catalog in memory
/// (`names::in_ids`). The row carries the catalog version it was read at; when that is newer
/// than the catalog the lists came from, the counts are read again with the newer one.
///
/// On a SQLite file the row is read on the calling thread (`crate::inline`), as the
/// dashboard's lists are.
pub async fn counts(
    db: &Reader<'_>,
    names: &Names,
    scope: Scope,
    today: NaiveDate,
    now: NaiveDateTime,
) -> StoreResult<Counts> {
    let backend = db.get_database_backend();
    let mut catalog = names.held();
    for _ in 0..names::CATALOG_RETRIES {
        let statement = backend.build(&counts_query(backend, &catalog, scope, today, now));
        let row = match db.inline(&statement, CountsRow::decode_sqlite) {
            Some(rows) => rows.into_iter().next(),
            None => CountsRow::find_by_statement(statement).one(db).await?,
        };
        let Some(row) = row else {
            return Ok(Counts::default());
        };
        if row.catalog_version <= catalog.version {
            return Ok(row.counts);
        }
        catalog = names.at_least(db, row.catalog_version).await?;
    }
    Err(StoreError::Conflict(
        "The settings kept changing while the dashboard was read; retry.".into(),
    ))
}

/// The start of `day` as a condition's operand: on PostgreSQL written into the SQL
/// (`tasks::day_start_literal`), so that the statement is planned once; bound, the planner
/// finds its custom plans cheaper than the generic one and plans it at every request. A
/// day's start changes once a day.
fn day_start(backend: DbBackend, day: NaiveDate) -> Expr {
    match backend {
        DbBackend::Postgres => crate::tasks::day_start_literal(day),
        _ => None,
    }
    .unwrap_or_else(|| Expr::val(day.and_time(NaiveTime::MIN)))
}

fn counts_query(
    backend: DbBackend,
    catalog: &Catalog,
    scope: Scope,
    today: NaiveDate,
    now: NaiveDateTime,
) -> SelectStatement {
    let tomorrow = today + Duration::days(1);
    let priority_types = catalog.type_ids(|t| t.priority);
    let priority = || names::in_ids(("k", "type_id"), &priority_types);

    // The kept counts and the changes since they were last folded, in the scope.
    let kept = |table: &'static str, n: &'static str| {
        let mut q = Query::select();
        q.columns([
            (Alias::new(table), Alias::new("responsible_id")),
            (Alias::new(table), Alias::new("type_id")),
            (Alias::new(table), Alias::new("untaken")),
        ])
        .expr_as(Expr::col((Alias::new(table), Alias::new(n))), "n")
        .from(table);
        scoped(&mut q, table, catalog, scope);
        q
    };
    let mut rows = kept("planned_task_counts", "n");
    rows.union(UnionType::All, kept("planned_task_count_changes", "delta"));
    let by_key = Query::select()
        .expr_as(sum_if(backend, Condition::all()), "planned")
        .expr_as(sum_if(backend, Condition::all().add(priority())), "urgent")
        .expr_as(
            sum_if(
                backend,
                Condition::all()
                    .add(priority())
                    .add(Expr::col(("k", "untaken")).eq(1)),
            ),
            "unassigned",
        )
        .from_subquery(rows, "k")
        .to_owned();

    // The tasks whose time has come: scheduled before tomorrow.
    let (start, next_day) = (day_start(backend, today), day_start(backend, tomorrow));
    let overdue = Condition::any()
        .add(Expr::col(("t", "scheduled_at")).lt(start.clone()))
        .add(
            Condition::all()
                .add(Expr::col(("t", "scheduled_time")).is_not_null())
                .add(Expr::col(("t", "scheduled_at")).lt(now)),
        );
    let mut by_time = Query::select()
        .expr_as(count_if(backend, overdue), "overdue")
        .expr_as(
            count_if(
                backend,
                Condition::all().add(Expr::col(("t", "scheduled_at")).gte(start)),
            ),
            "due_today",
        )
        .from_as("tasks", "t")
        .and_where(Expr::cust(PLANNED_TASKS))
        .and_where(Expr::col(("t", "scheduled_at")).lt(next_day))
        .to_owned();
    scoped(&mut by_time, "t", catalog, scope);

    Query::select()
        .column(("c", "planned"))
        .column(("d", "overdue"))
        .column(("d", "due_today"))
        .column(("c", "urgent"))
        .column(("c", "unassigned"))
        .expr_as(Expr::cust(names::VERSION_EXPR), "catalog_version")
        .from_subquery(by_key, "c")
        .from_subquery(by_time, "d")
        .to_owned()
}

/// Folds the changes to the planned-task counts recorded since the last fold into the
/// counts (see the migration `planned_task_counts`), so that readers add up a few rows.
/// Returns how many counts it changed. Safe to run from several servers at once: on
/// PostgreSQL one folds while the others skip; each change is folded once.
pub async fn fold_counts(db: &DatabaseConnection) -> StoreResult<u64> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    let folded = if backend == DbBackend::Postgres {
        let held = txn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT pg_try_advisory_xact_lock({FOLD_LOCK}) AS held"),
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "held"))
            .transpose()?
            .unwrap_or(false);
        if !held {
            return Ok(0);
        }
        txn.execute_raw(Statement::from_string(
            backend,
            format!(
                "WITH folded AS (DELETE FROM planned_task_count_changes \
                   RETURNING responsible_id, type_id, untaken, delta) {}",
                fold_from("folded")
            ),
        ))
        .await?
        .rows_affected()
    } else {
        // One writer at a time: nothing is recorded between the two statements.
        let n = txn
            .execute_raw(Statement::from_string(
                backend,
                fold_from("planned_task_count_changes"),
            ))
            .await?
            .rows_affected();
        txn.execute_raw(Statement::from_string(
            backend,
            "DELETE FROM planned_task_count_changes",
        ))
        .await?;
        n
    };
    txn.commit().await?;
    Ok(folded)
}

/// Vacuums the changes folded so far on PostgreSQL (a no-op on SQLite, whose deleted rows
/// leave no versions behind). Folded changes are dead rows that every dashboard steps over
/// until autovacuum's next round, a minute apart; after a bulk insert, hundreds of thousands.
///
/// Every dashboard also reads the table's empty pages, which a vacuum leaves for the next
/// changes unless it truncates them; see [`Truncation`].
pub async fn vacuum_count_changes(
    db: &DatabaseConnection,
    truncation: Truncation,
) -> StoreResult<()> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(());
    }
    let truncate = match truncation {
        Truncation::Always => true,
        Truncation::WhenLarge => {
            let pages = db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT pg_relation_size('planned_task_count_changes') \
                     / current_setting('block_size')::bigint AS pages",
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "pages"))
                .transpose()?
                .unwrap_or(0);
            pages > TRUNCATE_ABOVE_PAGES
        }
    };
    db.execute_unprepared(if truncate {
        "VACUUM (TRUNCATE) planned_task_count_changes"
    } else {
        "VACUUM planned_task_count_changes"
    })
    .await?;
    Ok(())
}

/// Whether a vacuum of the folded changes also cuts the table back to its last row.
///
/// Truncating takes a lock that holds writes to tasks off while the empty pages are found.
/// Under the benchmark's Nexts at full rate (1,765 a second) the table holds steady at about
/// 300 pages, which the next changes fill again; there a vacuum leaves them. But those 300
/// empty pages, left once the writes stop, halve what PostgreSQL answers of the dashboard's
/// counts (pgbench: 15,000 statements a second, 32,700 once truncated), and after the
/// benchmark's bulk load its 1,591 emptied pages cost each dashboard 0.2 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// When the table has grown past [`TRUNCATE_ABOVE_PAGES`]: while tasks are written.
    WhenLarge,
    /// Always: once nothing is being written.
    Always,
}

/// The size of the folded changes (4 MiB) above which a vacuum truncates them even while
/// tasks are written.
pub const TRUNCATE_ABOVE_PAGES: i64 = 512;

/// Adds the changes of `source` into the counts, a row per key, in the order of the keys
/// (two folds lock the rows they update in the same order). `WHERE true` tells SQLite's
/// parser that `ON CONFLICT` is the upsert's, not a join's.
fn fold_from(source: &str) -> String {
    format!(
        "INSERT INTO planned_task_counts (responsible_id, type_id, untaken, n) \
         SELECT responsible_id, type_id, untaken, SUM(delta) FROM {source} WHERE true \
         GROUP BY responsible_id, type_id, untaken ORDER BY responsible_id, type_id, untaken \
         ON CONFLICT (responsible_id, type_id, untaken) \
         DO UPDATE SET n = planned_task_counts.n + excluded.n"
    )
}

/// The advisory lock a PostgreSQL fold holds (an arbitrary key of this application's).
const FOLD_LOCK: i64 = 0x636f_756e_7473;

/// How closed tasks are grouped in the outcome report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The responsible operator.
    Operator,
    Type,
    /// Each tag of the task; untagged tasks form a group without id.
    Tag,
    /// The responsible operator's team; operators without a team form a group without id.
    Team,
}

/// Closed tasks of one group with one outcome.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct OutcomeCount {
    pub group_id: Option<i64>,
    pub group_name: Option<String>,
    pub outcome_id: i64,
    pub outcome_name: String,
    pub outcome_status: String,
    pub count: i64,
}

/// Counts of tasks closed in `[from, before)` per group and outcome.
pub async fn outcome_report(
    db: &DatabaseConnection,
    group_by: GroupBy,
    from: DateTime<Utc>,
    before: DateTime<Utc>,
) -> StoreResult<Vec<OutcomeCount>> {
    let (alias, table, on): (&str, &str, Expr) = match group_by {
        GroupBy::Operator => (
            "g",
            "operators",
            Expr::col(("g", "id")).equals(("t", "responsible_id")),
        ),
        GroupBy::Type => (
            "g",
            "task_types",
            Expr::col(("g", "id")).equals(("t", "type_id")),
        ),
        GroupBy::Tag => ("g", "tags", Expr::col(("g", "id")).equals(("tt", "tag_id"))),
        GroupBy::Team => (
            "g",
            "teams",
            Expr::col(("g", "id")).equals(("rs", "team_id")),
        ),
    };
    let mut q = Query::select();
    q.expr_as(Expr::col((alias, "id")), "group_id")
        .expr_as(Expr::col((alias, "name")), "group_name")
        .expr_as(Expr::col(("o", "id")), "outcome_id")
        .expr_as(Expr::col(("o", "name")), "outcome_name")
        .expr_as(Expr::col(("o", "resulting_status")), "outcome_status")
        .expr_as(Func::count(Expr::col(("t", "id"))), "count")
        .from_as("tasks", "t")
        .join_as(
            JoinType::InnerJoin,
            "outcomes",
            "o",
            Expr::col(("o", "id")).equals(("t", "outcome_id")),
        );
    match group_by {
        GroupBy::Tag => {
            q.join_as(
                JoinType::LeftJoin,
                "task_tags",
                "tt",
                Expr::col(("tt", "task_id")).equals(("t", "id")),
            );
        }
        GroupBy::Team => {
            q.join_as(
                JoinType::InnerJoin,
                "operators",
                "rs",
                Expr::col(("rs", "id")).equals(("t", "responsible_id")),
            );
        }
        _ => {}
    }
    let join = if matches!(group_by, GroupBy::Tag | GroupBy::Team) {
        JoinType::LeftJoin
    } else {
        JoinType::InnerJoin
    };
    q.join_as(join, table, Alias::new(alias), on)
        .and_where(Expr::col(("t", "kind")).eq("task"))
        .and_where(Expr::col(("t", "status")).ne("planned"))
        .and_where(Expr::col(("t", "closed_at")).gte(from))
        .and_where(Expr::col(("t", "closed_at")).lt(before))
        .group_by_col((alias, "id"))
        .group_by_col((alias, "name"))
        .group_by_col(("o", "id"))
        .group_by_col(("o", "name"))
        .group_by_col(("o", "resulting_status"))
        .order_by((alias, "name"), Order::Asc)
        .order_by(("o", "id"), Order::Asc);
    Ok(
        OutcomeCount::find_by_statement(db.get_database_backend().build(&q))
            .all(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts of every operator, every team and everyone, on days before, at and after
    /// the dataset's, read on the calling thread and through the pool, are the same counts.
    #[tokio::test]
    async fn counts_read_on_the_calling_thread_are_the_counts_the_pool_reads() {
        let (_dir, db, names) = crate::bulk::sample::sqlite().await;
        let inline = crate::HotConnections::new(2);
        let pooled = crate::HotConnections::new(0);
        let scopes = (1..=51)
            .map(|op| Scope {
                operator_id: Some(op),
                team_id: None,
            })
            .chain((1..=6).map(|team| Scope {
                operator_id: None,
                team_id: Some(team),
            }))
            .chain([Scope::default()]);
        let (mut compared, mut overdue, mut due_today) = (0, 0, 0);
        for scope in scopes {
            for (day, hour) in [(20, 9), (26, 0), (26, 14), (27, 23), (40, 12)] {
                let today = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() + Duration::days(day);
                let now = today.and_hms_opt(hour, 30, 0).unwrap();
                let fast = crate::Reader::new(&db, &inline);
                let slow = crate::Reader::new(&db, &pooled);
                let a = counts(&fast, &names, scope, today, now).await.unwrap();
                let b = counts(&slow, &names, scope, today, now).await.unwrap();
                assert_eq!(a, b, "{scope:?} on {now}");
                compared += 1;
                overdue += a.overdue;
                due_today += a.due_today;
            }
        }
        assert_eq!(compared, 58 * 5);
        assert!(
            overdue > 0 && due_today > 0,
            "{overdue} overdue, {due_today} due today"
        );
        assert_eq!(inline.inline_reads(), compared);
        assert_eq!(pooled.inline_reads(), 0);
    }
}
