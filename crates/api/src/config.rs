//! Configuration from the environment, with defaults that run on one machine out of the box.

use crm_persistence::PoolConfig;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A value that must never reach a log: `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: SQLite (`sqlite://crm.db?mode=rwc`) or `postgres://...`.
    pub database_url: String,
    /// `BIND_ADDR`: where the server listens; port 0 picks a free port.
    pub bind_addr: String,
    /// `JWT_SECRET`: the HS256 key; when unset, one is generated and kept in the database.
    pub jwt_secret: Option<Secret>,
    /// `JWT_TTL_SECONDS`: how long an access token lasts.
    pub jwt_ttl: Duration,
    /// `CRM_ADMIN_EMAIL`: the first admin, created only when no operator exists.
    pub admin_email: String,
    /// `CRM_ADMIN_PASSWORD`: its password; when unset, a random one is printed once.
    pub admin_password: Option<Secret>,
    /// `DOCUMENT_DIR`: where uploaded files are stored.
    pub document_dir: PathBuf,
    /// `ARCHIVE_EMAIL_DOMAIN`: the domain of customers' archive addresses.
    pub archive_domain: String,
    /// `CRM_TIMEZONE`: the IANA time zone that "today" and "now" are read in.
    pub timezone: chrono_tz::Tz,
    /// `DOCUMENT_MAX_BYTES`: the largest document accepted.
    pub document_max_bytes: u64,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins allowed to call the API from a browser
    /// (e.g. `https://app.example.com`); none by default.
    pub cors_allowed_origins: Vec<String>,
    /// `HTTP_WORKERS`: worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// `DB_MAX_CONNECTIONS`, `DB_TIMEOUT_SECONDS`: the pool.
    pub pool: PoolConfig,
    /// `DB_QUERIES_PER_WORKER`: statements each worker runs on the database at once; the
    /// others wait their turn, in the order they came, up to `DB_TIMEOUT_SECONDS`.
    pub db_queries_per_worker: usize,
}

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name} = {value:?}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: &'static str,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://crm.db?mode=rwc";
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@example.com";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if range.contains(&n) => Ok(n),
                    _ => Err(ConfigError {
                        name,
                        value: v,
                        reason: "not a whole number in the accepted range",
                    }),
                },
            }
        };
        let jwt_secret = get("JWT_SECRET").map(Secret::new);
        if jwt_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
            return Err(ConfigError {
                name: "JWT_SECRET",
                value: "***".into(),
                reason: "must be at least 32 characters",
            });
        }
        let workers = match get("HTTP_WORKERS") {
            None => None,
            Some(_) => Some(number("HTTP_WORKERS", 1, 1..=256)? as usize),
        };
        let timezone = match get("CRM_TIMEZONE") {
            None => chrono_tz::UTC,
            Some(name) => name
                .trim()
                .parse::<chrono_tz::Tz>()
                .map_err(|_| ConfigError {
                    name: "CRM_TIMEZONE",
                    value: name.clone(),
                    reason: "not an IANA time zone such as Europe/Madrid",
                })?,
        };
        Ok(Config {
            timezone,
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            bind_addr: get("BIND_ADDR").unwrap_or_else(|| DEFAULT_BIND_ADDR.into()),
            jwt_secret,
            jwt_ttl: Duration::from_secs(number("JWT_TTL_SECONDS", 3600, 60..=2_592_000)?),
            admin_email: get("CRM_ADMIN_EMAIL").unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.into()),
            admin_password: get("CRM_ADMIN_PASSWORD").map(Secret::new),
            document_dir: get("DOCUMENT_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("./documents")),
            archive_domain: get("ARCHIVE_EMAIL_DOMAIN")
                .unwrap_or_else(|| "archive.localhost".into()),
            document_max_bytes: number(
                "DOCUMENT_MAX_BYTES",
                20 * 1024 * 1024,
                1..=1024 * 1024 * 1024,
            )?,
            cors_allowed_origins: get("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            workers,
            pool: PoolConfig {
                max_connections: number("DB_MAX_CONNECTIONS", 10, 1..=1000)? as u32,
                acquire_timeout: Duration::from_secs(number("DB_TIMEOUT_SECONDS", 5, 1..=300)?),
            },
            db_queries_per_worker: number("DB_QUERIES_PER_WORKER", 4, 1..=1000)? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://crm.db?mode=rwc");
        assert_eq!(c.bind_addr, "127.0.0.1:8080");
        assert_eq!(c.admin_email, "admin@example.com");
        assert!(c.jwt_secret.is_none());
        assert!(c.admin_password.is_none());
        assert_eq!(c.document_dir, PathBuf::from("./documents"));
        assert_eq!(c.jwt_ttl, Duration::from_secs(3600));
        assert_eq!(c.pool.max_connections, 10);
        assert_eq!(c.db_queries_per_worker, 4);
    }

    #[test]
    fn variables_override_defaults() {
        let c = config(&[
            ("DATABASE_URL", "postgres://localhost/crm"),
            ("BIND_ADDR", "0.0.0.0:9000"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("CRM_ADMIN_PASSWORD", "correct horse"),
            ("DB_MAX_CONNECTIONS", "32"),
            ("DB_QUERIES_PER_WORKER", "2"),
        ])
        .unwrap();
        assert_eq!(c.database_url, "postgres://localhost/crm");
        assert_eq!(c.bind_addr, "0.0.0.0:9000");
        assert_eq!(c.pool.max_connections, 32);
        assert_eq!(c.db_queries_per_worker, 2);
        assert_eq!(
            c.admin_password.as_ref().map(Secret::expose),
            Some("correct horse")
        );
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        assert_eq!(
            config(&[("JWT_SECRET", "short")]).unwrap_err().name,
            "JWT_SECRET"
        );
        assert_eq!(
            config(&[("DB_MAX_CONNECTIONS", "0")]).unwrap_err().name,
            "DB_MAX_CONNECTIONS"
        );
        assert_eq!(
            config(&[("DB_QUERIES_PER_WORKER", "0")]).unwrap_err().name,
            "DB_QUERIES_PER_WORKER"
        );
        assert_eq!(
            config(&[("JWT_TTL_SECONDS", "soon")]).unwrap_err().name,
            "JWT_TTL_SECONDS"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let c = config(&[("CRM_ADMIN_PASSWORD", "hunter2-hunter2")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
