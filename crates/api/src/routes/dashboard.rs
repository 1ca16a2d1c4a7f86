use super::tasks::TaskOut;
use crate::auth::Caller;
use crate::error::{ApiError, FieldError, Result};
use crate::state::AppState;
use actix_web::{get, web};
use chrono::{Duration, NaiveDate};
use crm_persistence::dashboard::{self as store, GroupBy, Scope};
use crm_persistence::tasks;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// How many tasks each dashboard list shows; the link gives the rest.
const LIST_SIZE: u64 = 20;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopeQuery {
    /// Only this operator's tasks (as responsible).
    pub operator_id: Option<i64>,
    /// Only tasks of this team's operators.
    pub team_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardCounts {
    /// Planned tasks.
    pub planned: i64,
    /// Planned tasks whose time has passed; a whole-day task once its day has ended.
    pub overdue: i64,
    /// Planned tasks scheduled today.
    pub due_today: i64,
    /// Planned tasks of priority types.
    pub urgent: i64,
    /// Planned tasks of priority types nobody has taken in charge ("activities in preparation").
    pub unassigned: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    pub counts: DashboardCounts,
    /// The first planned tasks of priority types, by schedule.
    pub urgent: Vec<TaskOut>,
    /// The full list of urgent tasks.
    #[schema(example = "/api/v1/tasks?kind=task&status=planned&priority=true&sort=scheduled_at")]
    pub urgent_url: String,
    /// The first planned priority tasks nobody has taken in charge, by schedule.
    pub unassigned: Vec<TaskOut>,
    #[schema(
        example = "/api/v1/tasks?kind=task&status=planned&priority=true&taken=false&sort=scheduled_at"
    )]
    pub unassigned_url: String,
}

fn link(base: &str, scope: &ScopeQuery) -> String {
    let mut url =
        format!("/api/v1/tasks?kind=task&status=planned&priority=true{base}&sort=scheduled_at");
    if let Some(op) = scope.operator_id {
        url.push_str(&format!("&responsible_id={op}"));
    }
    if let Some(team) = scope.team_id {
        url.push_str(&format!("&team_id={team}"));
    }
    url
}

/// Counts of planned, overdue, due-today, urgent and unassigned tasks, and the first urgent
/// and unassigned ones. "Today" and "now" are read in the business's time zone (`CRM_TIMEZONE`).
#[utoipa::path(tag = "agenda", params(ScopeQuery), responses((status = 200, body = Dashboard)))]
#[get("/dashboard")]
pub async fn dashboard(
    state: web::Data<AppState>,
    _: Caller,
    q: web::Query<ScopeQuery>,
) -> Result<web::Json<Dashboard>> {
    let now = chrono::Utc::now()
        .with_timezone(&state.timezone)
        .naive_local();
    let scope = Scope {
        operator_id: q.operator_id,
        team_id: q.team_id,
    };
    let reader = state.reader();
    let c = store::counts(&reader, &state.names, scope, now.date(), now).await?;
    let (urgent, unassigned) =
        tasks::priority_lists(&reader, &state.names, scope, LIST_SIZE).await?;
    Ok(web::Json(Dashboard {
        counts: DashboardCounts {
            planned: c.planned,
            overdue: c.overdue,
            due_today: c.due_today,
            urgent: c.urgent,
            unassigned: c.unassigned,
        },
        urgent: urgent.into_iter().map(TaskOut::from).collect(),
        urgent_url: link("", &q),
        unassigned: unassigned.into_iter().map(TaskOut::from).collect(),
        unassigned_url: link("&taken=false", &q),
    }))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupByParam {
    Operator,
    Type,
    Tag,
    Team,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day of closing, inclusive (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last day of closing, inclusive (default: today).
    pub to: Option<NaiveDate>,
    /// `operator` (the responsible), `type`, `tag` or `team`.
    #[param(inline)]
    pub group_by: GroupByParam,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeCountOut {
    pub id: i64,
    pub name: String,
    /// `done` or `cancelled`.
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportGroup {
    /// The operator, type, tag or team; null for untagged tasks or operators without a team.
    pub id: Option<i64>,
    pub name: Option<String>,
    /// Tasks closed in the range.
    pub closed: i64,
    /// Of those, closed with an outcome whose status is done.
    pub done: i64,
    /// `done / closed`, from 0 to 1.
    pub done_share: f64,
    pub outcomes: Vec<OutcomeCountOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: String,
    pub groups: Vec<ReportGroup>,
}

/// For tasks closed in the range: counts per outcome per group, and the share closed done.
/// A task with several tags counts once in each tag's group.
#[utoipa::path(tag = "agenda", params(ReportQuery), responses((status = 200, body = OutcomeReport)))]
#[get("/reports/outcomes")]
pub async fn outcomes(
    state: web::Data<AppState>,
    _: Caller,
    q: web::Query<ReportQuery>,
) -> Result<web::Json<OutcomeReport>> {
    let to = q.to.unwrap_or_else(|| state.today());
    let from = q.from.unwrap_or(to - Duration::days(29));
    if to < from {
        return Err(ApiError::BadRequest {
            detail: format!("to ({to}) is before from ({from})."),
            errors: vec![FieldError::new("to", "before from")],
        });
    }
    let Some(after) = to.succ_opt() else {
        return Err(ApiError::bad_request("to is out of range"));
    };
    let (group_by, name) = match q.group_by {
        GroupByParam::Operator => (GroupBy::Operator, "operator"),
        GroupByParam::Type => (GroupBy::Type, "type"),
        GroupByParam::Tag => (GroupBy::Tag, "tag"),
        GroupByParam::Team => (GroupBy::Team, "team"),
    };
    let rows = store::outcome_report(
        &state.db,
        group_by,
        state.start_of(from),
        state.start_of(after),
    )
    .await?;
    let mut groups: Vec<ReportGroup> = Vec::new();
    for r in rows {
        let same = groups
            .last()
            .is_some_and(|g| g.id == r.group_id && g.name == r.group_name);
        if !same {
            groups.push(ReportGroup {
                id: r.group_id,
                name: r.group_name.clone(),
                closed: 0,
                done: 0,
                done_share: 0.0,
                outcomes: Vec::new(),
            });
        }
        if let Some(g) = groups.last_mut() {
            g.closed += r.count;
            if r.outcome_status == "done" {
                g.done += r.count;
            }
            g.outcomes.push(OutcomeCountOut {
                id: r.outcome_id,
                name: r.outcome_name,
                status: r.outcome_status,
                count: r.count,
            });
        }
    }
    for g in &mut groups {
        g.done_share = if g.closed > 0 {
            g.done as f64 / g.closed as f64
        } else {
            0.0
        };
    }
    Ok(web::Json(OutcomeReport {
        from,
        to,
        group_by: name.to_owned(),
        groups,
    }))
}
