use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How many planned tasks each operator is responsible for, per type and per whether anyone
/// has taken them in charge: the dashboard's planned, urgent and unassigned counts read these
/// few rows instead of counting an operator's thousands of planned tasks (1.2 ms of
/// PostgreSQL's time per dashboard on 4,300 planned tasks).
///
/// Triggers on `tasks` record each change of the key (a task becoming or ceasing to be a
/// planned task, or changing responsible, type or being taken) as a row of
/// `planned_task_count_changes`, +1 or -1, whoever writes. Appending never waits: counts
/// updated in place would make two transactions that move tasks between the same two keys
/// in opposite orders deadlock. A reader adds the changes to the counts; the server folds
/// the changes into the counts every second (`crm_persistence::dashboard::fold_counts`).
/// The changes are read whole: folded every second and vacuumed every ten, they are a few
/// pages, and an index would cost each write one more entry.
const TABLES: [&str; 2] = [
    "CREATE TABLE planned_task_counts (\
       responsible_id BIGINT NOT NULL, type_id BIGINT NOT NULL, untaken SMALLINT NOT NULL, \
       n BIGINT NOT NULL, PRIMARY KEY (responsible_id, type_id, untaken))",
    "CREATE TABLE planned_task_count_changes (\
       responsible_id BIGINT NOT NULL, type_id BIGINT NOT NULL, untaken SMALLINT NOT NULL, \
       delta BIGINT NOT NULL)",
];

/// The counts of the tasks as they are.
const BACKFILL: &str = "INSERT INTO planned_task_counts (responsible_id, type_id, untaken, n) \
    SELECT responsible_id, type_id, CASE WHEN taken_by_id IS NULL THEN 1 ELSE 0 END, COUNT(*) \
    FROM tasks WHERE status = 'planned' AND kind = 'task' \
    GROUP BY responsible_id, type_id, CASE WHEN taken_by_id IS NULL THEN 1 ELSE 0 END";

/// A row of changes for the `row` (`OLD` or `NEW`) side of a task, `delta` +1 or -1, when
/// that side is a planned task: an `INSERT ... SELECT` that selects nothing otherwise (SQLite's
/// triggers run statements, with no `IF`).
fn change(row: &str, delta: i8) -> String {
    format!(
        "INSERT INTO planned_task_count_changes (responsible_id, type_id, untaken, delta) \
         SELECT {row}.responsible_id, {row}.type_id, \
         CASE WHEN {row}.taken_by_id IS NULL THEN 1 ELSE 0 END, {delta} WHERE {};",
        is_planned_task(row)
    )
}

fn is_planned_task(row: &str) -> String {
    format!("{row}.status = 'planned' AND {row}.kind = 'task'")
}

/// An update that can move a task from one count to another.
fn key_changed(distinct: &str) -> String {
    format!(
        "OLD.status {distinct} NEW.status OR OLD.kind {distinct} NEW.kind \
         OR OLD.responsible_id {distinct} NEW.responsible_id \
         OR OLD.type_id {distinct} NEW.type_id \
         OR (OLD.taken_by_id IS NULL) <> (NEW.taken_by_id IS NULL)"
    )
}

const KEY_COLUMNS: &str = "status, kind, responsible_id, type_id, taken_by_id";

fn postgres() -> Vec<String> {
    vec![
        format!(
            "CREATE OR REPLACE FUNCTION planned_task_count_change() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN \
             IF TG_OP <> 'INSERT' THEN {minus} END IF; \
             IF TG_OP <> 'DELETE' THEN {plus} END IF; \
             RETURN NULL; END $$",
            minus = change("OLD", -1),
            plus = change("NEW", 1),
        ),
        format!(
            "CREATE TRIGGER tr_tasks_counts_insert AFTER INSERT ON tasks FOR EACH ROW \
             WHEN ({}) EXECUTE FUNCTION planned_task_count_change()",
            is_planned_task("NEW")
        ),
        format!(
            "CREATE TRIGGER tr_tasks_counts_update AFTER UPDATE OF {KEY_COLUMNS} ON tasks \
             FOR EACH ROW WHEN ({}) EXECUTE FUNCTION planned_task_count_change()",
            key_changed("IS DISTINCT FROM")
        ),
        format!(
            "CREATE TRIGGER tr_tasks_counts_delete AFTER DELETE ON tasks FOR EACH ROW \
             WHEN ({}) EXECUTE FUNCTION planned_task_count_change()",
            is_planned_task("OLD")
        ),
    ]
}

fn sqlite() -> Vec<String> {
    vec![
        format!(
            "CREATE TRIGGER tr_tasks_counts_insert AFTER INSERT ON tasks BEGIN {} END",
            change("NEW", 1)
        ),
        format!(
            "CREATE TRIGGER tr_tasks_counts_update AFTER UPDATE OF {KEY_COLUMNS} ON tasks \
             WHEN {} BEGIN {} {} END",
            key_changed("IS NOT"),
            change("OLD", -1),
            change("NEW", 1)
        ),
        format!(
            "CREATE TRIGGER tr_tasks_counts_delete AFTER DELETE ON tasks BEGIN {} END",
            change("OLD", -1)
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// The triggers and the first counts go in together, so that no task is counted twice
    /// or missed by a write in between (creating a trigger on PostgreSQL holds writes to
    /// `tasks` off until the transaction commits).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in TABLES {
            db.execute_unprepared(sql).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            // Emptied by each fold, the table would otherwise be truncated by each vacuum,
            // under a lock that holds every write to a task off meanwhile. The server
            // truncates it itself once it has grown large or nothing is being written
            // (`dashboard::Truncation`).
            db.execute_unprepared(
                "ALTER TABLE planned_task_count_changes SET (vacuum_truncate = false)",
            )
            .await?;
        }
        let triggers = match manager.get_database_backend() {
            DbBackend::Postgres => postgres(),
            _ => sqlite(),
        };
        for sql in triggers {
            db.execute_unprepared(&sql).await?;
        }
        db.execute_unprepared(BACKFILL).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for trigger in [
            "tr_tasks_counts_insert",
            "tr_tasks_counts_update",
            "tr_tasks_counts_delete",
        ] {
            let sql = match manager.get_database_backend() {
                DbBackend::Postgres => format!("DROP TRIGGER IF EXISTS {trigger} ON tasks"),
                _ => format!("DROP TRIGGER IF EXISTS {trigger}"),
            };
            db.execute_unprepared(&sql).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS planned_task_count_change()")
                .await?;
        }
        db.execute_unprepared("DROP TABLE IF EXISTS planned_task_count_changes")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS planned_task_counts")
            .await?;
        Ok(())
    }
}
