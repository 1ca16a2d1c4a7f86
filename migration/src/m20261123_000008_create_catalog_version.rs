use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows the server keeps in memory to name things in task views.
const CATALOG: [&str; 4] = ["operators", "task_types", "outcomes", "tags"];

/// A counter that every change to the catalog tables raises, by trigger, in the same
/// transaction. A server compares it with the version of the names it holds in memory and
/// reloads them when it has moved, so that several servers on one database, or a change made
/// with SQL by hand, never leave a stale name in a view.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE catalog_version (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
        )
        .await?;
        db.execute_unprepared("INSERT INTO catalog_version (id, version) VALUES (1, 1)")
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION bump_catalog_version() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     UPDATE catalog_version SET version = version + 1 WHERE id = 1; \
                     RETURN NULL; END $$",
                )
                .await?;
                for table in CATALOG {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER tr_{table}_catalog_version \
                         AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version()"
                    ))
                    .await?;
                }
            }
            _ => {
                for table in CATALOG {
                    for event in ["INSERT", "UPDATE", "DELETE"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER tr_{table}_{}_catalog_version AFTER {event} ON {table} \
                             BEGIN UPDATE catalog_version SET version = version + 1 WHERE id = 1; END",
                            event.to_lowercase()
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for table in CATALOG {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS tr_{table}_catalog_version ON {table}"
                    ))
                    .await?;
                }
                db.execute_unprepared("DROP FUNCTION IF EXISTS bump_catalog_version()")
                    .await?;
            }
            _ => {
                for table in CATALOG {
                    for event in ["insert", "update", "delete"] {
                        db.execute_unprepared(&format!(
                            "DROP TRIGGER IF EXISTS tr_{table}_{event}_catalog_version"
                        ))
                        .await?;
                    }
                }
            }
        }
        db.execute_unprepared("DROP TABLE catalog_version").await?;
        Ok(())
    }
}
