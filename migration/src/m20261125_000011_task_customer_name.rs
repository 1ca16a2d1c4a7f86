use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each task's customer name on its own row (`tasks.customer_name`), so that a task view, a
/// list page and the agenda read `tasks` alone instead of looking up a customer per row.
/// Triggers keep the copy, whoever writes: a task takes its customer's name when it is
/// inserted (or moved to another customer), and renaming a customer renames it on all of
/// that customer's tasks, in the renaming transaction.
///
/// On PostgreSQL the inserting trigger reads the name `FOR SHARE`. That lock conflicts with
/// the one an update of the customer row takes, so a task insert and a rename of its customer
/// never overlap unseen: either the insert waits for the rename to commit and reads the new
/// name, or the rename waits for the insert to commit and its update of `tasks` then includes
/// the new task. SQLite runs one writer at a time, so its triggers need no lock.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE tasks ADD COLUMN customer_name TEXT")
            .await?;
        db.execute_unprepared(
            "UPDATE tasks SET customer_name = \
             (SELECT c.name FROM customers c WHERE c.id = tasks.customer_id)",
        )
        .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION task_customer_name() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     SELECT c.name INTO NEW.customer_name FROM customers c \
                       WHERE c.id = NEW.customer_id FOR SHARE; \
                     RETURN NEW; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER tr_tasks_customer_name_insert BEFORE INSERT ON tasks \
                     FOR EACH ROW EXECUTE FUNCTION task_customer_name()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER tr_tasks_customer_name_update BEFORE UPDATE OF customer_id \
                     ON tasks FOR EACH ROW WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id) \
                     EXECUTE FUNCTION task_customer_name()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION customer_renamed() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     UPDATE tasks SET customer_name = NEW.name WHERE customer_id = NEW.id; \
                     RETURN NULL; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER tr_customers_renamed AFTER UPDATE OF name ON customers \
                     FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) \
                     EXECUTE FUNCTION customer_renamed()",
                )
                .await?;
            }
            _ => {
                let named = "UPDATE tasks SET customer_name = \
                    (SELECT c.name FROM customers c WHERE c.id = NEW.customer_id) \
                    WHERE id = NEW.id;";
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER tr_tasks_customer_name_insert AFTER INSERT ON tasks \
                     BEGIN {named} END"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER tr_tasks_customer_name_update AFTER UPDATE OF customer_id \
                     ON tasks WHEN OLD.customer_id IS NOT NEW.customer_id BEGIN {named} END"
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER tr_customers_renamed AFTER UPDATE OF name ON customers \
                     WHEN OLD.name IS NOT NEW.name BEGIN \
                     UPDATE tasks SET customer_name = NEW.name WHERE customer_id = NEW.id; END",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (trigger, table) in [
            ("tr_tasks_customer_name_insert", "tasks"),
            ("tr_tasks_customer_name_update", "tasks"),
            ("tr_customers_renamed", "customers"),
        ] {
            let sql = match manager.get_database_backend() {
                DbBackend::Postgres => format!("DROP TRIGGER IF EXISTS {trigger} ON {table}"),
                _ => format!("DROP TRIGGER IF EXISTS {trigger}"),
            };
            db.execute_unprepared(&sql).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP FUNCTION IF EXISTS task_customer_name(); \
                 DROP FUNCTION IF EXISTS customer_renamed()",
            )
            .await?;
        }
        db.execute_unprepared("ALTER TABLE tasks DROP COLUMN customer_name")
            .await?;
        Ok(())
    }
}
