use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Planned tasks per responsible operator, in schedule order, with every column the
/// dashboard counts and its lists filter on: the dashboard reads this index alone, without
/// visiting one table page per task. Partial, so it holds only the open work and closing a
/// task takes it out.
const CREATE: &str = "CREATE INDEX ix_tasks_planned ON tasks \
    (responsible_id, scheduled_at, id, type_id, taken_by_id, scheduled_time) \
    WHERE status = 'planned' AND kind = 'task'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(CREATE).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_tasks_planned")
                    .table("tasks")
                    .to_owned(),
            )
            .await
    }
}
