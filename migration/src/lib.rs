//! Schema migrations. Each file is one change and is never edited once it has landed.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_directory;
mod m20261123_000002_create_settings_lists;
mod m20261123_000003_create_customers;
mod m20261123_000004_create_tasks;
mod m20261123_000005_create_timeline;
mod m20261123_000006_create_idempotency_keys;
mod m20261123_000007_create_login_attempts;
mod m20261123_000008_create_catalog_version;
mod m20261123_000009_index_planned_tasks;
mod m20261125_000010_task_tag_ids;
mod m20261125_000011_task_customer_name;
mod m20261125_000012_tasks_autovacuum;
mod m20261126_000013_planned_task_counts;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_directory::Migration),
            Box::new(m20261123_000002_create_settings_lists::Migration),
            Box::new(m20261123_000003_create_customers::Migration),
            Box::new(m20261123_000004_create_tasks::Migration),
            Box::new(m20261123_000005_create_timeline::Migration),
            Box::new(m20261123_000006_create_idempotency_keys::Migration),
            Box::new(m20261123_000007_create_login_attempts::Migration),
            Box::new(m20261123_000008_create_catalog_version::Migration),
            Box::new(m20261123_000009_index_planned_tasks::Migration),
            Box::new(m20261125_000010_task_tag_ids::Migration),
            Box::new(m20261125_000011_task_customer_name::Migration),
            Box::new(m20261125_000012_tasks_autovacuum::Migration),
            Box::new(m20261126_000013_planned_task_counts::Migration),
        ]
    }
}

/// What a migration command asks for: `up`, `down`, `status` or `fresh`, with an optional step count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Up(Option<u32>),
    Down(Option<u32>),
    Status,
    Fresh,
}

impl Command {
    /// Parses `up [-n N]`, `down [-n N]`, `status`, `fresh`. No argument means `up`.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let args: Vec<String> = args.into_iter().collect();
        let steps = |rest: &[String]| -> Result<Option<u32>, String> {
            match rest {
                [] => Ok(None),
                [flag, n] if flag == "-n" || flag == "--num" => n
                    .parse::<u32>()
                    .map(Some)
                    .map_err(|_| format!("'{n}' is not a number of migrations")),
                other => Err(format!("unexpected arguments: {}", other.join(" "))),
            }
        };
        match args.split_first() {
            None => Ok(Command::Up(None)),
            Some((cmd, rest)) => match cmd.as_str() {
                "up" => Ok(Command::Up(steps(rest)?)),
                "down" => Ok(Command::Down(Some(steps(rest)?.unwrap_or(1)))),
                "status" if rest.is_empty() => Ok(Command::Status),
                "fresh" if rest.is_empty() => Ok(Command::Fresh),
                other => Err(format!(
                    "unknown migration command '{other}': use up [-n N], down [-n N], status or fresh"
                )),
            },
        }
    }

    /// Runs the command and returns what to print.
    pub async fn run(&self, db: &sea_orm::DatabaseConnection) -> Result<String, DbErr> {
        match self {
            Command::Up(n) => {
                let pending = Migrator::get_pending_migrations(db).await?.len();
                Migrator::up(db, *n).await?;
                let applied = n.map_or(pending, |n| pending.min(n as usize));
                Ok(format!("applied {applied} migration(s)"))
            }
            Command::Down(n) => {
                Migrator::down(db, *n).await?;
                Ok(format!("rolled back {} migration(s)", n.unwrap_or(1)))
            }
            Command::Fresh => {
                Migrator::fresh(db).await?;
                Ok("dropped every table and applied all migrations".to_owned())
            }
            Command::Status => {
                let mut lines = Vec::new();
                for m in Migrator::get_migration_with_status(db).await? {
                    lines.push(format!("{:<10} {}", format!("{:?}", m.status()), m.name()));
                }
                Ok(lines.join("\n"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command;

    fn parse(s: &str) -> Result<Command, String> {
        Command::parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn commands_parse_with_defaults() {
        assert_eq!(parse(""), Ok(Command::Up(None)));
        assert_eq!(parse("up -n 2"), Ok(Command::Up(Some(2))));
        assert_eq!(parse("down"), Ok(Command::Down(Some(1))));
        assert_eq!(parse("status"), Ok(Command::Status));
        assert!(parse("sideways").is_err());
        assert!(parse("up -n many").is_err());
    }
}
