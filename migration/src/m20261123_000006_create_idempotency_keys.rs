use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(big_integer("operator_id"))
                    .col(string_len("key", 255))
                    // SHA-256 of method, path and body: a reused key with another request is refused.
                    .col(string_len("fingerprint", 64))
                    // Null while the first request is still being served.
                    .col(integer_null("status_code"))
                    .col(text_null("response_headers"))
                    .col(text_null("response_body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("operator_id").col("key"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_operator")
                            .from("idempotency_keys", "operator_id")
                            .to("operators", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_idempotency_keys_created")
                    .table("idempotency_keys")
                    .col("created_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("idempotency_keys").to_owned())
            .await
    }
}
