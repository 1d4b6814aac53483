//! The field schema of each unified entity: the single source of truth for
//! mapping validation and for the store's column lists.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The unified entities a mapping file can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A person on the roster ([`crate::Employee`]).
    Employee,
    /// One check-in or check-out ([`crate::AttendanceRecord`]).
    AttendanceRecord,
    /// One helpdesk ticket as worked by an agent ([`crate::TicketActivity`]).
    TicketActivity,
    /// One customer-satisfaction rating ([`crate::SatisfactionRating`]).
    SatisfactionRating,
    /// One course or exam outcome ([`crate::TrainingResult`]).
    TrainingResult,
    /// One unit of an org chart ([`crate::Department`]).
    Department,
}

/// The type a mapped value must have; the store picks its column type from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// UTF-8 text. Numbers are accepted and rendered as text (ids arrive as both).
    Text,
    /// A 64-bit signed integer.
    Integer,
    /// A floating-point number.
    Number,
    /// true / false.
    Bool,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An instant; RFC 3339 text or Unix seconds, stored as UTC.
    DateTime,
    /// Text restricted to the listed values.
    Enum(&'static [&'static str]),
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Text => f.write_str("text"),
            FieldType::Integer => f.write_str("integer"),
            FieldType::Number => f.write_str("number"),
            FieldType::Bool => f.write_str("bool"),
            FieldType::Date => f.write_str("date (YYYY-MM-DD)"),
            FieldType::DateTime => f.write_str("date-time (RFC 3339 or Unix seconds)"),
            FieldType::Enum(values) => write!(f, "one of {}", values.join(", ")),
        }
    }
}

/// One field of an entity as a mapping file sees it.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// Field (and column) name.
    pub name: &'static str,
    /// Value type.
    pub ty: FieldType,
    /// Whether every mapping of the entity must produce it (non-null).
    pub required: bool,
}

const fn req(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: true,
    }
}

const fn opt(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: false,
    }
}

pub const EMPLOYEE_STATUS: &[&str] = &["active", "left"];
pub const CHECK_KINDS: &[&str] = &["in", "out"];
pub const ATTENDANCE_RESULTS: &[&str] = &[
    "normal", "late", "early", "absent", "missing", "leave", "outside", "other",
];
pub const TICKET_STATUSES: &[&str] = &[
    "new", "open", "pending", "hold", "solved", "closed", "deleted",
];

use FieldType::*;

const EMPLOYEE_FIELDS: &[FieldSpec] = &[
    opt("employee_no", Text),
    req("name", Text),
    opt("email", Text),
    opt("mobile", Text),
    opt("department", Text),
    opt("title", Text),
    opt("hire_date", Date),
    opt("probation_end", Date),
    req("status", Enum(EMPLOYEE_STATUS)),
];

const ATTENDANCE_FIELDS: &[FieldSpec] = &[
    req("work_date", Date),
    req("check_kind", Enum(CHECK_KINDS)),
    opt("scheduled_at", DateTime),
    opt("checked_at", DateTime),
    req("result", Enum(ATTENDANCE_RESULTS)),
    opt("source_method", Text),
];

const TICKET_FIELDS: &[FieldSpec] = &[
    req("ticket_id", Text),
    opt("assignee_id", Text),
    opt("status", Enum(TICKET_STATUSES)),
    opt("priority", Text),
    opt("channel", Text),
    opt("created_at", DateTime),
    opt("solved_at", DateTime),
    opt("first_reply_minutes", Integer),
    opt("full_resolution_minutes", Integer),
    opt("reopens", Integer),
];

const SATISFACTION_FIELDS: &[FieldSpec] = &[
    req("rating_id", Text),
    opt("ticket_id", Text),
    opt("agent_id", Text),
    req("score_native", Text),
    req("score_normalized", Number),
    opt("comment", Text),
    req("rated_at", DateTime),
];

const TRAINING_FIELDS: &[FieldSpec] = &[
    req("course_id", Text),
    opt("course_name", Text),
    opt("completed_at", DateTime),
    opt("score", Number),
    opt("score_native", Text),
    opt("passed", Bool),
    opt("attempts", Integer),
];

const DEPARTMENT_FIELDS: &[FieldSpec] = &[
    req("dept_id", Text),
    req("name", Text),
    opt("parent_id", Text),
    opt("path", Text),
];

