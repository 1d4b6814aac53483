//! Per-employee performance over a period: what HR reviews (probation,
//! transfers). Every figure is computed from unified rows the API can list
//! with the same employee and period filters.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttendanceSummary {
    /// Distinct work days with any record.
    pub days: i64,
    pub late: i64,
    pub early: i64,
    pub absent: i64,
    /// Missed punches (no check where one was expected).
    pub missing: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HelpdeskSummary {
    /// Tickets created in the period and assigned to the employee.
    pub tickets: i64,
    /// Of those, solved or closed.
    pub solved: i64,
    /// solved / tickets; none without tickets.
    pub resolution_rate: Option<f64>,
    /// Solved tickets reopened at least once / solved.
    pub reopen_rate: Option<f64>,
    pub avg_first_reply_minutes: Option<f64>,
    pub avg_resolution_minutes: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SatisfactionSummary {
    pub ratings: i64,
    /// Average on a 5-point scale (normalized 0–1 mapped to 1–5).
    pub average_5: Option<f64>,
    /// Share of ratings at or above the scale's midpoint (Zendesk: good).
    pub good_share: Option<f64>,
    pub bad_share: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Results completed in the period.
    pub completed: i64,
    /// Average of the normalized 0–100 scores.
    pub average_score: Option<f64>,
    pub lowest_score: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceSummary {
    pub employee_id: i64,
    /// First day of the period.
    pub from: NaiveDate,
    /// Day after the last day of the period.
    pub to: NaiveDate,
    pub attendance: AttendanceSummary,
    pub helpdesk: HelpdeskSummary,
    pub satisfaction: SatisfactionSummary,
    pub training: TrainingSummary,
}
