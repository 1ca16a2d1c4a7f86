//! The task lifecycle end to end, following the help pages' walkthroughs.

use crm_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

struct World {
    outcomes: std::collections::HashMap<String, i64>,
    appointment: i64,
    proshop: i64,
    quote: i64,
    call: i64,
}

async fn world(app: &TestApp) -> World {
    let outcomes = app.get("/api/v1/outcomes").await.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_owned(),
                o["id"].as_i64().unwrap(),
            )
        })
        .collect();
    let ty = |name: &'static str, priority: bool| async move {
        let reply = app
            .post(
                "/api/v1/task-types",
                &json!({"name": name, "priority": priority}),
            )
            .await;
        reply.ok(201)["id"].as_i64().unwrap()
    };
    World {
        outcomes,
        appointment: ty("Appointment", false).await,
        proshop: ty("ProShop sales", false).await,
        quote: ty("Quote", true).await,
        call: ty("Call", false).await,
    }
}

impl World {
    fn outcome(&self, name: &str) -> i64 {
        self.outcomes[name]
    }
}

async fn task(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/api/v1/tasks", &body).await;
    reply.ok(201).clone()
}

async fn next(app: &TestApp, id: &Value, body: Value) -> Value {
    let reply = app.post(&format!("/api/v1/tasks/{id}/next"), &body).await;
    reply.ok(200).clone()
}

#[tokio::test]
async fn blanca_continues_with_proshop_sales_then_closes_negative() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (trainer, trainer_token) = app.operator("Trainer", "operator").await;
    let blanca = app
        .customer(json!({"name": "Blanca", "consultant_id": trainer}))
        .await;

    // The trainer reviews Blanca's workout.
    let workout = app
        .send(app.request_as(&trainer_token, Method::POST, "/api/v1/tasks").json(&json!({
            "customer_id": blanca, "description": "Discuss and review the workout",
            "type_id": w.appointment, "scheduled_date": "2026-11-20", "scheduled_time": "18:00"
        })))
        .await;
    let workout = workout.ok(201).clone();
    assert_eq!(workout["status"], "planned");
    assert_eq!(workout["outcome"]["name"], "Planned");
    assert_eq!(
        workout["responsible"]["id"], trainer,
        "defaults to the consultant"
    );
    assert_eq!(workout["creator"]["id"], trainer);
    assert_eq!(workout["scheduled_time"], "18:00");

    // Discussed: continue with ProShop sales.
    let moved = next(&app, &workout["id"], json!({
        "outcome_id": w.outcome("Positive"), "action": "continue",
        "follow_up": {"description": "Tell her about the new supplements", "type_id": w.proshop, "scheduled_date": "2026-11-27"}
    }))
    .await;
    assert_eq!(moved["task"]["status"], "done");
    assert_eq!(moved["task"]["outcome"]["name"], "Positive");
    assert!(moved["task"]["closed_at"].is_string());
    let follow_up = &moved["created"];
    assert_eq!(follow_up["status"], "planned");
    assert_eq!(follow_up["parent_id"], workout["id"]);
    assert_eq!(follow_up["type"]["name"], "ProShop sales");
    assert_eq!(follow_up["customer"]["id"], blanca);
    assert_eq!(
        follow_up["responsible"]["id"], trainer,
        "the follow-up goes to the consultant"
    );

    // Not interested: Negative, close.
    let closed = next(
        &app,
        &follow_up["id"],
        json!({"outcome_id": w.outcome("Negative"), "action": "close"}),
    )
    .await;
    assert_eq!(closed["task"]["status"], "done");
    assert_eq!(closed["task"]["outcome"]["name"], "Negative");
    assert_eq!(closed["created"], Value::Null);

    let chain = app
        .get(&format!("/api/v1/tasks/{}/chain", follow_up["id"]))
        .await;
    let ids: Vec<&Value> = chain.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&workout["id"], &follow_up["id"]]);
    let closings = app
        .rows(&format!("SELECT kind FROM timeline_entries WHERE customer_id = {blanca} AND kind = 'task_closed'"))
        .await;
    assert_eq!(closings.len(), 2);
}

