//! Helpers for the end-to-end tests: each test gets its own server on port 0 and its own
//! database — a temporary SQLite file, or, when `TEST_DATABASE_URL` names a PostgreSQL
//! server, a fresh database on it that is dropped afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_api::{Application, Config};
use rand::Rng;
use reqwest::{Method, RequestBuilder, Response};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub struct TestApp {
    /// The first server's address.
    pub address: String,
    /// Every server's address; requests alternate between them.
    pub addresses: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub db: DatabaseConnection,
    pub documents: tempfile::TempDir,
    _database: TestDatabase,
}

/// The database a test runs against, removed when the test ends (even if it fails).
enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server_url: String, name: String },
}

impl TestDatabase {
    async fn create() -> (Self, String) {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                let name = format!("crm_test_{:016x}", rand::rng().random::<u64>());
                let admin = Database::connect(&url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                admin.close().await.ok();
                let test_url = crm_persistence::replace_database(&url, &name);
                (
                    TestDatabase::Postgres {
                        server_url: url,
                        name,
                    },
                    test_url,
                )
            }
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("crm.db").display());
                (TestDatabase::Sqlite(dir), url)
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { server_url, name } = self {
            let (url, name) = (server_url.clone(), name.clone());
            // Drop may run inside the test's runtime: do the async work on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    if let Ok(db) = Database::connect(&url).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        db.close().await.ok();
                    }
                });
                Ok::<(), std::io::Error>(())
            })
            .join();
        }
    }
}

/// The configuration every test server starts with.
pub fn test_config(database_url: &str, documents: &std::path::Path) -> Config {
    let mut config = Config::from_lookup(|_| None).expect("default configuration");
    config.database_url = database_url.to_owned();
    config.bind_addr = "127.0.0.1:0".into();
    config.admin_email = ADMIN_EMAIL.into();
    config.admin_password = Some(crm_api::config::Secret::new(ADMIN_PASSWORD));
    config.jwt_secret = Some(crm_api::config::Secret::new(JWT_SECRET));
    config.document_dir = documents.to_owned();
    config.workers = Some(2);
    config.pool.max_connections = 5;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server whose configuration `adjust` may change first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    let (database, url) = TestDatabase::create().await;
    let documents = tempfile::tempdir().expect("documents directory");
    let mut config = test_config(&url, documents.path());
    adjust(&mut config);
    // TEST_REPLICAS=2 runs every test against two servers sharing the database and
    // document directory, requests alternating between them, as replicas behind a balancer.
    let replicas = std::env::var("TEST_REPLICAS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let mut addresses = Vec::new();
    let mut db = None;
    for _ in 0..replicas {
        let app = Application::build(config.clone())
            .await
            .expect("the server starts");
        addresses.push(format!("http://127.0.0.1:{}", app.port()));
        db.get_or_insert_with(|| app.db().clone());
        tokio::spawn(app.run_until_stopped());
    }
    let db = db.expect("one server");
    let address = addresses[0].clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let mut test_app = TestApp {
        address,
        addresses,
        next: std::sync::atomic::AtomicUsize::new(0),
        client,
        admin_token: String::new(),
        db,
        documents,
        _database: database,
    };
    test_app.admin_token = test_app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    test_app
}

/// A response read whole: status, headers and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub async fn read(response: Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the reply is a problem document with this status and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem replies are problem+json"
        );
        assert_eq!(self.json["status"], status);
        assert!(self.json["type"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(self.json["title"].is_string() && self.json["detail"].is_string());
        &self.json
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        &self.json
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.addresses.len();
        format!("{}{}", self.addresses[i], path)
    }

    /// A request with the admin's token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token)
    }

    pub fn request_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub async fn send(&self, request: RequestBuilder) -> Reply {
        Reply::read(request.send().await.expect("the request is sent")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    /// Creates an operator (as the admin) and returns its id and a token of its own.
    pub async fn operator(&self, name: &str, role: &str) -> (i64, String) {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let reply = self
            .post(
                "/api/v1/operators",
                &serde_json::json!({"name": name, "email": email, "password": "password-123", "role": role}),
            )
            .await;
        assert_eq!(
            reply.status, 201,
            "creating operator {name}: {}",
            reply.text
        );
        let id = reply.json["id"].as_i64().expect("an id");
        (id, self.login(&email, "password-123").await)
    }

    /// Creates a customer and returns its id.
    pub async fn customer(&self, body: Value) -> i64 {
        let reply = self.post("/api/v1/customers", &body).await;
        assert_eq!(reply.status, 201, "creating customer: {}", reply.text);
        reply.json["id"].as_i64().expect("an id")
    }

    /// Rows in `table`, read straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) FROM {table}"),
            ))
            .await
            .expect("count rows")
            .expect("one row");
        row.try_get_by_index::<i64>(0).expect("a count")
    }

    /// The ids of the items of a list, in order; the list must answer 200.
    pub async fn ids(&self, path: &str) -> Vec<Value> {
        let reply = self.get(path).await;
        reply.ok(200)["items"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item["id"].clone())
            .collect()
    }

    /// Rows of a query, as JSON objects.
    pub async fn rows(&self, sql: &str) -> Vec<Value> {
        use sea_orm::{FromQueryResult, JsonValue, Statement};
        JsonValue::find_by_statement(Statement::from_string(
            self.db.get_database_backend(),
            sql.to_owned(),
        ))
        .all(&self.db)
        .await
        .expect("query rows")
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let reply = self
            .send(
                self.client
                    .post(self.url("/api/v1/auth/login"))
                    .json(&serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(reply.status, 200, "login failed: {}", reply.text);
        reply.json["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }
}

/// Adds tasks in one statement, `rows` a `SELECT` of their `kind, customer_id, description,
/// type_id, scheduled_date, scheduled_at, creator_id, responsible_id, created_at, status,
/// version, updated_at`, then analyses the table as autovacuum would on a database in use.
pub async fn insert_tasks(db: &DatabaseConnection, rows: &str) {
    db.execute_unprepared(&format!(
        "INSERT INTO tasks (kind, customer_id, description, type_id, scheduled_date, \
         scheduled_at, creator_id, responsible_id, created_at, status, version, updated_at) {rows}"
    ))
    .await
    .expect("insert tasks");
    db.execute_unprepared("ANALYZE tasks")
        .await
        .expect("analyze");
}

/// `(generic_plans, custom_plans)` of each statement prepared in `conn`'s PostgreSQL session
/// whose text matches every `LIKE` pattern.
pub async fn prepared_plans(conn: &impl ConnectionTrait, patterns: &[&str]) -> Vec<(i64, i64)> {
    let mut sql = "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
                   WHERE statement NOT LIKE '%pg_prepared_statements%'"
        .to_owned();
    for pattern in patterns {
        sql.push_str(&format!(
            " AND statement LIKE '{}'",
            pattern.replace('\'', "''")
        ));
    }
    conn.query_all_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        sql,
    ))
    .await
    .expect("prepared statements")
    .iter()
    .map(|row| {
        (
            row.try_get_by_index::<i64>(0).expect("generic plans"),
            row.try_get_by_index::<i64>(1).expect("custom plans"),
        )
    })
    .collect()
}
