//! `crm-bench`: builds a realistic dataset through the persistence layer, starts the server,
//! loads it from this machine, measures the machine's ceilings in the same run, and writes
//! BENCHMARKS.md.
//!
//!   cargo build --release -p crm-api -p crm-bench && target/release/crm-bench
//!   cargo run -p crm-bench -- --smoke          # seconds, debug server, what CI runs

use clap::Parser;
use load::Request;
use rand::Rng;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod cpu;
mod load;

#[derive(Parser, Debug)]
#[command(about = "Benchmark of the CRM API at realistic scale")]
struct Args {
    /// A PostgreSQL server URL (a database `crm_bench` is made on it), `sqlite` for a SQLite
    /// file of the run's own, or `sqlite:PATH` for the file at PATH, which is kept.
    /// The API and pgbench both connect with its parameters. The default turns TLS off: the
    /// server, the database and the load generator share one machine, and on loopback TLS
    /// only costs CPU (a fifth of GET a task, a quarter of pgbench's select).
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
    )]
    database: String,
    #[arg(long, default_value_t = 1_000_000)]
    tasks: i64,
    #[arg(long, default_value_t = 20_000)]
    customers: i64,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The server binary to run.
    #[arg(long, default_value = "target/release/crm-api")]
    server: PathBuf,
    /// A tiny dataset and one-second scenarios, to check that the tool works.
    #[arg(long)]
    smoke: bool,
    /// Keep the benchmark database (PostgreSQL `crm_bench`, or the SQLite file) afterwards,
    /// for EXPLAIN ANALYZE or --reuse.
    #[arg(long)]
    keep_database: bool,
    /// Run on the dataset an earlier run kept instead of generating one: PostgreSQL's
    /// `crm_bench`, or the file of `--database sqlite:PATH`. What the earlier runs' writes
    /// made stays in it (each Next closed a planned task and planned another), so compare
    /// runs on the same kept dataset with each other, not with runs on a new one.
    #[arg(long)]
    reuse: bool,
    /// Where to write the report (default: BENCHMARKS.md, not in smoke mode or with --only).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Run only the scenarios whose name contains one of these words (comma-separated,
    /// e.g. `--only get,next`); `/healthz` and the ceilings are always measured.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

const PASSWORD: &str = "bench-password";

struct Outcome {
    name: String,
    write: bool,
    requests: usize,
    errors: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu: Option<cpu::PerRequest>,
}

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The database's files, read into the operating system's cache before each scenario.
///
/// On the machines this runs on, the cache of files drains while they sit in it (a SQLite
/// file of 805 MB went from 786 MB cached to 555 MB in 45 idle seconds), so a scenario that
/// followed a slow one, or the generation by minutes, read part of the dataset from the disk:
/// GET a task on SQLite gave 19,700 req/s on a file left a third cached and 26,600 on the
/// same file read just before. A server in use keeps what it reads cached; each scenario
/// starts on a dataset that is, as a long-running server's would be.
#[derive(Clone)]
enum Warm {
    Nothing,
    /// The SQLite file and its write-ahead log.
    Files(Vec<PathBuf>),
    /// Every table and index of the database at this URL, by `pg_prewarm` ('read').
    Relations(String),
}

impl Warm {
    /// Reads the files through; a failure only says so (the scenario runs colder).
    fn run(&self) {
        match self {
            Warm::Nothing => {}
            Warm::Files(paths) => {
                for path in paths.iter().filter(|p| p.exists()) {
                    if let Err(e) = std::fs::File::open(path)
                        .and_then(|mut f| std::io::copy(&mut f, &mut std::io::sink()))
                    {
                        println!("  reading {} failed ({e})", path.display());
                    }
                }
            }
            Warm::Relations(url) => {
                let sql = "CREATE EXTENSION IF NOT EXISTS pg_prewarm; \
                    SELECT sum(pg_prewarm(c.oid::regclass, 'read')) FROM pg_class c \
                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')";
                if let Err(e) = psql(url, sql) {
                    println!(
                        "  pg_prewarm failed ({}); the scenario may read from the disk",
                        e.trim()
                    );
                }
            }
        }
    }
}