#[tokio::test]
async fn manolo_deborah_and_maribel_chain_ends_sold_with_a_note() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (deborah, deborah_token) = app.operator("Deborah", "operator").await;
    let (maribel, maribel_token) = app.operator("Maribel", "operator").await;
    let manolo = app
        .customer(json!({"name": "Manolo", "consultant_id": deborah}))
        .await;
    let as_deborah = |m: Method, p: &str| app.request_as(&deborah_token, m, p);

    let first = app
        .send(as_deborah(Method::POST, "/api/v1/tasks").json(&json!({
            "customer_id": manolo, "description": "Subscription sale", "type_id": w.appointment,
            "scheduled_date": "2026-11-10", "scheduled_time": "10:00"
        })))
        .await;
    let first = first.ok(201).clone();

    // The appointment did not take place: Deborah plans another one.
    let missed = app
        .send(as_deborah(Method::POST, &format!("/api/v1/tasks/{}/next", first["id"])).json(&json!({
            "outcome_id": w.outcome("Cancelled"), "action": "continue",
            "follow_up": {"description": "Subscription sale, second try", "type_id": w.appointment, "scheduled_date": "2026-11-12", "scheduled_time": "10:00"}
        })))
        .await;
    let missed = missed.ok(200).clone();
    assert_eq!(missed["task"]["status"], "cancelled");
    let second = missed["created"].clone();

    // It went well: a quote for Maribel to prepare.
    let went_well = app
        .send(as_deborah(Method::POST, &format!("/api/v1/tasks/{}/next", second["id"])).json(&json!({
            "outcome_id": w.outcome("Positive"), "action": "continue",
            "follow_up": {"description": "Prepare a quote for Manolo", "type_id": w.quote, "scheduled_date": "2026-11-14", "responsible_id": maribel}
        })))
        .await;
    let quote = went_well.ok(200)["created"].clone();
    assert_eq!(quote["responsible"]["id"], maribel);
    assert_eq!(quote["creator"]["id"], deborah, "both people are given");
    assert_eq!(quote["urgency"], "urgent", "quotes are a priority type");

    // Maribel closes it Sold, with a note.
    let sold = app
        .send(
            app.request_as(
                &maribel_token,
                Method::POST,
                &format!("/api/v1/tasks/{}/next", quote["id"]),
            )
            .json(&json!({
                "outcome_id": w.outcome("Sold"), "action": "close_with_note",
                "note": {"description": "Annual plan signed", "type_id": w.call}
            })),
        )
        .await;
    let sold = sold.ok(200).clone();
    assert_eq!(sold["task"]["status"], "done");
    assert_eq!(sold["task"]["closed_by"]["id"], maribel);
    assert_eq!(sold["task"]["urgency"], Value::Null);
    let note = &sold["created"];
    assert_eq!(note["kind"], "note");
    assert_eq!(note["status"], "done");
    assert_eq!(note["outcome"]["name"], "Sold");
    assert_eq!(note["parent_id"], quote["id"]);

    let chain = app
        .get(&format!("/api/v1/tasks/{}/chain", second["id"]))
        .await;
    let chain: Vec<(String, String)> = chain.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["description"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        chain,
        [
            ("Subscription sale".to_owned(), "cancelled".to_owned()),
            ("Subscription sale, second try".into(), "done".into()),
            ("Prepare a quote for Manolo".into(), "done".into()),
            ("Annual plan signed".into(), "done".into()),
        ]
    );
    let listed = app
        .get(&format!("/api/v1/tasks?customer_id={manolo}&kind=note"))
        .await;
    assert_eq!(listed.ok(200)["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn copy_makes_an_identical_planned_task_with_a_new_creator() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let tag = app
        .post("/api/v1/tags", &json!({"name": "renewal"}))
        .await
        .json["id"]
        .clone();
    let (_, deborah_token) = app.operator("Deborah", "operator").await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let original = task(&app, json!({"customer_id": customer, "description": "Routine renewal", "type_id": w.call, "tag_ids": [tag], "scheduled_date": "2026-12-01", "scheduled_time": "09:00"})).await;
    let copy = app
        .send(app.request_as(
            &deborah_token,
            Method::POST,
            &format!("/api/v1/tasks/{}/copy", original["id"]),
        ))
        .await;
    let copy = copy.ok(201).clone();
    assert_ne!(copy["id"], original["id"]);
    for field in [
        "description",
        "type",
        "tags",
        "scheduled_date",
        "scheduled_time",
        "responsible",
        "customer",
        "status",
    ] {
        assert_eq!(copy[field], original[field], "{field}");
    }
    assert_eq!(copy["creator"]["name"], "Deborah");
    assert!(copy["created_at"].as_str() >= original["created_at"].as_str());
    assert_eq!(copy["parent_id"], Value::Null);
    // The copy is edited through its own details.
    let edited = app
        .patch(
            &format!("/api/v1/tasks/{}", copy["id"]),
            &json!({"scheduled_date": "2026-12-08"}),
        )
        .await;
    assert_eq!(edited.ok(200)["scheduled_date"], "2026-12-08");
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{}", original["id"]))
            .await
            .json["scheduled_date"],
        "2026-12-01"
    );
}

#[tokio::test]
async fn tasks_are_cancelled_never_deleted() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let t = task(&app, json!({"customer_id": customer, "description": "Call back", "type_id": w.call, "scheduled_date": "2026-12-01"})).await;
    let path = format!("/api/v1/tasks/{}", t["id"]);
    let reply = app.send(app.request(Method::DELETE, &path)).await;
    assert!(
        reply.problem(405)["detail"]
            .as_str()
            .unwrap()
            .contains("cancel")
    );
    assert_eq!(reply.header("allow"), Some("GET, PATCH"));
    assert_eq!(app.get(&path).await.status, 200);

    let cancelled = next(
        &app,
        &t["id"],
        json!({"outcome_id": w.outcome("Cancelled"), "action": "close"}),
    )
    .await;
    assert_eq!(cancelled["task"]["status"], "cancelled");
    // Closed tasks show their details only.
    app.post(
        &format!("{path}/next"),
        &json!({"outcome_id": w.outcome("Positive"), "action": "close"}),
    )
    .await
    .problem(409);
    app.patch(&path, &json!({"description": "changed"}))
        .await
        .problem(409);
    assert_eq!(app.get(&path).await.json["description"], "Call back");
}

#[tokio::test]
async fn reopen_follows_the_settings() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (_, op_token) = app.operator("Deborah", "operator").await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let t = task(&app, json!({"customer_id": customer, "description": "Call", "type_id": w.call, "scheduled_date": "2026-12-01"})).await;
    let path = format!("/api/v1/tasks/{}", t["id"]);
    app.post(&format!("{path}/reopen"), &json!({}))
        .await
        .problem(409);
    next(
        &app,
        &t["id"],
        json!({"outcome_id": w.outcome("Negative"), "action": "close"}),
    )
    .await;

    // Default: admins only.
    let reply = app
        .send(app.request_as(&op_token, Method::POST, &format!("{path}/reopen")))
        .await;
    reply.problem(403);
    let reopened = app
        .send(app.request(Method::POST, &format!("{path}/reopen")))
        .await;
    let body = reopened.ok(200);
    assert_eq!(body["status"], "planned");
    assert_eq!(body["outcome"]["name"], "Planned");
    assert_eq!(body["closed_at"], Value::Null);
    let entries = app
        .rows(&format!(
            "SELECT kind FROM timeline_entries WHERE task_id = {} ORDER BY id",
            t["id"]
        ))
        .await;
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["task_closed", "task_reopened"]);

    next(
        &app,
        &t["id"],
        json!({"outcome_id": w.outcome("Negative"), "action": "close"}),
    )
    .await;
    app.patch("/api/v1/settings", &json!({"reopen_tasks": "none"}))
        .await
        .ok(200);
    app.post(&format!("{path}/reopen"), &json!({}))
        .await
        .problem(403);
    app.patch("/api/v1/settings", &json!({"reopen_tasks": "all"}))
        .await
        .ok(200);
    let reply = app
        .send(app.request_as(&op_token, Method::POST, &format!("{path}/reopen")))
        .await;
    reply.ok(200);
}

