//! Building the server: configuration in, a bound listener and a running pool out.

use crate::auth::{self, TokenKeys};
use crate::config::{Config, Secret};
use crate::error::ApiError;
use crate::extract;
use crate::openapi::{self, RouteTable};
use crate::routes;
use crate::state::AppState;
use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, middleware, web};
use crm_domain::{Email, Role};
use crm_persistence::{DatabaseConnection, StoreError, operators, secrets};
use std::net::TcpListener;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::SwaggerUi;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on the configured address: {0}")]
    Io(#[from] std::io::Error),
    #[error("CRM_ADMIN_EMAIL: {0}")]
    AdminEmail(String),
    #[error("{0}")]
    Other(String),
}

/// The first admin, when start-up created one.
#[derive(Debug, Clone)]
pub struct CreatedAdmin {
    pub email: String,
    /// Set only when the password was generated; shown once.
    pub generated_password: Option<Secret>,
}

pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    created_admin: Option<CreatedAdmin>,
}

impl Application {
    /// Connects, migrates, creates the first admin if needed and binds. Port 0 picks a free port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let db = crm_persistence::connect(&config.database_url, &config.pool).await?;
        crm_persistence::migrate(&db).await?;
        let created_admin = ensure_admin(&db, &config).await?;
        let secret = jwt_secret(&db, &config).await?;
        let names = crm_persistence::Names::new();
        names.reload(&db).await?;
        let state = AppState {
            db: db.clone(),
            shared_db: db.clone(),
            // On PostgreSQL each worker holds its own (`worker_state`); on SQLite the workers
            // share these, as they share the pool, and the statements of all of them at once.
            hot: if crm_persistence::is_postgres(&db) {
                crm_persistence::HotConnections::new(0)
            } else {
                crm_persistence::HotConnections::limited(
                    config.pool.max_connections as usize,
                    config.db_queries_per_worker * worker_count(config.workers),
                    config.pool.acquire_timeout,
                )
            },
            names: std::sync::Arc::new(names),
            tokens: std::sync::Arc::new(TokenKeys::new(secret.expose().as_bytes(), config.jwt_ttl)),
            archive_domain: config.archive_domain.clone(),
            timezone: config.timezone,
            documents: std::sync::Arc::new(crate::storage::LocalStore::new(
                config.document_dir.clone(),
            )?),
            document_max_bytes: config.document_max_bytes,
        };
        spawn_key_purge(db.clone());
        spawn_count_fold(db.clone());
        let listener = TcpListener::bind(&config.bind_addr)?;
        let port = listener.local_addr()?.port();
        let server = serve(listener, state, &config)?;
        Ok(Self {
            port,
            server,
            db,
            created_admin,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn created_admin(&self) -> Option<&CreatedAdmin> {
        self.created_admin.as_ref()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until the process is told to stop; in-flight requests finish first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Err(e) = self.db.close().await {
            log::warn!("closing the database pool: {e}");
        }
        result
    }
}

/// Forgets idempotency keys past their lifetime, hourly. Expired keys are also ignored
/// when met, so this only keeps the table small.
fn spawn_key_purge(db: DatabaseConnection) {
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            match crm_persistence::idempotency::purge_expired(&db).await {
                Ok(0) => {}
                Ok(n) => log::info!("forgot {n} expired idempotency keys"),
                Err(e) => log::warn!("purging idempotency keys: {e}"),
            }
        }
    });
}

/// Folds the changes to the dashboard's kept counts into them every second, so that a
/// dashboard adds up a few rows per operator (`dashboard::fold_counts`), and vacuums the
/// folded ones after the first fold and then at most every ten seconds: vacuuming after
/// each fold, the benchmark's creates and Nexts ran at 1,083 and 747 a second, against 1,338
/// and 819 with this (BENCHMARKS.md). The first vacuum due in a second with nothing to fold
/// truncates the table, which the vacuums between writes leave at its size
/// (`dashboard::Truncation`).
fn spawn_count_fold(db: DatabaseConnection) {
    use crm_persistence::dashboard::{Truncation, fold_counts, vacuum_count_changes};
    const VACUUM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
    tokio::spawn(async move {
        let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
        every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut vacuumed: Option<std::time::Instant> = None;
        // Changes folded since the last vacuum; the table left at its size by the last one.
        let (mut unvacuumed, mut untruncated) = (false, false);
        loop {
            every_second.tick().await;
            let quiet = match fold_counts(&db).await {
                Ok(n) => {
                    unvacuumed |= n > 0;
                    n == 0
                }
                Err(e) => {
                    log::warn!("folding the dashboard's counts: {e}");
                    false
                }
            };
            let due = vacuumed.is_none_or(|at| at.elapsed() >= VACUUM_EVERY);
            if due && (unvacuumed || (quiet && untruncated)) {
                let truncation = if quiet {
                    Truncation::Always
                } else {
                    Truncation::WhenLarge
                };
                match vacuum_count_changes(&db, truncation).await {
                    Ok(()) => {
                        vacuumed = Some(std::time::Instant::now());
                        (unvacuumed, untruncated) = (false, !quiet);
                    }
                    Err(e) => log::warn!("vacuuming the dashboard's folded counts: {e}"),
                }
            }
        }
    });
}

