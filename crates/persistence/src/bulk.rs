//! A realistic dataset, written quickly in batches: for benchmarks and load tests, never for
//! production data (rows get explicit ids and skip the repositories' checks).

use crate::StoreResult;
use crate::entities::{customer, operator, tag, task, task_tag, task_type, team, timeline_entry};
use chrono::{Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait};

#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub customers: i64,
    pub tasks: i64,
    pub operators: i64,
    pub teams: i64,
    pub types: i64,
    pub tags: i64,
}

impl Default for Scale {
    fn default() -> Self {
        Self {
            customers: 20_000,
            tasks: 1_000_000,
            operators: 50,
            teams: 5,
            types: 12,
            tags: 30,
        }
    }
}

/// What the generator made, for picking request targets.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub tasks: i64,
    pub customers: i64,
    pub operators: i64,
    pub teams: i64,
    /// Ids of planned tasks, for steps that close them.
    pub planned: Vec<i64>,
    pub timeline_entries: i64,
}

const BATCH: usize = 1000;

async fn insert_all<E, A>(db: &DatabaseConnection, rows: Vec<A>) -> StoreResult<()>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<A> = rows.by_ref().take(BATCH).collect();
        E::insert_many(batch).exec_without_returning(db).await?;
    }
    Ok(())
}

/// A cheap deterministic pseudo-random number, so that two runs make the same data.
fn mix(n: i64, salt: i64) -> i64 {
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (salt as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x >> 1) as i64
}