#[tokio::test]
async fn twenty_concurrent_nexts_give_one_success_and_one_follow_up() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let t = task(&app, json!({"customer_id": customer, "description": "Race", "type_id": w.call, "scheduled_date": "2026-12-01"})).await;
    let body = json!({
        "outcome_id": w.outcome("Positive"), "action": "continue",
        "follow_up": {"description": "Only once", "type_id": w.call, "scheduled_date": "2026-12-02"}
    });
    let path = format!("/api/v1/tasks/{}/next", t["id"]);
    let replies = futures_join(&app, &path, &body, 20).await;
    let ok = replies.iter().filter(|s| **s == 200).count();
    let conflicts = replies.iter().filter(|s| **s == 409).count();
    assert_eq!((ok, conflicts), (1, 19), "{replies:?}");
    let follow_ups = app
        .rows(&format!(
            "SELECT id FROM tasks WHERE parent_id = {}",
            t["id"]
        ))
        .await;
    assert_eq!(follow_ups.len(), 1);
}

async fn futures_join(app: &TestApp, path: &str, body: &Value, n: usize) -> Vec<u16> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let request = app.request(Method::POST, path).json(body);
        handles.push(tokio::spawn(async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap_or(0));
    }
    statuses
}

#[tokio::test]
async fn one_hundred_twenty_tasks_page_by_fifty() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    for i in 0..120 {
        task(&app, json!({"customer_id": customer, "description": format!("task {i}"), "type_id": w.call, "scheduled_date": format!("2026-12-{:02}", 1 + i % 28)})).await;
    }
    for sort in [
        "scheduled_at",
        "-created_at",
        "customer,-scheduled_at",
        "status,type,responsible",
    ] {
        let mut seen = HashSet::new();
        let mut previous: Option<String> = None;
        let mut path = format!("/api/v1/tasks?limit=50&sort={sort}");
        let mut pages = 0;
        loop {
            let reply = app.get(&path).await;
            let body = reply.ok(200);
            pages += 1;
            for t in body["items"].as_array().unwrap() {
                assert!(seen.insert(t["id"].as_i64().unwrap()), "{sort}: repeated");
                if sort == "scheduled_at" {
                    let date = t["scheduled_date"].as_str().unwrap().to_owned();
                    assert!(
                        previous.as_deref() <= Some(date.as_str()),
                        "{sort}: out of order"
                    );
                    previous = Some(date);
                }
            }
            match body["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/tasks?limit=50&sort={sort}&cursor={c}"),
                None => break,
            }
        }
        assert_eq!((seen.len(), pages), (120, 3), "{sort}");
    }
    app.get("/api/v1/tasks?sort=colour").await.problem(400);
    app.get("/api/v1/tasks?limit=501").await.problem(400);
    app.get("/api/v1/tasks?status=open").await.problem(400);
}

#[tokio::test]
async fn etags_and_if_match_guard_changes() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let t = task(&app, json!({"customer_id": customer, "description": "Call", "type_id": w.call, "scheduled_date": "2026-12-01"})).await;
    let path = format!("/api/v1/tasks/{}", t["id"]);
    let read = app.get(&path).await;
    assert_eq!(read.header("etag"), Some("\"1\""));
    let changed = app
        .send(
            app.request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({"description": "Call Blanca"})),
        )
        .await;
    assert_eq!(changed.header("etag"), Some("\"2\""));
    let stale = app
        .send(
            app.request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({"description": "Stale"})),
        )
        .await;
    stale.problem(412);
    let stale_next = app
        .send(
            app.request(Method::POST, &format!("{path}/next"))
                .header("if-match", "\"1\"")
                .json(&json!({"outcome_id": w.outcome("Positive"), "action": "close"})),
        )
        .await;
    stale_next.problem(412);
    assert_eq!(app.get(&path).await.json["status"], "planned");
    let entries = app
        .rows(&format!(
            "SELECT data FROM timeline_entries WHERE task_id = {} AND kind = 'change'",
            t["id"]
        ))
        .await;
    assert_eq!(entries.len(), 1, "the PATCH is recorded");
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_response() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let body = json!({"customer_id": customer, "description": "Once", "type_id": w.call, "scheduled_date": "2026-12-01"});
    let send = |key: &str, body: &Value| {
        app.send(
            app.request(Method::POST, "/api/v1/tasks")
                .header("Idempotency-Key", key)
                .json(body),
        )
    };
    let first = send("create-1", &body).await;
    let again = send("create-1", &body).await;
    assert_eq!(first.status, 201);
    assert_eq!(again.status, 201);
    assert_eq!(first.json, again.json);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.count("tasks").await, 1);

    let mut other = body.clone();
    other["description"] = json!("Another");
    send("create-1", &other).await.problem(422);
    assert_eq!(app.count("tasks").await, 1);

    // Next too: the retry does not create a second follow-up.
    let next_body = json!({"outcome_id": w.outcome("Positive"), "action": "continue", "follow_up": {"description": "Once more", "type_id": w.call, "scheduled_date": "2026-12-02"}});
    let path = format!("/api/v1/tasks/{}/next", first.json["id"]);
    let a = app
        .send(
            app.request(Method::POST, &path)
                .header("Idempotency-Key", "next-1")
                .json(&next_body),
        )
        .await;
    let b = app
        .send(
            app.request(Method::POST, &path)
                .header("Idempotency-Key", "next-1")
                .json(&next_body),
        )
        .await;
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(a.json, b.json);
    assert_eq!(app.count("tasks").await, 2);
    // Copy as well.
    let copy = format!("/api/v1/tasks/{}/copy", first.json["id"]);
    let a = app
        .send(
            app.request(Method::POST, &copy)
                .header("Idempotency-Key", "copy-1"),
        )
        .await;
    let b = app
        .send(
            app.request(Method::POST, &copy)
                .header("Idempotency-Key", "copy-1"),
        )
        .await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(a.json["id"], b.json["id"]);
    assert_eq!(app.count("tasks").await, 3);
    // Keys are per operator: another operator's same key is a new request.
    let (_, token) = app.operator("Deborah", "operator").await;
    let theirs = app
        .send(
            app.request_as(&token, Method::POST, "/api/v1/tasks")
                .header("Idempotency-Key", "create-1")
                .json(&body),
        )
        .await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.json["id"], first.json["id"]);
}

