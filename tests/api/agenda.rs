//! Dashboard, agenda, calendar feed and outcome reports.

use crm_tests::{TestApp, spawn_app, spawn_app_with};
use icalendar::{Calendar, CalendarComponent, Component};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

async fn outcome(app: &TestApp, name: &str) -> i64 {
    let all = app.get("/api/v1/outcomes").await;
    all.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn new_type(app: &TestApp, name: &str, agenda: bool, priority: bool) -> i64 {
    let reply = app
        .post(
            "/api/v1/task-types",
            &json!({"name": name, "visible_in_agenda": agenda, "priority": priority}),
        )
        .await;
    reply.ok(201)["id"].as_i64().unwrap()
}

async fn task(
    app: &TestApp,
    customer: i64,
    type_id: i64,
    date: &str,
    time: Option<&str>,
    responsible: i64,
) -> Value {
    let reply = app
        .post("/api/v1/tasks", &json!({"customer_id": customer, "description": "x", "type_id": type_id, "scheduled_date": date, "scheduled_time": time, "responsible_id": responsible}))
        .await;
    reply.ok(201).clone()
}

fn local_today(tz: chrono_tz::Tz) -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

fn day(d: chrono::NaiveDate, offset: i64) -> String {
    (d + chrono::Duration::days(offset)).to_string()
}

#[tokio::test]
async fn dashboard_counts_move_as_tasks_are_taken_and_closed() {
    let app = spawn_app().await;
    let today = local_today(chrono_tz::UTC);
    let call = new_type(&app, "Call", true, false).await;
    let quote = new_type(&app, "Quote", true, true).await;
    let (deborah, deborah_token) = app.operator("Deborah", "operator").await;
    let (maribel, _) = app.operator("Maribel", "operator").await;
    let customer = app.customer(json!({"name": "Manolo"})).await;

    let late = task(&app, customer, call, &day(today, -1), None, deborah).await;
    task(&app, customer, call, &day(today, 0), None, deborah).await;
    let urgent = task(
        &app,
        customer,
        quote,
        &day(today, 2),
        Some("10:00"),
        deborah,
    )
    .await;
    task(&app, customer, quote, &day(today, 3), None, maribel).await;

    let counts = |q: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/dashboard{q}"))
                .await
                .ok(200)
                .clone()
        }
    };
    let all = counts("").await;
    assert_eq!(
        all["counts"],
        json!({"planned": 4, "overdue": 1, "due_today": 1, "urgent": 2, "unassigned": 2})
    );
    assert_eq!(all["urgent"].as_array().unwrap().len(), 2);
    assert_eq!(all["urgent"][0]["id"], urgent["id"], "by schedule");
    assert!(
        all["urgent_url"]
            .as_str()
            .unwrap()
            .starts_with("/api/v1/tasks?")
    );
    let listed = app.get(all["unassigned_url"].as_str().unwrap()).await;
    assert_eq!(
        listed.ok(200)["items"].as_array().unwrap().len(),
        2,
        "the link lists them all"
    );

    let mine = app
        .get(&format!("/api/v1/dashboard?operator_id={deborah}"))
        .await;
    assert_eq!(mine.ok(200)["counts"]["planned"], 3);

    app.send(app.request_as(
        &deborah_token,
        Method::POST,
        &format!("/api/v1/tasks/{}/take", urgent["id"]),
    ))
    .await
    .ok(200);
    let after_take = counts("").await;
    assert_eq!(after_take["counts"]["urgent"], 2);
    assert_eq!(after_take["counts"]["unassigned"], 1);
    assert_eq!(after_take["unassigned"].as_array().unwrap().len(), 1);

    let positive = outcome(&app, "Positive").await;
    app.post(
        &format!("/api/v1/tasks/{}/next", late["id"]),
        &json!({"outcome_id": positive, "action": "close"}),
    )
    .await
    .ok(200);
    let after_close = counts("").await;
    assert_eq!(after_close["counts"]["planned"], 3);
    assert_eq!(after_close["counts"]["overdue"], 0);

    let team = app
        .post("/api/v1/teams", &json!({"name": "Sales"}))
        .await
        .json["id"]
        .clone();
    app.patch(
        &format!("/api/v1/operators/{maribel}"),
        &json!({"team_id": team}),
    )
    .await
    .ok(200);
    let by_team = app.get(&format!("/api/v1/dashboard?team_id={team}")).await;
    assert_eq!(by_team.ok(200)["counts"]["planned"], 1);
}

