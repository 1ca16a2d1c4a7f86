//! A customer's timeline: messages, forwarded email, calls, documents and all the rest.

use crm_tests::{TestApp, spawn_app};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

fn email(message_id: &str, subject: &str) -> String {
    format!(
        "From: Blanca Ruiz <blanca@example.com>\r\n\
To: Deborah <deborah@gym.example>\r\n\
Cc: front@gym.example\r\n\
Subject: {subject}\r\n\
Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n\
Message-ID: <{message_id}>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Could we move Friday's session?\r\n\
--b1\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"medical certificate.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcOkw7zDtsOf\r\n\
--b1--\r\n"
    )
}

async fn forward(app: &TestApp, code: &str, raw: &str) -> (u16, Value) {
    let reply = app
        .send(
            app.client
                .post(app.url(&format!("/api/v1/inbound/email/{code}")))
                .header("content-type", "message/rfc822")
                .body(raw.to_owned()),
        )
        .await;
    (reply.status, reply.json)
}

async fn upload(
    app: &TestApp,
    token: &str,
    customer: i64,
    name: &str,
    bytes: Vec<u8>,
    mime: &str,
) -> (u16, Value) {
    let form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(mime)
            .unwrap(),
    );
    let reply = app
        .send(
            app.request_as(
                token,
                Method::POST,
                &format!("/api/v1/customers/{customer}/documents"),
            )
            .multipart(form),
        )
        .await;
    (reply.status, reply.json)
}