pub async fn ensure_admin(
    db: &DatabaseConnection,
    config: &Config,
) -> Result<Option<CreatedAdmin>, StartupError> {
    if operators::count(db).await? > 0 {
        return Ok(None);
    }
    let email = Email::parse(&config.admin_email)
        .map_err(|e| StartupError::AdminEmail(format!("{:?} {e}", config.admin_email)))?;
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (Secret::new(random_token(18)), true),
    };
    let password_hash =
        auth::hash_password(password.expose()).map_err(|e| StartupError::Other(e.to_string()))?;
    let created = operators::create(
        db,
        operators::NewOperator {
            name: "Administrator".into(),
            email: email.into_inner(),
            password_hash,
            role: Role::Admin,
            team_id: None,
        },
    )
    .await;
    match created {
        Ok(admin) => Ok(Some(CreatedAdmin {
            email: admin.email,
            generated_password: generated.then_some(password),
        })),
        // Another replica created it first.
        Err(StoreError::Duplicate(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn jwt_secret(db: &DatabaseConnection, config: &Config) -> Result<Secret, StartupError> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let (secret, created) = secrets::get_or_create(db, "jwt_secret", || random_token(48)).await?;
    log::warn!(
        "JWT_SECRET is not set: tokens are signed with a {} secret kept in the database. Set JWT_SECRET in production.",
        if created {
            "newly generated"
        } else {
            "generated"
        }
    );
    Ok(Secret::new(secret))
}

/// `bytes` random bytes as URL-safe base64.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The routes under their prefixes, as one list that both the server and the document read.
fn mount<T>(app: utoipa_actix_web::UtoipaApp<T>) -> utoipa_actix_web::UtoipaApp<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    app.openapi(openapi::base())
        .service(scope("/api/v1").configure(routes::api_v1))
        .configure(routes::operations)
}

/// The complete OpenAPI document, as served and as committed.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::finish(mount(App::new().into_utoipa_app()).split_for_parts().1)
}

const OPENAPI_PATH: &str = "/api-docs/openapi.json";
/// The log target of the access log, one line per request at `info`.
const ACCESS_LOG: &str = "crm_api::access";

/// Each worker's state: the shared one, with a pool of the worker's own on PostgreSQL.
/// SQLite keeps one pool: sqlx runs each SQLite connection on a thread of its own anyway,
/// and one pool keeps its writers in one queue.
async fn worker_state(
    shared: AppState,
    url: String,
    pool: crm_persistence::PoolConfig,
    queries_at_once: usize,
) -> Result<AppState, StoreError> {
    if !crm_persistence::is_postgres(&shared.db) {
        return Ok(shared);
    }
    let db = crm_persistence::connect_lazy(&url, &pool).await?;
    let hot = crm_persistence::HotConnections::limited(
        pool.max_connections as usize,
        queries_at_once,
        pool.acquire_timeout,
    );
    Ok(AppState { db, hot, ..shared })
}

/// The server's workers: `HTTP_WORKERS`, or one per core.
fn worker_count(configured: Option<usize>) -> usize {
    configured
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1)
}