/// The dashboard's counts, as counting the planned tasks themselves gives them: of everyone,
/// of `deborah`, of `maribel` and of `team`.
async fn counted(app: &TestApp, today: chrono::NaiveDate, scopes: &[(&str, String)]) -> Vec<Value> {
    let mut all = Vec::new();
    for (query, condition) in scopes {
        let sql = format!(
            "SELECT COUNT(*), \
             COUNT(CASE WHEN scheduled_date < '{today}' THEN 1 END), \
             COUNT(CASE WHEN scheduled_date = '{today}' THEN 1 END), \
             COUNT(CASE WHEN p.priority THEN 1 END), \
             COUNT(CASE WHEN p.priority AND taken_by_id IS NULL THEN 1 END) \
             FROM tasks JOIN task_types p ON p.id = tasks.type_id \
             WHERE status = 'planned' AND kind = 'task' AND {condition}"
        );
        let row = app
            .db
            .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        let n = |i| row.try_get_by_index::<i64>(i).unwrap();
        let expected = [json!({
            "planned": n(0), "overdue": n(1), "due_today": n(2), "urgent": n(3), "unassigned": n(4)
        })];
        let shown = app.get(&format!("/api/v1/dashboard{query}")).await;
        assert_eq!(shown.ok(200)["counts"], expected[0], "dashboard{query}");
        all.push(expected[0].clone());
    }
    all
}