/// The load generator's settings, and which scenarios to run.
#[derive(Clone)]
struct Runner {
    target: Arc<load::Target>,
    connections: usize,
    seconds: u64,
    only: Vec<String>,
    warm: Warm,
    /// The server's process, whose CPU time is read around each scenario.
    server_pid: u32,
    /// Whether PostgreSQL's processes are read too.
    postgres: bool,
}

impl Runner {
    fn wanted(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        self.only.is_empty() || self.only.iter().any(|w| name.contains(&w.to_lowercase()))
    }

    /// Sends requests over `connections` connections for `seconds`; `next` builds each
    /// request. `write` says which ceiling the scenario is compared with.
    async fn load<F>(&self, name: &str, write: bool, next: F) -> Option<Outcome>
    where
        F: Fn(usize) -> Request + Send + Sync + 'static,
    {
        self.load_at_most(name, write, usize::MAX, next).await
    }

    /// Like [`Runner::load`], but stops after `limit` requests: a scenario that uses each
    /// task once ends when the dataset has no more to give instead of failing.
    async fn load_at_most<F>(
        &self,
        name: &str,
        write: bool,
        limit: usize,
        next: F,
    ) -> Option<Outcome>
    where
        F: Fn(usize) -> Request + Send + Sync + 'static,
    {
        if !self.wanted(name) {
            return None;
        }
        self.warm.run();
        let before = cpu::Sample::now(self.server_pid, self.postgres);
        let load::Measured {
            latencies: mut all,
            errors,
            elapsed,
        } = load::run(
            self.target.clone(),
            self.connections,
            Duration::from_secs(self.seconds),
            limit,
            next,
        )
        .await;
        let cpu = before.per_request(&cpu::Sample::now(self.server_pid, self.postgres), all.len());
        let elapsed = elapsed.as_secs_f64();
        all.sort_unstable();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .map_or(0.0, |v| *v as f64 / 1000.0)
        };
        println!("  {name}: {:.0} req/s", all.len() as f64 / elapsed);
        Some(Outcome {
            name: name.to_owned(),
            write,
            requests: all.len(),
            errors,
            per_second: all.len() as f64 / elapsed,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            cpu,
        })
    }
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([url, "-Atqc", sql])
        .output()
        .map_err(fail)?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// What pgbench measured: its rate, and the CPU it and PostgreSQL spent per transaction.
struct Pgbench {
    tps: f64,
    cpu: Option<cpu::PerRequest>,
}

/// pgbench's run with `args`, or None when pgbench is not there.
fn pgbench(url: &str, args: &[&str], server_pid: u32) -> Option<Pgbench> {
    let before = cpu::Sample::now(server_pid, true);
    let out = Command::new("pgbench").args(args).arg(url).output().ok()?;
    // The backends it used end with it; their parent adds their CPU time to its own once it
    // has reaped them.
    std::thread::sleep(Duration::from_millis(200));
    let after = cpu::Sample::now(server_pid, true);
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |prefix: &str, at: usize| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(at))
            .and_then(|v| v.split('/').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let tps = value("tps = ", 2)?;
    let transactions = value("number of transactions actually processed:", 5);
    Some(Pgbench {
        tps,
        cpu: transactions.and_then(|n| before.per_request(&after, n as usize)),
    })
}