fn serve(listener: TcpListener, state: AppState, config: &Config) -> std::io::Result<Server> {
    let workers = config.workers;
    let cors_origins = config.cors_allowed_origins.clone();
    let url = config.database_url.clone();
    // The configured pool size is shared out among the workers.
    let worker_count = worker_count(workers);
    let turns = config.db_queries_per_worker;
    let worker_pool = crm_persistence::PoolConfig {
        max_connections: config
            .pool
            .max_connections
            .div_ceil(worker_count as u32)
            .max(1),
        ..config.pool.clone()
    };
    let document = openapi_document();
    let mut table = RouteTable::from_document(&document);
    table.add(OPENAPI_PATH, vec![actix_web::http::Method::GET]);
    let table = web::Data::new(table);
    let mut server = HttpServer::new(move || {
        let (app, _) = mount(App::new().into_utoipa_app()).split_for_parts();
        let (state, url, pool) = (state.clone(), url.clone(), worker_pool.clone());
        app.data_factory(move || worker_state(state.clone(), url.clone(), pool.clone(), turns))
            .app_data(table.clone())
            .app_data(extract::json_config())
            .app_data(web::PayloadConfig::new(extract::MAX_JSON_BYTES))
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .service(SwaggerUi::new("/swagger-ui/{_:.*}").url(OPENAPI_PATH, document.clone()))
            .default_service(web::to(fallback))
            .wrap(problem_errors())
            .wrap(middleware::Condition::new(
                !cors_origins.is_empty(),
                cors(&cors_origins),
            ))
            // Off when its lines would be dropped (`RUST_LOG=error`): it formats each request
            // line and wraps each body to count its bytes before the level is looked at.
            .wrap(middleware::Condition::new(
                log::log_enabled!(target: ACCESS_LOG, log::Level::Info),
                middleware::Logger::new("%r %s %b %Dms").log_target(ACCESS_LOG),
            ))
    })
    .listen(listener)?;
    if let Some(n) = workers {
        server = server.workers(n);
    }
    // On SIGTERM or SIGINT: stop accepting, let in-flight requests finish, then return.
    server = server.shutdown_timeout(30);
    Ok(server.run())
}

/// Browser access for the configured origins: the API's methods and headers, and the
/// response headers a client reads (ETag, Location, Retry-After).
fn cors(origins: &[String]) -> actix_cors::Cors {
    use actix_web::http::header;
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::ETAG, header::LOCATION, header::RETRY_AFTER])
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// A safety net: any error response that is not already a problem document (one produced
/// by actix itself, say) is rewritten as one, so every error is problem+json.
fn problem_errors<B: actix_web::body::MessageBody + 'static>() -> middleware::ErrorHandlers<B> {
    use actix_web::ResponseError;
    use actix_web::middleware::ErrorHandlerResponse;
    middleware::ErrorHandlers::new().default_handler(|res: actix_web::dev::ServiceResponse<B>| {
        let is_problem = res
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        if is_problem {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let reason = status.canonical_reason().unwrap_or("Error").to_owned();
        let error = match status.as_u16() {
            400 => ApiError::bad_request(reason),
            401 => ApiError::Unauthorized(reason),
            403 => ApiError::Forbidden(reason),
            404 => ApiError::NotFound(reason),
            405 => ApiError::MethodNotAllowed {
                allow: Vec::new(),
                detail: reason,
            },
            409 => ApiError::Conflict(reason),
            413 => ApiError::PayloadTooLarge(reason),
            415 => ApiError::UnsupportedMediaType(reason),
            s if (400..500).contains(&s) => ApiError::bad_request(reason),
            503 => ApiError::Unavailable(reason),
            _ => ApiError::Internal(format!("{status} from a handler without a problem body")),
        };
        let (req, _) = res.into_parts();
        let response = error.error_response().map_into_right_body();
        Ok(ErrorHandlerResponse::Response(
            actix_web::dev::ServiceResponse::new(req, response),
        ))
    })
}

/// Unknown routes are 404; known routes with another method are 405 with `Allow`.
async fn fallback(
    req: HttpRequest,
    table: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    match table.allowed(req.path()) {
        Some(methods) if !methods.contains(req.method()) => {
            let allow: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
            let is_task =
                req.path().starts_with("/api/v1/tasks/") && req.path().matches('/').count() == 4;
            if req.method() == actix_web::http::Method::DELETE && is_task {
                return Err(ApiError::MethodNotAllowed {
                    detail: "Tasks and notes are never deleted. Cancel a task with POST /api/v1/tasks/{id}/next and an outcome whose status is cancelled, or tag it.".into(),
                    allow,
                });
            }
            Err(ApiError::MethodNotAllowed {
                detail: format!(
                    "{} is not allowed on {}; allowed: {}.",
                    req.method(),
                    req.path(),
                    allow.join(", ")
                ),
                allow,
            })
        }
        _ => Err(ApiError::NotFound(format!(
            "There is no route {} {}.",
            req.method(),
            req.path()
        ))),
    }
}