/// The planned, urgent and unassigned counts are kept per operator, type and whether taken
/// (`planned_task_counts`), moved by triggers on every write. Each way a task enters, leaves
/// or moves between them keeps them equal to the tasks, before and after the changes are
/// folded into the counts.
#[tokio::test]
async fn dashboard_counts_agree_with_the_tasks_through_every_change() {
    let app = spawn_app().await;
    let today = local_today(chrono_tz::UTC);
    let call = new_type(&app, "Call", true, false).await;
    let quote = new_type(&app, "Quote", true, true).await;
    let (deborah, deborah_token) = app.operator("Deborah", "operator").await;
    let (maribel, _) = app.operator("Maribel", "operator").await;
    let team = app
        .post("/api/v1/teams", &json!({"name": "Sales"}))
        .await
        .ok(201)["id"]
        .clone();
    app.patch(
        &format!("/api/v1/operators/{maribel}"),
        &json!({"team_id": team}),
    )
    .await
    .ok(200);
    let customer = app.customer(json!({"name": "Manolo"})).await;
    let scopes = [
        ("", "1 = 1".to_owned()),
        (
            &*format!("?operator_id={deborah}"),
            format!("responsible_id = {deborah}"),
        ),
        (
            &*format!("?operator_id={maribel}"),
            format!("responsible_id = {maribel}"),
        ),
        (
            &*format!("?team_id={team}"),
            format!("responsible_id = {maribel}"),
        ),
    ];
    let fold = || fold_all(&app);

    let late = task(&app, customer, call, &day(today, -1), None, deborah).await;
    let due = task(&app, customer, quote, &day(today, 0), None, deborah).await;
    let later = task(
        &app,
        customer,
        quote,
        &day(today, 2),
        Some("10:00"),
        maribel,
    )
    .await;
    let other = task(&app, customer, call, &day(today, 3), None, maribel).await;
    let first = counted(&app, today, &scopes).await;
    assert_eq!(
        first[0],
        json!({"planned": 4, "overdue": 1, "due_today": 1, "urgent": 2, "unassigned": 2})
    );
    fold().await;
    assert_eq!(
        counted(&app, today, &scopes).await,
        first,
        "folding changes nothing"
    );

    // Taken in charge: out of the unassigned.
    app.send(app.request_as(
        &deborah_token,
        Method::POST,
        &format!("/api/v1/tasks/{}/take", due["id"]),
    ))
    .await
    .ok(200);
    counted(&app, today, &scopes).await;
    // Another type, another responsible.
    app.patch(
        &format!("/api/v1/tasks/{}", other["id"]),
        &json!({"type_id": quote}),
    )
    .await
    .ok(200);
    app.patch(
        &format!("/api/v1/tasks/{}", later["id"]),
        &json!({"responsible_id": deborah}),
    )
    .await
    .ok(200);
    counted(&app, today, &scopes).await;
    fold().await;
    counted(&app, today, &scopes).await;

    // Closed with a follow-up of another type for another operator, closed, cancelled,
    // reopened, copied.
    let all = app.get("/api/v1/outcomes").await;
    let outcomes = all.ok(200)["items"].as_array().unwrap().clone();
    let with = |status: &str| {
        outcomes
            .iter()
            .find(|o| o["resulting_status"] == status || o["status"] == status)
            .unwrap()["id"]
            .clone()
    };
    app.post(
        &format!("/api/v1/tasks/{}/next", late["id"]),
        &json!({"outcome_id": with("done"), "action": "continue",
            "follow_up": {"description": "again", "type_id": quote, "scheduled_date": day(today, 0), "responsible_id": maribel}}),
    )
    .await
    .ok(200);
    counted(&app, today, &scopes).await;
    app.post(
        &format!("/api/v1/tasks/{}/next", due["id"]),
        &json!({"outcome_id": with("done"), "action": "close"}),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/tasks/{}/next", other["id"]),
        &json!({"outcome_id": with("cancelled"), "action": "close"}),
    )
    .await
    .ok(200);
    counted(&app, today, &scopes).await;
    app.post(&format!("/api/v1/tasks/{}/reopen", due["id"]), &json!({}))
        .await
        .ok(200);
    app.post(&format!("/api/v1/tasks/{}/copy", later["id"]), &json!({}))
        .await
        .ok(201);
    let before_fold = counted(&app, today, &scopes).await;
    fold().await;
    assert_eq!(counted(&app, today, &scopes).await, before_fold);
    assert_eq!(
        before_fold[0],
        json!({"planned": 4, "overdue": 0, "due_today": 2, "urgent": 4, "unassigned": 3})
    );
}

/// Each of the dashboard's lists is the first page of its link: the first 20 planned
/// priority tasks by schedule, and the first 20 of them nobody has taken, for everyone and
/// for one operator.
#[tokio::test]
async fn dashboard_lists_are_the_first_pages_of_their_links() {
    let app = spawn_app().await;
    let today = local_today(chrono_tz::UTC);
    let call = new_type(&app, "Call", true, false).await;
    let quote = new_type(&app, "Quote", true, true).await;
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let me = app.get("/api/v1/me").await.json["id"].as_i64().unwrap();
    let customer = app.customer(json!({"name": "Manolo"})).await;
    // 30 quotes over 15 days, every third taken; a call before each day's quotes.
    for i in 0..30 {
        let date = day(today, i / 2);
        task(&app, customer, call, &date, Some("08:00"), me).await;
        let responsible = if i % 2 == 0 { me } else { deborah };
        let quote = task(&app, customer, quote, &date, Some("09:00"), responsible).await;
        if i % 3 == 0 {
            app.post(&format!("/api/v1/tasks/{}/take", quote["id"]), &json!({}))
                .await
                .ok(200);
        }
    }
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    for scope in [String::new(), format!("?operator_id={deborah}")] {
        let dashboard = app
            .get(&format!("/api/v1/dashboard{scope}"))
            .await
            .ok(200)
            .clone();
        for (list, link) in [("urgent", "urgent_url"), ("unassigned", "unassigned_url")] {
            let page = app
                .get(&format!("{}&limit=20", dashboard[link].as_str().unwrap()))
                .await
                .ok(200)
                .clone();
            let listed = ids(&dashboard[list]);
            assert_eq!(listed, ids(&page["items"]), "{list} {scope}");
            assert!(!listed.is_empty(), "{list} {scope}");
        }
        let taken = dashboard["urgent"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| !t["taken_by"].is_null())
            .count();
        assert!(taken > 0, "the urgent list has taken tasks too: {scope}");
    }
    let all = app.get("/api/v1/dashboard").await.ok(200).clone();
    assert_eq!(ids(&all["urgent"]).len(), 20);
    assert_eq!(ids(&all["unassigned"]).len(), 20);
}

