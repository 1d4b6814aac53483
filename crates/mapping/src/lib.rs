//! Mapping files: TOML files, one per (connector kind, stream), that turn a
//! connector's raw JSON records into unified entities with one jq expression
//! per target field.
//!
//! A file is checked against its target's schema ([`hrhub_model::EntityKind::fields`])
//! when it is loaded, and each expression is compiled once; [`Mapping::apply`]
//! then maps records without re-parsing anything. Each expression's first
//! output counts (none or `null` is `Null`), coerced to the field's type;
//! a record `filter` rejects is [`MapOutcome::Filtered`], and any other
//! failure is a [`MapError`] naming the field, which becomes the record's
//! quarantine reason.
//!
//! ```toml
//! kind = "zendesk"
//! stream = "tickets"
//! target = "ticket_activity"
//! key = ".id"
//! filter = '.status != "deleted"'
//! updated_at = ".updated_at"
//!
//! [identity]
//! external_id = ".assignee_id"
//!
//! [fields]
//! ticket_id = ".id"
//! status = ".status"
//! ```

mod coerce;
mod error;
mod expr;
mod mapping;
mod set;

pub use error::{MapError, MappingError};
pub use mapping::{MapOutcome, Mapping};
pub use set::MappingSet;

#[cfg(test)]
mod tests;
