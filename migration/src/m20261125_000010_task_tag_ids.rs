use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The PostgreSQL trigger function for an event on `task_tags`.
fn function_of(event: &str) -> &'static str {
    match event {
        "insert" => "task_tags_inserted",
        "delete" => "task_tags_deleted",
        _ => "task_tags_updated",
    }
}

/// Each task's tag ids on its own row (`tasks.tag_ids`, comma-separated, `NULL` without
/// tags), so that a task view is read without a sub-query into `task_tags` per task.
/// `task_tags` stays the record that filters and reports use; triggers on it keep the copy
/// in the changing transaction, whoever writes it.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE tasks ADD COLUMN tag_ids TEXT")
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                // Statement-level, over the transition table: one UPDATE per statement, however
                // many rows it wrote.
                for (event, table) in [("insert", "NEW"), ("delete", "OLD")] {
                    let function = function_of(event);
                    db.execute_unprepared(&format!(
                        "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger \
                         LANGUAGE plpgsql AS $$ BEGIN \
                         UPDATE tasks t SET tag_ids = (SELECT string_agg(tt.tag_id::text, ',' ORDER BY tt.tag_id) \
                           FROM task_tags tt WHERE tt.task_id = t.id) \
                         WHERE t.id IN (SELECT DISTINCT task_id FROM changed_rows); \
                         RETURN NULL; END $$"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER tr_task_tags_{event} AFTER {} ON task_tags \
                         REFERENCING {table} TABLE AS changed_rows \
                         FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
                        event.to_uppercase()
                    ))
                    .await?;
                }
                // An update may move a row from one task to another: both are recomputed.
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION task_tags_updated() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     UPDATE tasks t SET tag_ids = (SELECT string_agg(tt.tag_id::text, ',' ORDER BY tt.tag_id) \
                       FROM task_tags tt WHERE tt.task_id = t.id) \
                     WHERE t.id IN (SELECT task_id FROM old_rows UNION SELECT task_id FROM new_rows); \
                     RETURN NULL; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER tr_task_tags_update AFTER UPDATE ON task_tags \
                     REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
                     FOR EACH STATEMENT EXECUTE FUNCTION task_tags_updated()",
                )
                .await?;
            }
            _ => {
                let recompute = |row: &str| {
                    format!(
                        "UPDATE tasks SET tag_ids = (SELECT group_concat(tag_id, ',') FROM \
                         (SELECT tag_id FROM task_tags WHERE task_id = {row}.task_id ORDER BY tag_id)) \
                         WHERE id = {row}.task_id;"
                    )
                };
                for (event, body) in [
                    ("insert", recompute("NEW")),
                    ("delete", recompute("OLD")),
                    (
                        "update",
                        format!("{} {}", recompute("OLD"), recompute("NEW")),
                    ),
                ] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER tr_task_tags_{event} AFTER {} ON task_tags BEGIN {body} END",
                        event.to_uppercase()
                    ))
                    .await?;
                }
            }
        }
        let aggregate = match manager.get_database_backend() {
            DbBackend::Postgres => "string_agg(tt.tag_id::text, ',' ORDER BY tt.tag_id)",
            _ => "group_concat(tt.tag_id, ',')",
        };
        db.execute_unprepared(&format!(
            "UPDATE tasks SET tag_ids = (SELECT {aggregate} FROM task_tags tt WHERE tt.task_id = tasks.id) \
             WHERE id IN (SELECT task_id FROM task_tags)"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for event in ["insert", "delete", "update"] {
            match manager.get_database_backend() {
                DbBackend::Postgres => {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS tr_task_tags_{event} ON task_tags"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "DROP FUNCTION IF EXISTS {}()",
                        function_of(event)
                    ))
                    .await?;
                }
                _ => {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS tr_task_tags_{event}"))
                        .await?;
                }
            }
        }
        db.execute_unprepared("ALTER TABLE tasks DROP COLUMN tag_ids")
            .await?;
        Ok(())
    }
}