#[tokio::test]
async fn invalid_tasks_are_422_and_write_nothing() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let inactive = app
        .post(
            "/api/v1/task-types",
            &json!({"name": "Old", "active": false}),
        )
        .await
        .json["id"]
        .clone();
    let base = json!({"customer_id": customer, "description": "x", "type_id": w.call, "scheduled_date": "2026-12-01"});
    let with = |field: &str, value: Value| {
        let mut b = base.clone();
        if value.is_null() {
            b.as_object_mut().unwrap().remove(field);
        } else {
            b[field] = value;
        }
        b
    };
    let cases = [
        ("type_id", with("type_id", json!(99999))),
        ("type_id", with("type_id", inactive)),
        ("customer_id", with("customer_id", json!(99999))),
        ("scheduled_date", with("scheduled_date", Value::Null)),
        (
            "scheduled_date",
            with("scheduled_date", json!("01/12/2026")),
        ),
        (
            "scheduled_date",
            with("scheduled_date", json!("2026-02-30")),
        ),
        ("scheduled_time", with("scheduled_time", json!("25:00"))),
        (
            "outcome_id",
            with("outcome_id", json!(w.outcome("Positive"))),
        ),
        ("tag_ids", with("tag_ids", json!([424242]))),
        ("responsible_id", with("responsible_id", json!(424242))),
        ("description", with("description", json!(""))),
        ("kind", with("kind", json!("memo"))),
    ];
    for (field, body) in cases {
        let reply = app.post("/api/v1/tasks", &body).await;
        let problem = reply.problem(422);
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let note_planned = json!({"customer_id": customer, "kind": "note", "description": "x", "type_id": w.call, "outcome_id": w.outcome("Planned")});
    app.post("/api/v1/tasks", &note_planned).await.problem(422);
    assert_eq!(app.count("tasks").await, 0);
    assert_eq!(app.count("task_tags").await, 0);
}

#[tokio::test]
async fn next_needs_a_closing_outcome_and_its_body() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let t = task(&app, json!({"customer_id": customer, "description": "x", "type_id": w.call, "scheduled_date": "2026-12-01"})).await;
    let path = format!("/api/v1/tasks/{}/next", t["id"]);
    let cases = [
        json!({"outcome_id": w.outcome("Planned"), "action": "close"}),
        json!({"outcome_id": w.outcome("Positive"), "action": "continue"}),
        json!({"outcome_id": w.outcome("Positive"), "action": "close_with_note"}),
        json!({"outcome_id": w.outcome("Positive"), "action": "finish"}),
        json!({"outcome_id": 424242, "action": "close"}),
        json!({"outcome_id": w.outcome("Positive"), "action": "continue", "follow_up": {"description": "x", "type_id": 424242, "scheduled_date": "2026-12-02"}}),
        json!({"outcome_id": w.outcome("Positive"), "action": "continue", "follow_up": {"description": "x", "type_id": w.call}}),
    ];
    for body in cases {
        app.post(&path, &body).await.problem(422);
    }
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{}", t["id"])).await.json["status"],
        "planned"
    );
    assert_eq!(app.count("tasks").await, 1);
    assert_eq!(app.count("timeline_entries").await, 0);
    app.post(
        "/api/v1/tasks/424242/next",
        &json!({"outcome_id": w.outcome("Positive"), "action": "close"}),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn notes_are_created_closed_and_dated_today() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let note = task(&app, json!({"customer_id": customer, "kind": "note", "description": "Asked about prices", "type_id": w.call})).await;
    assert_eq!(note["kind"], "note");
    assert_eq!(note["status"], "done");
    assert_eq!(note["outcome"], Value::Null);
    assert_eq!(
        note["scheduled_date"],
        chrono::Utc::now().date_naive().to_string()
    );
    assert!(note["closed_at"].is_string());
    assert_eq!(
        note["responsible"]["name"], "Administrator",
        "no consultant: the creator"
    );
    let entries = app
        .rows(&format!(
            "SELECT kind, summary FROM timeline_entries WHERE customer_id = {customer}"
        ))
        .await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["kind"], "note");
    // A note with a cancelled outcome is cancelled.
    let cancelled = task(&app, json!({"customer_id": customer, "kind": "note", "description": "Did not show", "type_id": w.call, "outcome_id": w.outcome("Cancelled")})).await;
    assert_eq!(cancelled["status"], "cancelled");
}

