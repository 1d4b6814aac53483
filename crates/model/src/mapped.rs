//! What a mapping makes of one raw record: typed field values for one
//! entity, plus the keys that say who the record is about.

use crate::{EntityKind, MatchKey};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A mapped value, already checked against its [`crate::FieldType`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Null,
    Bool(bool),
    Integer(i64),
    Number(f64),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Text(String),
}

/// The keys identity resolution tries, in this order: an existing link for
/// `external_id` in this connector's system, then `employee_no`, then
/// `email`, then `mobile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdentityKeys {
    /// The person's account id in the source system (e.g. a Zendesk user id).
    pub external_id: Option<String>,
    /// 工号.
    pub employee_no: Option<String>,
    /// Lower-cased e-mail.
    pub email: Option<String>,
    pub mobile: Option<String>,
}

impl IdentityKeys {
    /// Keys in their normal forms (see [`crate::MatchKey::normalize`]);
    /// the external id is only trimmed.
    pub fn normalized(self) -> IdentityKeys {
        let norm = |key: MatchKey, v: Option<String>| v.and_then(|v| key.normalize(&v));
        IdentityKeys {
            external_id: self.external_id.and_then(|v| {
                let t = v.trim();
                (!t.is_empty()).then(|| t.to_string())
            }),
            employee_no: norm(MatchKey::EmployeeNo, self.employee_no),
            email: norm(MatchKey::Email, self.email),
            mobile: norm(MatchKey::Mobile, self.mobile),
        }
    }

    /// The value of a match key.
    pub fn get(&self, key: MatchKey) -> Option<&str> {
        match key {
            MatchKey::EmployeeNo => self.employee_no.as_deref(),
            MatchKey::Email => self.email.as_deref(),
            MatchKey::Mobile => self.mobile.as_deref(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.external_id.is_none()
            && self.employee_no.is_none()
            && self.email.is_none()
            && self.mobile.is_none()
    }
}

/// One entity produced by a mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedEntity {
    pub entity: EntityKind,
    /// The entity's key within its connector. Two mappings that produce the
    /// same (entity, key) update one row (e.g. tickets and ticket metrics).
    pub key: String,
    /// Who the record is about.
    pub identity: IdentityKeys,
    /// Only the fields this mapping sets, in schema order; fields it does
    /// not set are left as they are on update.
    pub fields: Vec<(&'static str, FieldValue)>,
    /// The source's own version timestamp, when the mapping names one: an
    /// older version never overwrites a newer one.
    pub source_updated_at: Option<DateTime<Utc>>,
}

impl MappedEntity {
    /// Puts the employee columns that identity keys are matched against
    /// (`employee_no`, `email`, `mobile`) in their normal forms.
    pub fn normalize_match_fields(&mut self) {
        for (name, value) in &mut self.fields {
            if let (Some(key), FieldValue::Text(text)) = (MatchKey::parse(name), &*value) {
                *value = key
                    .normalize(text)
                    .map_or(FieldValue::Null, FieldValue::Text);
            }
        }
    }

    pub fn get(&self, field: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|(n, _)| *n == field)
            .map(|(_, v)| v)
    }
}