async fn entries(app: &TestApp, customer: i64, query: &str) -> Vec<Value> {
    let reply = app
        .get(&format!("/api/v1/customers/{customer}/timeline{query}"))
        .await;
    reply.ok(200)["items"].as_array().unwrap().clone()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_kind_of_event_lands_in_the_timeline_newest_first() {
    let app = spawn_app().await;
    let (deborah, _) = app.operator("Deborah", "operator").await;
    let created = app
        .post(
            "/api/v1/customers",
            &json!({"name": "Blanca", "consultant_id": deborah}),
        )
        .await;
    let customer = created.ok(201)["id"].as_i64().unwrap();
    let code = created.json["archive_code"].as_str().unwrap().to_owned();
    let call_type = app
        .post("/api/v1/task-types", &json!({"name": "Call"}))
        .await
        .json["id"]
        .clone();
    let outcomes = app.get("/api/v1/outcomes").await.json["items"].clone();
    let negative = outcomes
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Negative")
        .unwrap()["id"]
        .clone();

    let message = app
        .post(&format!("/api/v1/customers/{customer}/messages"), &json!({"channel": "whatsapp", "direction": "in", "from": "+34 600 123 456", "to": "+34 911 000 000", "body": "See you Friday"}))
        .await;
    assert_eq!(message.ok(201)["channel"], "whatsapp");
    let (status, inbound) = forward(&app, &code, &email("abc@example.com", "Friday")).await;
    assert_eq!(
        (
            status,
            inbound["duplicate"].clone(),
            inbound["attachments"].clone()
        ),
        (202, json!(false), json!(1))
    );
    let call = app
        .post(&format!("/api/v1/customers/{customer}/calls"), &json!({"direction": "out", "phone": "+34 600 123 456", "started_at": chrono::Utc::now(), "duration_seconds": 125, "operator_id": deborah}))
        .await;
    call.ok(201);
    let (status, doc) = upload(
        &app,
        &app.admin_token,
        customer,
        "plan.txt",
        b"week 1: squats".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(status, 201, "{doc}");
    let gone = app
        .send(app.request(Method::DELETE, &format!("/api/v1/documents/{}", doc["id"])))
        .await;
    assert_eq!(gone.status, 204);
    app.patch(
        &format!("/api/v1/customers/{customer}"),
        &json!({"phone": "+34 600 999 999"}),
    )
    .await
    .ok(200);
    let task = app.post("/api/v1/tasks", &json!({"customer_id": customer, "description": "Call back", "type_id": call_type, "scheduled_date": "2026-12-01"})).await;
    let task_id = task.ok(201)["id"].clone();
    app.post(
        &format!("/api/v1/tasks/{task_id}/next"),
        &json!({"outcome_id": negative, "action": "close"}),
    )
    .await
    .ok(200);
    app.post(&format!("/api/v1/tasks/{task_id}/reopen"), &json!({}))
        .await
        .ok(200);
    app.post("/api/v1/tasks", &json!({"customer_id": customer, "kind": "note", "description": "Asked about prices", "type_id": call_type})).await.ok(201);

    let all = entries(&app, customer, "?limit=500").await;
    let mut kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "call",
            "change",
            "document",
            "document_deleted",
            "message",
            "note",
            "task_closed",
            "task_reopened"
        ]
    );
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap())
        .collect();
    let parsed: Vec<chrono::DateTime<chrono::Utc>> =
        times.iter().map(|t| t.parse().unwrap()).collect();
    assert!(
        parsed.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    let deleted = all
        .iter()
        .find(|e| e["kind"] == "document_deleted")
        .unwrap();
    assert_eq!(deleted["actor"]["name"], "Administrator");
    assert_eq!(deleted["data"]["filename"], "plan.txt");
    let change = all.iter().find(|e| e["kind"] == "change").unwrap();
    assert_eq!(change["data"]["field"], "phone");
    assert_eq!(change["data"]["new"], "+34 600 999 999");
    let closed = all.iter().find(|e| e["kind"] == "task_closed").unwrap();
    assert_eq!(closed["data"]["outcome"]["name"], "Negative");
    let mail = all
        .iter()
        .find(|e| e["kind"] == "message" && e["data"]["channel"] == "email")
        .unwrap();
    assert_eq!(mail["data"]["subject"], "Friday");
    assert_eq!(mail["data"]["from"], "Blanca Ruiz <blanca@example.com>");
    assert!(
        mail["data"]["to"]
            .as_str()
            .unwrap()
            .contains("front@gym.example")
    );
    assert!(
        mail["data"]["body"]
            .as_str()
            .unwrap()
            .contains("Could we move")
    );
    assert_eq!(
        mail["data"]["attachments"][0]["filename"],
        "medical certificate.pdf"
    );
    let call = all.iter().find(|e| e["kind"] == "call").unwrap();
    assert_eq!(call["actor"]["name"], "Deborah");
    assert_eq!(call["data"]["duration_seconds"], 125);

    let only = entries(&app, customer, "?kind=message,call").await;
    assert_eq!(only.len(), 3);
    assert!(
        only.iter()
            .all(|e| e["kind"] == "message" || e["kind"] == "call")
    );
    app.get(&format!(
        "/api/v1/customers/{customer}/timeline?kind=gossip"
    ))
    .await
    .problem(400);
    app.get("/api/v1/customers/999999/timeline")
        .await
        .problem(404);

    // Pages of two cover the same entries.
    let mut paged = Vec::new();
    let mut path = format!("/api/v1/customers/{customer}/timeline?limit=2");
    loop {
        let page = app.get(&path).await;
        paged.extend(
            page.ok(200)["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page.json["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/customers/{customer}/timeline?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        paged,
        all.iter().map(|e| e["id"].clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn forwarded_email_is_kept_once_and_its_attachment_downloads() {
    let app = spawn_app().await;
    let created = app
        .post("/api/v1/customers", &json!({"name": "Blanca"}))
        .await;
    let customer = created.ok(201)["id"].as_i64().unwrap();
    let code = created.json["archive_code"].as_str().unwrap().to_owned();
    let raw = email("same@example.com", "Once");
    assert_eq!(forward(&app, &code, &raw).await.0, 202);
    let (status, again) = forward(&app, &code, &raw).await;
    assert_eq!((status, again["duplicate"].clone()), (202, json!(true)));
    assert_eq!(app.count("messages").await, 1);
    assert_eq!(app.count("documents").await, 1);
    assert_eq!(
        files_in(app.documents.path()).len(),
        1,
        "the duplicate's attachment was not kept"
    );

    let doc = app.rows("SELECT id FROM documents").await[0]["id"].clone();
    let download = app
        .send(app.request(Method::GET, &format!("/api/v1/documents/{doc}/content")))
        .await;
    assert_eq!(download.status, 200);
    assert_eq!(download.header("content-type"), Some("application/pdf"));
    assert!(
        download
            .header("content-disposition")
            .unwrap()
            .contains("medical certificate.pdf")
    );
    assert_eq!(
        download.text.as_bytes(),
        b"%PDF-1.4\n%\xc3\xa4\xc3\xbc\xc3\xb6\xc3\x9f"
    );
    let entries = entries(&app, customer, "").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["actor"],
        Value::Null,
        "forwarded email has no actor"
    );
}

#[tokio::test]
async fn inbound_email_refuses_unknown_codes_garbage_and_huge_bodies() {
    let app = spawn_app().await;
    let created = app
        .post("/api/v1/customers", &json!({"name": "Blanca"}))
        .await;
    let code = created.ok(201)["archive_code"].as_str().unwrap().to_owned();
    assert_eq!(forward(&app, "nope", &email("x@y", "x")).await.0, 404);
    assert_eq!(forward(&app, "../../etc", "x").await.0, 404);
    assert_eq!(
        forward(&app, &code, "this is not an email at all").await.0,
        422
    );
    assert_eq!(forward(&app, &code, "").await.0, 422);
    let huge = format!(
        "From: a@example.com\r\nSubject: big\r\n\r\n{}",
        "x".repeat(10 * 1024 * 1024 + 10)
    );
    assert_eq!(forward(&app, &code, &huge).await.0, 413);
    assert_eq!(app.count("messages").await, 0);
}

#[tokio::test]
async fn html_only_email_is_kept_as_text() {
    let app = spawn_app().await;
    let created = app
        .post("/api/v1/customers", &json!({"name": "Blanca"}))
        .await;
    let customer = created.ok(201)["id"].as_i64().unwrap();
    let code = created.json["archive_code"].as_str().unwrap().to_owned();
    let raw = "From: shop@example.com\r\nSubject: Offer\r\nContent-Type: text/html\r\n\r\n<html><body><p>New <b>supplements</b> in store</p></body></html>\r\n";
    assert_eq!(forward(&app, &code, raw).await.0, 202);
    let body = entries(&app, customer, "").await[0]["data"]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        body.contains("New supplements in store")
            || body.contains("New") && body.contains("supplements"),
        "{body}"
    );
    assert!(!body.contains("<b>"), "{body}");
}

#[tokio::test]
async fn uploads_keep_exact_bytes_under_server_chosen_names() {
    let app = spawn_app().await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (status, doc) = upload(
        &app,
        &app.admin_token,
        customer,
        "../../evil/../../quote 2026.bin",
        bytes.clone(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["filename"], "quote 2026.bin");
    assert_eq!(doc["size"], bytes.len());
    let stored = files_in(app.documents.path());
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].len() == 32 && stored[0].chars().all(|c| c.is_ascii_hexdigit()),
        "{stored:?}"
    );
    assert!(!app.documents.path().parent().unwrap().join("evil").exists());

    let download = app
        .send(app.request(
            Method::GET,
            &format!("/api/v1/documents/{}/content", doc["id"]),
        ))
        .await;
    assert_eq!(download.status, 200);
    assert_eq!(
        download.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    let again = app
        .request(
            Method::GET,
            &format!("/api/v1/documents/{}/content", doc["id"]),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(again.to_vec(), bytes, "exact bytes");
    app.get("/api/v1/documents/999999/content")
        .await
        .problem(404);
    let (status, _) = upload(
        &app,
        &app.admin_token,
        999_999,
        "x.txt",
        b"x".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_25_mib_upload_is_refused_and_leaves_nothing() {
    let app = spawn_app().await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let big = vec![7u8; 25 * 1024 * 1024];
    let (status, _) = upload(
        &app,
        &app.admin_token,
        customer,
        "big.bin",
        big.clone(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(status, 413);
    // Without a length up front, the stream is cut off at the limit.
    let stream = futures_util::stream::iter(
        big.chunks(1024 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let part = Part::stream(reqwest::Body::wrap_stream(stream)).file_name("big.bin");
    let reply = app
        .request(
            Method::POST,
            &format!("/api/v1/customers/{customer}/documents"),
        )
        .multipart(Form::new().part("file", part))
        .send()
        .await;
    if let Ok(r) = reply {
        assert_eq!(r.status().as_u16(), 413);
    }
    assert!(
        files_in(app.documents.path()).is_empty(),
        "nothing left on disk"
    );
    assert_eq!(app.count("documents").await, 0);
}

#[tokio::test]
async fn deleting_documents_follows_the_settings() {
    let app = spawn_app().await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let (_, operator) = app.operator("Deborah", "operator").await;
    let (_, doc) = upload(
        &app,
        &operator,
        customer,
        "plan.txt",
        b"plan".to_vec(),
        "text/plain",
    )
    .await;
    let path = format!("/api/v1/documents/{}", doc["id"]);
    app.send(app.request_as(&operator, Method::DELETE, &path))
        .await
        .problem(403);
    app.patch("/api/v1/settings", &json!({"delete_documents": "none"}))
        .await
        .ok(200);
    app.send(app.request(Method::DELETE, &path))
        .await
        .problem(403);
    assert_eq!(files_in(app.documents.path()).len(), 1);
    app.patch("/api/v1/settings", &json!({"delete_documents": "all"}))
        .await
        .ok(200);
    let gone = app
        .send(app.request_as(&operator, Method::DELETE, &path))
        .await;
    assert_eq!(gone.status, 204);
    assert!(
        files_in(app.documents.path()).is_empty(),
        "removed for good"
    );
    app.get(&format!("{path}/content")).await.problem(404);
    app.send(app.request(Method::DELETE, &path))
        .await
        .problem(404);
    let deleted = entries(&app, customer, "?kind=document_deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["actor"]["name"], "Deborah");
}

#[tokio::test]
async fn messages_and_calls_are_validated() {
    let app = spawn_app().await;
    let customer = app.customer(json!({"name": "Blanca"})).await;
    let path = format!("/api/v1/customers/{customer}/messages");
    for body in [
        json!({"channel": "fax", "direction": "in", "from": "a", "to": "b"}),
        json!({"channel": "sms", "direction": "sideways", "from": "a", "to": "b"}),
        json!({"channel": "sms", "direction": "in", "from": "", "to": "b"}),
        json!({"channel": "sms", "direction": "in", "from": "a", "to": "b", "body": "nul\u{0}"}),
        json!({"channel": "sms", "direction": "in", "from": "a", "to": "b", "sent_at": "yesterday"}),
    ] {
        app.post(&path, &body).await.problem(422);
    }
    let calls = format!("/api/v1/customers/{customer}/calls");
    for body in [
        json!({"direction": "in", "phone": "call me", "started_at": "2026-11-23T10:00:00Z", "duration_seconds": 5}),
        json!({"direction": "in", "phone": "600 000 000", "started_at": "2026-11-23T10:00:00Z", "duration_seconds": -5}),
        json!({"direction": "in", "phone": "600 000 000", "started_at": "2026-11-23T10:00:00Z", "duration_seconds": 5, "operator_id": 424242}),
    ] {
        app.post(&calls, &body).await.problem(422);
    }
    app.post("/api/v1/customers/999999/calls", &json!({"direction": "in", "phone": "600 000 000", "started_at": "2026-11-23T10:00:00Z", "duration_seconds": 5})).await.problem(404);
    assert_eq!(app.count("timeline_entries").await, 0);
}
