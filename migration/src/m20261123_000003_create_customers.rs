use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("customers")
                    .col(big_pk_auto("id"))
                    .col(string_len("name", 200))
                    .col(string_len_null("email", 254))
                    .col(string_len_null("phone", 64))
                    .col(big_integer_null("consultant_id"))
                    .col(string_len_uniq("archive_code", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(integer("version").default(1))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customers_consultant")
                            .from("customers", "consultant_id")
                            .to("operators", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ix_customers_name", &["name", "id"][..]),
            ("ix_customers_consultant", &["consultant_id", "id"][..]),
        ] {
            let mut index = Index::create().name(name).table("customers").to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("customers").to_owned())
            .await
    }
}