/// `n` planned calls inserted in one statement on a new PostgreSQL test database, as many
/// changes to the dashboard's counts; None on SQLite.
async fn bulk_planned_calls(n: u32) -> Option<TestApp> {
    let app = spawn_app().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return None;
    }
    let call = new_type(&app, "Call", true, true).await;
    let customer = app.customer(json!({"name": "Bulk Co"})).await;
    let me = app.get("/api/v1/me").await.json["id"].as_i64().unwrap();
    crm_tests::insert_tasks(
        &app.db,
        &format!(
            "SELECT 'task', {customer}, 'Call ' || g, {call}, DATE '2027-01-01', \
             TIMESTAMP '2027-01-01', {me}, {me}, now(), 'planned', 1, now() \
             FROM generate_series(1, {n}) AS g"
        ),
    )
    .await;
    Some(app)
}

/// Folds the changes to the dashboard's counts until none is left. The server folds every
/// second too; on PostgreSQL, while its fold holds the lock, a fold here skips and returns
/// before the server's commits (a fold of 100,000 changes on a loaded machine outlasted
/// the test's next statement).
async fn fold_all(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        crm_persistence::dashboard::fold_counts(&app.db)
            .await
            .expect("fold");
        if app.count("planned_task_count_changes").await == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the changes to the counts were never all folded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The pages of the table of changes to the dashboard's counts.
async fn change_pages(app: &TestApp) -> i64 {
    app.rows(
        "SELECT pg_relation_size('planned_task_count_changes') \
         / current_setting('block_size')::bigint AS pages",
    )
    .await[0]["pages"]
        .as_i64()
        .unwrap()
}

/// A bulk insert leaves tens of thousands of changes to the counts. Once folded, vacuuming
/// cuts the emptied table back: every dashboard reads it whole, empty pages included.
#[tokio::test]
async fn folded_changes_after_a_bulk_insert_leave_no_empty_pages_behind() {
    use crm_persistence::dashboard::{TRUNCATE_ABOVE_PAGES, Truncation, vacuum_count_changes};
    // Some 740 pages of changes.
    let Some(app) = bulk_planned_calls(100_000).await else {
        return;
    };
    // The server folds and vacuums every second too; whichever of the two comes first.
    fold_all(&app).await;
    vacuum_count_changes(&app.db, Truncation::WhenLarge)
        .await
        .expect("vacuum");
    assert_eq!(app.count("planned_task_count_changes").await, 0);
    let left = change_pages(&app).await;
    assert!(
        left <= 1,
        "{left} pages left (a vacuum truncates above {TRUNCATE_ABOVE_PAGES})"
    );
    let counts = app.get("/api/v1/dashboard").await.ok(200)["counts"].clone();
    assert_eq!(counts["planned"], 100000);
    assert_eq!(counts["unassigned"], 100000);
}

/// The server's own fold and vacuum, every second and every ten: once nothing is written,
/// the table of changes is cut back even when it is too small for a vacuum between writes to
/// truncate it, so that an idle dashboard does not read its emptied pages.
#[tokio::test]
async fn the_server_cuts_the_folded_changes_back_once_nothing_is_written() {
    // Some 150 pages of changes, below TRUNCATE_ABOVE_PAGES.
    let Some(app) = bulk_planned_calls(20_000).await else {
        return;
    };
    assert!(change_pages(&app).await > 100, "the changes are recorded");
    // Folded and vacuumed at once, truncated at the first vacuum due (ten seconds on) with
    // nothing to fold.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let mut left = change_pages(&app).await;
    while left > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        left = change_pages(&app).await;
    }
    assert!(left <= 1, "{left} pages left after the writes stopped");
    assert_eq!(app.count("planned_task_count_changes").await, 0);
    let counts = app.get("/api/v1/dashboard").await.ok(200)["counts"].clone();
    assert_eq!(counts["planned"], 20000);
}

