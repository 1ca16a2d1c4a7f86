use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(from: &'static str, column: &'static str, table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{column}"))
        .from(from, column)
        .to(table, "id")
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .col(big_pk_auto("id"))
                    .col(big_integer("customer_id"))
                    .col(string_len("channel", 16))
                    .col(string_len("direction", 8))
                    .col(string_len("sender", 320))
                    .col(string_len("recipient", 1000))
                    .col(string_len_null("subject", 1000))
                    .col(text("body"))
                    .col(timestamp_with_time_zone("sent_at"))
                    // RFC 5322 Message-ID of forwarded email: the dedupe key.
                    .col(string_len_null("message_id", 998))
                    .col(big_integer_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("messages", "customer_id", "customers"))
                    .foreign_key(&mut fk("messages", "created_by", "operators"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_messages_customer_message_id")
                    .table("messages")
                    .col("customer_id")
                    .col("message_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("calls")
                    .col(big_pk_auto("id"))
                    .col(big_integer("customer_id"))
                    .col(string_len("direction", 8))
                    .col(string_len("phone", 64))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(integer("duration_seconds"))
                    .col(big_integer_null("operator_id"))
                    .col(big_integer_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("calls", "customer_id", "customers"))
                    .foreign_key(&mut fk("calls", "operator_id", "operators"))
                    .foreign_key(&mut fk("calls", "created_by", "operators"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("documents")
                    .col(big_pk_auto("id"))
                    .col(big_integer("customer_id"))
                    .col(string_len("filename", 255))
                    .col(string_len("content_type", 255))
                    .col(big_integer("size"))
                    .col(string_len_uniq("storage_key", 128))
                    .col(big_integer_null("message_id"))
                    .col(big_integer_null("uploaded_by"))
                    .col(timestamp_with_time_zone("uploaded_at"))
                    .col(timestamp_with_time_zone_null("deleted_at"))
                    .col(big_integer_null("deleted_by"))
                    .foreign_key(&mut fk("documents", "customer_id", "customers"))
                    .foreign_key(&mut fk("documents", "message_id", "messages"))
                    .foreign_key(&mut fk("documents", "uploaded_by", "operators"))
                    .foreign_key(&mut fk("documents", "deleted_by", "operators"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("timeline_entries")
                    .col(big_pk_auto("id"))
                    .col(big_integer("customer_id"))
                    .col(string_len("kind", 32))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .col(big_integer_null("actor_id"))
                    .col(text("summary"))
                    // JSON object, written and read whole.
                    .col(text("data"))
                    .col(big_integer_null("task_id"))
                    .foreign_key(&mut fk("timeline_entries", "customer_id", "customers"))
                    .foreign_key(&mut fk("timeline_entries", "actor_id", "operators"))
                    .foreign_key(&mut fk("timeline_entries", "task_id", "tasks"))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_timeline_customer",
                &["customer_id", "occurred_at", "id"][..],
            ),
            (
                "ix_timeline_customer_kind",
                &["customer_id", "kind", "occurred_at", "id"][..],
            ),
            ("ix_timeline_task", &["task_id"][..]),
        ] {
            let mut index = Index::create()
                .name(name)
                .table("timeline_entries")
                .to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_documents_customer")
                    .table("documents")
                    .col("customer_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["timeline_entries", "documents", "calls", "messages"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
