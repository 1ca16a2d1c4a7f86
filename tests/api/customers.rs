use crm_tests::spawn_app;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test]
async fn a_customer_gets_an_unguessable_archive_address() {
    let app = spawn_app().await;
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let reply = app
        .post("/api/v1/customers", &json!({"name": "Blanca Ruiz", "email": "Blanca@Example.com", "phone": "+34 600 123 456", "consultant_id": deborah}))
        .await;
    let body = reply.ok(201).clone();
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(body["email"], "blanca@example.com");
    assert_eq!(body["consultant_id"], deborah);
    let code = body["archive_code"].as_str().unwrap();
    assert!(code.len() >= 22, "at least 128 bits: {code}");
    assert!(
        code.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(body["archive_address"], format!("{code}@archive.localhost"));
    let other = app
        .post("/api/v1/customers", &json!({"name": "Manolo"}))
        .await;
    assert_ne!(other.ok(201)["archive_code"], body["archive_code"]);

    let read = app.get(&format!("/api/v1/customers/{}", body["id"])).await;
    assert_eq!(read.ok(200)["name"], "Blanca Ruiz");
    assert_eq!(read.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn operators_may_create_and_change_customers() {
    let app = spawn_app().await;
    let (_, token) = app.operator("Deborah", "operator").await;
    let reply = app
        .send(
            app.request_as(&token, Method::POST, "/api/v1/customers")
                .json(&json!({"name": "Manolo"})),
        )
        .await;
    let id = reply.ok(201)["id"].clone();
    let reply = app
        .send(
            app.request_as(&token, Method::PATCH, &format!("/api/v1/customers/{id}"))
                .json(&json!({"phone": "600 000 000"})),
        )
        .await;
    reply.ok(200);
}

#[tokio::test]
async fn the_consultant_must_be_an_active_operator() {
    let app = spawn_app().await;
    let (gone, _) = app.operator("Gone", "operator").await;
    app.patch(
        &format!("/api/v1/operators/{gone}"),
        &json!({"active": false}),
    )
    .await
    .ok(200);
    let before = app.count("customers").await;
    let reply = app
        .post(
            "/api/v1/customers",
            &json!({"name": "X", "consultant_id": gone}),
        )
        .await;
    assert_eq!(reply.problem(422)["errors"][0]["field"], "consultant_id");
    let reply = app
        .post(
            "/api/v1/customers",
            &json!({"name": "X", "consultant_id": 98765}),
        )
        .await;
    assert_eq!(reply.problem(422)["errors"][0]["field"], "consultant_id");
    assert_eq!(app.count("customers").await, before);

    let id = app.customer(json!({"name": "Y"})).await;
    let reply = app
        .patch(
            &format!("/api/v1/customers/{id}"),
            &json!({"consultant_id": gone}),
        )
        .await;
    reply.problem(422);
    assert_eq!(
        app.count("timeline_entries").await,
        0,
        "a refused change writes nothing"
    );
}

#[tokio::test]
async fn invalid_customers_are_422_with_every_field() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/api/v1/customers",
            &json!({"name": "", "email": "nope", "phone": "call me", "consultant_id": 0}),
        )
        .await;
    let fields: Vec<&str> = reply.problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["consultant_id", "email", "name", "phone"]);
    let reply = app
        .post("/api/v1/customers", &json!({"name": "Nul\u{0}"}))
        .await;
    reply.problem(422);
    let reply = app
        .post(
            "/api/v1/customers",
            &json!({"name": "X", "consultant_id": "three"}),
        )
        .await;
    assert_eq!(reply.problem(422)["errors"][0]["field"], "consultant_id");
    assert_eq!(app.count("customers").await, 0);
}