#[tokio::test]
async fn priority_tasks_are_urgent_until_taken_in_charge() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (_, deborah) = app.operator("Deborah", "operator").await;
    let (_, maribel) = app.operator("Maribel", "operator").await;
    let customer = app.customer(json!({"name": "Manolo"})).await;
    let quote = task(&app, json!({"customer_id": customer, "description": "Quote", "type_id": w.quote, "scheduled_date": "2026-12-01"})).await;
    assert_eq!(quote["urgency"], "urgent");
    assert_eq!(quote["taken_by"], Value::Null);
    let take = format!("/api/v1/tasks/{}/take", quote["id"]);
    let taken = app
        .send(app.request_as(&deborah, Method::POST, &take))
        .await;
    let body = taken.ok(200);
    assert_eq!(body["urgency"], "in_charge");
    assert_eq!(body["taken_by"]["name"], "Deborah");
    app.send(app.request_as(&deborah, Method::POST, &take))
        .await
        .ok(200);
    app.send(app.request_as(&maribel, Method::POST, &take))
        .await
        .problem(409);

    let call = task(&app, json!({"customer_id": customer, "description": "Call", "type_id": w.call, "scheduled_date": "2026-12-01"})).await;
    assert_eq!(call["urgency"], Value::Null);
    app.post(&format!("/api/v1/tasks/{}/take", call["id"]), &json!({}))
        .await
        .problem(409);

    let closed = next(
        &app,
        &quote["id"],
        json!({"outcome_id": w.outcome("Sold"), "action": "close"}),
    )
    .await;
    assert_eq!(closed["task"]["urgency"], Value::Null);
    app.post(&take, &json!({})).await.problem(409);
}

#[tokio::test]
async fn the_list_filters_by_every_field() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let team = app
        .post("/api/v1/teams", &json!({"name": "Sales"}))
        .await
        .json["id"]
        .clone();
    let (deborah, _) = app.operator("Deborah", "operator").await;
    app.patch(
        &format!("/api/v1/operators/{deborah}"),
        &json!({"team_id": team}),
    )
    .await
    .ok(200);
    let tag = app.post("/api/v1/tags", &json!({"name": "vip"})).await.json["id"].clone();
    let blanca = app.customer(json!({"name": "Blanca"})).await;
    let manolo = app.customer(json!({"name": "Manolo"})).await;
    let a = task(&app, json!({"customer_id": blanca, "description": "Renewal call", "type_id": w.call, "scheduled_date": "2026-12-01", "tag_ids": [tag], "responsible_id": deborah})).await;
    let b = task(&app, json!({"customer_id": manolo, "description": "Quote", "type_id": w.quote, "scheduled_date": "2026-12-05"})).await;
    let c = task(&app, json!({"customer_id": manolo, "kind": "note", "description": "Visited", "type_id": w.appointment, "scheduled_date": "2026-11-20"})).await;
    let ids = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move { app.ids(&format!("/api/v1/tasks?{q}")).await }
    };
    assert_eq!(
        ids(&format!("customer_id={manolo}")).await,
        [c["id"].clone(), b["id"].clone()]
    );
    assert_eq!(ids("kind=note").await, [c["id"].clone()]);
    assert_eq!(
        ids("status=planned&sort=customer").await,
        [a["id"].clone(), b["id"].clone()]
    );
    assert_eq!(
        ids(&format!("type_id={}", w.quote)).await,
        [b["id"].clone()]
    );
    assert_eq!(ids(&format!("tag_id={tag}")).await, [a["id"].clone()]);
    assert_eq!(
        ids(&format!("responsible_id={deborah}")).await,
        [a["id"].clone()]
    );
    assert_eq!(ids(&format!("team_id={team}")).await, [a["id"].clone()]);
    assert_eq!(
        ids("scheduled_from=2026-12-01&scheduled_to=2026-12-04").await,
        [a["id"].clone()]
    );
    assert_eq!(ids("q=RENEWAL").await, [a["id"].clone()]);
    let today = chrono::Utc::now().date_naive();
    assert_eq!(
        ids(&format!("created_from={today}&created_to={today}"))
            .await
            .len(),
        3
    );
    assert_eq!(
        ids(&format!("created_to={}", today.pred_opt().unwrap()))
            .await
            .len(),
        0
    );
    let me = app.get("/api/v1/me").await.json["id"].clone();
    assert_eq!(
        ids(&format!("creator_id={me}&sort=-scheduled_at")).await,
        [b["id"].clone(), a["id"].clone(), c["id"].clone()]
    );
    app.get("/api/v1/tasks?scheduled_from=tomorrow")
        .await
        .problem(400);
}

#[tokio::test]
async fn idempotency_keys_expire_after_a_day() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let body = |d: &str| json!({"customer_id": customer, "description": d, "type_id": w.call, "scheduled_date": "2026-12-01"});
    let send = |b: Value| {
        app.send(
            app.request(Method::POST, "/api/v1/tasks")
                .header("Idempotency-Key", "daily")
                .json(&b),
        )
    };
    send(body("first")).await.ok(201);
    send(body("other")).await.problem(422);
    // A day and an hour later the key is forgotten: the same key starts a new request.
    let stale = (chrono::Utc::now() - chrono::Duration::hours(25)).to_rfc3339();
    let sql = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            format!("UPDATE idempotency_keys SET created_at = '{stale}'::timestamptz")
        }
        _ => format!("UPDATE idempotency_keys SET created_at = '{stale}'"),
    };
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared(&sql).await.unwrap();
    let again = send(body("other")).await;
    assert_eq!(again.ok(201)["description"], "other");
    assert_eq!(app.count("tasks").await, 2);
}

