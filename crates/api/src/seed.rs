//! `crm-api seed-demo`: the help pages' walkthroughs as data, so that a newcomer sees real
//! tasks, chains, an agenda and a timeline in Swagger UI at once.

use crate::auth::hash_password;
use crate::storage::DocumentStore;
use chrono::{Duration, NaiveDate, NaiveTime};
use crm_domain::{NextAction, Operator, Role, Tag, TaskKind, TaskType, Team};
use crm_persistence::catalog::{ListFilter, outcomes, tags, task_types, teams};
use crm_persistence::customers::{self, CustomerQuery, CustomerSort, NewCustomer};
use crm_persistence::operators::{self, NewOperator};
use crm_persistence::records::{self, NewCall, NewMessage, StoredFile};
use crm_persistence::tasks::{self, Actor, NewTask, NextCommand, Successor};
use crm_persistence::{DatabaseConnection, StoreError};
use crm_persistence::{HotConnections, Names, Reader};
use tokio::io::AsyncWriteExt;

/// The password of every demo operator.
pub const DEMO_PASSWORD: &str = "demo-password";

pub struct SeedReport {
    /// False when the demo data was there already.
    pub created: bool,
    /// Demo operators' emails.
    pub operators: Vec<String>,
}

type Result<T> = std::result::Result<T, String>;

fn err(e: StoreError) -> String {
    e.to_string()
}

fn time(h: u32, m: u32) -> Option<NaiveTime> {
    NaiveTime::from_hms_opt(h, m, 0)
}

struct Demo<'a> {
    db: &'a DatabaseConnection,
    /// None held: the seed writes through the pool.
    hot: &'a std::sync::Arc<HotConnections>,
    names: &'a Names,
    today: NaiveDate,
}