#[tokio::test]
async fn customer_changes_are_recorded_field_by_field() {
    let app = spawn_app().await;
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let (maribel, _) = app.operator("Maribel", "operator").await;
    let id = app
        .customer(json!({"name": "Manolo", "phone": "600 111 222", "consultant_id": deborah}))
        .await;
    let path = format!("/api/v1/customers/{id}");

    let reply = app
        .patch(&path, &json!({"name": "Manolo García", "email": "manolo@example.com", "phone": null, "consultant_id": maribel}))
        .await;
    let body = reply.ok(200);
    assert_eq!(body["version"], 2);
    assert_eq!(body["phone"], serde_json::Value::Null);
    assert_eq!(reply.header("etag"), Some("\"2\""));

    let entries = app
        .rows(&format!("SELECT kind, actor_id, data, summary FROM timeline_entries WHERE customer_id = {id} ORDER BY id"))
        .await;
    let admin = app.get("/api/v1/me").await.json["id"].clone();
    let changes: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "change");
            assert_eq!(e["actor_id"], admin);
            serde_json::from_str(e["data"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            json!({"entity": "customer", "entity_id": id, "field": "name", "old": "Manolo", "new": "Manolo García"}),
            json!({"entity": "customer", "entity_id": id, "field": "email", "old": null, "new": "manolo@example.com"}),
            json!({"entity": "customer", "entity_id": id, "field": "phone", "old": "600 111 222", "new": null}),
            json!({"entity": "customer", "entity_id": id, "field": "consultant_id", "old": deborah, "new": maribel}),
        ]
    );

    // Setting the same values again changes nothing and records nothing.
    let reply = app.patch(&path, &json!({"name": "Manolo García"})).await;
    assert_eq!(reply.ok(200)["version"], 2);
    assert_eq!(app.count("timeline_entries").await, 4);
}

#[tokio::test]
async fn stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.customer(json!({"name": "Blanca"})).await;
    let path = format!("/api/v1/customers/{id}");
    let reply = app
        .send(
            app.request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({"name": "Blanca R."})),
        )
        .await;
    reply.ok(200);
    let reply = app
        .send(
            app.request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({"name": "Blanca Z."})),
        )
        .await;
    reply.problem(412);
    assert_eq!(app.get(&path).await.json["name"], "Blanca R.");
    let reply = app
        .send(
            app.request(Method::PATCH, &path)
                .header("if-match", "\"2\"")
                .json(&json!({"name": "Blanca Z."})),
        )
        .await;
    reply.ok(200);
}

#[tokio::test]
async fn customers_page_by_fifty_without_gaps_or_repeats() {
    let app = spawn_app().await;
    for i in 0..150 {
        app.customer(json!({"name": format!("Customer {:03}", (i * 37) % 150)}))
            .await;
    }
    for sort in ["name", "-name", "created_at", "-id"] {
        let mut names = Vec::new();
        let mut ids = HashSet::new();
        let mut path = format!("/api/v1/customers?limit=50&sort={sort}");
        let mut pages = 0;
        loop {
            let page = app.get(&path).await;
            let body = page.ok(200);
            let items = body["items"].as_array().unwrap();
            pages += 1;
            for c in items {
                assert!(ids.insert(c["id"].as_i64().unwrap()), "{sort}: id repeated");
                names.push(c["name"].as_str().unwrap().to_owned());
            }
            match body["next_cursor"].as_str() {
                Some(cursor) => {
                    path = format!("/api/v1/customers?limit=50&sort={sort}&cursor={cursor}")
                }
                None => break,
            }
        }
        assert_eq!(ids.len(), 150, "{sort}: every customer once");
        assert_eq!(pages, 3, "{sort}");
        if sort == "name" {
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted);
        }
        if sort == "-name" {
            assert_eq!(names[0], "Customer 149");
        }
    }
    // A cursor belongs to its sort.
    let first = app.get("/api/v1/customers?limit=50&sort=name").await;
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    app.get(&format!("/api/v1/customers?sort=-id&cursor={cursor}"))
        .await
        .problem(400);
    app.get("/api/v1/customers?sort=colour").await.problem(400);
}