#[tokio::test]
async fn today_and_overdue_are_read_in_the_business_time_zone() {
    // UTC+14: most of the time its date is not UTC's.
    let tz = chrono_tz::Pacific::Kiritimati;
    let app = spawn_app_with(|c| c.timezone = tz).await;
    let today = local_today(tz);
    let call = new_type(&app, "Call", true, false).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let me = app.get("/api/v1/me").await.json["id"].as_i64().unwrap();
    task(&app, customer, call, &day(today, -1), Some("23:59"), me).await;
    task(&app, customer, call, &day(today, 0), None, me).await;
    task(&app, customer, call, &day(today, 1), Some("00:00"), me).await;
    let counts = app.get("/api/v1/dashboard").await.ok(200)["counts"].clone();
    assert_eq!(counts["overdue"], 1, "only yesterday's task: {counts}");
    assert_eq!(counts["due_today"], 1, "today is local: {counts}");
    // A note without a date is dated today, locally.
    let note = app
        .post(
            "/api/v1/tasks",
            &json!({"customer_id": customer, "kind": "note", "description": "x", "type_id": call}),
        )
        .await;
    assert_eq!(note.ok(201)["scheduled_date"], today.to_string());
}

#[tokio::test]
async fn the_agenda_shows_planned_agenda_tasks_by_operator_and_team() {
    let app = spawn_app().await;
    let today = local_today(chrono_tz::UTC);
    let visit = new_type(&app, "Visit", true, false).await;
    let hidden = new_type(&app, "Back office", false, false).await;
    let team = app
        .post("/api/v1/teams", &json!({"name": "Trainers"}))
        .await
        .json["id"]
        .clone();
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let (maribel, _) = app.operator("Maribel", "operator").await;
    app.patch(
        &format!("/api/v1/operators/{maribel}"),
        &json!({"team_id": team}),
    )
    .await
    .ok(200);
    let customer = app.customer(json!({"name": "Blanca"})).await;

    let a = task(
        &app,
        customer,
        visit,
        &day(today, 1),
        Some("18:00"),
        deborah,
    )
    .await;
    let b = task(
        &app,
        customer,
        visit,
        &day(today, 1),
        Some("09:00"),
        maribel,
    )
    .await;
    let c = task(&app, customer, visit, &day(today, 0), None, maribel).await;
    task(&app, customer, hidden, &day(today, 1), None, deborah).await;
    task(&app, customer, visit, &day(today, 30), None, deborah).await;
    let closed = task(&app, customer, visit, &day(today, 2), None, deborah).await;
    let positive = outcome(&app, "Positive").await;
    app.post(
        &format!("/api/v1/tasks/{}/next", closed["id"]),
        &json!({"outcome_id": positive, "action": "close"}),
    )
    .await
    .ok(200);

    let ids = |q: String| {
        let app = &app;
        async move { app.ids(&format!("/api/v1/agenda{q}")).await }
    };
    assert_eq!(
        ids(String::new()).await,
        [c["id"].clone(), b["id"].clone(), a["id"].clone()],
        "this week, by date and time"
    );
    assert_eq!(
        ids(format!("?operator_id={deborah}")).await,
        [a["id"].clone()]
    );
    assert_eq!(
        ids(format!("?team_id={team}")).await,
        [c["id"].clone(), b["id"].clone()]
    );
    assert_eq!(
        ids(format!("?from={}&to={}", day(today, 1), day(today, 1))).await,
        [b["id"].clone(), a["id"].clone()]
    );
    let first = app.get("/api/v1/agenda").await;
    let entry = &first.json["items"][0];
    assert_eq!(entry["customer"]["name"], "Blanca");
    assert_eq!(entry["responsible"]["name"], "Maribel");
    assert!(entry["type"]["color"].is_string() && entry["type"]["priority"].is_boolean());

    app.get(&format!(
        "/api/v1/agenda?from={}&to={}",
        day(today, 1),
        day(today, 0)
    ))
    .await
    .problem(400);
    app.get(&format!(
        "/api/v1/agenda?from={}&to={}",
        day(today, 0),
        day(today, 92)
    ))
    .await
    .problem(400);
    app.get(&format!(
        "/api/v1/agenda?from={}&to={}",
        day(today, 0),
        day(today, 91)
    ))
    .await
    .ok(200);
    app.get("/api/v1/agenda?from=soon").await.problem(400);
}