/// The CPU columns of a scenario's row: server, PostgreSQL, load generator, cores busy.
fn cpu_cells(cpu: Option<&cpu::PerRequest>) -> String {
    match cpu {
        Some(c) => format!(
            "{:.0} | {} | {:.0} | {:.0}%",
            c.server_us,
            c.database_us.map_or(String::new(), |d| format!("{d:.0}")),
            c.generator_us,
            100.0 * c.busy
        ),
        None => " | | | ".to_owned(),
    }
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crm-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(mut args: Args) -> Result<(), String> {
    if args.smoke {
        args.tasks = args.tasks.min(2_000);
        args.customers = args.customers.min(200);
        args.seconds = args.seconds.min(1);
        args.connections = args.connections.min(8);
    }
    let postgres = args.database.starts_with("postgres");
    let work = std::env::temp_dir().join(format!("crm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(fail)?;
    let sqlite_file = match args.database.strip_prefix("sqlite:") {
        Some(path) => PathBuf::from(path),
        None => work.join("crm.db"),
    };
    let url = if postgres {
        if !args.reuse {
            psql(
                &args.database,
                "DROP DATABASE IF EXISTS crm_bench WITH (FORCE)",
            )?;
            psql(&args.database, "CREATE DATABASE crm_bench")?;
        }
        crm_persistence::replace_database(&args.database, "crm_bench")
    } else if args.database == "sqlite" || args.database.starts_with("sqlite:") {
        if args.reuse && args.database == "sqlite" {
            return Err("--reuse on SQLite needs the kept file: --database sqlite:PATH".into());
        }
        match (args.reuse, sqlite_file.exists()) {
            (true, false) => {
                return Err(format!(
                    "--reuse: {} does not exist; make it with --database sqlite:{} first",
                    sqlite_file.display(),
                    sqlite_file.display()
                ));
            }
            (false, true) => {
                return Err(format!(
                    "{} exists: run on it with --reuse, or remove it",
                    sqlite_file.display()
                ));
            }
            _ => format!("sqlite://{}?mode=rwc", sqlite_file.display()),
        }
    } else {
        return Err(format!(
            "--database {}: expected a postgres:// URL, sqlite or sqlite:PATH",
            args.database
        ));
    };

    let started = Instant::now();
    let db = crm_persistence::connect(&url, &crm_persistence::PoolConfig::default())
        .await
        .map_err(|e| match args.reuse {
            true => format!("{e} (--reuse needs a database kept by --keep-database)"),
            false => e.to_string(),
        })?;
    crm_persistence::migrate(&db).await.map_err(fail)?;
    let today = chrono::Utc::now().date_naive();
    let dataset = if args.reuse {
        let dataset = crm_persistence::bulk::describe(&db).await.map_err(fail)?;
        if dataset.tasks == 0 {
            return Err("--reuse: the kept database holds no tasks".into());
        }
        dataset
    } else {
        println!(
            "dataset: {} tasks and notes over {} customers",
            args.tasks, args.customers
        );
        let hash = crm_api::auth::hash_password(PASSWORD).map_err(fail)?;
        let scale = crm_persistence::bulk::Scale {
            customers: args.customers,
            tasks: args.tasks,
            ..Default::default()
        };
        crm_persistence::bulk::generate(&db, scale, today, &hash)
            .await
            .map_err(fail)?
    };
    let generation = started.elapsed().as_secs_f64();
    if postgres {
        use sea_orm::ConnectionTrait;
        // A kept dataset as a generated one is: vacuumed and analysed after the earlier runs'
        // writes (a few seconds when they were few).
        if args.reuse {
            db.execute_unprepared("VACUUM ANALYZE")
                .await
                .map_err(fail)?;
        }
        // The dataset's pages go to disk now rather than during the scenarios: left to
        // itself, the checkpoint after a generation spread its writes over the next hundred
        // seconds, under the reads.
        if let Err(e) = db.execute_unprepared("CHECKPOINT").await {
            println!("  CHECKPOINT failed ({e}); the scenarios may share the disk with it");
        }
    }
    db.close().await.map_err(fail)?;
    let origin = match args.reuse {
        true => format!("kept by an earlier run, read in {generation:.1} s"),
        false => format!("generated in {generation:.1} s"),
    };
    println!(
        "dataset: {} tasks and notes over {} customers, {origin} ({} timeline entries, {} planned tasks)",
        dataset.tasks,
        dataset.customers,
        dataset.timeline_entries,
        dataset.planned.len()
    );

    let port = 18700 + rand::rng().random_range(0..200);
    let base = format!("http://127.0.0.1:{port}");
    let spawn_at = Instant::now();
    let child = Command::new(&args.server)
        .env("DATABASE_URL", &url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", "benchmark-secret-benchmark-secret-0123456789")
        .env("DOCUMENT_DIR", work.join("documents"))
        .env("DB_MAX_CONNECTIONS", "16")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "starting {}: {e} (build it with cargo build --release -p crm-api)",
                args.server.display()
            )
        })?;
    let pid = child.id();
    let _server = Server(child);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections * 2)
        .build()
        .map_err(fail)?;
    let mut ready = false;
    for _ in 0..500 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !ready {
        return Err("the server did not start".into());
    }
    let startup = spawn_at.elapsed().as_secs_f64();
    println!("  server ready {startup:.2} s after start (pid {pid})");

    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@example.com", "password": PASSWORD}))
        .send()
        .await
        .map_err(fail)?
        .json()
        .await
        .map_err(fail)?;
    let token = login["access_token"].as_str().ok_or("no token")?.to_owned();
    let auth = format!("Bearer {token}");

    // The cursor of page 1,000 of a filtered list (or the last page of a small dataset).
    let list = "/api/v1/tasks?status=done&sort=scheduled_at&limit=50".to_owned();
    let mut deep = list.clone();
    let mut pages = 1;
    while pages < 1000 {
        let page: Value = client
            .get(format!("{base}{deep}"))
            .header("authorization", &auth)
            .send()
            .await
            .map_err(fail)?
            .json()
            .await
            .map_err(fail)?;
        match page["next_cursor"].as_str() {
            Some(c) => deep = format!("{list}&cursor={c}"),
            None => break,
        }
        pages += 1;
    }
    println!("  page {pages} of the filtered list found");

    let (c, s) = (args.connections, args.seconds);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let run = Runner {
        target: Arc::new(load::Target::new(addr, Some(auth))),
        connections: c,
        seconds: s,
        only: args.only.clone(),
        server_pid: pid,
        postgres,
        warm: if postgres {
            Warm::Relations(url.clone())
        } else {
            Warm::Files(vec![
                sqlite_file.clone(),
                PathBuf::from(format!("{}-wal", sqlite_file.display())),
            ])
        },
    };
    let tasks = dataset.tasks;
    let customers = dataset.customers;
    let operators = dataset.operators;
    let planned = Arc::new(dataset.planned.clone());
    let mut results = Vec::new();
    let healthz = Runner {
        target: Arc::new(load::Target::new(addr, None)),
        only: Vec::new(),
        warm: Warm::Nothing,
        ..run.clone()
    };
    results.extend(
        healthz
            .load("healthz (framework ceiling)", false, |_| {
                Request::get("/healthz".into())
            })
            .await,
    );
    results.extend(
        run.load("GET a task", false, move |n| {
            Request::get(format!("/api/v1/tasks/{}", (n as i64 * 7919) % tasks + 1))
        })
        .await,
    );
    results.extend(
        run.load("filtered list, first page", false, move |n| {
            Request::get(format!(
                "/api/v1/tasks?status=planned&responsible_id={}&sort=scheduled_at",
                n as i64 % operators + 1
            ))
        })
        .await,
    );
    // Page 1 of the list whose page 1,000 follows, so that the two compare like with like.
    let l = list.clone();
    results.extend(
        run.load("same list, page 1", false, move |_| Request::get(l.clone()))
            .await,
    );
    let d = deep.clone();
    results.extend(
        run.load(&format!("filtered list, page {pages}"), false, move |_| {
            Request::get(d.clone())
        })
        .await,
    );
    let month = (today + chrono::Duration::days(30)).to_string();
    let from = today.to_string();
    results.extend(
        run.load("agenda of a team's month", false, move |n| {
            Request::get(format!(
                "/api/v1/agenda?team_id={}&from={from}&to={month}",
                n % 5 + 1
            ))
        })
        .await,
    );
    results.extend(
        run.load("dashboard", false, move |n| {
            Request::get(format!(
                "/api/v1/dashboard?operator_id={}",
                n as i64 % operators + 1
            ))
        })
        .await,
    );
    results.extend(
        run.load("customer timeline", false, move |n| {
            Request::get(format!(
                "/api/v1/customers/{}/timeline",
                (n as i64 * 104_729) % customers + 1
            ))
        })
        .await,
    );
    // The writes come last. Some 50,000 of them (creates and Nexts) set off autovacuum on
    // `tasks` and a checkpoint or two; reads measured meanwhile measured those as much as
    // themselves (the agenda's p99 went from 18 ms to 47 ms). Each read runs on the dataset
    // as generated, vacuumed and analysed.
    results.extend(
        run.load("create a task", true, move |n| {
            Request::post_json("/api/v1/tasks".into(), &json!({
                "customer_id": n as i64 % customers + 1, "description": "Benchmark call", "type_id": 2,
                "scheduled_date": "2027-01-15", "scheduled_time": "10:30"
            }))
        })
        .await,
    );
    let p = planned.clone();
    let limit = p.len();
    results.extend(run.load_at_most("Next with continue", true, limit, move |i| {
        let id = p.get(i).copied().unwrap_or(1);
        Request::post_json(format!("/api/v1/tasks/{id}/next"), &json!({
            "outcome_id": 2, "action": "continue",
            "follow_up": {"description": "Benchmark follow-up", "type_id": 2, "scheduled_date": "2027-02-01"}
        }))
    }).await);
    let rss = peak_rss_mib(pid);

    let (select, insert) = if postgres {
        let bench_db = crm_persistence::replace_database(&args.database, "crm_pgbench");
        psql(
            &args.database,
            "DROP DATABASE IF EXISTS crm_pgbench WITH (FORCE)",
        )?;
        psql(&args.database, "CREATE DATABASE crm_pgbench")?;
        let seconds = s.to_string();
        let _ = Command::new("pgbench")
            .args(["-i", "-q", "-s", "10"])
            .arg(&bench_db)
            .output();
        Warm::Relations(bench_db.clone()).run();
        let select = pgbench(
            &bench_db,
            &[
                "-S", "-M", "prepared", "-c", "10", "-j", "2", "-T", &seconds,
            ],
            pid,
        );
        let script = work.join("insert.sql");
        std::fs::write(&script, "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 1, now());\n").map_err(fail)?;
        let script_arg = format!("{}", script.display());
        let insert = pgbench(
            &bench_db,
            &[
                "-n",
                "-M",
                "prepared",
                "-c",
                "10",
                "-j",
                "2",
                "-T",
                &seconds,
                "-f",
                &script_arg,
            ],
            pid,
        );
        let _ = psql(
            &args.database,
            "DROP DATABASE IF EXISTS crm_pgbench WITH (FORCE)",
        );
        (select, insert)
    } else {
        (None, None)
    };

    let select_tps = select.as_ref().map(|p| p.tps);
    let insert_tps = insert.as_ref().map(|p| p.tps);
    let healthz = results[0].per_second;
    let combined = |db: Option<f64>| db.map(|d| 1.0 / (1.0 / healthz + 1.0 / d));
    let read_ceiling = combined(select_tps);
    let write_ceiling = combined(insert_tps);
    let mut table = String::from(
        "| scenario | requests | req/s | p50 ms | p99 ms | errors | share of ceiling | CPU µs per request: server | PostgreSQL | load generator | cores busy |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, r) in results.iter().enumerate() {
        let ceiling = match i {
            0 => None,
            _ if r.write => write_ceiling,
            _ => read_ceiling.or(Some(healthz)),
        };
        let share = ceiling.map_or("".to_owned(), |c| {
            format!("{:.0}%", 100.0 * r.per_second / c)
        });
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} |\n",
            r.name,
            r.requests,
            r.per_second,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            share,
            cpu_cells(r.cpu.as_ref()),
        ));
    }
    let mut ceilings = format!("- `/healthz`: {healthz:.0} req/s\n");
    for (name, run) in [("select by key", &select), ("INSERT", &insert)] {
        if let Some(p) = run {
            ceilings.push_str(&format!(
                "- pgbench {name} (prepared, 10 clients): {:.0} tps{}\n",
                p.tps,
                p.cpu.as_ref().map_or(String::new(), |c| format!(
                    "; CPU µs per transaction: PostgreSQL {}, pgbench {:.0}; cores busy {:.0}%",
                    c.database_us.map_or("?".to_owned(), |d| format!("{d:.0}")),
                    c.children_us,
                    100.0 * c.busy
                )),
            ));
        }
    }
    if let Some(c) = read_ceiling {
        ceilings.push_str(&format!(
            "- combined read ceiling 1/(1/healthz + 1/select): {c:.0} req/s\n"
        ));
    }
    if let Some(c) = write_ceiling {
        ceilings.push_str(&format!(
            "- combined write ceiling 1/(1/healthz + 1/insert): {c:.0} req/s\n"
        ));
    }
    let machine = format!(
        "{} cores, {}; load generator and server on the same machine",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned())
            )
            .unwrap_or_default()
    );
    if postgres {
        ceilings.push_str(if args.database.contains("sslmode=disable") {
            "- PostgreSQL connections of the API and of pgbench: without TLS (`sslmode=disable`)\n"
        } else {
            "- PostgreSQL connections of the API and of pgbench: with the URL's `sslmode` (by default TLS when the server offers it)\n"
        });
    }
    ceilings.push_str(if postgres {
        "- before each scenario and pgbench's select, the database's tables and indexes read into the system's cache (`pg_prewarm`, 'read')\n"
    } else {
        "- before each scenario, the SQLite file read into the system's cache\n"
    });
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = format!(
        "## {} — {} tasks and notes, {} customers\n\nCommand: `{command}`\n\n{table}\n{ceilings}- peak RSS of the server: {}\n- server start-up on the migrated database: {startup:.2} s\n- dataset {origin}\n- machine: {machine}\n- {c} connections, {s} s per scenario\n",
        if postgres { "PostgreSQL" } else { "SQLite" },
        tasks,
        customers,
        rss.map_or("unknown".to_owned(), |r| format!("{r:.0} MiB")),
    );
    println!("\n{report}");
    let keep = args.keep_database || args.reuse;
    if postgres && !keep {
        let _ = psql(
            &args.database,
            "DROP DATABASE IF EXISTS crm_bench WITH (FORCE)",
        );
    }
    if !postgres && (keep || args.database != "sqlite") {
        println!(
            "SQLite database kept: run on it again with --database sqlite:{} --reuse",
            sqlite_file.display()
        );
    }
    if !(keep && args.database == "sqlite") {
        let _ = std::fs::remove_dir_all(&work);
    }
    let errors: usize = results.iter().map(|r| r.errors).sum();
    if let Some(path) = args
        .output
        .or((!args.smoke && args.only.is_empty()).then(|| PathBuf::from("BENCHMARKS.md")))
    {
        std::fs::write(&path, report).map_err(fail)?;
        println!("written to {}", path.display());
    }
    if args.smoke && (errors > 0 || results.iter().any(|r| r.requests == 0)) {
        return Err(format!("{errors} requests failed in the smoke run"));
    }
    Ok(())
}
