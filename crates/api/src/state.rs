use crate::auth::TokenKeys;
use crm_persistence::DatabaseConnection;

/// What every handler shares: the pool, the catalog's names and the token keys. Each server
/// worker has its own copy; on PostgreSQL each also has its own pool (see
/// `crm_persistence::connect_lazy`), everything else is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// The process's own pool: start-up, housekeeping, and the readiness check. On SQLite
    /// it is `db`.
    pub shared_db: DatabaseConnection,
    /// The worker's held connections for single-statement reads (PostgreSQL only).
    pub hot: std::sync::Arc<crm_persistence::HotConnections>,
    /// Operators, task types, outcomes and tags in memory, to name things in task views.
    pub names: std::sync::Arc<crm_persistence::Names>,
    pub tokens: std::sync::Arc<TokenKeys>,
    /// The mail domain of customers' archive addresses.
    pub archive_domain: String,
    /// The business's time zone: what "today" means.
    pub timezone: chrono_tz::Tz,
    /// Where uploaded files go.
    pub documents: std::sync::Arc<dyn crate::storage::DocumentStore>,
    /// The largest document accepted.
    pub document_max_bytes: u64,
}

impl AppState {
    /// Reads for this request: on the worker's held connections where possible.
    pub fn reader(&self) -> crm_persistence::Reader<'_> {
        crm_persistence::Reader::new(&self.db, &self.hot)
    }

    /// Today's date in the business's time zone.
    pub fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now()
            .with_timezone(&self.timezone)
            .date_naive()
    }

    /// The instant a local date begins, in the business's time zone.
    pub fn start_of(&self, date: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone;
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        // A day that starts in a DST gap starts at the first instant that exists.
        self.timezone
            .from_local_datetime(&midnight)
            .earliest()
            .or_else(|| {
                self.timezone
                    .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&chrono::Utc))
    }
}