#[tokio::test]
async fn customers_are_found_by_name_email_or_phone_ignoring_case() {
    let app = spawn_app().await;
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let blanca = app
        .customer(
            json!({"name": "Blanca Ruiz", "email": "blanca@gym.example", "consultant_id": deborah}),
        )
        .await;
    let manolo = app
        .customer(json!({"name": "Manolo García", "phone": "+34 611 222 333"}))
        .await;
    app.customer(json!({"name": "100% Fit_Club"})).await;
    let found = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            let reply = app
                .send(
                    app.request(Method::GET, "/api/v1/customers")
                        .query(&[("q", q.as_str())]),
                )
                .await;
            reply.ok(200)["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("BLANCA").await, vec![blanca]);
    assert_eq!(found("gym.EXAMPLE").await, vec![blanca]);
    assert_eq!(found("611 222").await, vec![manolo]);
    assert_eq!(found("%").await.len(), 1, "wildcards are literal");
    assert_eq!(found("bl_nca").await.len(), 0, "underscore is literal");
    let by_consultant = app
        .get(&format!("/api/v1/customers?consultant_id={deborah}"))
        .await;
    assert_eq!(by_consultant.ok(200)["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn renaming_a_customer_renames_it_on_every_task() {
    let app = spawn_app().await;
    let ty = app
        .post("/api/v1/task-types", &json!({"name": "Call"}))
        .await
        .json["id"]
        .clone();
    let manolo = app.customer(json!({"name": "Manolo"})).await;
    let blanca = app.customer(json!({"name": "Blanca"})).await;
    let mut ids = Vec::new();
    for (customer, day) in [
        (manolo, "2026-12-01"),
        (blanca, "2026-12-02"),
        (manolo, "2026-12-03"),
    ] {
        let task = app
            .post("/api/v1/tasks", &json!({"customer_id": customer, "description": "Call", "type_id": ty, "scheduled_date": day}))
            .await;
        ids.push(task.ok(201)["id"].clone());
    }
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{}", ids[0])).await.json["customer"]["name"],
        "Manolo"
    );

    let reply = app
        .patch(
            &format!("/api/v1/customers/{manolo}"),
            &json!({"name": "Zacarías"}),
        )
        .await;
    reply.ok(200);
    for id in [&ids[0], &ids[2]] {
        let task = app.get(&format!("/api/v1/tasks/{id}")).await;
        assert_eq!(
            task.json["customer"],
            json!({"id": manolo, "name": "Zacarías"})
        );
    }
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{}", ids[1])).await.json["customer"]["name"],
        "Blanca"
    );
    // Sorting by customer follows the new name.
    let page = app.get("/api/v1/tasks?sort=customer").await;
    let names: Vec<&Value> = page.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["customer"]["name"])
        .collect();
    assert_eq!(names, ["Blanca", "Zacarías", "Zacarías"]);
    // A task created after the rename takes the new name too.
    let later = app
        .post("/api/v1/tasks", &json!({"customer_id": manolo, "description": "Again", "type_id": ty, "scheduled_date": "2026-12-04"}))
        .await;
    assert_eq!(later.ok(201)["customer"]["name"], "Zacarías");
    let stored = app
        .rows(&format!(
            "SELECT customer_name FROM tasks WHERE customer_id = {manolo}"
        ))
        .await;
    assert_eq!(stored.len(), 3);
    for row in stored {
        assert_eq!(row["customer_name"], "Zacarías");
    }
}

/// On PostgreSQL the pages of the customer list after a cursor are planned once per
/// connection: the cursor's key reaches the planner as a sub-select and the page size is
/// written into the statement (see `paging::cursor_value` and `paging::limited`).
#[tokio::test]
async fn postgresql_plans_the_customer_pages_after_a_cursor_once() {
    use crm_persistence::customers::{self, CustomerKey, CustomerQuery, CustomerSort};
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    app.db
        .execute_unprepared(
            "INSERT INTO customers (name, archive_code, created_at, updated_at, version) \
             SELECT 'Customer ' || (g * 7919 % 50000), 'plan' || g, now(), now(), 1 \
             FROM generate_series(1, 50000) AS g",
        )
        .await
        .expect("insert customers");
    app.db
        .execute_unprepared("ANALYZE customers")
        .await
        .expect("analyze");
    // One held connection: every statement below runs on it.
    let hot = crm_persistence::HotConnections::new(1);
    let reader = crm_persistence::Reader::new(&app.db, &hot);
    let mut after = None;
    let mut seen = 0;
    for _ in 0..12 {
        let page = customers::list(
            &reader,
            CustomerQuery {
                q: None,
                consultant_id: None,
                sort: CustomerSort::Name,
                descending: false,
                after: after.clone(),
                limit: 50,
            },
        )
        .await
        .expect("a page");
        let last = page.items.last().expect("a full page");
        after = Some(CustomerKey::Name(last.name.clone(), last.id));
        seen += page.items.len();
    }
    assert_eq!(seen, 600);
    let plans =
        crm_tests::prepared_plans(&reader, &[r#"%FROM "customers"%"#, r#"%"id") >%"#]).await;
    assert_eq!(plans.len(), 1, "{plans:?}");
    // Five custom plans to learn what the statement costs, then the generic one.
    assert!(plans[0].0 >= 5, "{plans:?}");
}