/// Task views name operators, types, outcomes and tags from memory; a change made beside the
/// server (another replica, or SQL by hand) must still show at once, and checks must see it.
#[tokio::test]
async fn views_show_catalog_changes_made_outside_the_server() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let customer = app
        .customer(json!({"name": "Blanca", "consultant_id": deborah}))
        .await;
    let tag = app
        .post("/api/v1/tags", &json!({"name": "renewal"}))
        .await
        .ok(201)["id"]
        .clone();
    let created = task(
        &app,
        json!({"customer_id": customer, "description": "Call about the renewal",
               "type_id": w.call, "tag_ids": [tag], "scheduled_date": "2027-01-15"}),
    )
    .await;
    let path = format!("/api/v1/tasks/{}", created["id"]);
    assert_eq!(
        app.get(&path).await.ok(200)["responsible"]["name"],
        "Deborah"
    );

    for sql in [
        format!("UPDATE operators SET name = 'Débora' WHERE id = {deborah}"),
        format!(
            "UPDATE task_types SET name = 'Phone call' WHERE id = {}",
            w.call
        ),
        format!("UPDATE tags SET name = 'renewal 2027' WHERE id = {tag}"),
    ] {
        app.rows(&sql).await;
    }
    let view = app.get(&path).await;
    let view = view.ok(200);
    assert_eq!(view["responsible"]["name"], "Débora");
    assert_eq!(view["type"]["name"], "Phone call");
    assert_eq!(view["tags"][0]["name"], "renewal 2027");
    let listed = app
        .get(&format!("/api/v1/tasks?customer_id={customer}"))
        .await;
    assert_eq!(
        listed.ok(200)["items"][0]["creator"]["name"],
        "Administrator"
    );
    assert_eq!(listed.json["items"][0]["responsible"]["name"], "Débora");

    // A type switched off by hand is refused at once.
    app.rows(&format!(
        "UPDATE task_types SET active = false WHERE id = {}",
        w.call
    ))
    .await;
    let refused = app
        .post(
            "/api/v1/tasks",
            &json!({"customer_id": customer, "description": "Another call",
                    "type_id": w.call, "scheduled_date": "2027-01-16"}),
        )
        .await;
    assert_eq!(
        refused.problem(422)["errors"][0]["field"],
        "type_id",
        "{:?}",
        refused.json
    );
}

/// On PostgreSQL task reads run on connections each server worker keeps. When the database
/// drops them (a restart, an administrator), a read answers 503 at worst, never 500, and
/// the next reads open new connections and succeed.
#[tokio::test]
async fn reads_recover_when_the_database_drops_the_connections() {
    let app = spawn_app().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let created = task(
        &app,
        json!({"customer_id": customer, "description": "Call Blanca",
               "type_id": w.call, "scheduled_date": "2027-01-15"}),
    )
    .await;
    let path = format!("/api/v1/tasks/{}", created["id"]);
    for _ in 0..6 {
        assert_eq!(app.get(&path).await.ok(200)["id"], created["id"]);
    }
    let dropped = app
        .rows(
            "SELECT pg_terminate_backend(pid) AS dropped FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
    assert!(!dropped.is_empty(), "the server held no connection");
    // Each worker may meet a broken connection or two (its held one, then its pool's) and
    // answer 503 for it; it closes them instead of keeping them, so reads succeed again.
    let (mut refused, mut in_a_row) = (0, 0);
    while in_a_row < 4 {
        let reply = app.get(&path).await;
        if reply.status == 200 {
            assert_eq!(reply.json["id"], created["id"]);
            in_a_row += 1;
        } else {
            reply.problem(503);
            refused += 1;
            in_a_row = 0;
            assert!(refused <= 12, "reads still refused after {refused} tries");
        }
    }
}

/// Two tags, `renewal` and `gold`.
async fn renewal_and_gold(app: &TestApp) -> (i64, i64) {
    let mut tags = Vec::new();
    for name in ["renewal", "gold"] {
        let reply = app.post("/api/v1/tags", &json!({ "name": name })).await;
        tags.push(reply.ok(201)["id"].as_i64().unwrap());
    }
    (tags[0], tags[1])
}

/// The names of a view's tags, in its order.
fn tag_names(view: &Value) -> Vec<String> {
    view["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A task's tag ids are kept on its row for reading, by triggers on `task_tags`: the views
/// follow every change to the tags, through the API or with SQL beside the server.
#[tokio::test]
async fn views_follow_tag_changes_wherever_they_are_made() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let (renewal, gold) = renewal_and_gold(&app).await;
    let created = task(
        &app,
        json!({"customer_id": customer, "description": "Call about the renewal",
               "type_id": w.call, "tag_ids": [renewal], "scheduled_date": "2027-01-15"}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let path = format!("/api/v1/tasks/{id}");
    let list = format!("/api/v1/tasks?customer_id={customer}");
    assert_eq!(tag_names(app.get(&path).await.ok(200)), ["renewal"]);

    let patched = app.patch(&path, &json!({"tag_ids": [gold, renewal]})).await;
    assert_eq!(tag_names(patched.ok(200)), ["gold", "renewal"]);
    assert_eq!(tag_names(app.get(&path).await.ok(200)), ["gold", "renewal"]);

    app.rows(&format!(
        "DELETE FROM task_tags WHERE task_id = {id} AND tag_id = {gold}"
    ))
    .await;
    assert_eq!(tag_names(app.get(&path).await.ok(200)), ["renewal"]);
    app.rows(&format!(
        "UPDATE task_tags SET tag_id = {gold} WHERE task_id = {id}"
    ))
    .await;
    assert_eq!(tag_names(app.get(&path).await.ok(200)), ["gold"]);
    assert_eq!(
        tag_names(&app.get(&list).await.ok(200)["items"][0]),
        ["gold"]
    );
    app.rows(&format!("DELETE FROM task_tags WHERE task_id = {id}"))
        .await;
    assert!(tag_names(app.get(&path).await.ok(200)).is_empty());
    assert!(tag_names(&app.get(&list).await.ok(200)["items"][0]).is_empty());
    app.rows(&format!(
        "INSERT INTO task_tags (task_id, tag_id) VALUES ({id}, {renewal}), ({id}, {gold})"
    ))
    .await;
    assert_eq!(tag_names(app.get(&path).await.ok(200)), ["gold", "renewal"]);
    assert_eq!(
        tag_names(&app.get(&list).await.ok(200)["items"][0]),
        ["gold", "renewal"]
    );
}

/// Next writes the closing, its timeline entry, the follow-up and the follow-up's tags
/// together, or nothing of them when the database refuses one.
#[tokio::test]
async fn next_writes_everything_or_nothing() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let (renewal, gold) = renewal_and_gold(&app).await;
    let call = |description: &str| {
        json!({"customer_id": customer, "description": description, "type_id": w.call,
               "scheduled_date": "2027-01-15"})
    };

    let first = task(&app, call("Call Blanca")).await;
    let step = next(
        &app,
        &first["id"],
        json!({"outcome_id": w.outcome("Positive"), "action": "continue",
               "follow_up": {"description": "Renewal visit", "type_id": w.appointment,
                             "scheduled_date": "2027-01-20", "tag_ids": [gold, renewal, gold]}}),
    )
    .await;
    let follow_up = step["created"].clone();
    assert_eq!(tag_names(&follow_up), ["gold", "renewal"]);
    let read = app.get(&format!("/api/v1/tasks/{}", follow_up["id"])).await;
    let read = read.ok(200);
    assert_eq!(tag_names(read), ["gold", "renewal"]);
    assert_eq!(read["parent_id"], first["id"]);
    assert_eq!(read["version"], 1);
    let tagged = app.get(&format!("/api/v1/tasks?tag_id={gold}")).await;
    let tagged = tagged.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0]["id"], follow_up["id"]);

    // A note's timeline entry names the note, whose id is only known as it is written.
    let closed = next(
        &app,
        &follow_up["id"],
        json!({"outcome_id": w.outcome("Sold"), "action": "close_with_note",
               "note": {"description": "Annual plan signed", "type_id": w.call}}),
    )
    .await;
    let note = &closed["created"];
    let entries = app
        .rows(&format!(
            "SELECT kind, task_id FROM timeline_entries WHERE customer_id = {customer} \
             AND kind IN ('task_closed', 'note') ORDER BY id"
        ))
        .await;
    let entries: Vec<(String, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["task_id"].as_i64().unwrap(),
            )
        })
        .collect();
    let id = |v: &Value| v["id"].as_i64().unwrap();
    assert_eq!(
        entries,
        [
            ("task_closed".to_owned(), id(&first)),
            ("task_closed".to_owned(), id(&follow_up)),
            ("note".to_owned(), id(note)),
        ]
    );

    // The database refuses the follow-up: the task stays planned and nothing is added.
    let refuse = if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        vec![
            "CREATE FUNCTION refuse_task() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.description = 'Refused' THEN RAISE EXCEPTION 'refused'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER refuse_task BEFORE INSERT ON tasks \
             FOR EACH ROW EXECUTE FUNCTION refuse_task()",
        ]
    } else {
        vec![
            "CREATE TRIGGER refuse_task BEFORE INSERT ON tasks \
             WHEN NEW.description = 'Refused' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ]
    };
    for sql in refuse {
        app.rows(sql).await;
    }
    let third = task(&app, call("Call Blanca again")).await;
    let counts = [
        app.count("tasks").await,
        app.count("task_tags").await,
        app.count("timeline_entries").await,
    ];
    let reply = app
        .post(
            &format!("/api/v1/tasks/{}/next", third["id"]),
            &json!({"outcome_id": w.outcome("Positive"), "action": "continue",
                    "follow_up": {"description": "Refused", "type_id": w.call,
                                  "scheduled_date": "2027-01-20", "tag_ids": [gold]}}),
        )
        .await;
    assert!(reply.status >= 500, "{}", reply.text);
    let after = app.get(&format!("/api/v1/tasks/{}", third["id"])).await;
    let after = after.ok(200);
    assert_eq!(after["status"], "planned");
    assert_eq!(after["version"], 1);
    assert_eq!(
        [
            app.count("tasks").await,
            app.count("task_tags").await,
            app.count("timeline_entries").await,
        ],
        counts
    );
    // The same step without the refused description goes through.
    let step = next(
        &app,
        &third["id"],
        json!({"outcome_id": w.outcome("Positive"), "action": "continue",
               "follow_up": {"description": "Accepted", "type_id": w.call,
                             "scheduled_date": "2027-01-20", "tag_ids": [gold]}}),
    )
    .await;
    assert_eq!(step["task"]["status"], "done");
    assert_eq!(tag_names(&step["created"]), ["gold"]);
}

