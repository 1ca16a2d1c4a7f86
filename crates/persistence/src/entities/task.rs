use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub customer_id: i64,
    pub description: String,
    pub type_id: i64,
    pub scheduled_date: Date,
    pub scheduled_time: Option<Time>,
    pub scheduled_at: DateTime,
    pub creator_id: i64,
    pub responsible_id: i64,
    pub created_at: DateTimeUtc,
    pub status: String,
    pub outcome_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub taken_by_id: Option<i64>,
    pub taken_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub closed_by_id: Option<i64>,
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
