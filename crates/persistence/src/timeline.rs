//! Writing timeline entries. Entries are written in the same transaction as the change
//! they record, so the timeline never disagrees with the data.

use crate::StoreResult;
use crate::columns::Columns;
use crate::entities::timeline_entry;
use crate::write::Insert;
use chrono::{DateTime, Utc};
use crm_domain::{ChangeValue, FieldChange};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};
use serde_json::{Value, json};

/// One entry to write.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub customer_id: i64,
    pub kind: &'static str,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub summary: String,
    pub data: Value,
    pub task_id: Option<i64>,
}

/// Rows for `entries`.
fn models(entries: Vec<NewEntry>) -> impl Iterator<Item = timeline_entry::ActiveModel> {
    entries.into_iter().map(|e| timeline_entry::ActiveModel {
        customer_id: Set(e.customer_id),
        kind: Set(e.kind.to_owned()),
        occurred_at: Set(e.occurred_at),
        actor_id: Set(e.actor_id),
        summary: Set(e.summary),
        data: Set(e.data.to_string()),
        task_id: Set(e.task_id),
        ..Default::default()
    })
}

pub(crate) async fn record(db: &impl ConnectionTrait, entries: Vec<NewEntry>) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    timeline_entry::Entity::insert_many(models(entries))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// `entries` as an insert of a step (`crate::write`); `None` without entries.
pub(crate) fn insert_of(entries: Vec<NewEntry>) -> Option<Insert> {
    Insert::of(models(entries))
}

fn to_json(v: &ChangeValue) -> Value {
    match v {
        ChangeValue::Null => Value::Null,
        ChangeValue::Text(s) => Value::String(s.clone()),
        ChangeValue::Id(i) => json!(i),
        ChangeValue::Flag(b) => json!(b),
    }
}

fn to_text(v: &ChangeValue) -> String {
    match v {
        ChangeValue::Null => "(none)".to_owned(),
        ChangeValue::Text(s) => format!("“{s}”"),
        ChangeValue::Id(i) => format!("#{i}"),
        ChangeValue::Flag(b) => b.to_string(),
    }
}

/// `change` entries, one per field, for a change to `entity` (`customer` or `task`).
pub fn change_entries(
    customer_id: i64,
    entity: &'static str,
    entity_id: i64,
    task_id: Option<i64>,
    actor_id: i64,
    at: DateTime<Utc>,
    changes: &[FieldChange],
) -> Vec<NewEntry> {
    changes
        .iter()
        .map(|c| NewEntry {
            customer_id,
            kind: "change",
            occurred_at: at,
            actor_id: Some(actor_id),
            summary: format!(
                "{entity} {}: {} → {}",
                c.field,
                to_text(&c.old),
                to_text(&c.new)
            ),
            data: json!({
                "entity": entity,
                "entity_id": entity_id,
                "field": c.field,
                "old": to_json(&c.old),
                "new": to_json(&c.new),
            }),
            task_id,
        })
        .collect()
}

/// A timeline entry as read: `data` is the JSON object stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub summary: String,
    pub data: String,
}

#[derive(Debug)]
struct EntryRow {
    id: i64,
    kind: String,
    occurred_at: DateTime<Utc>,
    actor_id: Option<i64>,
    summary: String,
    data: String,
    catalog_version: i64,
}

/// The columns [`page`] reads, in the order [`EntryRow`] decodes them; the catalog version
/// follows.
const ENTRY_COLUMNS: [&str; 6] = ["id", "kind", "occurred_at", "actor_id", "summary", "data"];

/// Decoded by position, as task views are (`tasks::TaskRow`): by name, each column of each
/// row is looked up in the row's map of column names.
impl EntryRow {
    fn decode(row: Columns<'_>) -> Result<Self, sea_orm::DbErr> {
        Ok(Self {
            id: row.get(0)?,
            kind: row.get(1)?,
            occurred_at: row.get(2)?,
            actor_id: row.get(3)?,
            summary: row.get(4)?,
            data: row.get(5)?,
            catalog_version: row.get(ENTRY_COLUMNS.len())?,
        })
    }

