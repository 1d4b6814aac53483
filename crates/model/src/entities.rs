//! Typed unified entities, as readers get them back from the store.
//!
//! Field names and types match [`crate::EntityKind::fields`]; the store adds
//! the columns every entity carries ([`Provenance`], `employee_id`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Where a unified row came from: enough to trace any figure to its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The configured connector id (`[[connector]] id`).
    pub connector: String,
    /// The entity's key within that connector (e.g. the ticket id).
    pub source_key: String,
    /// The landed raw record that last changed this row.
    pub raw_record_id: Option<i64>,
    /// The sync run that last changed this row.
    pub sync_run_id: Option<i64>,
    /// Mapping file and content hash that produced the row, `path@hash`.
    pub mapping_version: Option<String>,
    /// When hrhub last changed the row.
    pub updated_at: DateTime<Utc>,
}

/// A person on the roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Employee {
    /// Hub-assigned id; stable across sources.
    pub id: i64,
    /// The company's employee number (工号), the strongest cross-system key.
    pub employee_no: Option<String>,
    /// Display name.
    pub name: String,
    /// Work e-mail, lower-cased; a match key.
    pub email: Option<String>,
    /// Mobile number as the source gives it; a match key.
    pub mobile: Option<String>,
    /// Department name (or path) as the roster source names it.
    pub department: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// First working day.
    pub hire_date: Option<NaiveDate>,
    /// Last day of probation; set while or after the employee is on probation.
    pub probation_end: Option<NaiveDate>,
    /// `active` or `left`.
    pub status: String,
    /// When hrhub last changed this employee.
    pub updated_at: DateTime<Utc>,
}

/// Links one account in one system to an employee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityLink {
    /// The connector id the account lives in (`zendesk-main`, `dingtalk`, ...).
    pub system: String,
    /// The account's id in that system (a Zendesk user id, a DingTalk userid).
    pub external_id: String,
    /// The employee it belongs to.
    pub employee_id: i64,
    /// How the link was made: `link`, `employee_no`, `email` or `mobile`.
    pub matched_by: String,
    /// When the link was made.
    pub created_at: DateTime<Utc>,
}

/// One check-in or check-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttendanceRecord {
    /// Hub-assigned id.
    pub id: i64,
    /// The employee, once identity is resolved.
    pub employee_id: Option<i64>,
    /// The local working day the check belongs to (in the connector's time zone).
    pub work_date: NaiveDate,
    /// `in` or `out`.
    pub check_kind: String,
    /// When the shift expected the check, as a UTC instant.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When the person actually checked, as a UTC instant; none when missed.
    pub checked_at: Option<DateTime<Utc>>,
    /// `normal`, `late`, `early`, `absent`, `missing`, `leave`, `outside`, `other`.
    pub result: String,
    /// How the check was made as the source names it (app, machine, GPS, ...).
    pub source_method: Option<String>,
    /// Where the row came from.
    pub provenance: Provenance,
}

/// One helpdesk ticket as worked by its assignee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketActivity {
    /// Hub-assigned id.
    pub id: i64,
    /// The assignee's employee, once identity is resolved.
    pub employee_id: Option<i64>,
    /// The ticket id in the helpdesk.
    pub ticket_id: String,
    /// The assignee's user id in the helpdesk.
    pub assignee_id: Option<String>,
    /// `new`, `open`, `pending`, `hold`, `solved`, `closed` or `deleted`.
    pub status: Option<String>,
    /// Priority as the helpdesk names it.
    pub priority: Option<String>,
    /// Channel the ticket arrived by (email, web, chat, voice, ...).
    pub channel: Option<String>,
    /// When the ticket was opened.
    pub created_at: Option<DateTime<Utc>>,
    /// When it was (last) solved.
    pub solved_at: Option<DateTime<Utc>>,
    /// Minutes to the first public agent reply (calendar time).
    pub first_reply_minutes: Option<i64>,
    /// Minutes to the final resolution (calendar time).
    pub full_resolution_minutes: Option<i64>,
    /// Times the ticket was reopened after being solved.
    pub reopens: Option<i64>,
    /// Where the row came from.
    pub provenance: Provenance,
}

/// One customer-satisfaction rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SatisfactionRating {
    /// Hub-assigned id.
    pub id: i64,
    /// The rated agent's employee, once identity is resolved.
    pub employee_id: Option<i64>,
    /// The rating's id in the helpdesk.
    pub rating_id: String,
    /// The ticket rated.
    pub ticket_id: Option<String>,
    /// The agent's user id in the helpdesk at rating time.
    pub agent_id: Option<String>,
    /// The score on the platform's own scale (`good`, `bad`, `4`, ...).
    pub score_native: String,
    /// The score normalized to 0–1 (bad = 0, good = 1; 4/5 = 0.75).
    pub score_normalized: f64,
    /// The customer's comment.
    pub comment: Option<String>,
    /// When the rating was given.
    pub rated_at: DateTime<Utc>,
    /// Where the row came from.
    pub provenance: Provenance,
}

/// One course or exam outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingResult {
    /// Hub-assigned id.
    pub id: i64,
    /// The learner's employee, once identity is resolved.
    pub employee_id: Option<i64>,
    /// The course or exam id on the platform.
    pub course_id: String,
    /// The course's display name.
    pub course_name: Option<String>,
    /// When it was completed; none while in progress.
    pub completed_at: Option<DateTime<Utc>>,
    /// The score normalized to 0–100, comparable across platforms.
    pub score: Option<f64>,
    /// The score as the platform gives it (`17/20`, `0.85`, `B+`).
    pub score_native: Option<String>,
    /// Whether the platform counts it as passed.
    pub passed: Option<bool>,
    /// Attempts taken.
    pub attempts: Option<i64>,
    /// Where the row came from.
    pub provenance: Provenance,
}

/// One unit of an org chart, as a roster source (DingTalk, WeCom) has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Department {
    /// Hub-assigned id.
    pub id: i64,
    /// The department's id in the source.
    pub dept_id: String,
    /// Display name.
    pub name: String,
    /// The parent's id in the source; none for the root.
    pub parent_id: Option<String>,
    /// Names from the root down, joined with `/` (e.g. `Acme/Support/Tier 1`).
    pub path: Option<String>,
    /// Where the row came from.
    pub provenance: Provenance,
}