/// Fills an empty, migrated database: operator 1 is an admin whose password hash is given.
pub async fn generate(
    db: &DatabaseConnection,
    scale: Scale,
    today: NaiveDate,
    admin_hash: &str,
) -> StoreResult<Dataset> {
    let now = crate::now();
    insert_all(
        db,
        (1..=scale.teams)
            .map(|i| team::ActiveModel {
                id: Set(i),
                name: Set(format!("Team {i}")),
                active: Set(true),
                created_at: Set(now),
            })
            .collect(),
    )
    .await?;
    insert_all(
        db,
        (1..=scale.operators)
            .map(|i| operator::ActiveModel {
                id: Set(i),
                name: Set(if i == 1 {
                    "Administrator".into()
                } else {
                    format!("Operator {i}")
                }),
                email: Set(if i == 1 {
                    "admin@example.com".into()
                } else {
                    format!("operator{i}@example.com")
                }),
                password_hash: Set(admin_hash.to_owned()),
                role: Set(if i == 1 {
                    "admin".into()
                } else {
                    "operator".into()
                }),
                team_id: Set(Some((i - 1) % scale.teams + 1)),
                active: Set(true),
                calendar_token_hash: Set(None),
                created_at: Set(now),
            })
            .collect(),
    )
    .await?;
    insert_all(
        db,
        (1..=scale.types)
            .map(|i| task_type::ActiveModel {
                id: Set(i),
                name: Set(format!("Type {i}")),
                color: Set(format!("#{:06x}", mix(i, 1) % 0xFFFFFF)),
                visible_in_agenda: Set(i % 4 != 0),
                priority: Set(i % 4 == 1),
                active: Set(true),
                created_at: Set(now),
            })
            .collect(),
    )
    .await?;
    insert_all(
        db,
        (1..=scale.tags)
            .map(|i| tag::ActiveModel {
                id: Set(i),
                name: Set(format!("tag {i}")),
                color: Set("#9e9e9e".into()),
                active: Set(true),
                created_at: Set(now),
            })
            .collect(),
    )
    .await?;
    insert_all(
        db,
        (1..=scale.customers)
            .map(|i| customer::ActiveModel {
                id: Set(i),
                name: Set(format!("Customer {:05}", mix(i, 2) % 100_000)),
                email: Set(Some(format!("customer{i}@example.com"))),
                phone: Set(Some(format!(
                    "+34 600 {:03} {:03}",
                    i / 1000 % 1000,
                    i % 1000
                ))),
                consultant_id: Set(Some((i - 1) % scale.operators + 1)),
                archive_code: Set(format!("bench{i:027}")),
                created_at: Set(now),
                updated_at: Set(now),
                version: Set(1),
            })
            .collect(),
    )
    .await?;

    // Tasks over two years: the first three quarters in the past (closed), the rest planned.
    let span_days = 730;
    let start = today - Duration::days(span_days * 3 / 4);
    let mut planned = Vec::new();
    let mut timeline_entries = 0;
    let mut chunk_start = 1;
    while chunk_start <= scale.tasks {
        let end = (chunk_start + 50_000 - 1).min(scale.tasks);
        let mut rows = Vec::new();
        let mut tags = Vec::new();
        let mut entries = Vec::new();
        for id in chunk_start..=end {
            let customer = (id - 1) % scale.customers + 1;
            let chain_position = (id - 1) / scale.customers % 4;
            let parent = (chain_position > 0).then(|| id - scale.customers);
            let day = start + Duration::days((id - 1) * span_days / scale.tasks + mix(id, 3) % 3);
            let time = (mix(id, 4) % 3 != 0)
                .then(|| {
                    NaiveTime::from_hms_opt(
                        (8 + mix(id, 5) % 12) as u32,
                        (mix(id, 6) % 4 * 15) as u32,
                        0,
                    )
                })
                .flatten();
            let note = mix(id, 7) % 7 == 0;
            let closed = note || day < today;
            let type_id = mix(id, 8) % scale.types + 1;
            let consultant = (customer - 1) % scale.operators + 1;
            let responsible = if mix(id, 9) % 5 == 0 {
                mix(id, 10) % scale.operators + 1
            } else {
                consultant
            };
            let scheduled_at = crm_domain::task::scheduled_at(day, time);
            let created_at =
                Utc.from_utc_datetime(&(scheduled_at - Duration::days(1 + mix(id, 11) % 10)));
            let closed_at = Utc.from_utc_datetime(&(scheduled_at + Duration::hours(1)));
            let (status, outcome) = if !closed {
                ("planned", 1)
            } else if mix(id, 12) % 5 == 0 {
                ("cancelled", 5)
            } else {
                ("done", 2 + mix(id, 13) % 3)
            };
            if !closed {
                planned.push(id);
            }
            rows.push(task::ActiveModel {
                id: Set(id),
                kind: Set(if note { "note" } else { "task" }.into()),
                customer_id: Set(customer),
                description: Set(format!(
                    "Follow-up {} with customer {customer}",
                    chain_position + 1
                )),
                type_id: Set(type_id),
                scheduled_date: Set(day),
                scheduled_time: Set(time),
                scheduled_at: Set(scheduled_at),
                creator_id: Set(consultant),
                responsible_id: Set(responsible),
                created_at: Set(created_at),
                status: Set(status.into()),
                outcome_id: Set(Some(outcome)),
                parent_id: Set(parent),
                taken_by_id: Set((!closed && mix(id, 14) % 3 == 0).then_some(responsible)),
                taken_at: Set(None),
                closed_at: Set(closed.then_some(closed_at)),
                closed_by_id: Set(closed.then_some(responsible)),
                version: Set(if closed { 2 } else { 1 }),
                updated_at: Set(created_at),
            });
            if id % 3 == 0 {
                tags.push(task_tag::ActiveModel {
                    task_id: Set(id),
                    tag_id: Set(mix(id, 15) % scale.tags + 1),
                });
            }
            if closed {
                entries.push(timeline_entry::ActiveModel {
                    customer_id: Set(customer),
                    kind: Set(if note { "note" } else { "task_closed" }.into()),
                    occurred_at: Set(closed_at),
                    actor_id: Set(Some(responsible)),
                    summary: Set(format!("Type {type_id} closed: follow-up {}", chain_position + 1)),
                    data: Set(format!("{{\"task_id\":{id},\"outcome\":{{\"id\":{outcome}}},\"status\":\"{status}\"}}")),
                    task_id: Set(Some(id)),
                    ..Default::default()
                });
            }
        }
        timeline_entries += entries.len() as i64;
        insert_all(db, rows).await?;
        insert_all(db, tags).await?;
        insert_all(db, entries).await?;
        chunk_start = end + 1;
    }
    if db.get_database_backend() == DbBackend::Postgres {
        for table in [
            "teams",
            "operators",
            "task_types",
            "tags",
            "customers",
            "tasks",
        ] {
            db.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            ))
            .await?;
        }
    }
    // What a database in use has from autovacuum: statistics, and on PostgreSQL a visibility
    // map, without which an index-only scan (the dashboard's counts) reads every heap page
    // it names (one operator's planned tasks: 26 ms instead of 0.4 ms on 200,000 tasks).
    match db.get_database_backend() {
        DbBackend::Postgres => db.execute_unprepared("VACUUM ANALYZE").await?,
        _ => db.execute_unprepared("ANALYZE").await?,
    };
    Ok(Dataset {
        tasks: scale.tasks,
        customers: scale.customers,
        operators: scale.operators,
        teams: scale.teams,
        planned,
        timeline_entries,
    })
}