    /// A row read by rusqlite (`crate::inline`), its values taken as sqlx takes them; `None`
    /// for one it would not decode.
    fn decode_sqlite(row: &rusqlite::Row<'_>) -> Option<Self> {
        Some(Self {
            id: row.get(0).ok()?,
            kind: row.get(1).ok()?,
            occurred_at: crate::inline::date_time(row.get_ref(2).ok()?)?,
            actor_id: row.get(3).ok()?,
            summary: row.get(4).ok()?,
            data: row.get(5).ok()?,
            catalog_version: row.get(ENTRY_COLUMNS.len()).ok()?,
        })
    }
}

/// Every kind of entry, as filters name them.
pub const KINDS: [&str; 8] = [
    "task_closed",
    "task_reopened",
    "note",
    "message",
    "call",
    "change",
    "document",
    "document_deleted",
];

/// A page of `customer_id`'s timeline, newest first, optionally of some kinds only; actors
/// are named from the catalog. On PostgreSQL a first page of every kind may be read with
/// others asked at the same time (see `crate::loads`).
pub async fn page(
    db: &crate::Reader<'_>,
    names: &crate::Names,
    customer_id: i64,
    kinds: &[&str],
    after: Option<(DateTime<Utc>, i64)>,
    limit: u64,
) -> StoreResult<crate::Page<Entry>> {
    use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
    let limit = limit.clamp(1, crate::MAX_LIMIT);
    if db.get_database_backend() == DbBackend::Postgres && kinds.is_empty() && after.is_none() {
        let ask = FirstPage {
            customer_id,
            rows: limit + 1,
        };
        let mut rows = crate::loads::Loads::load(db, |h| &h.first_pages, ask)
            .await?
            .iter()
            .map(|row| EntryRow::decode(Columns::of(row)))
            .collect::<Result<Vec<_>, _>>()?;
        rows.sort_unstable_by_key(|r| std::cmp::Reverse((r.occurred_at, r.id)));
        return named(db, names, rows, limit).await;
    }
    let mut q = Query::select();
    for col in ENTRY_COLUMNS {
        q.column(("e", col));
    }
    q.expr_as(Expr::cust(crate::names::VERSION_EXPR), "catalog_version")
        .from_as("timeline_entries", "e")
        .and_where(Expr::col(("e", "customer_id")).eq(customer_id));
    if !kinds.is_empty() {
        q.and_where(Expr::col(("e", "kind")).is_in(kinds.iter().copied()));
    }
    let backend = db.get_database_backend();
    if let Some((at, id)) = after {
        let key = [
            crate::paging::cursor_value(backend, at),
            crate::paging::cursor_value(backend, id),
        ];
        q.and_where(
            Expr::tuple([Expr::col(("e", "occurred_at")), Expr::col(("e", "id"))])
                .lt(Expr::tuple(key)),
        );
    }
    q.order_by(("e", "occurred_at"), Order::Desc)
        .order_by(("e", "id"), Order::Desc);
    let statement = crate::paging::limited(backend.build(&q), limit + 1);
    // On SQLite read on the calling thread where it can be (see `crate::inline`).
    let rows = match db.inline(&statement, EntryRow::decode_sqlite) {
        Some(rows) => rows,
        None => Columns::decode_all(db, statement, EntryRow::decode).await?,
    };
    named(db, names, rows, limit).await
}

/// `rows`, already newest first, as a page of at most `limit` entries, their actors named
/// from the catalog.
async fn named(
    db: &crate::Reader<'_>,
    names: &crate::Names,
    rows: Vec<EntryRow>,
    limit: u64,
) -> StoreResult<crate::Page<Entry>> {
    let version = rows.iter().map(|r| r.catalog_version).max().unwrap_or(0);
    let catalog = names.at_least(db, version).await?;
    let entries = rows
        .into_iter()
        .map(|r| Entry {
            actor_name: r
                .actor_id
                .and_then(|id| catalog.operator(id))
                .map(|o| o.name.clone()),
            id: r.id,
            kind: r.kind,
            occurred_at: r.occurred_at,
            actor_id: r.actor_id,
            summary: r.summary,
            data: r.data,
        })
        .collect();
    Ok(crate::paging::split(entries, limit))
}

/// The first page of a customer's timeline, of every kind (PostgreSQL): on a server under
/// load, the first pages asked together are read in one statement (see `crate::loads`).
#[derive(Debug)]
pub(crate) struct FirstPage {
    customer_id: i64,
    /// The page's size and one more, which tells whether another page follows.
    rows: u64,
}

