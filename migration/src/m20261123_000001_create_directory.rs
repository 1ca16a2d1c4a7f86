use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("teams")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("name", 200))
                    .col(boolean("active").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("operators")
                    .col(big_pk_auto("id"))
                    .col(string_len("name", 200))
                    .col(string_len_uniq("email", 254))
                    .col(string("password_hash"))
                    .col(string_len("role", 16))
                    .col(big_integer_null("team_id"))
                    .col(boolean("active").default(true))
                    .col(string_len_null("calendar_token_hash", 64).unique_key())
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_operators_team")
                            .from("operators", "team_id")
                            .to("teams", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_operators_team")
                    .table("operators")
                    .col("team_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("operators").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("teams").to_owned())
            .await
    }
}
