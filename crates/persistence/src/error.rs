use sea_orm::{DbErr, SqlErr};

/// What can go wrong in storage, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row with that key.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; carries the constraint or column named by the database.
    #[error("conflicts with an existing record ({0})")]
    Duplicate(String),
    /// The current state forbids the change; the message says why, for the user.
    #[error("{0}")]
    Conflict(String),
    /// A foreign key refused the write: something referred to is missing.
    #[error("refers to a missing record ({0})")]
    MissingReference(String),
    /// A value refers to something that cannot be used (an inactive operator, an unknown type).
    #[error("{field}: {message}")]
    Rejected { field: String, message: String },
    /// The settings do not allow this operator to do this.
    #[error("{0}")]
    Forbidden(String),
    /// The task lifecycle refused the step.
    #[error(transparent)]
    Lifecycle(#[from] crm_domain::LifecycleError),
    /// The row changed since it was read (optimistic concurrency).
    #[error("the record was changed by someone else")]
    VersionConflict,
    /// The database undid the transaction because it collided with a concurrent one (a
    /// deadlock, a serialization failure); nothing was written, and the same request may
    /// succeed when sent again.
    #[error("collided with a concurrent change: {0}")]
    Contention(DbErr),
    /// The database cannot be reached or no connection came free in time.
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    /// Anything else: a defect or a fault that the caller cannot mend.
    #[error("database error: {0}")]
    Database(DbErr),
}

impl StoreError {
    pub fn rejected(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Rejected {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type StoreResult<T, E = StoreError> = std::result::Result<T, E>;

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(c)) => return StoreError::Duplicate(c),
            Some(SqlErr::ForeignKeyConstraintViolation(c)) => {
                return StoreError::MissingReference(c);
            }
            _ => {}
        }
        if is_contention(&err) {
            return StoreError::Contention(err);
        }
        match err {
            DbErr::RecordNotFound(_) => StoreError::NotFound,
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(err),
            DbErr::Query(sea_orm::RuntimeErr::SqlxError(ref e))
            | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(ref e))
                if is_connection_fault(e) =>
            {
                StoreError::Unavailable(err)
            }
            other => StoreError::Database(other),
        }
    }
}

/// SQLSTATE class 40 (transaction rollback: a deadlock between concurrent writers, a
/// serialization failure): the database undid the whole transaction, and running it again
/// may succeed.
fn is_contention(err: &DbErr) -> bool {
    match err {
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("40")),
            _ => false,
        },
        _ => false,
    }
}

/// Whether the error says the connection or the server is gone rather than the statement
/// being wrong: I/O and TLS failures, pool exhaustion, a broken protocol stream, and the
/// SQLSTATE classes 08 (connection exception), 53 (insufficient resources) and 57 (operator
/// intervention, such as a server shutting down).
fn is_connection_fault(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match e {
        Error::Io(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::Tls(_)
        | Error::Protocol(_) => true,
        Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("53") || c.starts_with("57")),
        _ => false,
    }
}
