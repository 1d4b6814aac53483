//! The two kinds of mapping errors: a broken mapping file (found at load
//! time, shown to the IT team that edits it) and a record the mapping cannot
//! turn into an entity (found at run time, becomes the quarantine reason).

use std::fmt;

/// A mapping file that cannot be used. Displays as
/// `file:line: field `name`: message`, leaving out the parts it does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {}{message}", Line(*.line), Field(.field.as_deref()))]
pub struct MappingError {
    /// The mapping file, as given to [`crate::Mapping::load`] / `parse`.
    pub file: String,
    /// The key the error is about (`key`, `status`, `identity.email`, ...).
    pub field: Option<String>,
    /// 1-based line in the file, when the error points at one.
    pub line: Option<usize>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl MappingError {
    pub(crate) fn file(file: &str, message: impl Into<String>) -> Self {
        MappingError {
            file: file.to_owned(),
            field: None,
            line: None,
            message: message.into(),
        }
    }
}

/// One record that its mapping could not turn into an entity. Displays as
/// ``field `created_at`: expected date-time ..., got "not a date"``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct MapError {
    /// The mapping key that failed: a target field, `key`, `filter`,
    /// `updated_at` or `identity.<name>`.
    pub field: String,
    /// What went wrong with this record.
    pub message: String,
}

impl MapError {
    pub(crate) fn new(field: &str, message: impl Into<String>) -> Self {
        MapError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

struct Line(Option<usize>);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, ":{line}"),
            None => Ok(()),
        }
    }
}

struct Field<'a>(Option<&'a str>);

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(field) => write!(f, "field `{field}`: "),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_error_display_leaves_out_unknown_parts() {
        let mut e = MappingError::file("m/z/t.toml", "broken");
        assert_eq!(e.to_string(), "m/z/t.toml: broken");
        e.line = Some(12);
        e.field = Some("stauts".into());
        assert_eq!(e.to_string(), "m/z/t.toml:12: field `stauts`: broken");
    }

    #[test]
    fn map_error_names_the_field() {
        let e = MapError::new("created_at", "expected date-time");
        assert_eq!(e.to_string(), "field `created_at`: expected date-time");
    }
}
