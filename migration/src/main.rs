//! `cargo run -p migration -- up|down|status|fresh` against `DATABASE_URL`.

use migration::Command;

const DEFAULT_DATABASE_URL: &str = "sqlite://crm.db?mode=rwc";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let command = match Command::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    let result = async {
        let db = sea_orm_migration::sea_orm::Database::connect(&url).await?;
        command.run(&db).await
    }
    .await;
    match result {
        Ok(out) => {
            println!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migration failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