/// What an earlier [`generate`] left in `db`, for running on a kept dataset again: the
/// highest ids (rows are never deleted by the benchmark's requests, and what they create
/// comes after what was generated) and the planned tasks still open, in id order.
pub async fn describe(db: &DatabaseConnection) -> StoreResult<Dataset> {
    let backend = db.get_database_backend();
    let extent = db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM tasks) AS tasks, \
             (SELECT COALESCE(MAX(id), 0) FROM customers) AS customers, \
             (SELECT COALESCE(MAX(id), 0) FROM operators) AS operators, \
             (SELECT COALESCE(MAX(id), 0) FROM teams) AS teams, \
             (SELECT COUNT(*) FROM timeline_entries) AS timeline_entries",
        ))
        .await?
        .ok_or(crate::StoreError::NotFound)?;
    let planned = db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT id FROM tasks WHERE status = 'planned' AND kind = 'task' ORDER BY id",
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<i64>("", "id"))
        .collect::<Result<_, _>>()?;
    Ok(Dataset {
        tasks: extent.try_get("", "tasks")?,
        customers: extent.try_get("", "customers")?,
        operators: extent.try_get("", "operators")?,
        teams: extent.try_get("", "teams")?,
        planned,
        timeline_entries: extent.try_get("", "timeline_entries")?,
    })
}

/// A small generated dataset for tests.
#[cfg(test)]
pub(crate) mod sample {
    use sea_orm::DatabaseConnection;

    /// A SQLite file with 400 generated tasks over 30 customers, and its catalog.
    pub(crate) async fn sqlite() -> (tempfile::TempDir, DatabaseConnection, crate::Names) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let (db, names) = filled(&url).await;
        (dir, db, names)
    }

    /// A database of its own on the PostgreSQL server that `TEST_DATABASE_URL` names, with
    /// the same dataset, dropped with the returned guard; `None`, saying the test is skipped,
    /// when no such server is named.
    pub(crate) async fn postgres() -> Option<(Dropped, DatabaseConnection, crate::Names)> {
        use sea_orm::ConnectionTrait;
        let Some(url) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        else {
            eprintln!("skipped: TEST_DATABASE_URL names no PostgreSQL server");
            return None;
        };
        let name = format!("crm_unit_{:016x}", rand::random::<u64>());
        let admin = sea_orm::Database::connect(&url).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.ok();
        let dropped = Dropped {
            url: url.clone(),
            name: name.clone(),
        };
        let (db, names) = filled(&crate::replace_database(&url, &name)).await;
        Some((dropped, db, names))
    }

    /// Drops its database when it goes, even when the test failed.
    pub(crate) struct Dropped {
        url: String,
        name: String,
    }

    impl Drop for Dropped {
        fn drop(&mut self) {
            use sea_orm::ConnectionTrait;
            let (url, name) = (self.url.clone(), self.name.clone());
            // A test's runtime may be the current thread's: drop it from a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(db) = sea_orm::Database::connect(&url).await {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = db.execute_unprepared(&drop).await;
                        db.close().await.ok();
                    }
                });
            })
            .join();
        }
    }

    /// The database at `url`, migrated, with 400 generated tasks over 30 customers, and its
    /// catalog.
    async fn filled(url: &str) -> (DatabaseConnection, crate::Names) {
        let db = crate::connect(url, &crate::PoolConfig::default())
            .await
            .unwrap();
        crate::migrate(&db).await.unwrap();
        let scale = crate::bulk::Scale {
            customers: 30,
            tasks: 400,
            ..Default::default()
        };
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        crate::bulk::generate(&db, scale, today, "not a hash")
            .await
            .unwrap();
        let names = crate::Names::new();
        names.reload(&db).await.unwrap();
        (db, names)
    }
}
