//! Many requests at once on one task: one wins, nothing is done twice. Many at once on
//! many tasks: each is done once, as if alone.

use crm_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

async fn fixture(app: &TestApp) -> (Value, i64) {
    let ty = app
        .post("/api/v1/task-types", &json!({"name": "Call"}))
        .await
        .json["id"]
        .clone();
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let task = app.post("/api/v1/tasks", &json!({"customer_id": customer, "description": "Race", "type_id": ty, "scheduled_date": "2026-12-01"})).await;
    let outcomes = app.get("/api/v1/outcomes").await.json["items"].clone();
    let positive = outcomes
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Positive")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    (task.ok(201).clone(), positive)
}

/// How many tasks follow `task` in its chain.
async fn follow_ups(app: &TestApp, task: &Value) -> usize {
    app.rows(&format!("SELECT id FROM tasks WHERE parent_id = {task}"))
        .await
        .len()
}

async fn all_at_once(requests: Vec<reqwest::RequestBuilder>) -> Vec<(u16, Value)> {
    let handles: Vec<_> = requests
        .into_iter()
        .map(|r| {
            tokio::spawn(async move {
                match r.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
                    }
                    Err(_) => (0, Value::Null),
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap_or((0, Value::Null)));
    }
    out
}

#[tokio::test]
async fn fifty_concurrent_nexts_give_one_success_and_one_follow_up() {
    let app = spawn_app().await;
    let (task, positive) = fixture(&app).await;
    let body = json!({"outcome_id": positive, "action": "continue", "follow_up": {"description": "Once", "type_id": task["type"]["id"], "scheduled_date": "2026-12-02"}});
    let path = format!("/api/v1/tasks/{}/next", task["id"]);
    let replies = all_at_once(
        (0..50)
            .map(|_| app.request(Method::POST, &path).json(&body))
            .collect(),
    )
    .await;
    let statuses: Vec<u16> = replies.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(follow_ups(&app, &task["id"]).await, 1);
    assert_eq!(
        app.rows("SELECT id FROM timeline_entries WHERE kind = 'task_closed'")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn forty_nexts_at_once_on_forty_tasks_each_close_their_own() {
    let app = spawn_app().await;
    let (first, positive) = fixture(&app).await;
    let ty = &first["type"]["id"];
    let mut tasks = vec![first.clone()];
    for i in 1..40 {
        let customer = app.customer(json!({"name": format!("Customer {i}")})).await;
        let task = app.post("/api/v1/tasks", &json!({"customer_id": customer, "description": format!("Call {i}"), "type_id": ty, "scheduled_date": "2026-12-01"})).await;
        tasks.push(task.ok(201).clone());
    }
    let body = |i: usize| match i % 3 {
        0 => {
            json!({"outcome_id": positive, "action": "continue", "follow_up": {"description": format!("Again {i}"), "type_id": ty, "scheduled_date": "2026-12-02"}})
        }
        1 => {
            json!({"outcome_id": positive, "action": "close_with_note", "note": {"description": format!("Said {i}"), "type_id": ty, "scheduled_date": "2026-12-01"}})
        }
        _ => json!({"outcome_id": positive, "action": "close"}),
    };
    let replies = all_at_once(
        tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                app.request(Method::POST, &format!("/api/v1/tasks/{}/next", t["id"]))
                    .json(&body(i))
            })
            .collect(),
    )
    .await;
    for (i, ((status, reply), task)) in replies.iter().zip(&tasks).enumerate() {
        assert_eq!(*status, 200, "{i}: {reply}");
        assert_eq!(reply["task"]["id"], task["id"], "{i}");
        assert_eq!(reply["task"]["status"], "done", "{i}");
        assert_eq!(reply["task"]["version"], 2, "{i}");
        // What was answered is what was stored.
        let stored = app.get(&format!("/api/v1/tasks/{}", task["id"])).await;
        assert_eq!(stored.json, reply["task"], "{i}");
        let made = &reply["created"];
        assert_eq!(made.is_null(), i % 3 == 2, "{i}: {reply}");
        if made.is_null() {
            assert_eq!(follow_ups(&app, &task["id"]).await, 0, "{i}");
        } else {
            assert_eq!(made["parent_id"], task["id"], "{i}");
            let stored = app.get(&format!("/api/v1/tasks/{}", made["id"])).await;
            assert_eq!(&stored.json, made, "{i}");
            assert_eq!(follow_ups(&app, &task["id"]).await, 1, "{i}");
        }
        let closes = app
            .rows(&format!(
                "SELECT id FROM timeline_entries WHERE kind = 'task_closed' AND task_id = {}",
                task["id"]
            ))
            .await;
        assert_eq!(closes.len(), 1, "{i}");
    }
}

#[tokio::test]
async fn concurrent_patches_with_if_match_let_one_win() {
    let app = spawn_app().await;
    let (task, _) = fixture(&app).await;
    let path = format!("/api/v1/tasks/{}", task["id"]);
    let requests = (0..20)
        .map(|i| {
            app.request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({"description": format!("edit {i}")}))
        })
        .collect();
    let replies = all_at_once(requests).await;
    let ok: Vec<&Value> = replies
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    let stale = replies.iter().filter(|(s, _)| *s == 412).count();
    assert_eq!(
        (ok.len(), stale),
        (1, 19),
        "{:?}",
        replies.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    let now = app.get(&path).await;
    assert_eq!(now.json["description"], ok[0]["description"]);
    assert_eq!(now.json["version"], 2);
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_create_one_task() {
    let app = spawn_app().await;
    let (task, _) = fixture(&app).await;
    let body = json!({"customer_id": task["customer"]["id"], "description": "Once", "type_id": task["type"]["id"], "scheduled_date": "2026-12-01"});
    let before = app.count("tasks").await;
    let requests = (0..20)
        .map(|_| {
            app.request(Method::POST, "/api/v1/tasks")
                .header("Idempotency-Key", "same-key")
                .json(&body)
        })
        .collect();
    let replies = all_at_once(requests).await;
    assert_eq!(app.count("tasks").await, before + 1);
    let created: Vec<&Value> = replies
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|b| b["id"] == created[0]["id"]),
        "every 201 is the same task"
    );
    assert!(
        replies.iter().all(|(s, _)| *s == 201 || *s == 409),
        "{:?}",
        replies.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn tasks_created_while_their_customer_is_renamed_carry_the_final_name() {
    let app = spawn_app().await;
    let (task, _) = fixture(&app).await;
    let customer = task["customer"]["id"].as_i64().unwrap();
    let ty = task["type"]["id"].clone();
    let customer_path = format!("/api/v1/customers/{customer}");
    let mut requests = Vec::new();
    for i in 0..40 {
        requests.push(app.request(Method::POST, "/api/v1/tasks").json(&json!({
            "customer_id": customer, "description": format!("Call {i}"), "type_id": ty,
            "scheduled_date": "2026-12-01"
        })));
        if i % 8 == 0 {
            requests.push(
                app.request(Method::PATCH, &customer_path)
                    .json(&json!({"name": format!("Blanca {i}")})),
            );
        }
    }
    let replies = all_at_once(requests).await;
    // A write that collided with another may be refused (a rename that lost to another is
    // 412, as any concurrent edit of one record); nothing else fails.
    for (status, body) in &replies {
        assert!([200, 201, 409, 412].contains(status), "{status} {body}");
    }
    assert!(
        replies.iter().any(|(s, _)| *s == 200),
        "no rename went through"
    );
    let name = app.get(&customer_path).await.json["name"].clone();
    let tasks = app
        .get(&format!("/api/v1/tasks?customer_id={customer}&limit=100"))
        .await;
    let items = tasks.ok(200)["items"].as_array().unwrap().clone();
    let created = replies.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(items.len(), created + 1);
    for item in &items {
        assert_eq!(item["customer"]["name"], name, "{item}");
    }
}

/// A Next that creates a follow-up while its customer is being renamed waits for the rename
/// and goes through; taking the task first and the customer second, it would deadlock with
/// the rename, which takes the customer first and then renames the customer's tasks.
#[tokio::test]
async fn a_next_during_a_rename_of_its_customer_waits_and_goes_through() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = spawn_app().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let (task, positive) = fixture(&app).await;
    let customer = task["customer"]["id"].as_i64().unwrap();
    // A rename in progress, beside the server: the customer's row is locked first.
    let rename = app.db.begin().await.unwrap();
    rename
        .execute_unprepared(&format!(
            "SELECT id FROM customers WHERE id = {customer} FOR UPDATE"
        ))
        .await
        .unwrap();
    let next = app
        .request(Method::POST, &format!("/api/v1/tasks/{}/next", task["id"]))
        .json(&json!({"outcome_id": positive, "action": "continue", "follow_up": {"description": "Again", "type_id": task["type"]["id"], "scheduled_date": "2026-12-02"}}));
    let pending = tokio::spawn(async move { next.send().await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    rename
        .execute_unprepared(&format!(
            "UPDATE customers SET name = 'Blanca Ruiz' WHERE id = {customer}"
        ))
        .await
        .unwrap();
    rename.commit().await.unwrap();
    let reply = pending.await.unwrap().unwrap();
    let status = reply.status().as_u16();
    let body: Value = reply.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{body}");
    assert_eq!(follow_ups(&app, &task["id"]).await, 1);
    for row in app
        .rows(&format!(
            "SELECT customer_name FROM tasks WHERE customer_id = {customer}"
        ))
        .await
    {
        assert_eq!(row["customer_name"], "Blanca Ruiz");
    }
}

/// A `Reader` whose connections allow one statement at once: the second waits until the
/// first is done, however long, then runs; with a short wait it is refused as a pool that
/// timed out is (a 503 to the client).
#[tokio::test]
async fn statements_past_the_limit_wait_their_turn() {
    use sea_orm::{ConnectionTrait, DbErr, Statement, TransactionTrait};
    use std::time::Duration;
    let app = spawn_app().await;
    let backend = app.db.get_database_backend();
    if backend != sea_orm::DbBackend::Postgres {
        return;
    }
    let sql = |s: &str| Statement::from_string(backend, s.to_owned());
    // A lock held elsewhere: the first statement waits on it until it is let go.
    let hold_lock = || async {
        let holder = app.db.begin().await.expect("transaction");
        holder
            .execute_raw(sql("SELECT pg_advisory_xact_lock(4242)"))
            .await
            .expect("lock");
        holder
    };
    let holder = hold_lock().await;

    let hot = crm_persistence::HotConnections::limited(4, 1, Duration::from_secs(60));
    let reader = crm_persistence::Reader::new(&app.db, &hot);
    let first = reader.query_one_raw(sql("SELECT pg_advisory_xact_lock(4242)"));
    let second = reader.query_one_raw(sql("SELECT 1 AS one"));
    tokio::pin!(first, second);
    let done = tokio::time::timeout(Duration::from_millis(500), async {
        tokio::select! {
            biased;
            _ = &mut first => "first",
            _ = &mut second => "second",
        }
    })
    .await;
    assert!(done.is_err(), "{done:?} ran while the only turn was taken");
    holder.rollback().await.expect("let go");
    let (first, second) = tokio::join!(first, second);
    first.expect("the first ran once the lock was let go");
    let one: i32 = second
        .expect("the second ran after it")
        .expect("a row")
        .try_get("", "one")
        .expect("one");
    assert_eq!(one, 1);

    // Waiting longer than allowed is refused, and the first still runs.
    let holder = hold_lock().await;
    let hot = crm_persistence::HotConnections::limited(4, 1, Duration::from_millis(200));
    let reader = crm_persistence::Reader::new(&app.db, &hot);
    let first = reader.query_one_raw(sql("SELECT pg_advisory_xact_lock(4242)"));
    let second = reader.query_one_raw(sql("SELECT 1 AS one"));
    tokio::pin!(first, second);
    let refused = tokio::select! {
        biased;
        _ = &mut first => panic!("the first ran while the lock was held"),
        r = &mut second => r,
    };
    assert!(
        matches!(
            refused,
            Err(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))
        ),
        "{refused:?}"
    );
    holder.rollback().await.expect("let go");
    first.await.expect("the first ran once the lock was let go");
}
