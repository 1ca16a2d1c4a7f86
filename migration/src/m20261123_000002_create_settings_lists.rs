use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The outcomes every installation starts with, and the status each leaves a task in.
const SHIPPED_OUTCOMES: [(&str, &str); 5] = [
    ("Planned", "planned"),
    ("Positive", "done"),
    ("Negative", "done"),
    ("Sold", "done"),
    ("Cancelled", "cancelled"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("task_types")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("name", 200))
                    .col(string_len("color", 7))
                    .col(boolean("visible_in_agenda").default(true))
                    .col(boolean("priority").default(false))
                    .col(boolean("active").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("outcomes")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("name", 200))
                    .col(string_len("resulting_status", 16))
                    .col(boolean("active").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("tags")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("name", 200))
                    .col(string_len("color", 7))
                    .col(boolean("active").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("settings")
                    .col(big_integer("id").primary_key())
                    .col(big_integer("default_task_outcome_id"))
                    .col(string_len("reopen_tasks", 16))
                    .col(string_len("delete_documents", 16))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_settings_default_outcome")
                            .from("settings", "default_task_outcome_id")
                            .to("outcomes", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("server_secrets")
                    .col(string_len("name", 64).primary_key())
                    .col(text("value"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        let now: Expr = sea_orm::prelude::ChronoUtc::now().into();
        let mut insert = Query::insert()
            .into_table("outcomes")
            .columns(["name", "resulting_status", "active", "created_at"])
            .to_owned();
        for (name, status) in SHIPPED_OUTCOMES {
            insert.values_panic([name.into(), status.into(), true.into(), now.clone()]);
        }
        manager.exec_stmt(insert).await?;

        let planned = Query::select()
            .column("id")
            .from("outcomes")
            .and_where(Expr::col("name").eq("Planned"))
            .to_owned();
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("settings")
                    .columns([
                        "id",
                        "default_task_outcome_id",
                        "reopen_tasks",
                        "delete_documents",
                        "updated_at",
                    ])
                    .values_panic([
                        1.into(),
                        Expr::SubQuery(None, Box::new(planned.into_sub_query_statement())),
                        "admins".into(),
                        "admins".into(),
                        now,
                    ])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "server_secrets",
            "settings",
            "tags",
            "outcomes",
            "task_types",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