impl Demo<'_> {
    async fn operator(&self, name: &str, email: &str, team: Option<i64>) -> Result<Operator> {
        let hash = hash_password(DEMO_PASSWORD).map_err(|e| e.to_string())?;
        operators::create(
            self.db,
            NewOperator {
                name: name.into(),
                email: email.into(),
                password_hash: hash,
                role: Role::Operator,
                team_id: team,
            },
        )
        .await
        .map_err(err)
    }

    async fn task_type(
        &self,
        name: &str,
        color: &str,
        agenda: bool,
        priority: bool,
    ) -> Result<i64> {
        let t = TaskType {
            id: 0,
            name: name.into(),
            color: color.into(),
            visible_in_agenda: agenda,
            priority,
            active: true,
        };
        Ok(task_types::save(self.db, t).await.map_err(err)?.id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn task(
        &self,
        customer: i64,
        kind: TaskKind,
        description: &str,
        type_id: i64,
        days: i64,
        at: Option<NaiveTime>,
        responsible: i64,
        creator: i64,
        tag_ids: Vec<i64>,
    ) -> Result<i64> {
        let new = NewTask {
            kind,
            customer_id: customer,
            description: description.into(),
            type_id,
            tag_ids,
            scheduled_date: self.today + Duration::days(days),
            scheduled_time: at,
            responsible_id: Some(responsible),
            outcome_id: None,
        };
        Ok(
            tasks::create(Reader::new(self.db, self.hot), self.names, new, creator)
                .await
                .map_err(err)?
                .id,
        )
    }
}

async fn outcome(db: &DatabaseConnection, name: &str) -> Result<i64> {
    let all = outcomes::list(
        db,
        ListFilter {
            limit: 500,
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;
    all.items
        .into_iter()
        .find(|o| o.name == name)
        .map(|o| o.id)
        .ok_or_else(|| format!("the outcome {name} is missing"))
}

/// Creates the demo data unless a customer named "Blanca Ruiz" exists already.
pub async fn seed_demo(
    db: &DatabaseConnection,
    store: &dyn DocumentStore,
    today: NaiveDate,
    admin: i64,
) -> Result<SeedReport> {
    let existing = customers::list(
        db,
        CustomerQuery {
            q: Some("Blanca Ruiz".into()),
            consultant_id: None,
            sort: CustomerSort::Id,
            descending: false,
            after: None,
            limit: 1,
        },
    )
    .await
    .map_err(err)?;
    if !existing.items.is_empty() {
        return Ok(SeedReport {
            created: false,
            operators: Vec::new(),
        });
    }
    let names = Names::new();
    let names = &names;
    let hot = HotConnections::new(0);
    let hot = &hot;
    let d = Demo {
        db,
        hot,
        names,
        today,
    };
    let trainers = teams::save(
        db,
        Team {
            id: 0,
            name: "Trainers".into(),
            active: true,
        },
    )
    .await
    .map_err(err)?
    .id;
    let sales = teams::save(
        db,
        Team {
            id: 0,
            name: "Sales".into(),
            active: true,
        },
    )
    .await
    .map_err(err)?
    .id;
    let carlos = d
        .operator("Carlos (trainer)", "carlos@example.com", Some(trainers))
        .await?;
    let deborah = d
        .operator("Deborah", "deborah@example.com", Some(sales))
        .await?;
    let maribel = d
        .operator("Maribel", "maribel@example.com", Some(sales))
        .await?;

    let appointment = d.task_type("Appointment", "#2e7d32", true, false).await?;
    let call = d.task_type("Call", "#1565c0", true, false).await?;
    let quote = d.task_type("Quote", "#c62828", true, true).await?;
    let renewal = d
        .task_type("Routine renewal", "#6a1b9a", true, false)
        .await?;
    let objections = d.task_type("Objections", "#ef6c00", false, true).await?;
    let proshop = d.task_type("ProShop sales", "#f9a825", true, false).await?;
    let mut tag_ids = Vec::new();
    for (name, color) in [
        ("supplements", "#8e24aa"),
        ("renewal", "#00897b"),
        ("vip", "#fdd835"),
    ] {
        let tag = Tag {
            id: 0,
            name: name.into(),
            color: color.into(),
            active: true,
        };
        tag_ids.push(tags::save(db, tag).await.map_err(err)?.id);
    }
    let (positive, negative, sold, cancelled) = (
        outcome(db, "Positive").await?,
        outcome(db, "Negative").await?,
        outcome(db, "Sold").await?,
        outcome(db, "Cancelled").await?,
    );
    let next = |id: i64,
                outcome_id: i64,
                action: NextAction,
                successor: Option<Successor>,
                by: i64| async move {
        let cmd = NextCommand {
            outcome_id,
            action,
            successor,
        };
        tasks::next(
            Reader::new(db, hot),
            names,
            id,
            cmd,
            Actor {
                id: by,
                role: Role::Operator,
            },
            None,
        )
        .await
        .map(|(_, c)| c)
        .map_err(err)
    };

    // 001: Blanca's workout is discussed; the trainer continues with ProShop sales.
    let blanca = customers::create(
        db,
        NewCustomer {
            name: "Blanca Ruiz".into(),
            email: Some("blanca@example.com".into()),
            phone: Some("+34 600 123 456".into()),
            consultant_id: Some(carlos.id),
        },
    )
    .await
    .map_err(err)?;
    let workout = d
        .task(
            blanca.id,
            TaskKind::Task,
            "Discuss and review the workout",
            appointment,
            -1,
            time(18, 0),
            carlos.id,
            carlos.id,
            vec![],
        )
        .await?;
    next(
        workout,
        positive,
        NextAction::Continue,
        Some(Successor {
            description: "Tell Blanca about the new supplements".into(),
            type_id: proshop,
            tag_ids: vec![tag_ids[0]],
            scheduled_date: today + Duration::days(3),
            scheduled_time: time(18, 30),
            responsible_id: Some(carlos.id),
            outcome_id: None,
        }),
        carlos.id,
    )
    .await?;

    // 003: Manolo's appointment with Deborah did not happen; the second went well, and Maribel
    // prepares the quote (a priority type, nobody has taken it in charge yet).
    let manolo = customers::create(
        db,
        NewCustomer {
            name: "Manolo García".into(),
            email: Some("manolo@example.com".into()),
            phone: Some("+34 611 222 333".into()),
            consultant_id: Some(deborah.id),
        },
    )
    .await
    .map_err(err)?;
    let first = d
        .task(
            manolo.id,
            TaskKind::Task,
            "Subscription sale",
            appointment,
            -10,
            time(10, 0),
            deborah.id,
            deborah.id,
            vec![],
        )
        .await?;
    let second = next(
        first,
        cancelled,
        NextAction::Continue,
        Some(Successor {
            description: "Subscription sale, second appointment".into(),
            type_id: appointment,
            tag_ids: vec![],
            scheduled_date: today - Duration::days(7),
            scheduled_time: time(10, 0),
            responsible_id: Some(deborah.id),
            outcome_id: None,
        }),
        deborah.id,
    )
    .await?
    .ok_or("no follow-up")?;
    next(
        second.id,
        positive,
        NextAction::Continue,
        Some(Successor {
            description: "Prepare a quote for Manolo's annual plan".into(),
            type_id: quote,
            tag_ids: vec![tag_ids[2]],
            scheduled_date: today + Duration::days(1),
            scheduled_time: time(12, 0),
            responsible_id: Some(maribel.id),
            outcome_id: None,
        }),
        deborah.id,
    )
    .await?;

    // A closed renewal with a note, and a copy-ready call.
    let lucia = customers::create(
        db,
        NewCustomer {
            name: "Lucía Fernández".into(),
            email: None,
            phone: Some("+34 622 333 444".into()),
            consultant_id: Some(maribel.id),
        },
    )
    .await
    .map_err(err)?;
    let renewal_task = d
        .task(
            lucia.id,
            TaskKind::Task,
            "Routine renewal",
            renewal,
            -3,
            time(17, 0),
            maribel.id,
            maribel.id,
            vec![tag_ids[1]],
        )
        .await?;
    next(
        renewal_task,
        sold,
        NextAction::CloseWithNote,
        Some(Successor {
            description: "Renewed for twelve months; wants a new routine in January".into(),
            type_id: call,
            tag_ids: vec![tag_ids[1]],
            scheduled_date: today - Duration::days(3),
            scheduled_time: time(17, 30),
            responsible_id: Some(maribel.id),
            outcome_id: None,
        }),
        maribel.id,
    )
    .await?;
    let objection = d
        .task(
            lucia.id,
            TaskKind::Task,
            "Price objection on the family plan",
            objections,
            0,
            None,
            deborah.id,
            maribel.id,
            vec![],
        )
        .await?;
    next(objection, negative, NextAction::Close, None, deborah.id).await?;

    // A week of agenda for everyone.
    let week: [(i64, u32, i64, &str, i64); 9] = [
        (0, 9, carlos.id, "Assessment session", appointment),
        (0, 16, deborah.id, "Call about the spring offer", call),
        (
            1,
            11,
            carlos.id,
            "Follow-up on the new routine",
            appointment,
        ),
        (2, 10, maribel.id, "Renewal reminder", call),
        (2, 18, deborah.id, "Tour of the club", appointment),
        (3, 9, maribel.id, "Quote for the corporate plan", quote),
        (4, 17, carlos.id, "Progress check", appointment),
        (5, 12, deborah.id, "Call back about towels", call),
        (6, 10, maribel.id, "Routine renewal", renewal),
    ];
    for (i, (day, hour, who, what, ty)) in week.into_iter().enumerate() {
        let customer = [blanca.id, manolo.id, lucia.id][i % 3];
        d.task(
            customer,
            TaskKind::Task,
            what,
            ty,
            day,
            time(hour, 0),
            who,
            admin,
            vec![],
        )
        .await?;
    }
    d.task(
        blanca.id,
        TaskKind::Note,
        "Asked about the sauna opening hours",
        call,
        0,
        time(8, 45),
        carlos.id,
        carlos.id,
        vec![],
    )
    .await?;

    // Blanca's timeline: messages, a call and a document.
    let now = crm_persistence::now();
    records::add_message(
        db,
        NewMessage {
            customer_id: blanca.id,
            channel: "whatsapp".into(),
            direction: "in".into(),
            sender: "+34 600 123 456".into(),
            recipient: "+34 911 000 000".into(),
            subject: None,
            body: "Hi! Can I move Friday's session to Saturday morning?".into(),
            sent_at: now - Duration::hours(5),
            message_id: None,
            created_by: Some(carlos.id),
        },
        vec![],
    )
    .await
    .map_err(err)?;
    records::add_message(
        db,
        NewMessage {
            customer_id: blanca.id,
            channel: "email".into(),
            direction: "out".into(),
            sender: "carlos@example.com".into(),
            recipient: "blanca@example.com".into(),
            subject: Some("Your new routine".into()),
            body: "Hi Blanca, attached is the routine we discussed. See you Saturday!".into(),
            sent_at: now - Duration::hours(4),
            message_id: None,
            created_by: Some(carlos.id),
        },
        vec![],
    )
    .await
    .map_err(err)?;
    records::add_call(
        db,
        NewCall {
            customer_id: blanca.id,
            direction: "out".into(),
            phone: "+34 600 123 456".into(),
            started_at: now - Duration::hours(3),
            duration_seconds: 185,
            operator_id: Some(carlos.id),
            created_by: carlos.id,
        },
    )
    .await
    .map_err(err)?;
    let routine = b"Week 1\n  Mon: squats 3x10, rows 3x10\n  Wed: deadlifts 3x8, press 3x8\n  Fri: intervals 20 min\n";
    let (key, mut writer) = store.create().await.map_err(|e| e.to_string())?;
    writer.write_all(routine).await.map_err(|e| e.to_string())?;
    writer.shutdown().await.map_err(|e| e.to_string())?;
    records::add_document(
        db,
        blanca.id,
        StoredFile {
            filename: "routine-week-1.txt".into(),
            content_type: "text/plain".into(),
            size: routine.len() as i64,
            storage_key: key,
        },
        carlos.id,
    )
    .await
    .map_err(err)?;

    Ok(SeedReport {
        created: true,
        operators: vec![carlos.email, deborah.email, maribel.email],
    })
}