fn events(text: &str) -> Vec<icalendar::Event> {
    let calendar: Calendar = text.parse().expect("a valid iCalendar document");
    calendar
        .components
        .into_iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_calendar_feed_parses_and_its_token_rotates() {
    let app = spawn_app().await;
    let today = local_today(chrono_tz::UTC);
    let visit = new_type(&app, "Visit; with, punctuation", true, false).await;
    let (deborah, deborah_token) = app.operator("Deborah", "operator").await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let timed = task(
        &app,
        customer,
        visit,
        &day(today, 1),
        Some("18:00"),
        deborah,
    )
    .await;
    let whole_day = task(&app, customer, visit, &day(today, 2), None, deborah).await;

    let with_bearer = app.get("/api/v1/agenda.ics").await;
    assert_eq!(with_bearer.status, 200);
    assert!(
        with_bearer
            .header("content-type")
            .unwrap()
            .starts_with("text/calendar")
    );
    let parsed = events(&with_bearer.text);
    assert_eq!(parsed.len(), 2);
    assert_eq!(
        parsed[0].get_uid(),
        Some(format!("task-{}@crm-api", timed["id"]).as_str())
    );
    assert_eq!(
        parsed[0].get_summary(),
        Some("Visit; with, punctuation – Blanca")
    );
    assert_eq!(
        parsed[1].get_uid(),
        Some(format!("task-{}@crm-api", whole_day["id"]).as_str())
    );
    assert!(with_bearer.text.contains(&format!(
        "DTSTART;VALUE=DATE:{}",
        day(today, 2).replace('-', "")
    )));

    let reply = app
        .send(app.request_as(&deborah_token, Method::POST, "/api/v1/me/calendar-token"))
        .await;
    let feed_url = reply.ok(200)["feed_url"].as_str().unwrap().to_owned();
    assert!(feed_url.starts_with("http://127.0.0.1:"), "{feed_url}");
    let plain = app.send(app.client.get(&feed_url)).await;
    assert_eq!(plain.status, 200, "no header needed: {}", plain.text);
    assert_eq!(events(&plain.text).len(), 2);

    let rotated = app
        .send(app.request_as(&deborah_token, Method::POST, "/api/v1/me/calendar-token"))
        .await;
    let new_url = rotated.ok(200)["feed_url"].as_str().unwrap().to_owned();
    assert_ne!(new_url, feed_url);
    app.send(app.client.get(&feed_url)).await.problem(401);
    assert_eq!(app.send(app.client.get(&new_url)).await.status, 200);
    app.send(app.client.get(app.url("/api/v1/agenda.ics")))
        .await
        .problem(401);
    app.send(app.client.get(app.url("/api/v1/agenda.ics?token=guess")))
        .await
        .problem(401);
    // No endpoint gives the token back.
    let me = app
        .send(app.request_as(&deborah_token, Method::GET, "/api/v1/me"))
        .await;
    assert!(!me.text.contains(new_url.rsplit('=').next().unwrap()));
}

#[tokio::test]
async fn reports_add_up_to_the_closed_tasks() {
    let app = spawn_app().await;
    let today = local_today(chrono_tz::UTC);
    let call = new_type(&app, "Call", true, false).await;
    let quote = new_type(&app, "Quote", true, false).await;
    let tag = app.post("/api/v1/tags", &json!({"name": "vip"})).await.json["id"].clone();
    let team = app
        .post("/api/v1/teams", &json!({"name": "Sales"}))
        .await
        .json["id"]
        .clone();
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let (maribel, _) = app.operator("Maribel", "operator").await;
    app.patch(
        &format!("/api/v1/operators/{maribel}"),
        &json!({"team_id": team}),
    )
    .await
    .ok(200);
    let customer = app.customer(json!({"name": "Manolo"})).await;
    let (positive, negative, sold, cancelled) = (
        outcome(&app, "Positive").await,
        outcome(&app, "Negative").await,
        outcome(&app, "Sold").await,
        outcome(&app, "Cancelled").await,
    );
    let plan = [
        (call, deborah, positive, true),
        (call, deborah, negative, false),
        (quote, maribel, sold, true),
        (quote, maribel, cancelled, false),
        (quote, deborah, sold, false),
    ];
    for (type_id, who, outcome_id, tagged) in plan {
        let mut body = json!({"customer_id": customer, "description": "x", "type_id": type_id, "scheduled_date": day(today, 0), "responsible_id": who});
        if tagged {
            body["tag_ids"] = json!([tag]);
        }
        let t = app.post("/api/v1/tasks", &body).await.ok(201).clone();
        app.post(
            &format!("/api/v1/tasks/{}/next", t["id"]),
            &json!({"outcome_id": outcome_id, "action": "close"}),
        )
        .await
        .ok(200);
    }
    // A planned task is not in the report.
    app.post("/api/v1/tasks", &json!({"customer_id": customer, "description": "x", "type_id": call, "scheduled_date": day(today, 0)})).await.ok(201);

    for group_by in ["operator", "type", "tag", "team"] {
        let reply = app
            .get(&format!("/api/v1/reports/outcomes?group_by={group_by}"))
            .await;
        let groups = reply.ok(200)["groups"].as_array().unwrap().clone();
        let closed: i64 = groups.iter().map(|g| g["closed"].as_i64().unwrap()).sum();
        assert_eq!(closed, 5, "{group_by}: {groups:?}");
        for g in &groups {
            let by_outcome: i64 = g["outcomes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["count"].as_i64().unwrap())
                .sum();
            assert_eq!(by_outcome, g["closed"].as_i64().unwrap());
        }
    }
    let by_type = app.get("/api/v1/reports/outcomes?group_by=type").await;
    let quote_group = by_type.json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Quote")
        .unwrap()
        .clone();
    assert_eq!(quote_group["closed"], 3);
    assert_eq!(quote_group["done"], 2);
    assert!((quote_group["done_share"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let by_tag = app.get("/api/v1/reports/outcomes?group_by=tag").await;
    let untagged = by_tag.json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"].is_null())
        .unwrap()
        .clone();
    assert_eq!(untagged["closed"], 3);

    let yesterday = app
        .get(&format!(
            "/api/v1/reports/outcomes?group_by=type&from={}&to={}",
            day(today, -1),
            day(today, -1)
        ))
        .await;
    assert_eq!(yesterday.ok(200)["groups"], json!([]));
    app.get("/api/v1/reports/outcomes?group_by=colour")
        .await
        .problem(400);
    app.get("/api/v1/reports/outcomes").await.problem(400);
}

/// On PostgreSQL the agenda's statement is planned once per connection: its days are written
/// into it. Bound, they kept PostgreSQL planning it at every request.
#[tokio::test]
async fn postgresql_plans_the_agenda_once() {
    use crm_persistence::tasks::{self, TaskFilter, TaskQuery, TaskSort};
    let app = spawn_app().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let visit = new_type(&app, "Visit", true, false).await;
    let team = app
        .post("/api/v1/teams", &json!({"name": "Trainers"}))
        .await
        .ok(201)["id"]
        .as_i64()
        .unwrap();
    let mut operators = Vec::new();
    for name in ["Ana", "Bea", "Carla", "Dora", "Elena"] {
        operators.push(app.operator(name, "operator").await.0);
    }
    for member in &operators[..2] {
        app.patch(
            &format!("/api/v1/operators/{member}"),
            &json!({"team_id": team}),
        )
        .await
        .ok(200);
    }
    let customer = app.customer(json!({"name": "Agenda Co"})).await;
    // 100,000 tasks over the first half of 2027, one in three planned, spread over the five
    // operators: a month's agenda is a sixth of them.
    let first = operators[0];
    crm_tests::insert_tasks(
        &app.db,
        &format!(
            "SELECT 'task', {customer}, 'Visit ' || g, {visit}, d::date, d, 1, {first} + g % 5, \
             now(), CASE WHEN g % 3 = 0 THEN 'planned' ELSE 'done' END, 1, now() \
             FROM generate_series(1, 100000) AS g, \
             LATERAL (SELECT TIMESTAMP '2027-01-01' + (g * 7919 % 100000) * INTERVAL '150 seconds' AS d) AS s"
        ),
    )
    .await;
    // One held connection: its prepared statements are the ones `pg_prepared_statements` shows.
    let hot = crm_persistence::HotConnections::new(1);
    let reader = crm_persistence::Reader::new(&app.db, &hot);
    let names = crm_persistence::Names::new();
    names.reload(&app.db).await.expect("catalog");
    let month = |m| chrono::NaiveDate::from_ymd_opt(2027, m, 1).expect("a date");
    for _ in 0..12 {
        let page = tasks::list(
            &reader,
            &names,
            TaskQuery {
                filter: TaskFilter {
                    kind: Some(crm_domain::TaskKind::Task),
                    status: Some(crm_domain::TaskStatus::Planned),
                    team_id: Some(team),
                    scheduled_from: Some(month(3)),
                    scheduled_to: month(4).pred_opt(),
                    agenda_only: true,
                    ..Default::default()
                },
                sort: vec![(TaskSort::ScheduledAt, false)],
                after: None,
                limit: 50,
            },
        )
        .await
        .expect("the agenda");
        assert_eq!(page.items.len(), 50);
        assert!(page.items.iter().all(|t| {
            operators[..2].contains(&t.responsible.id)
                && chrono::Datelike::month(&t.scheduled_date) == 3
        }));
    }
    let plans = crm_tests::prepared_plans(&reader, &[r#"%"t"."type_id" IN (%"#]).await;
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0].1, 0, "custom plans: {plans:?}");
}

/// Days at the ends of the calendar: the last of year 9999 is answered, a day outside the
/// years 1 to 9999 is a 400 naming its field, and nothing fails inside.
#[tokio::test]
async fn days_at_the_ends_of_the_calendar_are_answered_or_rejected() {
    let app = spawn_app().await;
    for ok in [
        "/api/v1/tasks?scheduled_to=9999-12-31",
        "/api/v1/tasks?scheduled_from=9999-12-31&scheduled_to=9999-12-31",
        "/api/v1/tasks?scheduled_from=0001-01-01&created_to=9999-12-31",
        "/api/v1/agenda?from=9999-12-29",
        "/api/v1/agenda?from=0001-01-01&to=0001-01-31",
    ] {
        let reply = app.get(ok).await;
        assert_eq!(reply.json["items"], json!([]), "{ok}");
    }
    for (bad, field) in [
        ("/api/v1/tasks?scheduled_from=-0001-01-01", "scheduled_from"),
        ("/api/v1/tasks?scheduled_to=%2B10000-01-01", "scheduled_to"),
        ("/api/v1/tasks?created_from=-262143-01-01", "created_from"),
        ("/api/v1/agenda?from=-262143-01-01", "from"),
        ("/api/v1/agenda?from=9999-12-01&to=%2B10000-01-01", "to"),
    ] {
        let reply = app.get(bad).await;
        let problem = reply.problem(400);
        assert_eq!(problem["errors"][0]["field"], field, "{bad}: {problem}");
    }
}