impl EntityKind {
    pub const ALL: [EntityKind; 6] = [
        EntityKind::Department,
        EntityKind::Employee,
        EntityKind::AttendanceRecord,
        EntityKind::TicketActivity,
        EntityKind::SatisfactionRating,
        EntityKind::TrainingResult,
    ];

    /// The name used in mapping files, the change log and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Employee => "employee",
            EntityKind::AttendanceRecord => "attendance_record",
            EntityKind::TicketActivity => "ticket_activity",
            EntityKind::SatisfactionRating => "satisfaction_rating",
            EntityKind::TrainingResult => "training_result",
            EntityKind::Department => "department",
        }
    }

    /// The store table holding this entity.
    pub fn table(self) -> &'static str {
        match self {
            EntityKind::Employee => "employees",
            EntityKind::AttendanceRecord => "attendance_records",
            EntityKind::TicketActivity => "ticket_activities",
            EntityKind::SatisfactionRating => "satisfaction_ratings",
            EntityKind::TrainingResult => "training_results",
            EntityKind::Department => "departments",
        }
    }

    /// The fields a mapping may set, in column order.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            EntityKind::Employee => EMPLOYEE_FIELDS,
            EntityKind::AttendanceRecord => ATTENDANCE_FIELDS,
            EntityKind::TicketActivity => TICKET_FIELDS,
            EntityKind::SatisfactionRating => SATISFACTION_FIELDS,
            EntityKind::TrainingResult => TRAINING_FIELDS,
            EntityKind::Department => DEPARTMENT_FIELDS,
        }
    }

    /// Whether rows of this entity are about one employee (and so can be
    /// unmatched): attendance, tickets, ratings, training. Employees are the
    /// people themselves; departments are about no one.
    pub fn is_about_a_person(self) -> bool {
        !matches!(self, EntityKind::Employee | EntityKind::Department)
    }

    /// The field a reporting period filters on: when the work happened.
    pub fn period_field(self) -> Option<&'static FieldSpec> {
        let name = match self {
            EntityKind::AttendanceRecord => "work_date",
            EntityKind::TicketActivity => "created_at",
            EntityKind::SatisfactionRating => "rated_at",
            EntityKind::TrainingResult => "completed_at",
            EntityKind::Employee | EntityKind::Department => return None,
        };
        self.field(name)
    }

    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().iter().find(|f| f.name == name)
    }

    pub fn parse(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema field is a field of the typed struct readers get back,
    /// so mapping validation and the store never drift from the model.
    #[test]
    fn schemas_match_the_typed_structs() {
        let prov = serde_json::json!({"connector": "c", "source_key": "k", "raw_record_id": null,
            "sync_run_id": null, "mapping_version": null, "updated_at": "2024-01-01T00:00:00Z"});
        let samples = [
            (
                EntityKind::Employee,
                serde_json::to_value(crate::Employee {
                    id: 1,
                    employee_no: None,
                    name: "n".into(),
                    email: None,
                    mobile: None,
                    department: None,
                    title: None,
                    hire_date: None,
                    probation_end: None,
                    status: "active".into(),
                    updated_at: chrono::Utc::now(),
                })
                .unwrap(),
            ),
            (
                EntityKind::TrainingResult,
                serde_json::json!({"id": 1, "employee_id": null, "course_id": "c",
                "course_name": null, "completed_at": null, "score": null, "score_native": null,
                "passed": null, "attempts": null, "provenance": prov}),
            ),
        ];
        for (kind, value) in samples {
            let obj = value.as_object().unwrap();
            for f in kind.fields() {
                assert!(
                    obj.contains_key(f.name),
                    "{kind}: {} missing from struct",
                    f.name
                );
            }
        }
        // The typed structs deserialize from the field names the schema declares.
        let _: crate::TrainingResult = serde_json::from_value(serde_json::json!({"id": 1, "employee_id": null,
            "course_id": "c", "course_name": null, "completed_at": null, "score": 91.5, "score_native": "91.5",
            "passed": true, "attempts": 1, "provenance": prov})).unwrap();
        for kind in EntityKind::ALL {
            let names: Vec<_> = kind.fields().iter().map(|f| f.name).collect();
            let mut dedup = names.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(names.len(), dedup.len(), "{kind}: duplicate field");
            assert_eq!(EntityKind::parse(kind.as_str()), Some(kind));
        }
    }
}