#[tokio::test]
async fn team_priority_and_agenda_filters_follow_settings_changes_at_once() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let team = |name: &'static str| {
        let app = &app;
        async move { app.post("/api/v1/teams", &json!({"name": name})).await.json["id"].clone() }
    };
    let (sales, front) = (team("Sales").await, team("Front desk").await);
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let operator = format!("/api/v1/operators/{deborah}");
    app.patch(&operator, &json!({"team_id": sales}))
        .await
        .ok(200);
    let blanca = app.customer(json!({"name": "Blanca"})).await;
    let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(3)).to_string();
    let a = task(&app, json!({"customer_id": blanca, "description": "Call", "type_id": w.call, "scheduled_date": day, "responsible_id": deborah})).await;
    let ids = |q: String| {
        let app = &app;
        async move { app.ids(&q).await }
    };
    let one = vec![a["id"].clone()];
    let none: Vec<Value> = Vec::new();
    let by_team = |t: &Value| format!("/api/v1/tasks?team_id={t}");
    let agenda = |t: &Value| format!("/api/v1/agenda?team_id={t}&from={day}&to={day}");
    let counts = |t: &Value| {
        let (app, path) = (&app, format!("/api/v1/dashboard?team_id={t}"));
        async move { app.get(&path).await.ok(200)["counts"].clone() }
    };
    assert_eq!(ids(by_team(&sales)).await, one);
    assert_eq!(counts(&sales).await["planned"], 1);
    assert_eq!(ids(agenda(&sales)).await, one);
    assert_eq!(ids(by_team(&front)).await, none);

    // Moving the operator moves their tasks between the teams' lists and agendas.
    app.patch(&operator, &json!({"team_id": front}))
        .await
        .ok(200);
    assert_eq!(ids(by_team(&sales)).await, none);
    assert_eq!(ids(agenda(&sales)).await, none);
    assert_eq!(ids(by_team(&front)).await, one);
    assert_eq!(ids(agenda(&front)).await, one);
    assert_eq!(counts(&sales).await["planned"], 0);
    assert_eq!(counts(&front).await["planned"], 1);

    // A type made priority, then hidden from the agenda.
    let priority = "/api/v1/tasks?priority=true".to_owned();
    assert_eq!(ids(priority.clone()).await, none);
    let call = format!("/api/v1/task-types/{}", w.call);
    assert_eq!(counts(&front).await["urgent"], 0);
    app.patch(&call, &json!({"priority": true})).await.ok(200);
    assert_eq!(ids(priority.clone()).await, one);
    let now = counts(&front).await;
    assert_eq!((&now["urgent"], &now["unassigned"]), (&json!(1), &json!(1)));
    assert_eq!(ids("/api/v1/tasks?priority=false".into()).await, none);
    app.patch(&call, &json!({"visible_in_agenda": false}))
        .await
        .ok(200);
    assert_eq!(ids(agenda(&front)).await, none);
    assert_eq!(ids(by_team(&front)).await, one);
}