impl crate::loads::Ask for FirstPage {
    fn key(&self) -> i64 {
        self.customer_id
    }
}

/// The statement that reads `pages`: for each, the customer's newest entries, in the order
/// of [`page`] (from the index of a customer's entries by time), each row with the catalog
/// version and its customer's id as `for_customer`. The order across customers is not set.
pub(crate) fn first_pages_statement(pages: &[&FirstPage]) -> Statement {
    let columns = |table: &str| {
        ENTRY_COLUMNS
            .iter()
            .map(|col| format!("{table}.{col}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let asked = crate::loads::bigint_rows(pages.len(), 2);
    let sql = format!(
        "SELECT {}, {} AS catalog_version, r.customer_id AS for_customer \
         FROM (VALUES {asked}) AS r (customer_id, n) CROSS JOIN LATERAL \
         (SELECT {} FROM timeline_entries e WHERE e.customer_id = r.customer_id \
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT r.n) AS e",
        columns("e"),
        crate::names::VERSION_EXPR,
        columns("e"),
    );
    let values = pages.iter().flat_map(|p| {
        [
            p.customer_id.into(),
            i64::try_from(p.rows).unwrap_or(i64::MAX).into(),
        ]
    });
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values.collect::<Vec<sea_orm::Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page of every customer's timeline, of all kinds or some, read on the calling
    /// thread and through the pool, is the same page.
    #[tokio::test]
    async fn pages_read_on_the_calling_thread_are_the_pages_the_pool_reads() {
        let (_dir, db, names) = crate::bulk::sample::sqlite().await;
        let inline = crate::HotConnections::new(2);
        let pooled = crate::HotConnections::new(0);
        let mut read = 0;
        for customer in 0..=31 {
            for kinds in [&[][..], &["note"], &["task_closed", "change", "message"]] {
                let mut after = None;
                loop {
                    let (fast, slow) = (
                        crate::Reader::new(&db, &inline),
                        crate::Reader::new(&db, &pooled),
                    );
                    let a = page(&fast, &names, customer, kinds, after, 7)
                        .await
                        .unwrap();
                    let b = page(&slow, &names, customer, kinds, after, 7)
                        .await
                        .unwrap();
                    assert_eq!(a, b, "customer {customer}, {kinds:?}, after {after:?}");
                    read += a.items.len();
                    let Some(last) = a.items.last().filter(|_| a.has_more) else {
                        break;
                    };
                    after = Some((last.occurred_at, last.id));
                }
            }
        }
        assert!(read > 300, "{read} entries compared");
        assert!(inline.inline_reads() > 100);
        assert_eq!(pooled.inline_reads(), 0);
    }

    /// First pages asked at once (PostgreSQL, read in one statement) are each the page read
    /// alone: different customers, one asked twice with two sizes, one with no entries.
    #[tokio::test]
    async fn first_pages_read_together_are_the_pages_read_alone() {
        let Some((_dropped, db, names)) = crate::bulk::sample::postgres().await else {
            return;
        };
        let hot = crate::HotConnections::new(2);
        let reader = crate::Reader::new(&db, &hot);
        let asked: Vec<(i64, u64)> = (1..=12)
            .map(|customer| (customer, 5 + customer as u64 % 3 * 20))
            .chain([(3, 2), (1_000_000, 50)])
            .collect();
        let pages = futures_util::future::join_all(
            asked
                .iter()
                .map(|(customer, limit)| page(&reader, &names, *customer, &[], None, *limit)),
        )
        .await;
        let mut entries = 0;
        for ((customer, limit), together) in asked.iter().zip(pages) {
            let together = together.unwrap();
            // Naming every kind reads the same entries alone, in a statement of its own.
            let alone = page(&reader, &names, *customer, &KINDS, None, *limit)
                .await
                .unwrap();
            assert_eq!(together, alone, "customer {customer}, {limit} a page");
            entries += together.items.len();
        }
        assert!(entries > 100, "{entries} entries compared");
        assert!(hot.first_pages.read_together() >= 1);
        assert_eq!(hot.first_pages.read_again(), 0);
    }
}
