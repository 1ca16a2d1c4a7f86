//! The `crm-api` command: the server, and the chores around it.

use clap::{Parser, Subcommand};
use crm_api::{Application, Config, openapi_document};
use std::io::IsTerminal;
use std::process::ExitCode;

/// mimalloc rather than glibc's allocator: a request allocates and frees many small buffers
/// (rows, names, JSON), and with glibc's malloc and free a sixth of the server's CPU went to
/// them; with mimalloc a dashboard costs the server 330 µs of CPU instead of 387 µs (BENCHMARKS.md).
/// Built without transparent huge pages: with them the server held 59 MiB instead of 44.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "crm-api", version, about = "CRM tasks & history API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default): migrate, create the first admin if none, listen.
    Serve,
    /// Apply, roll back or list migrations on DATABASE_URL.
    Migrate {
        #[arg(value_parser = ["up", "down", "status", "fresh"])]
        action: String,
        /// How many migrations to apply or roll back.
        #[arg(short = 'n', long = "num")]
        num: Option<u32>,
    },
    /// Create an administrator. The password is asked for at a terminal, or read from the
    /// first line of standard input otherwise.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// Print the OpenAPI document (openapi/openapi.json is its output).
    Openapi,
    /// Load the help pages' walkthroughs as demo data: operators, types, tags, customers,
    /// chains of tasks, a week of agenda and a timeline.
    SeedDemo,
    /// Exit 0 when the URL answers 2xx: a health check for containers without curl.
    Health {
        #[arg(default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate { action, num } => migrate(&action, num).await,
        Command::CreateAdmin { email, name } => create_admin(&email, &name).await,
        Command::Openapi => {
            print!("{}", crm_api::openapi::to_pretty_json(&openapi_document()));
            Ok(())
        }
        Command::SeedDemo => seed_demo().await,
        Command::Health { url } => health(&url),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crm-api: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config() -> Result<Config, String> {
    Config::from_env().map_err(|e| e.to_string())
}

async fn database(config: &Config) -> Result<crm_persistence::DatabaseConnection, String> {
    let db = crm_persistence::connect(&config.database_url, &config.pool)
        .await
        .map_err(|e| e.to_string())?;
    crm_persistence::migrate(&db)
        .await
        .map_err(|e| e.to_string())?;
    Ok(db)
}

async fn serve() -> Result<(), String> {
    let config = config()?;
    let app = Application::build(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let host = config
        .bind_addr
        .rsplit_once(':')
        .map_or("127.0.0.1", |(h, _)| h);
    let host = if host == "0.0.0.0" { "127.0.0.1" } else { host };
    let base = format!("http://{host}:{}", app.port());
    println!(
        "CRM API listening on {base} ({})",
        crm_persistence::backend_name(app.db())
    );
    println!("  Swagger UI: {base}/swagger-ui/");
    println!("  OpenAPI:    {base}/api-docs/openapi.json");
    if let Some(admin) = app.created_admin() {
        println!("  Created the first admin: {}", admin.email);
        if let Some(password) = &admin.generated_password {
            println!(
                "  Its password (shown only this once): {}",
                password.expose()
            );
        }
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())?;
    println!("Stopped.");
    Ok(())
}

async fn migrate(action: &str, num: Option<u32>) -> Result<(), String> {
    let mut args = vec![action.to_owned()];
    if let Some(n) = num {
        args.extend(["-n".to_owned(), n.to_string()]);
    }
    let command = migration::Command::parse(args)?;
    let config = config()?;
    let db = crm_persistence::connect(&config.database_url, &config.pool)
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", command.run(&db).await.map_err(|e| e.to_string())?);
    Ok(())
}

fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

async fn create_admin(email: &str, name: &str) -> Result<(), String> {
    let email = crm_domain::Email::parse(email).map_err(|e| format!("--email {e}"))?;
    let name = crm_domain::Name::parse(name).map_err(|e| format!("--name {e}"))?;
    let password = read_password()?;
    crm_api::valid::password(&password)
        .map_err(|e| format!("the password {}", e.message.unwrap_or_default()))?;
    let hash = crm_api::auth::hash_password(&password).map_err(|e| e.to_string())?;
    let db = database(&config()?).await?;
    let admin = crm_persistence::operators::create(
        &db,
        crm_persistence::operators::NewOperator {
            name: name.into_inner(),
            email: email.into_inner(),
            password_hash: hash,
            role: crm_domain::Role::Admin,
            team_id: None,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "Created admin #{} {} <{}>",
        admin.id, admin.name, admin.email
    );
    Ok(())
}

async fn seed_demo() -> Result<(), String> {
    let config = config()?;
    let db = database(&config).await?;
    if let Some(admin) = crm_api::startup::ensure_admin(&db, &config)
        .await
        .map_err(|e| e.to_string())?
    {
        println!("Created the first admin: {}", admin.email);
        if let Some(password) = &admin.generated_password {
            println!("Its password (shown only this once): {}", password.expose());
        }
    }
    let admin_id = crm_persistence::operators::list(
        &db,
        crm_persistence::operators::OperatorFilter {
            role: Some(crm_domain::Role::Admin),
            active: Some(true),
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?
    .items
    .first()
    .map(|a| a.id)
    .ok_or("no active admin")?;
    let store = crm_api::storage::LocalStore::new(config.document_dir.clone())
        .map_err(|e| e.to_string())?;
    let today = chrono::Utc::now()
        .with_timezone(&config.timezone)
        .date_naive();
    let report = crm_api::seed::seed_demo(&db, &store, today, admin_id).await?;
    if report.created {
        println!(
            "Loaded the demo: Blanca, Manolo and Lucía with their tasks, a week of agenda and a timeline."
        );
        println!(
            "Demo operators (password '{}'): {}",
            crm_api::seed::DEMO_PASSWORD,
            report.operators.join(", ")
        );
    } else {
        println!("The demo data is there already.");
    }
    Ok(())
}

/// A plain HTTP/1.1 GET, enough for a health check.
fn health(url: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let timeout = std::time::Duration::from_secs(3);
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    let status = std::str::from_utf8(&head[9..12]).unwrap_or("000");
    if status.starts_with('2') {
        Ok(())
    } else {
        Err(format!("{url} answered {status}"))
    }
}