#[tokio::test]
async fn postgresql_vacuums_tasks_after_two_percent_changed() {
    let app = spawn_app().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let rows = app
        .rows("SELECT array_to_string(reloptions, ',') AS options FROM pg_class WHERE relname = 'tasks'")
        .await;
    let options = rows[0]["options"].as_str().unwrap_or_default().to_owned();
    for option in [
        "autovacuum_vacuum_scale_factor=0.02",
        "autovacuum_vacuum_insert_scale_factor=0.02",
        "autovacuum_analyze_scale_factor=0.02",
    ] {
        assert!(options.split(',').any(|o| o == option), "{options}");
    }
}

/// On PostgreSQL a page after a cursor is planned once per connection, not at every page:
/// the cursor's key reaches the planner as a sub-select, so every page of a list costs it the
/// same and the prepared statement settles on its generic plan (see `paging::cursor_value`).
#[tokio::test]
async fn postgresql_plans_the_pages_after_a_cursor_once() {
    use crm_persistence::tasks::{self, TaskFilter, TaskQuery, TaskSort};
    let app = spawn_app().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let customer = app.customer(json!({"name": "Plan Co"})).await;
    let call = world(&app).await.call;
    crm_tests::insert_tasks(
        &app.db,
        &format!(
            "SELECT 'task', {customer}, 'Call ' || g, {call}, \
             d::date, d, 1, 1, now(), CASE WHEN g % 5 < 3 THEN 'done' ELSE 'planned' END, 1, now() \
             FROM generate_series(1, 100000) AS g, \
             LATERAL (SELECT TIMESTAMP '2027-01-01' + (g * 7919 % 100000) * INTERVAL '1 hour' AS d) AS s"
        ),
    )
    .await;
    // One held connection: every statement below runs on it, so its prepared statements
    // are the ones `pg_prepared_statements` shows.
    let hot = crm_persistence::HotConnections::new(1);
    let reader = crm_persistence::Reader::new(&app.db, &hot);
    let names = crm_persistence::Names::new();
    names.reload(&app.db).await.expect("catalog");
    let mut after = None;
    let mut seen = 0;
    for _ in 0..12 {
        let page = tasks::list(
            &reader,
            &names,
            TaskQuery {
                filter: TaskFilter {
                    status: Some(crm_domain::TaskStatus::Done),
                    ..Default::default()
                },
                sort: vec![(TaskSort::ScheduledAt, false)],
                after: after.clone(),
                limit: 50,
            },
        )
        .await
        .expect("a page");
        let last = page.items.last().expect("a full page");
        after = Some((vec![TaskSort::ScheduledAt.key_of(last)], last.id));
        seen += page.items.len();
    }
    assert_eq!(seen, 600);
    let plans = crm_tests::prepared_plans(&reader, &[r#"%"t"."id") >%"#]).await;
    assert_eq!(plans.len(), 1, "{plans:?}");
    // Five custom plans to learn what the statement costs, then the generic one.
    assert!(plans[0].0 >= 5, "{plans:?}");
}

/// On SQLite each connection keeps 512 KiB of page cache, not the default 2 MiB: a server
/// holds many connections, and the operating system caches the file for all of them.
#[tokio::test]
async fn sqlite_connections_keep_a_small_page_cache() {
    let app = spawn_app().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return;
    }
    use sea_orm::{ConnectionTrait, Statement};
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA cache_size",
        ))
        .await
        .expect("pragma")
        .expect("a row");
    assert_eq!(row.try_get_by_index::<i64>(0).expect("a size"), -512);
}

/// Rows are decoded with their columns' types checked once per result, from the columns as
/// the result describes them: a first row whose value is `NULL` does not let a column of
/// another type through for the rows after it.
#[tokio::test]
async fn rows_are_decoded_with_their_column_types_checked() {
    use crm_persistence::columns::Columns;
    use sea_orm::Statement;
    let app = spawn_app().await;
    let backend = app.db.get_database_backend();
    let sql = |s: &str| Statement::from_string(backend, s.to_owned());

    let numbers = Columns::decode_all(
        &app.db,
        sql("SELECT CAST(NULL AS BIGINT) AS n UNION ALL SELECT CAST(7 AS BIGINT)"),
        |row| row.get::<Option<i64>>(0),
    )
    .await
    .expect("numbers decode as numbers");
    assert_eq!(numbers, vec![None, Some(7)]);

    let words = Columns::decode_all(
        &app.db,
        sql("SELECT CAST(NULL AS TEXT) AS n UNION ALL SELECT 'seven'"),
        |row| row.get::<Option<i64>>(0),
    )
    .await;
    assert!(words.is_err(), "text decoded as a number: {words:?}");
}
