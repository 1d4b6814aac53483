//! Identity keys and their normal forms. One owner: mapping normalizes the
//! keys it extracts and the sync engine normalizes the employee columns
//! they are matched against, both through these functions.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A configured way to match a record's person to an employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    EmployeeNo,
    Email,
    Mobile,
}

impl MatchKey {
    /// The default order: strongest first.
    pub const DEFAULT: [MatchKey; 3] = [MatchKey::EmployeeNo, MatchKey::Email, MatchKey::Mobile];

    /// Config name, and the employee column it matches.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKey::EmployeeNo => "employee_no",
            MatchKey::Email => "email",
            MatchKey::Mobile => "mobile",
        }
    }

    pub fn parse(name: &str) -> Option<MatchKey> {
        MatchKey::DEFAULT.into_iter().find(|k| k.as_str() == name)
    }

    /// The normal form of a value of this key; `None` when nothing is left.
    pub fn normalize(self, value: &str) -> Option<String> {
        match self {
            MatchKey::EmployeeNo => normalize_employee_no(value),
            MatchKey::Email => normalize_email(value),
            MatchKey::Mobile => normalize_mobile(value),
        }
    }
}

impl fmt::Display for MatchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Folds full-width ASCII (common in Chinese input: `０１２`, `ＡＢ`, `＠`)
/// to ASCII and the ideographic space to a space.
pub fn fold_full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// 工号: full-width folded, trimmed.
pub fn normalize_employee_no(s: &str) -> Option<String> {
    non_empty(fold_full_width(s).trim().to_string())
}

/// E-mail: full-width folded, trimmed, lower-cased (matching is case-insensitive).
pub fn normalize_email(s: &str) -> Option<String> {
    non_empty(fold_full_width(s).trim().to_lowercase())
}

/// Mobile in E.164 where the country is known: separators dropped, `00`
/// becomes `+`, and an 11-digit number starting with 1 (mainland China, the
/// platforms' home market) gains `+86`. Other numbers without a country
/// code are kept as their digits.
pub fn normalize_mobile(s: &str) -> Option<String> {
    let folded = fold_full_width(s);
    let trimmed = folded.trim();
    let plus = trimmed.starts_with('+');
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    Some(if plus {
        format!("+{digits}")
    } else if let Some(rest) = digits.strip_prefix("00") {
        format!("+{rest}")
    } else if digits.len() == 11 && digits.starts_with('1') {
        format!("+86{digits}")
    } else if digits.len() == 13 && digits.starts_with("861") {
        format!("+{digits}")
    } else {
        digits
    })
}

/// Two identity keys point at different employees, or one key at two.
/// Reported, never merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityConflict {
    pub id: i64,
    /// The connector whose record raised it.
    pub system: String,
    /// The account in that system.
    pub external_id: Option<String>,
    /// The key whose value disagrees (`employee_no`, `email`, `mobile`, `link`).
    pub key: String,
    pub value: String,
    /// The employee the record was resolved to (or none if ambiguous).
    pub chosen_employee_id: Option<i64>,
    /// The other employee the key points at.
    pub other_employee_id: i64,
    pub detected_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalize() {
        assert_eq!(
            normalize_email("  Li.Wei@ACME.com ").as_deref(),
            Some("li.wei@acme.com")
        );
        assert_eq!(
            normalize_email("ｌｉ＠ａｃｍｅ.com").as_deref(),
            Some("li@acme.com")
        );
        assert_eq!(
            normalize_employee_no("　００４１７ ").as_deref(),
            Some("00417")
        );
        assert_eq!(normalize_employee_no("   "), None);
        for raw in [
            "138 0000 0417",
            "+86 138-0000-0417",
            "008613800000417",
            "8613800000417",
            "１３８０００００４１７",
        ] {
            assert_eq!(
                normalize_mobile(raw).as_deref(),
                Some("+8613800000417"),
                "{raw}"
            );
        }
        assert_eq!(
            normalize_mobile("+1 (415) 555-0100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            normalize_mobile("021-5555 0100").as_deref(),
            Some("02155550100")
        );
        assert_eq!(normalize_mobile("n/a"), None);
    }
}
