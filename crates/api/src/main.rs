//! `crm-api [serve]`, `crm-api migrate up|down|status|fresh`, `crm-api openapi`.

use crm_api::{Application, Config, openapi_document};
use std::process::ExitCode;

const USAGE: &str = "usage: crm-api [serve | migrate up|down|status|fresh [-n N] | openapi]";

#[tokio::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate(&args[1..]).await,
        Some("openapi") => {
            print!("{}", crm_api::openapi::to_pretty_json(&openapi_document()));
            Ok(())
        }
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}'\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crm-api: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
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
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn migrate(args: &[String]) -> Result<(), String> {
    let command = migration::Command::parse(args.iter().cloned())?;
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let db = crm_persistence::connect(&config.database_url, &config.pool)
        .await
        .map_err(|e| e.to_string())?;
    let out = command.run(&db).await.map_err(|e| e.to_string())?;
    println!("{out}");
    Ok(())
}
