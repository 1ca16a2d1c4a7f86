use crate::auth::TokenKeys;
use crm_persistence::DatabaseConnection;

/// What every handler shares: the pool and the token keys.
pub struct AppState {
    pub db: DatabaseConnection,
    pub tokens: TokenKeys,
    /// The mail domain of customers' archive addresses.
    pub archive_domain: String,
}
