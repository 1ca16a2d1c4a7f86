use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("login_attempts")
                    // Lower-cased, whether or not an operator has it: throttling must not
                    // reveal which accounts exist.
                    .col(string_len("email", 254).primary_key())
                    .col(integer("failures").default(0))
                    .col(timestamp_with_time_zone("last_failure_at"))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("login_attempts").to_owned())
            .await
    }
}
