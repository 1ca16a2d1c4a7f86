use super::tasks::TaskOut;
use crate::auth::{Caller, bearer_token};
use crate::error::{ApiError, FieldError, Problem, Result};
use crate::ics;
use crate::paging::{ListOf, PageParams, list_of};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Duration, NaiveDate};
use crm_domain::{TaskKind, TaskStatus, TaskView};
use crm_persistence::tasks::{self, TaskFilter, TaskQuery, TaskSort};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

/// The longest range an agenda covers.
pub const MAX_DAYS: i64 = 92;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgendaQuery {
    /// First day, inclusive (default: today in the business's time zone).
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (default: six days after `from`). At most 92 days after `from`.
    pub to: Option<NaiveDate>,
    /// Only this operator's tasks (as responsible).
    pub operator_id: Option<i64>,
    /// Only tasks of this team's operators.
    pub team_id: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedToken {
    /// A calendar feed token from `POST /api/v1/me/calendar-token`, for apps that cannot send headers.
    pub token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarToken {
    /// Subscribe to this URL in a calendar app. It holds a new secret token; the previous one stops working.
    pub feed_url: String,
}

fn range(q: &AgendaQuery, state: &AppState) -> Result<(NaiveDate, NaiveDate)> {
    let from = crate::valid::calendar_day("from", q.from)?.unwrap_or_else(|| state.today());
    let to = crate::valid::calendar_day("to", q.to)?.unwrap_or(from + Duration::days(6));
    let bad = |field: &str, detail: String| ApiError::BadRequest {
        errors: vec![FieldError::new(field, detail.clone())],
        detail,
    };
    if to < from {
        return Err(bad("to", format!("to ({to}) is before from ({from})")));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(bad(
            "to",
            format!("an agenda covers at most {MAX_DAYS} days"),
        ));
    }
    Ok((from, to))
}

fn agenda_filter(q: &AgendaQuery, from: NaiveDate, to: NaiveDate) -> TaskFilter {
    TaskFilter {
        kind: Some(TaskKind::Task),
        status: Some(TaskStatus::Planned),
        responsible_id: q.operator_id,
        team_id: q.team_id,
        scheduled_from: Some(from),
        scheduled_to: Some(to),
        agenda_only: true,
        ..Default::default()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AgendaCursor {
    at: serde_json::Value,
    id: i64,
}

/// Planned tasks of agenda-visible types in a date range, by date and time; each carries its
/// operator, customer, type (colour, priority) and urgency.
#[utoipa::path(tag = "agenda", params(AgendaQuery, PageParams), responses(
    (status = 200, body = ListOf<TaskOut>)))]
#[get("/agenda")]
pub async fn agenda(
    state: web::Data<AppState>,
    _: Caller,
    q: web::Query<AgendaQuery>,
    page: web::Query<PageParams>,
) -> Result<web::Json<ListOf<TaskOut>>> {
    let (from, to) = range(&q, &state)?;
    let after = page.cursor::<AgendaCursor>()?.map(|c| (vec![c.at], c.id));
    let query = TaskQuery {
        filter: agenda_filter(&q, from, to),
        sort: vec![(TaskSort::ScheduledAt, false)],
        after,
        limit: page.limit()?,
    };
    let found = tasks::list(&state.reader(), &state.names, query).await?;
    Ok(web::Json(list_of(
        found,
        |v| AgendaCursor {
            at: TaskSort::ScheduledAt.key_of(v),
            id: v.id,
        },
        TaskOut::from,
    )))
}

fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A bearer token, or a calendar feed token in `?token=`.
async fn feed_caller(state: &AppState, req: &HttpRequest, token: Option<&str>) -> Result<i64> {
    if let Some(bearer) = bearer_token(req) {
        return Ok(state.tokens.verify(bearer)?.id);
    }
    let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 128) else {
        return Err(ApiError::Unauthorized(
            "The feed needs a bearer token or ?token= from POST /api/v1/me/calendar-token.".into(),
        ));
    };
    crm_persistence::operators::find_by_calendar_token(&state.db, &hash_token(token))
        .await?
        .map(|op| op.id)
        .ok_or_else(|| {
            ApiError::Unauthorized("The feed token is not valid; it may have been replaced.".into())
        })
}

/// The agenda as an iCalendar feed (RFC 5545). Calendar apps cannot send headers, so besides a
/// bearer token it accepts `?token=`, a per-operator feed token. Whole-day tasks are all-day
/// events; timed ones last 30 minutes.
#[utoipa::path(tag = "agenda", security((), ("bearer_auth" = [])), params(AgendaQuery, FeedToken), responses(
    (status = 200, description = "The feed", content_type = "text/calendar", body = String),
    (status = 401, body = Problem, content_type = "application/problem+json", description = "No bearer token and no valid feed token")))]
#[get("/agenda.ics")]
pub async fn agenda_ics(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<AgendaQuery>,
    token: web::Query<FeedToken>,
) -> Result<HttpResponse> {
    feed_caller(&state, &req, token.token.as_deref()).await?;
    let (from, to) = range(&q, &state)?;
    let mut events: Vec<TaskView> = Vec::new();
    let mut after = None;
    // Bounded: a calendar of more than 10,000 events helps nobody.
    for _ in 0..20 {
        let query = TaskQuery {
            filter: agenda_filter(&q, from, to),
            sort: vec![(TaskSort::ScheduledAt, false)],
            after,
            limit: 500,
        };
        let page = tasks::list(&state.reader(), &state.names, query).await?;
        after = page
            .items
            .last()
            .map(|v| (vec![TaskSort::ScheduledAt.key_of(v)], v.id));
        events.extend(page.items);
        if !page.has_more {
            break;
        }
    }
    let summaries: Vec<String> = events
        .iter()
        .map(|v| format!("{} – {}", v.task_type.name, v.customer.name))
        .collect();
    let descriptions: Vec<String> = events
        .iter()
        .map(|v| {
            format!(
                "{}\n\nResponsible: {}\nTask #{}",
                v.description, v.responsible.name, v.id
            )
        })
        .collect();
    let ics_events: Vec<ics::Event<'_>> = events
        .iter()
        .zip(summaries.iter().zip(&descriptions))
        .map(|(v, (summary, description))| ics::Event {
            uid: format!("task-{}@crm-api", v.id),
            sequence: v.version,
            date: v.scheduled_date,
            time: v.scheduled_time,
            summary,
            description,
            categories: &v.task_type.name,
        })
        .collect();
    let body = ics::calendar(
        "CRM agenda",
        &state.timezone,
        chrono::Utc::now(),
        &ics_events,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .body(body))
}

/// A new calendar feed URL for the caller's agenda; the previous feed token stops working.
#[utoipa::path(tag = "agenda", responses((status = 200, body = CalendarToken)))]
#[post("/me/calendar-token")]
pub async fn calendar_token(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<web::Json<CalendarToken>> {
    let token = crate::startup::random_token(32);
    crm_persistence::operators::set_calendar_token(&state.db, caller.id, &hash_token(&token))
        .await?;
    let info = req.connection_info();
    Ok(web::Json(CalendarToken {
        feed_url: format!(
            "{}://{}/api/v1/agenda.ics?operator_id={}&token={token}",
            info.scheme(),
            info.host(),
            caller.id
        ),
    }))
}
