use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every keyset order ends in `id`, so each index that serves a sort does too.
const TASK_INDEXES: [(&str, &[&str]); 10] = [
    (
        "ix_tasks_customer_scheduled",
        &["customer_id", "scheduled_at", "id"],
    ),
    (
        "ix_tasks_responsible_status",
        &["responsible_id", "status", "scheduled_at", "id"],
    ),
    (
        "ix_tasks_status_scheduled",
        &["status", "scheduled_at", "id"],
    ),
    ("ix_tasks_scheduled", &["scheduled_at", "id"]),
    ("ix_tasks_created", &["created_at", "id"]),
    (
        "ix_tasks_type_status",
        &["type_id", "status", "scheduled_at", "id"],
    ),
    ("ix_tasks_creator", &["creator_id", "created_at", "id"]),
    ("ix_tasks_parent", &["parent_id"]),
    ("ix_tasks_closed", &["closed_at", "id"]),
    (
        "ix_tasks_kind_status",
        &["kind", "status", "scheduled_at", "id"],
    ),
];

fn fk(name: &str, column: &'static str, table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from("tasks", column)
        .to(table, "id")
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tasks")
                    .col(big_pk_auto("id"))
                    .col(string_len("kind", 8))
                    .col(big_integer("customer_id"))
                    .col(text("description"))
                    .col(big_integer("type_id"))
                    .col(date("scheduled_date"))
                    .col(time_null("scheduled_time"))
                    // Local date and time together, the key of every schedule sort.
                    .col(date_time("scheduled_at"))
                    .col(big_integer("creator_id"))
                    .col(big_integer("responsible_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("status", 16))
                    .col(big_integer_null("outcome_id"))
                    .col(big_integer_null("parent_id"))
                    .col(big_integer_null("taken_by_id"))
                    .col(timestamp_with_time_zone_null("taken_at"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .col(big_integer_null("closed_by_id"))
                    .col(integer("version").default(1))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("fk_tasks_customer", "customer_id", "customers"))
                    .foreign_key(&mut fk("fk_tasks_type", "type_id", "task_types"))
                    .foreign_key(&mut fk("fk_tasks_creator", "creator_id", "operators"))
                    .foreign_key(&mut fk(
                        "fk_tasks_responsible",
                        "responsible_id",
                        "operators",
                    ))
                    .foreign_key(&mut fk("fk_tasks_outcome", "outcome_id", "outcomes"))
                    .foreign_key(&mut fk("fk_tasks_parent", "parent_id", "tasks"))
                    .foreign_key(&mut fk("fk_tasks_taken_by", "taken_by_id", "operators"))
                    .foreign_key(&mut fk("fk_tasks_closed_by", "closed_by_id", "operators"))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in TASK_INDEXES {
            let mut index = Index::create().name(name).table("tasks").to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("task_tags")
                    .col(big_integer("task_id"))
                    .col(big_integer("tag_id"))
                    .primary_key(Index::create().col("task_id").col("tag_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_tags_task")
                            .from("task_tags", "task_id")
                            .to("tasks", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_tags_tag")
                            .from("task_tags", "tag_id")
                            .to("tags", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_task_tags_tag")
                    .table("task_tags")
                    .col("tag_id")
                    .col("task_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("task_tags").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("tasks").to_owned())
            .await
    }
}
